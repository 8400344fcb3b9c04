//! Each case of the recovery table (`docs/RECOVERY.md`) on a constructed tail.

use std::path::Path;

use tradeledger::model::event::Timestamp;
use tradeledger::storage::format::{read_frame, Durability, SEGMENT_HEADER_SIZE};
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::storage::reader::JournalReader;
use tradeledger::{tools::sample, Error, Event};

fn options(durability: Durability) -> JournalOptions {
    JournalOptions {
        durability,
        segment_size_bytes: 256 << 10,
        ..JournalOptions::default()
    }
}

fn batch(first: u64, len: u64) -> Vec<Event> {
    (first..first + len)
        .map(|i| sample::trade_opened(i, Timestamp::from_nanos(i as i64)))
        .collect()
}

/// Writes `batches` batches of 2 events; returns the journal still open (not flushed unless
/// the mode does it) and the expected events.
fn write(dir: &Path, durability: Durability, batches: u64) -> (Journal, Vec<Event>) {
    let journal = Journal::create(dir, &options(durability)).unwrap();
    let mut all = vec![];
    for b in 0..batches {
        let events = batch(b * 2 + 1, 2);
        journal.append(&events).unwrap();
        all.extend(events);
    }
    (journal, all)
}

/// The image a crash of the writer process leaves: the page cache, copied while it runs.
fn crash_image(live: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(live).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.ends_with(".seg") || name == "journal.meta" {
            std::fs::write(to.join(name), std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}

/// Byte offsets of the frames of the only segment in `dir`.
fn frame_offsets(dir: &Path, seed: u32) -> (std::path::PathBuf, Vec<usize>) {
    let path = tradeledger::storage::reader::segment_paths(dir)
        .unwrap()
        .pop()
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut offsets = vec![];
    let mut at = SEGMENT_HEADER_SIZE;
    while let Ok(frame) = read_frame(&bytes[at..], seed) {
        offsets.push(at);
        at += frame.size;
    }
    (path, offsets)
}

fn damage(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset + 12] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

fn read_all(dir: &Path) -> Vec<Event> {
    JournalReader::open(dir)
        .unwrap()
        .records(1)
        .map(|r| r.unwrap().event)
        .collect()
}

#[test]
fn r1_clean_journal_opens_without_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, all) = write(dir.path(), Durability::Buffered, 20);
    journal.close().unwrap();
    let journal = Journal::open(dir.path(), &OpenMode::default()).unwrap();
    assert_eq!(journal.recovery_report().cut, None);
    assert_eq!(journal.head_seq(), all.len() as u64);
}

#[test]
fn r2_incomplete_last_batch_is_cut_and_reported() {
    let live = tempfile::tempdir().unwrap();
    let (journal, all) = write(live.path(), Durability::Buffered, 20);
    let seed = journal.meta().frame_seed();
    let crashed = tempfile::tempdir().unwrap();
    crash_image(live.path(), crashed.path());
    drop(journal);
    let (path, offsets) = frame_offsets(crashed.path(), seed);
    // The last batch's second frame never reached the file.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = *offsets.last().unwrap();
    bytes[last..last + 300].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let journal = Journal::open(crashed.path(), &OpenMode::default()).unwrap();
    let cut = journal.recovery_report().cut.clone().unwrap();
    assert_eq!(cut.last_seq_kept, all.len() as u64 - 2);
    assert_eq!(cut.offset as usize, offsets[offsets.len() - 2]);
    assert!(!cut.later_records_discarded);
    drop(journal);
    assert_eq!(read_all(crashed.path()), all[..all.len() - 2]);
}

