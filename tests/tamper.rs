//! Tampering: `verify` detects edited, removed, reordered and substituted sealed segments
//! through the hash chain, and `verify --anchor` detects a rewritten history up to an anchor
//! recorded earlier, even one that keeps every checksum valid.

mod cli_support;

use std::path::{Path, PathBuf};

use cli_support::*;
use tradeledger::storage::folder::read_meta;
use tradeledger::storage::format::{frame_seed, read_frame, write_frame, SEGMENT_HEADER_SIZE};

fn segments(dir: &Path) -> Vec<PathBuf> {
    tradeledger::storage::reader::segment_paths(dir).unwrap()
}

/// A journal of several 64 KiB segments written by `load` (fixed seed).
fn journal(root: &Path, name: &str, seed: &str) -> PathBuf {
    let dir = root.join(name);
    ok(&[
        "load",
        path(&dir),
        "--events",
        "2500",
        "--segment-size",
        "65536",
        "--seed",
        seed,
    ]);
    assert!(segments(&dir).len() >= 4, "several segments");
    dir
}

fn head_anchor(dir: &Path) -> String {
    json(&["status", path(dir)])["last_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Rewrites one record of `segment` the way a forger would: a character of its payload is
/// changed and its frame checksum recomputed, so that every record still reads as valid.
/// Returns the seq of the record changed.
fn forge_record(dir: &Path, segment: &Path, nth: usize) -> u64 {
    let seed = frame_seed(&read_meta(dir).unwrap().journal_id);
    let mut bytes = std::fs::read(segment).unwrap();
    let mut at = SEGMENT_HEADER_SIZE;
    let mut index = 0;
    loop {
        let frame = read_frame(&bytes[at..], seed).expect("a record to forge");
        let size = frame.size;
        let payload = frame.payload.to_vec();
        let header = frame.header;
        let symbol = payload.windows(3).position(|w| w == b"USD");
        if let (true, Some(p)) = (index >= nth, symbol) {
            let mut forged = payload.clone();
            forged[p + 2] = b'X';
            write_frame(&mut bytes[at..at + size], &header, &forged, seed);
            std::fs::write(segment, bytes).unwrap();
            return header.seq;
        }
        at += size;
        index += 1;
    }
}

#[test]
fn an_anchor_still_verifies_after_the_journal_grew_was_closed_reopened_and_rolled() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "1");
    let first = head_anchor(&dir);
    // More runs: each reopens (recovery, watermark), appends into the anchor's segment and
    // beyond (rolls and seals), and closes (watermark again).
    ok(&["load", path(&dir), "--events", "40", "--seed", "2"]);
    let second = head_anchor(&dir);
    ok(&["load", path(&dir), "--events", "3000", "--seed", "3"]);
    ok(&["load", path(&dir), "--events", "10", "--seed", "4"]);
    for anchor in [&first, &second, &head_anchor(&dir)] {
        let out = ok(&["verify", path(&dir), "--anchor", anchor]);
        assert!(out.contains("matches"), "{out}");
    }
    let report = json(&["verify", path(&dir), "--anchor", &first]);
    assert_eq!(report["anchor"]["matches"], true);
    assert_eq!(report["anchor"]["seq"], 2500);
    // An anchor of the empty journal.
    let empty = temp.path().join("empty");
    ok(&["init", path(&empty)]);
    let genesis = head_anchor(&empty);
    assert!(genesis.starts_with("0:"));
    ok(&["verify", path(&empty), "--anchor", &genesis]);
}

#[test]
fn a_rewritten_history_fails_the_anchor_with_exit_code_2_though_every_checksum_holds() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "5");
    let anchor = head_anchor(&dir);
    // The last segment holds the anchor's seq: the chain does not cover it, the anchor does.
    let last = segments(&dir).pop().unwrap();
    let seq = forge_record(&dir, &last, 1);
    ok(&["verify", path(&dir)]);
    let error = fails(&["verify", path(&dir), "--anchor", &anchor], 2);
    assert!(error.contains("history differs from the anchor"), "{error}");
    assert!(
        error.contains(&last.file_name().unwrap().to_string_lossy().to_string()),
        "{error}"
    );
    assert!(seq < 2500);
}

