//! Crash consistency against a reference model (a `Vec` of acknowledged batches).
//!
//! A journal is written in Buffered mode with flushes at random points. The file images a
//! crash can leave are built from the page-cache contents: every byte of a record at or
//! below the durable sequence number survives; any byte after it may be lost (reverted to the
//! zeros of the preallocated file), torn at a sector boundary, or garbled. Reopening must
//! give exactly a prefix of the batches that contains every durable batch.

mod common;

use proptest::prelude::*;
use tradeledger::storage::format::{read_frame, Durability, SEGMENT_HEADER_SIZE};
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::Event;

#[derive(Clone, Debug)]
enum Damage {
    /// Everything after this many bytes into the unsynced region reverts to zero.
    LoseAfter(usize),
    /// 512-byte sectors of the unsynced region revert to zero (out-of-order writeback).
    LoseSectors(Vec<usize>),
    /// 4 KiB pages of the unsynced region are overwritten with garbage.
    GarblePages(Vec<(usize, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::LoseAfter),
        prop::collection::vec(any::<usize>(), 1..6).prop_map(Damage::LoseSectors),
        prop::collection::vec((any::<usize>(), 1..=255u8), 1..4).prop_map(Damage::GarblePages),
    ]
}

/// Byte offset, in each segment image, where records after `durable_seq` begin.
fn unsynced_start(image: &[u8], seed: u32, durable_seq: u64) -> usize {
    let mut offset = SEGMENT_HEADER_SIZE;
    while let Ok(frame) = read_frame(&image[offset..], seed) {
        if frame.header.seq > durable_seq {
            break;
        }
        offset += frame.size;
    }
    offset
}

fn apply(image: &mut [u8], from: usize, damage: &Damage) {
    let span = image.len() - from;
    match damage {
        Damage::LoseAfter(n) => image[from + n % span..].fill(0),
        Damage::LoseSectors(sectors) => {
            for s in sectors {
                let start = (from + s % span) / 512 * 512;
                let start = start.max(from);
                let end = ((start / 512 + 1) * 512).min(image.len());
                image[start..end].fill(0);
            }
        }
        Damage::GarblePages(pages) => {
            for (p, byte) in pages {
                let start = ((from + p % span) / 4096 * 4096).max(from);
                let end = ((start / 4096 + 1) * 4096).min(image.len());
                for (i, b) in image[start..end].iter_mut().enumerate() {
                    *b = byte.wrapping_mul(i as u8 | 1);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reopen_after_crash_yields_a_prefix_holding_every_durable_batch(
        sizes in prop::collection::vec(1..6usize, 1..40),
        flush_after in prop::collection::vec(any::<bool>(), 40),
        damage in damage(),
    ) {
        let live = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            durability: Durability::Buffered,
            segment_size_bytes: 64 << 10,
            ..JournalOptions::default()
        };
        let journal = Journal::create(live.path(), &options).unwrap();
        let batches = common::append_trade_batches(&journal, &sizes, |i| flush_after[i]);
        let crashed = tempfile::tempdir().unwrap();
        common::copy_page_cache(live.path(), crashed.path());
        let durable_seq = journal.durable_seq();
        let seed = journal.meta().frame_seed();
        drop(journal);

        for entry in std::fs::read_dir(crashed.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "seg") {
                let mut image = std::fs::read(&path).unwrap();
                let from = unsynced_start(&image, seed, durable_seq);
                apply(&mut image, from, &damage);
                std::fs::write(&path, image).unwrap();
            }
        }

        let reopened = Journal::open(crashed.path(), &OpenMode::default()).unwrap();
        let got: Vec<Event> = reopened.reader().records(1).map(|r| r.unwrap().event).collect();
        let mut prefix_len = 0;
        let mut durable_len = 0;
        let mut boundaries = vec![0];
        for b in &batches {
            prefix_len += b.len();
            boundaries.push(prefix_len);
            if prefix_len as u64 <= durable_seq {
                durable_len = prefix_len;
            }
        }
        prop_assert!(boundaries.contains(&got.len()), "{} records is not a batch boundary", got.len());
        prop_assert!(got.len() >= durable_len, "lost durable records: {} < {}", got.len(), durable_len);
        let all: Vec<Event> = batches.concat();
        prop_assert_eq!(&got[..], &all[..got.len()]);
        // The recovered journal accepts appends and verifies.
        reopened.append(&common::trades(1_000_000, 2)).unwrap();
        reopened.close().unwrap();
        tradeledger::storage::verify::verify(crashed.path()).unwrap();
    }
}
