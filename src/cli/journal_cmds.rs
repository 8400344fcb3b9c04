//! `init`, `verify`, `dump`, `status`: the journal itself, no projections.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};
use tradeledger::error::Corruption;
use tradeledger::model::event::Timestamp;
use tradeledger::progress::Progress;
use tradeledger::storage::journal::{Journal, JournalOptions, SettingsChange};
use tradeledger::storage::reader::{JournalReader, Record};
use tradeledger::storage::verify::{Anchor, RecordAnchor, VerifyReport};
use tradeledger::Error;
use tradeledger::{model::interchange, Durability};

use super::maintenance;
use super::options::{parse_time_bound, write_stdout};
use super::progress::Unit;

pub fn init(
    dir: &Path,
    segment_size: u64,
    durability: Durability,
    checkpoint_every: u64,
) -> anyhow::Result<ExitCode> {
    let options = JournalOptions {
        durability,
        segment_size_bytes: segment_size,
        checkpoint_every_records: checkpoint_every,
        ..JournalOptions::default()
    };
    let journal = Journal::create(dir, &options)?;
    journal.close()?;
    let mut text = String::new();
    out!(
        text,
        "created journal {} (durability {durability}, segments of {segment_size} bytes)",
        dir.display()
    );
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn settings(dir: &Path, change: &SettingsChange) -> anyhow::Result<ExitCode> {
    if change.durability.is_none()
        && change.segment_size_bytes.is_none()
        && change.checkpoint_every_records.is_none()
    {
        anyhow::bail!(
            "nothing to change: give --durability, --segment-size or --checkpoint-every (`status` shows the settings)"
        );
    }
    let (before, after) =
        tradeledger::storage::journal::change_settings(&Default::default(), dir, change)?;
    let rows = [
        (
            "durability",
            before.durability.to_string(),
            after.durability.to_string(),
        ),
        (
            "segment size",
            format!("{} bytes", before.segment_size_bytes),
            format!("{} bytes", after.segment_size_bytes),
        ),
        (
            "checkpoint every",
            format!("{} records", before.checkpoint_every_records),
            format!("{} records", after.checkpoint_every_records),
        ),
    ];
    let mut text = String::new();
    for (name, was, now) in rows {
        if was == now {
            out!(text, "{name:<17} {now} (unchanged)");
        } else {
            out!(text, "{name:<17} {was} -> {now}");
        }
    }
    if before != after {
        out!(
            text,
            "saved in {}; applies from the next open",
            dir.display()
        );
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn verify(dir: &Path, anchor: Option<&str>, json_output: bool) -> anyhow::Result<ExitCode> {
    use tradeledger::storage::verify::{
        verify_anchor_with_progress, verify_record_anchor_with_progress, verify_with_progress,
    };
    type Verified = Result<VerifyReport, Error>;
    let verifying = |work: &mut dyn FnMut(Progress) -> Verified| {
        super::progress::with_bar("verifying", Unit::Percent, work)
    };
    let (verified, checked) = match anchor {
        Some(text) => match RecordAnchor::parse(text) {
            Some(anchor) => {
                let anchor = anchor?;
                let what = format!("the records up to seq {} are the anchored ones", anchor.seq);
                (
                    verifying(&mut |p| verify_record_anchor_with_progress(dir, &anchor, p)),
                    Some((anchor.seq, anchor.to_string(), what)),
                )
            }
            None => {
                let anchor = Anchor::parse(text)?;
                let what = format!("the history up to seq {} is unchanged", anchor.seq);
                (
                    verifying(&mut |p| verify_anchor_with_progress(dir, &anchor, p)),
                    Some((anchor.seq, anchor.to_string(), what)),
                )
            }
        },
        None => (verifying(&mut |p| verify_with_progress(dir, p)), None),
    };
    let report = match verified {
        Err(tradeledger::Error::Corrupt(damage)) if json_output => {
            // The damage as JSON on stdout too; the exit code and stderr say it as always.
            write_stdout(&format!("{}\n", damage_json(&damage)))?;
            return Err(tradeledger::Error::Corrupt(damage).into());
        }
        verified => verified?,
    };
    let mut text = String::new();
    if json_output {
        let mut value = verify_json(&report);
        if let Some((seq, anchor, _)) = &checked {
            value["anchor"] = json!({"seq": seq, "hash": anchor, "matches": true});
        }
        out!(text, "{value}");
    } else {
        print_verify(&mut text, dir, &report);
        if let Some((_, anchor, what)) = &checked {
            out!(text, "anchor    {anchor} matches: {what}");
        }
        print_contract_violations(&mut text, &report);
    }
    write_stdout(&text)?;
    if report.contract_violation_count > 0 {
        return Ok(ExitCode::from(super::EXIT_CONTRACT_VIOLATION));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line saying how many events break the contract, then one per listed event.
fn print_contract_violations(text: &mut String, r: &VerifyReport) {
    if r.contract_violation_count == 0 {
        return;
    }
    out!(
        text,
        "contract  {} event(s) break the contract's rules (written before they were checked; see \"Contract violations\" in docs/RECOVERY.md)",
        r.contract_violation_count
    );
    for v in &r.contract_violations {
        out!(
            text,
            "          seq {} ({}): {}",
            v.seq,
            v.kind,
            v.violation
        );
    }
    let unlisted = r.contract_violation_count - r.contract_violations.len() as u64;
    if unlisted > 0 {
        out!(text, "          ... and {unlisted} more");
    }
}

fn time_text(time: Option<Timestamp>) -> String {
    time.map_or_else(|| "-".into(), |t| t.to_string())
}

fn print_verify(text: &mut String, dir: &Path, r: &VerifyReport) {
    out!(text, "journal   {}", dir.display());
    out!(
        text,
        "status    intact{}",
        if r.live {
            " (a writer is appending)"
        } else {
            ""
        }
    );
    out!(
        text,
        "segments  {} ({} bytes on disk, {} bytes of data)",
        r.segments,
        r.file_bytes,
        r.data_bytes
    );
    out!(text, "records   {}", r.records);
    match (r.first_seq, r.last_seq) {
        (Some(a), Some(b)) => out!(text, "seq       {a}..={b}"),
        _ => out!(text, "seq       (empty)"),
    }
    out!(
        text,
        "recorded  {} .. {}",
        time_text(r.first_recorded_at),
        time_text(r.last_recorded_at)
    );
    out!(text, "head      {}", r.head_anchor);
    out!(text, "history   {} (record anchor)", r.record_anchor);
    if r.pending_links > 0 {
        out!(text, "note      {} chain link(s) pending: the writer had not finished sealing; the next writer open completes them", r.pending_links);
    }
    if let Some(cut) = &r.torn_tail {
        let what = if r.live {
            "an incomplete batch is being written"
        } else {
            "torn tail"
        };
        eprintln!(
            "warning: {what}: {} bytes after seq {} (the next writer open cuts it; no acknowledged record is in it)",
            cut.bytes, cut.last_seq_kept
        );
    }
}

/// `verify --json` on damage: where and why.
fn damage_json(damage: &Corruption) -> serde_json::Value {
    json!({
        "status": "damaged",
        "damage": {
            "file": damage.file.display().to_string(),
            "offset": damage.offset,
            "seq": damage.seq,
            "reason": damage.reason,
        },
    })
}

fn verify_json(r: &VerifyReport) -> serde_json::Value {
    let mut value = json!({
        "status": "intact",
        "live": r.live,
        "segments": r.segments,
        "records": r.records,
        "first_seq": r.first_seq,
        "last_seq": r.last_seq,
        "first_recorded_at": r.first_recorded_at.map(|t| t.to_string()),
        "last_recorded_at": r.last_recorded_at.map(|t| t.to_string()),
        "data_bytes": r.data_bytes,
        "file_bytes": r.file_bytes,
        "pending_links": r.pending_links,
        "torn_tail": r.torn_tail.as_ref().map(|c| json!({
            "bytes": c.bytes, "after_seq": c.last_seq_kept,
        })),
        "head": r.head_anchor,
        "record_anchor": r.record_anchor,
    });
    if r.contract_violation_count > 0 {
        let events: Vec<Value> = r
            .contract_violations
            .iter()
            .map(|v| {
                json!({
                    "seq": v.seq,
                    "event": v.kind.name(),
                    "rule": v.violation.rule.name(),
                    "field": v.violation.field,
                    "detail": v.violation.detail,
                })
            })
            .collect();
        value["contract_violations"] = json!({
            "count": r.contract_violation_count,
            "events": events,
        });
    }
    value
}

pub fn dump(
    dir: &Path,
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    since: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let since = since.map(|s| parse_time_bound(s, false)).transpose()?;
    let until = until.map(|s| parse_time_bound(s, true)).transpose()?;
    // A damaged journal is read up to its first damaged record: what is printed is intact,
    // and the damage is an error only if the range asked for reaches it.
    let (reader, damage) = JournalReader::open_intact_prefix(dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = String::new();
    for record in reader.records(from_seq.unwrap_or(1)) {
        let record = record?;
        if to_seq.is_some_and(|to| record.seq > to) {
            break;
        }
        let in_range = since.is_none_or(|s| record.recorded_at >= s)
            && until.is_none_or(|u| record.recorded_at <= u);
        if in_range {
            write_record(&mut out, &mut line, &record)?;
        }
    }
    out.flush().context("write to stdout")?;
    if let Some(damage) = damage {
        let intact_through = reader.torn_tail().map_or(0, |t| t.last_seq_kept);
        if to_seq.is_none_or(|to| to > intact_through) {
            return Err(tradeledger::Error::Corrupt(damage).into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(dir: &Path, json_output: bool) -> anyhow::Result<ExitCode> {
    let report = super::progress::with_bar("hashing the records", Unit::Bytes, |progress| {
        tradeledger::storage::verify::status_with_progress(dir, progress)
    })?;
    let meta = &report.meta;
    let head = report.last_seq.unwrap_or(0);
    let checkpoints = maintenance::status_checkpoints(dir, &meta.journal_id, head)?;
    // A report of `ship`, not the journal: a file that cannot be read is only a warning.
    let shipping = super::nats::ship::lag(dir, head).unwrap_or_else(|error| {
        tracing::warn!(error = %super::error_text(&error), "shipping lag unknown");
        None
    });
    let disk = DiskUse::of(dir, report.file_bytes)?;
    let mut text = String::new();
    if json_output {
        let value = json!({
            "head_seq": report.last_seq.unwrap_or(0),
            "segments": report.segments,
            "segment_size_bytes": meta.segment_size_bytes,
            "file_bytes": report.file_bytes,
            "data_bytes": report.data_bytes,
            "format_version": meta.format_version,
            "durability": meta.durability.to_string(),
            "checkpoint_every_records": meta.checkpoint_every_records,
            "last_hash": report.head_anchor,
            "record_anchor": report.record_anchor,
            "live": report.live,
            "disk": {
                "segments_bytes": disk.segments,
                "prepared_bytes": disk.prepared,
                "checkpoints_bytes": disk.checkpoints,
                "torn_bytes": disk.torn,
                "total_bytes": disk.total(),
            },
        });
        let mut value = value;
        if let Value::Object(fields) = &mut value {
            for (name, field) in maintenance::status_json(&checkpoints) {
                fields.insert(name.into(), field);
            }
            if let Some((progress, records, seconds)) = &shipping {
                fields.insert(
                    "shipping".into(),
                    json!({
                        "stream": progress.stream,
                        "shipped_seq": progress.shipped_seq,
                        "lag_records": records,
                        "lag_seconds": seconds,
                        "updated_at": Timestamp::from_nanos(progress.updated_at_ns).to_string(),
                    }),
                );
            }
        }
        out!(text, "{value}");
    } else {
        out!(text, "journal         {}", dir.display());
        out!(text, "head seq        {}", report.last_seq.unwrap_or(0));
        out!(
            text,
            "segments        {} ({} bytes on disk, {} bytes of data; configured size {} bytes)",
            report.segments,
            report.file_bytes,
            report.data_bytes,
            meta.segment_size_bytes
        );
        out!(text, "format version  {}", meta.format_version);
        out!(text, "durability      {}", meta.durability);
        match meta.checkpoint_every_records {
            0 => out!(text, "checkpoints     automatic ones off"),
            every => out!(text, "checkpoints     automatic every {every} records"),
        }
        out!(text, "last hash       {}", report.head_anchor);
        out!(text, "record anchor   {}", report.record_anchor);
        out!(
            text,
            "writer          {}",
            if report.live { "running" } else { "none" }
        );
        for line in maintenance::status_lines(&checkpoints) {
            out!(text, "checkpoint      {line}");
        }
        out!(
            text,
            "disk            {} bytes: segments {}, prepared {}, checkpoints {}, torn {}",
            disk.total(),
            disk.segments,
            disk.prepared,
            disk.checkpoints,
            disk.torn
        );
        if let Some((progress, records, seconds)) = &shipping {
            out!(
                text,
                "shipping        to stream {}: seq {} acknowledged, {records} record(s) behind ({seconds:.3} s), as of {}",
                progress.stream,
                progress.shipped_seq,
                Timestamp::from_nanos(progress.updated_at_ns)
            );
        }
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// What a journal's folder takes on disk, by part (file sizes: segments and prepared files
/// are written in full when made, so their size is what they take).
struct DiskUse {
    segments: u64,
    /// `next.seg.prepared.N`: made while a writer runs, removed by its close.
    prepared: u64,
    /// `checkpoints/`, with those set aside as damaged and unfinished ones.
    checkpoints: u64,
    /// `torn/`: what recovery cut, kept for inspection.
    torn: u64,
}

impl DiskUse {
    fn of(dir: &Path, segments: u64) -> anyhow::Result<DiskUse> {
        let prepared_name = tradeledger::storage::folder::PREPARED_FILE_NAME;
        let prepared = files_bytes(dir, |name| name.starts_with(prepared_name))?;
        let checkpoints = tradeledger::ledger::checkpoint::CHECKPOINT_DIR_NAME;
        let torn = tradeledger::storage::folder::TORN_DIR_NAME;
        Ok(DiskUse {
            segments,
            prepared,
            checkpoints: files_bytes(&dir.join(checkpoints), |_| true)?,
            torn: files_bytes(&dir.join(torn), |_| true)?,
        })
    }

    fn total(&self) -> u64 {
        self.segments + self.prepared + self.checkpoints + self.torn
    }
}

/// The bytes of the files directly in `dir` whose names `wanted` accepts (0 when `dir` does
/// not exist).
fn files_bytes(dir: &Path, wanted: impl Fn(&str) -> bool) -> anyhow::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(Error::Io {
                path: dir.into(),
                op: "list",
                source: e,
            }
            .into())
        }
    };
    let mut bytes = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io {
            path: dir.into(),
            op: "list",
            source: e,
        })?;
        let name = entry.file_name();
        let metadata = entry.metadata();
        let metadata = metadata.map_err(|e| Error::Io {
            path: entry.path(),
            op: "stat",
            source: e,
        })?;
        if metadata.is_file() && wanted(&name.to_string_lossy()) {
            bytes += metadata.len();
        }
    }
    Ok(bytes)
}

/// Writes `record` as one JSON Lines line (with seq and recorded_at), reusing `line`.
pub(super) fn write_record(
    out: &mut impl Write,
    line: &mut String,
    record: &Record,
) -> anyhow::Result<()> {
    line.clear();
    interchange::write_event(
        line,
        &record.event,
        Some(record.seq),
        Some(record.recorded_at),
    );
    line.push('\n');
    out.write_all(line.as_bytes()).context("write to stdout")
}
