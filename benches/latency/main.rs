//! Latency percentiles and throughput of appends, against the hardware floors and the
//! databases and journals users would otherwise pick (hdrhistogram; `docs/BENCHMARKS.md`).
//!
//! `cargo bench --bench latency -- [--quick] [--rate N] [--rounds N] [CASE_FILTER…]`
//!
//! - default: the full run (a minute or two); `--quick`: a tenth of the samples, same cases,
//!   same JSON (under a minute);
//! - `--rounds N`: run the selected cases N times, one after the other in turn, and report
//!   each case over all its rounds (latencies merged, ops/s over the rounds' measured time),
//!   so that a stretch of load from other jobs on the machine falls on every case alike;
//! - `--rate N`: issue N operations per second (all producers together) instead of flat
//!   out, and correct for coordinated omission (`record_correct` with the expected interval);
//! - filters: run only the cases whose name contains one of them (`=NAME`: exactly NAME).
//!
//! Every case warms up first (a tenth of its operations, or a fixed time for the
//! multi-producer cases), then times each operation with two clock reads (their cost is
//! printed and included in every figure). Files live in `target/bench-journals/latency-*`
//! (the real disk) and are deleted after each case. Results: a table on stdout and
//! `target/bench/latency.json`, with, at P = 16 and 64, each tradeledger API's throughput
//! over the best peer journal's of the same run ("vs. peers").

#[path = "../common/mod.rs"]
mod common;

mod baselines;
mod journal_cases;
mod measure;
mod peers;
#[path = "../../tests/pg_support/mod.rs"]
mod postgres_server;
mod report;

use std::time::Duration;

use measure::{Measured, Plan, TimedPlan};
use postgres_server::PostgresServer;
use report::CaseResult;
use tradeledger::Durability;

/// Command-line settings.
struct Config {
    quick: bool,
    rate_per_s: Option<u64>,
    rounds: usize,
    filters: Vec<String>,
}

impl Config {
    fn from_args() -> Config {
        let mut config = Config {
            quick: false,
            rate_per_s: None,
            rounds: 1,
            filters: vec![],
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => config.quick = true,
                // Passed by `cargo bench` to every bench binary.
                "--bench" => {}
                "--rate" => config.rate_per_s = args.next().and_then(|n| n.parse().ok()),
                flag if flag.starts_with("--rate=") => {
                    config.rate_per_s = flag["--rate=".len()..].parse().ok()
                }
                "--rounds" => config.rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
                flag if flag.starts_with("--rounds=") => {
                    config.rounds = flag["--rounds=".len()..].parse().unwrap_or(0)
                }
                flag if flag.starts_with('-') => usage(&format!("unknown option {flag}")),
                filter => config.filters.push(filter.to_string()),
            }
        }
        if config.rate_per_s == Some(0) {
            usage("--rate needs a positive number of operations per second");
        }
        if config.rounds == 0 {
            usage("--rounds needs a positive number");
        }
        config
    }

    fn wanted(&self, name: &str) -> bool {
        let matches = |f: &String| match f.strip_prefix('=') {
            Some(exact) => name == exact,
            None => name.contains(f.as_str()),
        };
        self.filters.is_empty() || self.filters.iter().any(matches)
    }

    /// A single-producer plan of `full_ops` operations (a tenth with `--quick`). At a fixed
    /// rate, capped to what fits in 5 s (1 s quick).
    fn plan(&self, full_ops: u64) -> Plan {
        let mut ops = if self.quick { full_ops / 10 } else { full_ops };
        if let Some(rate) = self.rate_per_s {
            ops = ops.min(rate * if self.quick { 1 } else { 5 }).max(1);
        }
        Plan {
            warmup_ops: (ops / 10).max(10),
            ops,
            rate_per_s: self.rate_per_s,
        }
    }

    fn timed_plan(&self) -> TimedPlan {
        let (warmup_ms, measure_ms) = if self.quick { (100, 500) } else { (500, 3000) };
        TimedPlan {
            warmup: Duration::from_millis(warmup_ms),
            measure: Duration::from_millis(measure_ms),
            rate_per_s: self.rate_per_s,
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: cargo bench --bench latency -- [--quick] [--rate N] [--rounds N] [CASE…]"
    );
    std::process::exit(2)
}

type Runner = Box<dyn Fn(&Config, &mut Fixtures) -> Result<Measured, String>>;

/// A case: its stable name, durability class, producers, what one timed operation includes.
struct Case {
    name: &'static str,
    durability: &'static str,
    producers: usize,
    includes: &'static str,
    run: Runner,
}

