//! A hand-written decoder for the current schemas (`docs/FORMAT.md` §5), the mirror of
//! `fast.rs`: it reads postcard 1.x's bytes field by field, without serde's per-field
//! machinery, which was most of the cost of every read (verify, replay, the reader).
//!
//! It is a fast path, not a second judge. It returns a value only where postcard would return
//! the same value, and `None` for anything else it meets: a varint, an option tag, a bool, an
//! enum index, a decimal, UTF-8 or a length that is not what postcard accepts, or bytes left
//! over. [`super::decode`] then asks postcard, whose answer (the event, or the error that
//! names why) is the one returned. `tests/codec_roundtrip.rs` checks, for arbitrary events
//! and for damaged and random payloads, that whenever this decoder returns a value, postcard
//! returns the same one.

use rust_decimal::Decimal;

use crate::model::event::*;

/// Reads from `bytes` at `pos`; every read is bounds-checked and fails as `None`.
struct In<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> In<'a> {
    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let value = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(value)
    }

    #[inline(always)]
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let taken = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(taken)
    }

    /// postcard's unsigned varint (LEB128) of at most `max_bytes` bytes, the last of which
    /// may carry at most `last_max` (the bits left of the type's width); non-canonical
    /// (overlong) forms are accepted, as postcard accepts them.
    #[inline(always)]
    fn varint(&mut self, max_bytes: usize, last_max: u8) -> Option<u128> {
        let first = self.byte()?;
        if first < 0x80 {
            return Some(u128::from(first));
        }
        let mut value = u128::from(first & 0x7F);
        for i in 1..max_bytes {
            let byte = self.byte()?;
            value |= u128::from(byte & 0x7F) << (7 * i);
            if byte < 0x80 {
                return (i < max_bytes - 1 || byte <= last_max).then_some(value);
            }
        }
        None
    }

    #[inline(always)]
    fn u64v(&mut self) -> Option<u64> {
        self.varint(10, 0x01).map(|v| v as u64)
    }

    /// A `u32`, and an enum's variant index (postcard writes it as a `u32` varint).
    #[inline(always)]
    fn u32v(&mut self) -> Option<u32> {
        self.varint(5, 0x0F).map(|v| v as u32)
    }

    fn time(&mut self) -> Option<Timestamp> {
        let zigzag = self.u64v()?;
        Some(Timestamp::from_nanos(
            (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64),
        ))
    }

    /// `event::compact::decimal`: the scale as one byte, the mantissa as a zigzag `i128`
    /// varint, made into a `Decimal` by the same call the serde path makes.
    fn dec(&mut self) -> Option<Decimal> {
        let scale = self.byte()?;
        let zigzag = self.varint(19, 0x03)?;
        let mantissa = (zigzag >> 1) as i128 ^ -((zigzag & 1) as i128);
        Decimal::try_from_i128_with_scale(mantissa, u32::from(scale)).ok()
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// An option: tag 0 or 1, then the value.
    #[inline(always)]
    fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.byte()? {
            0 => Some(None),
            1 => read(self).map(Some),
            _ => None,
        }
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u64v()?).ok()?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }

    fn f64le(&mut self) -> Option<f64> {
        let bytes = self.take(8)?;
        Some(f64::from_le_bytes(bytes.try_into().ok()?))
    }

    fn price_update(&mut self) -> Option<PriceUpdate> {
        match self.u32v()? {
            0 => Some(PriceUpdate::Unchanged),
            1 => Some(PriceUpdate::Remove),
            2 => self.dec().map(PriceUpdate::Set),
            _ => None,
        }
    }

    fn trade_type(&mut self) -> Option<TradeType> {
        match self.u32v()? {
            0 => Some(TradeType::Buy),
            1 => Some(TradeType::Sell),
            _ => None,
        }
    }

    /// The value, if every byte was read.
    fn end<T>(&self, value: T) -> Option<T> {
        (self.pos == self.bytes.len()).then_some(value)
    }
}

