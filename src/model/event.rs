//! The domain events of `docs/INTERCHANGE.md` §2, the interchange contract.
//!
//! These types are pure data: no I/O, no validation against journal state. Field order is part
//! of the on-disk format (postcard encodes struct fields by position and enum variants by
//! declaration index, `docs/FORMAT.md` §5): never reorder or remove a field or variant; evolve a
//! type by adding a new schema version in `codec.rs`.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A point in time, UTC, as nanoseconds since the Unix epoch.
///
/// Every `Timestamp` fits in an `i64` of nanoseconds (1677-09-21 to 2262-04-11), so every
/// timestamp can be encoded; conversion from a `chrono` time outside that range fails instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// `None` when the time is outside the range of `i64` nanoseconds.
    pub fn from_datetime(time: DateTime<Utc>) -> Option<Timestamp> {
        time.timestamp_nanos_opt().map(Timestamp)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// The current wall-clock time. Read straight from the system clock: building a chrono
    /// `DateTime` first (calendar arithmetic) cost about as much as the rest of an append's
    /// bookkeeping.
    pub fn now() -> Timestamp {
        use std::time::{SystemTime, UNIX_EPOCH};
        // In range until 2262; a clock set before 1677 saturates.
        // Seconds and nanoseconds apart: `as_nanos` would multiply in 128 bits.
        let nanos = |since: std::time::Duration| {
            i64::try_from(since.as_secs())
                .ok()
                .and_then(|secs| secs.checked_mul(1_000_000_000))
                .and_then(|nanos| nanos.checked_add(i64::from(since.subsec_nanos())))
        };
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => nanos(after).map_or(Timestamp::MAX, Timestamp),
            Err(before) => nanos(before.duration()).map_or(Timestamp::MIN, |n| Timestamp(-n)),
        }
    }

    /// The UTC calendar day this time falls on.
    pub fn date(self) -> chrono::NaiveDate {
        self.to_datetime().date_naive()
    }

    /// Whole seconds from `earlier` to `self`, rounded down; `None` if `self` is earlier.
    pub fn seconds_since(self, earlier: Timestamp) -> Option<i64> {
        let nanos = (self.0 as i128) - (earlier.0 as i128);
        (nanos >= 0).then_some((nanos / 1_000_000_000) as i64)
    }

    /// Parses RFC 3339 with a mandatory offset (`Z` or `±hh:mm`), up to nanoseconds.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        if fraction_digits(text) > 9 {
            // chrono would silently drop the digits beyond nanoseconds.
            return Err(TimestampError::TooPrecise);
        }
        let time =
            DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError::NotRfc3339WithOffset)?;
        Timestamp::from_datetime(time.with_timezone(&Utc)).ok_or(TimestampError::OutOfRange)
    }
}

/// Digits after the decimal point of the seconds (0 when there is none).
fn fraction_digits(text: &str) -> usize {
    let Some(dot) = text.find('.') else { return 0 };
    text[dot + 1..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count()
}

/// Why a timestamp string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampError {
    NotRfc3339WithOffset,
    OutOfRange,
    TooPrecise,
}

impl std::error::Error for TimestampError {}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::NotRfc3339WithOffset => {
                f.write_str("not an RFC 3339 timestamp with an offset (Z or +hh:mm)")
            }
            TimestampError::TooPrecise => {
                f.write_str("more than 9 fractional digits (finer than a nanosecond)")
            }
            TimestampError::OutOfRange => {
                f.write_str("timestamp outside 1677-09-21..2262-04-11 (nanoseconds in i64)")
            }
        }
    }
}

/// RFC 3339 in UTC with `Z`, without trailing fractional zeros: `2024-01-02T10:00:00.5Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = self.to_datetime();
        write!(f, "{}", time.format("%Y-%m-%dT%H:%M:%S"))?;
        let mut fraction = time.timestamp_subsec_nanos();
        if fraction != 0 {
            let mut digits = 9;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                digits -= 1;
            }
            write!(f, ".{fraction:0digits$}")?;
        }
        f.write_str("Z")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignalType {
    Buy,
    Sell,
    Hold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TradeType {
    Buy,
    Sell,
}

/// The status a `trade_opened` event gives a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpenStatus {
    Open,
    Pending,
}

/// The lifecycle status of a trade (`docs/INTERCHANGE.md` §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TradeStatus {
    Pending,
    Open,
    Closed,
    Cancelled,
    Failed,
}

macro_rules! upper_case_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// The upper-case name used in JSON and on screen.
            pub const fn name(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }

            /// Case-insensitive parse of the name.
            pub fn parse(text: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(text))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

upper_case_names!(SignalType { Buy => "BUY", Sell => "SELL", Hold => "HOLD" });
upper_case_names!(TradeType { Buy => "BUY", Sell => "SELL" });
upper_case_names!(OpenStatus { Open => "OPEN", Pending => "PENDING" });
upper_case_names!(TradeStatus {
    Pending => "PENDING",
    Open => "OPEN",
    Closed => "CLOSED",
    Cancelled => "CANCELLED",
    Failed => "FAILED",
});

