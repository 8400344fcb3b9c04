//! The progress callbacks of the long operations (`src/progress.rs`): on a journal of several
//! segments with a checkpoint and records after it, each is called with a constant total,
//! `done` never decreasing and never past the total, a last call at `done == total`, and,
//! where the work is larger than one step, calls in between.

use std::path::Path;

use tradeledger::ledger::checkpoint;
use tradeledger::ledger::{
    load_read_only, load_read_only_with_progress, replay_with_progress, AsOf, Ledger,
};
use tradeledger::progress::RECORDS_PER_REPORT;
use tradeledger::projection::Projections;
use tradeledger::storage::verify::{self, Anchor, RecordAnchor};
use tradeledger::tools::sample;
use tradeledger::{JournalOptions, OpenMode, Timestamp};

/// Pairs of a signal and its trade: 2 records each.
const PAIRS_BEFORE_CHECKPOINT: u64 = 40_000;
const PAIRS_AFTER_CHECKPOINT: u64 = 40_000;
const RECORDS: u64 = 2 * (PAIRS_BEFORE_CHECKPOINT + PAIRS_AFTER_CHECKPOINT);
const AFTER_CHECKPOINT: u64 = 2 * PAIRS_AFTER_CHECKPOINT;

fn append_pairs(ledger: &Ledger, from: u64, count: u64) {
    let pairs: Vec<u64> = (from..from + count).collect();
    for chunk in pairs.chunks(500) {
        let events: Vec<_> = chunk
            .iter()
            .flat_map(|&n| sample::signal_and_trade(n, Timestamp::from_nanos(n as i64 * 1000)))
            .collect();
        ledger.append(&events).unwrap();
    }
}

/// A journal of small segments: a checkpoint after the first half, the rest after it.
fn journal(dir: &Path) {
    let options = JournalOptions {
        segment_size_bytes: 1 << 20,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let ledger = Ledger::create(dir, &options).unwrap();
    append_pairs(&ledger, 1, PAIRS_BEFORE_CHECKPOINT);
    ledger.checkpoint().unwrap();
    append_pairs(&ledger, PAIRS_BEFORE_CHECKPOINT + 1, PAIRS_AFTER_CHECKPOINT);
    // The last handle's drop writes a checkpoint at the head: removed, the newest left is
    // the one before the last records, which are replayed after it.
    drop(ledger);
    let mut seqs = checkpoint_seqs(dir);
    assert_eq!(seqs.pop(), Some(RECORDS));
    std::fs::remove_file(checkpoint_path(dir, RECORDS)).unwrap();
    assert_eq!(checkpoint_seqs(dir), [2 * PAIRS_BEFORE_CHECKPOINT]);
    let segments = tradeledger::storage::reader::segment_paths(dir)
        .unwrap()
        .len();
    assert!(segments >= 3, "several segments, found {segments}");
}

/// The seqs of the journal's usable checkpoints, in increasing order.
fn checkpoint_seqs(dir: &Path) -> Vec<u64> {
    let found = checkpoint::describe(dir, &journal_id(dir)).unwrap();
    let mut seqs: Vec<u64> = found
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .map(|c| c.seq)
        .collect();
    seqs.sort_unstable();
    seqs
}

fn checkpoint_path(dir: &Path, seq: u64) -> std::path::PathBuf {
    let found = checkpoint::describe(dir, &journal_id(dir)).unwrap();
    let info = found
        .into_iter()
        .filter_map(Result::ok)
        .find(|c| c.seq == seq);
    info.expect("a checkpoint at that seq").path
}

fn journal_id(dir: &Path) -> [u8; 16] {
    tradeledger::storage::folder::read_meta(dir)
        .unwrap()
        .journal_id
}

/// The calls a progress callback received.
#[derive(Default)]
struct Calls(Vec<(u64, u64)>);

impl Calls {
    fn record(&mut self) -> impl FnMut(u64, u64) + '_ {
        |done, total| self.0.push((done, total))
    }

    /// Checks the promises; returns the total.
    fn check(&self, what: &str) -> u64 {
        let calls = &self.0;
        assert!(!calls.is_empty(), "{what}: never called");
        let total = calls[0].1;
        for pair in calls.windows(2) {
            assert!(pair[0].0 <= pair[1].0, "{what}: done went back: {pair:?}");
        }
        for &(done, this_total) in calls {
            assert_eq!(this_total, total, "{what}: the total changed");
            assert!(done <= total, "{what}: {done} done of {total}");
        }
        assert_eq!(
            calls.last(),
            Some(&(total, total)),
            "{what}: ends at the total"
        );
        total
    }

    /// Calls strictly between the start and the end.
    fn in_between(&self) -> usize {
        let total = self.0[0].1;
        self.0.iter().filter(|&&(d, _)| d > 0 && d < total).count()
    }
}

