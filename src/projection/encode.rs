//! Writing a stored state as a layer on its base (`docs/FORMAT.md` §6, §6.5).
//!
//! Two steps, so that the caller's lock is held only for the first:
//! 1. [`Projections::snapshot`] copies what is in memory (the records since the base, the
//!    hot state) and shares the base (`Arc`, immutable). Its cost grows with the events since
//!    the last checkpoint, not with the journal.
//! 2. [`StateSnapshot::write`] merges the base's top layers (those [`layers_kept`] does not
//!    keep; all of them for a state written whole) and the copied records, in key order, into
//!    a new payload written front to back: the records stream through; only the fixed-size
//!    index entries are collected (and the secondary ones sorted) before they are written.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::iter::Peekable;
use std::marker::PhantomData;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::intern::Interner;
use super::run::DayRuns;
use super::signals::{SignalCount, SignalRecord};
use super::snapshots::SnapshotRecord;
use super::stored::*;
use super::tally::DayTallies;
use super::time::Day;
use super::time_index::TimeKey;
use super::trades::TradeRecord;
use super::{Link, Projections, PROJECTION_VERSION};
use crate::error::Corruption;
use crate::model::event::TradeStatus;
use crate::progress::RECORDS_PER_REPORT;

type Damage = Box<Corruption>;

/// The `HOT` section: decoded eagerly at load, small (no finished history in it). Only the
/// top layer's is used as the state; the layers under it are read for their head
/// (`stored::HotHead`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Hot {
    /// The seq of the layer this one lies on; `None` for a state written whole.
    pub parent: Option<u64>,
    pub head_seq: u64,
    pub applied_events: u64,
    pub ignored_events: u64,
    pub names: Interner,
    /// OPEN and PENDING trades, by ticket: they can still change.
    pub live_trades: Vec<TradeRecord>,
    /// Signals and executed signals per UTC day, over every signal.
    pub signal_days: BTreeMap<Day, SignalCount>,
    pub exit_days: DayTallies,
    pub exit_runs: DayRuns,
    /// Accounts with snapshots, ascending.
    pub snapshot_accounts: Vec<u64>,
    /// Signals of the layers below executed after they were written, by signal_id.
    pub links: Vec<(u64, Link)>,
    /// Trades of the layers below linked to a signal after they were written: (ticket,
    /// signal_id), by ticket.
    pub relinks: Vec<(u64, u64)>,
}

/// Why a state could not be written.
#[doc(hidden)]
#[derive(Debug, thiserror::Error)]
pub enum WriteStateError {
    #[error("cannot write the state: {0}")]
    Io(#[from] io::Error),
    /// The base the state reads in place has a damaged block.
    #[error("checkpoint damaged: {0}")]
    Corrupt(Box<Corruption>),
}

impl From<Box<Corruption>> for WriteStateError {
    fn from(damage: Box<Corruption>) -> WriteStateError {
        WriteStateError::Corrupt(damage)
    }
}

/// The state at one sequence number, ready to be written without the projections' lock.
#[doc(hidden)]
pub struct StateSnapshot {
    hot: Hot,
    base: Option<Arc<Base>>,
    /// How many of the base's layers, from the bottom, the new one lies on; the others are
    /// merged into it ([`layers_kept`]).
    keep: usize,
    /// Finished trades in memory, by ticket.
    trades: Encoded<TradeRecord, u64>,
    /// Signals in memory, by signal_id.
    signals: Encoded<SignalRecord, u64>,
    /// Snapshots in memory, by (account, snapshot_time, seq).
    snapshots: Encoded<SnapshotRecord, (u64, TimeKey)>,
    base_links: FxHashMap<u64, Link>,
    base_relinks: FxHashMap<u64, u64>,
}

fn finished(status: TradeStatus) -> bool {
    !matches!(status, TradeStatus::Open | TradeStatus::Pending)
}

/// Most layers a state is stored in: reading merges one source per layer.
pub(crate) const LAYERS_MAX: usize = 8;

/// A layer is merged into the new one above it while it is at most this many times the
/// records merged so far: kept layers then grow geometrically from the top down, so a stack
/// holds few layers and a record is rewritten a few times over its life (`docs/FORMAT.md`
/// §6.5).
const MERGE_RATIO: u64 = 2;

/// How many of the layers (sizes in records, bottom first) a new layer of `new` records lies on:
/// the others, from the top down, are merged into it while each is at most [`MERGE_RATIO`]
/// times what is merged so far, and while the stack would otherwise exceed [`LAYERS_MAX`].
pub(crate) fn layers_kept(layers: &[u64], new: u64) -> usize {
    let (mut keep, mut merged) = (layers.len(), new);
    while keep > 0 && (layers[keep - 1] <= MERGE_RATIO.saturating_mul(merged) || keep >= LAYERS_MAX)
    {
        keep -= 1;
        merged = merged.saturating_add(layers[keep]);
    }
    keep
}

impl Projections {
    /// Copies the in-memory part of the state for [`StateSnapshot::write`], which writes it
    /// as a layer on the base, merging the base's top layers into it as [`layers_kept`] says.
    #[doc(hidden)]
    pub fn snapshot(&self) -> Result<StateSnapshot, Box<Corruption>> {
        let mut snapshot = self.snapshot_whole()?;
        if let Some(base) = &snapshot.base {
            let sizes: Vec<u64> = base.layers().iter().map(|layer| layer.records()).collect();
            let new = snapshot.trades.ends.len()
                + snapshot.signals.ends.len()
                + snapshot.snapshots.ends.len();
            snapshot.keep = layers_kept(&sizes, new as u64);
            // A checkpoint at the top layer's own seq (nothing applied since) replaces that
            // layer's file: it takes the layer's place instead of lying on it.
            if base.seq() == Some(self.head_seq) {
                snapshot.keep = snapshot.keep.min(sizes.len() - 1);
            }
        }
        Ok(snapshot)
    }

