//! One line → one [`Event`] (`docs/INTERCHANGE.md` §2 and the stateless rules of §3).
//!
//! Checks run in a fixed order, so the error for a line is deterministic: the JSON itself
//! (syntax, duplicate keys), then `"event"`, then unknown fields (in the order written), then
//! `seq` and `recorded_at`, then the event's fields in the order of [`field_names`].

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::object::Object;
use super::value::{self, Reason};
use super::{field_names, FieldError};
use crate::model::contract;
use crate::model::event::*;

/// The keys every event line may carry besides its own fields.
const COMMON_KEYS: [&str; 3] = ["event", "seq", "recorded_at"];

/// Parses one line of JSON Lines into an event.
///
/// `seq` and `recorded_at` are accepted and ignored, but must be well-typed when present
/// and not null: an unsigned 64-bit integer and a timestamp.
pub fn parse_event(line: &str) -> Result<Event, FieldError> {
    let object = Object::parse(line)?;
    let kind = event_kind(&object)?;
    check_known_keys(&object, kind)?;
    let fields = Fields(&object);
    fields.optional("seq", value::id)?;
    fields.optional("recorded_at", value::timestamp)?;
    event(kind, &fields)
}

fn event_kind(object: &Object<'_>) -> Result<EventKind, FieldError> {
    Fields(object).required("event", |raw| {
        // The list of kinds is written only for a refusal.
        let refused = || {
            let names: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
            let expected = format!("must be one of {}", names.join(", "));
            Reason::from(format!("{expected}, got {}", contract::shown(raw.get())))
        };
        let name: String = serde_json::from_str(raw.get()).map_err(|_| refused())?;
        EventKind::from_name(&name).ok_or_else(refused)
    })
}

fn check_known_keys(object: &Object<'_>, kind: EventKind) -> Result<(), FieldError> {
    let known = field_names(kind);
    match object
        .keys()
        .find(|key| !COMMON_KEYS.contains(key) && !known.contains(key))
    {
        Some(key) => Err(FieldError::in_field(
            key,
            format!("unknown field for event \"{kind}\""),
        )),
        None => Ok(()),
    }
}

fn event(kind: EventKind, fields: &Fields<'_, '_>) -> Result<Event, FieldError> {
    Ok(match kind {
        EventKind::Signal => Event::Signal(signal(fields)?),
        EventKind::TradeOpened => Event::TradeOpened(trade_opened(fields)?),
        EventKind::OrderFilled => Event::OrderFilled(order_filled(fields)?),
        EventKind::OrderCancelled => Event::OrderCancelled(order_cancelled(fields)?),
        EventKind::OrderFailed => Event::OrderFailed(order_failed(fields)?),
        EventKind::TradeModified => Event::TradeModified(trade_modified(fields)?),
        EventKind::TradeClosed => Event::TradeClosed(trade_closed(fields)?),
        EventKind::SignalExecuted => Event::SignalExecuted(signal_executed(fields)?),
        EventKind::AccountSnapshot => Event::AccountSnapshot(account_snapshot(fields)?),
    })
}

/// Typed access to the fields of an object; absent and `null` mean the same.
struct Fields<'o, 'a>(&'o Object<'a>);

impl<'a> Fields<'_, 'a> {
    fn present(&self, name: &str) -> Option<&'a RawValue> {
        self.0.get(name).filter(|raw| raw.get() != "null")
    }

    fn required<T>(
        &self,
        name: &str,
        read: impl FnOnce(&RawValue) -> Result<T, Reason>,
    ) -> Result<T, FieldError> {
        let Some(raw) = self.present(name) else {
            let reason = match self.0.get(name) {
                Some(_) => "required, got null",
                None => "missing required field",
            };
            return Err(FieldError::in_field(name, reason));
        };
        read(raw).map_err(|reason| refused(name, reason))
    }

    fn optional<T>(
        &self,
        name: &str,
        read: impl FnOnce(&RawValue) -> Result<T, Reason>,
    ) -> Result<Option<T>, FieldError> {
        self.present(name)
            .map(|raw| read(raw).map_err(|reason| refused(name, reason)))
            .transpose()
    }

    fn or<T>(
        &self,
        name: &str,
        read: impl FnOnce(&RawValue) -> Result<T, Reason>,
        default: T,
    ) -> Result<T, FieldError> {
        Ok(self.optional(name, read)?.unwrap_or(default))
    }
}

/// The field `name` refused for `reason`.
fn refused(name: &str, reason: Reason) -> FieldError {
    FieldError {
        rule: reason.rule,
        ..FieldError::in_field(name, reason.text)
    }
}

fn strategy_name(raw: &RawValue) -> Result<String, Reason> {
    value::text(contract::STRATEGY_NAME_MAX_CHARS)(raw)
}

fn server_name(raw: &RawValue) -> Result<String, Reason> {
    value::text(contract::SERVER_MAX_CHARS)(raw)
}

fn signal(f: &Fields<'_, '_>) -> Result<Signal, FieldError> {
    Ok(Signal {
        signal_id: f.required("signal_id", value::id)?,
        symbol: f.required("symbol", value::symbol)?,
        signal_type: f.required("signal_type", value::named)?,
        timestamp: f.required("timestamp", value::timestamp)?,
        price: f.required("price", value::positive_decimal)?,
        confidence: f.required("confidence", value::ratio)?,
        strategy_name: f.required("strategy_name", strategy_name)?,
        timeframe: f.required("timeframe", value::text(contract::TIMEFRAME_MAX_CHARS))?,
        stop_loss: f.optional("stop_loss", value::decimal)?,
        take_profit: f.optional("take_profit", value::decimal)?,
        reason: f.optional("reason", value::free_text)?,
        ml_enhanced: f.or("ml_enhanced", value::boolean, false)?,
        ml_confidence: f.optional("ml_confidence", value::ratio)?,
        ml_agreed: f.optional("ml_agreed", value::boolean)?,
    })
}

