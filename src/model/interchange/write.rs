//! Event → one JSON object, as `dump` prints it (`docs/INTERCHANGE.md` §1, §2), and the value
//! helpers the query commands share for their `--json` output.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde_json::{Number, Value};

use crate::model::contract;
use crate::model::event::*;

/// A decimal as a JSON string with its scale: `"1.10450"`.
pub fn decimal_to_json(value: &Decimal) -> Value {
    Value::String(value.to_string())
}

/// A timestamp as a JSON string: RFC 3339 in UTC with `Z`, no trailing fractional zeros.
pub fn timestamp_to_json(value: Timestamp) -> Value {
    Value::String(value.to_string())
}

/// An input ratio as a JSON number (the shortest text that reads back as the same `f64`).
/// NaN and the infinities, which no JSON number can hold, are the strings of
/// [`contract::non_finite_name`]: shown as they are, never as `null` (absent), and refused by
/// `import`.
pub fn ratio_to_json(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(number) => Value::Number(number),
        None => Value::from(contract::non_finite_name(value)),
    }
}

/// A `trade_modified` level: `null` when unchanged, `"none"` when removed, else the decimal.
pub fn price_update_to_json(update: PriceUpdate) -> Value {
    match update {
        PriceUpdate::Unchanged => Value::Null,
        PriceUpdate::Remove => Value::from("none"),
        PriceUpdate::Set(price) => decimal_to_json(&price),
    }
}

