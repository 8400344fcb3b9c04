//! The async handle under concurrent tasks, its failure policies and its shutdown.

use std::collections::BTreeSet;
use std::path::Path;

use tradeledger::ledger::handle::{FailurePolicy, JournalHandle, Receipt};
use tradeledger::ledger::{Ledger, LedgerError};
use tradeledger::model::event::Timestamp;
use tradeledger::projection::{TimeBasis, TimeRange};
use tradeledger::storage::journal::{JournalOptions, OpenMode};
use tradeledger::{tools::sample, Durability, Error, Event};

fn handle(dir: &Path, durability: Durability, policy: FailurePolicy) -> JournalHandle {
    let options = JournalOptions {
        durability,
        segment_size_bytes: 1 << 20,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    JournalHandle::new(Ledger::create(dir, &options).unwrap(), policy)
}

fn open_trade(ticket: u64) -> Vec<Event> {
    sample::signal_and_trade(ticket, Timestamp::from_nanos(ticket as i64 * 1_000_000_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sync_appends_are_all_durable_ordered_and_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let journal = handle(dir.path(), Durability::Sync, FailurePolicy::Halt);
    let tasks: Vec<_> = (0..16u64)
        .map(|task| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut seqs = vec![];
                for i in 0..40u64 {
                    let receipt = journal
                        .append(open_trade(task * 1000 + i + 1))
                        .await
                        .unwrap();
                    let Receipt::Written {
                        first_seq,
                        last_seq,
                    } = receipt
                    else {
                        panic!("not written: {receipt:?}")
                    };
                    assert_eq!(last_seq, first_seq + 1, "a batch's records are consecutive");
                    assert!(
                        journal.health().durable_seq >= last_seq,
                        "acknowledged before durable"
                    );
                    seqs.push(last_seq);
                }
                seqs
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a task's appends are ordered"
        );
        all.extend(seqs);
    }
    assert_eq!(all.len(), 640, "no acknowledgement lost or duplicated");
    let health = journal.health();
    assert_eq!(health.events_appended, 1280);
    assert_eq!(health.durable_seq, 1280);
    assert!(
        health.flushes < 640,
        "group commit must share flushes: {} flushes for 640 appends",
        health.flushes
    );
    let open = journal.query(|s| s.open_trades(None, None).unwrap().len());
    assert_eq!(open, 640);
}

#[tokio::test(flavor = "current_thread")]
async fn buffered_appends_complete_on_the_calling_task_and_queries_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let journal = handle(dir.path(), Durability::Buffered, FailurePolicy::Halt);
    for ticket in 1..=100 {
        let receipt = journal.append(open_trade(ticket)).await.unwrap();
        assert_eq!(receipt.last_seq(), Some(ticket * 2));
    }
    let receipt = journal
        .try_append(vec![sample::trade_closed(
            7,
            Timestamp::from_nanos(8_000_000_000),
            "12.5",
        )])
        .unwrap();
    assert_eq!(receipt.last_seq(), Some(201));
    let stats = journal.query(|s| {
        s.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
            .unwrap()
    });
    assert_eq!(stats.total_trades, 1);
    assert_eq!(stats.total_profit.to_string(), "12.5");
    // The live state took the events' free text over instead of copying it: it must equal a
    // replay of the journal, text included.
    let trade = journal.query(|s| s.trade_by_ticket(3).unwrap().unwrap());
    let sample = sample::trade_opened(3, Timestamp::from_nanos(0));
    let Event::TradeOpened(sample) = sample else {
        unreachable!()
    };
    assert!(sample.comment.is_some() && sample.signal_reason.is_some());
    assert_eq!(
        (trade.comment, trade.signal_reason, trade.ai_reasoning),
        (sample.comment, sample.signal_reason, sample.ai_reasoning)
    );
    let (replayed, _) = tradeledger::ledger::load_read_only(dir.path(), None).unwrap();
    assert!(journal.query(|live| *live == replayed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_policy_fails_loudly_after_a_write_failure() {
    let dir = tempfile::tempdir().unwrap();
    let journal = handle(dir.path(), Durability::Sync, FailurePolicy::Halt);
    journal.append(open_trade(1)).await.unwrap();
    journal.ledger().journal().inject_flush_failure();
    let error = journal.append(open_trade(2)).await.unwrap_err();
    assert!(
        matches!(error, LedgerError::Storage(Error::Io { .. })),
        "{error}"
    );
    let error = journal.append(open_trade(3)).await.unwrap_err();
    assert!(
        matches!(error, LedgerError::Storage(Error::Poisoned { .. })),
        "{error}"
    );
    let health = journal.health();
    assert!(health.poisoned);
    let failure = health.last_error.as_ref().expect("the failure is reported");
    assert_eq!(
        failure.io_kind,
        Some(std::io::Error::from_raw_os_error(libc::EIO).kind()),
        "the writer stopped after an EIO, and says so: {failure:?}"
    );
    assert_eq!(health.durable_seq, 2);
    // The failed batch was applied before its flush failed; the live state no longer shows
    // it, and still shows what was durable.
    let shown = |ticket| journal.query(|p| p.trade_by_ticket(ticket).unwrap().is_some());
    assert!(shown(1));
    assert!(!shown(2), "a batch whose append failed is shown as written");
    assert_eq!(journal.query(|p| p.head_seq()), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_policy_keeps_trading_and_surfaces_every_unwritten_batch() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FailurePolicy::Continue { held_events_max: 4 };
    let journal = handle(dir.path(), Durability::Sync, policy);
    journal.append(open_trade(1)).await.unwrap();
    journal.ledger().journal().inject_flush_failure();
    let first = journal.append(open_trade(2)).await.unwrap();
    assert_eq!(first, Receipt::Held { held_events: 2 });
    let second = journal.append(open_trade(3)).await.unwrap();
    assert_eq!(second, Receipt::Held { held_events: 4 });
    let third = journal.append(open_trade(4)).await.unwrap();
    assert_eq!(
        third,
        Receipt::Held { held_events: 4 },
        "over the bound: dropped, counted"
    );
    let health = journal.health();
    assert_eq!((health.held_events, health.dropped_events), (4, 2));
    assert!(health.poisoned && health.last_error.is_some());
    // Held means not written: the live state does not show the held batches.
    let shown = |ticket| journal.query(|p| p.trade_by_ticket(ticket).unwrap().is_some());
    assert_eq!((shown(1), shown(2), shown(3)), (true, false, false));
    let held = journal.take_held();
    assert_eq!(held, vec![open_trade(2), open_trade(3)]);
    // Bad input is never "held": it is an error under every policy.
    let duplicate = journal.try_append(open_trade(1));
    assert!(duplicate.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_everything_and_writes_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let journal = handle(dir.path(), Durability::Buffered, FailurePolicy::Halt);
    for ticket in 1..=50 {
        journal.append(open_trade(ticket)).await.unwrap();
    }
    journal.close().await.unwrap();
    let ledger = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    let report = ledger.open_report().clone();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(100));
    assert_eq!(report.replayed_records, 0);
    assert_eq!(ledger.journal().head_seq(), 100);
}

/// An automatic checkpoint that cannot be written (here its folder's name is taken by a
/// file) is reported in `health` with why, and appends go on; the next one that succeeds
/// clears the error and is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_automatic_checkpoint_is_reported_in_health_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        checkpoint_every_records: 20,
        ..JournalOptions::default()
    };
    let journal = JournalHandle::new(
        Ledger::create(dir.path(), &options).unwrap(),
        FailurePolicy::Halt,
    );
    let folder = dir
        .path()
        .join(tradeledger::ledger::checkpoint::CHECKPOINT_DIR_NAME);
    std::fs::write(&folder, b"not a folder").unwrap();
    let wait_for = |what: &str, done: &dyn Fn(&tradeledger::ledger::handle::Health) -> bool| {
        let since = std::time::Instant::now();
        while !done(&journal.health()) {
            assert!(
                since.elapsed() < std::time::Duration::from_secs(30),
                "{what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    for ticket in 1..=10 {
        journal.append(open_trade(ticket)).await.unwrap();
    }
    wait_for("the failure is reported", &|h| {
        h.checkpoints.last_error.is_some() && !h.checkpoints.running
    });
    let health = journal.health();
    let error = health.checkpoints.last_error.as_ref().unwrap();
    assert!(
        error.message.contains(folder.to_str().unwrap()),
        "names the folder: {error}"
    );
    assert!(error.io_kind.is_some() && !error.corruption, "{error:?}");
    assert_eq!(
        (health.checkpoints.written, health.checkpoints.last_seq),
        (0, None)
    );
    assert_eq!(health.last_error, None, "appends did not fail");
    std::fs::remove_file(&folder).unwrap();
    // The next attempt comes after another interval of records: the append that completes
    // it starts one.
    for ticket in 11..=20 {
        let due = journal.health().checkpoints.next_automatic_at;
        assert!(due.is_some_and(|seq| seq > journal.health().head_seq));
        journal.append(open_trade(ticket)).await.unwrap();
    }
    let started = journal.health().checkpoints;
    assert!(started.running || started.written == 1, "{started:?}");
    wait_for("the next checkpoint is written", &|h| {
        h.checkpoints.written == 1 && !h.checkpoints.running
    });
    let checkpoints = journal.health().checkpoints;
    assert_eq!(checkpoints.last_error, None);
    assert!(
        checkpoints.last_seq.is_some_and(|seq| seq >= 20),
        "{checkpoints:?}"
    );
    assert!(checkpoints.last_bytes > 0);
    assert_eq!(journal.ledger().journal().head_seq(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_roll_segments_and_every_record_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        durability: Durability::Buffered,
        segment_size_bytes: 64 << 10,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let journal = JournalHandle::new(
        Ledger::create(dir.path(), &options).unwrap(),
        FailurePolicy::Halt,
    );
    for ticket in 1..=1_000 {
        journal.append(open_trade(ticket)).await.unwrap();
    }
    journal.close().await.unwrap();
    let segments = tradeledger::storage::reader::segment_paths(dir.path()).unwrap();
    assert!(
        segments.len() >= 4,
        "64 KiB segments rolled: {}",
        segments.len()
    );
    let report = tradeledger::storage::verify::verify(dir.path()).unwrap();
    assert_eq!(report.records, 2_000);
    assert_eq!(report.pending_links, 0);
}

/// A bot restarting on tokio: `JournalHandle::open` opens what an earlier handle wrote
/// (recovery, checkpoint, replay) off the runtime's workers, with the same state and an open
/// report; a folder without a journal is `NotAJournal`, one another writer holds is `Locked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_open_resumes_the_journal_an_earlier_handle_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    match JournalHandle::open(&path, OpenMode::default(), FailurePolicy::Halt).await {
        Err(Error::NotAJournal { .. }) => {}
        other => panic!("no journal yet, but: {:?}", other.map(|_| ())),
    }
    let options = JournalOptions {
        durability: Durability::Sync,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let first = JournalHandle::create(&path, options, FailurePolicy::Halt)
        .await
        .unwrap();
    for ticket in 1..=5 {
        first.append(open_trade(ticket)).await.unwrap();
    }
    match JournalHandle::open(&path, OpenMode::default(), FailurePolicy::Halt).await {
        Err(Error::Locked { .. }) => {}
        other => panic!("a second writer was not refused: {:?}", other.map(|_| ())),
    }
    let written = first.query(|state| state.clone());
    drop(first);

    let again = JournalHandle::open(&path, OpenMode::default(), FailurePolicy::Halt)
        .await
        .unwrap();
    assert_eq!(again.ledger().journal().head_seq(), 10);
    // Loaded from a checkpoint (the last handle's drop writes one) and replayed after it.
    let report = again.ledger().open_report();
    let loaded = report.checkpoint.as_ref().map_or(0, |c| c.seq);
    assert_eq!(loaded + report.replayed_records, 10, "{report:?}");
    assert!(again.query(|state| *state == written));
    again.append(open_trade(6)).await.unwrap();
    again.close().await.unwrap();
}
