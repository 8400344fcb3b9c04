//! `export --csv`: the four tables as CSV files, one row per §5 object, the header row being
//! the object's field names in order. Values are written as in `--json` (decimals exact with
//! their scale, timestamps RFC 3339 UTC, upper-case enums, `true`/`false`), `null` as an
//! empty cell.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use tradeledger::projection::{Projections, QueryError, TimeRange, TradeFilter};

use super::options::{print_json, write_stdout, Source};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["csv", "sqlite"])))]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: Source,
    /// The folder to write the CSV files into (created if missing; files are replaced).
    #[arg(
        long,
        value_name = "OUTDIR",
        required_unless_present = "sqlite",
        conflicts_with = "sqlite"
    )]
    pub csv: Option<PathBuf>,
    /// Write the SQL tables of docs/SQL.md into this SQLite file instead (replaced).
    #[arg(long, value_name = "FILE")]
    pub sqlite: Option<PathBuf>,
}

pub const TRADE_FIELDS: &[&str] = &[
    "ticket",
    "symbol",
    "trade_type",
    "status",
    "volume",
    "entry_price",
    "entry_time",
    "exit_price",
    "exit_time",
    "profit",
    "pips",
    "commission",
    "swap",
    "duration_seconds",
    "stop_loss",
    "take_profit",
    "magic_number",
    "account_number",
    "strategy_name",
    "signal_id",
    "signal_confidence",
    "signal_reason",
    "ml_enhanced",
    "ml_confidence",
    "ai_approved",
    "ai_reasoning",
    "comment",
    "close_reason",
];

pub const SIGNAL_FIELDS: &[&str] = &[
    "signal_id",
    "symbol",
    "signal_type",
    "timestamp",
    "price",
    "stop_loss",
    "take_profit",
    "confidence",
    "reason",
    "strategy_name",
    "timeframe",
    "ml_enhanced",
    "ml_confidence",
    "ml_agreed",
    "executed",
    "execution_reason",
    "ticket",
];

pub const SNAPSHOT_FIELDS: &[&str] = &[
    "account_number",
    "server",
    "broker",
    "balance",
    "equity",
    "profit",
    "margin",
    "margin_free",
    "margin_level",
    "open_positions",
    "total_volume",
    "snapshot_time",
];

pub const DAY_FIELDS: &[&str] = &[
    "date",
    "account_number",
    "total_trades",
    "winning_trades",
    "losing_trades",
    "breakeven_trades",
    "gross_profit",
    "gross_loss",
    "net_profit",
    "win_rate",
    "profit_factor",
    "average_win",
    "average_loss",
    "largest_win",
    "largest_loss",
    "end_balance",
    "end_equity",
    "total_commission",
    "total_swap",
    "net_result",
];

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let (Some(out), None) = (&args.csv, &args.sqlite) else {
        let file = args
            .sqlite
            .as_deref()
            .context("--csv or --sqlite is required")?;
        return super::sink::export_sqlite(&args.source, file);
    };
    let out = out.as_path();
    let state = args.source.load()?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let counts = write_tables(&state, out)?;
    if args.source.json {
        let files: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(name, rows)| (name.to_string(), (*rows).into()))
            .collect();
        print_json(&serde_json::json!({ "dir": out.display().to_string(), "rows": files }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let written: Vec<String> = counts
        .iter()
        .map(|(name, rows)| format!("{name} ({rows} rows)"))
        .collect();
    write_stdout(&format!(
        "wrote {} into {}\n",
        written.join(", "),
        out.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the four files, each row as it is read (nothing is collected but the daily rows,
/// one per day); returns each file name with its number of rows. `trades.csv` is written on
/// a thread of its own while this one writes the others.
pub fn write_tables(state: &Projections, out: &Path) -> anyhow::Result<Vec<(&'static str, usize)>> {
    std::thread::scope(|scope| {
        let trades = scope.spawn(|| {
            let trades = state.trade_rows(&TradeFilter::default())?;
            write_csv(out, "trades.csv", TRADE_FIELDS, trades)
        });
        // Oldest first: by timestamp, then seq (the reverse of `signals`' order).
        let signals = state.signal_rows(None, false)?;
        let signals = write_csv(out, "signals.csv", SIGNAL_FIELDS, signals)?;
        let mut snapshots = Vec::new();
        for account in state.snapshot_accounts()? {
            snapshots.push(state.snapshot_rows(account, TimeRange::ALL)?);
        }
        let snapshots = snapshots.into_iter().flatten();
        let snapshots = write_csv(out, "snapshots.csv", SNAPSHOT_FIELDS, snapshots)?;
        let days = state.daily_performance(None, None, None)?;
        let days = write_csv(out, "daily.csv", DAY_FIELDS, days.into_iter().map(Ok))?;
        let trades = trades
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok(vec![trades, signals, snapshots, days])
    })
}

fn write_csv<T: Serialize>(
    out: &Path,
    name: &'static str,
    header: &[&str],
    rows: impl Iterator<Item = Result<T, QueryError>>,
) -> anyhow::Result<(&'static str, usize)> {
    let path = out.join(name);
    let failed = |what: &str| format!("cannot {what} {}", path.display());
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(64 * 1024)
        .from_path(&path)
        .with_context(|| failed("create"))?;
    writer
        .write_record(header)
        .with_context(|| failed("write"))?;
    let bar = super::progress::Bar::new(name, super::progress::Unit::Open("rows"));
    let mut count = 0;
    for row in rows {
        writer.serialize(row?).with_context(|| failed("write"))?;
        count += 1;
        bar.count(count as u64);
    }
    bar.counted(count as u64);
    bar.finish();
    writer.flush().with_context(|| failed("write"))?;
    Ok((name, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeledger::model::event::Timestamp;
    use tradeledger::tools::sample;

    fn header_of<T: Serialize>(row: &T) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(row).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        text.lines().next().unwrap().to_string()
    }

    /// The hand-written headers are the field names the views serialize, in their order.
    #[test]
    fn headers_match_the_serialized_views() {
        let t = Timestamp::from_nanos(1_700_000_000_000_000_000);
        let mut state = Projections::new();
        let events = [
            sample::signal(1, t),
            sample::trade_opened(1, t),
            sample::trade_closed(1, t, "1.5"),
            sample::account_snapshot(7, t, "1000"),
        ];
        for (seq, event) in (1..).zip(&events) {
            state.apply(seq, t, event);
        }
        let trade = state.trade_by_ticket(1).unwrap().unwrap();
        let signal = state.recent_signals(None, 1).unwrap().remove(0);
        let snapshot = state.latest_snapshot(7).unwrap().unwrap();
        let day = state.daily_performance(None, None, None).unwrap().remove(0);
        assert_eq!(header_of(&trade), TRADE_FIELDS.join(","));
        assert_eq!(header_of(&signal), SIGNAL_FIELDS.join(","));
        assert_eq!(header_of(&snapshot), SNAPSHOT_FIELDS.join(","));
        assert_eq!(header_of(&day), DAY_FIELDS.join(","));
    }
}
