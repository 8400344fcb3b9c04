//! Projection costs on a synthetic journal: apply, decode + apply (replay), memory per
//! trade, checkpoint encode and decode.
//!
//! `cargo bench --bench projection -- [EVENTS]` (default 2 000 000). The journal is the
//! trading history of `common::Generator` (about five events per trade, every event kind,
//! over 3 symbols and 2 accounts, one cycle per minute). `queries.rs` and `replay.rs` hold
//! the criterion figures of the same layers.
//! A plain timing harness (not criterion): each figure is one pass over millions of events,
//! the median of three passes for apply.

mod common;

use std::time::{Duration, Instant};

use tradeledger::model::codec;
use tradeledger::model::event::*;
use tradeledger::projection::{Projections, TimeBasis, TimeRange};

fn journal(events_wanted: usize) -> Vec<Event> {
    common::Generator::new().events(events_wanted)
}

fn replay(events: &[Event]) -> Projections {
    let mut state = Projections::new();
    for (index, event) in events.iter().enumerate() {
        state.apply(index as u64 + 1, Timestamp::from_nanos(0), event);
    }
    state
}

/// (user seconds, system seconds, minor page faults) of this process so far, from
/// `/proc/self/stat` (fields 10, 14 and 15; times in clock ticks of 10 ms).
fn usage() -> (f64, f64, i64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<i64> = after_name
        .split(' ')
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    (
        field(14) as f64 / 100.0,
        field(15) as f64 / 100.0,
        field(10),
    )
}

fn per_event_nanos(elapsed: Duration, events: usize) -> f64 {
    elapsed.as_nanos() as f64 / events as f64
}

fn measure_apply(events: &[Event]) -> Projections {
    let mut passes = Vec::new();
    let mut state = Projections::new();
    for _ in 0..3 {
        drop(state);
        let started = Instant::now();
        state = replay(events);
        passes.push(started.elapsed());
    }
    passes.sort();
    let median = passes[1];
    println!(
        "apply: {:.0} ns/event (median of 3 passes, {:.2} M events/s)",
        per_event_nanos(median, events.len()),
        events.len() as f64 / median.as_secs_f64() / 1e6
    );
    assert_eq!(state.ignored_events(), 0);
    state
}

/// One apply pass in a fresh process, split into user and system (page fault) time.
fn measure_one_pass(events: &[Event]) {
    let (before, started) = (usage(), Instant::now());
    let state = replay(events);
    let (elapsed, after) = (started.elapsed(), usage());
    let per_event = |seconds: f64| seconds * 1e9 / events.len() as f64;
    println!(
        "one apply pass: {:.0} ns/event wall, {:.0} user, {:.0} system; {} page faults",
        per_event_nanos(elapsed, events.len()),
        per_event(after.0 - before.0),
        per_event(after.1 - before.1),
        after.2 - before.2
    );
    // The process ends here: freeing millions of records would only add to the run time.
    std::mem::forget(state);
}

/// Codec decode + apply from encoded payloads, as a replay at open does.
fn measure_replay(events: &[Event]) {
    let mut payloads = Vec::with_capacity(events.len());
    for event in events {
        let mut bytes = Vec::new();
        let (kind, schema) = codec::encode(event, &mut bytes);
        payloads.push((kind as u16, schema, bytes));
    }
    let (before, started) = (usage(), Instant::now());
    let mut state = Projections::new();
    for (index, (kind, schema, bytes)) in payloads.iter().enumerate() {
        let event = codec::decode(*kind, codec::CODEC_POSTCARD, *schema, bytes).expect("decodes");
        state.apply(index as u64 + 1, Timestamp::from_nanos(0), &event);
    }
    let (elapsed, after) = (started.elapsed(), usage());
    let per_event = |seconds: f64| seconds * 1e9 / events.len() as f64;
    println!(
        "decode + apply: {:.0} ns/event wall ({:.2} M events/s), {:.0} user, {:.0} system",
        per_event_nanos(elapsed, events.len()),
        events.len() as f64 / elapsed.as_secs_f64() / 1e6,
        per_event(after.0 - before.0),
        per_event(after.1 - before.1),
    );
}

/// Each apply timed on its own (the clock read adds ~20 ns to every figure), summed per kind.
fn measure_by_kind(events: &[Event]) {
    let mut state = Projections::new();
    let mut per_kind = std::collections::BTreeMap::<&str, (u64, Duration)>::new();
    for (index, event) in events.iter().enumerate() {
        let started = Instant::now();
        state.apply(index as u64 + 1, Timestamp::from_nanos(0), event);
        let entry = per_kind.entry(event.kind().name()).or_default();
        entry.0 += 1;
        entry.1 += started.elapsed();
    }
    for (kind, (count, total)) in per_kind {
        println!(
            "{kind:>16}: {count:>8} events, {:.0} ns each",
            total.as_nanos() as f64 / count as f64
        );
    }
    let mut payloads = Vec::new();
    for event in events {
        let mut bytes = Vec::new();
        let (kind, schema) = codec::encode(event, &mut bytes);
        payloads.push((kind as u16, schema, bytes));
    }
    let started = Instant::now();
    for (kind, schema, bytes) in &payloads {
        let event = codec::decode(*kind, codec::CODEC_POSTCARD, *schema, bytes).expect("decodes");
        std::hint::black_box(&event);
    }
    println!(
        "codec decode alone: {:.0} ns/event",
        per_event_nanos(started.elapsed(), events.len())
    );
}