/// Appends a JSON object with `fields` in the given order (a `serde_json::Map` would sort
/// them). No line terminator is written.
pub fn write_object(out: &mut String, fields: &[(&str, Value)]) {
    out.push('{');
    for (index, (name, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        // Writing to a String cannot fail, nor can serializing a `Value`.
        let _ = write!(out, "{}:{}", Value::from(*name), value);
    }
    out.push('}');
}

/// Appends `event` as one JSON object, without a line terminator: `"event"` first, then
/// `seq` and `recorded_at` when given, then every field of the event in the order of
/// [`super::field_names`], absent optional fields as `null`.
pub fn write_event(
    out: &mut String,
    event: &Event,
    seq: Option<u64>,
    recorded_at: Option<Timestamp>,
) {
    let mut fields = vec![("event", Value::from(event.kind().name()))];
    if let Some(seq) = seq {
        fields.push(("seq", Value::from(seq)));
    }
    if let Some(time) = recorded_at {
        fields.push(("recorded_at", timestamp_to_json(time)));
    }
    fields.extend(event_fields(event));
    write_object(out, &fields);
}

/// The fields of `event` as JSON values, in the order of [`super::field_names`].
pub fn event_fields(event: &Event) -> Vec<(&'static str, Value)> {
    match event {
        Event::Signal(e) => signal(e),
        Event::TradeOpened(e) => trade_opened(e),
        Event::OrderFilled(e) => order_filled(e),
        Event::OrderCancelled(e) => order_cancelled(e),
        Event::OrderFailed(e) => order_failed(e),
        Event::TradeModified(e) => trade_modified(e),
        Event::TradeClosed(e) => trade_closed(e),
        Event::SignalExecuted(e) => signal_executed(e),
        Event::AccountSnapshot(e) => account_snapshot(e),
    }
}

fn decimal(value: &Decimal) -> Value {
    decimal_to_json(value)
}

fn opt_decimal(value: &Option<Decimal>) -> Value {
    value.as_ref().map_or(Value::Null, decimal_to_json)
}

fn opt_ratio(value: Option<f64>) -> Value {
    value.map_or(Value::Null, ratio_to_json)
}

fn text(value: &str) -> Value {
    Value::from(value)
}

fn opt_text(value: &Option<String>) -> Value {
    Value::from(value.as_deref())
}

fn signal(e: &Signal) -> Vec<(&'static str, Value)> {
    vec![
        ("signal_id", Value::from(e.signal_id)),
        ("symbol", text(&e.symbol)),
        ("signal_type", text(e.signal_type.name())),
        ("timestamp", timestamp_to_json(e.timestamp)),
        ("price", decimal(&e.price)),
        ("confidence", ratio_to_json(e.confidence)),
        ("strategy_name", text(&e.strategy_name)),
        ("timeframe", text(&e.timeframe)),
        ("stop_loss", opt_decimal(&e.stop_loss)),
        ("take_profit", opt_decimal(&e.take_profit)),
        ("reason", opt_text(&e.reason)),
        ("ml_enhanced", Value::from(e.ml_enhanced)),
        ("ml_confidence", opt_ratio(e.ml_confidence)),
        ("ml_agreed", Value::from(e.ml_agreed)),
    ]
}

fn trade_opened(e: &TradeOpened) -> Vec<(&'static str, Value)> {
    vec![
        ("ticket", Value::from(e.ticket)),
        ("symbol", text(&e.symbol)),
        ("trade_type", text(e.trade_type.name())),
        ("volume", decimal(&e.volume)),
        ("entry_price", decimal(&e.entry_price)),
        ("entry_time", timestamp_to_json(e.entry_time)),
        ("status", text(e.status.name())),
        ("stop_loss", opt_decimal(&e.stop_loss)),
        ("take_profit", opt_decimal(&e.take_profit)),
        ("magic_number", Value::from(e.magic_number)),
        ("account_number", Value::from(e.account_number)),
        ("strategy_name", opt_text(&e.strategy_name)),
        ("signal_id", Value::from(e.signal_id)),
        ("execution_reason", opt_text(&e.execution_reason)),
        ("signal_confidence", opt_ratio(e.signal_confidence)),
        ("signal_reason", opt_text(&e.signal_reason)),
        ("ml_enhanced", Value::from(e.ml_enhanced)),
        ("ml_confidence", opt_ratio(e.ml_confidence)),
        ("ai_approved", Value::from(e.ai_approved)),
        ("ai_reasoning", opt_text(&e.ai_reasoning)),
        ("commission", decimal(&e.commission)),
        ("swap", decimal(&e.swap)),
        ("comment", opt_text(&e.comment)),
    ]
}

fn order_filled(e: &OrderFilled) -> Vec<(&'static str, Value)> {
    vec![
        ("ticket", Value::from(e.ticket)),
        ("entry_price", decimal(&e.entry_price)),
        ("entry_time", timestamp_to_json(e.entry_time)),
    ]
}

fn order_cancelled(e: &OrderCancelled) -> Vec<(&'static str, Value)> {
    vec![
        ("ticket", Value::from(e.ticket)),
        ("time", timestamp_to_json(e.time)),
        ("reason", opt_text(&e.reason)),
    ]
}

fn order_failed(e: &OrderFailed) -> Vec<(&'static str, Value)> {
    vec![
        ("ticket", Value::from(e.ticket)),
        ("symbol", text(&e.symbol)),
        ("trade_type", text(e.trade_type.name())),
        ("volume", decimal(&e.volume)),
        ("entry_price", decimal(&e.entry_price)),
        ("entry_time", timestamp_to_json(e.entry_time)),
        ("reason", opt_text(&e.reason)),
        ("signal_id", Value::from(e.signal_id)),
        ("account_number", Value::from(e.account_number)),
        ("strategy_name", opt_text(&e.strategy_name)),
        ("magic_number", Value::from(e.magic_number)),
    ]
}

fn trade_modified(e: &TradeModified) -> Vec<(&'static str, Value)> {
    vec![
        ("ticket", Value::from(e.ticket)),
        ("time", timestamp_to_json(e.time)),
        ("stop_loss", price_update_to_json(e.stop_loss)),
        ("take_profit", price_update_to_json(e.take_profit)),
    ]
}

fn trade_closed(e: &TradeClosed) -> Vec<(&'static str, Value)> {
    vec![
        ("ticket", Value::from(e.ticket)),
        ("exit_price", decimal(&e.exit_price)),
        ("exit_time", timestamp_to_json(e.exit_time)),
        ("profit", decimal(&e.profit)),
        ("pips", opt_decimal(&e.pips)),
        ("commission", opt_decimal(&e.commission)),
        ("swap", opt_decimal(&e.swap)),
        ("reason", opt_text(&e.reason)),
    ]
}

fn signal_executed(e: &SignalExecuted) -> Vec<(&'static str, Value)> {
    vec![
        ("signal_id", Value::from(e.signal_id)),
        ("ticket", Value::from(e.ticket)),
        ("execution_reason", opt_text(&e.execution_reason)),
    ]
}

fn account_snapshot(e: &AccountSnapshot) -> Vec<(&'static str, Value)> {
    vec![
        ("account_number", Value::from(e.account_number)),
        ("server", text(&e.server)),
        ("broker", text(&e.broker)),
        ("balance", decimal(&e.balance)),
        ("equity", decimal(&e.equity)),
        ("snapshot_time", timestamp_to_json(e.snapshot_time)),
        ("profit", opt_decimal(&e.profit)),
        ("margin", opt_decimal(&e.margin)),
        ("margin_free", opt_decimal(&e.margin_free)),
        ("total_volume", decimal(&e.total_volume)),
        ("margin_level", opt_decimal(&e.margin_level)),
        ("open_positions", Value::from(e.open_positions)),
    ]
}
