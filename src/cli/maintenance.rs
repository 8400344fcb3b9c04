//! `replay`, `checkpoint`, `upgrade`, and the checkpoint lines of `status`.
//!
//! Checkpoints are a cache of the projections (`docs/FORMAT.md` §6): a checkpoint of another
//! projection version is ignored and the state rebuilt by replay, which is what replaces the
//! old system's schema migrations. `upgrade` makes that explicit and writes a fresh one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use tradeledger::ledger::checkpoint::{self, CheckpointInfo, IgnoredCheckpoint};
use tradeledger::ledger::replay_with_progress;
use tradeledger::model::event::TradeStatus;
use tradeledger::projection::{
    Projections, TimeBasis, TimeRange, TradeFilter, TradeView, PROJECTION_VERSION,
};

use super::human;
use super::options::{print_json, write_stdout, Source};
use super::progress::{self, Unit};

#[derive(Args)]
pub struct ReplayArgs {
    /// Without --as-of: the state at the journal's head.
    #[command(flatten)]
    pub source: Source,
}

#[derive(Args)]
pub struct CheckpointArgs {
    /// The journal folder.
    pub dir: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Trades per status.
#[derive(Serialize)]
struct TradeCounts {
    total: u64,
    pending: u64,
    open: u64,
    closed: u64,
    cancelled: u64,
    failed: u64,
}

/// What `replay` prints (shape documented in `docs/INTERCHANGE.md`, interpretations).
#[derive(Serialize)]
struct StateSummary {
    head_seq: u64,
    applied_events: u64,
    ignored_events: u64,
    trades: TradeCounts,
    signals: u64,
    executed_signals: u64,
    snapshots: u64,
    snapshot_accounts: Vec<u64>,
    #[serde(serialize_with = "decimal_text")]
    closed_profit: Decimal,
    open_trades: Vec<TradeView>,
}

fn decimal_text<S: serde::Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&human::exact(*value))
}

fn summarize(state: &Projections) -> anyhow::Result<StateSummary> {
    let count = |status| {
        let filter = TradeFilter {
            status: Some(status),
            ..TradeFilter::default()
        };
        state.trades(&filter).map(|found| found.len() as u64)
    };
    let closed = state.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)?;
    let open_trades = state.open_trades(None, None)?;
    let trades = TradeCounts {
        pending: count(TradeStatus::Pending)?,
        open: open_trades.len() as u64,
        closed: closed.total_trades,
        cancelled: count(TradeStatus::Cancelled)?,
        failed: count(TradeStatus::Failed)?,
        total: 0,
    };
    let rate = state.signal_execution_rate(None)?;
    let accounts = state.snapshot_accounts()?;
    let mut snapshots = 0;
    for account in &accounts {
        snapshots += state.snapshots_between(*account, TimeRange::ALL)?.len() as u64;
    }
    Ok(StateSummary {
        head_seq: state.head_seq(),
        applied_events: state.applied_events(),
        ignored_events: state.ignored_events(),
        trades: TradeCounts {
            total: trades.pending + trades.open + trades.closed + trades.cancelled + trades.failed,
            ..trades
        },
        signals: rate.total_signals,
        executed_signals: rate.executed_signals,
        snapshots,
        snapshot_accounts: accounts,
        closed_profit: closed.total_profit,
        open_trades,
    })
}

