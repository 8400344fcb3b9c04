//! The stored state (`docs/FORMAT.md` §6, `docs/PROJECTIONS.md` §6): the history of a
//! checkpoint, a stack of layers read in place.
//!
//! Finished trades, signals and snapshots never change again (a signal changes only by being
//! executed, and a finished trade only by a late `signal_executed` link; both are kept as small
//! in-memory overrides). They are stored as records (postcard, one after the other) plus sorted
//! arrays of fixed-size little-endian entries, and are read where they lie: a lookup is a binary
//! search over the array and the decode of one record. Nothing is decoded or indexed at load
//! except the small *hot* section (counters, names, live trades, per-day aggregates).
//!
//! **Invariant:** every byte is obtained through [`StateBytes::read`], which verifies it before
//! handing it out; a damaged block is an error naming the file and byte offset, never data.
//! Bytes are treated as untrusted even then: every offset and length is bounds-checked, so a
//! forged file gives errors, not panics.

use std::ops::RangeInclusive;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::intern::Interner;
use super::signals::{SignalHead, SignalRecord};
use super::snapshots::SnapshotRecord;
use super::time_index::TimeKey;
use super::trades::{TradeHead, TradeRecord};
use super::Link;
use crate::error::Corruption;
use crate::model::event::{Timestamp, TradeStatus};

/// Bump on any change to the stored layout or the stored structs (field order, types,
/// meaning). Version 1 was one postcard image of every record, decoded and indexed at load.
#[doc(hidden)]
pub const PROJECTION_VERSION: u32 = 4;

/// Why a stored state could not be loaded.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateDecodeError {
    #[error("checkpoint state has layout version {found}, this build reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("malformed checkpoint state: {0}")]
    Malformed(String),
    /// A block the load reads (directory, hot section) failed its check.
    #[error("checkpoint damaged: {0}")]
    Corrupt(Box<Corruption>),
}

/// The first fields of the hot section's `Hot` (`encode.rs`), in its order: what a layer
/// under the top one is read for. postcard encodes a struct as its fields in sequence, so
/// these decode from a `Hot`'s bytes (a test in `encode.rs` checks it).
#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) struct HotHead {
    pub parent: Option<u64>,
    pub head_seq: u64,
}

/// The payload bytes of a stored state, handed out only after they were verified (for a
/// checkpoint file: its per-block checksums, `checkpoint.rs`).
#[doc(hidden)]
pub trait StateBytes: Send + Sync {
    /// Length of the payload.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verified bytes `[offset, offset + len)` of the payload.
    fn read(&self, offset: u64, len: usize) -> Result<&[u8], Box<Corruption>>;

    /// A corruption error at payload `offset` (the implementation names the file and turns the
    /// offset into a file offset).
    fn damage(&self, offset: u64, reason: String) -> Box<Corruption>;

    /// Lets go of what the reads so far hold in memory, when that has grown enough (a mapped
    /// checkpoint: its resident pages). Walks call it as they go; point reads (the append
    /// path's lookups) never do, since it can take a millisecond.
    fn release_if_due(&self) {}
}

/// A state held in memory (tests, fuzzing, benches): bounds-checked, no checksums.
impl StateBytes for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read(&self, offset: u64, len: usize) -> Result<&[u8], Box<Corruption>> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let found = start
            .checked_add(len)
            .and_then(|end| self.as_slice().get(start..end));
        found.ok_or_else(|| self.damage(offset, format!("{len} bytes beyond the end of the state")))
    }

    fn damage(&self, offset: u64, reason: String) -> Box<Corruption> {
        Box::new(Corruption {
            file: "(state in memory)".into(),
            offset,
            seq: None,
            reason,
        })
    }
}

/// A record whose interned names can be checked against the stored names (a record of a
/// forged file may name one that does not exist).
pub(crate) trait Named {
    /// Whether a record's bytes are all of this type (`false`: it is the head of a longer
    /// record, and what follows it is not read).
    const WHOLE: bool = true;

    fn names_known(&self, names: &Interner) -> bool;
}

impl Named for TradeRecord {
    fn names_known(&self, names: &Interner) -> bool {
        names.contains(self.symbol) && self.strategy_name.is_none_or(|s| names.contains(s))
    }
}

impl Named for TradeHead {
    const WHOLE: bool = false;

