//! `Follower` (what `tail` uses) reads on from where it stopped: whole batches only, in
//! order, across segment rolls, while a writer appends.

use std::os::unix::fs::FileExt;

use tradeledger::model::codec::{self, CODEC_POSTCARD};
use tradeledger::model::event::Timestamp;
use tradeledger::storage::format::{
    frame_size, read_frame, segment_file_name, write_frame, FrameHeader, FLAG_BATCH_END,
    SEGMENT_HEADER_SIZE,
};
use tradeledger::storage::journal::{Journal, JournalOptions};
use tradeledger::storage::reader::{Follower, JournalReader};
use tradeledger::{tools::sample, Durability};

fn batch(n: u64) -> Vec<tradeledger::Event> {
    sample::signal_and_trade(n, Timestamp::from_nanos(n as i64 * 1_000_000_000))
}

fn seqs(records: &[tradeledger::storage::reader::Record]) -> Vec<u64> {
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
/// `poll_up_to` bounds a poll by whole batches: it stops after the batch that reaches the
/// limit, never inside one, across segment rolls, and hands every record out once.
#[test]
fn poll_up_to_stops_at_a_batch_end() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        durability: Durability::Buffered,
        segment_size_bytes: 64 << 10,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let journal = Journal::create(dir.path(), &options).unwrap();
    let mut batch_ends = vec![];
    for n in 1..=300 {
        let mut events = batch(n);
        if n % 3 == 0 {
            events.extend(batch(n + 1000)); // batches of 2 and of 4 records
        }
        batch_ends.push(journal.append(&events).unwrap().last_seq);
    }
    let mut follower = Follower::open(dir.path(), Some(1)).unwrap();
    let mut seen = vec![];
    for limit in [1, 3, 5, 50].into_iter().cycle() {
        let records = follower.poll_up_to(limit).unwrap();
        let Some(last) = records.last() else { break };
        assert!(
            batch_ends.contains(&last.seq),
            "poll ended inside a batch at {}",
            last.seq
        );
        let previous_end = batch_ends.iter().copied().filter(|&e| e < last.seq).max();
        let last_batch = (last.seq - previous_end.unwrap_or(0)) as usize;
        assert!(
            records.len() - last_batch < limit,
            "a poll went on past its limit"
        );
        seen.extend(seqs(&records));
    }
    assert_eq!(seen, (1..=*batch_ends.last().unwrap()).collect::<Vec<_>>());
}

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

// ---------------------------------------------------------------------------------------
// A model-based test: a writer with random pauses, rolls, oversized batches, closes and
// reopens, torn tails cut by recovery and automatic checkpoints, followed by two followers;
// what they deliver is compared with what was committed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tradeledger::ledger::Ledger;
use tradeledger::rng::SplitMix64 as Rng;
use tradeledger::storage::journal::OpenMode;
use tradeledger::storage::reader::{FollowOptions, Record};

const MODEL_SEGMENT_BYTES: u64 = 64 << 10;
/// Pairs of events in a batch larger than a whole segment.
const OVERSIZED_PAIRS: u64 = 250;

/// One committed batch: its first seq and its events.
type Batch = (u64, Vec<tradeledger::Event>);

/// What the writer committed, and whether it is done; and, published by the test for the
/// writer, how often each follower (once it exists) has opened the journal afresh.
#[derive(Default)]
struct Committed {
    batches: Vec<Batch>,
    done: bool,
    follower_reopens: [Option<u64>; 2],
}

/// Writes frames for `events` at the end of the data of the last segment of `dir`, starting
/// at `first_seq`, without a batch-end flag: the torn tail a writer killed in the middle of
/// a batch leaves. Returns false when they do not fit.
fn write_torn_batch(dir: &std::path::Path, first_seq: u64, events: &[tradeledger::Event]) -> bool {
    let seed = JournalReader::open(dir).unwrap().meta().frame_seed();
    let last = tradeledger::storage::reader::segment_paths(dir)
        .unwrap()
        .pop()
        .unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let mut at = data_end(&bytes, seed);
    let mut frames = vec![];
    for (i, event) in events.iter().enumerate() {
        let mut payload = vec![];
        let (kind, schema) = codec::encode(event, &mut payload);
        let header = FrameHeader {
            seq: first_seq + i as u64,
            recorded_at: Timestamp::from_nanos(7),
            durable_seq: 0,
            kind: kind as u16,
            codec: CODEC_POSTCARD,
            schema,
            flags: 0,
        };
        let mut frame = vec![0; frame_size(payload.len())];
        write_frame(&mut frame, &header, &payload, seed);
        frames.push((at, frame));
        at += frame_size(payload.len());
    }
    if at > bytes.len() {
        return false;
    }
    let file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    for (at, frame) in frames {
        file.write_all_at(&frame, at as u64).unwrap();
    }
    true
}

