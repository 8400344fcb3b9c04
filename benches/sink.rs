//! `cargo bench --bench sink [-- EVENTS SECONDS]`: `tradeledger sink postgres` against a
//! throwaway local PostgreSQL 15 (`tests/pg_support`), the figures of `docs/SQL.md` §6:
//!
//! - catch-up: `load --events EVENTS` (default 500,000), then `sink postgres --once` into an
//!   empty database; events per second as the sink reports them;
//! - lag while tailing: the sink follows the journal while `load --rate 2000 --seconds
//!   SECONDS` (default 30) appends to it; the sink's status lines give the lag percentiles
//!   from each record's append to the commit of its row, per 5-second window.

mod common;
#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pg_support::PostgresServer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tradeledger");
const STATUS_MS: u64 = 5000;

use common::run_cli as run;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let events: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod temp dir");
    let server = match PostgresServer::start(&temp.path().join("pg")) {
        Ok(server) => server,
        Err(reason) => {
            println!("sink bench skipped: {reason}");
            return;
        }
    };
    let journal = temp.path().join("journal");
    let journal = journal.to_str().expect("UTF-8 path");
    let count = events.to_string();
    run(&["load", journal, "--events", &count, "--seed", "1"]);

    let url = server.create_database("catchup").expect("create database");
    let out = run(&[
        "sink", "postgres", journal, "--url", &url, "--once", "--json",
    ]);
    let status: Value = serde_json::from_str(out.lines().last().expect("status")).expect("JSON");
    let rate = status["catch_up_events_per_second"]
        .as_f64()
        .unwrap_or(f64::NAN);
    println!(
        "catch-up: {} events at {rate:.0} events/s",
        status["events"]
    );

    let url = server.create_database("tail").expect("create database");
    run(&["sink", "postgres", journal, "--url", &url, "--once"]);
    let status_ms = STATUS_MS.to_string();
    let mut sink = Command::new(BIN)
        .args(["sink", "postgres", journal, "--url", &url, "--json"])
        .args(["--status-ms", &status_ms])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the sink");
    let (lines, received) = mpsc::channel();
    let stdout = sink.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let first = received.recv().expect("the catch-up status line");
    let caught_up: Value = serde_json::from_str(&first).expect("JSON");
    let start = caught_up["position"].as_u64().expect("position");
    let duration = seconds.to_string();
    run(&[
        "load",
        journal,
        "--rate",
        "2000",
        "--seconds",
        &duration,
        "--seed",
        "2",
    ]);
    let head = run(&["status", journal, "--json"]);
    let head: Value = serde_json::from_str(&head).expect("status JSON");
    let head = head["head_seq"].as_u64().expect("head_seq");
    let mut p99s = vec![];
    let last = loop {
        let wait = Duration::from_millis(STATUS_MS * 3);
        let line = received.recv_timeout(wait).expect("a status line");
        let status: Value = serde_json::from_str(&line).expect("JSON");
        if let Some(p99) = status["lag_p99_ms"].as_f64() {
            println!(
                "tail window: p50 {} ms, p99 {p99} ms, max {} ms",
                status["lag_p50_ms"], status["lag_max_ms"]
            );
            p99s.push(p99);
        }
        if status["position"].as_u64() == Some(head) {
            break status;
        }
    };
    sink.kill().expect("stop the sink");
    sink.wait().expect("reap the sink");
    p99s.sort_by(f64::total_cmp);
    println!(
        "tail: {} events at 2,000 events/s; p99 lag per window: median {:.1} ms, worst {:.1} ms",
        head - start,
        p99s.get(p99s.len() / 2).copied().unwrap_or(f64::NAN),
        p99s.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "tail, every record written while following: p50 {} ms, p99 {} ms, max {} ms",
        last["tail_lag_p50_ms"], last["tail_lag_p99_ms"], last["tail_lag_max_ms"]
    );
}
