//! `sink postgres`: keeps the old system's tables in PostgreSQL as one more projection of the
//! journal (`docs/SQL.md`), and `export --sqlite`, the same tables in a SQLite file.
//!
//! Exactly once: the tables and the `tradeledger_position` row change in one transaction,
//! and a transaction covers whole batches only (the follower hands out nothing else). After
//! any crash the position names the last record the tables hold; a new session replays the
//! journal up to it in memory (the projections need the history) and writes from the next
//! record on.

mod postgres;
mod rows;
mod schema;
pub mod sqlite;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use serde::Serialize;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::limits::FOLLOW_RESYNC_AFTER_MS;
use tradeledger::storage::reader::{FollowOptions, Follower, JournalReader};

use self::postgres::{Database, Start};
use self::rows::Engine;
use self::schema::SCHEMA_VERSION;
use super::options::print_json;

/// The records one catch-up transaction covers, at least (whole batches).
pub const CATCH_UP_EVENTS: usize = 100_000;

#[derive(Args)]
pub struct SinkArgs {
    #[command(subcommand)]
    target: Target,
}

#[derive(Subcommand)]
enum Target {
    /// Keep the tables trades, signals, account_snapshots and daily_performance of a
    /// PostgreSQL database up to date with a journal (docs/SQL.md).
    ///
    /// Catches up with COPY in large transactions, then follows the journal as it grows,
    /// one small transaction per group of new batches. Each record is applied exactly once:
    /// the tradeledger_position row moves in the same transaction as the rows.
    Postgres(PostgresArgs),
}

#[derive(Args)]
pub struct PostgresArgs {
    /// The journal folder (live or at rest).
    dir: PathBuf,
    /// The database: a URL (postgresql://user@host:port/db) or key=value settings.
    #[arg(long)]
    url: String,
    /// Catch up with the records committed when it starts, then exit.
    #[arg(long)]
    once: bool,
    /// Print status as JSON lines on stdout (after catch-up, then every --status-ms).
    #[arg(long)]
    json: bool,
    /// Records per catch-up transaction, at least (whole batches only).
    #[arg(long, value_name = "N", default_value_t = CATCH_UP_EVENTS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    batch_events: u64,
    /// How long to sleep between looks for new records, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: u64,
    /// How long to wait before connecting again after the connection was lost.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    retry_ms: u64,
    /// How often to report status while following (log, and stdout with --json).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    status_ms: u64,
}

pub fn run(args: &SinkArgs) -> anyhow::Result<ExitCode> {
    match &args.target {
        Target::Postgres(args) => run_postgres(args),
    }
}

/// What `--json` prints.
#[derive(Clone, Debug, Default, Serialize)]
struct Status {
    /// `catch-up`, `rebuild` or `tail`.
    phase: &'static str,
    journal_id: String,
    schema_version: i32,
    /// The last record the tables hold.
    position: u64,
    /// Records and transactions written by this process.
    events: u64,
    transactions: u64,
    rows: u64,
    /// Records per second of the catch-up, once it is done.
    catch_up_events_per_second: Option<f64>,
    /// From the journal's recording of the last record written to its commit, milliseconds.
    lag_ms: Option<f64>,
    /// The same for every record written since the last status line: median, 99th
    /// percentile, largest (`null` when none was written).
    lag_p50_ms: Option<f64>,
    lag_p99_ms: Option<f64>,
    lag_max_ms: Option<f64>,
    /// The same over every record written while following, since the sink started (the
    /// figures to hold against a lag target; `null` before the first).
    tail_lag_p50_ms: Option<f64>,
    tail_lag_p99_ms: Option<f64>,
    tail_lag_max_ms: Option<f64>,
    /// Sessions started again after a lost connection.
    reconnects: u64,
}

/// True when the error is the database being unreachable or the connection lost: an I/O
/// failure (exit code 3), not bad input.
pub fn database_unreachable(error: &anyhow::Error) -> bool {
    postgres::is_transient(error)
}