/// The event of kind `kind` in its current schema from `payload`, when postcard would decode
/// it to the same event; `None` otherwise (postcard then decides).
pub fn decode(kind: EventKind, payload: &[u8]) -> Option<Event> {
    let mut i = In {
        bytes: payload,
        pos: 0,
    };
    let event = match kind {
        EventKind::Signal => Event::Signal(signal(&mut i)?),
        EventKind::TradeOpened => Event::TradeOpened(trade_opened(&mut i)?),
        EventKind::OrderFilled => Event::OrderFilled(OrderFilled {
            ticket: i.u64v()?,
            entry_price: i.dec()?,
            entry_time: i.time()?,
        }),
        EventKind::OrderCancelled => Event::OrderCancelled(OrderCancelled {
            ticket: i.u64v()?,
            time: i.time()?,
            reason: i.opt(In::string)?,
        }),
        EventKind::OrderFailed => Event::OrderFailed(order_failed(&mut i)?),
        EventKind::TradeModified => Event::TradeModified(TradeModified {
            ticket: i.u64v()?,
            time: i.time()?,
            stop_loss: i.price_update()?,
            take_profit: i.price_update()?,
        }),
        EventKind::TradeClosed => Event::TradeClosed(trade_closed(&mut i)?),
        EventKind::SignalExecuted => Event::SignalExecuted(SignalExecuted {
            signal_id: i.u64v()?,
            ticket: i.u64v()?,
            execution_reason: i.opt(In::string)?,
        }),
        EventKind::AccountSnapshot => Event::AccountSnapshot(account_snapshot(&mut i)?),
    };
    i.end(event)
}

fn signal(i: &mut In<'_>) -> Option<Signal> {
    Some(Signal {
        signal_id: i.u64v()?,
        symbol: i.string()?,
        signal_type: match i.u32v()? {
            0 => SignalType::Buy,
            1 => SignalType::Sell,
            2 => SignalType::Hold,
            _ => return None,
        },
        timestamp: i.time()?,
        price: i.dec()?,
        confidence: i.f64le()?,
        strategy_name: i.string()?,
        timeframe: i.string()?,
        stop_loss: i.opt(In::dec)?,
        take_profit: i.opt(In::dec)?,
        reason: i.opt(In::string)?,
        ml_enhanced: i.bool()?,
        ml_confidence: i.opt(In::f64le)?,
        ml_agreed: i.opt(In::bool)?,
    })
}

fn trade_opened(i: &mut In<'_>) -> Option<TradeOpened> {
    Some(TradeOpened {
        ticket: i.u64v()?,
        symbol: i.string()?,
        trade_type: i.trade_type()?,
        volume: i.dec()?,
        entry_price: i.dec()?,
        entry_time: i.time()?,
        status: match i.u32v()? {
            0 => OpenStatus::Open,
            1 => OpenStatus::Pending,
            _ => return None,
        },
        stop_loss: i.opt(In::dec)?,
        take_profit: i.opt(In::dec)?,
        magic_number: i.u64v()?,
        account_number: i.opt(In::u64v)?,
        strategy_name: i.opt(In::string)?,
        signal_id: i.opt(In::u64v)?,
        execution_reason: i.opt(In::string)?,
        signal_confidence: i.opt(In::f64le)?,
        signal_reason: i.opt(In::string)?,
        ml_enhanced: i.bool()?,
        ml_confidence: i.opt(In::f64le)?,
        ai_approved: i.bool()?,
        ai_reasoning: i.opt(In::string)?,
        commission: i.dec()?,
        swap: i.dec()?,
        comment: i.opt(In::string)?,
    })
}

fn order_failed(i: &mut In<'_>) -> Option<OrderFailed> {
    Some(OrderFailed {
        ticket: i.u64v()?,
        symbol: i.string()?,
        trade_type: i.trade_type()?,
        volume: i.dec()?,
        entry_price: i.dec()?,
        entry_time: i.time()?,
        reason: i.opt(In::string)?,
        signal_id: i.opt(In::u64v)?,
        account_number: i.opt(In::u64v)?,
        strategy_name: i.opt(In::string)?,
        magic_number: i.u64v()?,
    })
}

