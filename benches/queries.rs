//! The query layer: typed queries on live projections built from 10k, 100k and 1M
//! generated events (criterion). Each query is answered from an index, so its time should
//! stay flat as the journal grows; a growing figure here is a regression.
//!
//! - `trade_by_ticket`: one ticket, spread over the whole history;
//! - `open_trades`: all OPEN trades (about 20: the generator closes each trade 20 later);
//! - `trade_statistics_24h`: statistics of the trades closed in the last 24 hours of the
//!   history, a window that starts and ends inside a day (whole days come from the per-day
//!   tallies, the two partial days are scanned);
//! - `latest_snapshot`: the newest snapshot of one account.
//!
//! Projections are built in memory by `Projections::apply` (no journal, no disk). Each query
//! runs twice: on that state (`…/SIZE`), and on the same state written as a checkpoint and
//! loaded back (`…/SIZE/checkpoint`), whose history is read in place through binary searches
//! (the checkpoint is held in memory here, so the figures exclude disk reads and page faults).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tradeledger::model::event::Timestamp;
use tradeledger::projection::{Projections, TimeBasis, TimeRange};

fn projections(events: usize) -> (Projections, u64) {
    let mut generator = common::Generator::new();
    let (mut state, mut batch, mut seq) = (Projections::new(), Vec::new(), 0);
    while (seq as usize) < events {
        batch.clear();
        generator.next_cycle(&mut batch);
        for event in &batch {
            seq += 1;
            state.apply(seq, event.time(), event);
        }
    }
    assert_eq!(
        state.ignored_events(),
        0,
        "the generator's events are valid"
    );
    (state, generator.cycle())
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The four queries on `state`, built from `last_cycle` generator cycles.
fn bench_state(group: &mut Group<'_>, label: &str, state: &Projections, last_cycle: u64) {
    let mut ticket = 0u64;
    group.bench_with_input(BenchmarkId::new("trade_by_ticket", label), state, |b, s| {
        b.iter(|| {
            // A different ticket each time, spread over the whole history.
            ticket = (ticket + 7_919) % last_cycle + 1;
            let found = s.trade_by_ticket(black_box(ticket)).unwrap();
            black_box(found.expect("ticket exists"))
        })
    });
    group.bench_with_input(BenchmarkId::new("open_trades", label), state, |b, s| {
        b.iter(|| black_box(s.open_trades(None, None).unwrap()))
    });
    let end = common::at(last_cycle).nanos() - 17 * common::MINUTE_NANOS;
    let range = TimeRange::new(
        Some(Timestamp::from_nanos(end - 24 * 60 * common::MINUTE_NANOS)),
        Some(Timestamp::from_nanos(end)),
    );
    group.bench_with_input(
        BenchmarkId::new("trade_statistics_24h", label),
        state,
        |b, s| b.iter(|| black_box(s.trade_statistics(range, TimeBasis::Exit, None, None))),
    );
    group.bench_with_input(BenchmarkId::new("latest_snapshot", label), state, |b, s| {
        b.iter(|| {
            let found = s.latest_snapshot(black_box(1001)).unwrap();
            black_box(found.expect("has snapshots"))
        })
    });
}

fn queries(c: &mut Criterion) {
    let mut group = c.benchmark_group("queries");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (size, events) in [("10k", 10_000), ("100k", 100_000), ("1m", 1_000_000)] {
        let (state, last_cycle) = projections(events);
        bench_state(&mut group, size, &state, last_cycle);
        let bytes = state.encode_state().expect("an in-memory state encodes");
        drop(state);
        let stored = Projections::decode_state(bytes).expect("decodes");
        bench_state(
            &mut group,
            &format!("{size}/checkpoint"),
            &stored,
            last_cycle,
        );
    }
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
