//! The fuzz harnesses of `src/tools/fuzzing.rs` (run for long by `fuzz/`, see docs/RELIABILITY.md)
//! under proptest in the normal suite: arbitrary bytes, and real journal files and
//! checkpoints with random damage, fed to every decoder. Inputs the fuzzer found crashing are
//! kept at the end as regression tests.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use tradeledger::ledger::Ledger;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::JournalOptions;
use tradeledger::tools::fuzzing;
use tradeledger::tools::sample;

/// A real segment and checkpoint, to damage.
fn real_files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_size_bytes: 64 << 10,
            ..JournalOptions::default()
        };
        let ledger = Ledger::create(dir.path(), &options).unwrap();
        for n in 1..=20u64 {
            let t = Timestamp::from_nanos(n as i64 * 1_000_000_000);
            ledger.append(&sample::signal_and_trade(n, t)).unwrap();
            if n % 3 == 0 {
                ledger
                    .append(&[
                        sample::trade_closed(n, t, "1.25"),
                        sample::account_snapshot(7, t, "100.00"),
                    ])
                    .unwrap();
            }
        }
        ledger.close().unwrap();
        let segment = tradeledger::storage::reader::segment_paths(dir.path()).unwrap()[0].clone();
        let checkpoints = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let segment = std::fs::read(segment).unwrap();
        let used = segment.iter().rposition(|&b| b != 0).unwrap() + 64;
        (
            segment[..used.min(segment.len())].to_vec(),
            std::fs::read(checkpoints).unwrap(),
        )
    })
}

/// The payloads of a real stack of two checkpoints: one written whole, then a layer on it.
fn real_stack() -> &'static (Vec<u8>, Vec<u8>) {
    static STACK: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    STACK.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let ledger = Ledger::create(dir.path(), &options).unwrap();
        let append = |n: u64| {
            let t = Timestamp::from_nanos(n as i64 * 1_000_000_000);
            ledger.append(&sample::signal_and_trade(n, t)).unwrap();
            ledger
                .append(&[
                    sample::trade_closed(n, t, "1.25"),
                    sample::account_snapshot(7, t, "100.00"),
                ])
                .unwrap();
        };
        (1..=20).for_each(append);
        let bottom = ledger.checkpoint().unwrap();
        (21..=23).for_each(append);
        let top = ledger.checkpoint().unwrap();
        assert_eq!(top.parent, Some(bottom.seq), "a layer on the first");
        let payload = |path: &Path| {
            let bytes = std::fs::read(path).unwrap();
            let len = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
            bytes[64..64 + len].to_vec()
        };
        let stack = (payload(&bottom.path), payload(&top.path));
        let layers = vec![stack.0.clone(), stack.1.clone()];
        let state = tradeledger::projection::Projections::decode_layers(layers).unwrap();
        assert!(
            ledger.query(|live| *live == state),
            "the intact stack is the state"
        );
        stack
    })
}

fn damaged(base: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for &(at, byte) in edits {
        let at = at % bytes.len();
        bytes[at] ^= byte | 1;
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn record_decoder_takes_any_bytes(data in vec(any::<u8>(), 0..600)) {
        fuzzing::record_decoder(&data);
    }

    #[test]
    fn segment_scanner_takes_any_bytes(data in vec(any::<u8>(), 0..2000)) {
        fuzzing::segment_scanner(&data);
    }

    #[test]
    fn checkpoint_loader_takes_any_bytes(data in vec(any::<u8>(), 0..600)) {
        fuzzing::checkpoint_loader(&data);
    }

    #[test]
    fn jsonl_importer_takes_any_bytes(data in vec(any::<u8>(), 0..600)) {
        fuzzing::jsonl_importer(&data);
    }

    #[test]
    fn a_damaged_real_stack_of_layers_is_refused_or_loads(edits in vec((any::<usize>(), any::<u8>()), 1..4), top in any::<bool>()) {
        let (bottom, layer) = real_stack();
        fuzzing::checkpoint_stack(bottom, layer);
        match top {
            true => fuzzing::checkpoint_stack(bottom, &damaged(layer, &edits)),
            false => fuzzing::checkpoint_stack(&damaged(bottom, &edits), layer),
        }
    }

    #[test]
    fn a_damaged_real_checkpoint_is_refused_or_loads(edits in vec((any::<usize>(), any::<u8>()), 1..4)) {
        let (_, checkpoint) = real_files();
        let bytes = damaged(checkpoint, &edits);
        fuzzing::checkpoint_loader(&bytes);
        // The payload alone, damaged, behind a valid header.
        fuzzing::checkpoint_loader(&bytes[tradeledger::ledger::checkpoint::CHECKPOINT_HEADER_SIZE.min(bytes.len())..]);
    }

    #[test]
    fn a_damaged_real_segment_scans(edits in vec((any::<usize>(), any::<u8>()), 1..6)) {
        let (segment, _) = real_files();
        let image = damaged(segment, &edits);
        let scan = tradeledger::storage::scan::scan_segment(&image, 1, 12345);
        prop_assert!(scan.committed_end <= image.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn journal_folders_of_any_bytes_open_or_are_refused(data in vec(any::<u8>(), 0..3000)) {
        let dir = tempfile::tempdir().unwrap();
        fuzzing::journal_folder(&data, &dir.path().join("j"));
    }
}

/// Inputs the fuzzers found crashing, replayed (see docs/RELIABILITY.md).
#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = tempfile::tempdir().unwrap();
    for (name, input) in FINDINGS {
        let folder = dir.path().join(name);
        match *name {
            n if n.starts_with("journal_folder") => fuzzing::journal_folder(input, &folder),
            n if n.starts_with("segment_scanner") => fuzzing::segment_scanner(input),
            n if n.starts_with("record_decoder") => fuzzing::record_decoder(input),
            n if n.starts_with("checkpoint_loader") => fuzzing::checkpoint_loader(input),
            n if n.starts_with("jsonl_importer") => fuzzing::jsonl_importer(input),
            other => panic!("unknown harness {other}"),
        }
    }
    assert!(Path::new(dir.path()).exists());
}

const FINDINGS: &[(&str, &[u8])] = &[
    // per-day signal counts of a checkpoint summed without a check (overflow in signal_execution_rate)
    ("checkpoint_loader", b"\x01\x00\x00\x00\x00\x00\x00\x03\xf0\x18\xf0\x00\x00\x0e\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x03\xff\xff\xff\xf8\xff\xff\xff\xff\x00\xff\x00\x00\x01\x1e\x00\x00"),
    // a segment whose first seq is near u64::MAX
    ("journal_folder", b"\x8b\x01\x00\x4a\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x04\x07\x00\xd7\x01\x00\x00\x01"),
    // first seq 0 given to the scanner by the harness itself
    ("segment_scanner", b"\x06\xf2\xf2\xf2\xfe\xff\xff\xff\xff\xff\xff\xff\x02\x40\x12\x97\x96"),
];
