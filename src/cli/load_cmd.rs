//! `tradeledger load`: the load generator (`src/tools/load.rs`), like pgbench for the journal.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tradeledger::ledger::handle::{FailurePolicy, JournalHandle};
use tradeledger::ledger::{Ledger, LedgerError};
use tradeledger::storage::folder::{read_meta, META_FILE_NAME};
use tradeledger::storage::journal::{JournalOptions, OpenMode};
use tradeledger::tools::load::{self, Interval, LoadConfig, LoadError, LoadReport};
use tradeledger::{Durability, Error};

use super::interrupt;
use super::options::{print_json, write_stdout};

#[derive(Args)]
pub struct LoadArgs {
    /// The journal folder; created if it holds no journal.
    pub dir: PathBuf,
    /// buffered | sync | periodic:<ms>. Used to create the journal; an existing journal keeps
    /// the durability stored in it.
    #[arg(long, value_parser = super::parse_durability)]
    pub durability: Option<Durability>,
    /// Stop after N events in all (default 10000 unless --seconds is given).
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    pub events: Option<u64>,
    /// Stop after S seconds.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Events per second over all producers (default: as fast as the journal acknowledges).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Concurrent producer tasks, each appending one batch at a time.
    #[arg(long, value_name = "P", default_value_t = 1)]
    pub producers: usize,
    /// Append the sequence number of every acknowledged event to FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub ack_log: Option<PathBuf>,
    /// Seed of the prices and actions (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Segment size in bytes when the journal is created (multiple of 4096, 64 KiB to 1 GiB).
    #[arg(long, default_value_t = tradeledger::storage::limits::SEGMENT_SIZE_DEFAULT_BYTES)]
    pub segment_size: u64,
    /// Print a line on stderr every S seconds: events so far, the interval's rate and
    /// latency (0: none).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub interval: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    if args.producers == 0 {
        anyhow::bail!("--producers must be at least 1");
    }
    if let Some(seconds) = args.seconds {
        if !(seconds.is_finite() && seconds > 0.0) {
            anyhow::bail!("--seconds must be a positive number, got {seconds}");
        }
    }
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        anyhow::bail!(
            "--interval must be a number of seconds (0 for no progress lines), got {}",
            args.interval
        );
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("--rate must be a positive number of events per second, got {rate}");
        }
    }
    if let Some(path) = &args.ack_log {
        // Checked before the journal is created or opened: a bad path changes nothing.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                op: "open the acknowledgement log",
                source,
            })?;
    }
    let (ledger, created) = open_or_create(args)?;
    let durability = ledger.journal().meta().durability;
    let head_before = ledger.journal().head_seq();
    let config = LoadConfig {
        events: match (args.events, args.seconds) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(10_000),
        },
        duration: args.seconds.map(Duration::from_secs_f64),
        rate: args.rate,
        producers: args.producers,
        ack_log: args.ack_log.clone(),
        seed: args
            .seed
            .unwrap_or_else(|| tradeledger::model::event::Timestamp::now().nanos() as u64),
    };
    let handle = JournalHandle::new(ledger, FailurePolicy::Halt);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    // An interrupt (SIGINT, SIGTERM) stops the load; it reports what it did, then exits 130.
    let stop = interrupt::watch(|| {})?;
    let mut print_interval = |interval: &Interval| eprintln!("{}", interval_line(interval));
    let every = Duration::from_secs_f64(args.interval);
    let intervals = (args.interval > 0.0).then_some((every, &mut print_interval as _));
    let run = load::run_with_intervals(&handle, &config, Arc::clone(&stop), intervals);
    let outcome = runtime.block_on(run);
    let context = RunInfo {
        args,
        durability,
        created,
        head_before,
    };
    match outcome {
        Ok(report) => {
            runtime.block_on(handle.close())?;
            print_report(&context, &report)?;
            if interrupt::happened(&stop) {
                eprintln!("interrupted: every event reported above is in the journal");
                return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(LoadError::Append { error, report }) => {
            print_report(&context, &report)?;
            // The journal failed: say why with the exit code of the failure. Closing a poisoned
            // writer writes nothing.
            drop(handle);
            Err(match error {
                LedgerError::Storage(error) => anyhow::Error::from(error),
                rejected => anyhow::anyhow!("the load generator made an invalid event: {rejected}"),
            })
        }
        Err(LoadError::State(error)) => Err(error.into()),
        Err(LoadError::AckLog { path, source }) => Err(Error::Io {
            path,
            op: "open the acknowledgement log",
            source,
        }
        .into()),
    }
}

/// Opens the journal in `args.dir`, or creates it with `--durability`.
fn open_or_create(args: &LoadArgs) -> anyhow::Result<(Ledger, bool)> {
    if args.dir.join(META_FILE_NAME).exists() {
        let meta = read_meta(&args.dir)?;
        if let Some(asked) = args.durability.filter(|&d| d != meta.durability) {
            eprintln!(
                "note: {} has durability {}; it keeps it (--durability {asked} is used only to create a journal; `tradeledger settings {} --durability {asked}` changes it)",
                args.dir.display(),
                meta.durability,
                args.dir.display()
            );
        }
        let ledger = Ledger::open(&args.dir, &OpenMode::default())?;
        let report = ledger.open_report().clone();
        if let Some(cut) = &report.recovery.cut {
            eprintln!("recovery: {cut}");
        }
        return Ok((ledger, false));
    }
    let options = JournalOptions {
        durability: args.durability.unwrap_or(Durability::Buffered),
        segment_size_bytes: args.segment_size,
        ..JournalOptions::default()
    };
    Ok((Ledger::create(&args.dir, &options)?, true))
}

struct RunInfo<'a> {
    args: &'a LoadArgs,
    durability: Durability,
    created: bool,
    head_before: u64,
}

