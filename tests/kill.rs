//! A child process appends in Buffered mode and reports each acknowledged append on stdout;
//! it is killed with SIGKILL at a random moment. Every append it reported must be there, in
//! order, after the journal is reopened.
//!
//! The child is this test binary itself, started with `TRADELEDGER_KILL_CHILD=<dir>`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::storage::reader::JournalReader;
use tradeledger::{tools::sample, Durability, Event};

const CHILD_ENV: &str = "TRADELEDGER_KILL_CHILD";

fn batch(n: u64) -> Vec<Event> {
    sample::signal_and_trade(n, Timestamp::from_nanos(n as i64))
}

/// The child: append forever, print `last_seq` after each acknowledged append.
fn child(dir: &Path) -> ! {
    let journal = match Journal::open(dir, &OpenMode::default()) {
        Ok(journal) => journal,
        Err(_) => {
            let options = JournalOptions {
                durability: Durability::Buffered,
                segment_size_bytes: 256 << 10,
                ..JournalOptions::default()
            };
            Journal::create(dir, &options).unwrap()
        }
    };
    let mut n = journal.head_seq() / 2 + 1;
    loop {
        let appended = journal.append(&batch(n)).unwrap();
        println!("{}", appended.last_seq);
        n += 1;
    }
}

#[test]
fn every_append_reported_before_sigkill_survives() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("j");
    let rounds: u64 = std::env::var("TRADELEDGER_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    // A different kill schedule each run; printed so that a failure can be replayed with
    // TRADELEDGER_KILL_SEED.
    let seed: u64 = std::env::var("TRADELEDGER_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    println!("kill schedule seed {seed}");
    let mut acknowledged = 0;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "every_append_reported_before_sigkill_survives",
                "--nocapture",
            ])
            .env(CHILD_ENV, &journal_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill after a pseudo-random number of acknowledgements (1..2000).
        let kill_after =
            1 + (seed.wrapping_add(round).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % 2000;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0;
        for line in stdout.lines() {
            let Ok(seq) = line.unwrap().trim().parse::<u64>() else {
                continue;
            };
            assert!(seq > acknowledged, "acknowledgements go forward");
            acknowledged = seq;
            seen += 1;
            if seen >= kill_after || Instant::now() > deadline {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let reader = JournalReader::open(&journal_dir).unwrap();
        let records: Vec<u64> = reader.records(1).map(|r| r.unwrap().seq).collect();
        assert!(
            records.len() as u64 >= acknowledged,
            "round {round}: lost acknowledged appends"
        );
        assert!(
            records.iter().copied().eq(1..=records.len() as u64),
            "no gap"
        );
        tradeledger::storage::verify::verify(&journal_dir).unwrap();
        acknowledged = records.len() as u64;
    }
    assert!(acknowledged > 0);
}
