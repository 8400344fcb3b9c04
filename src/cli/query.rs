//! The query commands of `docs/INTERCHANGE.md` §5: `stats`, `trades`, `signals`,
//! `execution-rate`, `snapshots`, `daily`, `summary`. Read-only: they load the projections
//! without the writer lock and write nothing, so they work while another process appends.

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use tradeledger::model::event::{Timestamp, TradeStatus};
use tradeledger::projection::{Projections, TimeBasis, TimeRange, TradeFilter};

use super::human;
use super::options::{
    parse_date, parse_from, parse_status, parse_to, print_json, write_stdout, Source,
};
use super::stream::{print_rows, Shape};
use super::tables;

/// `--by`: which time of a trade `--from/--to` select on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    Exit,
    Entry,
}

impl From<By> for TimeBasis {
    fn from(by: By) -> TimeBasis {
        match by {
            By::Exit => TimeBasis::Exit,
            By::Entry => TimeBasis::Entry,
        }
    }
}

/// `--from T --to T`: inclusive; a date means its first (or last) nanosecond.
#[derive(Args)]
pub struct TimeBounds {
    /// Lower bound (inclusive): RFC 3339, or a date YYYY-MM-DD meaning its 00:00:00Z.
    #[arg(long, value_name = "T", value_parser = parse_from)]
    pub from: Option<Timestamp>,
    /// Upper bound (inclusive): RFC 3339, or a date meaning its 23:59:59.999999999Z.
    #[arg(long, value_name = "T", value_parser = parse_to)]
    pub to: Option<Timestamp>,
}

impl TimeBounds {
    fn range(&self) -> TimeRange {
        TimeRange::new(self.from, self.to)
    }
}

/// `--from D --to D`: inclusive calendar days (UTC).
#[derive(Args)]
pub struct DayBounds {
    /// First day (inclusive), YYYY-MM-DD.
    #[arg(long, value_name = "D", value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive), YYYY-MM-DD.
    #[arg(long, value_name = "D", value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// Only the trades (and snapshots) of this account.
    #[arg(long, value_name = "N")]
    pub account: Option<u64>,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub bounds: TimeBounds,
    /// Select trades by exit_time (realized in the period) or entry_time.
    #[arg(long, value_enum, ignore_case = true, default_value = "exit")]
    pub by: By,
    /// Only this symbol (exact, case-sensitive).
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// Only this account.
    #[arg(long, value_name = "N")]
    pub account: Option<u64>,
}

#[derive(Args)]
pub struct TradesArgs {
    #[command(flatten)]
    pub source: Source,
    /// Only trades with this status (case-insensitive).
    #[arg(long, value_name = "S", value_parser = parse_status)]
    pub status: Option<TradeStatus>,
    /// Only OPEN trades (the same as --status OPEN).
    #[arg(long, conflicts_with = "status")]
    pub open: bool,
    /// Only this symbol (exact, case-sensitive).
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// Only this account.
    #[arg(long, value_name = "N")]
    pub account: Option<u64>,
    #[command(flatten)]
    pub bounds: TimeBounds,
    /// What --from/--to select on: entry_time (any status), or exit_time (CLOSED trades only).
    #[arg(long, value_enum, ignore_case = true, default_value = "entry")]
    pub by: By,
    /// The one trade with this ticket (an object, or null).
    #[arg(long, value_name = "N", conflicts_with_all = ["status", "open", "symbol", "account", "from", "to", "by"])]
    pub ticket: Option<u64>,
    /// Print JSON Lines, one trade object a line, as the trades are read.
    #[arg(long, conflicts_with_all = ["json", "ticket"])]
    pub jsonl: bool,
    /// At most N trades (the first N of the list).
    #[arg(long, value_name = "N", conflicts_with = "ticket")]
    pub limit: Option<usize>,
    /// Only the trades after the one with this ticket, in the list's order (entry_time,
    /// ticket): the next page after a page that ended with it. It must be a trade the other
    /// options select.
    #[arg(long, value_name = "TICKET", conflicts_with = "ticket")]
    pub after: Option<u64>,
}

#[derive(Args)]
pub struct SignalsArgs {
    #[command(flatten)]
    pub source: Source,
    /// Only this symbol (exact, case-sensitive).
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// At most this many signals.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Print JSON Lines, one signal object a line, as the signals are read.
    #[arg(long, conflicts_with = "json")]
    pub jsonl: bool,
}

#[derive(Args)]
pub struct ExecutionRateArgs {
    #[command(flatten)]
    pub source: Source,
    /// Only signals with timestamp at or after T (RFC 3339, or a date meaning its 00:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_from)]
    pub since: Option<Timestamp>,
}

#[derive(Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub source: Source,
    /// The account (required).
    #[arg(long, value_name = "N", required = true)]
    pub account: Option<u64>,
    #[command(flatten)]
    pub bounds: TimeBounds,
    /// Only the latest snapshot (an object, or null).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub latest: bool,
    /// Print JSON Lines, one snapshot object a line, as the snapshots are read.
    #[arg(long, conflicts_with_all = ["json", "latest"])]
    pub jsonl: bool,
}

#[derive(Args)]
pub struct DailyArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub days: DayBounds,
}

