//! The format, pinned: `fixtures/format-v1/` must read back to the same events forever, and
//! writing the same events must produce the same bytes. Damaged copies under
//! `fixtures/damaged/` must each give their documented result (`docs/RECOVERY.md`).
//!
//! `TRADELEDGER_WRITE_FIXTURES=1 cargo test --test golden` rewrites the fixtures; only do that
//! with a new format version.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use tradeledger::model::event::*;
use tradeledger::storage::format::Durability;
use tradeledger::storage::journal::Clock;
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::storage::reader::JournalReader;
use tradeledger::{tools::sample, Error};

const GOLDEN_ID: [u8; 16] = *b"golden-journal-1";
const FOREIGN_ID: [u8; 16] = *b"another-journal!";
const BATCHES: u64 = 700;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_nanos(1_500_000_000_000_000_000 + seconds * 1_000_000_000 + 123_456_789)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// One batch per step, cycling through every event kind with valid lifecycles.
fn golden_batches() -> Vec<Vec<Event>> {
    (1..=BATCHES)
        .map(|i| match i % 5 {
            0 => vec![sample::account_snapshot(7, t(i as i64), "10000.25")],
            1 => vec![
                sample::signal(i, t(i as i64)),
                sample::trade_opened(i, t(i as i64)),
            ],
            2 => vec![
                Event::TradeModified({
                    let mut modify = TradeModified::new(i - 1, t(i as i64));
                    modify.stop_loss = PriceUpdate::Set(dec("1.10300"));
                    modify.take_profit = PriceUpdate::Remove;
                    modify
                }),
                sample::trade_closed(i - 1, t(i as i64 + 60), "-12.5"),
            ],
            3 => vec![
                Event::OrderFailed({
                    let mut failed = OrderFailed::new(
                        i,
                        "GBPUSD",
                        TradeType::Sell,
                        dec("1.00"),
                        dec("1.2701"),
                        t(i as i64),
                    );
                    failed.reason = Some("no money".into());
                    failed.account_number = Some(7);
                    failed
                }),
                Event::Signal({
                    let mut signal = Signal::new(
                        i,
                        "USDJPY",
                        SignalType::Hold,
                        t(i as i64),
                        dec("151.123"),
                        0.5,
                        "rsi",
                        "M15",
                    );
                    signal.ml_enhanced = true;
                    signal.ml_confidence = Some(0.25);
                    signal.ml_agreed = Some(false);
                    signal
                }),
            ],
            _ => {
                let mut pending = sample::trade_opened(i, t(i as i64));
                if let Event::TradeOpened(open) = &mut pending {
                    open.status = OpenStatus::Pending;
                    open.signal_id = None;
                }
                let follow = if i % 2 == 0 {
                    Event::OrderFilled(OrderFilled::new(i, dec("1.10500"), t(i as i64 + 5)))
                } else {
                    Event::OrderCancelled(OrderCancelled::new(i, t(i as i64 + 5)))
                };
                let link = Event::SignalExecuted({
                    let mut event = SignalExecuted::new(i - 1, i - 3);
                    event.execution_reason = Some("late link".into());
                    event
                });
                vec![pending, follow, link]
            }
        })
        .collect()
}

fn open_journal(dir: &Path, id: [u8; 16]) -> Journal {
    // Sync mode: every frame's durable_seq claim is the previous batch, deterministically.
    let options = JournalOptions {
        durability: Durability::Sync,
        segment_size_bytes: 64 << 10,
        checkpoint_every_records: 0,
        flags: 0,
        journal_id: Some(id),
        clock: Clock::Fixed(t(0)),
        ..Default::default()
    };
    let journal = Journal::create(dir, &options).unwrap();
    for batch in golden_batches() {
        journal.append(&batch).unwrap();
    }
    journal
}

fn write_journal(dir: &Path, id: [u8; 16]) {
    open_journal(dir, id).close().unwrap();
}

/// The files that make up the format (not the lock file).
fn format_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".seg") || name == "journal.meta")
        .map(|name| (name.clone(), std::fs::read(dir.join(&name)).unwrap()))
        .collect();
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in format_files(from) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

fn segment_names(dir: &Path) -> Vec<String> {
    format_files(dir)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.ends_with(".seg"))
        .collect()
}