#[test]
fn every_long_operation_reports_progress_up_to_its_total() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("journal");
    journal(&dir);

    // Verify: bytes of the segments, once per pass; a call per segment at least.
    let mut calls = Calls::default();
    let report = verify::verify_with_progress(&dir, &mut calls.record()).unwrap();
    assert_eq!(report.records, RECORDS);
    let total = calls.check("verify");
    assert_eq!(
        total,
        4 * report.file_bytes,
        "four passes over the segments' bytes"
    );
    assert!(
        calls.in_between() >= 4 * report.segments,
        "a call per segment and pass"
    );

    let anchor = Anchor::parse(&report.head_anchor).unwrap();
    let mut calls = Calls::default();
    verify::verify_anchor_with_progress(&dir, &anchor, &mut calls.record()).unwrap();
    calls.check("verify --anchor");
    let anchor = RecordAnchor::parse(&report.record_anchor).unwrap().unwrap();
    let mut calls = Calls::default();
    verify::verify_record_anchor_with_progress(&dir, &anchor, &mut calls.record()).unwrap();
    // The hash at the anchor's seq is taken on the record anchor's walk: no fifth pass.
    assert_eq!(calls.check("verify --anchor r:"), 4 * report.file_bytes);

    // A read-only load: the records after the checkpoint.
    let mut calls = Calls::default();
    let (state, _) = load_read_only_with_progress(&dir, None, &mut calls.record()).unwrap();
    assert_eq!(state.head_seq(), RECORDS);
    assert_eq!(calls.check("load"), AFTER_CHECKPOINT);
    assert_eq!(
        calls.in_between() as u64,
        AFTER_CHECKPOINT / RECORDS_PER_REPORT
    );

    // Up to a seq: the records from the checkpoint up to it.
    let mut calls = Calls::default();
    let until = Some(AsOf::Seq(RECORDS - 10));
    load_read_only_with_progress(&dir, until, &mut calls.record()).unwrap();
    assert_eq!(calls.check("load --as-of SEQ"), AFTER_CHECKPOINT - 10);

    // Up to a time: no checkpoint is used, the whole journal is the total, and the replay
    // stops early (the end is still told).
    let mut calls = Calls::default();
    let until = Some(AsOf::Time(Timestamp::from_nanos(0)));
    load_read_only_with_progress(&dir, until, &mut calls.record()).unwrap();
    assert_eq!(calls.check("load --as-of TIME"), RECORDS);

    // A full replay.
    let reader = tradeledger::JournalReader::open(&dir).unwrap();
    let mut calls = Calls::default();
    let mut state = Projections::new();
    replay_with_progress(&reader, &mut state, 1, None, &mut calls.record()).unwrap();
    assert_eq!(calls.check("replay"), RECORDS);
    assert_eq!(calls.in_between() as u64, RECORDS / RECORDS_PER_REPORT);

    // A checkpoint written from that state: its records (a signal per pair, and the rest of
    // the state as one: the OPEN trades among it), none of them in memory twice.
    let storage = tradeledger::storage::Storage::real();
    let mut calls = Calls::default();
    let written = checkpoint::write_with_progress(
        &storage,
        &dir,
        &journal_id(&dir),
        &state,
        &mut calls.record(),
    )
    .unwrap();
    assert_eq!(written.seq, RECORDS);
    assert_eq!(
        calls.check("checkpoint::write"),
        PAIRS_BEFORE_CHECKPOINT + PAIRS_AFTER_CHECKPOINT + 1
    );
    assert!(calls.in_between() >= 1);

    // The writer's open replays after the newest checkpoint (just written: nothing), and its
    // checkpoint goes through the base of that checkpoint.
    let mut calls = Calls::default();
    let ledger =
        Ledger::open_with_progress(&dir, &OpenMode::default(), &mut calls.record()).unwrap();
    assert_eq!(calls.check("open"), 0);
    let mut calls = Calls::default();
    ledger
        .checkpoint_with_progress(&mut calls.record())
        .unwrap();
    assert!(calls.check("Ledger::checkpoint") > RECORDS / 2);
    let mut calls = Calls::default();
    ledger.close_with_progress(&mut calls.record()).unwrap();
    calls.check("close");
    assert_eq!(load_read_only(&dir, None).unwrap().0.head_seq(), RECORDS);
}
