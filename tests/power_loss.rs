//! Power loss below the journal, sector by sector, across segment rolls.
//!
//! A journal with small segments is written (Buffered with flushes at random points, or Sync)
//! until it has rolled several times; then the page-cache contents of every file are copied,
//! as a power loss would find the device: everything synced is there, and each 512-byte
//! sector after the synced boundary of each segment independently kept its new content,
//! reverted to what was on disk before (zeros: segments are preallocated with zeros), or was
//! garbled by a torn write. The sector holding the boundary may only lose its unsynced part.
//! A rolled segment whose seal had not run yet is damaged like the active one.
//!
//! Reopening must give a prefix of the appended batches, ending at a batch boundary, that
//! holds every batch acknowledged as durable; the journal must verify and take appends.

mod common;

use proptest::prelude::*;
use tradeledger::storage::format::{read_frame, Durability, SEGMENT_HEADER_SIZE};
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::Event;

const SECTOR: usize = 512;

#[derive(Clone, Copy, Debug)]
enum Fate {
    Kept,
    Zeroed,
    Garbled(u8),
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        3 => Just(Fate::Kept),
        3 => Just(Fate::Zeroed),
        1 => (1..=255u8).prop_map(Fate::Garbled),
    ]
}

/// Offset just past the last record with seq ≤ `durable_seq` (the synced boundary).
fn synced_boundary(image: &[u8], seed: u32, durable_seq: u64) -> usize {
    let mut offset = SEGMENT_HEADER_SIZE;
    while let Ok(frame) = read_frame(&image[offset..], seed) {
        if frame.header.seq > durable_seq {
            break;
        }
        offset += frame.size;
    }
    offset
}

/// Applies a fate to every sector after `boundary`; `fates` is cycled with a per-file shift.
fn lose_power(image: &mut [u8], boundary: usize, fates: &[Fate], shift: usize) {
    let first_sector = boundary / SECTOR;
    let used = image.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    for (n, sector) in (first_sector..used.div_ceil(SECTOR)).enumerate() {
        let start = (sector * SECTOR).max(boundary);
        let end = ((sector + 1) * SECTOR).min(image.len());
        match fates[(n + shift) % fates.len()] {
            Fate::Kept => {}
            Fate::Zeroed => image[start..end].fill(0),
            // A torn write garbles a whole sector, never bytes before the synced boundary.
            Fate::Garbled(byte) if start == sector * SECTOR => {
                for (i, b) in image[start..end].iter_mut().enumerate() {
                    *b = byte.wrapping_mul(i as u8 | 1) ^ (i >> 3) as u8;
                }
            }
            Fate::Garbled(_) => image[start..end].fill(0),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn power_loss_keeps_every_synced_batch_and_leaves_a_valid_prefix(
        sync in prop::bool::weighted(0.25),
        sizes in prop::collection::vec(1..9usize, 200..320),
        flush_every in 5..60usize,
        fates in prop::collection::vec(fate(), 1..64),
    ) {
        let live = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            durability: if sync { Durability::Sync } else { Durability::Buffered },
            segment_size_bytes: 64 << 10,
            ..JournalOptions::default()
        };
        let journal = Journal::create(live.path(), &options).unwrap();
        let batches =
            common::append_trade_batches(&journal, &sizes, |i| i % flush_every == flush_every - 1);
        let seed = journal.meta().frame_seed();
        let crashed = tempfile::tempdir().unwrap();
        common::copy_page_cache(live.path(), crashed.path());
        // Read after copying: no record changes any more (appends are over), but the
        // background seal may still sync a rolled segment and then write its successor's link
        // while the copy is taken; such a segment counts as sealed on reopen, so whatever was
        // synced by then must survive in the model too.
        let durable_seq = journal.durable_seq();
        drop(journal);

        let mut segments = 0;
        for (shift, entry) in std::fs::read_dir(crashed.path()).unwrap().enumerate() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "seg") {
                segments += 1;
                let mut image = std::fs::read(&path).unwrap();
                let boundary = synced_boundary(&image, seed, durable_seq);
                lose_power(&mut image, boundary, &fates, shift * 7);
                std::fs::write(&path, image).unwrap();
            }
        }
        prop_assert!(segments >= 3, "the journal rolled: {} segments", segments);

        let reopened = Journal::open(crashed.path(), &OpenMode::default())
            .unwrap_or_else(|e| panic!("durable_seq {durable_seq}: {e}"));
        let got: Vec<Event> = reopened.reader().records(1).map(|r| r.unwrap().event).collect();
        let all: Vec<Event> = batches.concat();
        let mut boundaries = vec![0];
        let mut durable_len = 0;
        for b in &batches {
            let end = boundaries.last().unwrap() + b.len();
            boundaries.push(end);
            if end as u64 <= durable_seq {
                durable_len = end;
            }
        }
        if sync {
            prop_assert_eq!(durable_seq, all.len() as u64, "Sync acknowledges only durable batches");
        }
        prop_assert!(boundaries.contains(&got.len()), "{} records is not a batch boundary", got.len());
        prop_assert!(got.len() >= durable_len, "lost synced records: {} < {}", got.len(), durable_len);
        prop_assert_eq!(&got[..], &all[..got.len()]);
        reopened.append(&common::trades(1_000_000, 3)).unwrap();
        reopened.close().unwrap();
        tradeledger::storage::verify::verify(crashed.path()).unwrap();
    }
}
