//! The journal core end to end: append, reopen, roll, atomic batches, one writer, readers.

use tradeledger::model::event::Timestamp;
use tradeledger::storage::format::Durability;
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::storage::reader::JournalReader;
use tradeledger::{tools::sample, Error, Event};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + seconds * 1_000_000_000)
}

fn small(durability: Durability) -> JournalOptions {
    JournalOptions {
        durability,
        segment_size_bytes: 64 << 10,
        ..JournalOptions::default()
    }
}

fn events(from_ticket: u64, n: u64) -> Vec<Event> {
    (from_ticket..from_ticket + n)
        .map(|i| sample::trade_opened(i, t(i as i64)))
        .collect()
}

fn read_all(dir: &std::path::Path) -> Vec<Event> {
    JournalReader::open(dir)
        .unwrap()
        .records(1)
        .map(|r| r.unwrap().event)
        .collect()
}

#[test]
fn appended_batches_read_back_in_order_after_reopen_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let journal = Journal::create(&path, &small(Durability::Buffered)).unwrap();
    let mut expected = vec![];
    for batch in 0..700u64 {
        let batch_events = events(batch * 3 + 1, 1 + batch % 3);
        let appended = journal.append(&batch_events).unwrap();
        assert_eq!(appended.first_seq, expected.len() as u64 + 1);
        expected.extend(batch_events);
        assert_eq!(appended.last_seq, expected.len() as u64);
    }
    let in_process: Vec<Event> = journal
        .reader()
        .records(1)
        .map(|r| r.unwrap().event)
        .collect();
    assert_eq!(in_process, expected);
    journal.close().unwrap();
    let segments = tradeledger::storage::reader::segment_paths(&path).unwrap();
    assert!(
        segments.len() > 2,
        "64 KiB segments must roll: {}",
        segments.len()
    );
    assert_eq!(read_all(&path), expected);
    let report = tradeledger::storage::verify::verify(&path).unwrap();
    assert_eq!(report.records, expected.len() as u64);
    assert_eq!(report.pending_links, 0);
    assert!(report.torn_tail.is_none());

    let journal = Journal::open(&path, &OpenMode::default()).unwrap();
    assert_eq!(journal.head_seq(), expected.len() as u64);
    let next = journal.append(&events(10_000, 1)).unwrap();
    assert_eq!(next.first_seq, expected.len() as u64 + 1);
}

#[test]
fn records_from_a_sequence_number_start_there() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &small(Durability::Buffered)).unwrap();
    for i in 0..200 {
        journal.append(&events(i + 1, 1)).unwrap();
    }
    let seqs: Vec<u64> = journal
        .reader()
        .records(150)
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, (150..=200).collect::<Vec<_>>());
}

#[test]
fn a_second_writer_is_refused_while_readers_work() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &small(Durability::Sync)).unwrap();
    journal.append(&events(1, 2)).unwrap();
    let second = Journal::open(dir.path(), &OpenMode::default());
    assert!(
        matches!(second, Err(Error::Locked { .. })),
        "{:?}",
        second.err()
    );
    assert_eq!(read_all(dir.path()).len(), 2);
    journal.append(&events(3, 1)).unwrap();
    assert_eq!(read_all(dir.path()).len(), 3);
}

#[test]
fn a_batch_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &small(Durability::Sync)).unwrap();
    let big = events(1, 2_000);
    journal.append(&big).unwrap();
    journal.append(&events(5_000, 1)).unwrap();
    journal.close().unwrap();
    let all = read_all(dir.path());
    assert_eq!(all.len(), 2_001);
    assert_eq!(all[..2_000], big[..]);
    tradeledger::storage::verify::verify(dir.path()).unwrap();
}

