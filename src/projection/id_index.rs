//! Record slots by ticket or signal_id, built for ids that mostly arrive in increasing order
//! (brokers number tickets upwards, and signal ids grow with time).
//!
//! A hash table of every trade outgrows the CPU caches after a few hundred thousand trades,
//! and then each append pays a cache miss to look its ticket up and another to insert it; it
//! also rehashes everything, all at once, whenever it doubles. Here an id greater than every id
//! held is pushed onto a sorted run: checking that it is new is one comparison with the last
//! id, and the insert touches only the run's end. Lookups search the run backwards from the
//! end, galloping, so the recent ids that closes and links name cost a few probes of memory
//! just written. Ids that arrive below the greatest go to a hash table of late ids.

use rustc_hash::FxHashMap;

use super::chunked::{Chunked, Slot};

#[derive(Clone, Debug, Default)]
pub(crate) struct IdIndex {
    /// Ascending ids; its last id is the greatest held, so every late id is below it.
    run: Chunked<(u64, Slot)>,
    late: FxHashMap<u64, Slot>,
}

impl IdIndex {
    pub fn get(&self, id: u64) -> Option<Slot> {
        match self.run.last() {
            Some((last, _)) if id <= *last => {}
            // Above every id held.
            _ => return None,
        }
        // Where ids arrive out of order, most of them are late: look there first.
        if let Some(slot) = self.late.get(&id) {
            return Some(*slot);
        }
        let (found, slot) = self.run.at(self.first_not_below(id));
        (*found == id).then_some(*slot)
    }

    /// Adds `id`, which the index must not hold.
    pub fn insert(&mut self, id: u64, slot: Slot) {
        debug_assert!(self.get(id).is_none(), "id {id} inserted twice");
        match self.run.last() {
            Some((last, _)) if id <= *last => {
                self.late.insert(id, slot);
            }
            _ => {
                self.run.push((id, slot));
            }
        }
    }

    /// The position of the first run id not below `id`, for `id` at most the last id:
    /// galloping back from the end, then a binary search in the last gap.
    fn first_not_below(&self, id: u64) -> usize {
        let mut high = self.run.len() - 1; // run[high] >= id
        let mut step = 1;
        let low = loop {
            match high.checked_sub(step) {
                Some(low) if self.run.at(low).0 >= id => {
                    high = low;
                    step *= 2;
                }
                Some(low) => break low + 1, // run[low] < id
                None => break 0,
            }
        };
        // The answer lies in low..=high.
        let (mut low, mut high) = (low, high);
        while low < high {
            let middle = low + (high - low) / 2;
            if self.run.at(middle).0 < id {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.run.len() + self.late.len()
    }

    /// Estimated heap bytes: the run's chunks, the late table by capacity.
    pub fn approximate_bytes(&self) -> usize {
        self.run.reserved_bytes() + self.late.capacity() * (size_of::<(u64, Slot)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The index answers every lookup as a `HashMap` given the same inserts does, for ids
        /// in order, ids below the greatest, and ids never held.
        #[test]
        fn behaves_as_a_hash_map(
            steps in prop::collection::vec((-40i64..60, 0u64..3000), 1..800)
        ) {
            let (mut index, mut model) = (IdIndex::default(), HashMap::new());
            let mut greatest = 1000i64;
            for (slot, (ahead, probe)) in steps.into_iter().enumerate() {
                let id = (greatest + ahead).max(0) as u64;
                greatest = greatest.max(id as i64);
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
    fn ids_in_order_stay_out_of_the_hash_table() {
        let mut index = IdIndex::default();
        for id in (10..50_000u64).step_by(3) {
            index.insert(id, id as Slot);
        }
        assert!(index.late.is_empty());
        for id in 0..50_010u64 {
            let held = (10..50_000).contains(&id) && (id - 10) % 3 == 0;
            assert_eq!(index.get(id), held.then_some(id as Slot), "{id}");
        }
    }
}
