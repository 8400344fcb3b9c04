//! The ledger: validation before append, live projections equal to replay, checkpoints
//! instead of migrations, time travel.

use std::path::Path;

use tradeledger::ledger::checkpoint;
use tradeledger::ledger::{load_read_only, AsOf, Ledger, LedgerError};
use tradeledger::model::event::Timestamp;
use tradeledger::projection::{
    CheckError, Projections, QueryError, Rule, TimeBasis, TimeRange, TradeFilter, TradeView,
};
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::{tools::sample, Durability, Event};

fn t(minutes: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + minutes * 60_000_000_000)
}

fn options() -> JournalOptions {
    JournalOptions {
        durability: Durability::Buffered,
        segment_size_bytes: 256 << 10,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    }
}

/// [`options`] with automatic checkpoints every `records` records.
fn checkpoint_every(records: u64) -> JournalOptions {
    JournalOptions {
        checkpoint_every_records: records,
        ..options()
    }
}

/// Opens and closes trade `n` with the given profit.
fn round_trip(n: u64, profit: &str) -> Vec<Vec<Event>> {
    vec![
        vec![
            sample::signal(n, t(n as i64)),
            sample::trade_opened(n, t(n as i64)),
        ],
        vec![sample::trade_closed(n, t(n as i64 + 30), profit)],
    ]
}

fn stats_total(ledger_state: &tradeledger::projection::Projections) -> String {
    ledger_state
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
        .unwrap()
        .total_profit
        .to_string()
}

fn fill(ledger: &Ledger, trades: u64) {
    for n in 1..=trades {
        let profit = if n % 3 == 0 { "-5.25" } else { "10.50" };
        for batch in round_trip(n, profit) {
            ledger.append(&batch).unwrap();
        }
    }
}

#[test]
fn a_rejected_batch_leaves_journal_and_projections_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 2);
    let head = ledger.journal().head_seq();
    // A duplicate ticket in the second event of a batch: the first event must not land either.
    let batch = vec![sample::signal(99, t(99)), sample::trade_opened(1, t(99))];
    let error = ledger.append(&batch).unwrap_err();
    match error {
        LedgerError::Rejected { index, violation } => {
            assert_eq!(index, 1);
            assert_eq!(violation.rule, Rule::DuplicateTicket);
        }
        other => panic!("expected a rejection, got {other}"),
    }
    assert_eq!(ledger.journal().head_seq(), head);
    assert!(ledger.query(|s| s
        .recent_signals(None, 10)
        .unwrap()
        .iter()
        .all(|s| s.signal_id != 99)));
}

#[test]
fn reopening_from_a_checkpoint_equals_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 30);
    let info = ledger.checkpoint().unwrap();
    assert_eq!(info.seq, 90);
    for n in 31..=40 {
        for batch in round_trip(n, "1") {
            ledger.append(&batch).unwrap();
        }
    }
    let live = ledger.query(|s| s.clone());
    // Opening must use the older checkpoint and replay the rest.
    drop_without_newest_checkpoint(ledger, 120);
    let reopened = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = reopened.open_report().clone();
    assert_eq!(report.checkpoint.as_ref().map(|c| c.seq), Some(90));
    assert_eq!(report.replayed_records, 30);
    assert!(
        reopened.query(|s| *s == live),
        "checkpoint + replay differs from the live state"
    );
    let (read_only, _) = load_read_only(dir.path(), None).unwrap();
    assert_eq!(read_only, live);
    // 20 wins of 10.50, 10 losses of 5.25, then 10 trades of 1: 210 - 52.50 + 10.
    assert_eq!(stats_total(&live), "167.50");
}

/// The state of the journal in `dir` rebuilt by replaying every record (no checkpoint).
fn full_replay(dir: &Path) -> Projections {
    let reader = tradeledger::JournalReader::open(dir).unwrap();
    let mut state = Projections::new();
    tradeledger::ledger::replay(&reader, &mut state, 1, None).unwrap();
    state
}

