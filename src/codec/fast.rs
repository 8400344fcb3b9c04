//! A hand-written encoder that writes exactly postcard 1.x's bytes for the event types
//! (`docs/FORMAT.md` §5), without serde's per-field machinery: the append path's largest cost.
//! `tests/codec_roundtrip.rs` proves, for arbitrary events, that its output equals postcard's.

use rust_decimal::Decimal;

use crate::event::*;

/// postcard's unsigned varint (LEB128).
fn varint(out: &mut Vec<u8>, mut value: u128) {
    if let Ok(small) = u64::try_from(value) {
        return u64v(out, small);
    }
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The same for values that fit in 64 bits (nearly all: ids, times, mantissas of prices).
fn u64v(out: &mut Vec<u8>, mut value: u64) {
    let mut bytes = [0u8; 10];
    let mut len = 0;
    while value >= 0x80 {
        bytes[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    bytes[len] = value as u8;
    out.extend_from_slice(&bytes[..=len]);
}

/// postcard's signed varint: zigzag, then LEB128.
fn i128v(out: &mut Vec<u8>, value: i128) {
    varint(out, ((value << 1) ^ (value >> 127)) as u128);
}

fn time(out: &mut Vec<u8>, value: Timestamp) {
    let nanos = value.nanos();
    u64v(out, ((nanos << 1) ^ (nanos >> 63)) as u64);
}

/// `event::compact::decimal`: `(scale: u8, mantissa: i128)`.
fn dec(out: &mut Vec<u8>, value: &Decimal) {
    out.push(value.scale() as u8);
    i128v(out, value.mantissa());
}

fn opt_dec(out: &mut Vec<u8>, value: &Option<Decimal>) {
    match value {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            dec(out, d);
        }
    }
}

fn string(out: &mut Vec<u8>, value: &str) {
    u64v(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

fn opt_string(out: &mut Vec<u8>, value: &Option<String>) {
    match value {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            string(out, s);
        }
    }
}

fn opt_u64(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            u64v(out, v);
        }
    }
}

fn f64le(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn opt_f64(out: &mut Vec<u8>, value: Option<f64>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            f64le(out, v);
        }
    }
}

fn opt_bool(out: &mut Vec<u8>, value: Option<bool>) {
    match value {
        None => out.push(0),
        Some(v) => out.extend_from_slice(&[1, v as u8]),
    }
}

fn price_update(out: &mut Vec<u8>, value: &PriceUpdate) {
    match value {
        PriceUpdate::Unchanged => out.push(0),
        PriceUpdate::Remove => out.push(1),
        PriceUpdate::Set(d) => {
            out.push(2);
            dec(out, d);
        }
    }
}

/// Variant indexes as declared (postcard writes them as varints; all are below 128).
fn trade_type(out: &mut Vec<u8>, value: TradeType) {
    out.push(value as u8);
}

/// Appends the payload of `event`, byte for byte what postcard writes.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    // One growth check for the common case instead of one per field.
    out.reserve(256);
    match event {
        Event::Signal(e) => signal(out, e),
        Event::TradeOpened(e) => trade_opened(out, e),
        Event::OrderFilled(e) => {
            u64v(out, e.ticket);
            dec(out, &e.entry_price);
            time(out, e.entry_time);
        }
        Event::OrderCancelled(e) => {
            u64v(out, e.ticket);
            time(out, e.time);
            opt_string(out, &e.reason);
        }
        Event::OrderFailed(e) => order_failed(out, e),
        Event::TradeModified(e) => {
            u64v(out, e.ticket);
            time(out, e.time);
            price_update(out, &e.stop_loss);
            price_update(out, &e.take_profit);
        }
        Event::TradeClosed(e) => trade_closed(out, e),
        Event::SignalExecuted(e) => {
            u64v(out, e.signal_id);
            u64v(out, e.ticket);
            opt_string(out, &e.execution_reason);
        }
        Event::AccountSnapshot(e) => account_snapshot(out, e),
    }
}

fn signal(out: &mut Vec<u8>, e: &Signal) {
    u64v(out, e.signal_id);
    string(out, &e.symbol);
    out.push(e.signal_type as u8);
    time(out, e.timestamp);
    dec(out, &e.price);
    f64le(out, e.confidence);
    string(out, &e.strategy_name);
    string(out, &e.timeframe);
    opt_dec(out, &e.stop_loss);
    opt_dec(out, &e.take_profit);
    opt_string(out, &e.reason);
    out.push(e.ml_enhanced as u8);
    opt_f64(out, e.ml_confidence);
    opt_bool(out, e.ml_agreed);
}

fn trade_opened(out: &mut Vec<u8>, e: &TradeOpened) {
    u64v(out, e.ticket);
    string(out, &e.symbol);
    trade_type(out, e.trade_type);
    dec(out, &e.volume);
    dec(out, &e.entry_price);
    time(out, e.entry_time);
    out.push(e.status as u8);
    opt_dec(out, &e.stop_loss);
    opt_dec(out, &e.take_profit);
    u64v(out, e.magic_number);
    opt_u64(out, e.account_number);
    opt_string(out, &e.strategy_name);
    opt_u64(out, e.signal_id);
    opt_string(out, &e.execution_reason);
    opt_f64(out, e.signal_confidence);
    opt_string(out, &e.signal_reason);
    out.push(e.ml_enhanced as u8);
    opt_f64(out, e.ml_confidence);
    out.push(e.ai_approved as u8);
    opt_string(out, &e.ai_reasoning);
    dec(out, &e.commission);
    dec(out, &e.swap);
    opt_string(out, &e.comment);
}

fn order_failed(out: &mut Vec<u8>, e: &OrderFailed) {
    u64v(out, e.ticket);
    string(out, &e.symbol);
    trade_type(out, e.trade_type);
    dec(out, &e.volume);
    dec(out, &e.entry_price);
    time(out, e.entry_time);
    opt_string(out, &e.reason);
    opt_u64(out, e.signal_id);
    opt_u64(out, e.account_number);
    opt_string(out, &e.strategy_name);
    u64v(out, e.magic_number);
}

fn trade_closed(out: &mut Vec<u8>, e: &TradeClosed) {
    u64v(out, e.ticket);
    dec(out, &e.exit_price);
    time(out, e.exit_time);
    dec(out, &e.profit);
    opt_dec(out, &e.pips);
    opt_dec(out, &e.commission);
    opt_dec(out, &e.swap);
    opt_string(out, &e.reason);
}

fn account_snapshot(out: &mut Vec<u8>, e: &AccountSnapshot) {
    u64v(out, e.account_number);
    string(out, &e.server);
    string(out, &e.broker);
    dec(out, &e.balance);
    dec(out, &e.equity);
    time(out, e.snapshot_time);
    opt_dec(out, &e.profit);
    opt_dec(out, &e.margin);
    opt_dec(out, &e.margin_free);
    dec(out, &e.total_volume);
    opt_dec(out, &e.margin_level);
    u64v(out, e.open_positions as u64);
}
