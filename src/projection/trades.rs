//! The in-memory trades table: one record per ticket, in arrival order, plus the indexes the
//! queries use. It holds the trades that are not in the checkpoint's base (`stored.rs`): the
//! OPEN and PENDING trades of the checkpoint and every trade since.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::chunked::{Chunked, Slot};
use super::id_index::IdIndex;
use super::intern::{Interner, Sym};
use super::time_index::{TimeIndex, TimeKey};
use crate::model::event::{compact, OrderFailed, Timestamp, TradeOpened, TradeStatus, TradeType};

/// One trade as the projection keeps it: names interned, free text boxed (16 bytes when absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TradeRecord {
    pub ticket: u64,
    pub symbol: Sym,
    pub trade_type: TradeType,
    pub status: TradeStatus,
    pub ml_enhanced: bool,
    pub ai_approved: bool,
    #[serde(with = "compact::decimal")]
    pub volume: Decimal,
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    pub entry_time: Timestamp,
    #[serde(with = "compact::option_decimal")]
    pub exit_price: Option<Decimal>,
    pub exit_time: Option<Timestamp>,
    #[serde(with = "compact::option_decimal")]
    pub profit: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub pips: Option<Decimal>,
    #[serde(with = "compact::decimal")]
    pub commission: Decimal,
    #[serde(with = "compact::decimal")]
    pub swap: Decimal,
    #[serde(with = "compact::option_decimal")]
    pub stop_loss: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub take_profit: Option<Decimal>,
    pub magic_number: u64,
    pub account_number: Option<u64>,
    pub strategy_name: Option<Sym>,
    pub signal_id: Option<u64>,
    pub signal_confidence: Option<f64>,
    pub ml_confidence: Option<f64>,
    pub signal_reason: Option<Box<str>>,
    pub ai_reasoning: Option<Box<str>>,
    pub comment: Option<Box<str>>,
    pub close_reason: Option<Box<str>>,
}

/// The leading fields of a [`TradeRecord`], in its order, up to `strategy_name`. postcard
/// encodes a struct as its fields in sequence, so a stored record's bytes begin with this
/// head: a scan over millions of closed trades (a report's profits) decodes only these, and
/// allocates none of the texts that follow. Keep it in step with `TradeRecord`; a test
/// decodes the head of a fully set record and compares.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub(crate) struct TradeHead {
    _ticket: u64,
    pub symbol: Sym,
    _trade_type: TradeType,
    _status: TradeStatus,
    _ml_enhanced: bool,
    _ai_approved: bool,
    #[serde(with = "compact::decimal")]
    _volume: Decimal,
    #[serde(with = "compact::decimal")]
    _entry_price: Decimal,
    pub entry_time: Timestamp,
    #[serde(with = "compact::option_decimal")]
    _exit_price: Option<Decimal>,
    pub exit_time: Option<Timestamp>,
    #[serde(with = "compact::option_decimal")]
    pub profit: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    _pips: Option<Decimal>,
    #[serde(with = "compact::decimal")]
    _commission: Decimal,
    #[serde(with = "compact::decimal")]
    _swap: Decimal,
    #[serde(with = "compact::option_decimal")]
    _stop_loss: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    _take_profit: Option<Decimal>,
    pub magic_number: u64,
    pub account_number: Option<u64>,
    pub strategy_name: Option<Sym>,
}

impl From<&TradeRecord> for TradeHead {
    fn from(record: &TradeRecord) -> TradeHead {
        TradeHead {
            _ticket: record.ticket,
            symbol: record.symbol,
            _trade_type: record.trade_type,
            _status: record.status,
            _ml_enhanced: record.ml_enhanced,
            _ai_approved: record.ai_approved,
            _volume: record.volume,
            _entry_price: record.entry_price,
            entry_time: record.entry_time,
            _exit_price: record.exit_price,
            exit_time: record.exit_time,
            profit: record.profit,
            _pips: record.pips,
            _commission: record.commission,
            _swap: record.swap,
            _stop_loss: record.stop_loss,
            _take_profit: record.take_profit,
            magic_number: record.magic_number,
            account_number: record.account_number,
            strategy_name: record.strategy_name,
        }
    }
}

fn boxed(text: &Option<String>) -> Option<Box<str>> {
    text.as_deref().map(Box::from)
}

/// The free text a trade keeps from its `trade_opened`: copied from a borrowed event, or
/// moved out of an owned one (no allocation, no copy: the ledger's live appends).
pub(crate) struct OpenedTexts {
    signal_reason: Option<Box<str>>,
    ai_reasoning: Option<Box<str>>,
    comment: Option<Box<str>>,
}

impl OpenedTexts {
    pub fn copied(event: &TradeOpened) -> OpenedTexts {
        OpenedTexts {
            signal_reason: boxed(&event.signal_reason),
            ai_reasoning: boxed(&event.ai_reasoning),
            comment: boxed(&event.comment),
        }
    }

    /// Leaves `event` without these texts.
    pub fn moved(event: &mut TradeOpened) -> OpenedTexts {
        let take = |text: &mut Option<String>| text.take().map(String::into_boxed_str);
        OpenedTexts {
            signal_reason: take(&mut event.signal_reason),
            ai_reasoning: take(&mut event.ai_reasoning),
            comment: take(&mut event.comment),
        }
    }
}