    fn names_known(&self, names: &Interner) -> bool {
        names.contains(self.symbol) && self.strategy_name.is_none_or(|s| names.contains(s))
    }
}

impl Named for SignalRecord {
    fn names_known(&self, names: &Interner) -> bool {
        names.contains(self.symbol)
            && names.contains(self.strategy_name)
            && names.contains(self.timeframe)
    }
}

impl Named for SignalHead {
    const WHOLE: bool = false;

    fn names_known(&self, names: &Interner) -> bool {
        names.contains(self.symbol) && names.contains(self.strategy_name)
    }
}

impl Named for SnapshotRecord {
    fn names_known(&self, names: &Interner) -> bool {
        names.contains(self.server) && names.contains(self.broker)
    }
}

/// The sections of a stored state, in the order of the directory.
pub(crate) const HOT: usize = 0;
pub(crate) const TRADE_RECORDS: usize = 1;
pub(crate) const TRADE_BY_TICKET: usize = 2;
pub(crate) const TRADE_BY_ENTRY: usize = 3;
pub(crate) const TRADE_BY_EXIT: usize = 4;
pub(crate) const SIGNAL_RECORDS: usize = 5;
pub(crate) const SIGNAL_BY_ID: usize = 6;
pub(crate) const SIGNAL_BY_TIME: usize = 7;
pub(crate) const SNAPSHOT_RECORDS: usize = 8;
pub(crate) const SNAPSHOT_BY_KEY: usize = 9;
pub(crate) const SECTION_COUNT: usize = 10;

/// Bytes of one entry of each array section (0 for the others).
pub(crate) const ENTRY_BYTES: [u64; SECTION_COUNT] = [0, 0, 32, 24, 24, 0, 32, 32, 0, 32];

/// The directory closes the payload: a magic, then `(offset u64, len u64)` per section.
pub(crate) const DIRECTORY_MAGIC: [u8; 8] = *b"TLSTATE2";
pub(crate) const DIRECTORY_BYTES: u64 = 8 + SECTION_COUNT as u64 * 16;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub offset: u64,
    pub len: u64,
}

/// `TRADE_BY_TICKET`: one finished trade, with what the §3 rules need (no record decode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TicketEntry {
    pub ticket: u64,
    pub offset: u64,
    pub entry_time: Timestamp,
    pub status: TradeStatus,
}

/// `SIGNAL_BY_ID`: one signal, with its day and executed flag as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignalEntry {
    pub signal_id: u64,
    pub offset: u64,
    pub timestamp: Timestamp,
    pub executed: bool,
}

/// `SNAPSHOT_BY_KEY`: one snapshot by (account, snapshot_time, seq).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotEntry {
    pub account: u64,
    pub key: TimeKey,
    pub offset: u64,
}

pub(crate) fn status_code(status: TradeStatus) -> u8 {
    match status {
        TradeStatus::Pending => 0,
        TradeStatus::Open => 1,
        TradeStatus::Closed => 2,
        TradeStatus::Cancelled => 3,
        TradeStatus::Failed => 4,
    }
}

fn status_of(code: u8) -> Option<TradeStatus> {
    TradeStatus::ALL.get(usize::from(code)).copied()
}

/// A trade of the base with the signal link made after the checkpoint, if any.
pub(crate) fn with_relink(mut record: TradeRecord, relinks: &FxHashMap<u64, u64>) -> TradeRecord {
    if let Some(signal_id) = relinks.get(&record.ticket) {
        record.signal_id = Some(*signal_id);
    }
    record
}

/// A signal of the base with the execution made after the checkpoint, if any.
pub(crate) fn with_link(mut record: SignalRecord, links: &FxHashMap<u64, Link>) -> SignalRecord {
    if let Some((ticket, reason)) = links.get(&record.signal_id) {
        record.executed = true;
        record.ticket = Some(*ticket);
        record.execution_reason = reason.clone();
    }
    record
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn time_at(bytes: &[u8], at: usize) -> Timestamp {
    Timestamp::from_nanos(i64_at(bytes, at))
}

type Damage = Box<Corruption>;

/// One layer of a stored state (one checkpoint file's payload), read in place: the history
/// that finished between its parent's seq and its own. Shared (`Arc`) between the stacks that
/// hold it: it never changes.
pub(crate) struct Layer {
    bytes: Arc<dyn StateBytes>,
    sections: [Section; SECTION_COUNT],
    /// The sequence number the layer's state is at.
    seq: u64,
    /// The `seq` of the layer under it; `None` for the bottom one.
    parent: Option<u64>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("bytes", &self.bytes.len())
            .field("sections", &self.sections)
            .field("seq", &self.seq)
            .field("parent", &self.parent)
            .finish()
    }
}