/// A read-only look (`verify`, `JournalReader`) reports a torn tail exactly where the next
/// writer's open cuts it: the same segment, offset, last record kept and bytes.
#[test]
fn a_read_only_look_reports_the_torn_tail_the_writer_then_cuts() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the torn tail is in the last of several, after sealed ones.
    let options = JournalOptions {
        checkpoint_every_records: 0,
        segment_size_bytes: 64 << 10,
        ..JournalOptions::default()
    };
    let journal = Journal::create(dir.path(), &options).unwrap();
    let batches = 1200;
    for n in 1..=batches {
        journal.append(&batch(n)).unwrap();
    }
    journal.close().unwrap();
    let segments = tradeledger::storage::reader::segment_paths(dir.path()).unwrap();
    assert!(segments.len() > 2, "{} segments", segments.len());
    let head = 2 * batches;
    assert!(write_torn_batch(dir.path(), head + 1, &batch(batches + 1)));

    let report = tradeledger::storage::verify::verify(dir.path()).unwrap();
    assert_eq!(report.last_seq, Some(head));
    let torn = report.torn_tail.expect("verify reports the torn tail");
    let reader = JournalReader::open(dir.path()).unwrap();
    assert_eq!(reader.torn_tail(), Some(&torn));
    let cut = Journal::open(dir.path(), &Default::default())
        .unwrap()
        .recovery_report()
        .cut
        .clone()
        .expect("the writer cuts it");
    assert_eq!(
        (&torn.segment, torn.offset, torn.last_seq_kept, torn.bytes),
        (&cut.segment, cut.offset, cut.last_seq_kept, cut.bytes_cut)
    );
    assert_eq!(&torn.segment, segments.last().unwrap());
    assert_eq!((torn.last_seq_kept, torn.segments_after), (head, 0));
    assert!(torn.bytes > 0 && !torn.later_records);
}

/// What the writer's script did, to make sure each case covers what it is meant to.
#[derive(Debug, Default)]
struct Script {
    oversized: u64,
    reopens: u64,
    torn_tails_cut: u64,
}

/// The writer's side of one case: a script drawn from `seed`. Every case appends an
/// oversized batch, reopens the writer and has a torn tail cut at least once.
fn run_writer(
    dir: &std::path::Path,
    seed: u64,
    resync_after: Duration,
    committed: &Mutex<Committed>,
    actions: u64,
) -> Script {
    let mut rng = Rng::new(seed);
    let mut script = Script::default();
    // From two thirds on, torn tails are written until one is seen by both followers: the
    // writer holds the torn bytes in place until each follower has found them blocking its
    // way and opened the journal afresh. Without that wait, whether a follower looks at
    // them at all is down to thread timing.
    let mut torn_tail_to_show = false;
    let mut ledger = Some(Ledger::open(dir, &OpenMode::default()).unwrap());
    let mut n = 1_000;
    let commit = |ledger: &Ledger, pairs: u64, n: &mut u64| {
        let events: Vec<_> = (0..pairs).flat_map(|i| batch(*n + i)).collect();
        *n += pairs;
        let appended = ledger.append(&events).unwrap();
        let mut committed = committed.lock().unwrap();
        committed.batches.push((appended.first_seq, events));
    };
    // Now and then the very first batch is oversized: it replaces the empty active segment
    // that a follower already reads.
    if rng.below(2) == 0 {
        commit(ledger.as_ref().unwrap(), OVERSIZED_PAIRS, &mut n);
        script.oversized += 1;
    }
    for action in 0..actions {
        let current = ledger.as_ref().unwrap();
        if action == 2 * actions / 3 {
            torn_tail_to_show = true;
        }
        let draw = match action {
            a if a == actions / 3 => 66,
            a if a == actions / 2 => 90,
            // A torn tail that did not fit is followed by a commit that may roll on.
            a if torn_tail_to_show => [99, 0][(a % 2) as usize],
            _ => rng.below(100),
        };
        match draw {
            0..=64 => commit(current, 1 + rng.below(4), &mut n),
            65..=67 => {
                commit(current, OVERSIZED_PAIRS, &mut n);
                script.oversized += 1;
            }
            68..=87 => {
                let pause = rng.below(3 * resync_after.as_micros() as u64);
                std::thread::sleep(Duration::from_micros(pause));
            }
            88..=94 => {
                ledger.take().unwrap().close().unwrap();
                if rng.below(2) == 0 {
                    std::thread::sleep(resync_after * 2);
                }
                ledger = Some(Ledger::open(dir, &OpenMode::default()).unwrap());
                script.reopens += 1;
            }
            _ => {
                // A writer killed in the middle of a batch, then a new one: recovery cuts
                // the torn batch, and the next batch takes its sequence numbers.
                let current = ledger.take().unwrap();
                let head = current.journal().head_seq();
                current.close().unwrap();
                let torn: Vec<_> = (0..2).flat_map(|i| batch(900_000 + n + i)).collect();
                let reopens_before = committed.lock().unwrap().follower_reopens;
                let written = write_torn_batch(dir, head + 1, &torn);
                if written && torn_tail_to_show {
                    wait_for_both_followers_to_reopen(committed, reopens_before);
                    torn_tail_to_show = false;
                } else if written && rng.below(2) == 0 {
                    // Long enough for the followers to look at the blocked bytes again.
                    std::thread::sleep(resync_after * 2);
                }
                let reopened = Ledger::open(dir, &OpenMode::default()).unwrap();
                let report = reopened.open_report().clone();
                script.torn_tails_cut += u64::from(report.recovery.cut.is_some());
                ledger = Some(reopened);
            }
        }
    }
    assert!(!torn_tail_to_show, "seed {seed}: no torn tail fitted");
    ledger.take().unwrap().close().unwrap();
    committed.lock().unwrap().done = true;
    script
}