    /// [`Projections::snapshot`] of the whole state: no layer is kept.
    #[doc(hidden)]
    pub fn snapshot_whole(&self) -> Result<StateSnapshot, Box<Corruption>> {
        self.intact()?;
        // Encoded, not cloned and not sorted: under the lock, a compact copy without an
        // allocation per record or text keeps the first checkpoint of a large state short.
        let records = self.trades.records.iter();
        let trades = Encoded::new(records.filter(|r| finished(r.status)), |r| r.ticket);
        let mut live: Vec<TradeRecord> = (self.trades.records.iter())
            .filter(|r| !finished(r.status))
            .cloned()
            .collect();
        live.sort_unstable_by_key(|r| r.ticket);
        let signals = Encoded::new(self.signals.records.iter(), |r| r.signal_id);
        let snapshot_key = |r: &SnapshotRecord| (r.account_number, r.key());
        let snapshots = Encoded::new(self.snapshots.records.iter(), snapshot_key);
        let hot = Hot {
            parent: None,
            head_seq: self.head_seq,
            applied_events: self.applied_events,
            ignored_events: self.ignored_events,
            names: self.names.clone(),
            live_trades: live,
            signal_days: self.signals.per_day.clone(),
            exit_days: self.exit_days.clone(),
            exit_runs: self.exit_runs.clone(),
            snapshot_accounts: self.accounts(),
            links: Vec::new(),
            relinks: Vec::new(),
        };
        Ok(StateSnapshot {
            hot,
            base: self.base.clone(),
            keep: 0,
            trades,
            signals,
            snapshots,
            base_links: self.base_links.clone(),
            base_relinks: self.base_relinks.clone(),
        })
    }

    /// The whole state as one payload in memory (tests, fuzzing, benches).
    #[doc(hidden)]
    pub fn encode_state(&self) -> Result<Vec<u8>, Box<Corruption>> {
        encoded(self.snapshot_whole()?)
    }