#[test]
fn an_anchor_past_the_head_or_malformed_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "6");
    let anchor = head_anchor(&dir);
    let (_, hash) = anchor.split_once(':').unwrap();
    let error = fails(
        &["verify", path(&dir), "--anchor", &format!("9999:{hash}")],
        2,
    );
    assert!(error.contains("the journal ends at seq 2500"), "{error}");
    // An anchor of an earlier seq with the head's hash: some other history.
    let error = fails(
        &["verify", path(&dir), "--anchor", &format!("2400:{hash}")],
        2,
    );
    assert!(error.contains("history differs"), "{error}");
    for bad in ["2500", "x:00", "2500:abc"] {
        let error = fails(&["verify", path(&dir), "--anchor", bad], 1);
        assert!(error.contains("anchor"), "{error}");
    }
}

#[test]
fn an_edited_sealed_segment_is_detected_through_the_chain() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "7");
    let sealed = segments(&dir)[1].clone();
    forge_record(&dir, &sealed, 3);
    let error = fails(&["verify", path(&dir)], 2);
    assert!(error.contains("contents differ from the hash"), "{error}");
    assert!(
        error.contains(&sealed.file_name().unwrap().to_string_lossy().to_string()),
        "{error}"
    );
}

#[test]
fn a_removed_sealed_segment_is_detected() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "8");
    std::fs::remove_file(&segments(&dir)[2]).unwrap();
    let error = fails(&["verify", path(&dir)], 2);
    assert!(error.contains("missing or out of place"), "{error}");
}

#[test]
fn reordered_sealed_segments_are_detected() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "9");
    let all = segments(&dir);
    let (a, b) = (&all[1], &all[2]);
    let swap = dir.join("swap");
    std::fs::rename(a, &swap).unwrap();
    std::fs::rename(b, a).unwrap();
    std::fs::rename(&swap, b).unwrap();
    let error = fails(&["verify", path(&dir)], 2);
    assert!(error.contains("file name says first seq"), "{error}");
}

#[test]
fn a_substituted_sealed_segment_is_detected() {
    // A segment from another journal: its id differs.
    let temp = tempfile::tempdir().unwrap();
    let dir = journal(temp.path(), "j", "10");
    let other = journal(temp.path(), "other", "10");
    let target = segments(&dir)[1].clone();
    std::fs::copy(&segments(&other)[1], &target).unwrap();
    let error = fails(&["verify", path(&dir)], 2);
    assert!(error.contains("another journal"), "{error}");

    // A segment of this journal re-made by a forger, header and checksums valid: only the
    // chain tells.
    let dir = journal(temp.path(), "k", "11");
    let target = segments(&dir)[0].clone();
    let original = std::fs::read(&target).unwrap();
    forge_record(&dir, &target, 0);
    assert_ne!(std::fs::read(&target).unwrap(), original);
    let error = fails(&["verify", path(&dir)], 2);
    assert!(error.contains("contents differ from the hash"), "{error}");
}

