//! `salvage DIR NEWDIR`: the intact records of a damaged journal, copied into a new journal,
//! never in place (`docs/RECOVERY.md`, "Salvage").
//!
//! The records before the first damaged one are copied exactly as stored (their bytes, seqs
//! and recording times, batch by batch, through `Journal::append_stored`), into a journal with
//! the same id and settings; a batch the damage cuts short is left out whole. `DIR` is only
//! read. What is left behind is reported: where the damage is, and what lies beyond it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tradeledger::error::Corruption;
use tradeledger::progress::{Progress, RECORDS_PER_REPORT};
use tradeledger::storage::journal::{Journal, JournalOptions};
use tradeledger::storage::reader::JournalReader;
use tradeledger::Error;

use super::options::{print_json, write_stdout};
use super::progress::Unit;

#[derive(Args)]
pub struct SalvageArgs {
    /// The damaged journal (only read).
    pub dir: PathBuf,
    /// Where to write the new journal (created; must be missing or empty).
    pub new_dir: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What a salvage copied and what it left.
struct Salvaged {
    /// The last record copied (0: none).
    last_seq: u64,
    batches: u64,
    /// The damage that ended the copy, if any.
    damage: Option<Box<Corruption>>,
    /// Bytes and later records beyond the intact part of the tail, when an open found it.
    left_bytes: Option<u64>,
    later_records: bool,
}

pub fn run(args: &SalvageArgs) -> anyhow::Result<ExitCode> {
    let salvaged = super::progress::with_bar("copying", Unit::Count("records"), |progress| {
        salvage(&args.dir, &args.new_dir, progress)
    })?;
    let damage = salvaged.damage.as_ref().map(|d| {
        json!({"file": d.file.display().to_string(), "offset": d.offset, "seq": d.seq, "reason": d.reason})
    });
    if args.json {
        print_json(&json!({
            "journal": args.dir.display().to_string(),
            "new_journal": args.new_dir.display().to_string(),
            "last_seq": salvaged.last_seq,
            "batches": salvaged.batches,
            "damage": damage,
            "left_bytes": salvaged.left_bytes,
            "later_records_left": salvaged.later_records,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "copied records 1..={} ({} batches) of {} into {}\n",
        salvaged.last_seq,
        salvaged.batches,
        args.dir.display(),
        args.new_dir.display()
    );
    match &salvaged.damage {
        None => text.push_str("the journal was intact: nothing was left behind\n"),
        Some(damage) => {
            text.push_str(&format!("left behind: from {damage}\n"));
            if let Some(bytes) = salvaged.left_bytes {
                let later = match salvaged.later_records {
                    true => ", with valid records after the damage",
                    false => "",
                };
                text.push_str(&format!(
                    "             {bytes} bytes of that segment from the cut on{later}\n"
                ));
            }
            text.push_str(&format!(
                "{} is unchanged; verify {} before using it\n",
                args.dir.display(),
                args.new_dir.display()
            ));
        }
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn salvage(dir: &Path, new_dir: &Path, progress: Progress) -> anyhow::Result<Salvaged> {
    let (reader, mut damage) = JournalReader::open_intact_prefix(dir)?;
    let head = reader.head_seq()?;
    progress(0, head);
    let meta = reader.meta();
    let options = JournalOptions {
        durability: meta.durability,
        segment_size_bytes: meta.segment_size_bytes,
        checkpoint_every_records: meta.checkpoint_every_records,
        journal_id: Some(meta.journal_id),
        ..JournalOptions::default()
    };
    let journal = Journal::create(new_dir, &options)
        .with_context(|| format!("create the new journal {}", new_dir.display()))?;
    let (mut batch, mut batches, mut last_seq) = (Vec::new(), 0, 0);
    for record in reader.raw_records(1) {
        let record = match record {
            Ok(record) => record,
            // Damage in a sealed segment, which an open does not scan: the copy ends there.
            Err(Error::Corrupt(found)) if damage.is_none() => {
                damage = Some(found);
                break;
            }
            Err(error) => return Err(error.into()),
        };
        let batch_end = record.batch_end;
        if record.seq % RECORDS_PER_REPORT == 0 {
            progress(record.seq.min(head), head);
        }
        batch.push(record);
        if batch_end {
            let frames: Vec<&[u8]> = batch.iter().map(|r| r.bytes.as_slice()).collect();
            let appended = journal.append_stored(&frames)?;
            (last_seq, batches) = (appended.last_seq, batches + 1);
            batch.clear();
        }
    }
    journal.close()?;
    progress(last_seq.min(head), head);
    let tail = reader.torn_tail().filter(|_| damage.is_some());
    Ok(Salvaged {
        last_seq,
        batches,
        left_bytes: tail.map(|t| t.bytes),
        later_records: tail.is_some_and(|t| t.later_records || t.segments_after > 0),
        damage,
    })
}