/// Drops the ledger, which writes a checkpoint at the head `seq`, and removes that one.
fn drop_without_newest_checkpoint(ledger: Ledger, seq: u64) {
    let journal_id = ledger.journal().meta().journal_id;
    let dir = ledger.journal().dir().to_path_buf();
    drop(ledger);
    let newest = checkpoint::describe(&dir, &journal_id)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(newest.seq, seq, "the last drop writes a checkpoint");
    std::fs::remove_file(&newest.path).unwrap();
}

fn rewrite_projection_version(path: &Path, version: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[12..16].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    replace_file(path, &bytes);
}

#[test]
fn a_checkpoint_of_another_projection_version_or_damaged_is_ignored_and_rebuilt_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 10);
    let info = ledger.checkpoint().unwrap();
    drop(ledger);
    let live = full_replay(dir.path());
    rewrite_projection_version(&info.path, tradeledger::projection::PROJECTION_VERSION + 1);
    let reopened = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = reopened.open_report().clone();
    assert!(report.checkpoint.is_none());
    assert_eq!(report.ignored_checkpoints.len(), 1);
    assert!(report.ignored_checkpoints[0]
        .reason
        .contains("projection version"));
    assert_eq!(report.replayed_records, 30);
    assert!(reopened.query(|s| *s == live));
    let info = reopened.checkpoint().unwrap();
    drop(reopened);
    let last = std::fs::metadata(&info.path).unwrap().len() as usize - 1;
    flip(&info.path, last);
    let report = Ledger::open(dir.path(), &OpenMode::default())
        .unwrap()
        .open_report()
        .clone();
    assert!(report.checkpoint.is_none());
    assert!(report
        .ignored_checkpoints
        .iter()
        .any(|c| c.reason.contains("checksum")));
}

#[test]
fn checkpoints_are_layers_that_load_as_one_state_and_a_broken_stack_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    let journal_id = ledger.journal().meta().journal_id;
    let mut written = Vec::new();
    let round = |round: u64| {
        // 20 trades and 20 signals a round: layers of equal size.
        for n in round * 20 + 1..=round * 20 + 20 {
            for batch in round_trip(n, if n % 4 == 0 { "-2" } else { "3" }) {
                ledger.append(&batch).unwrap();
            }
        }
        ledger.checkpoint().unwrap()
    };
    let files = || {
        let found = checkpoint::describe(dir.path(), &journal_id).unwrap();
        let mut found: Vec<(u64, Option<u64>)> = (found.into_iter())
            .map(|found| found.map(|info| (info.seq, info.parent)).unwrap())
            .collect();
        found.sort_unstable();
        found
    };
    for n in 0..7 {
        written.push(round(n));
    }
    // By the writer's rule, equal rounds are stacked as [1] [2] [3] [3, 1] [5] [5, 1] [5, 2]
    // (sizes in rounds): the 4th, 6th and 7th checkpoints are layers on the 3rd or the 5th,
    // the others are written whole.
    let seqs: Vec<u64> = written.iter().map(|info| info.seq).collect();
    let seq = |round: usize| seqs[round];
    let parents: Vec<Option<u64>> = written.iter().map(|info| info.parent).collect();
    assert_eq!(
        parents,
        [
            None,
            None,
            None,
            Some(seq(2)),
            None,
            Some(seq(4)),
            Some(seq(4))
        ]
    );
    // The newest, what it lies on, and the one before it (a layer on kept files) are kept.
    assert_eq!(
        files(),
        [
            (seq(4), None),
            (seq(5), Some(seq(4))),
            (seq(6), Some(seq(4)))
        ]
    );
    // The newest loads with the layer under it, as the state of the journal.
    let live = ledger.query(|s| s.clone());
    let (read, report) = load_read_only(dir.path(), None).unwrap();
    let loaded = report.checkpoint.unwrap();
    assert_eq!((loaded.seq, loaded.parent), (seq(6), Some(seq(4))));
    assert_eq!(report.replayed_records, 0);
    assert_eq!(read, live);
    assert!(read == full_replay(dir.path()));
    drop(read);
    // A layer that cannot be read breaks every stack on it: the journal is replayed.
    flip(&written[4].path, 20);
    let (read, report) = load_read_only(dir.path(), None).unwrap();
    assert!(report.checkpoint.is_none());
    let reasons: Vec<&str> = (report.ignored_checkpoints.iter())
        .map(|c| c.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[..2]
            .iter()
            .all(|r| r.contains("the layer it lies on") && r.contains("checksum")),
        "{reasons:?}"
    );
    assert_eq!(report.replayed_records, live.applied_events());
    assert_eq!(read, live);
    // The 8th merges every layer ([8]): the stack it replaces is deleted.
    let merged = round(7);
    assert_eq!(merged.parent, None);
    assert_eq!(files(), [(merged.seq, None)]);
    let (read, report) = load_read_only(dir.path(), None).unwrap();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(merged.seq));
    assert!(ledger.query(|live| *live == read));
}

