//! An ordered map from time keys to record slots, built for keys that mostly arrive in
//! increasing order: trades are opened, filled and closed as time goes on.
//!
//! A B-tree insert walks from the root, comparing keys at every level, and allocates nodes as
//! it grows; it was the largest cost of applying a `trade_opened`. Here a key greater than
//! every key held is pushed onto a sorted run (one comparison, no allocation: the run is
//! [`Chunked`]); any other key goes to a B-tree of late keys. A removed run entry becomes a
//! tombstone. Ranges merge the run and the late keys in key order.
//!
//! Once tombstones outnumber the live entries, the live entries are copied in key order into
//! a fresh index, [`COPY_PER_CHANGE`] with every later insert or remove, which the fresh index
//! also receives if it concerns a key already copied. When all are copied, the fresh index
//! takes the old one's place. Copying them all at once would stall one append for the whole
//! index: 15 ms at a million trades, measured when every trade was a pending order filled
//! later (each fill leaves a tombstone under the order's time).

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::{Bound, RangeBounds, RangeInclusive};

use super::chunked::{drop_elsewhere, Chunked, Slot};
use crate::model::event::Timestamp;

/// Tombstones below this many are never compacted: the copy would cost more than it saves.
const COMPACT_AFTER: usize = 64;
/// Entries (live or tombstones) a compaction goes through with each change while it runs:
/// it ends after (live + tombstones) ÷ this many changes, long before it could be due again.
const COPY_PER_CHANGE: usize = 32;
/// An index of at most this many entries (live, tombstones and late) is compacted at once,
/// and freed where it is: a few microseconds, less than spreading the copy and waking the
/// chunk thread (OPEN and PENDING hold a few trades and compact every few dozen closes).
const COMPACT_AT_ONCE: usize = 256;

#[derive(Clone, Debug, Default)]
pub(crate) struct TimeIndex {
    /// Sorted by key; `None` marks a removed entry. Its last key is the greatest key ever held
    /// since this index was started, so every late key is below it.
    run: Chunked<(TimeKey, Option<Slot>)>,
    late: BTreeMap<TimeKey, Slot>,
    tombstones: usize,
    compaction: Option<Box<Compaction>>,
}

/// A compaction under way: `fresh` holds the live entries up to `copied`, in its run.
#[derive(Clone, Debug)]
struct Compaction {
    fresh: TimeIndex,
    /// The greatest key gone through so far (live or a tombstone).
    copied: Option<TimeKey>,
}

impl Compaction {
    fn covers(&self, key: &TimeKey) -> bool {
        self.copied.is_some_and(|copied| *key <= copied)
    }
}

impl TimeIndex {
    /// Adds `key`, which the index must not hold.
    pub fn insert(&mut self, key: TimeKey, slot: Slot) {
        self.insert_entry(key, slot);
        if let Some(compaction) = &mut self.compaction {
            if compaction.covers(&key) {
                compaction.fresh.insert_entry(key, slot);
            }
        }
        self.compact_some();
    }

    pub fn remove(&mut self, key: &TimeKey) -> Option<Slot> {
        let removed = self.remove_entry(key);
        let due = self.tombstones >= COMPACT_AFTER && self.tombstones > self.len();
        if removed.is_some() {
            match &mut self.compaction {
                Some(compaction) if compaction.covers(key) => {
                    compaction.fresh.remove_entry(key);
                }
                Some(_) => {}
                None if due && self.run.len() + self.late.len() <= COMPACT_AT_ONCE => {
                    let mut fresh = TimeIndex::default();
                    for (key, slot) in self.range(..) {
                        fresh.insert_entry(key, slot);
                    }
                    *self = fresh;
                }
                None if due => {
                    self.compaction = Some(Box::new(Compaction {
                        fresh: TimeIndex::default(),
                        copied: None,
                    }));
                }
                None => {}
            }
        }
        self.compact_some();
        removed
    }

    /// Copies the next few live entries into the compacted index, and puts it in this one's
    /// place once it holds them all.
    fn compact_some(&mut self) {
        let Some(mut compaction) = self.compaction.take() else {
            return;
        };
        let from = compaction.copied.map_or(Bound::Unbounded, Bound::Excluded);
        let mut seen = 0;
        for (key, slot) in self.entries((from, Bound::Unbounded)).take(COPY_PER_CHANGE) {
            if let Some(slot) = slot {
                compaction.fresh.insert_entry(key, slot);
            }
            compaction.copied = Some(key);
            seen += 1;
        }
        if seen < COPY_PER_CHANGE {
            // Freeing the old chunks costs a system call each: not on this thread.
            drop_elsewhere(std::mem::replace(self, compaction.fresh));
        } else {
            self.compaction = Some(compaction);
        }
    }

    fn insert_entry(&mut self, key: TimeKey, slot: Slot) {
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

    fn remove_entry(&mut self, key: &TimeKey) -> Option<Slot> {
        let at = self.run.partition_point(|(k, _)| k < key);
        let removed = match self.run_entry_mut(at, key) {
            Some(entry) => entry.1.take(),
            None => None,
        };
        let Some(slot) = removed else {
            return self.late.remove(key);
        };
        self.tombstones += 1;
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
        keys: impl RangeBounds<TimeKey>,
    ) -> impl Iterator<Item = (TimeKey, Slot)> + '_ {
        self.entries(keys)
            .filter_map(|(key, slot)| slot.map(|slot| (key, slot)))
    }