pub fn stats(args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let stats = state.trade_statistics(
        args.bounds.range(),
        args.by.into(),
        args.symbol.as_deref(),
        args.account,
    )?;
    if args.source.json {
        print_json(&stats)?;
    } else {
        let trades = format!(
            "{} ({} won, {} lost, {} breakeven)",
            stats.total_trades, stats.winning_trades, stats.losing_trades, stats.breakeven_trades
        );
        write_stdout(&human::pairs(&[
            ("closed trades", trades),
            ("win rate", human::percent(stats.win_rate)),
            ("total profit", human::money(stats.total_profit)),
            ("average profit", human::money(stats.average_profit)),
            ("gross profit", human::money(stats.gross_profit)),
            ("gross loss", human::money(stats.gross_loss)),
            ("profit factor", human::opt_money(stats.profit_factor)),
            ("average win", human::opt_money(stats.average_win)),
            ("average loss", human::opt_money(stats.average_loss)),
            ("largest win", human::opt_money(stats.largest_win)),
            ("largest loss", human::opt_money(stats.largest_loss)),
        ]))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn trades(args: &TradesArgs) -> anyhow::Result<ExitCode> {
    let status = if args.open {
        Some(TradeStatus::Open)
    } else {
        args.status
    };
    if args.by == By::Exit && status.is_some_and(|s| s != TradeStatus::Closed) {
        anyhow::bail!("--by exit selects CLOSED trades by exit_time; it cannot be combined with --status {} or --open", status.map_or("", |s| s.name()));
    }
    let state = args.source.load()?;
    if let Some(ticket) = args.ticket {
        let trade = state.trade_by_ticket(ticket)?;
        return match (args.source.json, trade) {
            (true, trade) => print_json(&trade),
            (false, Some(trade)) => write_stdout(&human::object(&trade)?),
            (false, None) => write_stdout(&format!("no trade has ticket {ticket}\n")),
        }
        .map(|()| ExitCode::SUCCESS);
    }
    let filter = TradeFilter {
        status,
        symbol: args.symbol.as_deref(),
        account: args.account,
        range: args.bounds.range(),
        by: args.by.into(),
    };
    let rows = match args.after {
        Some(after) => match state.trade_rows_after(&filter, after)? {
            Some(rows) => rows,
            None => return Err(not_a_row(&state, after)),
        },
        None => state.trade_rows(&filter)?,
    };
    let rows = rows.take(args.limit.unwrap_or(usize::MAX));
    match Shape::chosen(args.source.json, args.jsonl) {
        Some(shape) => print_rows(rows, shape)?,
        None => tables::print_trades(rows)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `--after TICKET` names no row of the list.
fn not_a_row(state: &Projections, ticket: u64) -> anyhow::Error {
    match state.trade_by_ticket(ticket) {
        Ok(Some(_)) => anyhow::anyhow!(
            "--after {ticket}: trade {ticket} is not one of the trades these options select \
             (--status, --open, --symbol, --account, --from, --to, --by); --after takes the \
             ticket of a row of the same list, usually the last row of the page before"
        ),
        Ok(None) => anyhow::anyhow!("--after {ticket}: no trade has ticket {ticket}"),
        Err(error) => error.into(),
    }
}

pub fn signals(args: &SignalsArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let rows = state.signal_rows(args.symbol.as_deref(), true)?;
    let rows = rows.take(args.limit);
    match Shape::chosen(args.source.json, args.jsonl) {
        Some(shape) => print_rows(rows, shape)?,
        None => write_stdout(&tables::signals(&rows.collect::<Result<Vec<_>, _>>()?))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn execution_rate(args: &ExecutionRateArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let rate = state.signal_execution_rate(args.since)?;
    if args.source.json {
        print_json(&rate)?;
    } else {
        write_stdout(&human::pairs(&[
            ("signals", rate.total_signals.to_string()),
            ("executed", rate.executed_signals.to_string()),
            ("execution rate", human::percent(rate.execution_rate)),
        ]))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn snapshots(args: &SnapshotsArgs) -> anyhow::Result<ExitCode> {
    let account = args
        .account
        .ok_or_else(|| anyhow::anyhow!("snapshots needs --account N"))?;
    let state = args.source.load()?;
    let empty = format!("no snapshots of account {account}\n");
    if args.latest {
        let latest = state.latest_snapshot(account)?;
        if args.source.json {
            print_json(&latest)?;
        } else {
            tables::print_snapshots(latest.into_iter().map(Ok), &empty)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = state.snapshot_rows(account, args.bounds.range())?;
    match Shape::chosen(args.source.json, args.jsonl) {
        Some(shape) => print_rows(rows, shape)?,
        None => tables::print_snapshots(rows, &empty)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn daily(args: &DailyArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let d = &args.days;
    let days = state.daily_performance(d.from, d.to, d.account)?;
    if args.source.json {
        print_json(&days)?;
    } else {
        write_stdout(&tables::days(&days))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn summary(args: &DailyArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let d = &args.days;
    let summary = state.performance_summary(d.from, d.to, d.account)?;
    if args.source.json {
        print_json(&summary)?;
    } else {
        write_stdout(&human::pairs(&[
            ("days", summary.total_days.to_string()),
            ("winning days", summary.winning_days.to_string()),
            ("losing days", summary.losing_days.to_string()),
            ("breakeven days", summary.breakeven_days.to_string()),
            ("closed trades", summary.total_trades.to_string()),
            ("total profit", human::money(summary.total_profit)),
            (
                "average daily profit",
                human::money(summary.average_daily_profit),
            ),
        ]))?;
    }
    Ok(ExitCode::SUCCESS)
}
