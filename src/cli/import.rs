//! `import`: a JSON Lines file of events (`docs/INTERCHANGE.md` §2) appended as one atomic
//! batch. The whole file is parsed and checked against the journal's state (§3) before the
//! writer is even opened, so a rejected file leaves the journal byte for byte as it was.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tradeledger::ledger::{Ledger, LedgerError};
use tradeledger::model::event::Event;
use tradeledger::model::interchange::{read_events, InputError};
use tradeledger::projection::{CheckError, Projections, Violation};
use tradeledger::storage::folder::META_FILE_NAME;
use tradeledger::storage::journal::Appended;
use tradeledger::storage::journal::JournalOptions;
use tradeledger::Error;

use super::human;
use super::interrupt;
use super::options::{print_json, write_stdout};
use super::progress;

#[derive(Args)]
pub struct ImportArgs {
    /// The journal folder; a journal with default settings is created if it has none.
    pub dir: PathBuf,
    /// The JSON Lines file of events; `-` reads standard input.
    pub file: PathBuf,
    /// Print what was imported as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The events of the input, with their line numbers.
struct Input {
    name: String,
    lines: Vec<u64>,
    events: Vec<Event>,
}

/// Where an import stands, for an interrupt to say whether it committed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading, checking, opening: nothing of the file is in the journal.
    NothingAppended,
    /// The batch is being appended, or was: the interrupt waits for the outcome.
    Appending,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    // An interrupt before the append ends the import at once: nothing was imported. The
    // phase's lock makes "before" and the start of the append exclusive, so the message is
    // never wrong. During and after the append, the import finishes its step and says so.
    let phase = std::sync::Arc::new(std::sync::Mutex::new(Phase::NothingAppended));
    let watched = std::sync::Arc::clone(&phase);
    let interrupted = interrupt::watch(move || {
        let phase = watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *phase == Phase::NothingAppended {
            eprintln!("interrupted: nothing was imported");
            std::process::exit(i32::from(interrupt::EXIT_INTERRUPTED));
        }
    })?;
    let input = read_input(&args.file)?;
    let exists = args.dir.join(META_FILE_NAME).exists();
    if !input.events.is_empty() {
        // Checked before the writer is opened: opening it may write (recovery, watermark).
        let state = if exists {
            progress::load_read_only(&args.dir, None)?.0
        } else {
            Projections::new()
        };
        let checking = format!("checking {} events", input.events.len());
        progress::with_waiting(&checking, || state.check_batch(&input.events)).map_err(
            |(index, error)| match error {
                CheckError::Violation(violation) => rejected(&input, index, &violation),
                CheckError::Corrupt(damage) => Error::Corrupt(damage).into(),
            },
        )?;
    } else if exists {
        return report(args, &input, false, None);
    }
    let ledger = if exists {
        progress::open(&args.dir)?
    } else {
        Ledger::create(&args.dir, &JournalOptions::default())?
    };
    *phase
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Phase::Appending;
    let appended = if input.events.is_empty() {
        None
    } else {
        // Checked again under the writer lock, against the state the batch is applied to.
        let appending = format!("appending {} events", input.events.len());
        let appended = progress::with_waiting(&appending, || ledger.append(&input.events));
        let appended = appended.map_err(|error| match error {
            LedgerError::Rejected { index, violation } => rejected(&input, index, &violation),
            LedgerError::Storage(error) => error.into(),
        })?;
        Some(appended)
    };
    progress::close(ledger)?;
    if interrupt::happened(&interrupted) {
        match &appended {
            Some(a) => eprintln!(
                "interrupted after the append: all {} events of {} are in the journal (seq {}..={})",
                input.events.len(),
                input.name,
                a.first_seq,
                a.last_seq
            ),
            None => eprintln!("interrupted: nothing was imported (no events)"),
        }
        return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
    }
    report(args, &input, !exists, appended)
}

fn read_input(file: &Path) -> anyhow::Result<Input> {
    let parsed = if file == Path::new("-") {
        read_events(std::io::stdin().lock())
    } else {
        let opened = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let size = opened.metadata().map_or(0, |m| m.len());
        let bar = progress::Bar::new("reading", progress::Unit::Bytes);
        let parsed = read_events(BufReader::new(progress::Reading::new(opened, size, &bar)));
        bar.finish();
        parsed
    };
    let name = if file == Path::new("-") {
        "standard input".to_string()
    } else {
        file.display().to_string()
    };
    let parsed = parsed
        .map_err(|error: InputError| anyhow::anyhow!("{name}: {error}; nothing was imported"))?;
    let (lines, events) = parsed.into_iter().unzip();
    Ok(Input {
        name,
        lines,
        events,
    })
}

/// `FILE: line 7, field "ticket": ticket 1001 already exists (rule "duplicate ticket")`.
fn rejected(input: &Input, index: usize, violation: &Violation) -> anyhow::Error {
    let line = input.lines.get(index).copied().unwrap_or_default();
    anyhow::anyhow!(
        "{}: line {line}, field \"{}\": {} (rule \"{}\"); nothing was imported",
        input.name,
        violation.field,
        violation.detail,
        violation.rule
    )
}

fn report(
    args: &ImportArgs,
    input: &Input,
    created: bool,
    appended: Option<Appended>,
) -> anyhow::Result<ExitCode> {
    let mut counts: BTreeMap<u16, (&str, u64)> = BTreeMap::new();
    for event in &input.events {
        let kind = event.kind();
        counts.entry(kind as u16).or_insert((kind.name(), 0)).1 += 1;
    }
    if args.json {
        let events: serde_json::Map<String, serde_json::Value> = counts
            .values()
            .map(|(name, n)| (name.to_string(), json!(n)))
            .collect();
        print_json(&json!({
            "created": created,
            "appended": input.events.len(),
            "first_seq": appended.as_ref().map(|a| a.first_seq),
            "last_seq": appended.as_ref().map(|a| a.last_seq),
            "events": events,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args.dir.display();
    if created {
        write_stdout(&format!("created journal {dir}\n"))?;
    }
    match appended {
        None => write_stdout(&format!(
            "{} holds no events: nothing was imported into {dir}\n",
            input.name
        ))?,
        Some(a) => {
            let rows: Vec<(&str, String)> = counts
                .values()
                .map(|(name, n)| (*name, n.to_string()))
                .collect();
            write_stdout(&format!(
                "imported {} events from {} into {dir} (seq {}..={}):\n{}",
                input.events.len(),
                input.name,
                a.first_seq,
                a.last_seq,
                human::pairs(&rows)
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