impl From<OpenStatus> for TradeStatus {
    fn from(status: OpenStatus) -> TradeStatus {
        match status {
            OpenStatus::Open => TradeStatus::Open,
            OpenStatus::Pending => TradeStatus::Pending,
        }
    }
}

/// A stop-loss or take-profit change in `trade_modified`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PriceUpdate {
    /// The field was absent: keep the current value.
    #[default]
    Unchanged,
    /// The field was `"none"`: remove the level.
    Remove,
    Set(#[serde(with = "compact::decimal")] Decimal),
}

impl PriceUpdate {
    /// The level after applying this update to `current`.
    pub fn apply(self, current: Option<Decimal>) -> Option<Decimal> {
        match self {
            PriceUpdate::Unchanged => current,
            PriceUpdate::Remove => None,
            PriceUpdate::Set(price) => Some(price),
        }
    }
}

/// `signal`: a strategy produced a signal (executed or not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub signal_id: u64,
    pub symbol: String,
    pub signal_type: SignalType,
    pub timestamp: Timestamp,
    #[serde(with = "compact::decimal")]
    pub price: Decimal,
    pub confidence: f64,
    pub strategy_name: String,
    pub timeframe: String,
    #[serde(with = "compact::option_decimal")]
    pub stop_loss: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub take_profit: Option<Decimal>,
    pub reason: Option<String>,
    pub ml_enhanced: bool,
    pub ml_confidence: Option<f64>,
    pub ml_agreed: Option<bool>,
}

/// `trade_opened`: an order was filled (OPEN) or placed as a pending order (PENDING).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeOpened {
    pub ticket: u64,
    pub symbol: String,
    pub trade_type: TradeType,
    #[serde(with = "compact::decimal")]
    pub volume: Decimal,
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    pub entry_time: Timestamp,
    pub status: OpenStatus,
    #[serde(with = "compact::option_decimal")]
    pub stop_loss: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub take_profit: Option<Decimal>,
    pub magic_number: u64,
    pub account_number: Option<u64>,
    pub strategy_name: Option<String>,
    pub signal_id: Option<u64>,
    pub execution_reason: Option<String>,
    pub signal_confidence: Option<f64>,
    pub signal_reason: Option<String>,
    pub ml_enhanced: bool,
    pub ml_confidence: Option<f64>,
    pub ai_approved: bool,
    pub ai_reasoning: Option<String>,
    #[serde(with = "compact::decimal")]
    pub commission: Decimal,
    #[serde(with = "compact::decimal")]
    pub swap: Decimal,
    pub comment: Option<String>,
}

/// `order_filled`: a PENDING order was filled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderFilled {
    pub ticket: u64,
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    pub entry_time: Timestamp,
}

/// `order_cancelled`: a PENDING order was cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub ticket: u64,
    pub time: Timestamp,
    pub reason: Option<String>,
}

/// `order_failed`: the broker rejected an order; recorded as a FAILED trade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderFailed {
    pub ticket: u64,
    pub symbol: String,
    pub trade_type: TradeType,
    #[serde(with = "compact::decimal")]
    pub volume: Decimal,
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    pub entry_time: Timestamp,
    pub reason: Option<String>,
    pub signal_id: Option<u64>,
    pub account_number: Option<u64>,
    pub strategy_name: Option<String>,
    pub magic_number: u64,
}

/// `trade_modified`: stop loss / take profit changed on an OPEN or PENDING trade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeModified {
    pub ticket: u64,
    pub time: Timestamp,
    pub stop_loss: PriceUpdate,
    pub take_profit: PriceUpdate,
}

/// `trade_closed`: an OPEN trade was closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeClosed {
    pub ticket: u64,
    #[serde(with = "compact::decimal")]
    pub exit_price: Decimal,
    pub exit_time: Timestamp,
    #[serde(with = "compact::decimal")]
    pub profit: Decimal,
    #[serde(with = "compact::option_decimal")]
    pub pips: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub commission: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub swap: Option<Decimal>,
    pub reason: Option<String>,
}

/// `signal_executed`: link a signal to a trade after the fact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalExecuted {
    pub signal_id: u64,
    pub ticket: u64,
    pub execution_reason: Option<String>,
}

/// `account_snapshot`: account state, typically once per trading cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
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
    #[serde(with = "compact::option_decimal")]
    pub margin_level: Option<Decimal>,
    pub open_positions: u32,
}

/// One domain event. The variant is stored in the record frame as its [`EventKind`].
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Signal(Signal),
    TradeOpened(TradeOpened),
    OrderFilled(OrderFilled),
    OrderCancelled(OrderCancelled),
    OrderFailed(OrderFailed),
    TradeModified(TradeModified),
    TradeClosed(TradeClosed),
    SignalExecuted(SignalExecuted),
    AccountSnapshot(AccountSnapshot),
}

