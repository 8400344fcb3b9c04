//! Record slots by ticket or signal_id, built for ids that mostly arrive in increasing order
//! (brokers number tickets upwards, and signal ids grow with time).
//!
//! A hash table of every trade outgrows the CPU caches after a few hundred thousand trades,
//! and then each append pays a cache miss to look its ticket up and another to insert it; it
//! also rehashes everything, all at once, whenever it doubles (19 ms at a million ids). Here an
//! id greater than every id of a run is pushed onto that run: checking that it is new is one
//! comparison with the run's last id, and the insert touches only the run's end. Lookups search
//! a run backwards from its end, galloping, so the recent ids that closes and links name cost a
//! few probes of memory just written.
//!
//! A few runs ([`MAX_RUNS`]) serve a few interleaved sequences, each increasing: two brokers'
//! tickets, or rejected orders numbered in a range of their own. An id goes to the run whose
//! last id is the greatest below it, or starts a run if it jumps far above it. Ids that fit no
//! run go to a B-tree of late ids, which grows a node at a time.

use std::collections::BTreeMap;

use super::chunked::{Chunked, Slot};

/// Runs at most: lookups of an id below a run's end search every such run.
const MAX_RUNS: usize = 4;
/// An id this far above the run it would extend starts a run of its own while there is room:
/// one sequence seldom jumps that far, and a run spanning two ranges would make a lookup in
/// the lower range search across the upper one.
const JUMP_TO_A_NEW_RUN: u64 = 1 << 20;

#[derive(Clone, Debug, Default)]
pub(crate) struct IdIndex {
    /// Each ascending; no id is in two runs, or in a run and `late`.
    runs: Vec<Chunked<(u64, Slot)>>,
    late: BTreeMap<u64, Slot>,
}

impl IdIndex {
    pub fn get(&self, id: u64) -> Option<Slot> {
        for run in &self.runs {
            if let Some(slot) = find(run, id) {
                return Some(slot);
            }
        }
        self.late.get(&id).copied()
    }

    /// Adds `id`, which the index must not hold.
    pub fn insert(&mut self, id: u64, slot: Slot) {
        debug_assert!(self.get(id).is_none(), "id {id} inserted twice");
        let best = (self.runs.iter().enumerate())
            .filter_map(|(at, run)| Some((at, run.last()?.0)))
            .filter(|(_, last)| *last < id)
            .max_by_key(|(_, last)| *last);
        let room = self.runs.len() < MAX_RUNS;
        match best {
            Some((at, last)) if !(room && id - last > JUMP_TO_A_NEW_RUN) => {
                self.runs[at].push((id, slot));
            }
            _ if room => {
                let mut run = Chunked::default();
                run.push((id, slot));
                self.runs.push(run);
            }
            _ => {
                self.late.insert(id, slot);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.runs.iter().map(Chunked::len).sum::<usize>() + self.late.len()
    }

    /// Estimated heap bytes: the runs' chunks, B-tree entries with 50 % slack.
    pub fn approximate_bytes(&self) -> usize {
        let runs = self.runs.iter().map(Chunked::reserved_bytes).sum::<usize>();
        runs + self.late.len() * size_of::<(u64, Slot)>() * 3 / 2
    }
}

/// The slot of `id` in `run`: one probe where consecutive ids would put it, else a search
/// galloping back from the end, then a binary search in the last gap.
fn find(run: &Chunked<(u64, Slot)>, id: u64) -> Option<Slot> {
    let last = match run.last() {
        // Below the first id: runs of sequences in ranges of their own answer at once.
        Some((last, _)) if run.at(0).0 <= id && id <= *last => *last,
        _ => return None,
    };
    // Ids are distinct and ascending, so `id` lies no further back than `last - id` places
    // from the end; there exactly when the ids in between are consecutive, as a broker's
    // tickets usually are.
    let back = usize::try_from(last - id).unwrap_or(usize::MAX);
    let guess = (run.len() - 1).saturating_sub(back);
    let (found, slot) = run.at(guess);
    if *found == id {
        return Some(*slot);
    }
    let mut high = run.len() - 1; // run[high] >= id
    let mut step = 1;
    let low = loop {
        match high.checked_sub(step) {
            Some(low) if run.at(low).0 >= id => {
                high = low;
                step *= 2;
            }
            Some(low) => break low + 1, // run[low] < id
            None => break 0,
        }
    };
    // The first id not below `id` lies in low..=high.
    let (mut low, mut high) = (low, high);
    while low < high {
        let middle = low + (high - low) / 2;
        if run.at(middle).0 < id {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    let (found, slot) = run.at(low);
    (*found == id).then_some(*slot)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The index answers every lookup as a `HashMap` given the same inserts does, for ids
        /// from up to six interleaved sequences (more than there are runs; two of them in far
        /// ranges), each mostly increasing, ids below a sequence's greatest, and ids never
        /// held.
        #[test]
        fn behaves_as_a_hash_map(
            steps in prop::collection::vec((0usize..6, -40i64..60, 0u64..7000), 1..800)
        ) {
            let (mut index, mut model) = (IdIndex::default(), HashMap::new());
            // Two far ranges: an id that jumps there starts a run of its own.
            let mut greatest = [1000i64, 1500, 2000, 3000, 1 << 30, 1 << 40];
            for (slot, (sequence, ahead, probe)) in steps.into_iter().enumerate() {
                let id = (greatest[sequence] + ahead).max(0) as u64;
                greatest[sequence] = greatest[sequence].max(id as i64);
                if let std::collections::hash_map::Entry::Vacant(entry) = model.entry(id) {
                    index.insert(id, slot as Slot);
                    entry.insert(slot as Slot);
                }
                prop_assert_eq!(index.get(probe), model.get(&probe).copied());
                prop_assert_eq!(index.get(id), model.get(&id).copied());
                prop_assert_eq!(index.len(), model.len());
            }
            for (id, slot) in &model {
                prop_assert_eq!(index.get(*id), Some(*slot));
            }
            prop_assert_eq!(index.get(u64::MAX), None);
        }
    }

    #[test]
    fn ids_in_order_stay_out_of_the_b_tree() {
        let mut index = IdIndex::default();
        for id in (10..50_000u64).step_by(3) {
            index.insert(id, id as Slot);
        }
        assert!(index.late.is_empty());
        assert_eq!(index.runs.len(), 1);
        for id in 0..50_010u64 {
            let held = (10..50_000).contains(&id) && (id - 10) % 3 == 0;
            assert_eq!(index.get(id), held.then_some(id as Slot), "{id}");
        }
    }

    /// Tickets of two brokers, and rejected orders numbered from 2^40, arrive interleaved:
    /// each sequence extends a run of its own, and nothing is late.
    #[test]
    fn interleaved_increasing_sequences_each_extend_a_run() {
        let mut index = IdIndex::default();
        let mut slot = 0;
        for n in 0..20_000u64 {
            for id in [1_000 + n, 80_000_000 + 2 * n, (1 << 40) + n / 3 * 3] {
                if index.get(id).is_none() {
                    index.insert(id, slot);
                    slot += 1;
                }
            }
        }
        assert!(index.late.is_empty());
        assert_eq!(index.runs.len(), 3);
        assert_eq!(index.len(), 20_000 + 20_000 + 20_000 / 3 + 1);
        assert_eq!(index.get(1_000 + 19_999), Some(slot - 2));
        assert_eq!(index.get(80_000_001), None);
    }
}