    /// The state as a layer on its base, as a checkpoint would store it
    /// ([`Projections::snapshot`]), in memory (tests).
    #[doc(hidden)]
    pub fn encode_layer(&self) -> Result<Vec<u8>, Box<Corruption>> {
        encoded(self.snapshot()?)
    }
}

fn encoded(snapshot: StateSnapshot) -> Result<Vec<u8>, Box<Corruption>> {
    let mut bytes = Vec::new();
    match snapshot.write(&mut bytes) {
        Ok(_) => Ok(bytes),
        Err(WriteStateError::Corrupt(damage)) => Err(damage),
        Err(WriteStateError::Io(e)) => unreachable!("writing into a Vec cannot fail: {e}"),
    }
}

/// A postcard output that appends to a `Vec` with `push` and `extend_from_slice` (postcard's
/// `io::Write` and `Extend` outputs go byte by byte, about twice as slow for records).
struct Appending<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Appending<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the postcard encoding of `record` to `bytes`.
fn encode_into<T: Serialize>(record: &T, bytes: &mut Vec<u8>) {
    let encoded = postcard::serialize_with_flavor(record, Appending(bytes));
    encoded.expect("postcard encoding of a record into a Vec is infallible");
}

/// Records encoded (postcard) one after the other in the order met, with the key each is to
/// be written in. Taken under the lock: a compact copy without an allocation per record or
/// text, and without sorting; the sort and the decode happen outside it.
struct Encoded<T, K> {
    bytes: Vec<u8>,
    /// Where each record ends, and its key.
    ends: Vec<(usize, K)>,
    records: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned, K: Ord + Copy> Encoded<T, K> {
    fn new<'a>(records: impl Iterator<Item = &'a T>, key: impl Fn(&T) -> K) -> Encoded<T, K>
    where
        T: 'a,
    {
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        for record in records {
            encode_into(record, &mut bytes);
            ends.push((bytes.len(), key(record)));
        }
        Encoded {
            bytes,
            ends,
            records: PhantomData,
        }
    }

    /// The records, decoded again, by key.
    fn by_key(&self) -> impl Iterator<Item = T> + '_ {
        let mut order: Vec<(K, usize)> = (self.ends.iter().enumerate())
            .map(|(index, (_, key))| (*key, index))
            .collect();
        order.sort_unstable_by_key(|(key, _)| *key);
        order.into_iter().map(|(_, index)| {
            let start = index.checked_sub(1).map_or(0, |before| self.ends[before].0);
            let record = postcard::from_bytes(&self.bytes[start..self.ends[index].0]);
            record.expect("a record encoded by this snapshot decodes")
        })
    }
}

/// Every record of a base array, in the order of its key across the layers, read by
/// `read(base, ordinal)`.
fn stored<'a, T>(
    base: Option<&'a Base>,
    section: usize,
    read: impl Fn(&'a Base, u64) -> Result<T, Damage> + 'a,
) -> impl Iterator<Item = Result<T, Damage>> + 'a {
    let ordinals = base
        .into_iter()
        .flat_map(move |base| base.in_key_order(section).map(move |i| (base, i)));
    ordinals.map(move |(base, ordinal)| read(base, ordinal?))
}

/// Every trade in ticket order: the base's (with later links) merged with `memory` (sorted).
pub(crate) fn all_trades<'a>(
    base: Option<&'a Base>,
    names: &'a Interner,
    relinks: &'a FxHashMap<u64, u64>,
    memory: impl Iterator<Item = TradeRecord> + 'a,
) -> impl Iterator<Item = Result<TradeRecord, Damage>> + 'a {
    let read = move |base: &Base, i| Ok(with_relink(base.trade(names, i)?, relinks));
    Merged::new(
        stored(base, TRADE_BY_TICKET, read),
        memory,
        |r: &TradeRecord| r.ticket,
    )
}

/// Every signal in signal_id order, base (with later executions) and `memory` merged.
pub(crate) fn all_signals<'a>(
    base: Option<&'a Base>,
    names: &'a Interner,
    links: &'a FxHashMap<u64, Link>,
    memory: impl Iterator<Item = SignalRecord> + 'a,
) -> impl Iterator<Item = Result<SignalRecord, Damage>> + 'a {
    let read = move |base: &Base, i| Ok(with_link(base.signal(names, i)?, links));
    Merged::new(
        stored(base, SIGNAL_BY_ID, read),
        memory,
        |r: &SignalRecord| r.signal_id,
    )
}

/// Every snapshot in (account, snapshot_time, seq) order, base and `memory` merged.
pub(crate) fn all_snapshots<'a>(
    base: Option<&'a Base>,
    names: &'a Interner,
    memory: impl Iterator<Item = SnapshotRecord> + 'a,
) -> impl Iterator<Item = Result<SnapshotRecord, Damage>> + 'a {
    let read = move |base: &Base, i| base.snapshot(names, i);
    let key = |r: &SnapshotRecord| (r.account_number, r.key());
    Merged::new(stored(base, SNAPSHOT_BY_KEY, read), memory, key)
}

/// Two sequences sorted by `key` (stored ones fallible), merged; an error ends nothing by
/// itself, the consumer stops at it.
struct Merged<S: Iterator, M: Iterator, F> {
    stored: Peekable<S>,
    memory: Peekable<M>,
    key: F,
}

