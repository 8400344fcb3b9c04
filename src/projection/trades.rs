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
