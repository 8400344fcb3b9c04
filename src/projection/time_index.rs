//! An ordered map from time keys to record slots, built for keys that mostly arrive in
//! increasing order: trades are opened, filled and closed as time goes on.
//!
//! A B-tree insert walks from the root, comparing keys at every level, and allocates nodes as
//! it grows; it was the largest cost of applying a `trade_opened`. Here a key greater than
//! every key held is pushed onto a sorted run (one comparison, no allocation: the run is
//! [`Chunked`]); any other key goes to a B-tree of late keys. A removed run entry becomes a
//! tombstone; once tombstones outnumber the live entries, the run and the late keys are merged
//! into a fresh run. Ranges merge the run and the late keys in key order.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::RangeInclusive;

use super::chunked::{Chunked, Slot};
use super::trades::TimeKey;
use crate::event::Timestamp;

/// Tombstones below this many are never compacted: the merge would cost more than it saves.
const COMPACT_AFTER: usize = 64;

#[derive(Clone, Debug, Default)]
pub(crate) struct TimeIndex {
    /// Sorted by key; `None` marks a removed entry. Its last key is the greatest key ever held
    /// since the last compaction, so every late key is below it.
    run: Chunked<(TimeKey, Option<Slot>)>,
    late: BTreeMap<TimeKey, Slot>,
    tombstones: usize,
}

impl TimeIndex {
    /// Adds `key`, which the index must not hold.
    pub fn insert(&mut self, key: TimeKey, slot: Slot) {
        match self.run.last() {
            Some((last, _)) if key <= *last => {
                let previous = self.late.insert(key, slot);
                debug_assert!(previous.is_none(), "{key:?} inserted twice");
            }
            _ => {
                self.run.push((key, Some(slot)));
            }
        }
    }

    pub fn remove(&mut self, key: &TimeKey) -> Option<Slot> {
        let at = self.run.partition_point(|(k, _)| k < key);
        let removed = match self.run_entry_mut(at, key) {
            Some(entry) => entry.1.take(),
            None => None,
        };
        let Some(slot) = removed else {
            return self.late.remove(key);
        };
        self.tombstones += 1;
        if self.tombstones >= COMPACT_AFTER && self.tombstones > self.len() {
            self.compact();
        }
        Some(slot)
    }

    fn run_entry_mut(&mut self, at: usize, key: &TimeKey) -> Option<&mut (TimeKey, Option<Slot>)> {
        if at < self.run.len() && self.run.at(at).0 == *key {
            Some(self.run.at_mut(at))
        } else {
            None
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.run.len() - self.tombstones + self.late.len()
    }

    /// Entries with keys in `keys`, in key order.
    pub fn range(
        &self,
        keys: RangeInclusive<TimeKey>,
    ) -> impl Iterator<Item = (TimeKey, Slot)> + '_ {
        let from = self.run.partition_point(|(k, _)| k < keys.start());
        let to = self.run.partition_point(|(k, _)| k <= keys.end());
        let run = (from..to).filter_map(|i| {
            let (key, slot) = self.run.at(i);
            slot.map(|slot| (*key, slot))
        });
        let late = self.late.range(keys).map(|(key, slot)| (*key, *slot));
        Merge {
            run: run.peekable(),
            late: late.peekable(),
        }
    }

    /// The `limit` entries with the greatest keys, greatest first.
    pub fn newest(&self, limit: usize) -> Vec<(TimeKey, Slot)> {
        let run = (0..self.run.len()).rev().filter_map(|i| {
            let (key, slot) = self.run.at(i);
            slot.map(|slot| (*key, slot))
        });
        let mut newest: Vec<_> = run.take(limit).collect();
        let late = self.late.iter().rev().take(limit);
        newest.extend(late.map(|(key, slot)| (*key, *slot)));
        newest.sort_unstable_by_key(|(key, _)| std::cmp::Reverse(*key));
        newest.truncate(limit);
        newest
    }

    /// Merges the live run entries and the late keys into a fresh run.
    fn compact(&mut self) {
        let everything = (Timestamp::MIN, 0)..=(Timestamp::MAX, u64::MAX);
        let mut run = Chunked::default();
        for (key, slot) in self.range(everything) {
            run.push((key, Some(slot)));
        }
        *self = TimeIndex {
            run,
            late: BTreeMap::new(),
            tombstones: 0,
        };
    }