impl<T, K: Ord, S, M, F> Merged<S, M, F>
where
    S: Iterator<Item = Result<T, Damage>>,
    M: Iterator<Item = T>,
    F: Fn(&T) -> K,
{
    fn new(stored: S, memory: M, key: F) -> Merged<S, M, F> {
        Merged {
            stored: stored.peekable(),
            memory: memory.peekable(),
            key,
        }
    }
}

impl<T, K: Ord, S, M, F> Iterator for Merged<S, M, F>
where
    S: Iterator<Item = Result<T, Damage>>,
    M: Iterator<Item = T>,
    F: Fn(&T) -> K,
{
    type Item = Result<T, Damage>;

    fn next(&mut self) -> Option<Result<T, Damage>> {
        let stored_first = match (self.stored.peek(), self.memory.peek()) {
            (Some(Ok(stored)), Some(memory)) => (self.key)(stored) <= (self.key)(memory),
            (Some(_), _) => true,
            (None, _) => false,
        };
        match stored_first {
            true => self.stored.next(),
            false => self.memory.next().map(Ok),
        }
    }
}

/// A writer that knows how many bytes went through it.
struct Counted<'a, W: Write> {
    out: &'a mut W,
    at: u64,
    scratch: Vec<u8>,
    /// Records written, and who is told how many every [`RECORDS_PER_REPORT`].
    records: u64,
    written: &'a mut dyn FnMut(u64),
}

impl<W: Write> Counted<'_, W> {
    fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    fn record<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        encode_into(record, &mut scratch);
        let written = self.bytes(&scratch);
        self.scratch = scratch;
        self.records += 1;
        if self.records.is_multiple_of(RECORDS_PER_REPORT) {
            (self.written)(self.records);
        }
        written
    }

    /// Writes fixed-size entries as one section.
    fn entries<const N: usize>(&mut self, entries: &[[u8; N]]) -> io::Result<Section> {
        let offset = self.at;
        for entry in entries {
            self.bytes(entry)?;
        }
        Ok(Section {
            offset,
            len: self.at - offset,
        })
    }
}