fn micros(ns: Option<u64>) -> String {
    ns.map_or("-".into(), |ns| format!("{:.1} µs", ns as f64 / 1000.0))
}

/// `progress: 2.0 s, 25734 events, 12811 events/s, latency p50 61.2 µs  p99 480.3 µs  max 2101.2 µs`
fn interval_line(interval: &Interval) -> String {
    let report = &interval.report;
    let p = |q| micros(report.latency_at(q));
    format!(
        "progress: {:.1} s, {} events, {:.0} events/s, latency p50 {}  p99 {}  max {}",
        interval.since_start.as_secs_f64(),
        interval.events_total,
        report.events_per_second(),
        p(0.5),
        p(0.99),
        p(1.0)
    )
}

fn print_report(context: &RunInfo<'_>, report: &LoadReport) -> anyhow::Result<()> {
    let args = context.args;
    let quantiles = [0.5, 0.9, 0.99, 0.999, 1.0];
    if args.json {
        let latency: serde_json::Map<String, serde_json::Value> =
            ["p50", "p90", "p99", "p99_9", "max"]
                .iter()
                .zip(quantiles)
                .map(|(name, q)| (format!("{name}_ns"), json!(report.latency_at(q))))
                .collect();
        let kinds: serde_json::Map<String, serde_json::Value> = report
            .kind_counts()
            .into_iter()
            .map(|(name, n)| (name.to_string(), json!(n)))
            .collect();
        return print_json(&json!({
            "created": context.created,
            "durability": context.durability.to_string(),
            "producers": report.producers,
            "head_seq_before": context.head_before,
            "events": report.events,
            "batches": report.batches,
            "first_seq": report.first_seq,
            "last_seq": report.last_seq,
            "seconds": report.elapsed.as_secs_f64(),
            "events_per_second": report.events_per_second(),
            "carried_open_trades": report.carried_open,
            "carried_pending_orders": report.carried_pending,
            "latency": latency,
            "events_by_kind": kinds,
        }));
    }
    let mut text = String::new();
    let dir = args.dir.display();
    if context.created {
        text.push_str(&format!("created journal {dir}\n"));
    }
    let rate = args
        .rate
        .map_or("unlimited".to_string(), |r| format!("{r} events/s"));
    text.push_str(&format!(
        "load         {dir}: durability {}, {} producer(s), rate {rate}\n",
        context.durability, report.producers
    ));
    if report.carried_open + report.carried_pending > 0 {
        text.push_str(&format!(
            "carried over {} open trade(s) and {} pending order(s) from earlier runs\n",
            report.carried_open, report.carried_pending
        ));
    }
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!("seq {a}..={b}"),
        _ => "nothing appended".into(),
    };
    text.push_str(&format!(
        "events       {} in {} batches ({range})\n",
        report.events, report.batches
    ));
    text.push_str(&format!(
        "throughput   {:.0} events/s, {:.0} batches/s over {:.2} s\n",
        report.events_per_second(),
        report.batches as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.elapsed.as_secs_f64()
    ));
    let p = |q| micros(report.latency_at(q));
    text.push_str(&format!(
        "latency      per batch, until acknowledged ({}): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
        context.durability,
        p(0.5),
        p(0.9),
        p(0.99),
        p(0.999),
        p(1.0)
    ));
    let kinds: Vec<String> = report
        .kind_counts()
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    text.push_str(&format!("mix          {}\n", kinds.join(", ")));
    write_stdout(&text)
}
