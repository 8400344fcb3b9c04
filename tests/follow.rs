//! `Follower` (what `tail` uses) reads on from where it stopped: whole batches only, in
//! order, across segment rolls, while a writer appends.

use std::os::unix::fs::FileExt;

use tradeledger::codec::{self, CODEC_POSTCARD};
use tradeledger::event::Timestamp;
use tradeledger::format::{
    frame_size, read_frame, segment_file_name, write_frame, FrameHeader, FLAG_BATCH_END,
    SEGMENT_HEADER_SIZE,
};
use tradeledger::journal::{Journal, JournalOptions};
use tradeledger::reader::{Follower, JournalReader};
use tradeledger::{sample, Durability};

fn batch(n: u64) -> Vec<tradeledger::Event> {
    sample::signal_and_trade(n, Timestamp::from_nanos(n as i64 * 1_000_000_000))
}

fn seqs(records: &[tradeledger::reader::Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

#[test]
fn follows_a_live_writer_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        durability: Durability::Buffered,
        segment_size_bytes: 64 << 10,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let journal = Journal::create(dir.path(), &options).unwrap();
    let mut from_start = Follower::open(dir.path(), Some(1)).unwrap();
    assert!(from_start.poll().unwrap().is_empty());
    for n in 1..=3 {
        journal.append(&batch(n)).unwrap();
    }
    let mut from_end = Follower::open(dir.path(), None).unwrap();
    let mut seen = seqs(&from_start.poll().unwrap());
    assert_eq!(seen, (1..=6).collect::<Vec<_>>());
    // Enough to roll several times; poll now and then, as tail does.
    let mut seen_from_end = vec![];
    for n in 4..=600 {
        journal.append(&batch(n)).unwrap();
        if n % 37 == 0 {
            seen.extend(seqs(&from_start.poll().unwrap()));
            seen_from_end.extend(seqs(&from_end.poll().unwrap()));
        }
    }
    seen.extend(seqs(&from_start.poll().unwrap()));
    seen_from_end.extend(seqs(&from_end.poll().unwrap()));
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count();
    assert!(
        segments >= 3,
        "the test must cross segment rolls ({segments} segments)"
    );
    assert_eq!(seen, (1..=1200).collect::<Vec<_>>());
    assert_eq!(seen_from_end, (7..=1200).collect::<Vec<_>>());
    // The records are the ones appended.
    let reader = JournalReader::open(dir.path()).unwrap();
    let last: Vec<_> = reader.records(1199).map(|r| r.unwrap().event).collect();
    assert_eq!(last, batch(600));
}

/// The end of the data in the only segment of `dir`.
fn data_end(bytes: &[u8], seed: u32) -> usize {
    let mut at = SEGMENT_HEADER_SIZE;
    while let Ok(frame) = read_frame(&bytes[at..], seed) {
        at += frame.size;
    }
    at
}

#[test]
fn a_batch_is_handed_out_only_once_its_last_frame_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    Journal::create(dir.path(), &options)
        .unwrap()
        .append(&batch(1))
        .unwrap();
    let seed = JournalReader::open(dir.path()).unwrap().meta().frame_seed();
    let mut follower = Follower::open(dir.path(), None).unwrap();
    assert!(follower.poll().unwrap().is_empty());

    // Another writer's batch of two, written one frame at a time.
    let path = dir.path().join(segment_file_name(1));
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut at = data_end(&std::fs::read(&path).unwrap(), seed) as u64;
    let events = batch(2);
    for (i, event) in events.iter().enumerate() {
        let mut payload = vec![];
        let (kind, schema) = codec::encode(event, &mut payload);
        let header = FrameHeader {
            seq: 3 + i as u64,
            recorded_at: Timestamp::from_nanos(5),
            durable_seq: 0,
            kind: kind as u16,
            codec: CODEC_POSTCARD,
            schema,
            flags: if i == 1 { FLAG_BATCH_END } else { 0 },
        };
        let mut frame = vec![0; frame_size(payload.len())];
        write_frame(&mut frame, &header, &payload, seed);
        file.write_all_at(&frame, at).unwrap();
        at += frame.len() as u64;
        let records = follower.poll().unwrap();
        if i == 0 {
            assert!(records.is_empty(), "half a batch was handed out");
        } else {
            assert_eq!(seqs(&records), vec![3, 4]);
            let events: Vec<_> = records.into_iter().map(|r| r.event).collect();
            assert_eq!(events, batch(2));
        }
    }
}
