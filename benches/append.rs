//! The journal layer: `Journal::append` per durability mode, event size and batch size
//! (criterion). Tail percentiles are in `latency.rs`; criterion reports means and spreads.
//!
//! One iteration is one `append` of a batch: encoding each event (postcard), framing, CRC,
//! the copy into the mapping, publishing; in Sync mode also the msync of the dirty range
//! (one flush per batch). Segment rolls happen as in real use (32 MiB segments).
//!
//! Events: `small_signal` (a signal with no optional field, ~50 B), `trade_opened`
//! (`sample::trade_opened`, ~150 B), `large_1k` (the same with 1 KiB of text). Batches of
//! 1, 16 and 256 events. Throughput is in events.
//!
//! Bounded disk use: a journal takes at most [`JOURNAL_BYTES_MAX`] of appends, then it is
//! closed and replaced by a fresh one between two timed stretches (never inside one), so
//! criterion's iteration counts never grow a journal without bound. Journals live in
//! `target/bench-journals/append-*` and are deleted at the end.

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tradeledger::model::event::Event;
use tradeledger::storage::journal::Journal;
use tradeledger::{model::codec, storage::format, tools::sample, Durability};

/// Appends a journal takes before it is replaced.
const JOURNAL_BYTES_MAX: u64 = 96 << 20;

/// A journal that is replaced when full.
struct Target {
    dir: PathBuf,
    durability: Durability,
    journal: Option<Journal>,
    bytes_written: u64,
}

impl Target {
    fn new(name: &str, durability: Durability) -> Target {
        Target {
            dir: common::fresh_dir(name),
            durability,
            journal: None,
            bytes_written: 0,
        }
    }

    /// A journal with room for `bytes` more, replaced if needed (untimed).
    fn with_room(&mut self, bytes: u64) -> &Journal {
        if self.journal.is_none() || self.bytes_written + bytes > JOURNAL_BYTES_MAX {
            drop(self.journal.take());
            common::remove_dir(&self.dir);
            let options = common::options(self.durability);
            self.journal = Some(Journal::create(&self.dir, &options).expect("create journal"));
            self.bytes_written = 0;
        }
        self.bytes_written += bytes;
        self.journal.as_ref().expect("just created")
    }

    /// Times `iters` appends of `batch`, in stretches that each fit one journal.
    fn time_appends(&mut self, batch: &[Event], iters: u64) -> Duration {
        let batch_bytes = batch_bytes(batch);
        let per_journal = (JOURNAL_BYTES_MAX / batch_bytes).max(1);
        let (mut left, mut total) = (iters, Duration::ZERO);
        while left > 0 {
            let stretch = left.min(per_journal);
            let journal = self.with_room(stretch * batch_bytes);
            let started = Instant::now();
            for _ in 0..stretch {
                black_box(journal.append(black_box(batch)).expect("append"));
            }
            total += started.elapsed();
            left -= stretch;
        }
        total
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.journal.take());
        common::remove_dir(&self.dir);
    }
}

/// Bytes a batch takes in a segment.
fn batch_bytes(batch: &[Event]) -> u64 {
    let mut payload = Vec::new();
    batch
        .iter()
        .map(|event| {
            payload.clear();
            codec::encode(event, &mut payload);
            format::frame_size(payload.len()) as u64
        })
        .sum()
}

fn events(size: &str, count: usize) -> Vec<Event> {
    (1..=count as u64)
        .map(|i| match size {
            "small_signal" => common::small_signal(i),
            "trade_opened" => sample::trade_opened(i, common::at(i)),
            _ => common::large_trade_opened(i),
        })
        .collect()
}

fn bench_mode(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, mode: Durability) {
    // The mode's own name, without a periodic interval: `buffered`, `sync`, `periodic`.
    let shown = mode.to_string();
    let name = shown.split(':').next().unwrap_or(&shown);
    let mut target = Target::new(&format!("append-{name}"), mode);
    for size in ["small_signal", "trade_opened", "large_1k"] {
        for count in [1, 16, 256] {
            let batch = events(size, count);
            group.throughput(Throughput::Elements(count as u64));
            group.bench_function(format!("{name}/{size}/batch_{count}"), |b| {
                b.iter_custom(|iters| target.time_appends(&batch, iters))
            });
        }
    }
}

fn append(c: &mut Criterion) {
    let modes = [
        Durability::Buffered,
        Durability::Periodic { interval_ms: 100 },
        Durability::Sync,
    ];
    for mode in modes {
        let mut group = c.benchmark_group("append");
        let sync = mode == Durability::Sync;
        group
            .sample_size(if sync { 10 } else { 20 })
            .warm_up_time(Duration::from_millis(if sync { 500 } else { 1000 }))
            .measurement_time(Duration::from_secs(2));
        bench_mode(&mut group, mode);
        group.finish();
    }
}

criterion_group!(benches, append);
criterion_main!(benches);
