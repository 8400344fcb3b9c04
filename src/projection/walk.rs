//! Walks: the rows of a table one at a time, in key order. The rows of the checkpoint's base
//! and those in memory are merged by key, and a stored row is decoded only when its turn
//! comes, so a walk holds one row (and a cursor per source), however many it goes through:
//! the command line streams millions of rows through them, and every list query
//! (`query.rs`) is a walk, collected or cut short. This is the one way the two parts of a
//! table are merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::RangeInclusive;

use super::intern::Sym;
use super::signals::SignalRecord;
use super::snapshots::SnapshotRecord;
use super::stored::{with_link, with_relink, Base, TRADE_BY_ENTRY, TRADE_BY_EXIT};
use super::time_index::{TimeIndex, TimeKey};
use super::trades::{TradeHead, TradeRecord};
use super::Projections;
use crate::error::Corruption;
use crate::model::event::{Timestamp, TradeStatus};

type Damage = Box<Corruption>;

/// Every (time, seq) key.
pub(crate) const ALL_KEYS: RangeInclusive<TimeKey> =
    (Timestamp::MIN, 0)..=(Timestamp::MAX, u64::MAX);

/// The least key greater than `key`; `None` for the greatest key.
pub(crate) fn key_after((time, id): TimeKey) -> Option<TimeKey> {
    match id.checked_add(1) {
        Some(next) => Some((time, next)),
        None if time < Timestamp::MAX => Some((Timestamp::from_nanos(time.nanos() + 1), 0)),
        None => None,
    }
}

/// Where a row lies: in memory, or in the base at an ordinal (or array index) decoded when
/// the row's turn comes.
#[derive(Clone, Copy)]
pub(crate) enum At<'a, T> {
    Memory(&'a T),
    Stored(u64),
}

/// A row found by a walk: in memory, or decoded from the base.
pub(crate) enum Held<'a, T> {
    Memory(&'a T),
    Stored(T),
}

impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Held::Memory(record) => record,
            Held::Stored(record) => record,
        }
    }
}

/// One source of a walk: `(key, where)` of its rows, ascending in `K`.
type Sorted<'a, K, T> = Box<dyn Iterator<Item = Result<(K, At<'a, T>), Damage>> + 'a>;

/// The rows of a walk, decoded, one at a time.
pub(crate) type Records<'a, T> = Box<dyn Iterator<Item = Result<Held<'a, T>, Damage>> + 'a>;

/// Sources, each sorted by key, merged in key order (keys are unique across sources: a row
/// is in the base or in memory, never both). Holds the next row of each source. Ends after
/// the first error.
struct Walk<'a, K, T> {
    sources: Vec<Sorted<'a, K, T>>,
    /// The next key of each source that has rows left, least first.
    heads: BinaryHeap<Reverse<(K, usize)>>,
    /// The next row of each source, whose key is in `heads`.
    waiting: Vec<Option<At<'a, T>>>,
    started: bool,
    failed: bool,
}

impl<'a, K: Ord + Copy, T> Walk<'a, K, T> {
    fn new(sources: Vec<Sorted<'a, K, T>>) -> Walk<'a, K, T> {
        let waiting = sources.iter().map(|_| None).collect();
        Walk {
            heads: BinaryHeap::with_capacity(sources.len()),
            sources,
            waiting,
            started: false,
            failed: false,
        }
    }

    /// Reads the next row of `source` into `heads` and `waiting`.
    fn pull(&mut self, source: usize) -> Result<(), Damage> {
        if let Some(row) = self.sources[source].next() {
            let (key, at) = row?;
            self.waiting[source] = Some(at);
            self.heads.push(Reverse((key, source)));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<At<'a, T>>, Damage> {
        if !self.started {
            self.started = true;
            for source in 0..self.sources.len() {
                self.pull(source)?;
            }
        }
        let Some(Reverse((_, source))) = self.heads.pop() else {
            return Ok(None);
        };
        let row = self.waiting[source].take();
        self.pull(source)?;
        Ok(row)
    }
}

impl<'a, K: Ord + Copy, T> Iterator for Walk<'a, K, T> {
    type Item = Result<At<'a, T>, Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let row = self.step().transpose();
        self.failed = matches!(row, Some(Err(_)));
        row
    }
}

/// The rows of `sources` in key order, stored ones decoded by `load`.
fn records<'a, K: Ord + Copy + 'a, T: 'a>(
    sources: Vec<Sorted<'a, K, T>>,
    load: impl Fn(u64) -> Result<T, Damage> + 'a,
) -> Records<'a, T> {
    Box::new(Walk::new(sources).map(move |at| {
        Ok(match at? {
            At::Memory(record) => Held::Memory(record),
            At::Stored(ordinal) => Held::Stored(load(ordinal)?),
        })
    }))
}