/// Shared set-up: the PostgreSQL cluster, started by the first case that needs it.
#[derive(Default)]
struct Fixtures {
    postgres: Option<Result<PostgresServer, String>>,
}

impl Fixtures {
    fn postgres(&mut self) -> Result<&PostgresServer, String> {
        let server = self
            .postgres
            .get_or_insert_with(|| PostgresServer::start(&common::fresh_dir("latency-postgres")));
        server
            .as_ref()
            .map_err(|reason| format!("skipped: {reason}"))
    }
}

fn ok(measured: Measured) -> Result<Measured, String> {
    Ok(measured)
}

fn floor_cases() -> Vec<Case> {
    vec![
        Case {
            name: "floor_mmap_copy_128b",
            durability: "buffered",
            producers: 1,
            includes: "a 128 B copy into a file mapping whose pages were all written before timing",
            run: Box::new(|c, _| ok(journal_cases::floor_mmap_copy(&c.plan(2_000_000)))),
        },
        Case {
            name: "floor_write_fdatasync_4k",
            durability: "sync",
            producers: 1,
            includes: "pwrite of 4 KiB + fdatasync, page after page of a pre-zeroed, synced file",
            run: Box::new(|c, _| ok(journal_cases::floor_write_fdatasync(&c.plan(10_000)))),
        },
    ]
}

fn sync_case(producers: usize, name: &'static str) -> Case {
    Case {
        name,
        durability: "sync",
        producers,
        includes:
            "as sync_append_p1, from P threads each waiting for its own append (group commit)",
        run: Box::new(move |c, _| ok(journal_cases::sync_producers(&c.timed_plan(), producers))),
    }
}

fn async_sync_case(producers: usize, name: &'static str) -> Case {
    Case {
        name,
        durability: "sync",
        producers,
        includes: "as buffered_append_async in Sync mode, from P tasks on 2 runtime workers, each awaiting its own acknowledgement (group commit through the handle)",
        run: Box::new(move |c, _| ok(journal_cases::handle_sync_producers(&c.timed_plan(), producers))),
    }
}

fn ledger_sync_case(producers: usize, name: &'static str) -> Case {
    Case {
        name,
        durability: "sync",
        producers,
        includes: "Ledger::append of a trade_opened with a new ticket in Sync mode, from P threads each waiting for its own append: validation against the projections, the append, apply to the projections, group commit",
        run: Box::new(move |c, _| ok(journal_cases::ledger_sync_producers(&c.timed_plan(), producers))),
    }
}

fn tradeledger_cases() -> Vec<Case> {
    let append =
        |plan: Plan, name, durability| journal_cases::journal_append(&plan, name, durability);
    vec![
        Case {
            name: "buffered_append",
            durability: "buffered",
            producers: 1,
            includes: "Journal::append of sample::trade_opened: clock read, postcard encode, frame + CRC, copy into the mapping, publish",
            run: Box::new(move |c, _| ok(append(c.plan(1_000_000), "latency-buffered", Durability::Buffered))),
        },
        Case {
            name: "buffered_append_async",
            durability: "buffered",
            producers: 1,
            includes: "JournalHandle::append(vec![event]).await from a tokio task: validation against the projections, the append, apply to the projections, dropping the batch",
            run: Box::new(|c, _| ok(journal_cases::handle_append(&c.plan(500_000)))),
        },
        Case {
            name: "ledger_buffered_append",
            durability: "buffered",
            producers: 1,
            includes: "Ledger::append of a trade_opened with a new ticket in Buffered mode: validation against the projections, the append, apply to the projections (the batch is built before the clock starts)",
            run: Box::new(move |c, _| ok(journal_cases::ledger_append(&c.plan(500_000)))),
        },
        Case {
            name: "sync_append_p1",
            durability: "sync",
            producers: 1,
            includes: "buffered_append + msync of the dirty range (the caller leads the flush)",
            run: Box::new(move |c, _| ok(append(c.plan(10_000), "latency-sync-p1", Durability::Sync))),
        },
        sync_case(4, "sync_append_p4"),
        sync_case(16, "sync_append_p16"),
        sync_case(64, "sync_append_p64"),
        async_sync_case(16, "sync_append_async_p16"),
        async_sync_case(64, "sync_append_async_p64"),
        ledger_sync_case(16, "ledger_sync_append_p16"),
        ledger_sync_case(64, "ledger_sync_append_p64"),
        Case {
            name: "periodic_append",
            durability: "periodic",
            producers: 1,
            includes: "buffered_append while a background thread flushes every 100 ms",
            run: Box::new(move |c, _| {
                let mode = Durability::Periodic { interval_ms: 100 };
                ok(append(c.plan(1_000_000), "latency-periodic", mode))
            }),
        },
    ]
}