/// Writes `state` as a checkpoint in memory in the ledger's two steps (the snapshot, taken
/// under the projections' read lock, then the merge and write, outside it), loads it back,
/// and appends `more` events to the loaded state before writing the next checkpoint: the
/// snapshot then copies only those.
fn measure_checkpoint(state: &Projections, more: &[Event]) {
    let (before_snapshot, started) = (usage(), Instant::now());
    let snapshot = state.snapshot().expect("an intact state");
    let (under_lock, after_snapshot) = (started.elapsed(), usage());
    println!(
        "snapshot: {:.0} ms user, {:.0} ms system",
        (after_snapshot.0 - before_snapshot.0) * 1e3,
        (after_snapshot.1 - before_snapshot.1) * 1e3
    );
    let mut bytes = Vec::new();
    let len = snapshot.write(&mut bytes).expect("writes into a Vec");
    let written = started.elapsed() - under_lock;
    drop(snapshot);
    let (before, started) = (usage(), Instant::now());
    let mut decoded = Projections::decode_state(bytes.clone()).expect("decodes");
    let (decode, after) = (started.elapsed(), usage());
    println!(
        "checkpoint: {len} bytes, snapshot (under the lock) {:.0} ms, merge + write {:.0} ms, load {:.2} ms wall ({:.1} ms user, {:.1} ms system)",
        under_lock.as_secs_f64() * 1e3,
        written.as_secs_f64() * 1e3,
        decode.as_secs_f64() * 1e3,
        (after.0 - before.0) * 1e3,
        (after.1 - before.1) * 1e3,
    );
    let started = Instant::now();
    let equal = decoded == *state;
    let compared = started.elapsed().as_secs_f64() * 1e3;
    println!("loaded state equal: {equal} (compared in {compared:.0} ms)");
    assert!(equal);
    measure_queries("loaded from the checkpoint", &decoded);
    let head = decoded.head_seq();
    for (index, event) in more.iter().enumerate() {
        decoded.apply(head + 1 + index as u64, Timestamp::from_nanos(0), event);
    }
    // The next checkpoint, written whole (as before layers) and as a layer on the first
    // (`docs/FORMAT.md` §6.5), in the same run.
    let mut layer = Vec::new();
    for (label, whole) in [("whole", true), ("as a layer", false)] {
        let started = Instant::now();
        let snapshot = match whole {
            true => decoded.snapshot_whole(),
            false => decoded.snapshot(),
        };
        let snapshot = snapshot.expect("an intact state");
        let under_lock = started.elapsed();
        let mut out = Vec::new();
        let len = snapshot.write(&mut out).expect("writes into a Vec");
        println!(
            "next checkpoint after {} more events, {label}: {len} bytes, snapshot (under the lock) {:.1} ms, merge + write {:.0} ms",
            more.len(),
            under_lock.as_secs_f64() * 1e3,
            (started.elapsed() - under_lock).as_secs_f64() * 1e3,
        );
        if !whole {
            assert_eq!(
                snapshot.parent(),
                Some(head),
                "a layer on the first checkpoint"
            );
            layer = out;
        }
    }
    let stacked = Projections::decode_layers(vec![bytes, layer]).expect("a stack decodes");
    assert!(stacked == decoded, "the stack loads as the state");
}

fn measure_queries(label: &str, state: &Projections) {
    println!("queries, state {label}:");
    let started = Instant::now();
    let stats = state
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
        .expect("in range");
    println!(
        "stats over all {} closed trades: {:.3} ms",
        stats.total_trades,
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let days = state
        .daily_performance(None, None, Some(1001))
        .expect("in range");
    println!(
        "daily rows for one account ({} days): {:.3} ms",
        days.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let open = state.open_trades(None, None).unwrap().len();
    let latest = state.latest_snapshot(1001).unwrap().is_some();
    let one = state.trade_by_ticket(5).unwrap().is_some();
    println!(
        "open trades ({open}) + latest snapshot ({latest}) + ticket lookup ({one}): {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6
    );
}

fn main() {
    let events_wanted = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let events = journal(events_wanted);
    let trades = events
        .iter()
        .filter(|e| matches!(e, Event::TradeOpened(_) | Event::OrderFailed(_)))
        .count();
    println!("journal: {} events, {trades} trades", events.len());
    if std::env::args().any(|a| a == "--by-kind") {
        measure_by_kind(&events);
        return;
    }
    // The last 100 000 events come after the first checkpoint.
    let (first, more) = events.split_at(events.len().saturating_sub(100_000));
    if std::env::args().any(|a| a == "--checkpoint-only") {
        measure_checkpoint(&replay(first), more);
        return;
    }
    if std::env::args().any(|a| a == "--apply-only") {
        measure_one_pass(&events);
        return;
    }
    let state = measure_apply(&events);
    measure_replay(&events);
    let memory = state.memory_estimate();
    println!(
        "memory estimate: trades {:.0} bytes/trade, signals {} MB, other {} MB, total {} MB",
        memory.trades_bytes as f64 / trades as f64,
        memory.signals_bytes >> 20,
        memory.other_bytes >> 20,
        memory.total_bytes() >> 20
    );
    measure_queries("in memory", &state);
    measure_checkpoint(&replay(first), more);
}
