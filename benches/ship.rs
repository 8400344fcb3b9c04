//! `cargo bench --bench ship [-- RECORDS SECONDS]`: `tradeledger ship` and `mirror` against a
//! local 3-node NATS JetStream cluster (`tests/nats_support`, Debian's `nats-server`), the
//! stream with 3 replicas; the figures of `docs/BENCHMARKS.md` ("Shipping to JetStream"):
//!
//! - shipping throughput: `load --events RECORDS` (default 200,000), then `ship --once` of the
//!   whole journal into a new stream; records per second over the command's wall time
//!   (connecting and creating the stream included). Then `mirror --once` of that stream into
//!   a new replica, the same way.
//! - lag from append to mirror: `ship` and `mirror` follow a journal while `load --rate 2000
//!   --seconds SECONDS` (default 20) appends to it, after a warm-up of 100 events (not
//!   counted) that creates the stream and the replica; for each batch, the time from its
//!   recorded_at (the trader's append) to its append into the replica (before the replica's
//!   flush), from the mirror's debug log. Percentiles over all batches.
//!
//! Prints a table and writes `target/ship-bench.json`.

mod common;
#[path = "../tests/nats_support/mod.rs"]
mod nats_support;

use std::path::Path;
use std::time::{Duration, Instant};

use nats_support::{Cluster, Process};
use serde_json::{json, Value};

use common::run_cli as run;

fn head(dir: &str) -> u64 {
    let status: Value = serde_json::from_str(&run(&["status", dir, "--json"])).expect("JSON");
    status["head_seq"].as_u64().expect("head_seq")
}

fn timed(args: &[&str]) -> f64 {
    let started = Instant::now();
    run(args);
    started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let records: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let cluster = Cluster::start();
    let urls = cluster.urls();
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();

    // Throughput.
    let (origin, replica) = (dir("bulk"), dir("bulk-mirror"));
    run(&[
        "load",
        &origin,
        "--events",
        &records.to_string(),
        "--seed",
        "1",
    ]);
    let shipped = head(&origin);
    let ship_seconds = timed(&[
        "ship", &origin, "--nats", &urls, "--stream", "BULK", "--once",
    ]);
    assert_eq!(cluster.stream_replicas("BULK"), Some(3));
    let mirror_seconds = timed(&[
        "mirror", "--nats", &urls, "--stream", "BULK", &replica, "--once",
    ]);
    assert_eq!(head(&replica), shipped);
    let ship_rate = shipped as f64 / ship_seconds;
    let mirror_rate = shipped as f64 / mirror_seconds;

    // Lag at a steady 2,000 events/s.
    let (origin, replica) = (dir("steady"), dir("steady-mirror"));
    run(&["init", &origin]);
    let mut ship = Process::spawn(
        &["ship", &origin, "--nats", &urls, "--stream", "STEADY"],
        &tmp.path().join("ship.log"),
    );
    let mut mirror = Process::spawn_logging(
        &["mirror", "--nats", &urls, "--stream", "STEADY", &replica],
        &tmp.path().join("mirror.log"),
        "info,tradeledger::cli::nats::mirror=debug",
    );
    let caught_up = |target: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(Path::new(&replica).join("journal.meta").exists() && head(&replica) >= target) {
            assert!(Instant::now() < deadline, "the mirror did not catch up");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Warm-up: the stream and the replica exist, both followers are at the head.
    run(&["load", &origin, "--events", "100", "--seed", "2"]);
    let warm = head(&origin);
    caught_up(warm);
    let rate_load = [
        "load",
        &origin,
        "--rate",
        "2000",
        "--seconds",
        &seconds.to_string(),
    ];
    run(&rate_load);
    caught_up(head(&origin));
    ship.kill();
    mirror.kill();
    let mut lags: Vec<f64> = mirror
        .log()
        .lines()
        .filter(|l| l.contains("mirrored a batch"))
        .filter(|l| {
            let seq = l
                .split("seq=")
                .nth(1)
                .and_then(|v| v.split_whitespace().next());
            seq.and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|seq| seq > warm)
        })
        .filter_map(|l| {
            l.split("lag_ms=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    assert!(!lags.is_empty(), "no lag in the mirror's log");
    let (p50, p99, max) = (
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[lags.len() - 1],
    );

    println!(
        "shipping to a 3-node JetStream cluster, stream R3 ({} records)",
        shipped
    );
    println!("| figure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| ship --once throughput | {ship_rate:.0} records/s ({ship_seconds:.2} s) | >= 30,000 |"
    );
    println!(
        "| mirror --once throughput | {mirror_rate:.0} records/s ({mirror_seconds:.2} s) | - |"
    );
    println!("| append -> mirror lag at 2,000 events/s, {} batches | p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms | p99 <= 20 ms |", lags.len());
    let figures = json!({
        "records": shipped,
        "ship_records_per_second": ship_rate,
        "ship_seconds": ship_seconds,
        "mirror_records_per_second": mirror_rate,
        "mirror_seconds": mirror_seconds,
        "lag_rate_events_per_second": 2000,
        "lag_seconds": seconds,
        "lag_batches": lags.len(),
        "lag_p50_ms": p50,
        "lag_p99_ms": p99,
        "lag_max_ms": max,
    });
    let target_dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = Path::new(&target_dir).join("ship-bench.json");
    std::fs::write(&path, format!("{figures:#}\n")).expect("write the JSON figures");
    println!("wrote {}", path.display());
}