#[test]
fn sync_mode_makes_every_append_durable_and_group_commits_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        std::sync::Arc::new(Journal::create(dir.path(), &small(Durability::Sync)).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|worker| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let appended = journal.append(&events(worker * 1000 + i + 1, 1)).unwrap();
                    assert!(journal.durable_seq() >= appended.last_seq);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(journal.head_seq(), 400);
    assert_eq!(journal.durable_seq(), 400);
}

#[test]
fn settings_live_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        durability: Durability::Periodic { interval_ms: 20 },
        segment_size_bytes: 128 << 10,
        ..JournalOptions::default()
    };
    Journal::create(dir.path(), &options)
        .unwrap()
        .close()
        .unwrap();
    let journal = Journal::open(dir.path(), &OpenMode::default()).unwrap();
    assert_eq!(
        journal.meta().durability,
        Durability::Periodic { interval_ms: 20 }
    );
    assert_eq!(journal.meta().segment_size_bytes, 128 << 10);
    journal.append(&events(1, 1)).unwrap();
    // Nothing here flushes: only the periodic flush can make the append durable.
    wait_until("the periodic flush makes the append durable", || {
        journal.durable_seq() == 1
    });
}

/// Polls `done` until it holds; fails the test after 30 s (a loaded machine may be slow, a
/// broken background thread never gets there).
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let since = std::time::Instant::now();
    while !done() {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(30),
            "{what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn creating_over_a_non_empty_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let result = Journal::create(dir.path(), &JournalOptions::default());
    assert!(matches!(result, Err(Error::NotEmpty { .. })));
    let path = dir.path().join("j");
    Journal::create(&path, &small(Durability::Buffered))
        .unwrap()
        .close()
        .unwrap();
    assert!(matches!(
        Journal::create(&path, &JournalOptions::default()),
        Err(Error::AlreadyExists { .. })
    ));
}

/// A crash or a failure (a full disk) while a journal is being created must not leave a
/// half-made journal. The first segment is written before `journal.meta`, so every state an
/// interrupted creation can leave is "no journal yet", and the next creation cleans it up.
/// (Before, `journal.meta` came first: a kill right after it left a folder that every command
/// reported as damaged, "the journal has no segment file", and that no creation would reuse.)
#[test]
fn an_interrupted_creation_leaves_no_journal_and_the_next_creation_succeeds() {
    let template = tempfile::tempdir().unwrap();
    let created = template.path().join("j");
    Journal::create(&created, &JournalOptions::default())
        .unwrap()
        .close()
        .unwrap();
    let first_segment = std::fs::read(created.join("00000000000000000001.seg")).unwrap();
    let states: [&[(&str, &[u8])]; 4] = [
        &[("LOCK", b"")],
        &[("LOCK", b""), ("next.seg.prepared", &[0u8; 1000])],
        &[("LOCK", b""), ("00000000000000000001.seg", &first_segment)],
        &[
            ("LOCK", b""),
            ("00000000000000000001.seg", &first_segment),
            ("journal.meta.tmp", &[7u8; 60]),
        ],
    ];
    for (i, files) in states.iter().enumerate() {
        let dir = template.path().join(format!("interrupted-{i}"));
        std::fs::create_dir(&dir).unwrap();
        for (name, bytes) in *files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        assert!(
            matches!(JournalReader::open(&dir), Err(Error::NotAJournal { .. })),
            "state {i}: readers see no journal"
        );
        let journal = Journal::create(&dir, &JournalOptions::default())
            .unwrap_or_else(|e| panic!("state {i}: {e}"));
        journal
            .append(&[sample::signal(1, Timestamp::from_nanos(1))])
            .unwrap();
        journal.close().unwrap();
        tradeledger::storage::verify::verify(&dir).unwrap();
    }
    // A first segment that holds records is never taken for a leftover.
    let dir = template.path().join("records-without-meta");
    std::fs::create_dir(&dir).unwrap();
    let journal = Journal::create(&created, &JournalOptions::default());
    assert!(matches!(journal, Err(Error::AlreadyExists { .. })));
    let with_records = template.path().join("with-records");
    let journal = Journal::create(&with_records, &JournalOptions::default()).unwrap();
    journal
        .append(&[sample::signal(1, Timestamp::from_nanos(1))])
        .unwrap();
    journal.close().unwrap();
    std::fs::copy(
        with_records.join("00000000000000000001.seg"),
        dir.join("00000000000000000001.seg"),
    )
    .unwrap();
    assert!(matches!(
        Journal::create(&dir, &JournalOptions::default()),
        Err(Error::NotEmpty { .. })
    ));
    assert!(dir.join("00000000000000000001.seg").exists());
}

