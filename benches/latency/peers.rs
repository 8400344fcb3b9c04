//! The Rust journals users would otherwise pick, in the sync class: okaywal, raft-engine and
//! fjall, each written from P producer threads that wait for their own durable write, with the
//! payload tradeledger writes (`codec::encode` of the `sample::trade_opened` that
//! `sync_append_*` appends, ~120 B), encoded inside the timed operation as `Journal::append`
//! does. Each engine runs with its defaults except what a durable commit per operation needs
//! (`docs/BENCHMARKS.md` §8.1).

use std::hint::black_box;
use std::path::Path;
use std::sync::Mutex;

use protobuf::well_known_types::BytesValue;
use tradeledger::model::codec;
use tradeledger::tools::sample;
use tradeledger::Event;

use crate::common;
use crate::measure::{run_threads, Measured, TimedPlan};

/// The event every peer case writes: the one `sync_append_*` appends.
fn event() -> Event {
    sample::trade_opened(1, common::at(1))
}

/// The payload of `event`, appended to `out` (tradeledger's codec, the bytes its journal
/// stores in a frame).
fn encode(event: &Event, out: &mut Vec<u8>) {
    codec::encode(event, out);
}

/// A key no other operation of the case uses: the producer in the top bits, then `i`.
fn key(producer: usize, i: u64) -> [u8; 8] {
    (((producer as u64) << 40) | i).to_be_bytes()
}

/// Runs `case` in a fresh `target/bench-journals/<name>`, removed afterwards (also when the
/// engine failed to open).
fn in_dir(
    name: &str,
    case: impl FnOnce(&Path) -> Result<Measured, String>,
) -> Result<Measured, String> {
    let dir = common::fresh_dir(name);
    let result = case(&dir);
    common::remove_dir(&dir);
    result
}

/// okaywal: `begin_entry`, one chunk, `commit` (which returns once the segment file is
/// `fdatasync`ed; concurrent commits share one sync). Default `Configuration` (1 MiB
/// zero-filled segments, checkpoint after 768 KiB); `LogVoid` as the log manager: no
/// recovery, checkpoints discard the entries.
pub fn okaywal(plan: &TimedPlan, producers: usize) -> Result<Measured, String> {
    in_dir(&format!("latency-okaywal-p{producers}"), |dir| {
        let wal = okaywal::WriteAheadLog::recover(dir, okaywal::LogVoid)
            .map_err(|e| format!("okaywal: {e}"))?;
        let event = event();
        let measured = run_threads(producers, plan, |_, _| {
            let mut payload = Vec::with_capacity(256);
            encode(&event, &mut payload);
            let mut entry = wal.begin_entry().expect("okaywal begin_entry");
            entry.write_chunk(&payload).expect("okaywal write_chunk");
            black_box(entry.commit().expect("okaywal commit"));
        });
        wal.shutdown()
            .map_err(|e| format!("okaywal shutdown: {e}"))?;
        Ok(measured)
    })
}

/// raft-engine's log entries are protobuf messages with an index. The entry here is
/// protobuf's `BytesValue` holding the index (8 bytes, little-endian) then the payload, so no
/// Raft crate is needed; TiKV's `eraftpb::Entry` carries term and index beside its data too.
struct Entries;

impl raft_engine::MessageExt for Entries {
    type Entry = BytesValue;

    fn index(entry: &BytesValue) -> u64 {
        let prefix = entry.value[..8].try_into().expect("8-byte index prefix");
        u64::from_le_bytes(prefix)
    }
}

/// raft-engine: a `LogBatch` with one entry, `Engine::write(&mut batch, sync = true)` (its
/// write barrier makes the first waiting writer the leader of a group, which writes every
/// member's batch and calls `fdatasync` once). Producer `p` appends to Raft group `p + 1`
/// with consecutive indexes, as TiKV's regions share one log. Default `Config` (format
/// version 2, log recycling on, 128 MiB files, compression only above 8 KiB).
pub fn raft_engine(plan: &TimedPlan, producers: usize) -> Result<Measured, String> {
    in_dir(&format!("latency-raft-engine-p{producers}"), |dir| {
        let config = raft_engine::Config {
            dir: dir.to_str().ok_or("bench folder is not UTF-8")?.to_string(),
            ..raft_engine::Config::default()
        };
        let engine = raft_engine::Engine::open(config).map_err(|e| format!("raft-engine: {e}"))?;
        // One batch per producer, reused as a caller would (a write leaves it empty).
        let batches: Vec<_> = (0..producers)
            .map(|_| Mutex::new(raft_engine::LogBatch::default()))
            .collect();
        let event = event();
        let measured = run_threads(producers, plan, |producer, i| {
            let mut entry = BytesValue::new();
            entry.value.reserve(256);
            entry.value.extend_from_slice(&(i + 1).to_le_bytes());
            encode(&event, &mut entry.value);
            let mut batch = batches[producer].lock().expect("batch lock");
            let group = producer as u64 + 1;
            batch
                .add_entries::<Entries>(group, &[entry])
                .expect("raft-engine add_entries");
            black_box(engine.write(&mut batch, true).expect("raft-engine write"));
        });
        drop(engine);
        Ok(measured)
    })
}

/// fjall: `PartitionHandle::insert(key, payload)` (key: 8 bytes, big-endian, unique), then
/// `Keyspace::persist(PersistMode::SyncData)` (flushes the journal's buffer and calls
/// `fdatasync` under the journal's lock). Default `Config` and `PartitionCreateOptions`.
pub fn fjall(plan: &TimedPlan, producers: usize) -> Result<Measured, String> {
    in_dir(&format!("latency-fjall-p{producers}"), |dir| {
        let keyspace = fjall::Config::new(dir)
            .open()
            .map_err(|e| format!("fjall: {e}"))?;
        let partition = keyspace
            .open_partition("trades", fjall::PartitionCreateOptions::default())
            .map_err(|e| format!("fjall partition: {e}"))?;
        let event = event();
        let measured = run_threads(producers, plan, |producer, i| {
            let mut payload = Vec::with_capacity(256);
            encode(&event, &mut payload);
            let key = key(producer, i);
            partition.insert(&key[..], payload).expect("fjall insert");
            keyspace
                .persist(fjall::PersistMode::SyncData)
                .expect("fjall persist");
        });
        drop(partition);
        drop(keyspace);
        Ok(measured)
    })
}
