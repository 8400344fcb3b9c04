//! Event payload encoding (`docs/FORMAT.md` §5): postcard 1.x, one schema version per kind.
//!
//! **Architecture invariant:** the codec does no I/O and knows nothing of frames, sequence
//! numbers or files. It turns an [`Event`] into payload bytes plus the `(kind, codec, schema)`
//! triple the frame stores, and back.
//!
//! Old records stay readable forever: a payload is decoded with the struct of *its* schema
//! version and then upcast to the current type. Writing always uses the current version.

use serde::{de::DeserializeOwned, Serialize};

use crate::model::event::*;

mod fast;
mod fast_decode;

/// Codec id of postcard 1.x (`docs/FORMAT.md` §5). Stored in every record frame.
pub const CODEC_POSTCARD: u8 = 1;

/// The schema version that [`encode`] writes for each kind (`docs/FORMAT.md` §5.2).
pub const fn current_schema(kind: EventKind) -> u8 {
    match kind {
        EventKind::AccountSnapshot => 2,
        _ => 1,
    }
}

/// Why a payload could not be decoded. The caller adds where (segment, offset, sequence).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event kind {0}")]
    UnknownKind(u16),
    #[error("unknown codec id {0}")]
    UnknownCodec(u8),
    #[error("unknown schema version {schema} for event kind {kind}")]
    UnknownSchema { kind: EventKind, schema: u8 },
    #[error("malformed {kind} payload (schema {schema}): {reason}")]
    Malformed {
        kind: EventKind,
        schema: u8,
        reason: String,
    },
}

/// Appends the payload of `event` to `out`, returns its kind and schema version.
pub fn encode(event: &Event, out: &mut Vec<u8>) -> (EventKind, u8) {
    fast::encode(event, out);
    let kind = event.kind();
    (kind, current_schema(kind))
}

/// The most bytes the payload of `event` can take: room for [`encode_into`].
pub fn max_payload_len(event: &Event) -> usize {
    fast::max_len(event)
}

/// Writes the payload of `event` at the start of `out` (at least [`max_payload_len`] bytes)
/// and returns its kind, schema version and length. Bytes past the payload are untouched.
pub fn encode_into(event: &Event, out: &mut [u8]) -> (EventKind, u8, usize) {
    let len = fast::encode_into(event, out);
    let kind = event.kind();
    (kind, current_schema(kind), len)
}

/// The same payload through postcard's serializer: the reference [`encode`] must match byte
/// for byte (`tests/codec_roundtrip.rs`).
pub fn encode_with_postcard(event: &Event, out: &mut Vec<u8>) -> (EventKind, u8) {
    let kind = event.kind();
    match event {
        Event::Signal(e) => put(e, out),
        Event::TradeOpened(e) => put(e, out),
        Event::OrderFilled(e) => put(e, out),
        Event::OrderCancelled(e) => put(e, out),
        Event::OrderFailed(e) => put(e, out),
        Event::TradeModified(e) => put(e, out),
        Event::TradeClosed(e) => put(e, out),
        Event::SignalExecuted(e) => put(e, out),
        Event::AccountSnapshot(e) => put(e, out),
    }
    (kind, current_schema(kind))
}

fn put<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot run out of room, and every field type of the event structs has
    // an infallible postcard encoding (no maps with non-string keys, no unsized sequences).
    postcard::to_extend(value, std::mem::take(out))
        .map(|filled| *out = filled)
        .expect("postcard encoding into a Vec is infallible for event types");
}

/// Decodes a payload written under `(kind, codec, schema)`, upcasting older schemas.
pub fn decode(kind: u16, codec: u8, schema: u8, payload: &[u8]) -> Result<Event, DecodeError> {
    let known = EventKind::from_u16(kind);
    if let Some(known) = known.filter(|&k| codec == CODEC_POSTCARD && schema == current_schema(k)) {
        if let Some(event) = decode_fast(known, payload) {
            return Ok(event);
        }
    }
    decode_with_postcard(kind, codec, schema, payload)
}

/// The hand-written decoder alone: the event, or `None` where [`decode`] asks postcard. Every
/// payload [`encode`] writes must take this path (`tests/codec_roundtrip.rs`).
#[doc(hidden)]
pub fn decode_fast(kind: EventKind, payload: &[u8]) -> Option<Event> {
    fast_decode::decode(kind, payload)
}

