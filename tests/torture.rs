//! kill -9 torture through the real binary.
//!
//! - `tradeledger load --ack-log FILE` runs in a child process and is killed with SIGKILL at
//!   random moments (while it opens and recovers the journal, appends, rolls segments or
//!   writes checkpoints); after each kill the journal must open, verify, and hold every
//!   sequence number of the acknowledgement log, with records numbered 1, 2, 3, … without gap.
//!   Buffered with one producer, Sync with two (group commit), Periodic (5 ms) with two.
//! - `tradeledger import` of a large file is killed at random moments: the journal then holds
//!   none or all of the file's events.
//!
//! `TRADELEDGER_TORTURE_KILLS=N` sets the kills per mode (default 8, a few seconds);
//! `TRADELEDGER_TORTURE_IMPORT_KILLS=N` the killed imports (default 4) and
//! `TRADELEDGER_TORTURE_IMPORT_EVENTS=N` the size of the imported file (default 50,000);
//! `TRADELEDGER_TORTURE_SEED=S` replays a run. Each test prints its figures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tradeledger::model::event::Timestamp;
use tradeledger::model::interchange::write_event;
use tradeledger::rng::SplitMix64 as Rng;
use tradeledger::storage::reader::JournalReader;
use tradeledger::tools::sample;

const BIN: &str = env!("CARGO_BIN_EXE_tradeledger");

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generator of a torture test, seeded from `TRADELEDGER_TORTURE_SEED` (or the clock),
/// with the seed printed so that a failure can be replayed.
fn rng_from_env(test: &str) -> Rng {
    let seed = env_u64("TRADELEDGER_TORTURE_SEED", Timestamp::now().nanos() as u64);
    eprintln!("{test}: TRADELEDGER_TORTURE_SEED={seed}");
    Rng::new(seed)
}

/// The sequence numbers of the complete lines of the acknowledgement log. A kill may leave a
/// last line without its newline: it was never a complete promise, and is ignored.
fn acknowledged(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .map(|line| {
            line.parse()
                .unwrap_or_else(|e| panic!("ack log line {line:?}: {e}"))
        })
        .collect()
}

/// Reads every record of the journal; they must be numbered 1..=n. Returns n.
fn check_records(dir: &Path, context: &str) -> u64 {
    let reader = JournalReader::open(dir)
        .unwrap_or_else(|e| panic!("{context}: the journal does not open: {e}"));
    let mut n = 0;
    for record in reader.records(1) {
        let record = record.unwrap_or_else(|e| panic!("{context}: reading failed: {e}"));
        n += 1;
        assert_eq!(
            record.seq, n,
            "{context}: records out of order or with a gap"
        );
    }
    tradeledger::storage::verify::verify(dir)
        .unwrap_or_else(|e| panic!("{context}: verify failed: {e}"));
    n
}

struct Figures {
    kills: u64,
    records_checked: u64,
    acknowledged_checked: u64,
    largest_journal: u64,
}