impl Layer {
    /// Reads the directory at the end of `bytes`, checks that every section lies inside the
    /// payload and that each array holds whole entries, and reads the head of the hot section:
    /// the layout version, the layer's seq and its parent's.
    pub fn open(bytes: Arc<dyn StateBytes>) -> Result<Layer, StateDecodeError> {
        let malformed = StateDecodeError::Malformed;
        let len = bytes.len();
        if len < DIRECTORY_BYTES {
            return Err(malformed(format!(
                "{len} bytes, too short for the section directory"
            )));
        }
        let at = len - DIRECTORY_BYTES;
        let directory = bytes
            .read(at, DIRECTORY_BYTES as usize)
            .map_err(StateDecodeError::Corrupt)?;
        if directory[..8] != DIRECTORY_MAGIC {
            return Err(malformed("no section directory (bad magic)".into()));
        }
        let mut sections = [Section::default(); SECTION_COUNT];
        for (index, section) in sections.iter_mut().enumerate() {
            let offset = u64_at(directory, 8 + index * 16);
            let section_len = u64_at(directory, 16 + index * 16);
            let inside = offset.checked_add(section_len).is_some_and(|end| end <= at);
            let whole = ENTRY_BYTES[index] == 0 || section_len.is_multiple_of(ENTRY_BYTES[index]);
            if !(inside && whole) {
                return Err(malformed(format!(
                    "section {index} ({section_len} bytes at {offset}) does not fit the payload"
                )));
            }
            *section = Section {
                offset,
                len: section_len,
            };
        }
        let mut layer = Layer {
            bytes,
            sections,
            seq: 0,
            parent: None,
        };
        let head: HotHead = postcard::take_from_bytes(layer.hot()?)
            .map_err(|e| malformed(format!("hot section: {e}")))?
            .0;
        if head.parent.is_some_and(|parent| parent >= head.head_seq) {
            return Err(malformed(format!(
                "a layer at seq {} on a parent at seq {:?}",
                head.head_seq, head.parent
            )));
        }
        (layer.seq, layer.parent) = (head.head_seq, head.parent);
        Ok(layer)
    }

    /// The hot section after its layout version (`Hot`), once the version is checked.
    pub fn hot(&self) -> Result<&[u8], StateDecodeError> {
        let hot = self.section(HOT).map_err(StateDecodeError::Corrupt)?;
        let (found, rest) = postcard::take_from_bytes::<u32>(hot)
            .map_err(|e| StateDecodeError::Malformed(e.to_string()))?;
        if found != PROJECTION_VERSION {
            let expected = PROJECTION_VERSION;
            return Err(StateDecodeError::Version { found, expected });
        }
        Ok(rest)
    }

    pub fn parent(&self) -> Option<u64> {
        self.parent
    }

    /// The trades, signals and snapshots the layer holds: what merging it into a new layer
    /// costs.
    pub fn records(&self) -> u64 {
        NUMBERED.iter().map(|section| self.count(*section)).sum()
    }

    pub fn section(&self, index: usize) -> Result<&[u8], Damage> {
        let section = self.sections[index];
        let len = usize::try_from(section.len).unwrap_or(usize::MAX);
        self.bytes.read(section.offset, len)
    }

    pub fn count(&self, section: usize) -> u64 {
        self.sections[section].len / ENTRY_BYTES[section]
    }

    fn entry(&self, section: usize, index: u64) -> Result<&[u8], Damage> {
        let size = ENTRY_BYTES[section];
        if index >= self.count(section) {
            let offset = self.sections[section].offset;
            return Err(self.damage(
                offset,
                format!("entry {index} of section {section} is missing"),
            ));
        }
        self.bytes
            .read(self.sections[section].offset + index * size, size as usize)
    }

    fn damage(&self, offset: u64, reason: String) -> Damage {
        self.bytes.damage(offset, reason)
    }

