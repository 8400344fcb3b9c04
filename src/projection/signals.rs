//! The signals table: one record per signal_id, with time indexes for `recent_signals` and
//! per-day counters for the execution rate.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::chunked::{Chunked, Slot};
use super::id_index::IdIndex;
use super::intern::{Interner, Sym};
use super::time::{day_of, Day};
use super::time_index::TimeIndex;
use super::time_index::TimeKey;
use crate::model::event::{compact, Signal, SignalType, Timestamp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SignalRecord {
    pub signal_id: u64,
    /// The journal sequence number: the tie-break of `recent_signals` (§4).
    pub seq: u64,
    pub symbol: Sym,
    pub signal_type: SignalType,
    pub timestamp: Timestamp,
    #[serde(with = "compact::decimal")]
    pub price: Decimal,
    pub confidence: f64,
    pub strategy_name: Sym,
    pub timeframe: Sym,
    #[serde(with = "compact::option_decimal")]
    pub stop_loss: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub take_profit: Option<Decimal>,
    pub reason: Option<Box<str>>,
    pub ml_enhanced: bool,
    pub ml_confidence: Option<f64>,
    pub ml_agreed: Option<bool>,
    pub executed: bool,
    pub execution_reason: Option<Box<str>>,
    pub ticket: Option<u64>,
}

impl SignalRecord {
    pub fn new(seq: u64, event: &Signal, names: &mut Interner) -> SignalRecord {
        SignalRecord {
            signal_id: event.signal_id,
            seq,
            symbol: names.intern(&event.symbol),
            signal_type: event.signal_type,
            timestamp: event.timestamp,
            price: event.price,
            confidence: event.confidence,
            strategy_name: names.intern(&event.strategy_name),
            timeframe: names.intern(&event.timeframe),
            stop_loss: event.stop_loss,
            take_profit: event.take_profit,
            reason: event.reason.as_deref().map(Box::from),
            ml_enhanced: event.ml_enhanced,
            ml_confidence: event.ml_confidence,
            ml_agreed: event.ml_agreed,
            executed: false,
            execution_reason: None,
            ticket: None,
        }
    }

    pub fn time_key(&self) -> TimeKey {
        (self.timestamp, self.seq)
    }
}

/// The leading fields of a [`SignalRecord`], in its order, up to `strategy_name`: what a scan
/// over every signal (`inventory`) needs, without the texts. postcard encodes a struct as its
/// fields in sequence, so a stored record's bytes begin with this head; keep it in step with
/// `SignalRecord` (a test decodes the head of a record and compares).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub(crate) struct SignalHead {
    _signal_id: u64,
    _seq: u64,
    pub symbol: Sym,
    _signal_type: SignalType,
    pub timestamp: Timestamp,
    #[serde(with = "compact::decimal")]
    _price: Decimal,
    _confidence: f64,
    pub strategy_name: Sym,
}

impl From<&SignalRecord> for SignalHead {
    fn from(record: &SignalRecord) -> SignalHead {
        SignalHead {
            _signal_id: record.signal_id,
            _seq: record.seq,
            symbol: record.symbol,
            _signal_type: record.signal_type,
            timestamp: record.timestamp,
            _price: record.price,
            _confidence: record.confidence,
            strategy_name: record.strategy_name,
        }
    }
}

/// Signals and executed signals per UTC day of the signal's timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignalCount {
    pub total: u64,
    pub executed: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SignalBook {
    pub records: Chunked<SignalRecord>,
    pub per_day: BTreeMap<Day, SignalCount>,
    pub slot_by_id: IdIndex,
    /// Signals by (timestamp, seq), per symbol. There is no index over all symbols: the few
    /// per-symbol indexes are merged when asked for all, which saves a B-tree insert per signal.
    pub by_symbol: FxHashMap<Sym, TimeIndex>,
}

impl SignalBook {
    pub fn slot(&self, signal_id: u64) -> Option<Slot> {
        self.slot_by_id.get(signal_id)
    }

    pub fn insert(&mut self, record: SignalRecord) {
        self.per_day
            .entry(day_of(record.timestamp))
            .or_default()
            .total += 1;
        let (signal_id, key, symbol) = (record.signal_id, record.time_key(), record.symbol);
        let slot = self.records.push(record);
        self.slot_by_id.insert(signal_id, slot);
        self.index(slot, key, symbol);
    }

    fn index(&mut self, slot: Slot, key: TimeKey, symbol: Sym) {
        self.by_symbol.entry(symbol).or_default().insert(key, slot);
    }

    /// Signals with timestamp in `[from, to]`, in no particular order.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> impl Iterator<Item = Slot> + '_ {
        let keys = (from, 0)..=(to, u64::MAX);
        let valid = from <= to;
        let indexes = self.by_symbol.values().filter(move |_| valid);
        indexes.flat_map(move |index| index.range(keys.clone()).map(|(_, slot)| slot))
    }

    /// Marks the signal executed by `ticket`; false if it is unknown or already executed.
    pub fn execute(&mut self, signal_id: u64, ticket: u64, reason: Option<&str>) -> bool {
        let Some(slot) = self.slot(signal_id) else {
            return false;
        };
        let record = &mut self.records[slot];
        if record.executed {
            return false;
        }
        record.executed = true;
        record.execution_reason = reason.map(Box::from);
        record.ticket = Some(ticket);
        self.per_day
            .entry(day_of(record.timestamp))
            .or_default()
            .executed += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored signal's bytes begin with its head: decoding the head of a fully set record
    /// gives the record's leading fields.
    #[test]
    fn a_record_begins_with_its_head() {
        let mut names = Interner::default();
        let record = SignalRecord {
            signal_id: 41,
            seq: 9_000,
            symbol: names.intern("GBPUSD"),
            signal_type: SignalType::Sell,
            timestamp: Timestamp::from_nanos(1_700_000_000_123_456_789),
            price: Decimal::new(126_950, 5),
            confidence: 0.35,
            strategy_name: names.intern("breakout"),
            timeframe: names.intern("M15"),
            stop_loss: Some(Decimal::new(127_150, 5)),
            take_profit: None,
            reason: Some("range broken".into()),
            ml_enhanced: true,
            ml_confidence: Some(0.5),
            ml_agreed: Some(false),
            executed: true,
            execution_reason: Some("filled".into()),
            ticket: Some(7),
        };
        let bytes = postcard::to_stdvec(&record).unwrap();
        let (head, _) = postcard::take_from_bytes::<SignalHead>(&bytes).unwrap();
        assert_eq!(head, SignalHead::from(&record));
        assert_eq!(names.name(head.strategy_name), "breakout");
        assert_eq!(names.name(head.symbol), "GBPUSD");
    }
}
