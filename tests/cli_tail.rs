//! `tradeledger tail` follows a journal that another process is writing: each new event is
//! printed once committed, exactly once, in order, starting at the end or at `--from-seq`;
//! it ends with exit code 0 on an interrupt and when the reader of its output goes away,
//! and it sleeps while the journal is idle.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tradeledger::ledger::Ledger;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::{JournalOptions, OpenMode};
use tradeledger::{tools::sample, Durability};

const DEADLINE: Duration = Duration::from_secs(20);

fn batch(n: u64) -> Vec<tradeledger::Event> {
    sample::signal_and_trade(n, Timestamp::from_nanos(n as i64 * 1_000_000_000))
}

/// A running `tail`: where it starts, its stdout (unless taken), and its stderr lines.
struct Tail {
    child: Child,
    from_seq: u64,
    stdout: Option<ChildStdout>,
    stderr: mpsc::Receiver<String>,
}

/// Starts `tail` with debug logs and waits until it says where it starts.
fn spawn_tail(args: &[&str]) -> Tail {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .arg("tail")
        .args(args)
        .env("TRADELEDGER_LOG", "tradeledger=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let started = loop {
        let line = receiver
            .recv_timeout(DEADLINE)
            .expect("tail said where it starts");
        if line.starts_with("following ") {
            break line;
        }
    };
    let from_seq = started
        .strip_suffix(" (interrupt to stop)")
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("tail said where it starts: {started:?}"));
    Tail {
        stdout: child.stdout.take(),
        child,
        from_seq,
        stderr: receiver,
    }
}

/// Starts `tail` and forwards the `seq` of each printed line.
fn start_tail(args: &[&str]) -> (Tail, mpsc::Receiver<u64>) {
    let mut tail = spawn_tail(args);
    let stdout = BufReader::new(tail.stdout.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if sender.send(value["seq"].as_u64().unwrap()).is_err() {
                return;
            }
        }
    });
    (tail, receiver)
}

fn collect(receiver: &mpsc::Receiver<u64>, count: usize) -> Vec<u64> {
    (0..count)
        .map(|_| {
            receiver
                .recv_timeout(DEADLINE)
                .expect("tail printed in time")
        })
        .collect()
}

/// Waits until `tail` has logged `count` more idle checks: it went through its idle timer.
fn wait_for_idle_checks(tail: &Tail, count: usize) {
    let mut seen = 0;
    while seen < count {
        let line = tail
            .stderr
            .recv_timeout(DEADLINE)
            .expect("tail checked while idle");
        assert!(!line.contains("error"), "tail reported: {line}");
        seen += usize::from(line.contains("follower idle check"));
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// What is left on stderr once the process ended, without the debug logs.
fn remaining_errors(tail: &Tail) -> Vec<String> {
    tail.stderr
        .try_iter()
        .filter(|line| !line.contains("DEBUG"))
        .collect()
}

fn journal_with(dir: &Path, batches: u64) {
    let options = JournalOptions {
        segment_size_bytes: 64 << 10,
        ..JournalOptions::default()
    };
    let ledger = Ledger::create(dir, &options).unwrap();
    for n in 1..=batches {
        ledger.append(&batch(n)).unwrap();
    }
    ledger.close().unwrap();
}

#[test]
fn tail_prints_new_events_as_another_process_commits_them() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        durability: Durability::Buffered,
        segment_size_bytes: 64 << 10,
        ..JournalOptions::default()
    };
    let ledger = Ledger::create(dir.path(), &options).unwrap();
    for n in 1..=5 {
        ledger.append(&batch(n)).unwrap();
    }
    let path = dir.path().to_str().unwrap();
    let (from_end, new_events) = start_tail(&[path]);
    let (from_three, all_events) = start_tail(&[path, "--from-seq", "3"]);
    assert_eq!((from_end.from_seq, from_three.from_seq), (11, 3));
    assert_eq!(collect(&all_events, 8), (3..=10).collect::<Vec<_>>());
    // Enough batches to roll into new segments while tail follows.
    for n in 6..=400 {
        ledger.append(&batch(n)).unwrap();
    }
    assert_eq!(collect(&new_events, 790), (11..=800).collect::<Vec<_>>());
    assert_eq!(collect(&all_events, 790), (11..=800).collect::<Vec<_>>());
    for mut tail in [from_end, from_three] {
        interrupt(&tail.child);
        cli_support::wait_with_deadline(&mut tail.child, "tail", DEADLINE);
    }
}

/// The bug this guards against: after each second without new records, tail printed again
/// everything since its start.
#[test]
fn tail_prints_each_record_once_across_idle_periods_and_a_new_writer() {
    let dir = tempfile::tempdir().unwrap();
    journal_with(dir.path(), 12);
    let path = dir.path().to_str().unwrap();
    let timers = ["--poll-ms", "2", "--resync-ms", "10"];
    let (mut tail, seqs) = start_tail(&[&[path, "--from-seq", "20"][..], &timers].concat());
    assert_eq!(collect(&seqs, 5), (20..=24).collect::<Vec<_>>());
    wait_for_idle_checks(&tail, 5);
    assert_eq!(
        seqs.try_iter().collect::<Vec<u64>>(),
        Vec::<u64>::new(),
        "printed again"
    );
    // Another writer process would do the same: open (recovery, watermark), append, close.
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    for n in 13..=14 {
        ledger.append(&batch(n)).unwrap();
    }
    ledger.close().unwrap();
    assert_eq!(collect(&seqs, 4), (25..=28).collect::<Vec<_>>());
    wait_for_idle_checks(&tail, 5);
    assert_eq!(
        seqs.try_iter().collect::<Vec<u64>>(),
        Vec::<u64>::new(),
        "printed again"
    );

    interrupt(&tail.child);
    let status = cli_support::wait_with_deadline(&mut tail.child, "tail after SIGINT", DEADLINE);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(remaining_errors(&tail), Vec::<String>::new());
}

/// CPU time the process `pid` has used, from `/proc/PID/schedstat` (nanoseconds).
fn cpu_time(pid: u32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    let ns = text.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

#[test]
fn an_idle_tail_sleeps_and_ends_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    journal_with(dir.path(), 3);
    let mut tail = spawn_tail(&[dir.path().to_str().unwrap()]);
    // Idle: a window of 20 polls costs next to no CPU (a busy loop would use all of it).
    wait_for_idle_checks(&tail, 1);
    let (cpu_before, started) = (cpu_time(tail.child.id()), Instant::now());
    wait_for_idle_checks(&tail, 1);
    let (cpu, wall) = (cpu_time(tail.child.id()) - cpu_before, started.elapsed());
    assert!(
        cpu < wall / 10,
        "an idle tail used {cpu:?} of CPU in {wall:?}"
    );
    // The reader goes away while nothing new is committed: tail notices without a write.
    drop(tail.stdout.take());
    let status = cli_support::wait_with_deadline(
        &mut tail.child,
        "tail after its reader went away",
        DEADLINE,
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(remaining_errors(&tail), Vec::<String>::new());
}

/// `head` exits once it has read the last record tail prints: tail must notice while idle.
#[test]
fn tail_into_head_ends_once_head_has_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    journal_with(dir.path(), 12);
    let script = format!(
        "set -o pipefail; '{}' tail '{}' --from-seq 22 | head -3",
        env!("CARGO_BIN_EXE_tradeledger"),
        dir.path().display()
    );
    let mut pipeline = Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status =
        cli_support::wait_with_deadline(&mut pipeline, "tail --from-seq 22 | head -3", DEADLINE);
    let output = pipeline.wait_with_output().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 3);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("error"), "{stderr}");
}