    /// The first index in `[lo, hi)` at which `before` is false (`before` must be true on a
    /// prefix of the range: the arrays are sorted).
    fn partition_point(
        &self,
        mut lo: u64,
        mut hi: u64,
        before: impl Fn(u64) -> Result<bool, Damage>,
    ) -> Result<u64, Damage> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(mid)? {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Decodes the record that array entry `index` of `section` points to; records are
    /// stored in the array's order, so it ends where the next one starts.
    fn record<T: DeserializeOwned + Named>(
        &self,
        names: &Interner,
        records: usize,
        section: usize,
        index: u64,
        offset_of: impl Fn(&Layer, u64) -> Result<u64, Damage>,
    ) -> Result<T, Damage> {
        let start = offset_of(self, index)?;
        let end = match index + 1 < self.count(section) {
            true => offset_of(self, index + 1)?,
            false => self.sections[records].len,
        };
        let section = self.sections[records];
        if start > end || end > section.len {
            let reason = format!("record {index} has a bad extent ({start}..{end})");
            return Err(self.damage(section.offset, reason));
        }
        // Inside the section, which lies inside the payload: no overflow.
        let at = section.offset + start;
        let bytes = self.bytes.read(at, (end - start) as usize)?;
        let reason = match postcard::take_from_bytes::<T>(bytes) {
            Ok((_, rest)) if T::WHOLE && !rest.is_empty() => "has trailing bytes".to_string(),
            Ok((record, _)) if !record.names_known(names) => "names an unknown string".to_string(),
            Ok((record, _)) => return Ok(record),
            Err(e) => format!("does not decode: {e}"),
        };
        Err(self.damage(at, format!("record {index} {reason}")))
    }

    // Trades.

    pub fn trade_entry(&self, ordinal: u64) -> Result<TicketEntry, Damage> {
        let bytes = self.entry(TRADE_BY_TICKET, ordinal)?;
        let status = status_of(bytes[24]).ok_or_else(|| {
            let reason = format!("trade entry {ordinal} has status code {}", bytes[24]);
            self.damage(self.sections[TRADE_BY_TICKET].offset, reason)
        })?;
        Ok(TicketEntry {
            ticket: u64_at(bytes, 0),
            offset: u64_at(bytes, 8),
            entry_time: time_at(bytes, 16),
            status,
        })
    }

    /// The ordinal of `id` in an array sorted by its first word (`TRADE_BY_TICKET`,
    /// `SIGNAL_BY_ID`), if it is there.
    fn find(&self, section: usize, id: u64) -> Result<Option<u64>, Damage> {
        let id_at = |i| Ok::<_, Damage>(u64_at(self.entry(section, i)?, 0));
        let count = self.count(section);
        // A new ticket or signal_id is usually above every stored one: no search needed.
        if count == 0 || id_at(count - 1)? < id {
            return Ok(None);
        }
        let at = self.partition_point(0, count, |i| Ok(id_at(i)? < id))?;
        Ok((at < count && id_at(at)? == id).then_some(at))
    }

    /// The last (highest) id of an array sorted by id, if it is not empty.
    pub fn last_id(&self, section: usize) -> Result<Option<u64>, Damage> {
        match self.count(section) {
            0 => Ok(None),
            count => Ok(Some(u64_at(self.entry(section, count - 1)?, 0))),
        }
    }

    /// The ordinal and entry of `ticket`, if it is a stored (finished) trade.
    pub fn find_trade(&self, ticket: u64) -> Result<Option<(u64, TicketEntry)>, Damage> {
        let found = self.find(TRADE_BY_TICKET, ticket)?;
        found.map(|at| Ok((at, self.trade_entry(at)?))).transpose()
    }

    pub fn trade(&self, names: &Interner, ordinal: u64) -> Result<TradeRecord, Damage> {
        let offset = |base: &Layer, i| Ok(base.trade_entry(i)?.offset);
        self.record(names, TRADE_RECORDS, TRADE_BY_TICKET, ordinal, offset)
    }

    /// The head of trade `ordinal`: what a scan over closed trades needs, without the texts.
    pub fn trade_head(&self, names: &Interner, ordinal: u64) -> Result<TradeHead, Damage> {
        let offset = |base: &Layer, i| Ok(base.trade_entry(i)?.offset);
        self.record(names, TRADE_RECORDS, TRADE_BY_TICKET, ordinal, offset)
    }

    /// The index range of `TRADE_BY_ENTRY` or `TRADE_BY_EXIT` with a key in `keys`: read
    /// each with [`Base::trade_at`], one at a time.
    pub fn trades_between(
        &self,
        section: usize,
        keys: &RangeInclusive<TimeKey>,
    ) -> Result<std::ops::Range<u64>, Damage> {
        let key_at = |i| Ok::<_, Damage>(self.trade_at(section, i)?.0);
        let count = self.count(section);
        let start = self.partition_point(0, count, |i| Ok(key_at(i)? < *keys.start()))?;
        let end = self.partition_point(start, count, |i| Ok(key_at(i)? <= *keys.end()))?;
        Ok(start..end)
    }

    /// A walk's step: lets the stored state release what the walk has read
    /// ([`StateBytes::release_if_due`]). The positional accessors, which only walks use, call
    /// it, and so do the walks by ordinal; the lookups by id (`find_trade`, `find_signal`),
    /// which the append path makes, do not.
    pub fn walked(&self) {
        self.bytes.release_if_due();
    }

    /// `(key, ordinal)` of entry `index` of `TRADE_BY_ENTRY` or `TRADE_BY_EXIT`.
    pub fn trade_at(&self, section: usize, index: u64) -> Result<(TimeKey, u64), Damage> {
        self.walked();
        let bytes = self.entry(section, index)?;
        Ok(((time_at(bytes, 0), u64_at(bytes, 8)), u64_at(bytes, 16)))
    }

    // Signals.

    pub fn signal_entry(&self, ordinal: u64) -> Result<SignalEntry, Damage> {
        let bytes = self.entry(SIGNAL_BY_ID, ordinal)?;
        Ok(SignalEntry {
            signal_id: u64_at(bytes, 0),
            offset: u64_at(bytes, 8),
            timestamp: time_at(bytes, 16),
            executed: bytes[24] != 0,
        })
    }

    pub fn find_signal(&self, signal_id: u64) -> Result<Option<(u64, SignalEntry)>, Damage> {
        let found = self.find(SIGNAL_BY_ID, signal_id)?;
        found.map(|at| Ok((at, self.signal_entry(at)?))).transpose()
    }

    pub fn signal(&self, names: &Interner, ordinal: u64) -> Result<SignalRecord, Damage> {
        let offset = |base: &Layer, i| Ok(base.signal_entry(i)?.offset);
        self.record(names, SIGNAL_RECORDS, SIGNAL_BY_ID, ordinal, offset)
    }

    /// The head of signal `ordinal`: its symbol, time and strategy, without the texts.
    pub fn signal_head(&self, names: &Interner, ordinal: u64) -> Result<SignalHead, Damage> {
        let offset = |base: &Layer, i| Ok(base.signal_entry(i)?.offset);
        self.record(names, SIGNAL_RECORDS, SIGNAL_BY_ID, ordinal, offset)
    }

    /// `((symbol, key), ordinal)` of entry `index` of `SIGNAL_BY_TIME`.
    fn signal_time_entry(&self, index: u64) -> Result<((u32, TimeKey), u64), Damage> {
        let bytes = self.entry(SIGNAL_BY_TIME, index)?;
        let symbol = u64_at(bytes, 0) as u32;
        Ok((
            (symbol, (time_at(bytes, 8), u64_at(bytes, 16))),
            u64_at(bytes, 24),
        ))
    }

    /// The index range of `SIGNAL_BY_TIME` with `symbol` and a key in `keys`.
    pub fn signals_between(
        &self,
        symbol: u32,
        keys: &RangeInclusive<TimeKey>,
    ) -> Result<std::ops::Range<u64>, Damage> {
        let key_at = |i| Ok::<_, Damage>(self.signal_time_entry(i)?.0);
        let count = self.count(SIGNAL_BY_TIME);
        let (from, to) = ((symbol, *keys.start()), (symbol, *keys.end()));
        let start = self.partition_point(0, count, |i| Ok(key_at(i)? < from))?;
        let end = self.partition_point(start, count, |i| Ok(key_at(i)? <= to))?;
        Ok(start..end)
    }

    /// `(key, ordinal in SIGNAL_BY_ID)` of entry `index` of `SIGNAL_BY_TIME`.
    pub fn signal_at(&self, index: u64) -> Result<(TimeKey, u64), Damage> {
        self.walked();
        let ((_, key), ordinal) = self.signal_time_entry(index)?;
        Ok((key, ordinal))
    }

    // Snapshots.

    pub fn snapshot_entry(&self, index: u64) -> Result<SnapshotEntry, Damage> {
        self.walked();
        let bytes = self.entry(SNAPSHOT_BY_KEY, index)?;
        Ok(SnapshotEntry {
            account: u64_at(bytes, 0),
            key: (time_at(bytes, 8), u64_at(bytes, 16)),
            offset: u64_at(bytes, 24),
        })
    }

    /// The index range of the snapshots of `account` with a key in `keys`.
    pub fn snapshots_between(
        &self,
        account: u64,
        keys: &RangeInclusive<TimeKey>,
    ) -> Result<std::ops::Range<u64>, Damage> {
        let key_at = |i| {
            let entry = self.snapshot_entry(i)?;
            Ok::<_, Damage>((entry.account, entry.key))
        };
        let count = self.count(SNAPSHOT_BY_KEY);
        let (from, to) = ((account, *keys.start()), (account, *keys.end()));
        let start = self.partition_point(0, count, |i| Ok(key_at(i)? < from))?;
        let end = self.partition_point(start, count, |i| Ok(key_at(i)? <= to))?;
        Ok(start..end)
    }

    pub fn snapshot(&self, names: &Interner, index: u64) -> Result<SnapshotRecord, Damage> {
        let offset = |base: &Layer, i| Ok(base.snapshot_entry(i)?.offset);
        self.record(names, SNAPSHOT_RECORDS, SNAPSHOT_BY_KEY, index, offset)
    }
}

/// The numberings that run across layers: trades by ticket, signals by id, snapshots by key.
const NUMBERED: [usize; 3] = [TRADE_BY_TICKET, SIGNAL_BY_ID, SNAPSHOT_BY_KEY];
const TRADES: usize = 0;
const SIGNALS: usize = 1;
const SNAPSHOTS: usize = 2;

/// The history of a state: a stack of layers, the bottom one written whole, each other one
/// holding what finished between its parent's seq and its own (`docs/FORMAT.md` §6.5). A
/// trade, signal or snapshot is in exactly one layer. Ordinals run across the layers, bottom
/// first: trade `o` of the stack is trade `o - start` of the layer whose trades start at
/// `start`. Shared (`Arc`) between the live state and a checkpoint being written from it: it
/// never changes.
#[derive(Debug)]
pub(crate) struct Base {
    layers: Vec<Arc<Layer>>,
    /// Per layer, the stack ordinal of its first trade, signal and snapshot.
    starts: Vec<[u64; 3]>,
}

/// One layer's part of a range of a time-ordered array: its entries as `(key, stack ordinal)`
/// (for snapshots, the stack index), ascending, or descending from the back.
#[derive(Clone)]
pub(crate) struct Span<'a> {
    layer: &'a Layer,
    section: usize,
    range: std::ops::Range<u64>,
    /// Added to the layer's ordinals to make them the stack's.
    start: u64,
}