/// A chain link is trusted by readers for the end of its predecessor's records. A forged link
/// (checksum recomputed) pointing past the predecessor's end made `dump` and the queries panic
/// on a slice out of range; a link claiming the previous segment ends at seq u64::MAX made the
/// structure check overflow. Both are refused as damage now.
#[test]
fn a_forged_chain_link_is_refused_not_a_panic() {
    use tradeledger::storage::format::{ChainLink, CHAIN_AT, CHAIN_SIZE};
    let temp = tempfile::tempdir().unwrap();
    for (case, forge) in [
        (
            "end past the segment",
            (|l: &mut ChainLink| l.prev_data_end = 1 << 40) as fn(&mut ChainLink),
        ),
        ("last seq u64::MAX", |l: &mut ChainLink| {
            l.prev_last_seq = u64::MAX
        }),
    ] {
        let dir = journal(temp.path(), &format!("j-{}", case.len()), "12");
        let target = segments(&dir)[2].clone();
        let mut bytes = std::fs::read(&target).unwrap();
        let mut link = ChainLink::decode(&bytes[CHAIN_AT..CHAIN_AT + CHAIN_SIZE])
            .unwrap()
            .unwrap();
        forge(&mut link);
        bytes[CHAIN_AT..CHAIN_AT + CHAIN_SIZE].copy_from_slice(&link.encode());
        std::fs::write(&target, bytes).unwrap();
        for command in ["dump", "verify", "stats", "status"] {
            let error = fails(&[command, path(&dir)], 2);
            assert!(error.contains("chain link"), "{case}, {command}: {error}");
            assert!(!error.contains("panicked"), "{case}, {command}: {error}");
        }
    }
}

/// Flips `mask` in byte `byte` of the frame of `seq` in the first segment (which must hold
/// it); returns the segment and the frame's offset.
fn flip_in_frame(dir: &Path, seq: u64, byte: usize, mask: u8) -> (PathBuf, usize) {
    let seed = frame_seed(&read_meta(dir).unwrap().journal_id);
    let segment = segments(dir)[0].clone();
    let mut bytes = std::fs::read(&segment).unwrap();
    let mut at = SEGMENT_HEADER_SIZE;
    for _ in 1..seq {
        at += read_frame(&bytes[at..], seed).unwrap().size;
    }
    assert_eq!(read_frame(&bytes[at..], seed).unwrap().header.seq, seq);
    bytes[at + byte] ^= mask;
    std::fs::write(&segment, bytes).unwrap();
    (segment, at)
}

/// A bit flipped inside a record in the middle of a large batch is reported with that
/// record's own seq and its batch (it used to be reported as "record 1", the batch's first).
#[test]
fn a_damaged_record_inside_a_large_batch_is_named_by_its_own_seq() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("j");
    let mut lines = String::new();
    for n in 1..=200 {
        let time = tradeledger::model::event::Timestamp::from_nanos(n as i64 * 1_000_000_000);
        for event in tradeledger::tools::sample::signal_and_trade(n, time) {
            tradeledger::model::interchange::write_event(&mut lines, &event, None, None);
            lines.push('\n');
        }
    }
    let file = temp.path().join("events.jsonl");
    std::fs::write(&file, lines).unwrap();
    ok(&["import", path(&dir), file.to_str().unwrap()]);
    // The frame of seq 57, somewhere in the middle of the one batch 1..400.
    let (_, at) = flip_in_frame(&dir, 57, 60, 0x10);
    let error = fails(&["verify", path(&dir)], 2);
    assert!(
        error.contains(&format!("at byte {at} (seq 57)"))
            && error.contains("record 57 (batch 1..400) is damaged"),
        "{error}"
    );
}

