//! The replay layer: events per second from a prepared journal into all projections
//! (`ledger::replay` from a `JournalReader`), as a ledger open without checkpoint does
//! (criterion).
//!
//! The journal: 1 000 000 realistic events (`common::Generator`: signals, opens, fills,
//! cancels, stop changes, late links, rejections, closes and snapshots in valid lifecycles),
//! written once to `target/bench-journals/replay-1m` and deleted at the end.
//!
//! - `replay/all_projections`: frame checks (CRC), decode and `Projections::apply`;
//! - `replay/decode_only`: the same walk without apply, to split the cost.
//!
//! The reader is opened once (untimed); each iteration replays from seq 1 into fresh
//! projections, which are dropped outside the timed region.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradeledger::ledger;
use tradeledger::projection::Projections;
use tradeledger::JournalReader;

const EVENTS: usize = 1_000_000;

fn replay(c: &mut Criterion) {
    let dir = common::write_journal("replay-1m", EVENTS);
    let reader = JournalReader::open(&dir).expect("open reader");
    let events = reader.head_seq().expect("head");
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(events));
    group.bench_function("all_projections", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut state = Projections::new();
                let started = Instant::now();
                let applied = ledger::replay(&reader, &mut state, 1, None).expect("replay");
                total += started.elapsed();
                assert_eq!(applied, events);
                assert_eq!(
                    state.ignored_events(),
                    0,
                    "the generator's events are valid"
                );
            }
            total
        })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| {
            let mut count = 0u64;
            for record in reader.records(1) {
                black_box(record.expect("record"));
                count += 1;
            }
            assert_eq!(count, events);
        })
    });
    group.finish();
    drop(reader);
    common::remove_dir(&dir);
}

criterion_group!(benches, replay);
criterion_main!(benches);
