//! `tradeledger tail` follows a journal that another process is writing: each new event is
//! printed once committed, in order, starting at the end or at `--from-seq`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tradeledger::event::Timestamp;
use tradeledger::journal::JournalOptions;
use tradeledger::ledger::Ledger;
use tradeledger::{sample, Durability};

fn batch(n: u64) -> Vec<tradeledger::Event> {
    sample::signal_and_trade(n, Timestamp::from_nanos(n as i64 * 1_000_000_000))
}

/// Starts `tail`, waits until it says where it starts (that seq is returned) and forwards the
/// `seq` of each printed line.
fn start_tail(args: &[&str]) -> (Child, u64, mpsc::Receiver<u64>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .arg("tail")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut started = String::new();
    stderr.read_line(&mut started).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let from_seq = started
        .trim_end()
        .strip_suffix(" (interrupt to stop)")
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("tail said where it starts: {started:?}"));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if sender.send(value["seq"].as_u64().unwrap()).is_err() {
                return;
            }
        }
    });
    (child, from_seq, receiver)
}

fn collect(receiver: &mpsc::Receiver<u64>, count: usize) -> Vec<u64> {
    (0..count)
        .map(|_| {
            receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("tail printed in time")
        })
        .collect()
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
    let (mut from_end, end_seq, new_events) = start_tail(&[path]);
    let (mut from_three, three_seq, all_events) = start_tail(&[path, "--from-seq", "3"]);
    assert_eq!((end_seq, three_seq), (11, 3));
    assert_eq!(collect(&all_events, 8), (3..=10).collect::<Vec<_>>());
    // Both poll a few times with nothing new.
    std::thread::sleep(Duration::from_millis(300));
    // Enough batches to roll into new segments while tail follows.
    for n in 6..=400 {
        ledger.append(&batch(n)).unwrap();
    }
    assert_eq!(collect(&new_events, 790), (11..=800).collect::<Vec<_>>());
    assert_eq!(collect(&all_events, 790), (11..=800).collect::<Vec<_>>());
    from_end.kill().unwrap();
    from_three.kill().unwrap();
    let _ = (from_end.wait(), from_three.wait());
}
