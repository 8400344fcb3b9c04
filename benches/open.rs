//! Opening a ledger: `Ledger::open` (lock, recovery scan of the tail segment, newest
//! checkpoint, replay of the records after it) by journal size, with and without a
//! checkpoint at the head (criterion).
//!
//! Sizes 10k, 100k and 1M events; `TRADELEDGER_BENCH_10M=1` adds 10M events (writing that
//! journal takes about a minute and 1.7 GB of disk; see `docs/BENCHMARKS.md`).
//!
//! `reader_open/SIZE` times `JournalReader::open` and `head_seq`: what every query command
//! pays before it reads (a one-segment journal's open scans that segment to its end).
//!
//! `part_journal_open/SIZE` and `part_checkpoint_load/SIZE` time the two parts of an open with a
//! checkpoint on their own: `Journal::open` and `checkpoint::load_newest` (map the file, check
//! its header and block table, decode the hot section; the history is read in place later).
//!
//! From 1M events on, `with_checkpoint_behind_100k/SIZE` opens from a checkpoint 100 000
//! records behind the head (the default `checkpoint_every_records`): the worst case of a
//! recent checkpoint, with the replay of that tail onto the mapped state.
//!
//! Each iteration times `Ledger::open` only. Closing is untimed but slow (the writer's
//! background thread finishes zero-filling the next segment, up to 32 MiB, before it stops), so
//! the sampling is flat with the minimum of 10 samples. Journals live in
//! `target/bench-journals/open-*` and are deleted at the end.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use tradeledger::ledger::checkpoint;
use tradeledger::ledger::{load_read_only, AsOf, Ledger};
use tradeledger::storage::journal::Journal;
use tradeledger::OpenMode;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times `iters` opens; checks that the checkpoint was (or was not) used and how many records
/// were replayed after it (`tail`).
fn time_opens(dir: &Path, iters: u64, with_checkpoint: bool, tail: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let started = Instant::now();
        let ledger = Ledger::open(dir, &OpenMode::default()).expect("open ledger");
        let report = ledger.open_report().clone();
        total += started.elapsed();
        assert_eq!(report.checkpoint.is_some(), with_checkpoint);
        if with_checkpoint {
            assert_eq!(report.replayed_records, tail);
        }
        drop(ledger);
    }
    total
}

/// The parts of an open with a checkpoint: the journal's own open (lock, structure check,
/// tail scan, writer start) and loading the checkpoint (read, CRC, decode, index rebuild).
fn bench_parts(group: &mut Group<'_>, label: &str, dir: &Path) {
    group.bench_function(format!("part_journal_open/{label}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let journal = Journal::open(dir, &OpenMode::default()).expect("open journal");
                total += started.elapsed();
                drop(journal);
            }
            total
        })
    });
    let journal_id = tradeledger::storage::folder::read_meta(dir)
        .expect("meta")
        .journal_id;
    group.bench_function(format!("part_checkpoint_load/{label}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let (loaded, _) =
                    checkpoint::load_newest(dir, &journal_id, u64::MAX, &Default::default())
                        .expect("load");
                total += started.elapsed();
                assert!(loaded.is_some());
            }
            total
        })
    });
}

fn bench_size(group: &mut Group<'_>, label: &str, events: usize) {
    let dir = common::write_journal(&format!("open-{label}"), events);
    // What every query command pays before it reads: a read-only open and the head.
    group.bench_function(format!("reader_open/{label}"), |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                let reader = tradeledger::JournalReader::open(&dir).expect("open reader");
                assert!(reader.head_seq().expect("head") >= events as u64);
            }
            started.elapsed()
        })
    });
    group.bench_function(format!("without_checkpoint/{label}"), |b| {
        b.iter_custom(|iters| time_opens(&dir, iters, false, 0))
    });
    let ledger = Ledger::open(&dir, &OpenMode::default()).expect("open ledger");
    let started = Instant::now();
    let info = ledger.checkpoint().expect("write checkpoint");
    let written = started.elapsed();
    drop(ledger);
    println!(
        "open/{label}: checkpoint of {} bytes at seq {}, written in {:.0} ms",
        info.bytes,
        info.seq,
        written.as_secs_f64() * 1e3
    );
    group.bench_function(format!("with_checkpoint/{label}"), |b| {
        b.iter_custom(|iters| time_opens(&dir, iters, true, 0))
    });
    bench_parts(group, label, &dir);
    if events >= 1_000_000 {
        bench_tail(group, label, &dir, &info);
    }
    checkpoint::remove_all(&Default::default(), &dir).expect("remove checkpoints");
    common::remove_dir(&dir);
}

/// Opens from a checkpoint [`TAIL`] records behind the head (written from a replayed state,
/// then the checkpoint at the head is removed).
fn bench_tail(
    group: &mut Group<'_>,
    label: &str,
    dir: &Path,
    at_head: &checkpoint::CheckpointInfo,
) {
    const TAIL: u64 = 100_000;
    let seq = at_head.seq - TAIL;
    let (state, _) = load_read_only(dir, Some(AsOf::Seq(seq))).expect("replay a prefix");
    let journal_id = tradeledger::storage::folder::read_meta(dir)
        .expect("meta")
        .journal_id;
    checkpoint::write(&Default::default(), dir, &journal_id, &state).expect("write checkpoint");
    drop(state);
    std::fs::remove_file(&at_head.path).expect("remove the checkpoint at the head");
    group.bench_function(format!("with_checkpoint_behind_100k/{label}"), |b| {
        b.iter_custom(|iters| time_opens(dir, iters, true, TAIL))
    });
}

fn open(c: &mut Criterion) {
    let mut sizes = vec![("10k", 10_000), ("100k", 100_000), ("1m", 1_000_000)];
    if std::env::var_os("TRADELEDGER_BENCH_10M").is_some_and(|v| v == "1") {
        sizes.push(("10m", 10_000_000));
    }
    let mut group = c.benchmark_group("open");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(100));
    for (label, events) in sizes {
        bench_size(&mut group, label, events);
    }
    group.finish();
}

criterion_group!(benches, open);
criterion_main!(benches);