fn write_damaged_fixtures(golden: &Path) {
    let damaged = fixtures().join("damaged");
    let _ = std::fs::remove_dir_all(&damaged);
    let segments = segment_names(golden);
    // Torn tail: the writer process died (no close) and the second half of the last frame
    // never reached the disk.
    let torn = damaged.join("torn-tail");
    let live = tempfile::tempdir().unwrap();
    let journal = open_journal(&live.path().join("j"), GOLDEN_ID);
    copy_dir(&live.path().join("j"), &torn);
    drop(journal);
    let last = torn.join(segments.last().unwrap());
    let mut bytes = std::fs::read(&last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    bytes[end - 30..end].fill(0);
    std::fs::write(&last, bytes).unwrap();
    // One flipped byte in the middle of the first (sealed) segment.
    let flipped = damaged.join("flipped-byte");
    copy_dir(golden, &flipped);
    let first = flipped.join(&segments[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[4096 + 20_000] ^= 0x01;
    std::fs::write(&first, bytes).unwrap();
    // The middle segment is gone.
    let missing = damaged.join("missing-segment");
    copy_dir(golden, &missing);
    std::fs::remove_file(missing.join(&segments[1])).unwrap();
    // The middle segment comes from another journal with the same events.
    let foreign_source = tempfile::tempdir().unwrap();
    let foreign_journal = foreign_source.path().join("j");
    write_journal(&foreign_journal, FOREIGN_ID);
    let foreign = damaged.join("foreign-segment");
    copy_dir(golden, &foreign);
    std::fs::copy(
        foreign_journal.join(&segments[1]),
        foreign.join(&segments[1]),
    )
    .unwrap();
}

#[test]
fn golden_journal_reads_back_the_same_events_and_rewrites_to_the_same_bytes() {
    let golden = fixtures().join("format-v1");
    let scratch = tempfile::tempdir().unwrap();
    let written = scratch.path().join("j");
    write_journal(&written, GOLDEN_ID);
    if std::env::var_os("TRADELEDGER_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        copy_dir(&written, &golden);
        write_damaged_fixtures(&golden);
    }
    let expected: Vec<Event> = golden_batches().concat();
    let read: Vec<Event> = JournalReader::open(&golden)
        .unwrap()
        .records(1)
        .map(|r| r.unwrap().event)
        .collect();
    assert_eq!(read, expected);
    assert!(
        segment_names(&golden).len() >= 3,
        "the golden journal spans several segments"
    );
    let golden_files = format_files(&golden);
    let written_files = format_files(&written);
    assert_eq!(
        golden_files.iter().map(|f| &f.0).collect::<Vec<_>>(),
        written_files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, golden_bytes), (_, written_bytes)) in golden_files.iter().zip(&written_files) {
        let first_difference = golden_bytes
            .iter()
            .zip(written_bytes)
            .position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "{name} differs from the golden bytes"
        );
        assert_eq!(golden_bytes.len(), written_bytes.len(), "{name} length");
    }
    let report = tradeledger::storage::verify::verify(&golden).unwrap();
    assert_eq!(report.records, expected.len() as u64);
}

fn damaged(name: &str) -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join(name);
    copy_dir(&fixtures().join("damaged").join(name), &dir);
    (scratch, dir)
}

fn corruption(error: Error) -> tradeledger::error::Corruption {
    match error {
        Error::Corrupt(c) => *c,
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn torn_tail_fixture_is_a_warning_for_verify_and_cut_by_the_writer() {
    let (_scratch, dir) = damaged("torn-tail");
    let all: Vec<Event> = golden_batches().concat();
    let last_batch_len = golden_batches().last().unwrap().len();
    let report = tradeledger::storage::verify::verify(&dir).unwrap();
    let torn = report.torn_tail.expect("verify reports the torn tail");
    assert_eq!(torn.last_seq_kept, (all.len() - last_batch_len) as u64);
    let read: Vec<Event> = JournalReader::open(&dir)
        .unwrap()
        .records(1)
        .map(|r| r.unwrap().event)
        .collect();
    assert_eq!(read, all[..all.len() - last_batch_len]);
    let journal = Journal::open(&dir, &OpenMode::default()).unwrap();
    let cut = journal
        .recovery_report()
        .cut
        .clone()
        .expect("the writer cuts the tail");
    assert_eq!(cut.last_seq_kept, torn.last_seq_kept);
    assert!(cut.saved_to.exists());
    assert_eq!(journal.head_seq(), torn.last_seq_kept);
}

#[test]
fn flipped_byte_fixture_is_damage_named_by_file_offset_and_seq() {
    let (_scratch, dir) = damaged("flipped-byte");
    let error = corruption(tradeledger::storage::verify::verify(&dir).unwrap_err());
    assert!(error.file.ends_with("00000000000000000001.seg"), "{error}");
    assert!(error.seq.is_some(), "{error}");
    assert!(
        error.offset >= 4096 && error.offset <= 4096 + 20_000,
        "{error}"
    );
    let reader = JournalReader::open(&dir).unwrap();
    let failure = reader
        .records(1)
        .find_map(|r| r.err())
        .expect("reading hits the damage");
    let read_error = corruption(failure);
    assert_eq!((read_error.file, read_error.seq), (error.file, error.seq));
}

#[test]
fn missing_segment_fixture_is_refused_on_open() {
    let (_scratch, dir) = damaged("missing-segment");
    let error = corruption(Journal::open(&dir, &OpenMode::default()).err().unwrap());
    assert!(error.reason.contains("missing"), "{error}");
    corruption(tradeledger::storage::verify::verify(&dir).unwrap_err());
    corruption(
        Journal::open(
            &dir,
            &OpenMode {
                salvage: true,
                ..OpenMode::default()
            },
        )
        .err()
        .unwrap(),
    );
}

#[test]
fn foreign_segment_fixture_is_refused_on_open() {
    let (_scratch, dir) = damaged("foreign-segment");
    let error = corruption(JournalReader::open(&dir).err().unwrap());
    assert!(error.reason.contains("another journal"), "{error}");
    assert!(
        error.file.ends_with(segment_names(&dir)[1].as_str()),
        "{error}"
    );
}