/// Rolls that come faster than the background thread prepares segments. The background
/// thread used to prepare every segment under one name, removing whatever file had it first:
/// when two preparations were queued, it could unlink the file a roll was about to rename
/// into place. The roll then activated the new zero-filled file under that name (its header
/// often overwritten by the zero fill: "bad magic bytes") while the writer kept appending into
/// the mapping of the unlinked file, so every record after the roll was lost.
#[test]
fn rapid_rolls_never_lose_records() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path(), &small(durability)).unwrap();
        let mut appended = 0u64;
        for i in 0..3000u64 {
            let batch = events(i * 8 + 1, 1 + i % 8);
            appended += batch.len() as u64;
            journal.append(&batch).unwrap();
        }
        assert!(
            tradeledger::storage::reader::segment_paths(dir.path())
                .unwrap()
                .len()
                > 20
        );
        journal.close().unwrap();
        let report = tradeledger::storage::verify::verify(dir.path()).unwrap();
        assert_eq!(report.records, appended, "{durability}");
        assert_eq!(read_all(dir.path()).len() as u64, appended);
    }
}

/// In Buffered mode nothing is synced on the append path, but each rolled segment is synced
/// by its seal in the background: the durable sequence number reaches the end of every rolled
/// segment without any flush, and never passes the head.
#[test]
fn buffered_rolled_segments_become_durable_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &small(Durability::Buffered)).unwrap();
    let mut ticket = 1;
    while tradeledger::storage::reader::segment_paths(dir.path())
        .unwrap()
        .len()
        < 4
    {
        journal.append(&events(ticket, 5)).unwrap();
        ticket += 5;
    }
    let active = tradeledger::storage::reader::segment_paths(dir.path())
        .unwrap()
        .pop()
        .unwrap();
    let active_first_seq: u64 = active
        .file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.parse().ok())
        .unwrap();
    wait_until(
        "the background seal makes the rolled segments durable",
        || journal.durable_seq() >= active_first_seq - 1,
    );
    assert!(journal.durable_seq() <= journal.head_seq());
    journal.close().unwrap();
}

/// A new journal's segments start at 1 MiB and double up to the configured size (a small
/// journal takes little disk), and a closed journal keeps no segment prepared for the next
/// roll.
#[test]
fn segments_grow_from_one_mebibyte_to_the_configured_size_and_close_keeps_no_prepared_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("j");
    let options = JournalOptions {
        segment_size_bytes: 4 << 20,
        ..small(Durability::Buffered)
    };
    let journal = Journal::create(&dir, &options).unwrap();
    let mut appended = 0;
    while tradeledger::storage::reader::segment_paths(&dir)
        .unwrap()
        .len()
        < 5
    {
        journal.append(&events(appended + 1, 1000)).unwrap();
        appended += 1000;
    }
    journal.close().unwrap();
    let sizes: Vec<u64> = tradeledger::storage::reader::segment_paths(&dir)
        .unwrap()
        .iter()
        .map(|path| std::fs::metadata(path).unwrap().len())
        .collect();
    let mib = 1 << 20;
    assert_eq!(sizes, [mib, 2 * mib, 4 * mib, 4 * mib, 4 * mib]);
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("next.seg.prepared"))
        .collect();
    assert!(left.is_empty(), "left after close: {left:?}");
    assert_eq!(read_all(&dir).len() as u64, appended);
}