/// Where the rows of a walk come from: the base, or memory alone.
const NO_BASE: &str = "a stored row comes from the base";

impl Projections {
    /// Trade `ordinal` of the base, with a link made after the checkpoint.
    pub(crate) fn base_trade(&self, base: &Base, ordinal: u64) -> Result<TradeRecord, Damage> {
        base.walked();
        let record = base.trade(&self.names, ordinal)?;
        Ok(with_relink(record, &self.base_relinks))
    }

    /// Signal `ordinal` of the base, with an execution made after the checkpoint.
    pub(crate) fn base_signal(&self, base: &Base, ordinal: u64) -> Result<SignalRecord, Damage> {
        base.walked();
        let record = base.signal(&self.names, ordinal)?;
        Ok(with_link(record, &self.base_links))
    }

    /// The trades of the in-memory `index` and of the base array `section` (`TRADE_BY_ENTRY`
    /// or `TRADE_BY_EXIT`; `None`: memory only) with keys in `keys`, in key order. Base trades
    /// whose stored status is not `status` are passed over undecoded.
    pub(crate) fn trade_walk<'a>(
        &'a self,
        index: &'a TimeIndex,
        section: Option<usize>,
        keys: RangeInclusive<TimeKey>,
        status: Option<TradeStatus>,
    ) -> Result<Records<'a, TradeRecord>, Damage> {
        let hot = index.range(keys.clone());
        let hot = hot.map(|(key, slot)| Ok((key, At::Memory(&self.trades.records[slot]))));
        let mut sources: Vec<Sorted<TimeKey, TradeRecord>> = vec![Box::new(hot)];
        let base = self.base.as_deref().filter(|_| section.is_some());
        if let (Some(base), Some(section)) = (base, section) {
            for span in base.trades_between(section, &keys)? {
                let stored = span.filter_map(move |found| {
                    let found = || {
                        let (key, ordinal) = found?;
                        let wanted = match status {
                            Some(status) => base.trade_entry(ordinal)?.status == status,
                            None => true,
                        };
                        Ok(wanted.then_some((key, At::Stored(ordinal))))
                    };
                    found().transpose()
                });
                sources.push(Box::new(stored));
            }
        }
        Ok(records(sources, move |ordinal| {
            self.base_trade(base.expect(NO_BASE), ordinal)
        }))
    }

    /// The CLOSED trades with an exit key in `keys`, by (entry_time, ticket), those after
    /// `after` only. To put them in that order, the walk first gathers the entry key and
    /// place of each (32 bytes a trade; a stored trade's come from its ticket entry, not a
    /// decode), then decodes them one at a time.
    pub(crate) fn closed_by_entry<'a>(
        &'a self,
        keys: RangeInclusive<TimeKey>,
        after: Option<TimeKey>,
    ) -> Result<Records<'a, TradeRecord>, Damage> {
        let hot = self.trades.closed_by_exit.range(keys.clone());
        let mut found: Vec<(TimeKey, At<TradeRecord>)> = hot
            .map(|(_, slot)| {
                let record = &self.trades.records[slot];
                (record.entry_key(), At::Memory(record))
            })
            .collect();
        let base = self.base.as_deref();
        if let Some(base) = base {
            for span in base.trades_between(TRADE_BY_EXIT, &keys)? {
                found.reserve_exact(usize::try_from(span.len()).unwrap_or(0));
                for stored in span {
                    let (_, ordinal) = stored?;
                    let entry = base.trade_entry(ordinal)?;
                    found.push(((entry.entry_time, entry.ticket), At::Stored(ordinal)));
                }
            }
        }
        if let Some(after) = after {
            found.retain(|(key, _)| *key > after);
        }
        found.sort_unstable_by_key(|(key, _)| *key);
        let sorted: Sorted<TimeKey, TradeRecord> = Box::new(found.into_iter().map(Ok));
        Ok(records(vec![sorted], move |ordinal| {
            self.base_trade(base.expect(NO_BASE), ordinal)
        }))
    }

    /// Every trade (any status) with an entry key in `keys`, greatest key first.
    pub(crate) fn trades_newest_first(
        &self,
        keys: RangeInclusive<TimeKey>,
    ) -> Result<Records<'_, TradeRecord>, Damage> {
        let hot = self.trades.by_entry.range_rev(keys.clone());
        let hot = hot.map(|(key, slot)| Ok((Reverse(key), At::Memory(&self.trades.records[slot]))));
        let mut sources: Vec<Sorted<Reverse<TimeKey>, TradeRecord>> = vec![Box::new(hot)];
        let base = self.base.as_deref();
        if let Some(base) = base {
            for span in base.trades_between(TRADE_BY_ENTRY, &keys)? {
                let stored = span.rev().map(|stored| {
                    let (key, ordinal) = stored?;
                    Ok((Reverse(key), At::Stored(ordinal)))
                });
                sources.push(Box::new(stored));
            }
        }
        Ok(records(sources, move |ordinal| {
            self.base_trade(base.expect(NO_BASE), ordinal)
        }))
    }

    /// The head of each CLOSED trade with an exit key in `keys` and, if `entered` is given, an
    /// entry_time in it, in exit key order: what a scan over closed trades needs, without
    /// decoding their texts. A stored trade entered outside `entered` is passed over undecoded
    /// (its ticket entry holds its entry_time; without `entered` that entry is not read).
    pub(crate) fn closed_heads<'a>(
        &'a self,
        keys: RangeInclusive<TimeKey>,
        entered: Option<RangeInclusive<Timestamp>>,
    ) -> Result<impl Iterator<Item = Result<TradeHead, Damage>> + 'a, Damage> {
        let hot = self.trades.closed_by_exit.range(keys.clone());
        let in_memory = hot.filter_map({
            let entered = entered.clone();
            move |(key, slot)| {
                let record = &self.trades.records[slot];
                let wanted = entered
                    .as_ref()
                    .is_none_or(|e| e.contains(&record.entry_time));
                wanted.then_some(Ok((key, At::Memory(record))))
            }
        });
        let mut sources: Vec<Sorted<TimeKey, TradeRecord>> = vec![Box::new(in_memory)];
        let base = self.base.as_deref();
        if let Some(base) = base {
            for span in base.trades_between(TRADE_BY_EXIT, &keys)? {
                let entered = entered.clone();
                let stored = span.filter_map(move |found| {
                    let found = || {
                        let (key, ordinal) = found?;
                        let wanted = match &entered {
                            Some(entered) => {
                                entered.contains(&base.trade_entry(ordinal)?.entry_time)
                            }
                            None => true,
                        };
                        Ok(wanted.then_some((key, At::Stored(ordinal))))
                    };
                    found().transpose()
                });
                sources.push(Box::new(stored));
            }
        }
        Ok(Walk::new(sources).map(move |at| match at? {
            At::Memory(record) => Ok(TradeHead::from(record)),
            At::Stored(ordinal) => base.expect(NO_BASE).trade_head(&self.names, ordinal),
        }))
    }

    /// The signals of `symbols` by (timestamp, seq), ascending, or descending with
    /// `newest_first`: one source per symbol in memory and one in the base, merged.
    pub(crate) fn signal_walk(
        &self,
        symbols: &[Sym],
        newest_first: bool,
    ) -> Result<Records<'_, SignalRecord>, Damage> {
        if newest_first {
            self.signals_in_order(symbols, true, Reverse)
        } else {
            self.signals_in_order(symbols, false, |key| key)
        }
    }

    fn signals_in_order<'a, K: Ord + Copy + 'a>(
        &'a self,
        symbols: &[Sym],
        newest_first: bool,
        order: fn(TimeKey) -> K,
    ) -> Result<Records<'a, SignalRecord>, Damage> {
        let mut sources: Vec<Sorted<K, SignalRecord>> = Vec::new();
        let base = self.base.as_deref();
        for &sym in symbols {
            if let Some(index) = self.signals.by_symbol.get(&sym) {
                let hot: Box<dyn Iterator<Item = (TimeKey, _)>> = match newest_first {
                    true => Box::new(index.range_rev(ALL_KEYS)),
                    false => Box::new(index.range(ALL_KEYS)),
                };
                let records = &self.signals.records;
                sources.push(Box::new(hot.map(move |(key, slot)| {
                    Ok((order(key), At::Memory(&records[slot])))
                })));
            }
            if let Some(base) = base {
                for span in base.signals_between(sym.id(), &ALL_KEYS)? {
                    let span: Box<dyn Iterator<Item = _>> = match newest_first {
                        true => Box::new(span.rev()),
                        false => Box::new(span),
                    };
                    sources.push(Box::new(span.map(move |stored| {
                        let (key, ordinal) = stored?;
                        Ok((order(key), At::Stored(ordinal)))
                    })));
                }
            }
        }
        Ok(records(sources, move |ordinal| {
            self.base_signal(base.expect(NO_BASE), ordinal)
        }))
    }

    /// The snapshots of `account` with a key in `keys`, in key order.
    pub(crate) fn snapshot_walk(
        &self,
        account: u64,
        keys: RangeInclusive<TimeKey>,
    ) -> Result<Records<'_, SnapshotRecord>, Damage> {
        let hot = self.snapshots.between(account, keys.clone());
        let hot = hot.map(|record| Ok((record.key(), At::Memory(record))));
        let mut sources: Vec<Sorted<TimeKey, SnapshotRecord>> = vec![Box::new(hot)];
        let base = self.base.as_deref();
        if let Some(base) = base {
            for span in base.snapshots_between(account, &keys)? {
                let stored = span.map(|stored| {
                    let (key, index) = stored?;
                    Ok((key, At::Stored(index)))
                });
                sources.push(Box::new(stored));
            }
        }
        Ok(records(sources, move |index| {
            base.expect(NO_BASE).snapshot(&self.names, index)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(keys: &[u64]) -> Sorted<'static, u64, ()> {
        let rows: Vec<_> = keys.iter().map(|&key| Ok((key, At::Stored(key)))).collect();
        Box::new(rows.into_iter())
    }

    fn ordinals(walk: Walk<'_, u64, ()>) -> Vec<u64> {
        walk.map(|at| match at.unwrap() {
            At::Stored(ordinal) => ordinal,
            At::Memory(_) => unreachable!(),
        })
        .collect()
    }

    #[test]
    fn merges_sources_in_key_order() {
        let walk = Walk::new(vec![
            sorted(&[1, 4, 9]),
            sorted(&[]),
            sorted(&[2, 3, 10, 11]),
        ]);
        assert_eq!(ordinals(walk), [1, 2, 3, 4, 9, 10, 11]);
        assert!(ordinals(Walk::new(Vec::new())).is_empty());
    }

    #[test]
    fn ends_after_an_error() {
        let damage = Box::new(Corruption {
            file: "f".into(),
            offset: 0,
            seq: None,
            reason: "r".into(),
        });
        let failing: Sorted<u64, ()> =
            Box::new(vec![Ok((5, At::Stored(5))), Err(damage)].into_iter());
        let mut walk = Walk::new(vec![sorted(&[1, 7]), failing]);
        assert!(matches!(walk.next(), Some(Ok(At::Stored(1)))));
        assert!(matches!(walk.next(), Some(Err(_))));
        assert!(walk.next().is_none());
    }

    #[test]
    fn key_after_is_the_successor() {
        let t = Timestamp::from_nanos(5);
        assert_eq!(key_after((t, 3)), Some((t, 4)));
        let next = Timestamp::from_nanos(6);
        assert_eq!(key_after((t, u64::MAX)), Some((next, 0)));
        assert_eq!(key_after((Timestamp::MAX, u64::MAX)), None);
    }
}