    /// Entries with keys in `keys`, greatest key first.
    pub fn range_rev(
        &self,
        keys: impl RangeBounds<TimeKey>,
    ) -> impl Iterator<Item = (TimeKey, Slot)> + '_ {
        let run = self.run_span(&keys).rev().map(|i| *self.run.at(i));
        let late = self.late.range(keys).rev();
        let merged = Merge {
            run: run.peekable(),
            late: late.map(|(key, slot)| (*key, Some(*slot))).peekable(),
            descending: true,
        };
        merged.filter_map(|(key, slot)| slot.map(|slot| (key, slot)))
    }

    /// Entries with keys in `keys`, in key order, tombstones (`None`) included.
    fn entries(
        &self,
        keys: impl RangeBounds<TimeKey>,
    ) -> impl Iterator<Item = (TimeKey, Option<Slot>)> + '_ {
        let run = self.run_span(&keys).map(|i| *self.run.at(i));
        let late = self.late.range(keys).map(|(key, slot)| (*key, Some(*slot)));
        Merge {
            run: run.peekable(),
            late: late.peekable(),
            descending: false,
        }
    }

    /// The positions of the run with keys in `keys`.
    fn run_span(&self, keys: &impl RangeBounds<TimeKey>) -> std::ops::Range<usize> {
        let from = match keys.start_bound() {
            Bound::Included(start) => self.run.partition_point(|(k, _)| k < start),
            Bound::Excluded(start) => self.run.partition_point(|(k, _)| k <= start),
            Bound::Unbounded => 0,
        };
        let to = match keys.end_bound() {
            Bound::Included(end) => self.run.partition_point(|(k, _)| k <= end),
            Bound::Excluded(end) => self.run.partition_point(|(k, _)| k < end),
            Bound::Unbounded => self.run.len(),
        };
        from..to.max(from)
    }

    /// Estimated heap bytes: the run's chunks, B-tree entries with 50 % slack, and the
    /// compacted index under way.
    pub fn approximate_bytes(&self) -> usize {
        let compacting = self.compaction.as_ref();
        self.run.reserved_bytes()
            + self.late.len() * size_of::<(TimeKey, Slot)>() * 3 / 2
            + compacting.map_or(0, |c| c.fresh.approximate_bytes())
    }
}

/// Two iterators with no key in common, both ascending (or both descending), merged in
/// that order.
struct Merge<A: Iterator, B: Iterator> {
    run: Peekable<A>,
    late: Peekable<B>,
    descending: bool,
}

impl<A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = (TimeKey, Option<Slot>)>,
    B: Iterator<Item = (TimeKey, Option<Slot>)>,
{
    type Item = (TimeKey, Option<Slot>);

    fn next(&mut self) -> Option<(TimeKey, Option<Slot>)> {
        match (self.run.peek(), self.late.peek()) {
            (Some(a), Some(b)) if (b.0 < a.0) != self.descending => self.late.next(),
            (Some(_), _) => self.run.next(),
            (None, _) => self.late.next(),
        }
    }
}

/// (time, ticket) for trades, (time, seq) for signals and snapshots: a total order.
pub(crate) type TimeKey = (Timestamp, u64);

/// Every key whose time lies in `[from, to]`, or `None` for an empty range (a reversed
/// `RangeInclusive` makes `BTreeMap::range` panic).
pub(crate) fn time_keys(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Option<RangeInclusive<TimeKey>> {
    let from = from.unwrap_or(Timestamp::MIN);
    let to = to.unwrap_or(Timestamp::MAX);
    (from <= to).then_some((from, 0)..=(to, u64::MAX))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::event::Timestamp;

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
                        prop_assert_eq!(index.range(keys.clone()).collect::<Vec<_>>(), expected.clone());
                        let backwards: Vec<_> = expected.into_iter().rev().collect();
                        prop_assert_eq!(index.range_rev(keys).collect::<Vec<_>>(), backwards);
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
    fn keys_in_order_stay_out_of_the_btree_and_tombstones_are_compacted_a_few_at_a_time() {
        let mut index = TimeIndex::default();
        for ticket in 0..10_000u64 {
            index.insert(key(ticket as i64, ticket), ticket as Slot);
        }
        assert!(index.late.is_empty());
        // Remove the oldest keys until a compaction starts.
        let mut removed = 0u64;
        while index.compaction.is_none() {
            assert_eq!(
                index.remove(&key(removed as i64, removed)),
                Some(removed as Slot)
            );
            removed += 1;
        }
        assert_eq!(removed, 5_001, "due once tombstones outnumber live entries");
        // The change that started it went through one step of entries, all tombstones.
        let compaction = index.compaction.as_ref().unwrap();
        assert!(compaction.fresh.run.len() == 0);
        assert_eq!(compaction.copied, Some(key(31, 31)));
        // Keep changing: removals of the oldest keys and inserts of new ones.
        let (mut changes, mut next) = (0, 10_000u64);
        while index.compaction.is_some() {
            assert_eq!(
                index.remove(&key(removed as i64, removed)),
                Some(removed as Slot)
            );
            index.insert(key(next as i64, next), next as Slot);
            (removed, next, changes) = (removed + 1, next + 1, changes + 2);
        }
        // Each change went through 32 entries: the 10 000 held when it started, and the one
        // inserted with every two changes since.
        let step = COPY_PER_CHANGE as u64;
        let pairs = (10_000 - step).div_ceil(2 * step - 1);
        assert_eq!(changes, 2 * pairs);
        let live: Vec<Slot> = index.range(..).map(|(_, s)| s).collect();
        assert!(live.iter().copied().eq(removed as Slot..next as Slot));
        // The 5 001 tombstones are gone; the only ones left are of keys removed after they
        // had been copied.
        assert!(index.late.is_empty());
        assert!(
            index.tombstones <= changes as usize / 2,
            "{}",
            index.tombstones
        );
        assert_eq!(index.run.len(), live.len() + index.tombstones);
    }
}