/// A journal damaged in its last segment: `dump` prints the records before the first damaged
/// one and nothing after it, exits 0 when `--to-seq` stops before the damage and 2 when the
/// range reaches it; `verify --json` prints the damage on stdout. Nothing is changed.
#[test]
fn dump_prints_the_intact_prefix_of_a_damaged_journal_and_verify_json_names_the_damage() {
    let temp = tempfile::tempdir().unwrap();
    let dir = single_record_batches(temp.path());
    let all: Vec<String> = ok(&["dump", path(&dir)])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(all.len(), 300);

    let (segment, at) = flip_in_frame(&dir, 150, 40, 0x04);
    let before = journal_files(&dir);

    let dump = |to: Option<&str>| {
        let mut args = vec!["dump", path(&dir)];
        args.extend(to.map(|to| ["--to-seq", to]).into_iter().flatten());
        let output = run(&args);
        (output.status.code(), stdout(&output), stderr(&output))
    };
    let (code, printed, _) = dump(Some("149"));
    assert_eq!(code, Some(0), "everything printed is intact");
    assert_eq!(printed.lines().collect::<Vec<_>>(), all[..149]);
    for to in [Some("150"), Some("300"), None] {
        let (code, printed, error) = dump(to);
        assert_eq!(code, Some(2), "dump --to-seq {to:?} reaches the damage");
        assert_eq!(printed.lines().collect::<Vec<_>>(), all[..149], "{to:?}");
        assert!(
            error.contains(&format!("at byte {at} (seq 150)")),
            "{error}"
        );
    }

    let output = run(&["verify", path(&dir), "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["status"], "damaged", "{report}");
    assert_eq!(report["damage"]["seq"], 150, "{report}");
    assert_eq!(report["damage"]["offset"], at, "{report}");
    assert_eq!(report["damage"]["file"], segment.display().to_string());
    assert!(report["damage"]["reason"]
        .as_str()
        .unwrap()
        .contains("checksum"));
    assert!(journal_files(&dir) == before, "reading changed the journal");
}

/// A journal of 300 signals, one record per batch (so that an intact prefix ends just before
/// a damaged record).
fn single_record_batches(root: &Path) -> PathBuf {
    let dir = root.join("j");
    let journal = tradeledger::Journal::create(&dir, &Default::default()).unwrap();
    for n in 1..=300 {
        let time = tradeledger::Timestamp::from_nanos(n as i64 * 1_000_000_000);
        journal
            .append(&[tradeledger::tools::sample::signal(n, time)])
            .unwrap();
    }
    journal.close().unwrap();
    dir
}

/// `salvage` copies the records before the damage into a new journal, as stored (the same
/// dump: seqs and recording times), whole batches only, says what it left behind, and leaves
/// the damaged journal as it was; damage in a sealed segment, which an open does not scan,
/// ends the copy too.
#[test]
fn salvage_copies_the_intact_records_into_a_new_journal() {
    let temp = tempfile::tempdir().unwrap();
    let dir = single_record_batches(temp.path());
    let all = ok(&["dump", path(&dir)]);
    let (_, at) = flip_in_frame(&dir, 150, 40, 0x04);
    let before = journal_files(&dir);
    let new = temp.path().join("salvaged");
    let report = json(&["salvage", path(&dir), path(&new)]);
    assert_eq!(report["last_seq"], 149, "{report}");
    assert_eq!(report["damage"]["seq"], 150, "{report}");
    assert_eq!(report["damage"]["offset"], at, "{report}");
    assert_eq!(report["later_records_left"], true, "{report}");
    assert!(
        journal_files(&dir) == before,
        "salvage changed the damaged journal"
    );
    let copied = ok(&["dump", path(&new)]);
    let expected: String = all.lines().take(149).map(|l| format!("{l}\n")).collect();
    assert_eq!(copied, expected);
    ok(&["verify", path(&new)]);
    // The new journal must be new: an existing one is refused and left alone.
    let again = fails(&["salvage", path(&dir), path(&new)], 1);
    assert!(again.contains("already holds a journal"), "{again}");

    // Damage in the first of several segments (sealed): the copy stops at the last whole
    // batch before it.
    let several = journal(temp.path(), "several", "3");
    let all = ok(&["dump", path(&several)]);
    let (_, _) = flip_in_frame(&several, 100, 40, 0x04);
    let new = temp.path().join("salvaged2");
    let report = json(&["salvage", path(&several), path(&new)]);
    let last = report["last_seq"].as_u64().unwrap();
    assert!((1..100).contains(&last), "{report}");
    assert_eq!(report["damage"]["seq"], 100, "{report}");
    let copied = ok(&["dump", path(&new)]);
    let expected: String = all
        .lines()
        .take(last as usize)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(copied, expected);
    ok(&["verify", path(&new)]);
}
