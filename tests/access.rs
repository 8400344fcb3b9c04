//! Access: file modes, read-only commands on a read-only copy, one writer, and readers that
//! never see half a batch.

mod cli_support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cli_support::*;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::{Journal, JournalOptions};
use tradeledger::storage::reader::JournalReader;
use tradeledger::{tools::sample, Durability, Event};

/// Every file and folder under `dir` with its mode, bytes (files) and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>, SystemTime)> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let meta = std::fs::metadata(&at).unwrap();
        let bytes = meta.is_file().then(|| std::fs::read(&at).unwrap());
        found.insert(
            at.clone(),
            (
                meta.permissions().mode() & 0o7777,
                bytes,
                meta.modified().unwrap(),
            ),
        );
        if meta.is_dir() {
            for entry in std::fs::read_dir(&at).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    found
}

/// A journal with several segments, a checkpoint, a torn tail cut into `torn/`.
fn busy_journal(root: &Path) -> PathBuf {
    let dir = root.join("j");
    let out = ok(&[
        "load",
        path(&dir),
        "--durability",
        "buffered",
        "--events",
        "3000",
        "--segment-size",
        "65536",
        "--seed",
        "7",
    ]);
    assert!(out.contains("3000"), "{out}");
    ok(&["checkpoint", path(&dir)]);
    // A torn tail: a stray frame after the end, cut (and kept in torn/) by the next writer.
    let last = tradeledger::storage::reader::segment_paths(&dir)
        .unwrap()
        .pop()
        .unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    let at = (end + 64) / 8 * 8;
    bytes[at..at + 16].fill(0x5a);
    std::fs::write(&last, bytes).unwrap();
    ok(&["load", path(&dir), "--events", "200", "--seed", "8"]);
    assert!(
        dir.join("torn").read_dir().unwrap().next().is_some(),
        "a torn tail was cut"
    );
    dir
}

#[test]
fn journal_files_and_folders_are_private_to_the_owner() {
    let temp = tempfile::tempdir().unwrap();
    let dir = busy_journal(temp.path());
    for (at, (mode, bytes, _)) in snapshot(&dir) {
        let expected = if bytes.is_some() { 0o600 } else { 0o700 };
        assert_eq!(mode, expected, "{} has mode {mode:o}", at.display());
    }
    for name in ["LOCK", "journal.meta", "checkpoints", "torn"] {
        assert!(dir.join(name).exists(), "{name} was checked");
    }
}

#[test]
fn read_only_commands_work_on_a_read_only_copy_and_change_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = busy_journal(temp.path());
    let copy = temp.path().join("copy");
    assert!(Command::new("cp")
        .args(["-a", path(&dir), path(&copy)])
        .status()
        .unwrap()
        .success());
    assert!(Command::new("chmod")
        .args(["-R", "a-w", path(&copy)])
        .status()
        .unwrap()
        .success());
    let before = snapshot(&copy);
    let commands: &[&[&str]] = &[
        &["verify"],
        &["status"],
        &["dump"],
        &["stats"],
        &["trades", "--open"],
        &["signals"],
        &["execution-rate"],
        &["snapshots", "--account", "90000000"],
        &["daily"],
        &["summary"],
        &["replay"],
        &["replay", "--as-of", "100"],
    ];
    for args in commands {
        let mut full: Vec<&str> = vec![args[0], path(&copy)];
        full.extend_from_slice(&args[1..]);
        ok(&full);
    }
    // tail follows until it is stopped.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["tail", path(&copy), "--from-seq", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        tail.try_wait().unwrap().is_none(),
        "tail is still following"
    );
    tail.kill().unwrap();
    tail.wait().unwrap();
    // Even as root (where a-w does not stop writes) nothing was written or touched.
    assert_eq!(
        snapshot(&copy),
        before,
        "a read-only command changed the journal"
    );
    let _ = Command::new("chmod")
        .args(["-R", "u+w", path(&copy)])
        .status();
}

#[test]
fn a_second_writer_process_is_refused_with_exit_code_4() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("j");
    let mut writer = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["load", path(&dir), "--seconds", "30", "--rate", "200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first writer holds the lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(tradeledger::storage::folder::is_locked_by_writer(&dir)
        && dir.join("journal.meta").exists())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for args in [
        vec!["load", path(&dir), "--events", "10"],
        vec!["checkpoint", path(&dir)],
        vec!["upgrade", path(&dir)],
        vec!["settings", path(&dir), "--durability", "sync"],
    ] {
        let error = fails(&args, 4);
        assert!(
            error.contains("locked by another writer"),
            "{args:?}: {error}"
        );
    }
    writer.kill().unwrap();
    writer.wait().unwrap();
}