/// `words` as consecutive little-endian `u64`s: one fixed-size index entry.
fn le_words<const N: usize>(words: &[u64]) -> [u8; N] {
    assert_eq!(words.len() * 8, N, "an entry is a whole number of words");
    let mut bytes = [0u8; N];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

fn time_entry(key: TimeKey, ordinal: u64) -> [u8; 24] {
    le_words(&[key.0.nanos() as u64, key.1, ordinal])
}

fn wide_entry(words: [u64; 4]) -> [u8; 32] {
    le_words(&words)
}

impl StateSnapshot {
    /// The sequence number the state is at.
    pub fn seq(&self) -> u64 {
        self.hot.head_seq
    }

    /// The seq of the layer the state is written on; `None` when it is written whole.
    pub fn parent(&self) -> Option<u64> {
        self.kept().and_then(|kept| kept.seq())
    }

    /// The layers the new one lies on.
    fn kept(&self) -> Option<Base> {
        self.base.as_ref().and_then(|base| base.part(0..self.keep))
    }

    /// The layers merged into the new one.
    fn merging(&self) -> Option<Base> {
        let base = self.base.as_ref()?;
        base.part(self.keep..base.layers().len())
    }

    /// The hot section of the new layer: the overrides of the kept layers' records go with it,
    /// those of the merged layers are written into their records.
    fn hot(&self) -> Result<Hot, Damage> {
        let mut hot = self.hot.clone();
        let Some(kept) = self.kept() else {
            return Ok(hot);
        };
        hot.parent = kept.seq();
        for (signal_id, link) in &self.base_links {
            if kept.find_signal(*signal_id)?.is_some() {
                hot.links.push((*signal_id, link.clone()));
            }
        }
        for (ticket, signal_id) in &self.base_relinks {
            if kept.find_trade(*ticket)?.is_some() {
                hot.relinks.push((*ticket, *signal_id));
            }
        }
        hot.links.sort_unstable_by_key(|(signal_id, _)| *signal_id);
        hot.relinks.sort_unstable();
        Ok(hot)
    }

    /// Writes the payload (`docs/FORMAT.md` §6.2) to `out`; returns its length.
    pub fn write(&self, out: &mut impl Write) -> Result<u64, WriteStateError> {
        self.write_telling(out, &mut |_| {})
    }

    /// How many records (trades, signals, snapshots, and the rest of the state as one)
    /// [`StateSnapshot::write`] writes at most: a record of memory that replaces one of the
    /// base is counted twice.
    pub fn records_at_most(&self) -> u64 {
        let merging = self.merging();
        let base = |section| merging.as_ref().map_or(0, |base| base.count(section));
        let memory = (self.trades.ends.len() + self.signals.ends.len()) as u64
            + self.snapshots.ends.len() as u64;
        base(TRADE_BY_TICKET) + base(SIGNAL_BY_ID) + base(SNAPSHOT_BY_KEY) + memory + 1
    }

    /// [`StateSnapshot::write`], telling `written` how many records are written, every
    /// [`RECORDS_PER_REPORT`] records.
    pub fn write_telling(
        &self,
        out: &mut impl Write,
        written: &mut dyn FnMut(u64),
    ) -> Result<u64, WriteStateError> {
        let mut out = Counted {
            out,
            at: 0,
            scratch: Vec::new(),
            records: 0,
            written,
        };
        let mut sections = [Section::default(); SECTION_COUNT];
        let merging = self.merging();
        self.write_trades(merging.as_ref(), &mut out, &mut sections)?;
        self.write_signals(merging.as_ref(), &mut out, &mut sections)?;
        self.write_snapshots(merging.as_ref(), &mut out, &mut sections)?;
        let offset = out.at;
        out.record(&(PROJECTION_VERSION, &self.hot()?))?;
        sections[HOT] = Section {
            offset,
            len: out.at - offset,
        };
        out.bytes(&DIRECTORY_MAGIC)?;
        for section in sections {
            out.bytes(&section.offset.to_le_bytes())?;
            out.bytes(&section.len.to_le_bytes())?;
        }
        Ok(out.at)
    }

    fn write_trades<W: Write>(
        &self,
        merging: Option<&Base>,
        out: &mut Counted<W>,
        sections: &mut [Section; SECTION_COUNT],
    ) -> Result<(), WriteStateError> {
        let names = &self.hot.names;
        let memory = self.trades.by_key();
        let trades = all_trades(merging, names, &self.base_relinks, memory);
        let (mut by_ticket, mut by_entry, mut by_exit) = (Vec::new(), Vec::new(), Vec::new());
        let start = out.at;
        for record in trades {
            let record = record?;
            let ordinal = by_ticket.len() as u64;
            let status = u64::from(status_code(record.status));
            let entry_time = record.entry_time.nanos() as u64;
            by_ticket.push(wide_entry([
                record.ticket,
                out.at - start,
                entry_time,
                status,
            ]));
            by_entry.push((record.entry_key(), ordinal));
            if record.status == TradeStatus::Closed {
                let exit_time = record.exit_time.unwrap_or(record.entry_time);
                by_exit.push(((exit_time, record.ticket), ordinal));
            }
            out.record(&record)?;
        }
        sections[TRADE_RECORDS] = Section {
            offset: start,
            len: out.at - start,
        };
        sections[TRADE_BY_TICKET] = out.entries(&by_ticket)?;
        drop(by_ticket);
        for (section, mut keys) in [(TRADE_BY_ENTRY, by_entry), (TRADE_BY_EXIT, by_exit)] {
            keys.sort_unstable();
            let entries: Vec<[u8; 24]> = keys.iter().map(|(k, o)| time_entry(*k, *o)).collect();
            sections[section] = out.entries(&entries)?;
        }
        Ok(())
    }

    fn write_signals<W: Write>(
        &self,
        merging: Option<&Base>,
        out: &mut Counted<W>,
        sections: &mut [Section; SECTION_COUNT],
    ) -> Result<(), WriteStateError> {
        let names = &self.hot.names;
        let memory = self.signals.by_key();
        let signals = all_signals(merging, names, &self.base_links, memory);
        let (mut by_id, mut by_time) = (Vec::new(), Vec::new());
        let start = out.at;
        for record in signals {
            let record = record?;
            let ordinal = by_id.len() as u64;
            let time = record.timestamp.nanos() as u64;
            let executed = u64::from(record.executed);
            by_id.push(wide_entry([
                record.signal_id,
                out.at - start,
                time,
                executed,
            ]));
            by_time.push(((record.symbol.id(), record.time_key()), ordinal));
            out.record(&record)?;
        }
        sections[SIGNAL_RECORDS] = Section {
            offset: start,
            len: out.at - start,
        };
        sections[SIGNAL_BY_ID] = out.entries(&by_id)?;
        drop(by_id);
        by_time.sort_unstable();
        let entries: Vec<[u8; 32]> = by_time
            .iter()
            .map(|((symbol, (time, seq)), ordinal)| {
                wide_entry([u64::from(*symbol), time.nanos() as u64, *seq, *ordinal])
            })
            .collect();
        sections[SIGNAL_BY_TIME] = out.entries(&entries)?;
        Ok(())
    }

    fn write_snapshots<W: Write>(
        &self,
        merging: Option<&Base>,
        out: &mut Counted<W>,
        sections: &mut [Section; SECTION_COUNT],
    ) -> Result<(), WriteStateError> {
        let memory = self.snapshots.by_key();
        let snapshots = all_snapshots(merging, &self.hot.names, memory);
        let mut by_key = Vec::new();
        let start = out.at;
        for record in snapshots {
            let record = record?;
            let (time, seq) = record.key();
            let offset = out.at - start;
            by_key.push(wide_entry([
                record.account_number,
                time.nanos() as u64,
                seq,
                offset,
            ]));
            out.record(&record)?;
        }
        sections[SNAPSHOT_RECORDS] = Section {
            offset: start,
            len: out.at - start,
        };
        sections[SNAPSHOT_BY_KEY] = out.entries(&by_key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack after each of `rounds` checkpoints of `delta` records, by the rule, and the
    /// records written in all.
    fn stacks(delta: u64, rounds: usize) -> (Vec<Vec<u64>>, u64) {
        let (mut stack, mut written): (Vec<u64>, u64) = (Vec::new(), 0);
        let stacks = (0..rounds)
            .map(|_| {
                let keep = layers_kept(&stack, delta);
                let merged: u64 = stack.drain(keep..).sum();
                stack.push(merged + delta);
                written += merged + delta;
                stack.clone()
            })
            .collect();
        (stacks, written)
    }

    #[test]
    fn equal_checkpoints_merge_into_geometric_layers() {
        let (seen, _) = stacks(1, 8);
        let expected: [&[u64]; 8] = [&[1], &[2], &[3], &[3, 1], &[5], &[5, 1], &[5, 2], &[8]];
        assert_eq!(seen, expected);
        // A record is rewritten a few times over its life, where writing the whole state at
        // every checkpoint rewrites it at each one: 100 checkpoints write 4.83 times the
        // records (50.5 whole), 10,000 write 8.74 times (5,000.5 whole).
        let (seen, written) = stacks(1, 100);
        assert_eq!((written, seen[99].as_slice()), (483, [89, 8, 3].as_slice()));
        let (seen, written) = stacks(1, 10_000);
        assert_eq!(written, 87_431);
        assert!(seen.iter().all(|stack| stack.len() <= LAYERS_MAX));
        assert_eq!(seen.iter().map(Vec::len).max(), Some(LAYERS_MAX));
    }

    #[test]
    fn a_layer_under_the_top_reads_the_head_of_its_hot_section() {
        let hot = Hot {
            parent: Some(5),
            head_seq: 9,
            applied_events: 9,
            links: vec![(3, (7, Some("late".into())))],
            ..Hot::default()
        };
        let bytes = postcard::to_allocvec(&hot).unwrap();
        let head: HotHead = postcard::take_from_bytes(&bytes).unwrap().0;
        assert_eq!((head.parent, head.head_seq), (Some(5), 9));
    }

    #[test]
    fn a_stack_never_exceeds_the_most_layers() {
        // Layers far larger than what comes are kept, until the stack is full; then the top
        // one is merged (four times smaller than the one under it, which is kept).
        let stack: Vec<u64> = (0..LAYERS_MAX as u64).map(|i| 1 << (40 - 2 * i)).collect();
        for len in 0..LAYERS_MAX {
            assert_eq!(layers_kept(&stack[..len], 1), len);
        }
        assert_eq!(layers_kept(&stack, 1), LAYERS_MAX - 1);
        assert_eq!(layers_kept(&[], 1), 0);
        // A layer exactly twice what is merged is merged, one byte more is kept; what is
        // merged grows as layers are merged.
        assert_eq!(layers_kept(&[100, 4], 2), 1);
        assert_eq!(layers_kept(&[100, 5], 2), 2);
        assert_eq!(layers_kept(&[12, 4], 2), 0);
        assert_eq!(layers_kept(&[13, 4], 2), 1);
    }
}