/// [`decode`] through postcard's deserializer: the reference the hand-written decoder must
/// agree with (`tests/codec_roundtrip.rs`), and the judge of every payload it does not take
/// (older schemas, and anything malformed, whose error it names).
pub fn decode_with_postcard(
    kind: u16,
    codec: u8,
    schema: u8,
    payload: &[u8],
) -> Result<Event, DecodeError> {
    let kind = EventKind::from_u16(kind).ok_or(DecodeError::UnknownKind(kind))?;
    if codec != CODEC_POSTCARD {
        return Err(DecodeError::UnknownCodec(codec));
    }
    let event = match (kind, schema) {
        (EventKind::Signal, 1) => Event::Signal(take(kind, schema, payload)?),
        (EventKind::TradeOpened, 1) => Event::TradeOpened(take(kind, schema, payload)?),
        (EventKind::OrderFilled, 1) => Event::OrderFilled(take(kind, schema, payload)?),
        (EventKind::OrderCancelled, 1) => Event::OrderCancelled(take(kind, schema, payload)?),
        (EventKind::OrderFailed, 1) => Event::OrderFailed(take(kind, schema, payload)?),
        (EventKind::TradeModified, 1) => Event::TradeModified(take(kind, schema, payload)?),
        (EventKind::TradeClosed, 1) => Event::TradeClosed(take(kind, schema, payload)?),
        (EventKind::SignalExecuted, 1) => Event::SignalExecuted(take(kind, schema, payload)?),
        (EventKind::AccountSnapshot, 1) => {
            let v1: legacy::AccountSnapshotV1 = take(kind, schema, payload)?;
            Event::AccountSnapshot(v1.upcast())
        }
        (EventKind::AccountSnapshot, 2) => Event::AccountSnapshot(take(kind, schema, payload)?),
        (kind, schema) => return Err(DecodeError::UnknownSchema { kind, schema }),
    };
    Ok(event)
}

/// Decodes exactly `payload`: trailing bytes are malformed, not ignored.
fn take<T: DeserializeOwned>(
    kind: EventKind,
    schema: u8,
    payload: &[u8],
) -> Result<T, DecodeError> {
    let malformed = |reason: String| DecodeError::Malformed {
        kind,
        schema,
        reason,
    };
    let (value, rest) = postcard::take_from_bytes(payload).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// Older schema versions, kept so that their records decode forever (`docs/FORMAT.md` §5.2).
pub mod legacy {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Serialize};

    use crate::model::event::{compact, AccountSnapshot, Timestamp};

    /// `account_snapshot` schema 1: the original system's columns, without `margin_level`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct AccountSnapshotV1 {
        pub account_number: u64,
        pub server: String,
        pub broker: String,
        #[serde(with = "compact::decimal")]
        pub balance: Decimal,
        #[serde(with = "compact::decimal")]
        pub equity: Decimal,
        pub snapshot_time: Timestamp,
        #[serde(with = "compact::option_decimal")]
        pub profit: Option<Decimal>,
        #[serde(with = "compact::option_decimal")]
        pub margin: Option<Decimal>,
        #[serde(with = "compact::option_decimal")]
        pub margin_free: Option<Decimal>,
        #[serde(with = "compact::decimal")]
        pub total_volume: Decimal,
        pub open_positions: u32,
    }

    impl AccountSnapshotV1 {
        /// Schema 1 → 2: `margin_level` did not exist, so it is unknown (`None`).
        pub fn upcast(self) -> AccountSnapshot {
            AccountSnapshot {
                account_number: self.account_number,
                server: self.server,
                broker: self.broker,
                balance: self.balance,
                equity: self.equity,
                snapshot_time: self.snapshot_time,
                profit: self.profit,
                margin: self.margin,
                margin_free: self.margin_free,
                total_volume: self.total_volume,
                margin_level: None,
                open_positions: self.open_positions,
            }
        }

        /// Encodes a schema-1 payload; used to build the fixtures that prove upcasting.
        pub fn encode(&self) -> Vec<u8> {
            postcard::to_stdvec(self).expect("postcard encoding into a Vec is infallible")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn snapshot_v1() -> legacy::AccountSnapshotV1 {
        legacy::AccountSnapshotV1 {
            account_number: 12345,
            server: "Demo-1".into(),
            broker: "Broker".into(),
            balance: Decimal::from_str("10000.00").unwrap(),
            equity: Decimal::from_str("10012.50").unwrap(),
            snapshot_time: Timestamp::from_nanos(1_700_000_000_000_000_000),
            profit: Some(Decimal::from_str("12.50").unwrap()),
            margin: None,
            margin_free: None,
            total_volume: Decimal::from_str("0.10").unwrap(),
            open_positions: 1,
        }
    }

    #[test]
    fn schema_1_snapshot_upcasts_with_unknown_margin_level() {
        let v1 = snapshot_v1();
        let event = decode(
            EventKind::AccountSnapshot as u16,
            CODEC_POSTCARD,
            1,
            &v1.encode(),
        )
        .unwrap();
        let Event::AccountSnapshot(snapshot) = event else {
            panic!("decoded to another kind: {event:?}")
        };
        assert_eq!(snapshot.margin_level, None);
        assert_eq!(snapshot.equity.to_string(), "10012.50");
        assert_eq!(snapshot, v1.upcast());
    }

    #[test]
    fn trailing_bytes_and_unknown_versions_are_refused() {
        let mut payload = snapshot_v1().encode();
        payload.push(0);
        assert!(matches!(
            decode(9, CODEC_POSTCARD, 1, &payload),
            Err(DecodeError::Malformed { .. })
        ));
        assert_eq!(
            decode(9, CODEC_POSTCARD, 3, &payload),
            Err(DecodeError::UnknownSchema {
                kind: EventKind::AccountSnapshot,
                schema: 3
            })
        );
        assert_eq!(
            decode(99, CODEC_POSTCARD, 1, &payload),
            Err(DecodeError::UnknownKind(99))
        );
        assert_eq!(decode(9, 7, 1, &payload), Err(DecodeError::UnknownCodec(7)));
    }
}