pub(crate) fn journal_id(reader: &JournalReader) -> String {
    reader
        .meta()
        .journal_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The lags a status line reports: since the last line, and while following since the start.
struct Lags {
    window: Histogram<u64>,
    tail: Histogram<u64>,
}

fn run_postgres(args: &PostgresArgs) -> anyhow::Result<ExitCode> {
    let mut status = Status::default();
    let mut connected = false;
    let mut lags = Lags {
        window: lag_histogram(),
        tail: lag_histogram(),
    };
    loop {
        match session(args, &mut status, &mut lags, &mut connected) {
            Ok(()) => return Ok(ExitCode::SUCCESS),
            Err(error) if connected && postgres::is_transient(&error) => {
                status.reconnects += 1;
                tracing::warn!(
                    error = %super::error_text(&error),
                    retry_ms = args.retry_ms,
                    "lost the database; starting again from its position"
                );
                std::thread::sleep(Duration::from_millis(args.retry_ms));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Lags in microseconds, up to an hour (longer ones count as an hour).
fn lag_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn report(args: &PostgresArgs, status: &mut Status, lags: &mut Lags) -> anyhow::Result<()> {
    let ms = |micros: u64| micros as f64 / 1000.0;
    let percentiles = |lags: &Histogram<u64>| {
        let written = !lags.is_empty();
        [
            written.then(|| ms(lags.value_at_quantile(0.5))),
            written.then(|| ms(lags.value_at_quantile(0.99))),
            written.then(|| ms(lags.max())),
        ]
    };
    [status.lag_p50_ms, status.lag_p99_ms, status.lag_max_ms] = percentiles(&lags.window);
    [
        status.tail_lag_p50_ms,
        status.tail_lag_p99_ms,
        status.tail_lag_max_ms,
    ] = percentiles(&lags.tail);
    lags.window.reset();
    tracing::info!(
        phase = status.phase,
        position = status.position,
        events = status.events,
        lag_ms = status.lag_ms,
        lag_p99_ms = status.lag_p99_ms,
        lag_max_ms = status.lag_max_ms,
        "sink status"
    );
    if args.json {
        print_json(status)?;
    }
    Ok(())
}

/// One connection: find the position, replay up to it, rebuild if the layout changed, then
/// catch up and follow.
fn session(
    args: &PostgresArgs,
    status: &mut Status,
    lags: &mut Lags,
    connected: &mut bool,
) -> anyhow::Result<()> {
    let reader = JournalReader::open(&args.dir)?;
    let id = journal_id(&reader);
    let target = reader.head_seq()?;
    drop(reader);
    let mut db = Database::connect(&args.url, &id)?;
    *connected = true;
    status.journal_id = id;
    status.schema_version = SCHEMA_VERSION;
    let options = FollowOptions {
        poll_interval: Duration::from_millis(args.poll_ms),
        resync_after: Duration::from_millis(FOLLOW_RESYNC_AFTER_MS),
    };
    let mut follower = Follower::open_with(&args.dir, Some(1), options)?;
    let chunk = usize::try_from(args.batch_events).unwrap_or(usize::MAX);
    let mut engine = Engine::new();
    // The record the tables end with, as the position row remembers it.
    let mut expected = None;
    let mut position = match db.start()? {
        Start::Resume {
            seq,
            recorded_at_ns,
        } => {
            if seq > target {
                bail!(
                    "the tables hold records up to seq {seq}, but {} holds records up to seq \
                     {target} only: the journal lost records the tables hold (a power loss \
                     with buffered durability?); drop the tables and tradeledger_position to rebuild them",
                    args.dir.display()
                );
            }
            expected = recorded_at_ns.map(|at| (seq, at));
            seq
        }
        Start::Rebuild {
            old_version,
            last_seq,
        } => {
            tracing::info!(
                old_version,
                new_version = SCHEMA_VERSION,
                "the tables were written under another layout: rebuilding them by replay"
            );
            status.phase = "rebuild";
            let started = Instant::now();
            let mut rebuild = db.rebuild((old_version, last_seq))?;
            while engine.applied_seq() < target.max(last_seq) {
                let records = follower.poll_up_to(chunk)?;
                if records.is_empty() {
                    break;
                }
                for record in &records {
                    engine.apply(record)?;
                }
                let rows = engine.take_rows()?;
                rebuild.write(&rows)?;
                status.events += rows.events;
                status.rows += rows.row_count() as u64;
            }
            let seq = engine.applied_seq();
            rebuild.finish(seq, engine.last_recorded_at().map(|t| t.nanos()))?;
            status.transactions += 1;
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(seq, seconds, "rebuilt the tables");
            seq
        }
    };
    status.position = position;
    let mut caught_up = false;
    lags.window.reset();
    let catch_up_start = (Instant::now(), status.events);
    let mut last_report = Instant::now();
    status.phase = "catch-up";
    loop {
        let records = follower.poll_up_to(chunk)?;
        for record in &records {
            if record.seq == position + 1 {
                engine.discard_changes(); // the records up to the position are in the tables
            }
            engine.apply(record)?;
            if let Some((seq, at)) = expected.filter(|(seq, _)| *seq == record.seq) {
                if record.recorded_at.nanos() != at {
                    bail!(
                        "the record at seq {seq} of {} is not the one the tables end with (it \
                         was recorded at {}, theirs at {}): the journal lost records the \
                         tables hold and was written again; drop the tables and tradeledger_position to rebuild them",
                        args.dir.display(),
                        record.recorded_at,
                        Timestamp::from_nanos(at)
                    );
                }
                expected = None;
            }
        }
        if engine.applied_seq() <= position {
            // Replaying up to the position: those rows are in the tables, so what the
            // engine noted is forgotten poll by poll, not held until the position's end.
            engine.discard_changes();
        }
        if engine.applied_seq() > position {
            let rows = engine.take_rows()?;
            db.commit(&rows, position)?;
            let now = Timestamp::now().nanos();
            for at in &rows.recorded_at {
                let micros = u64::try_from((now - at) / 1000).unwrap_or(0);
                lags.window.saturating_record(micros);
                if caught_up {
                    lags.tail.saturating_record(micros);
                }
            }
            let lag = rows.recorded_at.last().map(|at| (now - at) as f64 / 1e6);
            position = rows.last_seq;
            status.position = position;
            status.events += rows.events;
            status.rows += rows.row_count() as u64;
            status.transactions += 1;
            status.lag_ms = lag;
            tracing::debug!(position, events = rows.events, lag_ms = lag, "committed");
        }
        let done = position >= target;
        if !caught_up && (done || records.is_empty()) && engine.applied_seq() >= position {
            caught_up = true;
            let seconds = catch_up_start.0.elapsed().as_secs_f64();
            let events = status.events - catch_up_start.1;
            status.catch_up_events_per_second = Some(events as f64 / seconds.max(1e-9));
            report(args, status, lags)?;
            status.phase = "tail";
            last_report = Instant::now();
        }
        if args.once && done {
            if !caught_up {
                report(args, status, lags)?;
            }
            return Ok(());
        }
        if caught_up && last_report.elapsed() >= Duration::from_millis(args.status_ms) {
            report(args, status, lags)?;
            last_report = Instant::now();
        }
        if records.is_empty() {
            std::thread::sleep(options.poll_interval);
        }
    }
}

/// `export --sqlite FILE`.
pub fn export_sqlite(
    source: &super::options::Source,
    file: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    if source.at_event_time.is_some() {
        anyhow::bail!(
            "export --sqlite reads by the journal's order only: use --as-of, not --at-event-time"
        );
    }
    let written =
        sqlite::export(source, file).with_context(|| format!("export to {}", file.display()))?;
    if source.json {
        let rows: serde_json::Map<String, serde_json::Value> = written
            .rows
            .iter()
            .map(|(name, rows)| (name.to_string(), (*rows).into()))
            .collect();
        print_json(&serde_json::json!({
            "file": file.display().to_string(),
            "last_seq": written.last_seq,
            "rows": rows,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let listed: Vec<String> = written
        .rows
        .iter()
        .map(|(name, rows)| format!("{name} ({rows} rows)"))
        .collect();
    let how = match written.replayed {
        true => ", replayed in memory: the journal holds events the rules refuse",
        false => "",
    };
    super::options::write_stdout(&format!(
        "wrote {} into {} (records up to seq {}{how})\n",
        listed.join(", "),
        file.display(),
        written.last_seq
    ))?;
    Ok(ExitCode::SUCCESS)
}