fn torture_load(mode: &str, producers: &str, test: &str) {
    let kills = env_u64("TRADELEDGER_TORTURE_KILLS", 8);
    let mut rng = rng_from_env(test);
    let temp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut figures = Figures {
        kills: 0,
        records_checked: 0,
        acknowledged_checked: 0,
        largest_journal: 0,
    };
    let (mut dir, mut ack) = (PathBuf::new(), PathBuf::new());
    for round in 0..kills {
        // A fresh journal now and then keeps replay on open short.
        if round % 25 == 0 {
            dir = temp.path().join(format!("journal-{round}"));
            ack = temp.path().join(format!("ack-{round}.log"));
        }
        let seed = rng.below(u64::MAX).to_string();
        let mut child = Command::new(BIN)
            .args(["load", dir.to_str().unwrap(), "--durability", mode])
            .args([
                "--seconds",
                "600",
                "--producers",
                producers,
                "--seed",
                &seed,
            ])
            .args([
                "--segment-size",
                "65536",
                "--ack-log",
                ack.to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tradeledger load");
        std::thread::sleep(Duration::from_micros(rng.below(150_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        figures.kills += 1;
        let context = format!("{test} round {round} (seed {seed})");
        let acked = acknowledged(&ack);
        if !dir.join("journal.meta").exists() {
            assert!(
                acked.is_empty(),
                "{context}: acknowledged without a journal"
            );
            continue;
        }
        let head = check_records(&dir, &context);
        let mut sorted = acked.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            acked.len(),
            "{context}: a sequence number was acknowledged twice (an acknowledged record was lost and its number reused)"
        );
        if let Some(&last) = sorted.last() {
            assert!(
                last <= head,
                "{context}: seq {last} was acknowledged but the journal ends at {head}"
            );
        }
        if producers == "1" {
            assert!(
                acked.windows(2).all(|w| w[0] < w[1]),
                "{context}: acks out of order"
            );
        }
        figures.records_checked += head;
        figures.acknowledged_checked += acked.len() as u64;
        figures.largest_journal = figures.largest_journal.max(head);
    }
    eprintln!(
        "{test}: {} kills survived, {} records read back and verified, {} acknowledgements checked, largest journal {} records, {:.1} s",
        figures.kills,
        figures.records_checked,
        figures.acknowledged_checked,
        figures.largest_journal,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn kill_9_during_buffered_load_loses_no_acknowledged_event() {
    torture_load("buffered", "1", "buffered load");
}

#[test]
fn kill_9_during_sync_load_loses_no_acknowledged_event() {
    torture_load("sync", "2", "sync load");
}

#[test]
fn kill_9_during_periodic_load_loses_no_acknowledged_event() {
    torture_load("periodic:5", "2", "periodic load");
}

/// A JSON Lines file of `pairs` signals each with its trade (2 events per pair).
fn write_import_file(path: &Path, pairs: u64, first: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut line = String::new();
    for n in first..first + pairs {
        let time = Timestamp::from_nanos(1_700_000_000_000_000_000 + n as i64 * 1_000_000);
        for event in sample::signal_and_trade(n, time) {
            line.clear();
            write_event(&mut line, &event, None, None);
            line.push('\n');
            out.write_all(line.as_bytes()).unwrap();
        }
    }
    out.flush().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn kill_9_during_a_large_import_leaves_all_or_none_of_the_file() {
    let kills = env_u64("TRADELEDGER_TORTURE_IMPORT_KILLS", 4);
    let pairs = env_u64("TRADELEDGER_TORTURE_IMPORT_EVENTS", 50_000) / 2;
    let mut rng = rng_from_env("import");
    let temp = tempfile::tempdir().unwrap();
    // A journal with a little history, copied for every run.
    let base = temp.path().join("base");
    let small = temp.path().join("small.jsonl");
    write_import_file(&small, 5, 1);
    let status = Command::new(BIN)
        .args(["import", base.to_str().unwrap(), small.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let file = temp.path().join("large.jsonl");
    write_import_file(&file, pairs, 1_000);
    let events = pairs * 2;

    // One complete import measures how long it takes, and how long after the writer opened.
    let complete = temp.path().join("complete");
    copy_dir(&base, &complete);
    let started = Instant::now();
    let (mut child, opened, watcher) = spawn_import(&complete, &file);
    opened
        .recv_timeout(Duration::from_secs(600))
        .expect("the writer opened");
    let opened_at = started.elapsed();
    assert!(child.wait().unwrap().success());
    watcher.join().unwrap();
    let full = started.elapsed();
    let after_open = full - opened_at;
    assert_eq!(check_records(&complete, "complete import"), 10 + events);

    let (mut none, mut all) = (0, 0);
    for round in 0..kills {
        let dir = temp.path().join(format!("run-{round}"));
        // Half the runs import into a new folder, so a kill can also land in the creation.
        if round % 2 == 0 {
            copy_dir(&base, &dir);
        }
        // Half the kills land anywhere in the import (mostly while it parses and checks);
        // the other half after the writer opened, while the batch is checked again, appended,
        // flushed and checkpointed.
        let late = round % 4 >= 2;
        let (mut child, opened, watcher) = spawn_import(&dir, &file);
        let delay = if late {
            let _ = opened.recv_timeout(full * 3);
            Duration::from_micros(rng.below(after_open.as_micros() as u64 + 1))
        } else {
            Duration::from_micros(rng.below(full.as_micros() as u64 + 1))
        };
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        watcher.join().unwrap();
        let when = if late {
            "after the writer opened"
        } else {
            "after the start"
        };
        let context =
            format!("import round {round}, killed {delay:?} {when} (full import {full:?})");
        let before = if round % 2 == 0 { 10 } else { 0 };
        if !dir.join("journal.meta").exists() {
            assert_eq!(before, 0, "{context}: the journal disappeared");
            none += 1;
            continue;
        }
        let found = check_records(&dir, &context);
        if found == before {
            none += 1;
        } else {
            assert_eq!(
                found,
                before + events,
                "{context}: part of the file was imported"
            );
            all += 1;
        }
        // The journal takes the next import (writer open, recovery, append).
        let again = Command::new(BIN)
            .args(["import", dir.to_str().unwrap(), small.to_str().unwrap()])
            .output()
            .unwrap();
        let refused_as_duplicate = String::from_utf8_lossy(&again.stderr).contains("duplicate");
        assert!(
            again.status.success() || refused_as_duplicate,
            "{context}: the journal does not take another import: {}",
            String::from_utf8_lossy(&again.stderr)
        );
    }
    eprintln!(
        "import: {events} events per file, complete import {full:?} ({after_open:?} after the writer opened); {kills} killed imports: {none} left none, {all} left all"
    );
}

/// Starts `tradeledger import DIR FILE`; the receiver hears when the writer has opened.
fn spawn_import(
    dir: &Path,
    file: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<()>,
    std::thread::JoinHandle<()>,
) {
    let mut child = Command::new(BIN)
        .args(["import", dir.to_str().unwrap(), file.to_str().unwrap()])
        .env("TRADELEDGER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let watcher = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("journal opened for writing") {
                let _ = opened_tx.send(());
            }
        }
    });
    (child, opened, watcher)
}