#[test]
fn automatic_checkpoints_follow_the_journal_setting() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &checkpoint_every(10)).unwrap();
    fill(&ledger, 10);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let journal_id = ledger.journal().meta().journal_id;
    loop {
        let found = checkpoint::describe(dir.path(), &journal_id).unwrap();
        if found.iter().any(|c| c.as_ref().is_ok_and(|c| c.seq >= 10)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no automatic checkpoint written"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_state_as_of_a_sequence_number_is_the_state_of_that_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 4);
    let after_two_trades = {
        let (state, _) = load_read_only(dir.path(), Some(AsOf::Seq(6))).unwrap();
        state
    };
    assert_eq!(after_two_trades.head_seq(), 6);
    assert_eq!(stats_total(&after_two_trades), "21.00");
    let (state, _) = load_read_only(dir.path(), Some(AsOf::Seq(5))).unwrap();
    assert_eq!(state.open_trades(None, None).unwrap().len(), 1);
    let (future, _) = load_read_only(dir.path(), Some(AsOf::Time(Timestamp::MAX))).unwrap();
    assert_eq!(future.head_seq(), 12);
    let (past, _) = load_read_only(dir.path(), Some(AsOf::Time(Timestamp::MIN))).unwrap();
    assert_eq!(past.head_seq(), 0);
}

/// An automatic checkpoint runs on its own thread while `close` (or `checkpoint`) writes one at
/// the same seq: the two must not share a temporary file, or one rename fails.
#[test]
fn concurrent_checkpoints_at_the_same_seq_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    for n in 1..=2000 {
        ledger.append(&[sample::signal(n, t(0))]).unwrap();
    }
    for _ in 0..20 {
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..2).map(|_| s.spawn(|| ledger.checkpoint())).collect();
            for writer in writers {
                let info = writer.join().unwrap().expect("checkpoint failed");
                assert_eq!(info.seq, 2000);
            }
        });
    }
    drop(ledger);
    let report = Ledger::open(dir.path(), &OpenMode::default())
        .unwrap()
        .open_report()
        .clone();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(2000));
}

#[test]
fn a_checkpoint_left_half_written_by_a_crash_is_cleaned_up_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 2);
    let first = ledger.checkpoint().unwrap();
    let stale = first
        .path
        .with_file_name("checkpoint-00000000000000000099.ckpt.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    fill_more(&ledger);
    ledger.checkpoint().unwrap();
    assert!(!stale.exists(), "the stale temporary file is removed");
}

fn fill_more(ledger: &Ledger) {
    for batch in round_trip(1000, "2") {
        ledger.append(&batch).unwrap();
    }
}

/// The file offset and length of section `index` of a checkpoint (`docs/FORMAT.md` §6: the
/// payload after the 64-byte header ends with the section directory).
fn section(bytes: &[u8], index: usize) -> (usize, usize) {
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let payload_len = word(40);
    let directory = 64 + payload_len - (8 + 10 * 16);
    assert_eq!(&bytes[directory..directory + 8], b"TLSTATE2");
    let at = directory + 8 + 16 * index;
    (64 + word(at), word(at + 8))
}