fn trade_closed(i: &mut In<'_>) -> Option<TradeClosed> {
    Some(TradeClosed {
        ticket: i.u64v()?,
        exit_price: i.dec()?,
        exit_time: i.time()?,
        profit: i.dec()?,
        pips: i.opt(In::dec)?,
        commission: i.opt(In::dec)?,
        swap: i.opt(In::dec)?,
        reason: i.opt(In::string)?,
    })
}

fn account_snapshot(i: &mut In<'_>) -> Option<AccountSnapshot> {
    Some(AccountSnapshot {
        account_number: i.u64v()?,
        server: i.string()?,
        broker: i.string()?,
        balance: i.dec()?,
        equity: i.dec()?,
        snapshot_time: i.time()?,
        profit: i.opt(In::dec)?,
        margin: i.opt(In::dec)?,
        margin_free: i.opt(In::dec)?,
        total_volume: i.dec()?,
        margin_level: i.opt(In::dec)?,
        open_positions: i.u32v()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte strings around every edge of postcard's varints: each length up to 20 bytes, the
    /// continuation bytes all `0x80` or all `0xFF`, the last byte below, at and above the
    /// bits its type has room for, and strings that never end.
    fn varint_edges() -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for len in 1..=20 {
            for filler in [0x80u8, 0xFF] {
                for last in [0u8, 1, 2, 3, 4, 0x0F, 0x10, 0x7F, 0x80] {
                    let mut bytes = vec![filler; len - 1];
                    bytes.push(last);
                    all.push(bytes);
                }
            }
        }
        all
    }

    fn read<'a, T>(bytes: &'a [u8], f: impl FnOnce(&mut In<'a>) -> Option<T>) -> Option<T> {
        let mut i = In { bytes, pos: 0 };
        let value = f(&mut i)?;
        i.end(value)
    }

    /// What postcard decodes from exactly `bytes`, none left over.
    fn exactly<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        let (value, rest) = postcard::take_from_bytes::<T>(bytes).ok()?;
        rest.is_empty().then_some(value)
    }

    #[test]
    fn varints_are_read_exactly_as_postcard_reads_them() {
        for bytes in varint_edges() {
            let u64_ref = exactly::<u64>(&bytes);
            let u32_ref = exactly::<u32>(&bytes);
            let i64_ref = exactly::<i64>(&bytes);
            assert_eq!(read(&bytes, In::u64v), u64_ref, "u64 {bytes:02x?}");
            assert_eq!(read(&bytes, In::u32v), u32_ref, "u32 {bytes:02x?}");
            let time = read(&bytes, In::time).map(|t| t.nanos());
            assert_eq!(time, i64_ref, "i64 {bytes:02x?}");
            for scale in [0u8, 5, 28, 29] {
                let payload = [&[scale][..], &bytes].concat();
                let reference = exactly::<(u8, i128)>(&payload)
                    .and_then(|(s, m)| Decimal::try_from_i128_with_scale(m, s.into()).ok());
                assert_eq!(read(&payload, In::dec), reference, "decimal {payload:02x?}");
            }
        }
    }

    #[test]
    fn tags_and_bools_are_zero_or_one() {
        for byte in 0..=255u8 {
            let bool_ref = exactly::<bool>(&[byte]);
            assert_eq!(read(&[byte], In::bool), bool_ref, "{byte}");
            let option_ref = exactly::<Option<bool>>(&[byte, 1]);
            assert_eq!(read(&[byte, 1], |i| i.opt(In::bool)), option_ref);
            let update_ref = exactly::<PriceUpdate>(&[byte]);
            assert_eq!(read(&[byte], In::price_update), update_ref, "{byte}");
        }
    }
}