impl TradeRecord {
    pub fn opened(event: &TradeOpened, texts: OpenedTexts, names: &mut Interner) -> TradeRecord {
        TradeRecord {
            ticket: event.ticket,
            symbol: names.intern(&event.symbol),
            trade_type: event.trade_type,
            status: event.status.into(),
            ml_enhanced: event.ml_enhanced,
            ai_approved: event.ai_approved,
            volume: event.volume,
            entry_price: event.entry_price,
            entry_time: event.entry_time,
            exit_price: None,
            exit_time: None,
            profit: None,
            pips: None,
            commission: event.commission,
            swap: event.swap,
            stop_loss: event.stop_loss,
            take_profit: event.take_profit,
            magic_number: event.magic_number,
            account_number: event.account_number,
            strategy_name: event.strategy_name.as_deref().map(|n| names.intern(n)),
            signal_id: event.signal_id,
            signal_confidence: event.signal_confidence,
            ml_confidence: event.ml_confidence,
            signal_reason: texts.signal_reason,
            ai_reasoning: texts.ai_reasoning,
            comment: texts.comment,
            close_reason: None,
        }
    }

    /// A rejected order: the `trade_opened` defaults for what the event does not carry (§2).
    pub fn failed(event: &OrderFailed, names: &mut Interner) -> TradeRecord {
        TradeRecord {
            ticket: event.ticket,
            symbol: names.intern(&event.symbol),
            trade_type: event.trade_type,
            status: TradeStatus::Failed,
            ml_enhanced: false,
            ai_approved: true,
            volume: event.volume,
            entry_price: event.entry_price,
            entry_time: event.entry_time,
            exit_price: None,
            exit_time: None,
            profit: None,
            pips: None,
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
            stop_loss: None,
            take_profit: None,
            magic_number: event.magic_number,
            account_number: event.account_number,
            strategy_name: event.strategy_name.as_deref().map(|n| names.intern(n)),
            signal_id: event.signal_id,
            signal_confidence: None,
            ml_confidence: None,
            signal_reason: None,
            ai_reasoning: None,
            comment: None,
            close_reason: boxed(&event.reason),
        }
    }

    /// The key of every index ordered by entry: (entry_time, ticket) is total (§4).
    pub fn entry_key(&self) -> TimeKey {
        (self.entry_time, self.ticket)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TradeBook {
    pub records: Chunked<TradeRecord>,
    pub slot_by_ticket: IdIndex,
    /// Every trade, by (entry_time, ticket).
    pub by_entry: TimeIndex,
    /// OPEN trades by (entry_time, ticket): `open_trades` never walks closed history.
    pub open: TimeIndex,
    /// PENDING orders by (entry_time, ticket).
    pub pending: TimeIndex,
    /// CLOSED trades by (exit_time, ticket): realized-in-period queries and edge scans.
    pub closed_by_exit: TimeIndex,
}

impl TradeBook {
    pub fn slot(&self, ticket: u64) -> Option<Slot> {
        self.slot_by_ticket.get(ticket)
    }

    pub fn get(&self, ticket: u64) -> Option<&TradeRecord> {
        self.slot(ticket).map(|slot| &self.records[slot])
    }

    pub fn insert(&mut self, record: TradeRecord) {
        let (ticket, key, status) = (record.ticket, record.entry_key(), record.status);
        let slot = self.records.push(record);
        self.slot_by_ticket.insert(ticket, slot);
        self.index(slot, key, status);
    }

    /// Adds `slot` to the indexes of its status (`by_entry` for all).
    fn index(&mut self, slot: Slot, key: TimeKey, status: TradeStatus) {
        self.by_entry.insert(key, slot);
        match status {
            TradeStatus::Open => self.open.insert(key, slot),
            TradeStatus::Pending => self.pending.insert(key, slot),
            TradeStatus::Closed => {
                let record = &self.records[slot];
                let exit_time = record.exit_time.unwrap_or(record.entry_time);
                self.closed_by_exit.insert((exit_time, record.ticket), slot);
            }
            TradeStatus::Cancelled | TradeStatus::Failed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// A stored record's bytes begin with its head: decoding them as a `TradeHead` gives
    /// the same fields, with every field set and with every optional one absent.
    #[test]
    fn a_record_begins_with_its_head() {
        let mut names = Interner::default();
        let full = TradeRecord {
            ticket: 77,
            symbol: names.intern("EURUSD"),
            trade_type: TradeType::Sell,
            status: TradeStatus::Closed,
            ml_enhanced: true,
            ai_approved: true,
            volume: decimal("0.25"),
            entry_price: decimal("1.10450"),
            entry_time: Timestamp::from_nanos(1_700_000_000_123_456_789),
            exit_price: Some(decimal("1.10250")),
            exit_time: Some(Timestamp::from_nanos(1_700_000_360_000_000_001)),
            profit: Some(decimal("-12.345")),
            pips: Some(decimal("20.0")),
            commission: decimal("-0.70"),
            swap: decimal("0.01"),
            stop_loss: Some(decimal("1.10650")),
            take_profit: Some(decimal("1.10050")),
            magic_number: 234_000,
            account_number: Some(12_345),
            strategy_name: Some(names.intern("ma_crossover")),
            signal_id: Some(9),
            signal_confidence: Some(0.75),
            ml_confidence: Some(0.5),
            signal_reason: Some("crossed".into()),
            ai_reasoning: Some("fine".into()),
            comment: Some("a comment".into()),
            close_reason: Some("take profit".into()),
        };
        let bare = TradeRecord {
            exit_price: None,
            exit_time: None,
            profit: None,
            pips: None,
            stop_loss: None,
            take_profit: None,
            account_number: None,
            strategy_name: None,
            signal_id: None,
            signal_confidence: None,
            ml_confidence: None,
            signal_reason: None,
            ai_reasoning: None,
            comment: None,
            close_reason: None,
            ..full.clone()
        };
        for record in [full, bare] {
            let bytes = postcard::to_stdvec(&record).unwrap();
            let (head, rest) = postcard::take_from_bytes::<TradeHead>(&bytes).unwrap();
            assert_eq!(head, TradeHead::from(&record));
            assert!(!rest.is_empty(), "the links and texts follow the head");
        }
    }
}