/// The event kind as stored in a record frame (`docs/FORMAT.md` §4). The numbers are forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum EventKind {
    Signal = 1,
    TradeOpened = 2,
    OrderFilled = 3,
    OrderCancelled = 4,
    OrderFailed = 5,
    TradeModified = 6,
    TradeClosed = 7,
    SignalExecuted = 8,
    AccountSnapshot = 9,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Signal,
        EventKind::TradeOpened,
        EventKind::OrderFilled,
        EventKind::OrderCancelled,
        EventKind::OrderFailed,
        EventKind::TradeModified,
        EventKind::TradeClosed,
        EventKind::SignalExecuted,
        EventKind::AccountSnapshot,
    ];

    pub fn from_u16(value: u16) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| *k as u16 == value)
    }

    /// The `"event"` name in JSON Lines.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Signal => "signal",
            EventKind::TradeOpened => "trade_opened",
            EventKind::OrderFilled => "order_filled",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::OrderFailed => "order_failed",
            EventKind::TradeModified => "trade_modified",
            EventKind::TradeClosed => "trade_closed",
            EventKind::SignalExecuted => "signal_executed",
            EventKind::AccountSnapshot => "account_snapshot",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Signal(_) => EventKind::Signal,
            Event::TradeOpened(_) => EventKind::TradeOpened,
            Event::OrderFilled(_) => EventKind::OrderFilled,
            Event::OrderCancelled(_) => EventKind::OrderCancelled,
            Event::OrderFailed(_) => EventKind::OrderFailed,
            Event::TradeModified(_) => EventKind::TradeModified,
            Event::TradeClosed(_) => EventKind::TradeClosed,
            Event::SignalExecuted(_) => EventKind::SignalExecuted,
            Event::AccountSnapshot(_) => EventKind::AccountSnapshot,
        }
    }

    /// The business time the event carries (its timestamp, entry, exit or snapshot time).
    pub fn time(&self) -> Timestamp {
        match self {
            Event::Signal(e) => e.timestamp,
            Event::TradeOpened(e) => e.entry_time,
            Event::OrderFilled(e) => e.entry_time,
            Event::OrderCancelled(e) => e.time,
            Event::OrderFailed(e) => e.entry_time,
            Event::TradeModified(e) => e.time,
            Event::TradeClosed(e) => e.exit_time,
            Event::SignalExecuted(_) => Timestamp::MIN,
            Event::AccountSnapshot(e) => e.snapshot_time,
        }
    }
}

/// Compact, lossless serde forms for postcard (`docs/FORMAT.md` §5).
///
/// rust_decimal's default serde form is a string whose decoder needs a self-describing format;
/// postcard cannot decode it. A decimal is stored as `(scale: u8, mantissa: i128)`; postcard
/// writes the mantissa as a zigzag varint, so `1.10450` takes 4 bytes.
pub mod compact {
    pub mod decimal {
        use rust_decimal::Decimal;
        use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
            (value.scale() as u8, value.mantissa()).serialize(serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Decimal, D::Error> {
            let (scale, mantissa) = <(u8, i128)>::deserialize(deserializer)?;
            Decimal::try_from_i128_with_scale(mantissa, scale as u32).map_err(D::Error::custom)
        }
    }

    pub mod option_decimal {
        use rust_decimal::Decimal;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize, Deserialize)]
        struct Compact(#[serde(with = "super::decimal")] Decimal);

        pub fn serialize<S: Serializer>(
            value: &Option<Decimal>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            value.map(Compact).serialize(serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Decimal>, D::Error> {
            Ok(Option::<Compact>::deserialize(deserializer)?.map(|c| c.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_display_trims_fraction_and_uses_z() {
        let t = Timestamp::parse_rfc3339("2024-01-02T12:00:00.500+02:00").unwrap();
        assert_eq!(t.to_string(), "2024-01-02T10:00:00.5Z");
        let t = Timestamp::parse_rfc3339("2024-01-02T10:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2024-01-02T10:00:00Z");
        let t = Timestamp::parse_rfc3339("2024-01-02T10:00:00.000000001Z").unwrap();
        assert_eq!(t.to_string(), "2024-01-02T10:00:00.000000001Z");
    }

    #[test]
    fn timestamp_without_offset_is_refused() {
        assert_eq!(
            Timestamp::parse_rfc3339("2024-01-02T10:00:00"),
            Err(TimestampError::NotRfc3339WithOffset)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2300-01-02T10:00:00Z"),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2024-01-02T10:00:00.1234567891Z"),
            Err(TimestampError::TooPrecise)
        );
    }

    #[test]
    fn seconds_since_rounds_down() {
        let a = Timestamp::from_nanos(1_000_000_000);
        let b = Timestamp::from_nanos(3_999_999_999);
        assert_eq!(b.seconds_since(a), Some(2));
        assert_eq!(a.seconds_since(b), None);
    }

    #[test]
    fn enum_names_parse_case_insensitively() {
        assert_eq!(
            TradeStatus::parse("cancelled"),
            Some(TradeStatus::Cancelled)
        );
        assert_eq!(SignalType::parse("Hold"), Some(SignalType::Hold));
        assert_eq!(TradeType::parse("hold"), None);
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_u16(kind as u16), Some(kind));
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
        }
    }
}