    /// Estimated heap bytes: the run's chunks, B-tree entries with 50 % slack.
    pub fn approximate_bytes(&self) -> usize {
        self.run.reserved_bytes() + self.late.len() * size_of::<(TimeKey, Slot)>() * 3 / 2
    }
}

/// Two ascending iterators with no key in common, merged in ascending order.
struct Merge<A: Iterator, B: Iterator> {
    run: Peekable<A>,
    late: Peekable<B>,
}

impl<A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = (TimeKey, Slot)>,
    B: Iterator<Item = (TimeKey, Slot)>,
{
    type Item = (TimeKey, Slot);

    fn next(&mut self) -> Option<(TimeKey, Slot)> {
        match (self.run.peek(), self.late.peek()) {
            (Some(a), Some(b)) if b.0 < a.0 => self.late.next(),
            (Some(_), _) => self.run.next(),
            (None, _) => self.late.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Insert at a time this far ahead of (or, negative, behind) the greatest so far.
        Insert(i64),
        /// Remove the n-th key held (modulo), or a key never held when nothing is.
        Remove(usize),
        Range(i64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (-5i64..20).prop_map(Op::Insert),
            3 => any::<usize>().prop_map(Op::Remove),
            1 => (0i64..400, 0i64..400).prop_map(|(a, b)| Op::Range(a, b)),
        ]
    }

    fn key(time: i64, ticket: u64) -> TimeKey {
        (Timestamp::from_nanos(time), ticket)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The index holds what a `BTreeMap` given the same inserts and removes holds, and
        /// returns the same ranges, through appends in order, late keys, tombstones and
        /// compactions.
        #[test]
        fn behaves_as_a_btree_map(ops in prop::collection::vec(op(), 1..600)) {
            let (mut index, mut model) = (TimeIndex::default(), BTreeMap::new());
            let (mut greatest, mut ticket) = (100i64, 0u64);
            for op in ops {
                match op {
                    Op::Insert(ahead) => {
                        ticket += 1;
                        greatest = greatest.max(greatest + ahead);
                        let at = key(greatest + ahead.min(0), ticket);
                        index.insert(at, ticket as Slot);
                        model.insert(at, ticket as Slot);
                    }
                    Op::Remove(n) => {
                        let at = match model.len() {
                            0 => key(0, 0),
                            len => *model.keys().nth(n % len).unwrap(),
                        };
                        prop_assert_eq!(index.remove(&at), model.remove(&at));
                        prop_assert_eq!(index.remove(&at), None);
                    }
                    Op::Range(a, b) => {
                        let keys = key(a.min(b), 0)..=key(a.max(b), u64::MAX);
                        let expected: Vec<_> =
                            model.range(keys.clone()).map(|(k, s)| (*k, *s)).collect();
                        prop_assert_eq!(index.range(keys).collect::<Vec<_>>(), expected);
                        let limit = (a % 7) as usize;
                        let newest: Vec<_> =
                            model.iter().rev().take(limit).map(|(k, s)| (*k, *s)).collect();
                        prop_assert_eq!(index.newest(limit), newest);
                    }
                }
                prop_assert_eq!(index.len(), model.len());
            }
            let everything = key(i64::MIN, 0)..=key(i64::MAX, u64::MAX);
            let all: Vec<_> = model.iter().map(|(k, s)| (*k, *s)).collect();
            prop_assert_eq!(index.range(everything).collect::<Vec<_>>(), all);
        }
    }

    #[test]
    fn keys_in_order_stay_out_of_the_btree_and_tombstones_are_compacted() {
        let mut index = TimeIndex::default();
        for ticket in 0..1000u64 {
            index.insert(key(ticket as i64, ticket), ticket as Slot);
        }
        assert!(index.late.is_empty());
        for ticket in 0..990u64 {
            assert_eq!(
                index.remove(&key(ticket as i64, ticket)),
                Some(ticket as Slot)
            );
        }
        // Compacted whenever the tombstones outnumbered the live entries.
        assert!(
            index.run.len() < 2 * 10 + COMPACT_AFTER,
            "{}",
            index.run.len()
        );
        let left: Vec<Slot> = index
            .range(key(0, 0)..=key(2000, 0))
            .map(|(_, s)| s)
            .collect();
        assert_eq!(left, (990..1000).collect::<Vec<Slot>>());
    }
}