fn trade_opened(f: &Fields<'_, '_>) -> Result<TradeOpened, FieldError> {
    Ok(TradeOpened {
        ticket: f.required("ticket", value::id)?,
        symbol: f.required("symbol", value::symbol)?,
        trade_type: f.required("trade_type", value::named)?,
        volume: f.required("volume", value::positive_decimal)?,
        entry_price: f.required("entry_price", value::positive_decimal)?,
        entry_time: f.required("entry_time", value::timestamp)?,
        status: f.or("status", value::named, OpenStatus::Open)?,
        stop_loss: f.optional("stop_loss", value::decimal)?,
        take_profit: f.optional("take_profit", value::decimal)?,
        magic_number: f.or("magic_number", value::id, 0)?,
        account_number: f.optional("account_number", value::id)?,
        strategy_name: f.optional("strategy_name", strategy_name)?,
        signal_id: f.optional("signal_id", value::id)?,
        execution_reason: f.optional("execution_reason", value::free_text)?,
        signal_confidence: f.optional("signal_confidence", value::ratio)?,
        signal_reason: f.optional("signal_reason", value::free_text)?,
        ml_enhanced: f.or("ml_enhanced", value::boolean, false)?,
        ml_confidence: f.optional("ml_confidence", value::ratio)?,
        ai_approved: f.or("ai_approved", value::boolean, true)?,
        ai_reasoning: f.optional("ai_reasoning", value::free_text)?,
        commission: f.or("commission", value::decimal, Decimal::ZERO)?,
        swap: f.or("swap", value::decimal, Decimal::ZERO)?,
        comment: f.optional("comment", value::free_text)?,
    })
}

fn order_filled(f: &Fields<'_, '_>) -> Result<OrderFilled, FieldError> {
    Ok(OrderFilled {
        ticket: f.required("ticket", value::id)?,
        entry_price: f.required("entry_price", value::positive_decimal)?,
        entry_time: f.required("entry_time", value::timestamp)?,
    })
}

fn order_cancelled(f: &Fields<'_, '_>) -> Result<OrderCancelled, FieldError> {
    Ok(OrderCancelled {
        ticket: f.required("ticket", value::id)?,
        time: f.required("time", value::timestamp)?,
        reason: f.optional("reason", value::free_text)?,
    })
}

fn order_failed(f: &Fields<'_, '_>) -> Result<OrderFailed, FieldError> {
    Ok(OrderFailed {
        ticket: f.required("ticket", value::id)?,
        symbol: f.required("symbol", value::symbol)?,
        trade_type: f.required("trade_type", value::named)?,
        volume: f.required("volume", value::positive_decimal)?,
        entry_price: f.required("entry_price", value::positive_decimal)?,
        entry_time: f.required("entry_time", value::timestamp)?,
        reason: f.optional("reason", value::free_text)?,
        signal_id: f.optional("signal_id", value::id)?,
        account_number: f.optional("account_number", value::id)?,
        strategy_name: f.optional("strategy_name", strategy_name)?,
        magic_number: f.or("magic_number", value::id, 0)?,
    })
}

fn trade_modified(f: &Fields<'_, '_>) -> Result<TradeModified, FieldError> {
    Ok(TradeModified {
        ticket: f.required("ticket", value::id)?,
        time: f.required("time", value::timestamp)?,
        stop_loss: f.or("stop_loss", value::price_update, PriceUpdate::Unchanged)?,
        take_profit: f.or("take_profit", value::price_update, PriceUpdate::Unchanged)?,
    })
}

fn trade_closed(f: &Fields<'_, '_>) -> Result<TradeClosed, FieldError> {
    Ok(TradeClosed {
        ticket: f.required("ticket", value::id)?,
        exit_price: f.required("exit_price", value::positive_decimal)?,
        exit_time: f.required("exit_time", value::timestamp)?,
        profit: f.required("profit", value::decimal)?,
        pips: f.optional("pips", value::decimal)?,
        commission: f.optional("commission", value::decimal)?,
        swap: f.optional("swap", value::decimal)?,
        reason: f.optional("reason", value::free_text)?,
    })
}

fn signal_executed(f: &Fields<'_, '_>) -> Result<SignalExecuted, FieldError> {
    Ok(SignalExecuted {
        signal_id: f.required("signal_id", value::id)?,
        ticket: f.required("ticket", value::id)?,
        execution_reason: f.optional("execution_reason", value::free_text)?,
    })
}

fn account_snapshot(f: &Fields<'_, '_>) -> Result<AccountSnapshot, FieldError> {
    Ok(AccountSnapshot {
        account_number: f.required("account_number", value::id)?,
        server: f.required("server", server_name)?,
        broker: f.required("broker", server_name)?,
        balance: f.required("balance", value::decimal)?,
        equity: f.required("equity", value::decimal)?,
        snapshot_time: f.required("snapshot_time", value::timestamp)?,
        profit: f.optional("profit", value::decimal)?,
        margin: f.optional("margin", value::decimal)?,
        margin_free: f.optional("margin_free", value::decimal)?,
        total_volume: f.or("total_volume", value::decimal, Decimal::ZERO)?,
        margin_level: f.optional("margin_level", value::decimal)?,
        open_positions: f.or("open_positions", value::open_positions, 0)?,
    })
}
