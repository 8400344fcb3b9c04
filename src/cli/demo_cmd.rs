//! `tradeledger demo`: the paper trader on the bundled EURUSD bars, journaling everything
//! through the async handle, then a report (`docs/DEMO.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use rust_decimal::Decimal;
use tradeledger::ledger::handle::{FailurePolicy, JournalHandle};
use tradeledger::ledger::Ledger;
use tradeledger::projection::{TimeBasis, TimeRange};
use tradeledger::storage::folder::{read_meta, WriterLock, LOCK_FILE_NAME, META_FILE_NAME};
use tradeledger::storage::format::{JournalMeta, META_FLAG_DEMO};
use tradeledger::storage::journal::JournalOptions;
use tradeledger::tools::demo::{self, DemoConfig, DemoSummary, TraderConfig};
use tradeledger::Durability;

use super::options::write_stdout;
use super::progress::{Bar, Unit};

/// The bundled data: 5,000 hourly EURUSD bars (see `fixtures/README.md`).
const BUNDLED_BARS: &str = include_str!("../../fixtures/eurusd_h1_2017_2018.csv");

#[derive(Args)]
pub struct DemoArgs {
    /// Journal folder; a journal left by an earlier demo run is replaced, anything else refused.
    #[arg(default_value = "demo-journal")]
    dir: PathBuf,
    /// buffered | sync | periodic:<ms>
    #[arg(long, default_value = "buffered", value_parser = super::parse_durability)]
    durability: Durability,
    /// Bars (CSV with columns time,Open,High,Low,Close,Volume); default: the bundled EURUSD.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use only the first N bars.
    #[arg(long)]
    bars: Option<usize>,
    /// Fast/slow moving-average periods of the first trader.
    #[arg(long, default_value_t = 10)]
    fast: usize,
    #[arg(long, default_value_t = 30)]
    slow: usize,
    /// Fast/slow periods of the second trader (runs side by side on the same account).
    #[arg(long, default_value_t = 5)]
    fast2: usize,
    #[arg(long, default_value_t = 20)]
    slow2: usize,
    /// Stop loss and take profit, in pips.
    #[arg(long, default_value = "30")]
    stop_loss_pips: Decimal,
    #[arg(long, default_value = "60")]
    take_profit_pips: Decimal,
    /// Order size in lots.
    #[arg(long, default_value = "0.10")]
    lots: Decimal,
    /// Wait this long between cycles, so that `tradeledger tail DIR` can follow live.
    #[arg(long, default_value_t = 0)]
    realtime_ms: u64,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let config = config_from(args);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("demo settings: {e}"))?;
    let bars = match &args.data {
        Some(path) => demo::load_bars(path, args.bars)?,
        None => demo::parse_bars(BUNDLED_BARS, args.bars)?,
    };
    let lock = prepare_dir(&args.dir)?;
    let options = JournalOptions {
        durability: args.durability,
        flags: META_FLAG_DEMO,
        ..JournalOptions::default()
    };
    let ledger = match lock {
        Some(lock) => Ledger::create_locked(&args.dir, &options, lock)?,
        None => Ledger::create(&args.dir, &options)?,
    };
    let handle = JournalHandle::new(
        ledger,
        FailurePolicy::Continue {
            held_events_max: 1_000_000,
        },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let progress = Bar::new("trading", Unit::Count("bars"));
    let started = Instant::now();
    let summary = runtime.block_on(demo::run(config, &bars, Arc::new(handle.clone()), |done| {
        progress.set(done as u64, bars.len() as u64)
    }));
    let elapsed = started.elapsed();
    progress.finish();
    report(args, &handle, &summary, elapsed)?;
    runtime.block_on(handle.close())?;
    Ok(ExitCode::SUCCESS)
}

fn config_from(args: &DemoArgs) -> DemoConfig {
    DemoConfig {
        traders: vec![
            TraderConfig::new(
                &format!("ma_crossover_{}_{}", args.fast, args.slow),
                args.fast,
                args.slow,
            ),
            TraderConfig::new(
                &format!("ma_crossover_{}_{}", args.fast2, args.slow2),
                args.fast2,
                args.slow2,
            ),
        ],
        stop_loss_pips: args.stop_loss_pips,
        take_profit_pips: args.take_profit_pips,
        volume_lots: args.lots,
        realtime_delay_ms: args.realtime_ms,
        ..DemoConfig::default()
    }
}