/// Inverts one byte of a file, in place: a mapping of it (a background check of a dropped
/// ledger may still be running) stays valid, where a truncating rewrite could fault it.
fn flip(path: &Path, at: usize) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at as u64).unwrap();
    file.write_all_at(&[byte[0] ^ 0x5a], at as u64).unwrap();
}

/// Replaces a file by a new one with `bytes` (unlinked first, so that a mapping of the old
/// one stays valid).
fn replace_file(path: &Path, bytes: &[u8]) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The file offset of the checksum block that holds file byte `at`.
fn block_start(at: usize) -> u64 {
    let size = checkpoint::CHECKPOINT_BLOCK_SIZE;
    (64 + (at - 64) / size * size) as u64
}

const TRADE_RECORDS: usize = 1;
const TRADE_BY_TICKET: usize = 2;

/// A ledger of 1500 round trips with a checkpoint at seq 4500, whose first trade record is
/// then damaged: opening succeeds (the history is read in place). Returns the path of the
/// checkpoint, the file offset damaged and every trade as it was.
fn damaged_first_trade(dir: &Path) -> (std::path::PathBuf, usize, Vec<Option<TradeView>>) {
    let ledger = Ledger::create(dir, &options()).unwrap();
    fill(&ledger, 1500);
    let info = ledger.checkpoint().unwrap();
    let expected: Vec<_> = (1..=1500)
        .map(|ticket| ledger.query(|s| s.trade_by_ticket(ticket)).unwrap())
        .collect();
    drop(ledger);
    let bytes = std::fs::read(&info.path).unwrap();
    let (records, _) = section(&bytes, TRADE_RECORDS);
    flip(&info.path, records + 3);
    (info.path, records + 3, expected)
}