type PeerRun = fn(&TimedPlan, usize) -> Result<Measured, String>;

/// The peer journals at P = 1, 16 and 64, each producer a thread waiting for its own write.
fn peer_cases() -> Vec<Case> {
    let peers: [(PeerRun, [&'static str; 3], &'static str); 3] = [
        (
            peers::okaywal,
            ["okaywal_sync_p1", "okaywal_sync_p16", "okaywal_sync_p64"],
            "okaywal 0.3: codec::encode of the same trade_opened, begin_entry, one chunk, commit (returns once fdatasync'd; concurrent commits share a sync), from P threads",
        ),
        (
            peers::raft_engine,
            ["raft_engine_sync_p1", "raft_engine_sync_p16", "raft_engine_sync_p64"],
            "raft-engine 0.4: codec::encode of the same trade_opened into one entry of a LogBatch (Raft group = producer), Engine::write(sync = true) (write barrier: one leader writes the group, one fdatasync), from P threads",
        ),
        (
            peers::fjall,
            ["fjall_sync_p1", "fjall_sync_p16", "fjall_sync_p64"],
            "fjall 2.11: codec::encode of the same trade_opened, insert(8-byte key, payload) into a partition, Keyspace::persist(SyncData) (fdatasync under the journal lock), from P threads",
        ),
    ];
    peers
        .into_iter()
        .flat_map(|(run, names, includes)| {
            names
                .into_iter()
                .zip([1, 16, 64])
                .map(move |(name, producers)| Case {
                    name,
                    durability: "sync",
                    producers,
                    includes,
                    run: Box::new(move |c: &Config, _: &mut Fixtures| {
                        run(&c.timed_plan(), producers)
                    }),
                })
        })
        .collect()
}

fn baseline_cases() -> Vec<Case> {
    vec![
        Case {
            name: "sqlite_wal_normal",
            durability: "buffered",
            producers: 1,
            includes: "one autocommit INSERT of a 15-column row (prepared), WAL, synchronous=NORMAL",
            run: Box::new(|c, _| baselines::sqlite(&c.plan(200_000), "NORMAL")),
        },
        Case {
            name: "sqlite_wal_full",
            durability: "sync",
            producers: 1,
            includes: "as sqlite_wal_normal with synchronous=FULL (WAL synced at every commit)",
            run: Box::new(|c, _| baselines::sqlite(&c.plan(10_000), "FULL")),
        },
        Case {
            name: "postgres_sync_on",
            durability: "sync",
            producers: 1,
            includes: "one autocommit INSERT (prepared) over TCP to a local PostgreSQL 15, synchronous_commit=on",
            run: Box::new(|c, f| baselines::postgres(f.postgres()?, &c.plan(10_000), true)),
        },
        Case {
            name: "postgres_sync_off",
            durability: "periodic",
            producers: 1,
            includes: "as postgres_sync_on with synchronous_commit=off (WAL writer flushes every 200 ms)",
            run: Box::new(|c, f| baselines::postgres(f.postgres()?, &c.plan(40_000), false)),
        },
    ]
}

/// Runs the wanted cases in order, `config.rounds` times over; returns the results (each
/// case's rounds merged) and the cases skipped, with why (a case that fails in any round).
fn run_cases(config: &Config, cases: Vec<Case>) -> (Vec<CaseResult>, Vec<(&'static str, String)>) {
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| config.wanted(c.name))
        .collect();
    let mut measured: Vec<Option<Measured>> = cases.iter().map(|_| None).collect();
    let mut failed: Vec<Option<String>> = cases.iter().map(|_| None).collect();
    let mut fixtures = Fixtures::default();
    for round in 1..=config.rounds {
        if config.rounds > 1 {
            eprintln!("round {round} of {}", config.rounds);
        }
        for (i, case) in cases.iter().enumerate() {
            if failed[i].is_some() {
                continue;
            }
            eprint!("{:<26} ", case.name);
            let started = std::time::Instant::now();
            match (case.run)(config, &mut fixtures) {
                Ok(round_measured) => {
                    eprintln!(
                        "p50 {:>9}  p99 {:>9}  ({} ops in {:.1} s)",
                        report::duration(round_measured.histogram.value_at_quantile(0.5)),
                        report::duration(round_measured.histogram.value_at_quantile(0.99)),
                        round_measured.ops,
                        started.elapsed().as_secs_f64()
                    );
                    match &mut measured[i] {
                        Some(so_far) => so_far.merge(round_measured),
                        none => *none = Some(round_measured),
                    }
                }
                Err(reason) => {
                    eprintln!("{reason}");
                    failed[i] = Some(reason);
                }
            }
        }
    }
    let (mut results, mut skipped) = (vec![], vec![]);
    for ((case, measured), failed) in cases.into_iter().zip(measured).zip(failed) {
        match (failed, measured) {
            (Some(reason), _) => skipped.push((case.name, reason)),
            (None, Some(measured)) => results.push(CaseResult {
                name: case.name,
                durability: case.durability,
                producers: case.producers,
                measured,
            }),
            (None, None) => unreachable!("a case that did not fail ran at least once"),
        }
    }
    (results, skipped)
}

fn print_legend(cases: &[Case], config: &Config) {
    println!("\nWhat one timed operation includes:");
    for case in cases.iter().filter(|c| config.wanted(c.name)) {
        println!("  {:<26} {}", case.name, case.includes);
    }
    println!(
        "\np50/floor: p50 ÷ the floor of the case's durability class (floor_mmap_copy_128b for \
         buffered and periodic, floor_write_fdatasync_4k for sync). SQLite p50 ÷: how many times \
         faster than the SQLite case of the same class at p50 (sqlite_wal_normal, or \
         sqlite_wal_full for sync). GC bound: P producers each waiting for their own append \
         complete at most P appends per fdatasync (P ÷ floor_write_fdatasync_4k p50). \
         appends/flush: appends ÷ flushes over the whole case, warm-up included (at most P). \
         flush p50: the journal's median flush. gap: the rest of a cycle (appends/flush ÷ ops/s \
         − flush p50), where the producers are woken and append again. vs. peers: at P = 16 \
         and 64, each tradeledger API's ops/s ÷ the ops/s of the best peer journal (okaywal, \
         raft-engine, fjall) at the same P in this run; the goal is ≥ 1.5×."
    );
}

fn main() {
    let config = Config::from_args();
    let timer_ns = measure::timer_overhead_ns();
    let root = common::bench_root();
    std::fs::create_dir_all(&root).expect("create target/bench-journals");
    let machine = report::machine(&root);
    println!(
        "machine: {} ({} cores), {} GiB, kernel {}, {}",
        machine.cpu,
        machine.cores,
        machine.memory_bytes >> 30,
        machine.kernel,
        machine.filesystem
    );
    let mode = match config.rate_per_s {
        Some(rate) => format!("fixed rate {rate}/s, corrected for coordinated omission"),
        None => "flat out".into(),
    };
    let samples = if config.quick { "quick" } else { "full" };
    let rounds = match config.rounds {
        1 => String::new(),
        n => format!(", {n} rounds (each case over all its rounds)"),
    };
    println!(
        "run: {samples}, {mode}{rounds}; clock read pair {timer_ns} ns (included in every figure)\n"
    );
    let all = || {
        let groups = [
            floor_cases(),
            tradeledger_cases(),
            peer_cases(),
            baseline_cases(),
        ];
        groups.into_iter().flatten().collect::<Vec<_>>()
    };
    let (results, skipped) = run_cases(&config, all());
    println!("\n{}", report::table(&results));
    let vs_peers = report::vs_peers_table(&results);
    if !vs_peers.is_empty() {
        println!("vs. peers (same run):\n{vs_peers}");
    }
    for (name, reason) in &skipped {
        println!("{name}: {reason}");
    }
    print_legend(&all(), &config);
    if std::env::var_os("LATENCY_MARKDOWN").is_some() {
        println!("\n{}", report::markdown(&results));
        println!("{}", report::vs_peers_markdown(&results));
    }
    let run = serde_json::json!({
        "quick": config.quick,
        "rate_per_s": config.rate_per_s,
        "rounds": config.rounds,
        "clock_read_pair_ns": timer_ns,
        "skipped": skipped.iter().map(|(n, r)| serde_json::json!({"name": n, "reason": r})).collect::<Vec<_>>(),
    });
    let out = root.parent().expect("target").join("bench/latency.json");
    std::fs::create_dir_all(out.parent().expect("target/bench")).expect("create target/bench");
    std::fs::write(&out, report::json(&machine, &results, run)).expect("write latency.json");
    println!("\nJSON: {}", out.display());
}
