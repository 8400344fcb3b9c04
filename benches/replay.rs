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
//!
//! Reading back against LMDB (`read_back`): the same 1 000 000 `sample::trade_opened` events
//! (tickets 1 to N), once in a journal (`target/bench-journals/read-back-journal`) and once in
//! an LMDB database (heed; `read-back-lmdb`; key: the sequence number as 8 big-endian bytes,
//! value: the payload `codec::encode` writes, the bytes a journal frame holds), both written
//! before timing and in the page cache:
//!
//! - `read_back/tradeledger_reader`: `JournalReader::records(1)` to the end, each record
//!   checked (CRC) and decoded into a `Record`;
//! - `read_back/lmdb_cursor`: a read transaction and a cursor (`Database::iter`) over the
//!   whole database, each value decoded with `codec::decode` (no checksum: LMDB keeps none);
//! - `read_back/lmdb_cursor_no_decode`: the same walk without the decode (what the reading
//!   itself costs; no tradeledger API returns records undecoded).
//!
//! After the group, the median time of one pass of each (over every timed pass, warm-up
//! included), then 15 pairs of passes, one of each reader, alternating which goes first, and
//! the median of the pairs' ratios: tradeledger's throughput over LMDB's.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use heed::byteorder::BigEndian;
use heed::types::{Bytes, U64};
use tradeledger::model::codec;
use tradeledger::projection::Projections;
use tradeledger::tools::sample;
use tradeledger::{ledger, Durability, Event, EventKind, Journal, JournalReader};

const EVENTS: usize = 1_000_000;

/// Records of the `read_back` group.
const READ_BACK_RECORDS: u64 = 1_000_000;

/// The LMDB database of `read_back`: sequence number (big-endian, so in order) → payload.
type Lmdb<'env> = heed::Database<'env, U64<BigEndian>, Bytes>;

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

/// The event of record `seq` in `read_back`: the latency bench's `trade_opened`, ticket `seq`.
fn read_back_event(seq: u64) -> Event {
    sample::trade_opened(seq, common::at(1))
}

/// The journal of `read_back` (Buffered, appended in batches of 1000, closed).
fn write_read_back_journal() -> std::path::PathBuf {
    let dir = common::fresh_dir("read-back-journal");
    let journal = Journal::create(&dir, &common::options(Durability::Buffered)).expect("journal");
    let mut batch = Vec::with_capacity(1000);
    for seq in 1..=READ_BACK_RECORDS {
        batch.push(read_back_event(seq));
        if batch.len() == 1000 || seq == READ_BACK_RECORDS {
            journal.append(&batch).expect("append");
            batch.clear();
        }
    }
    journal.close().expect("close journal");
    dir
}

/// The LMDB environment of `read_back`, in a new folder (1 GiB map, default flags).
fn open_read_back_lmdb() -> (std::path::PathBuf, heed::Env) {
    let dir = common::fresh_dir("read-back-lmdb");
    std::fs::create_dir_all(&dir).expect("create LMDB folder");
    // SAFETY: the environment is opened once, in this process, on a folder this function has
    // just created under target/bench-journals; no other process opens it and nothing
    // truncates or writes its files behind LMDB while the map lives; the environment is closed
    // (and the close waited for) before the folder is removed at the end of `read_back`.
    let env = unsafe { heed::EnvOpenOptions::new().map_size(1 << 30).open(&dir) }.expect("LMDB");
    (dir, env)
}

/// The database of `read_back`, written in one transaction (appends in key order) and
/// committed.
fn write_read_back_lmdb(env: &heed::Env) -> Lmdb<'_> {
    let txn = env.write_txn().expect("write transaction");
    let created = env.create_databases_and_commit(txn, |opener, txn| {
        let db: Lmdb = opener.create_database(txn, None)?;
        heed::Result::Ok(heed::CommitOrAbort::<_, ()>::Commit(db))
    });
    let db = created.expect("create database").unwrap_commit();
    let mut txn = env.write_txn().expect("write transaction");
    let mut payload = Vec::with_capacity(256);
    for seq in 1..=READ_BACK_RECORDS {
        payload.clear();
        codec::encode(&read_back_event(seq), &mut payload);
        db.put_with_flags(&mut txn, heed::PutFlags::APPEND, &seq, &payload)
            .expect("LMDB put");
    }
    txn.commit().expect("commit");
    db
}

/// The median of `passes`, if any.
fn median<T: PartialOrd + Copy>(passes: &mut [T]) -> Option<T> {
    passes.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    passes.get(passes.len() / 2).copied()
}

/// Pairs of passes after criterion's runs, one of each reader, alternating which goes first:
/// each pair's ratio compares two passes made within a second of each other, so load from
/// other jobs that comes and goes falls on both alike.
const PAIRED_PASSES: usize = 15;