impl Span<'_> {
    fn at(&self, index: u64) -> Result<(TimeKey, u64), Damage> {
        let (key, ordinal) = match self.section {
            SIGNAL_BY_TIME => self.layer.signal_at(index)?,
            SNAPSHOT_BY_KEY => (self.layer.snapshot_entry(index)?.key, index),
            section => self.layer.trade_at(section, index)?,
        };
        Ok((key, self.start + ordinal))
    }

    pub fn len(&self) -> u64 {
        self.range.end - self.range.start
    }
}

impl Iterator for Span<'_> {
    type Item = Result<(TimeKey, u64), Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.range.next()?;
        Some(self.at(index))
    }
}

impl DoubleEndedIterator for Span<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let index = self.range.next_back()?;
        Some(self.at(index))
    }
}

impl Base {
    /// The stack of `layers`, bottom first: each one's parent must be the one under it.
    pub fn new(layers: Vec<Arc<Layer>>) -> Result<Base, String> {
        let mut under: Option<u64> = None;
        for layer in &layers {
            if layer.parent != under {
                return Err(format!(
                    "the layer at seq {} has parent {:?}, the layer under it is at {:?}",
                    layer.seq, layer.parent, under
                ));
            }
            under = Some(layer.seq);
        }
        Ok(Base::of(layers))
    }