/// A replica built from another journal's records as stored (`Follower::poll_raw_up_to`,
/// `Journal::append_stored`), in segments of another size, holds the same records and the
/// same record anchor, while the layout anchor differs.
#[test]
fn records_appended_as_stored_make_a_replica_with_the_same_record_anchor() {
    use tradeledger::storage::reader::Follower;
    use tradeledger::storage::verify;
    let (origin, replica) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let journal = Journal::create(origin.path(), &small(Durability::Buffered)).unwrap();
    for batch in 0..300 {
        journal
            .append(&events(batch * 3 + 1, 1 + batch % 3))
            .unwrap();
    }
    journal.close().unwrap();
    let id = JournalReader::open(origin.path())
        .unwrap()
        .meta()
        .journal_id;
    let options = JournalOptions {
        segment_size_bytes: 128 << 10,
        journal_id: Some(id),
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let copy = Journal::create(replica.path(), &options).unwrap();
    let mut follower = Follower::open(origin.path(), Some(1)).unwrap();
    let records = follower.poll_raw_up_to(usize::MAX).unwrap();
    let mut batch: Vec<&[u8]> = vec![];
    for record in &records {
        batch.push(&record.bytes);
        if record.batch_end {
            copy.append_stored(&batch).unwrap();
            batch.clear();
        }
    }
    let head = copy.head_seq();
    assert_eq!(head, records.len() as u64);
    copy.close().unwrap();

    let (a, b) = (
        verify::status(origin.path()).unwrap(),
        verify::status(replica.path()).unwrap(),
    );
    assert_eq!(a.record_anchor, b.record_anchor);
    assert_ne!(a.head_anchor, b.head_anchor, "the segment layouts differ");
    assert_ne!(a.segments, b.segments);
    let anchor = verify::RecordAnchor::parse(&a.record_anchor)
        .unwrap()
        .unwrap();
    verify::verify_record_anchor(replica.path(), &anchor).unwrap();
    let read = |dir: &std::path::Path| -> Vec<_> {
        let reader = JournalReader::open(dir).unwrap();
        reader.records(1).map(|r| r.unwrap()).collect()
    };
    assert_eq!(read(origin.path()), read(replica.path()));
}

/// Stored records that do not continue the journal are refused whole: another journal's
/// (the checksum fails with this seed), a seq out of order, a batch without its end, a
/// flipped bit.
#[test]
fn stored_records_that_do_not_continue_the_journal_are_refused() {
    use tradeledger::storage::reader::Follower;
    let (origin, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let journal = Journal::create(origin.path(), &small(Durability::Buffered)).unwrap();
    journal.append(&events(1, 3)).unwrap();
    journal.append(&events(4, 2)).unwrap();
    let id = journal.meta().journal_id;
    let records = Follower::open(origin.path(), Some(1))
        .unwrap()
        .poll_raw_up_to(usize::MAX)
        .unwrap();
    let bytes: Vec<&[u8]> = records.iter().map(|r| r.bytes.as_slice()).collect();
    let refused = |copy: &Journal, frames: &[&[u8]], why: &str| {
        match copy.append_stored(frames) {
            Err(Error::StoredBatch { reason, .. }) => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected a refusal ({why}), got {other:?}"),
        }
        assert_eq!(copy.head_seq(), 0, "nothing appended");
    };
    let stranger = Journal::create(other.path(), &small(Durability::Buffered)).unwrap();
    refused(&stranger, &bytes[..3], "checksum");
    drop(stranger);
    let replica = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        journal_id: Some(id),
        ..small(Durability::Buffered)
    };
    let copy = Journal::create(replica.path(), &options).unwrap();
    refused(&copy, &bytes[3..5], "next seq is 1");
    refused(&copy, &bytes[..2], "batch-end flag");
    refused(&copy, &[bytes[0], bytes[2], bytes[1]], "carries seq");
    let mut flipped = bytes[1].to_vec();
    flipped[45] ^= 1;
    refused(&copy, &[bytes[0], &flipped, bytes[2]], "checksum");
    copy.append_stored(&bytes[..3]).unwrap();
    copy.append_stored(&bytes[3..5]).unwrap();
    assert_eq!(copy.head_seq(), 5);
}

/// The record anchor is BLAKE3 of the domain tag followed by every frame as stored
/// (`docs/FORMAT.md` §7), however the hashing gathers them: computed here from the frames
/// in one piece, over several segments and far more than one gathering buffer.
#[test]
fn the_record_hash_is_blake3_of_the_tag_and_the_frames() {
    let temp = tempfile::tempdir().unwrap();
    let journal = Journal::create(temp.path(), &small(Durability::Buffered)).unwrap();
    for batch in 0..400 {
        journal.append(&events(batch * 5 + 1, 5)).unwrap();
    }
    journal.close().unwrap();
    let reader = JournalReader::open(temp.path()).unwrap();
    let mut stream = tradeledger::storage::format::RECORD_ANCHOR_TAG.to_vec();
    for record in reader.raw_records(1) {
        stream.extend_from_slice(&record.unwrap().bytes);
    }
    assert!(
        stream.len() > 200 << 10,
        "several gathering buffers: {}",
        stream.len()
    );
    for seq in [1, 999, 2000] {
        let mut upto = tradeledger::storage::format::RECORD_ANCHOR_TAG.to_vec();
        for record in reader.raw_records(1).take(seq as usize) {
            upto.extend_from_slice(&record.unwrap().bytes);
        }
        assert_eq!(
            reader.record_hash(seq).unwrap(),
            *blake3::hash(&upto).as_bytes()
        );
    }
    assert_eq!(
        reader.record_hash(2000).unwrap(),
        *blake3::hash(&stream).as_bytes()
    );
}

/// A record anchor printed earlier still verifies after the journal has grown (across
/// segments); the same seq with another hash, or a seq beyond the head, does not.
#[test]
fn a_record_anchor_printed_earlier_verifies_after_the_journal_grew() {
    use tradeledger::storage::verify::{self, RecordAnchor};
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &small(Durability::Buffered)).unwrap();
    journal.append(&events(1, 2_000)).unwrap();
    journal.close().unwrap();
    let earlier = verify::status(dir.path()).unwrap().record_anchor;
    let earlier = RecordAnchor::parse(&earlier).unwrap().unwrap();
    let journal = Journal::open(dir.path(), &OpenMode::default()).unwrap();
    for n in 0..10 {
        journal.append(&events(2_001 + n * 2_000, 2_000)).unwrap();
    }
    journal.close().unwrap();
    let report = verify::verify_record_anchor(dir.path(), &earlier).unwrap();
    assert!(report.segments > 1 && report.last_seq > Some(earlier.seq));
    let at_head = RecordAnchor::parse(&report.record_anchor).unwrap().unwrap();
    assert_ne!(at_head.hash, earlier.hash);
    verify::verify_record_anchor(dir.path(), &at_head).unwrap();

    let mut other = earlier;
    other.hash[31] ^= 1;
    let Err(Error::Corrupt(damage)) = verify::verify_record_anchor(dir.path(), &other) else {
        panic!("another hash at seq {} was accepted", other.seq);
    };
    assert!(damage.reason.contains("another history"), "{damage}");
    let hex = blake3::Hash::from(at_head.hash).to_hex();
    let beyond = format!("r:{}:{hex}", at_head.seq + 1);
    let beyond = RecordAnchor::parse(&beyond).unwrap().unwrap();
    let Err(Error::Corrupt(damage)) = verify::verify_record_anchor(dir.path(), &beyond) else {
        panic!("an anchor beyond the head was accepted");
    };
    assert!(damage.reason.contains("journal ends at seq"), "{damage}");
}