pub fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let summary = summarize(&state)?;
    if args.source.json {
        print_json(&summary)?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = &summary.trades;
    let accounts: Vec<String> = summary
        .snapshot_accounts
        .iter()
        .map(u64::to_string)
        .collect();
    let mut text = human::pairs(&[
        ("head seq", summary.head_seq.to_string()),
        ("events applied", summary.applied_events.to_string()),
        ("events skipped", summary.ignored_events.to_string()),
        (
            "trades",
            format!(
                "{} ({} pending, {} open, {} closed, {} cancelled, {} failed)",
                t.total, t.pending, t.open, t.closed, t.cancelled, t.failed
            ),
        ),
        (
            "signals",
            format!(
                "{} ({} executed)",
                summary.signals, summary.executed_signals
            ),
        ),
        (
            "snapshots",
            format!("{} (accounts: {})", summary.snapshots, accounts.join(", ")),
        ),
        ("closed profit", human::money(summary.closed_profit)),
    ]);
    if !summary.open_trades.is_empty() {
        text.push_str("\nopen trades:\n");
        text.push_str(&super::tables::trades(&summary.open_trades));
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn info_json(info: &CheckpointInfo) -> Value {
    json!({
        "seq": info.seq,
        "projection_version": info.projection_version,
        "bytes": info.bytes,
        "path": info.path.display().to_string(),
        "layer_on": info.parent,
    })
}

/// ", a layer on seq N" for a checkpoint written on another one, else nothing.
fn layer_text(info: &CheckpointInfo) -> String {
    info.parent
        .map_or_else(String::new, |parent| format!(", a layer on seq {parent}"))
}

fn info_text(info: &CheckpointInfo) -> String {
    format!(
        "checkpoint at seq {} (projection version {}, {} bytes{}): {}",
        info.seq,
        info.projection_version,
        info.bytes,
        layer_text(info),
        info.path.display()
    )
}

pub fn checkpoint(args: &CheckpointArgs) -> anyhow::Result<ExitCode> {
    let ledger = progress::open(&args.dir)?;
    let info = progress::checkpoint(&ledger)?;
    // Dropping the ledger flushes and releases the lock (`close` would checkpoint again).
    drop(ledger);
    if args.json {
        print_json(&info_json(&info))?;
    } else {
        write_stdout(&format!("wrote {}\n", info_text(&info)))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn upgrade(args: &CheckpointArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    // The writer lock first, so that no writer checkpoints while this one rebuilds.
    let ledger = progress::open(dir)?;
    let report = ledger.open_report().clone();
    let journal_id = ledger.journal().meta().journal_id;
    let before = checkpoint::describe(dir, &journal_id)?;
    let storage = ledger.journal().storage();
    let removed_damaged = checkpoint::remove_set_aside(storage, dir)?;
    let write = |state: &Projections| {
        progress::with_bar("writing checkpoint", Unit::Count("records"), |p| {
            checkpoint::write_with_progress(storage, dir, &journal_id, state, p)
        })
    };
    let (replayed, info, differed) = if report.checkpoint.is_none() {
        // No checkpoint was usable: opening already replayed the whole journal.
        let info = write(&ledger.state())?;
        (report.replayed_records, info, false)
    } else {
        let mut rebuilt = Projections::new();
        let reader = ledger.journal().reader();
        let replayed = progress::with_bar("replaying all", Unit::Count("records"), |p| {
            replay_with_progress(&reader, &mut rebuilt, 1, None, p)
        })?;
        let info = write(&rebuilt)?;
        // A checkpoint that loaded but disagrees with a full replay is worth knowing about.
        (replayed, info, *ledger.state() != rebuilt)
    };
    // Only now that the fresh checkpoint is written (under its seq's name, in place of one of
    // the same name) are the others removed: an interrupted upgrade leaves them usable. Every
    // checkpoint found before is then gone or replaced.
    checkpoint::remove_all_except(storage, dir, Some((&info.path, &journal_id)))?;
    let removed = before.len();
    drop(ledger);
    let found: Vec<Value> = before.iter().map(describe_json).collect();
    if args.json {
        print_json(&json!({
            "found": found,
            "removed": removed,
            "removed_damaged": removed_damaged,
            "replayed_records": replayed,
            "projection_version": PROJECTION_VERSION,
            "loaded_state_differed": differed,
            "checkpoint": info_json(&info),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for line in before.iter().map(describe_text) {
        text.push_str(&format!("found {line}\n"));
    }
    let damaged = match removed_damaged {
        0 => String::new(),
        n => format!(" and {n} set aside as damaged"),
    };
    text.push_str(&format!(
        "removed {removed} checkpoint(s){damaged}; rebuilt the projections (version {PROJECTION_VERSION}) by replaying {replayed} records\n"
    ));
    if differed {
        text.push_str("note: the checkpoint the journal opened with disagreed with the full replay; the replay wins\n");
    }
    text.push_str(&format!("wrote {}\n", info_text(&info)));
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

type Described = Result<CheckpointInfo, IgnoredCheckpoint>;

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// The sequence number in a checkpoint's file name (`checkpoint-<seq>.ckpt`).
fn seq_of_name(path: &Path) -> Option<u64> {
    let name = file_name(path);
    let name = name
        .strip_suffix(checkpoint::SET_ASIDE_SUFFIX)
        .unwrap_or(&name);
    let digits = name.strip_prefix("checkpoint-")?.strip_suffix(".ckpt")?;
    digits.parse().ok()
}

fn describe_json(found: &Described) -> Value {
    match found {
        Ok(info) => json!({
            "file": file_name(&info.path), "seq": info.seq, "usable": true,
            "projection_version": info.projection_version, "reason": null,
            "layer_on": info.parent,
        }),
        Err(ignored) => json!({
            "file": file_name(&ignored.path), "seq": seq_of_name(&ignored.path), "usable": false,
            "projection_version": null, "reason": ignored.reason,
        }),
    }
}

fn describe_text(found: &Described) -> String {
    match found {
        Ok(info) => format!(
            "{}: seq {}, projection version {}, {} bytes{}, usable",
            file_name(&info.path),
            info.seq,
            info.projection_version,
            info.bytes,
            layer_text(info)
        ),
        Err(ignored) => format!(
            "{}: not usable: {}",
            file_name(&ignored.path),
            ignored.reason
        ),
    }
}

/// The checkpoints of a journal for `status`: a checkpoint beyond the head is not usable.
pub fn status_checkpoints(
    dir: &Path,
    journal_id: &[u8; 16],
    head_seq: u64,
) -> anyhow::Result<Vec<Described>> {
    let found = checkpoint::describe(dir, journal_id)?;
    let mut described: Vec<Described> = (found.into_iter())
        .map(|found| match found {
            Ok(info) if info.seq > head_seq => Err(IgnoredCheckpoint {
                reason: format!("at seq {}, beyond the journal's head {head_seq}", info.seq),
                path: info.path,
            }),
            other => other,
        })
        .collect();
    let set_aside = checkpoint::set_aside(dir)?.into_iter().map(|path| {
        let reason = "damaged: set aside by a running writer, which rebuilt its state without \
                      it (kept for inspection; safe to delete)";
        Err(IgnoredCheckpoint {
            path,
            reason: reason.into(),
        })
    });
    described.extend(set_aside);
    Ok(described)
}

/// The `status --json` fields about checkpoints.
pub fn status_json(found: &[Described]) -> [(&'static str, Value); 3] {
    let usable = found.iter().find_map(|f| f.as_ref().ok());
    [
        ("checkpoint_seq", json!(usable.map(|i| i.seq))),
        (
            "checkpoint_projection_version",
            json!(usable.map(|i| i.projection_version)),
        ),
        (
            "checkpoints",
            Value::Array(found.iter().map(describe_json).collect()),
        ),
    ]
}

/// The `status` lines about checkpoints.
pub fn status_lines(found: &[Described]) -> Vec<String> {
    if found.is_empty() {
        return vec!["none (the next open replays the whole journal)".into()];
    }
    found.iter().map(describe_text).collect()
}