/// Waits until each follower exists and has opened the journal afresh more often than
/// `before` says.
fn wait_for_both_followers_to_reopen(committed: &Mutex<Committed>, before: [Option<u64>; 2]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = committed.lock().unwrap().follower_reopens;
        let reopened = |i: usize| now[i].is_some_and(|n| n > before[i].unwrap_or(0));
        if reopened(0) && reopened(1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the followers never reopened past a torn tail: {before:?} then {now:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks what a follower delivered, poll by poll, against the committed batches.
fn check_delivered(seed: u64, from_seq: u64, polls: &[Vec<Record>], batches: &[Batch]) {
    let mut expected: Vec<(u64, &tradeledger::Event)> = vec![];
    let mut batch_ends = std::collections::HashSet::new();
    for (first, events) in batches {
        for (i, event) in events.iter().enumerate() {
            expected.push((first + i as u64, event));
        }
        batch_ends.insert(first + events.len() as u64 - 1);
    }
    expected.retain(|(seq, _)| *seq >= from_seq);
    let delivered: Vec<_> = polls.iter().flatten().collect();
    let delivered_seqs: Vec<u64> = delivered.iter().map(|r| r.seq).collect();
    let expected_seqs: Vec<u64> = expected.iter().map(|(s, _)| *s).collect();
    if delivered_seqs != expected_seqs {
        let first_difference = (delivered_seqs.iter().zip(&expected_seqs))
            .position(|(d, e)| d != e)
            .unwrap_or(delivered_seqs.len().min(expected_seqs.len()));
        let around = |seqs: &[u64]| {
            seqs[first_difference.saturating_sub(3)..]
                .iter()
                .take(8)
                .copied()
                .collect::<Vec<_>>()
        };
        panic!(
            "seed {seed}: from seq {from_seq}, the follower delivered {} records for {} committed; \
             first difference at position {first_difference}: delivered {:?}…, committed {:?}…",
            delivered_seqs.len(),
            expected_seqs.len(),
            around(&delivered_seqs),
            around(&expected_seqs),
        );
    }
    for (record, (seq, event)) in delivered.iter().zip(&expected) {
        assert_eq!(
            &record.event, *event,
            "seed {seed}: seq {seq} differs from the committed record"
        );
    }
    for poll in polls.iter().filter(|p| !p.is_empty()) {
        let last = poll.last().unwrap().seq;
        assert!(
            batch_ends.contains(&last),
            "seed {seed}: a poll ended at seq {last}, inside a batch"
        );
    }
}

fn follow_one_case(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        segment_size_bytes: MODEL_SEGMENT_BYTES,
        checkpoint_every_records: 40,
        ..JournalOptions::default()
    };
    Ledger::create(dir.path(), &options)
        .unwrap()
        .close()
        .unwrap();
    let follow = FollowOptions {
        poll_interval: Duration::from_millis(1),
        resync_after: Duration::from_millis(5),
    };
    let mut from_start = Follower::open_with(dir.path(), None, follow).unwrap();
    let committed = Arc::new(Mutex::new(Committed::default()));
    let writer = {
        let (dir, committed) = (dir.path().to_path_buf(), Arc::clone(&committed));
        std::thread::spawn(move || run_writer(&dir, seed, follow.resync_after, &committed, 150))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut from_start_polls = vec![];
    // The second follower starts in the middle of the first segment, once it is written.
    let mut middle: Option<(Follower, u64)> = None;
    let mut middle_polls = vec![];
    loop {
        assert!(Instant::now() < deadline, "seed {seed}: no end in time");
        let (done, head) = {
            let c = committed.lock().unwrap();
            let head = c.batches.last().map_or(0, |(f, e)| f + e.len() as u64 - 1);
            (c.done, head)
        };
        if middle.is_none() && head >= 100 {
            let from = 40 + seed % 50;
            middle = Some((
                Follower::open_with(dir.path(), Some(from), follow).unwrap(),
                from,
            ));
        }
        from_start_polls.push(
            from_start
                .poll()
                .unwrap_or_else(|e| panic!("seed {seed}: {e}")),
        );
        if let Some((follower, _)) = middle.as_mut() {
            middle_polls.push(
                follower
                    .poll()
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}")),
            );
        }
        committed.lock().unwrap().follower_reopens = [
            Some(from_start.counters().reopens),
            middle.as_ref().map(|(f, _)| f.counters().reopens),
        ];
        let caught_up = |polls: &[Vec<Record>]| {
            polls
                .iter()
                .flatten()
                .last()
                .map_or(head == 0, |r| r.seq >= head)
        };
        if done && caught_up(&from_start_polls) && middle.is_some() && caught_up(&middle_polls) {
            break;
        }
        std::thread::sleep(follow.poll_interval);
    }
    let script = writer.join().unwrap();
    // Through three more idle checks of each follower: nothing more may come.
    let middle_follower = &mut middle.as_mut().unwrap().0;
    let checks_before = [from_start.counters(), middle_follower.counters()].map(|c| c.idle_checks);
    loop {
        from_start_polls.push(from_start.poll().unwrap());
        middle_polls.push(middle_follower.poll().unwrap());
        let checks = [from_start.counters(), middle_follower.counters()].map(|c| c.idle_checks);
        if checks
            .iter()
            .zip(&checks_before)
            .all(|(now, before)| *now >= before + 3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the followers never went idle"
        );
        std::thread::sleep(follow.poll_interval);
    }
    let batches = std::mem::take(&mut committed.lock().unwrap().batches);
    check_delivered(seed, 1, &from_start_polls, &batches);
    let (middle, middle_from) = middle.unwrap();
    check_delivered(seed, middle_from, &middle_polls, &batches);
    let segments = tradeledger::storage::reader::segment_paths(dir.path())
        .unwrap()
        .len();
    let counters = [from_start.counters(), middle.counters()];
    eprintln!("  {script:?}, {segments} segments, followers {counters:?}");
    assert!(segments >= 3, "seed {seed}: the case must roll segments");
    assert!(script.oversized > 0 && script.reopens > 0 && script.torn_tails_cut > 0);
    for counters in counters {
        assert!(
            counters.idle_checks > 0 && counters.reopens > 0,
            "seed {seed}: {counters:?}"
        );
    }
}

#[test]
fn followers_deliver_every_committed_batch_exactly_once_in_order() {
    let seeds: Vec<u64> = match std::env::var("TRADELEDGER_FOLLOW_SEED") {
        Ok(seed) => vec![seed.parse().expect("TRADELEDGER_FOLLOW_SEED is a number")],
        Err(_) => {
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            (0..2).map(|i| base.wrapping_add(i * 7919)).collect()
        }
    };
    for seed in seeds {
        eprintln!("follow model: seed {seed} (TRADELEDGER_FOLLOW_SEED={seed} replays it)");
        follow_one_case(seed);
    }
}

/// A journal replaced by another one in the same folder (a new `demo` run) is reported once
/// the follower checks its files, instead of being read on from the old journal's seq.
#[test]
fn a_journal_replaced_while_followed_is_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    let journal = Journal::create(dir.path(), &options).unwrap();
    journal.append(&batch(1)).unwrap();
    journal.close().unwrap();
    let follow = FollowOptions {
        poll_interval: Duration::from_millis(1),
        resync_after: Duration::from_millis(5),
    };
    let mut follower = Follower::open_with(dir.path(), Some(1), follow).unwrap();
    assert_eq!(seqs(&follower.poll().unwrap()), vec![1, 2]);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }
    let other = Journal::create(dir.path(), &options).unwrap();
    for n in 1..=3 {
        other.append(&batch(n)).unwrap();
    }
    other.close().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        match follower.poll() {
            Ok(records) => assert!(records.is_empty(), "read on in another journal"),
            Err(error) => break error,
        }
        assert!(
            Instant::now() < deadline,
            "the replacement was never noticed"
        );
        std::thread::sleep(follow.poll_interval);
    };
    assert!(
        error.to_string().contains("replaced by another one"),
        "{error}"
    );
}