#[test]
fn r3_unsynced_hole_with_later_records_is_cut_as_lost_writes() {
    let live = tempfile::tempdir().unwrap();
    let (journal, all) = write(live.path(), Durability::Buffered, 20);
    let seed = journal.meta().frame_seed();
    let crashed = tempfile::tempdir().unwrap();
    crash_image(live.path(), crashed.path());
    drop(journal);
    let (path, offsets) = frame_offsets(crashed.path(), seed);
    damage(&path, offsets[10]);
    let journal = Journal::open(crashed.path(), &OpenMode::default()).unwrap();
    let cut = journal.recovery_report().cut.clone().unwrap();
    assert_eq!(cut.last_seq_kept, 10);
    assert!(cut.later_records_discarded);
    drop(journal);
    assert_eq!(read_all(crashed.path()), all[..10]);
}

#[test]
fn r4_damage_below_the_watermark_is_refused_then_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, all) = write(dir.path(), Durability::Buffered, 20);
    let seed = journal.meta().frame_seed();
    journal.close().unwrap();
    let (path, offsets) = frame_offsets(dir.path(), seed);
    damage(&path, offsets[10]);
    let error = Journal::open(dir.path(), &OpenMode::default())
        .err()
        .unwrap();
    let Error::Corrupt(c) = error else {
        panic!("expected corruption: {error}")
    };
    assert_eq!((c.offset as usize, c.seq), (offsets[10], Some(11)));
    assert!(c.file.ends_with("00000000000000000001.seg"));
    assert!(tradeledger::storage::verify::verify(dir.path())
        .unwrap_err()
        .is_corruption());
    let salvaged = Journal::open(
        dir.path(),
        &OpenMode {
            salvage: true,
            ..OpenMode::default()
        },
    )
    .unwrap();
    assert_eq!(salvaged.head_seq(), 10);
    drop(salvaged);
    assert_eq!(read_all(dir.path()), all[..10]);
}

#[test]
fn r4_damage_that_later_frames_claim_durable_is_refused() {
    let live = tempfile::tempdir().unwrap();
    let (journal, _) = write(live.path(), Durability::Sync, 20);
    let seed = journal.meta().frame_seed();
    let crashed = tempfile::tempdir().unwrap();
    crash_image(live.path(), crashed.path());
    drop(journal);
    let (path, offsets) = frame_offsets(crashed.path(), seed);
    damage(&path, offsets[4]);
    let error = Journal::open(crashed.path(), &OpenMode::default())
        .err()
        .unwrap();
    assert!(error.is_corruption(), "{error}");
    assert!(JournalReader::open(crashed.path())
        .err()
        .unwrap()
        .is_corruption());
}

/// `status` reads no sealed record, yet reports the same head, sizes, anchor and tail as
/// `verify`, for a clean journal of several segments and for one with a torn tail.
#[test]
fn status_reports_what_verify_reports_without_reading_every_record() {
    fn same(dir: &Path) -> tradeledger::storage::verify::VerifyReport {
        let full = tradeledger::storage::verify::verify(dir).unwrap();
        let quick = tradeledger::storage::verify::status(dir).unwrap();
        let shared = |r: &tradeledger::storage::verify::VerifyReport| {
            let figures = (
                r.segments,
                r.last_seq,
                r.data_bytes,
                r.file_bytes,
                r.pending_links,
            );
            (figures, r.torn_tail.clone(), r.live, r.head_anchor.clone())
        };
        assert_eq!(shared(&quick), shared(&full));
        full
    }
    let live = tempfile::tempdir().unwrap();
    let (journal, all) = write(live.path(), Durability::Buffered, 2500);
    let seed = journal.meta().frame_seed();
    let crashed = tempfile::tempdir().unwrap();
    crash_image(live.path(), crashed.path());
    journal.close().unwrap();
    let clean = same(live.path());
    assert!(clean.segments >= 3, "{} segments", clean.segments);
    assert_eq!(clean.last_seq, Some(all.len() as u64));
    assert_eq!(clean.torn_tail, None);

    let (path, offsets) = frame_offsets(crashed.path(), seed);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = *offsets.last().unwrap();
    bytes[last..last + 300].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let torn = same(crashed.path());
    assert!(torn.torn_tail.is_some());
    assert_eq!(torn.last_seq, Some(all.len() as u64 - 2));
}
