//! Append latency through the synchronous API, per durability mode (criterion).
//!
//! What one iteration includes: encoding the event (postcard), framing, CRC, the copy into
//! the mapping, publishing; in Sync mode also the msync of the dirty range. Journals live in
//! `target/bench-journals/` (the project's disk, not tmpfs, so syncs are real).
//! Tail percentiles are in `benches/latency.rs`; criterion reports means and spreads.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tradeledger::event::Timestamp;
use tradeledger::journal::{Journal, JournalOptions};
use tradeledger::{codec, sample, Durability};

fn bench_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-journals")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    dir
}

fn journal(name: &str, durability: Durability) -> Journal {
    let options = JournalOptions {
        durability,
        segment_size_bytes: 64 << 20,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    Journal::create(&bench_dir(name), &options).unwrap()
}

fn encode(c: &mut Criterion) {
    let event = sample::trade_opened(1, Timestamp::from_nanos(1_700_000_000_000_000_000));
    let mut buf = Vec::with_capacity(256);
    codec::encode(&event, &mut buf);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("encode_trade_opened", |b| {
        b.iter(|| {
            buf.clear();
            black_box(codec::encode(black_box(&event), &mut buf));
        })
    });
    group.bench_function("decode_trade_opened", |b| {
        b.iter(|| black_box(codec::decode(2, codec::CODEC_POSTCARD, 1, black_box(&buf)).unwrap()))
    });
    group.finish();
}

fn append(c: &mut Criterion) {
    let event = [sample::trade_opened(
        1,
        Timestamp::from_nanos(1_700_000_000_000_000_000),
    )];
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    let buffered = journal("buffered", Durability::Buffered);
    group.bench_function("buffered_trade_opened", |b| {
        b.iter(|| black_box(buffered.append(black_box(&event)).unwrap()))
    });
    let batch: Vec<_> = (0..16)
        .map(|i| sample::trade_opened(i, Timestamp::from_nanos(i as i64)))
        .collect();
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("buffered_batch_of_16", |b| {
        b.iter(|| black_box(buffered.append(black_box(&batch)).unwrap()))
    });
    drop(buffered);
    group.throughput(Throughput::Elements(1));
    let sync = journal("sync", Durability::Sync);
    group.sample_size(30);
    group.bench_function("sync_trade_opened", |b| {
        b.iter_batched(
            || (),
            |()| black_box(sync.append(&event).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, encode, append);
criterion_main!(benches);