#[test]
fn a_damaged_checkpoint_block_fails_queries_loudly_and_never_returns_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let (path, damaged, expected) = damaged_first_trade(dir.path());
    // Read-only, as the CLI reads: no background check, no rebuild.
    let (state, report) = load_read_only(dir.path(), None).unwrap();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(4500));
    let error = state.trade_by_ticket(1).unwrap_err();
    let QueryError::Corrupt(damage) = &error else {
        panic!("expected corruption, got {error}");
    };
    assert_eq!(damage.file, path);
    assert_eq!(damage.offset, block_start(damaged));
    assert!(error.to_string().contains("checksum mismatch"), "{error}");
    let listing = state.trades(&TradeFilter::default());
    assert!(matches!(listing, Err(QueryError::Corrupt(_))));
    // Every answer is either the right one or the corruption error, never other data.
    let (mut right, mut refused) = (0, 0);
    for ticket in 1..=1500 {
        match state.trade_by_ticket(ticket) {
            Ok(found) => {
                assert_eq!(found, expected[ticket as usize - 1]);
                right += 1;
            }
            Err(QueryError::Corrupt(damage)) => {
                assert_eq!(damage.offset, block_start(damaged));
                refused += 1;
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert!(
        right > 0 && refused > 0,
        "{right} answered, {refused} refused"
    );
}

/// A running ledger whose checkpoint turns out damaged rebuilds its state without it: the
/// background check finds the damage, the file is set aside, the state is rebuilt by replay
/// and swapped in, and a new checkpoint replaces the damaged one. Until then every answer is
/// the right one or the corruption error; afterwards all are right.
#[test]
fn a_running_ledger_rebuilds_its_state_without_a_damaged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, expected) = damaged_first_trade(dir.path());
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = ledger.open_report().clone();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(4500));
    let aside = path.with_extension("ckpt.damaged");
    let waiting_since = std::time::Instant::now();
    loop {
        let mut all_right = true;
        for (ticket, expected) in (1..).zip(&expected) {
            match ledger.query(|s| s.trade_by_ticket(ticket)) {
                Ok(found) => assert_eq!(&found, expected),
                Err(QueryError::Corrupt(_)) => all_right = false,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        if all_right && aside.exists() {
            break;
        }
        assert!(
            waiting_since.elapsed() < std::time::Duration::from_secs(30),
            "the state was not rebuilt"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        ledger.query(|live| *live == full_replay(dir.path())),
        "the rebuilt state is the journal's"
    );
    let journal_id = ledger.journal().meta().journal_id;
    let found = checkpoint::describe(dir.path(), &journal_id).unwrap();
    assert!(
        found
            .iter()
            .any(|c| matches!(c, Ok(info) if info.seq == 4500 && info.path == path)),
        "a checkpoint of the rebuilt state replaces the damaged one: {found:?}"
    );
    // Appends go on, against the rebuilt state.
    let error = ledger
        .append(&[sample::trade_opened(750, t(9_999))])
        .unwrap_err();
    assert!(matches!(error, LedgerError::Rejected { .. }), "{error}");
    for batch in round_trip(2000, "2") {
        ledger.append(&batch).unwrap();
    }
    assert!(ledger.query(|live| *live == full_replay(dir.path())));
}

#[test]
fn damage_in_the_layer_under_the_top_is_healed_by_a_rebuild_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 1500);
    let bottom = ledger.checkpoint().unwrap();
    for n in 1501..=1510 {
        for batch in round_trip(n, "4") {
            ledger.append(&batch).unwrap();
        }
    }
    let top = ledger.checkpoint().unwrap();
    assert_eq!(top.parent, Some(bottom.seq));
    let journal_id = ledger.journal().meta().journal_id;
    drop(ledger);
    // The first trade record of the bottom layer: the top layer is intact.
    let bytes = std::fs::read(&bottom.path).unwrap();
    flip(&bottom.path, section(&bytes, TRADE_RECORDS).0);
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let loaded = ledger.open_report().checkpoint.clone().unwrap();
    assert_eq!((loaded.seq, loaded.parent), (top.seq, Some(bottom.seq)));
    // The background check finds the damage under the top layer, sets that file aside and
    // rebuilds the state by replay; a checkpoint of it replaces the broken stack.
    let aside = bottom.path.with_extension("ckpt.damaged");
    let waiting_since = std::time::Instant::now();
    while !(aside.exists() && ledger.query(|s| s.trade_by_ticket(1)).is_ok()) {
        assert!(
            waiting_since.elapsed() < std::time::Duration::from_secs(30),
            "the state was not rebuilt"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let files: Vec<(u64, Option<u64>)> = checkpoint::describe(dir.path(), &journal_id)
        .unwrap()
        .into_iter()
        .map(|found| found.map(|info| (info.seq, info.parent)).unwrap())
        .collect();
    assert_eq!(files, [(top.seq, None)]);
    assert!(ledger.query(|live| *live == full_replay(dir.path())));
}

#[test]
fn an_append_that_reads_a_damaged_block_is_refused_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 1500);
    let info = ledger.checkpoint().unwrap();
    drop(ledger);
    let bytes = std::fs::read(&info.path).unwrap();
    // The middle entry of the ticket array: the first probe of every ticket lookup.
    let (tickets, len) = section(&bytes, TRADE_BY_TICKET);
    let middle = tickets + len / 32 / 2 * 32;
    flip(&info.path, middle);
    // Ticket 750 is stored: the duplicate check must search the damaged array, and the
    // answer is the damage, not "duplicate ticket" (nor "new ticket").
    let event = [sample::trade_opened(750, t(9_999))];
    let (state, _) = load_read_only(dir.path(), None).unwrap();
    match state.check_batch(&event) {
        Err((0, CheckError::Corrupt(damage))) => {
            assert_eq!(damage.offset, block_start(middle));
        }
        other => panic!("expected the damage, got {other:?}"),
    }
    // The running ledger refuses it as that damage, or as a duplicate once it has rebuilt
    // its state without the damaged checkpoint (in the background): it never appends it.
    let reopened = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let head = reopened.journal().head_seq();
    match reopened.append(&event).unwrap_err() {
        LedgerError::Storage(error) => {
            assert!(error.is_corruption(), "{error}");
            assert!(error
                .to_string()
                .contains(&format!("at byte {}", block_start(middle))));
        }
        LedgerError::Rejected { violation, .. } => {
            assert_eq!(violation.rule, Rule::DuplicateTicket);
        }
    }
    assert_eq!(reopened.journal().head_seq(), head, "nothing was appended");
}

