//! Event schema evolution: `fixtures/schema-v1/` holds `account_snapshot` records written
//! with schema 1 (before `margin_level` existed). They must stay readable forever, upcast to
//! the current type, and feed the projections like current records.
//!
//! `TRADELEDGER_WRITE_FIXTURES=1 cargo test --test schema_evolution` rewrites the fixture (only
//! ever needed if it is lost: schema-1 records are never written by the current code).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use tradeledger::ledger::load_read_only;
use tradeledger::model::codec::{legacy::AccountSnapshotV1, CODEC_POSTCARD};
use tradeledger::model::event::{EventKind, Timestamp};
use tradeledger::storage::format::{
    frame_size, write_frame, FrameHeader, FLAG_BATCH_END, SEGMENT_HEADER_SIZE,
};
use tradeledger::storage::journal::Clock;
use tradeledger::storage::journal::{Journal, JournalOptions};
use tradeledger::storage::reader::JournalReader;
use tradeledger::Event;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schema-v1")
}

fn snapshot(day: i64, balance: &str) -> AccountSnapshotV1 {
    AccountSnapshotV1 {
        account_number: 4242,
        server: "Demo-1".into(),
        broker: "Old Broker".into(),
        balance: Decimal::from_str(balance).unwrap(),
        equity: Decimal::from_str(balance).unwrap(),
        snapshot_time: Timestamp::from_nanos(1_600_000_000_000_000_000 + day * 86_400_000_000_000),
        profit: Some(Decimal::from_str("0.00").unwrap()),
        margin: None,
        margin_free: Some(Decimal::from_str(balance).unwrap()),
        total_volume: Decimal::ZERO,
        open_positions: 0,
    }
}

fn snapshots() -> Vec<AccountSnapshotV1> {
    vec![
        snapshot(0, "1000.00"),
        snapshot(1, "1012.50"),
        snapshot(2, "990.25"),
    ]
}

/// Writes a journal whose records are schema-1 snapshots, one per batch, frame by frame.
fn write_fixture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let options = JournalOptions {
        segment_size_bytes: 64 << 10,
        journal_id: Some(*b"schema-1-journal"),
        clock: Clock::Fixed(Timestamp::from_nanos(1_600_000_000_000_000_000)),
        ..JournalOptions::default()
    };
    let journal = Journal::create(dir, &options).unwrap();
    let seed = journal.meta().frame_seed();
    journal.close().unwrap();
    let segment = dir.join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    let mut offset = SEGMENT_HEADER_SIZE;
    for (i, v1) in snapshots().iter().enumerate() {
        let payload = v1.encode();
        let header = FrameHeader {
            seq: i as u64 + 1,
            recorded_at: v1.snapshot_time,
            durable_seq: i as u64,
            kind: EventKind::AccountSnapshot as u16,
            codec: CODEC_POSTCARD,
            schema: 1,
            flags: FLAG_BATCH_END,
        };
        let size = frame_size(payload.len());
        write_frame(&mut bytes[offset..offset + size], &header, &payload, seed);
        offset += size;
    }
    std::fs::write(&segment, bytes).unwrap();
    for leftover in ["LOCK", "next.seg.prepared"] {
        let _ = std::fs::remove_file(dir.join(leftover));
    }
}

#[test]
fn schema_1_snapshots_stay_readable_after_schema_2() {
    if std::env::var_os("TRADELEDGER_WRITE_FIXTURES").is_some() {
        write_fixture(&fixture());
    }
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("j");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(fixture()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let read: Vec<Event> = JournalReader::open(&copy)
        .unwrap()
        .records(1)
        .map(|r| r.unwrap().event)
        .collect();
    let expected: Vec<Event> = snapshots()
        .into_iter()
        .map(|v1| Event::AccountSnapshot(v1.upcast()))
        .collect();
    assert_eq!(read, expected);
    assert!(read
        .iter()
        .all(|e| matches!(e, Event::AccountSnapshot(s) if s.margin_level.is_none())));

    let (state, _) = load_read_only(&copy, None).unwrap();
    let latest = state.latest_snapshot(4242).unwrap().unwrap();
    assert_eq!(latest.balance.to_string(), "990.25");
    tradeledger::storage::verify::verify(&copy).unwrap();
}