    /// The stack of `layers`, numbered from 0 (their parents are not checked).
    fn of(layers: Vec<Arc<Layer>>) -> Base {
        let mut next = [0u64; 3];
        let starts = (layers.iter())
            .map(|layer| {
                let start = next;
                for (next, section) in next.iter_mut().zip(NUMBERED) {
                    *next += layer.count(section);
                }
                start
            })
            .collect();
        Base { layers, starts }
    }

    pub fn layers(&self) -> &[Arc<Layer>] {
        &self.layers
    }

    /// The layers `range` as a stack of their own (for merging them into one), if any.
    pub fn part(&self, range: std::ops::Range<usize>) -> Option<Base> {
        let layers = self.layers[range].to_vec();
        (!layers.is_empty()).then(|| Base::of(layers))
    }

    /// The seq of the top layer.
    pub fn seq(&self) -> Option<u64> {
        self.layers.last().map(|layer| layer.seq)
    }

    pub fn count(&self, section: usize) -> u64 {
        self.layers.iter().map(|layer| layer.count(section)).sum()
    }

    /// The layer holding stack ordinal `ordinal` of `numbering`, and the ordinal in it.
    fn locate(&self, numbering: usize, ordinal: u64) -> Result<(&Layer, u64), Damage> {
        let at = self
            .starts
            .partition_point(|starts| starts[numbering] <= ordinal);
        let Some(layer) = at.checked_sub(1).map(|at| &self.layers[at]) else {
            let top = self.layers.last().expect("a base has a layer");
            let reason = format!(
                "no layer holds ordinal {ordinal} of section {}",
                NUMBERED[numbering]
            );
            return Err(top.damage(0, reason));
        };
        Ok((layer, ordinal - self.starts[at - 1][numbering]))
    }