#[test]
fn damage_met_while_replaying_after_a_checkpoint_rebuilds_the_state_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 1500);
    let info = ledger.checkpoint().unwrap();
    // A late link of a stored trade: replaying it searches the stored tickets.
    let link = Event::SignalExecuted(tradeledger::model::event::SignalExecuted::new(1501, 750));
    ledger
        .append(&[sample::signal(1501, t(1501)), link])
        .unwrap();
    // Keep only the older checkpoint, so that the tail is replayed onto it.
    drop_without_newest_checkpoint(ledger, 4502);
    let live = full_replay(dir.path());
    let bytes = std::fs::read(&info.path).unwrap();
    let (tickets, len) = section(&bytes, TRADE_BY_TICKET);
    flip(&info.path, tickets + len / 32 / 2 * 32);
    let reopened = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = reopened.open_report().clone();
    assert!(report.checkpoint.is_none());
    assert_eq!(report.ignored_checkpoints.len(), 1);
    let reason = &report.ignored_checkpoints[0].reason;
    assert!(reason.contains("damaged, rebuilt by replay"), "{reason}");
    assert!(
        reason.contains(&info.path.display().to_string()),
        "{reason}"
    );
    assert_eq!(report.replayed_records, 4502);
    assert!(reopened.query(|s| *s == live));
    let linked = reopened.query(|s| s.trade_by_ticket(750)).unwrap().unwrap();
    assert_eq!(linked.signal_id, Some(1501));
}

/// A checkpoint of projection layout version 1 (one postcard image, one payload checksum, no
/// block table), as earlier builds wrote it.
fn old_layout_checkpoint(journal_id: &[u8; 16], seq: u64) -> Vec<u8> {
    let payload = [1u8, 0, 0, 0, 0, 0, 0];
    let mut header = [0u8; 64];
    header[..8].copy_from_slice(b"TLCHKPNT");
    header[8..12].copy_from_slice(&1u32.to_le_bytes());
    header[12..16].copy_from_slice(&1u32.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..40].copy_from_slice(journal_id);
    header[40..48].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[48..52].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    let crc = crc32fast::hash(&header[..60]);
    header[60..64].copy_from_slice(&crc.to_le_bytes());
    [&header[..], &payload[..]].concat()
}

#[test]
fn a_checkpoint_of_the_old_layout_is_ignored_and_the_state_rebuilt_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), &options()).unwrap();
    fill(&ledger, 10);
    let info = ledger.checkpoint().unwrap();
    let journal_id = ledger.journal().meta().journal_id;
    drop(ledger);
    let live = full_replay(dir.path());
    replace_file(&info.path, &old_layout_checkpoint(&journal_id, info.seq));
    let reopened = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = reopened.open_report().clone();
    assert!(report.checkpoint.is_none());
    let reason = &report.ignored_checkpoints[0].reason;
    let expected = format!(
        "projection version 1, this build uses {}",
        tradeledger::projection::PROJECTION_VERSION
    );
    assert!(reason.contains(&expected), "{reason}");
    assert_eq!(report.replayed_records, 30);
    assert!(reopened.query(|s| *s == live));
    // A new checkpoint of the current layout replaces it.
    let info = reopened.checkpoint().unwrap();
    assert_eq!(
        info.projection_version,
        tradeledger::projection::PROJECTION_VERSION
    );
    drop(reopened);
    let report = Ledger::open(dir.path(), &OpenMode::default())
        .unwrap()
        .open_report()
        .clone();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(30));
}