/// A journal that a writer is appending to is opened by readers again and again. Before
/// readers scanned a live journal again, this failed now and then (about 1 in 10,000 opens
/// against a Sync writer, release build) with "journal damaged: record N is damaged (no frame)
/// but later records say seq M was already durable": the batches appended while the reader
/// scanned past its end looked like records beyond a hole. `tail`, `dump` and the queries of
/// a live journal failed with exit code 2.
///
/// Batch `b` has `1 + b % 7` signals; the signal_id of each is `b * 100 + i`, so a reader can
/// tell from the last record it sees whether it stopped at a batch boundary.
fn batch(b: u64) -> Vec<Event> {
    let size = 1 + b % 7;
    (0..size)
        .map(|i| sample::signal(b * 100 + i, Timestamp::from_nanos((b * 100 + i) as i64)))
        .collect()
}

fn ends_at_a_batch_boundary(last: &Event) -> bool {
    let Event::Signal(signal) = last else {
        return false;
    };
    let (b, i) = (signal.signal_id / 100, signal.signal_id % 100);
    i + 1 == 1 + b % 7
}

#[test]
fn readers_never_see_half_a_batch() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("j");
        let options = JournalOptions {
            durability,
            segment_size_bytes: 64 << 10,
            ..JournalOptions::default()
        };
        let journal = Arc::new(Journal::create(&dir, &options).unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (journal, done) = (Arc::clone(&journal), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut b = 1;
                while !done.load(Ordering::Relaxed) {
                    journal.append(&batch(b)).unwrap();
                    b += 1;
                }
                b
            })
        };
        let (mut views, mut records_seen, mut opens) = (0, 0, 0);
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            // As another process reads: its own mappings, no lock, checksums decide.
            let reader = JournalReader::open(&dir)
                .unwrap_or_else(|e| panic!("{durability}: a live journal did not open: {e}"));
            let mut last = None;
            let mut expected = 1;
            for record in reader.records(1) {
                let record = record.unwrap();
                assert_eq!(record.seq, expected);
                expected += 1;
                last = Some(record.event);
            }
            if let Some(last) = last {
                assert!(
                    ends_at_a_batch_boundary(&last),
                    "{durability}: half a batch seen: {last:?}"
                );
                records_seen += expected - 1;
            }
            // Many quick opens: only the head, from the last segment.
            for _ in 0..20 {
                let reader = JournalReader::open(&dir)
                    .unwrap_or_else(|e| panic!("{durability}: a live journal did not open: {e}"));
                reader.head_seq().unwrap();
                opens += 1;
            }
            // And as a thread of the writer's process.
            let head = journal.reader().head_seq().unwrap();
            if head > 0 {
                let last = journal.reader().records(head).next().unwrap().unwrap();
                assert!(ends_at_a_batch_boundary(&last.event));
            }
            views += 1;
        }
        done.store(true, Ordering::Relaxed);
        let batches = writer.join().unwrap();
        eprintln!("{durability}: {views} reads of a live journal ({records_seen} records) and {opens} opens while {batches} batches were appended");
        assert!(views >= 1 && batches > 1);
    }
}

/// Scanning a live journal again must not hide real damage: a record destroyed under a
/// running writer, with later records claiming it durable, is still reported.
#[test]
fn real_damage_in_a_live_journal_is_still_reported() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("j");
    let journal = Journal::create(
        &dir,
        &JournalOptions {
            durability: Durability::Sync,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    for b in 1..=20 {
        journal.append(&batch(b)).unwrap();
    }
    let segment = tradeledger::storage::reader::segment_paths(&dir)
        .unwrap()
        .pop()
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    use std::os::unix::fs::FileExt;
    // The third record's checksum.
    let mut offset = tradeledger::storage::format::SEGMENT_HEADER_SIZE;
    let bytes = std::fs::read(&segment).unwrap();
    for _ in 0..2 {
        offset +=
            tradeledger::storage::format::read_frame(&bytes[offset..], journal.meta().frame_seed())
                .unwrap()
                .size;
    }
    file.write_all_at(&[0xde, 0xad, 0xbe, 0xef], offset as u64 + 4)
        .unwrap();
    let error = JournalReader::open(&dir).err().expect("damage is reported");
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains("already durable"), "{error}");
    assert!(tradeledger::storage::verify::verify(&dir).is_err());
    drop(journal);
}

/// `tradeledger verify DIR | head -1` and the like: a reader that closed its end of the pipe
/// ends the command quietly with 0. (`verify`, `status`, `init` and `demo` printed with
/// `println!`, which panics on a closed pipe; `dump` and the queries exited with 1 and an error.)
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("j");
    ok(&["load", path(&dir), "--events", "2000"]);
    for args in [
        vec!["verify", path(&dir)],
        vec!["status", path(&dir)],
        vec!["dump", path(&dir)],
        vec!["trades", path(&dir)],
        vec!["signals", path(&dir), "--json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