    /// Lets every layer release what the walk has read ([`Layer::walked`]).
    pub fn walked(&self) {
        for layer in &self.layers {
            layer.walked();
        }
    }

    /// The last (highest) id of `TRADE_BY_TICKET` or `SIGNAL_BY_ID`, over every layer.
    pub fn last_id(&self, section: usize) -> Result<Option<u64>, Damage> {
        let mut last = None;
        for layer in &self.layers {
            last = last.max(layer.last_id(section)?);
        }
        Ok(last)
    }

    // Trades.

    pub fn trade_entry(&self, ordinal: u64) -> Result<TicketEntry, Damage> {
        let (layer, ordinal) = self.locate(TRADES, ordinal)?;
        layer.trade_entry(ordinal)
    }

    pub fn trade(&self, names: &Interner, ordinal: u64) -> Result<TradeRecord, Damage> {
        let (layer, ordinal) = self.locate(TRADES, ordinal)?;
        layer.trade(names, ordinal)
    }

    pub fn trade_head(&self, names: &Interner, ordinal: u64) -> Result<TradeHead, Damage> {
        let (layer, ordinal) = self.locate(TRADES, ordinal)?;
        layer.trade_head(names, ordinal)
    }

    /// The stack ordinal and entry of `ticket`, if it is a stored (finished) trade. The top
    /// layer is searched first: a trade looked up is more often a recent one.
    pub fn find_trade(&self, ticket: u64) -> Result<Option<(u64, TicketEntry)>, Damage> {
        self.find_from_top(TRADES, |layer| layer.find_trade(ticket))
    }

    /// What `find` finds in the first layer from the top that holds it, with its ordinal
    /// made the stack's in `numbering`.
    fn find_from_top<E>(
        &self,
        numbering: usize,
        find: impl Fn(&Layer) -> Result<Option<(u64, E)>, Damage>,
    ) -> Result<Option<(u64, E)>, Damage> {
        for (layer, starts) in self.layers.iter().zip(&self.starts).rev() {
            if let Some((ordinal, entry)) = find(layer)? {
                return Ok(Some((starts[numbering] + ordinal, entry)));
            }
        }
        Ok(None)
    }

