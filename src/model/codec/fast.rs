//! A hand-written encoder that writes exactly postcard 1.x's bytes for the event types
//! (`docs/FORMAT.md` §5), without serde's per-field machinery: the append path's largest cost.
//! `tests/codec_roundtrip.rs` proves, for arbitrary events, that its output equals postcard's.
//!
//! It writes by index into a slice sized once per event for the largest payload the event
//! could have, instead of pushing byte by byte into a `Vec` (a capacity check per field, and a
//! `memcpy` call per varint).

use rust_decimal::Decimal;

use crate::model::event::*;

/// Bytes that the fields of any event kind other than free text can take at most: every
/// varint at full width (10 bytes for 64 bits, 19 for a 128-bit mantissa) and every option
/// tag. The largest kind, `account_snapshot`, needs under 200.
const FIXED_MAX: usize = 512;

/// Writes at `pos` into a slice sized for the event's largest payload ([`max_len`]), so no write
/// checks for room (each still checks its bounds: running out is a bug, not a buffer overrun).
struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Out<'_> {
    #[inline(always)]
    fn byte(&mut self, value: u8) {
        self.buf[self.pos] = value;
        self.pos += 1;
    }

    #[inline(always)]
    fn bytes(&mut self, value: &[u8]) {
        self.buf[self.pos..self.pos + value.len()].copy_from_slice(value);
        self.pos += value.len();
    }

    /// postcard's unsigned varint (LEB128) of a value that fits in 64 bits (nearly all: ids,
    /// times, mantissas of prices).
    #[inline(always)]
    fn u64v(&mut self, mut value: u64) {
        if value < 0x80 {
            return self.byte(value as u8);
        }
        let out = &mut self.buf[self.pos..self.pos + 10];
        let mut len = 0;
        while value >= 0x80 {
            out[len] = (value as u8) | 0x80;
            value >>= 7;
            len += 1;
        }
        out[len] = value as u8;
        self.pos += len + 1;
    }

    /// The same for 128 bits.
    fn u128v(&mut self, mut value: u128) {
        if let Ok(small) = u64::try_from(value) {
            return self.u64v(small);
        }
        while value >= 0x80 {
            self.byte((value as u8) | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    fn time(&mut self, value: Timestamp) {
        let nanos = value.nanos();
        self.u64v(((nanos << 1) ^ (nanos >> 63)) as u64);
    }

    /// `event::compact::decimal`: `(scale: u8, mantissa: i128)`, the mantissa as postcard's
    /// signed varint (zigzag, then LEB128). The zigzag is taken from the magnitude and sign
    /// directly when the magnitude fits in 63 bits; a negative zero has mantissa 0.
    fn dec(&mut self, value: &Decimal) {
        let parts = value.unpack();
        self.byte(parts.scale as u8);
        let magnitude = u64::from(parts.lo) | (u64::from(parts.mid) << 32);
        if parts.hi == 0 && magnitude < 1 << 63 {
            let zigzag = if parts.negative && magnitude != 0 {
                2 * magnitude - 1
            } else {
                2 * magnitude
            };
            return self.u64v(zigzag);
        }
        let mantissa = value.mantissa();
        self.u128v(((mantissa << 1) ^ (mantissa >> 127)) as u128);
    }

    fn opt_dec(&mut self, value: &Option<Decimal>) {
        match value {
            None => self.byte(0),
            Some(d) => {
                self.byte(1);
                self.dec(d);
            }
        }
    }

    fn string(&mut self, value: &str) {
        self.u64v(value.len() as u64);
        self.bytes(value.as_bytes());
    }

    fn opt_string(&mut self, value: &Option<String>) {
        match value {
            None => self.byte(0),
            Some(s) => {
                self.byte(1);
                self.string(s);
            }
        }
    }

    fn opt_u64(&mut self, value: Option<u64>) {
        match value {
            None => self.byte(0),
            Some(v) => {
                self.byte(1);
                self.u64v(v);
            }
        }
    }

    fn f64le(&mut self, value: f64) {
        self.bytes(&value.to_le_bytes());
    }

    fn opt_f64(&mut self, value: Option<f64>) {
        match value {
            None => self.byte(0),
            Some(v) => {
                self.byte(1);
                self.f64le(v);
            }
        }
    }

    fn opt_bool(&mut self, value: Option<bool>) {
        match value {
            None => self.byte(0),
            Some(v) => self.bytes(&[1, v as u8]),
        }
    }

    fn price_update(&mut self, value: &PriceUpdate) {
        match value {
            PriceUpdate::Unchanged => self.byte(0),
            PriceUpdate::Remove => self.byte(1),
            PriceUpdate::Set(d) => {
                self.byte(2);
                self.dec(d);
            }
        }
    }
}

/// The most bytes the payload of `event` can take.
pub fn max_len(event: &Event) -> usize {
    FIXED_MAX + text_bytes(event)
}

/// Writes the payload of `event` at the start of `out`, byte for byte what postcard writes,
/// and returns its length. `out` must hold at least [`max_len`] bytes (the bounds checks
/// panic otherwise); bytes past the returned length are left as they were.
pub fn encode_into(event: &Event, out: &mut [u8]) -> usize {
    let mut out = Out { buf: out, pos: 0 };
    match event {
        Event::Signal(e) => signal(&mut out, e),
        Event::TradeOpened(e) => trade_opened(&mut out, e),
        Event::OrderFilled(e) => {
            out.u64v(e.ticket);
            out.dec(&e.entry_price);
            out.time(e.entry_time);
        }
        Event::OrderCancelled(e) => {
            out.u64v(e.ticket);
            out.time(e.time);
            out.opt_string(&e.reason);
        }
        Event::OrderFailed(e) => order_failed(&mut out, e),
        Event::TradeModified(e) => {
            out.u64v(e.ticket);
            out.time(e.time);
            out.price_update(&e.stop_loss);
            out.price_update(&e.take_profit);
        }
        Event::TradeClosed(e) => trade_closed(&mut out, e),
        Event::SignalExecuted(e) => {
            out.u64v(e.signal_id);
            out.u64v(e.ticket);
            out.opt_string(&e.execution_reason);
        }
        Event::AccountSnapshot(e) => account_snapshot(&mut out, e),
    }
    out.pos
}

/// What the free-text fields of `event` can take at most: their bytes and a full-width
/// length varint each.
fn text_bytes(event: &Event) -> usize {
    let sized = |text: &Option<String>| text.as_ref().map_or(0, |t| 10 + t.len());
    let always = |text: &String| 10 + text.len();
    match event {
        Event::Signal(e) => {
            always(&e.symbol) + always(&e.strategy_name) + always(&e.timeframe) + sized(&e.reason)
        }
        Event::TradeOpened(e) => {
            always(&e.symbol)
                + sized(&e.strategy_name)
                + sized(&e.execution_reason)
                + sized(&e.signal_reason)
                + sized(&e.ai_reasoning)
                + sized(&e.comment)
        }
        Event::OrderCancelled(e) => sized(&e.reason),
        Event::OrderFailed(e) => always(&e.symbol) + sized(&e.reason) + sized(&e.strategy_name),
        Event::TradeClosed(e) => sized(&e.reason),
        Event::SignalExecuted(e) => sized(&e.execution_reason),
        Event::AccountSnapshot(e) => always(&e.server) + always(&e.broker),
        Event::OrderFilled(_) | Event::TradeModified(_) => 0,
    }
}

/// Appends the payload of `event` to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + max_len(event), 0);
    let len = encode_into(event, &mut out[start..]);
    out.truncate(start + len);
}

fn signal(out: &mut Out<'_>, e: &Signal) {
    out.u64v(e.signal_id);
    out.string(&e.symbol);
    out.byte(e.signal_type as u8);
    out.time(e.timestamp);
    out.dec(&e.price);
    out.f64le(e.confidence);
    out.string(&e.strategy_name);
    out.string(&e.timeframe);
    out.opt_dec(&e.stop_loss);
    out.opt_dec(&e.take_profit);
    out.opt_string(&e.reason);
    out.byte(e.ml_enhanced as u8);
    out.opt_f64(e.ml_confidence);
    out.opt_bool(e.ml_agreed);
}

/// Enum variant indexes are written as declared (postcard writes them as varints; all are
/// below 128, so one byte).
fn trade_opened(out: &mut Out<'_>, e: &TradeOpened) {
    out.u64v(e.ticket);
    out.string(&e.symbol);
    out.byte(e.trade_type as u8);
    out.dec(&e.volume);
    out.dec(&e.entry_price);
    out.time(e.entry_time);
    out.byte(e.status as u8);
    out.opt_dec(&e.stop_loss);
    out.opt_dec(&e.take_profit);
    out.u64v(e.magic_number);
    out.opt_u64(e.account_number);
    out.opt_string(&e.strategy_name);
    out.opt_u64(e.signal_id);
    out.opt_string(&e.execution_reason);
    out.opt_f64(e.signal_confidence);
    out.opt_string(&e.signal_reason);
    out.byte(e.ml_enhanced as u8);
    out.opt_f64(e.ml_confidence);
    out.byte(e.ai_approved as u8);
    out.opt_string(&e.ai_reasoning);
    out.dec(&e.commission);
    out.dec(&e.swap);
    out.opt_string(&e.comment);
}

fn order_failed(out: &mut Out<'_>, e: &OrderFailed) {
    out.u64v(e.ticket);
    out.string(&e.symbol);
    out.byte(e.trade_type as u8);
    out.dec(&e.volume);
    out.dec(&e.entry_price);
    out.time(e.entry_time);
    out.opt_string(&e.reason);
    out.opt_u64(e.signal_id);
    out.opt_u64(e.account_number);
    out.opt_string(&e.strategy_name);
    out.u64v(e.magic_number);
}

fn trade_closed(out: &mut Out<'_>, e: &TradeClosed) {
    out.u64v(e.ticket);
    out.dec(&e.exit_price);
    out.time(e.exit_time);
    out.dec(&e.profit);
    out.opt_dec(&e.pips);
    out.opt_dec(&e.commission);
    out.opt_dec(&e.swap);
    out.opt_string(&e.reason);
}

fn account_snapshot(out: &mut Out<'_>, e: &AccountSnapshot) {
    out.u64v(e.account_number);
    out.string(&e.server);
    out.string(&e.broker);
    out.dec(&e.balance);
    out.dec(&e.equity);
    out.time(e.snapshot_time);
    out.opt_dec(&e.profit);
    out.opt_dec(&e.margin);
    out.opt_dec(&e.margin_free);
    out.dec(&e.total_volume);
    out.opt_dec(&e.margin_level);
    out.u64v(e.open_positions as u64);
}