/// The sources of `read_back`, opened, and what reading them back needs.
struct ReadBack<'env> {
    reader: JournalReader,
    env: &'env heed::Env,
    db: Lmdb<'env>,
    kind: EventKind,
    schema: u8,
}

impl ReadBack<'_> {
    /// One pass of `JournalReader::records(1)` over every record (CRC check, decode).
    fn journal_pass(&self) -> Duration {
        let started = Instant::now();
        let mut count = 0u64;
        for record in self.reader.records(1) {
            black_box(record.expect("record"));
            count += 1;
        }
        let pass = started.elapsed();
        assert_eq!(count, READ_BACK_RECORDS);
        pass
    }

    /// One pass of an LMDB cursor over every record in a read transaction, each value
    /// decoded with `codec::decode` when `decode`.
    fn lmdb_pass(&self, decode: bool) -> Duration {
        let started = Instant::now();
        let txn = self.env.read_txn().expect("read transaction");
        let mut count = 0u64;
        for entry in self.db.iter(&txn).expect("cursor") {
            let (seq, payload) = entry.expect("LMDB entry");
            if decode {
                let kind = self.kind as u16;
                let event = codec::decode(kind, codec::CODEC_POSTCARD, self.schema, payload);
                black_box((seq, event.expect("decodes")));
            } else {
                black_box((seq, payload));
            }
            count += 1;
        }
        drop(txn);
        let pass = started.elapsed();
        assert_eq!(count, READ_BACK_RECORDS);
        pass
    }
}

/// A criterion function timing `pass`, each pass also kept in `passes`.
fn timed_passes<'a>(
    passes: &'a mut Vec<Duration>,
    mut pass: impl FnMut() -> Duration + 'a,
) -> impl FnMut(&mut criterion::Bencher) + 'a {
    move |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let one = pass();
                passes.push(one);
                total += one;
            }
            total
        })
    }
}

fn read_back(c: &mut Criterion) {
    let journal_dir = write_read_back_journal();
    let (lmdb_dir, env) = open_read_back_lmdb();
    let kind = EventKind::TradeOpened;
    let sources = ReadBack {
        reader: JournalReader::open(&journal_dir).expect("open reader"),
        env: &env,
        db: write_read_back_lmdb(&env),
        kind,
        schema: codec::current_schema(kind),
    };
    assert_eq!(sources.reader.head_seq().expect("head"), READ_BACK_RECORDS);
    let (mut journal_passes, mut lmdb_passes, mut raw_passes) = (vec![], vec![], vec![]);
    let mut group = c.benchmark_group("read_back");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(READ_BACK_RECORDS));
    group.bench_function(
        "tradeledger_reader",
        timed_passes(&mut journal_passes, || sources.journal_pass()),
    );
    group.bench_function(
        "lmdb_cursor",
        timed_passes(&mut lmdb_passes, || sources.lmdb_pass(true)),
    );
    group.bench_function(
        "lmdb_cursor_no_decode",
        timed_passes(&mut raw_passes, || sources.lmdb_pass(false)),
    );
    group.finish();
    let ms = |pass: Duration| pass.as_secs_f64() * 1e3;
    let per_s = |pass: Duration| READ_BACK_RECORDS as f64 / pass.as_secs_f64() / 1e6;
    for (name, passes) in [
        ("tradeledger_reader", &mut journal_passes),
        ("lmdb_cursor", &mut lmdb_passes),
        ("lmdb_cursor_no_decode", &mut raw_passes),
    ] {
        let count = passes.len();
        if let Some(pass) = median(passes) {
            println!(
                "read_back/{name}: median pass {:.1} ms ({:.2} M records/s) over {count} passes",
                ms(pass),
                per_s(pass)
            );
        }
    }
    if !journal_passes.is_empty() && !lmdb_passes.is_empty() {
        let mut ratios: Vec<f64> = (0..PAIRED_PASSES)
            .map(|k| {
                let (journal, lmdb) = if k % 2 == 0 {
                    let journal = sources.journal_pass();
                    (journal, sources.lmdb_pass(true))
                } else {
                    let lmdb = sources.lmdb_pass(true);
                    (sources.journal_pass(), lmdb)
                };
                lmdb.as_secs_f64() / journal.as_secs_f64()
            })
            .collect();
        let (low, high) = (
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
            ratios.iter().copied().fold(0.0, f64::max),
        );
        let ratio = median(&mut ratios).expect("PAIRED_PASSES > 0");
        println!(
            "read_back: tradeledger_reader {ratio:.2}× lmdb_cursor's throughput (median of \
             {PAIRED_PASSES} paired passes, {low:.2}–{high:.2}×; goal ≥ 1.5×)"
        );
    }
    drop(sources);
    env.prepare_for_closing().wait();
    common::remove_dir(&journal_dir);
    common::remove_dir(&lmdb_dir);
}

criterion_group!(benches, replay, read_back);
criterion_main!(benches);