    /// Per layer, the entries of `TRADE_BY_ENTRY` or `TRADE_BY_EXIT` with a key in `keys`.
    pub fn trades_between(
        &self,
        section: usize,
        keys: &RangeInclusive<TimeKey>,
    ) -> Result<Vec<Span<'_>>, Damage> {
        self.spans(section, TRADES, |layer| layer.trades_between(section, keys))
    }

    // Signals.

    pub fn signal_entry(&self, ordinal: u64) -> Result<SignalEntry, Damage> {
        let (layer, ordinal) = self.locate(SIGNALS, ordinal)?;
        layer.signal_entry(ordinal)
    }

    pub fn signal(&self, names: &Interner, ordinal: u64) -> Result<SignalRecord, Damage> {
        let (layer, ordinal) = self.locate(SIGNALS, ordinal)?;
        layer.signal(names, ordinal)
    }

    pub fn signal_head(&self, names: &Interner, ordinal: u64) -> Result<SignalHead, Damage> {
        let (layer, ordinal) = self.locate(SIGNALS, ordinal)?;
        layer.signal_head(names, ordinal)
    }

    pub fn find_signal(&self, signal_id: u64) -> Result<Option<(u64, SignalEntry)>, Damage> {
        self.find_from_top(SIGNALS, |layer| layer.find_signal(signal_id))
    }

    /// Per layer, the signals of `symbol` with a key in `keys`.
    pub fn signals_between(
        &self,
        symbol: u32,
        keys: &RangeInclusive<TimeKey>,
    ) -> Result<Vec<Span<'_>>, Damage> {
        self.spans(SIGNAL_BY_TIME, SIGNALS, |layer| {
            layer.signals_between(symbol, keys)
        })
    }

    // Snapshots.

    pub fn snapshot(&self, names: &Interner, index: u64) -> Result<SnapshotRecord, Damage> {
        let (layer, index) = self.locate(SNAPSHOTS, index)?;
        layer.snapshot(names, index)
    }

    /// Per layer, the snapshots of `account` with a key in `keys`.
    pub fn snapshots_between(
        &self,
        account: u64,
        keys: &RangeInclusive<TimeKey>,
    ) -> Result<Vec<Span<'_>>, Damage> {
        self.spans(SNAPSHOT_BY_KEY, SNAPSHOTS, |layer| {
            layer.snapshots_between(account, keys)
        })
    }

    /// The non-empty spans `range_of` finds in each layer's `section`, whose ordinals count in
    /// `numbering`.
    fn spans(
        &self,
        section: usize,
        numbering: usize,
        range_of: impl Fn(&Layer) -> Result<std::ops::Range<u64>, Damage>,
    ) -> Result<Vec<Span<'_>>, Damage> {
        let mut spans = Vec::new();
        for (layer, starts) in self.layers.iter().zip(&self.starts) {
            let range = range_of(layer)?;
            if !range.is_empty() {
                let start = starts[numbering];
                spans.push(Span {
                    layer,
                    section,
                    range,
                    start,
                });
            }
        }
        Ok(spans)
    }

    /// Every stack ordinal of `section` (`TRADE_BY_TICKET`, `SIGNAL_BY_ID` or
    /// `SNAPSHOT_BY_KEY`) in the order of its key (ticket, signal_id, or account and time key)
    /// across the layers.
    pub fn in_key_order(&self, section: usize) -> impl Iterator<Item = Result<u64, Damage>> + '_ {
        let numbering = NUMBERED
            .iter()
            .position(|s| *s == section)
            .expect("a numbered section");
        let key_of = move |layer: &Layer, index: u64| -> Result<(u64, TimeKey), Damage> {
            Ok(match numbering {
                TRADES => (layer.trade_entry(index)?.ticket, (Timestamp::MIN, 0)),
                SIGNALS => (layer.signal_entry(index)?.signal_id, (Timestamp::MIN, 0)),
                _ => {
                    let entry = layer.snapshot_entry(index)?;
                    (entry.account, entry.key)
                }
            })
        };
        let mut next: Vec<u64> = vec![0; self.layers.len()];
        let mut heads: Vec<Option<(u64, TimeKey)>> = vec![None; self.layers.len()];
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let mut least: Option<(usize, (u64, TimeKey))> = None;
            for (at, layer) in self.layers.iter().enumerate() {
                if heads[at].is_none() && next[at] < layer.count(section) {
                    match key_of(layer, next[at]) {
                        Ok(key) => heads[at] = Some(key),
                        Err(damage) => {
                            failed = true;
                            return Some(Err(damage));
                        }
                    }
                }
                if let Some(key) = heads[at] {
                    if least.is_none_or(|(_, least)| key < least) {
                        least = Some((at, key));
                    }
                }
            }
            let (at, _) = least?;
            heads[at] = None;
            next[at] += 1;
            self.layers[at].walked();
            Some(Ok(self.starts[at][numbering] + next[at] - 1))
        })
    }
}