/// In Sync mode a batch is applied before its flush. When the flush fails, the batches after
/// the last durable record were never acknowledged, so the live state is rebuilt as of that
/// record: from the newest checkpoint at or before it, plus replay. It then equals a replay of
/// the durable prefix. A checkpoint makes the records it describes durable before it is
/// written, so it never holds a batch that the rewind drops.
#[test]
fn a_failed_sync_flush_rewinds_the_live_state_to_the_last_durable_record() {
    let dir = tempfile::tempdir().unwrap();
    let sync = JournalOptions {
        durability: Durability::Sync,
        ..options()
    };
    let ledger = Ledger::create(dir.path(), &sync).unwrap();
    fill(&ledger, 3);
    ledger.checkpoint().unwrap();
    fill_more_sync(&ledger, 4..=5);
    // Written and applied, not yet flushed: the checkpoint flushes it first.
    let unflushed = round_trip(6, "99.00").remove(0);
    let appended = ledger.append_unflushed(&unflushed).unwrap();
    assert!(appended.first_seq > ledger.journal().durable_seq());
    let ahead = ledger.checkpoint().unwrap();
    assert_eq!(ahead.seq, appended.last_seq);
    let durable = ledger.journal().durable_seq();
    assert_eq!(
        durable, ahead.seq,
        "a checkpoint's records are durable before it"
    );
    let durable_state = ledger.query(stats_total);
    // Another batch written and applied, not flushed: the rewind drops it.
    let later = round_trip(7, "99.00").remove(0);
    assert!(ledger.append_unflushed(&later).unwrap().first_seq > durable);
    ledger.journal().inject_flush_failure();
    let close = round_trip(6, "99.00").remove(1);
    assert!(ledger.append(&close).is_err());
    assert_eq!(ledger.query(|p| p.head_seq()), durable);
    assert!(ledger.query(|p| p.trade_by_ticket(7).unwrap()).is_none());
    assert_eq!(ledger.query(stats_total), durable_state);
    let expected = full_replay_until(dir.path(), durable);
    assert_eq!(
        ledger.query(|p| p.trades(&TradeFilter::default()).unwrap()),
        expected.trades(&TradeFilter::default()).unwrap()
    );
}

fn fill_more_sync(ledger: &Ledger, tickets: std::ops::RangeInclusive<u64>) {
    for n in tickets {
        for batch in round_trip(n, "1.00") {
            ledger.append(&batch).unwrap();
        }
    }
}

fn full_replay_until(dir: &Path, seq: u64) -> Projections {
    load_read_only(dir, Some(AsOf::Seq(seq))).unwrap().0
}

/// Opening without a usable checkpoint replays the whole journal. When that is at least the
/// journal's checkpoint interval, the checkpoint is written during the open, when no append
/// can wait for it, not as the first automatic one while appends run. Opened from a
/// checkpoint, however far behind, nothing is written at open.
#[test]
fn an_open_that_replays_a_checkpoint_interval_or_more_writes_a_checkpoint_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let every_12 = checkpoint_every(12);
    let ledger = Ledger::create(dir.path(), &every_12).unwrap();
    fill(&ledger, 2);
    let short_replay = ledger.journal().head_seq();
    drop_without_newest_checkpoint(ledger, short_replay);
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = ledger.open_report().clone();
    assert_eq!(report.replayed_records, short_replay);
    let journal_id = ledger.journal().meta().journal_id;
    let at = |seq: u64| {
        let found = checkpoint::describe(dir.path(), &journal_id).unwrap();
        found.iter().any(|c| c.as_ref().is_ok_and(|c| c.seq == seq))
    };
    assert!(
        !at(short_replay),
        "fewer records than the interval were replayed"
    );
    fill_more_sync(&ledger, 3..=5);
    let head = ledger.journal().head_seq();
    drop_without_newest_checkpoint(ledger, head);
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = ledger.open_report().clone();
    assert!(report.replayed_records >= 12);
    assert!(
        at(head),
        "no checkpoint written by the open that replayed {head} records"
    );
    // From that checkpoint, more than the interval behind: nothing is written at open. The
    // later records go through the journal alone, so no automatic checkpoint runs meanwhile.
    drop(ledger);
    let journal = Journal::open(dir.path(), &OpenMode::default()).unwrap();
    for n in 6..=10 {
        for batch in round_trip(n, "1.00") {
            journal.append(&batch).unwrap();
        }
    }
    let later = journal.head_seq();
    journal.close().unwrap();
    let report = Ledger::open(dir.path(), &OpenMode::default())
        .unwrap()
        .open_report()
        .clone();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(head));
    assert!(report.replayed_records >= 12);
    assert!(!at(later), "an open from a checkpoint wrote one");
}