/// An empty or missing folder is used (`Ledger::create` takes its lock); a demo journal is
/// replaced (saying so); anything else — a real journal included — is refused and left
/// untouched.
///
/// A demo journal is replaced under its writer lock, taken before anything is removed and
/// returned to create the new journal under, so no other process can write the old journal
/// while it is removed or take the folder before the new one exists. A journal whose lock
/// another process holds (an earlier `demo` still running) is refused with
/// [`tradeledger::Error::Locked`] (exit 4).
fn prepare_dir(dir: &Path) -> anyhow::Result<Option<WriterLock>> {
    let is_empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    if is_empty {
        return Ok(None);
    }
    let is_demo = |meta: &JournalMeta| meta.flags & META_FLAG_DEMO != 0;
    match read_meta(dir) {
        Ok(meta) if is_demo(&meta) => {}
        Ok(_) => bail!(
            "{} holds a journal that is not a demo journal; refusing to touch it (choose another folder)",
            dir.display()
        ),
        // No journal.meta but a lock file: a demo journal being replaced, or one whose
        // replacement was interrupted; the lock decides, and creation refuses anything else.
        Err(_) if dir.join(LOCK_FILE_NAME).exists() => {}
        Err(_) => bail!(
            "{} is not empty and is not a demo journal; refusing to touch it (choose another folder)",
            dir.display()
        ),
    }
    let lock = WriterLock::acquire(dir)?;
    // Looked at again under the lock: another run may have replaced the journal meanwhile.
    match read_meta(dir) {
        Ok(meta) if is_demo(&meta) => {
            eprintln!("replacing the demo journal left in {} by an earlier run", dir.display());
            remove_journal_files(dir)?;
        }
        Ok(_) => bail!(
            "{} holds a journal that is not a demo journal; refusing to touch it (choose another folder)",
            dir.display()
        ),
        Err(tradeledger::Error::NotAJournal { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(Some(lock))
}

/// Removes everything in the folder of a demo journal but `LOCK`, whose lock the caller
/// holds; `journal.meta` last, so that an interrupted removal leaves a demo journal (damaged,
/// which the next run replaces) or no journal, never a folder another run would refuse.
fn remove_journal_files(dir: &Path) -> anyhow::Result<()> {
    let list = || format!("list {}", dir.display());
    for entry in std::fs::read_dir(dir).with_context(list)? {
        let entry = entry.with_context(list)?;
        let name = entry.file_name();
        if name == LOCK_FILE_NAME || name == META_FILE_NAME {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().with_context(list)?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("remove {}", path.display()))?;
    }
    let meta = dir.join(META_FILE_NAME);
    std::fs::remove_file(&meta).with_context(|| format!("remove {}", meta.display()))?;
    std::fs::File::open(dir)
        .and_then(|folder| folder.sync_all())
        .with_context(|| format!("sync {}", dir.display()))?;
    Ok(())
}

fn report(
    args: &DemoArgs,
    handle: &JournalHandle,
    summary: &DemoSummary,
    elapsed: std::time::Duration,
) -> anyhow::Result<()> {
    let mut text = String::new();
    let stats =
        handle.query(|s| s.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None))?;
    let days = handle.query(|s| s.daily_performance(None, None, None))?;
    let health = handle.health();
    let events = summary.events_appended_total();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let dir = args.dir.display();
    out!(
        text,
        "Paper trading on {} bars of EURUSD H1 ({} traders, one account)",
        summary.bars_processed,
        summary.traders.len()
    );
    out!(text);
    out!(
        text,
        "trades closed     {:>12}   (wins {}, losses {}, breakeven {})",
        stats.total_trades,
        stats.winning_trades,
        stats.losing_trades,
        stats.breakeven_trades
    );
    out!(text, "win rate          {:>11}%", round2(stats.win_rate));
    out!(
        text,
        "profit factor     {:>12}",
        stats.profit_factor.map_or("n/a".into(), round2)
    );
    out!(
        text,
        "total profit      {:>12}   USD (price moves)",
        round2(stats.total_profit)
    );
    out!(
        text,
        "total commission  {:>12}   USD",
        round2(stats.total_commission)
    );
    out!(
        text,
        "total swap        {:>12}   USD",
        round2(stats.total_swap)
    );
    out!(
        text,
        "net result        {:>12}   USD (profit + commission + swap; balance {} -> {})",
        round2(stats.net_result),
        round2(summary.initial_balance_usd),
        round2(summary.final_balance_usd)
    );
    out!(
        text,
        "max drawdown      {:>12}   USD (of cumulative profit; {} losses in a row at most)",
        round2(stats.max_drawdown),
        stats.max_consecutive_losses
    );
    out!(text, "open positions    {:>12}", summary.open_positions);
    out!(text);
    out!(text, "last days of daily performance:");
    out!(
        text,
        "  date          trades   net profit   net result   end balance"
    );
    for day in days.iter().rev().take(5).rev() {
        out!(
            text,
            "  {}  {:>6}   {:>10}   {:>10}   {:>11}",
            day.date,
            day.total_trades,
            round2(day.net_profit),
            round2(day.net_result),
            day.end_balance.map_or("-".into(), round2)
        );
    }
    out!(text);
    out!(
        text,
        "events written    {events:>12}   in {} batches, {} failed",
        summary.batches_appended,
        summary.append_failures
    );
    out!(
        text,
        "journal size      {:>12}   bytes ({} durability)",
        health.bytes_appended,
        args.durability
    );
    out!(
        text,
        "throughput        {:>12.0}   events/s ({:.2} s)",
        events as f64 / seconds,
        seconds
    );
    let p = |q| {
        summary
            .latency_percentile_ns(q)
            .map_or("-".into(), |ns| format!("{:.1} µs", ns as f64 / 1000.0))
    };
    out!(
        text,
        "append latency    p50 {}  p99 {}  p99.9 {}  max {}",
        p(50.0),
        p(99.0),
        p(99.9),
        p(100.0)
    );
    out!(text);
    out!(
        text,
        "explore the journal (`cargo install --path .` puts tradeledger on the PATH; \
         or run `cargo run --release -- stats {dir}` and so on):"
    );
    for command in ["stats", "trades --open", "daily", "verify"] {
        out!(text, "  tradeledger {command} {dir}");
    }
    write_stdout(&text)
}

fn round2(value: Decimal) -> String {
    value
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_string()
}