/// `close`, and the drop of the last clone, return with the journal flushed, checkpointed
/// and released, even while an automatic checkpoint was being written: that checkpoint's
/// thread holds the ledger too, and the next open must find a checkpoint at the head and
/// the journal unlocked.
#[test]
fn close_and_drop_wait_for_a_running_automatic_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let options = checkpoint_every(10);
    let mut ledger = Ledger::create(dir.path(), &options).unwrap();
    for round in 0..40u64 {
        for n in 1..=200 {
            let n = round * 200 + n;
            ledger.append(&[sample::signal(n, t(n as i64))]).unwrap();
        }
        let how = if round % 2 == 0 { "close" } else { "drop" };
        if how == "close" {
            ledger.close().unwrap();
        } else {
            drop(ledger);
        }
        ledger = Ledger::open(dir.path(), &OpenMode::default())
            .unwrap_or_else(|e| panic!("round {round}: reopening after {how}: {e}"));
        let report = ledger.open_report().clone();
        let head = (round + 1) * 200;
        assert_eq!(ledger.journal().head_seq(), head);
        assert_eq!(
            report.checkpoint.map(|c| c.seq),
            Some(head),
            "round {round}: {how} wrote a checkpoint at the head"
        );
    }
}

/// An automatic checkpoint starts at the append that completes the journal's interval, and
/// not before: the ledger's status tells when it is due and whether it runs.
#[test]
fn an_automatic_checkpoint_starts_when_the_interval_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let options = checkpoint_every(10);
    let signals = |from: u64, to: u64| -> Vec<Event> {
        (from..=to)
            .map(|n| sample::signal(n, t(n as i64)))
            .collect()
    };
    let ledger = Ledger::create(dir.path(), &options).unwrap();
    ledger.append(&signals(1, 400)).unwrap();
    ledger.close().unwrap();
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = ledger.open_report().clone();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(400));
    assert_eq!(ledger.checkpoint_status().next_automatic_at, Some(410));
    for n in 401..=409 {
        ledger.append(&signals(n, n)).unwrap();
    }
    // The decision is taken inside `append`: had one started, it would be running or done.
    let status = ledger.checkpoint_status();
    assert_eq!((status.written, status.running), (0, false), "{status:?}");
    assert_eq!(status.next_automatic_at, Some(410));
    ledger.append(&signals(410, 410)).unwrap();
    let since = std::time::Instant::now();
    let status = loop {
        let status = ledger.checkpoint_status();
        if status.written == 1 && !status.running {
            break status;
        }
        assert!(
            since.elapsed() < std::time::Duration::from_secs(30),
            "{status:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(status.last_seq, Some(410));
    assert_eq!(status.next_automatic_at, Some(420));
}

/// Dropping the last handle while the state is being rebuilt without a damaged checkpoint
/// waits for the rebuild: the next open finds the journal unlocked and the replacement
/// checkpoint in place of the damaged one.
#[test]
fn dropping_the_last_handle_while_healing_waits_for_the_heal() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = damaged_first_trade(dir.path());
    let aside = path.with_extension("ckpt.damaged");
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    // Setting the file aside is the heal's first step.
    let since = std::time::Instant::now();
    while !aside.exists() {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(30),
            "the damage was not found"
        );
        std::thread::yield_now();
    }
    drop(ledger);
    let reopened = Ledger::open(dir.path(), &OpenMode::default())
        .unwrap_or_else(|e| panic!("reopening right after the drop: {e}"));
    let report = reopened.open_report();
    let loaded = report
        .checkpoint
        .as_ref()
        .expect("the replacement checkpoint is loaded");
    assert_eq!((loaded.seq, &loaded.path), (4500, &path));
    assert!(report.ignored_checkpoints.is_empty(), "{report:?}");
    assert!(reopened.query(|live| *live == full_replay(dir.path())));
}
