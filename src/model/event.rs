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
    /// The earliest representable time, 1677-09-21T00:12:43.145224192Z.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable time, 2262-04-11T23:47:16.854775807Z.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The time `nanos` nanoseconds after 1970-01-01T00:00:00Z (before it when negative).
    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since 1970-01-01T00:00:00Z (negative before it).
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// `None` when the time is outside the range of `i64` nanoseconds.
    pub fn from_datetime(time: DateTime<Utc>) -> Option<Timestamp> {
        time.timestamp_nanos_opt().map(Timestamp)
    }

    /// The same instant as a `chrono` UTC time (always in range).
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
#[non_exhaustive]
pub enum TimestampError {
    /// Not RFC 3339, or without an offset (`Z` or `±hh:mm`): a local time is ambiguous.
    NotRfc3339WithOffset,
    /// Outside 1677-09-21..2262-04-11, the range of nanoseconds in an `i64`.
    OutOfRange,
    /// More than 9 fractional digits: finer than a nanosecond, and never truncated.
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
///
/// Written digit by digit into a buffer: chrono's `format` parses its pattern on every call,
/// which was a fifth of the time of printing millions of trades.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        let time = self.to_datetime();
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        // An i64 of nanoseconds holds the years 1677 to 2262: always four digits.
        put_digits(&mut text[0..4], time.year().unsigned_abs());
        put_digits(&mut text[5..7], time.month());
        put_digits(&mut text[8..10], time.day());
        put_digits(&mut text[11..13], time.hour());
        put_digits(&mut text[14..16], time.minute());
        put_digits(&mut text[17..19], time.second());
        let mut fraction = time.timestamp_subsec_nanos();
        let mut end = 19;
        if fraction != 0 {
            put_digits(&mut text[20..29], fraction);
            end = 29;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                end -= 1;
            }
        }
        text[end] = b'Z';
        f.write_str(std::str::from_utf8(&text[..=end]).expect("ASCII digits"))
    }
}

/// Writes `value` in decimal into all of `out`, zero-padded on the left (its lowest digits
/// if it has more).
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// What a strategy's signal says to do. A contract value (`docs/INTERCHANGE.md` §1): the set
/// is fixed, so a `match` over it needs no catch-all arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignalType {
    /// Open or add a long position (`BUY`).
    Buy,
    /// Open or add a short position (`SELL`).
    Sell,
    /// Stay out or keep the position as it is (`HOLD`); recorded so that execution rates
    /// count it.
    Hold,
}

/// The direction of a trade or order. A contract value: the set is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TradeType {
    /// A long position: profits when the price rises (`BUY`).
    Buy,
    /// A short position: profits when the price falls (`SELL`).
    Sell,
}

/// The status a `trade_opened` event gives a trade. A contract value: the set is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpenStatus {
    /// The order was filled: the position is open (`OPEN`, the default).
    Open,
    /// The order was placed and waits to be filled (`PENDING`); `order_filled` or
    /// `order_cancelled` ends the wait.
    Pending,
}

/// The lifecycle status of a trade (`docs/INTERCHANGE.md` §4). A contract value: the set is
/// fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TradeStatus {
    /// An order placed and not yet filled or cancelled.
    Pending,
    /// A position that is open: filled and not yet closed.
    Open,
    /// A position that was closed; its profit is realized and counts in the statistics.
    Closed,
    /// A pending order that was cancelled before it was filled.
    Cancelled,
    /// An order the broker rejected (`order_failed`).
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
    /// Set the level to this price (exact decimal, in the symbol's quote currency).
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

// The nine event structs are `#[non_exhaustive]`: the contract grows only by optional fields
// (`docs/INTERCHANGE.md`), and a new field must not break an embedder's code. Outside this
// crate an event is built with its `new` (the fields the contract requires; every optional
// field absent, or at the default the contract gives it), then optional fields are set on it;
// a pattern over one needs `..`. Inside the crate, literals are fine.

/// `signal`: a strategy produced a signal (executed or not).
///
/// Required by the contract: the arguments of [`Signal::new`]. The other fields are optional;
/// set them after construction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Signal {
    /// The signal's id, unique in the journal; `trade_opened` and `signal_executed` name it
    /// to link a trade to the signal.
    pub signal_id: u64,
    /// The instrument, as the broker names it (`EURUSD`): 1 to 12 characters, no whitespace
    /// or control characters.
    pub symbol: String,
    /// What the signal says to do.
    pub signal_type: SignalType,
    /// When the strategy produced the signal (UTC).
    pub timestamp: Timestamp,
    /// The market price the signal was produced at: exact, greater than zero.
    #[serde(with = "compact::decimal")]
    pub price: Decimal,
    /// The strategy's confidence in the signal: a finite number in [0, 1].
    pub confidence: f64,
    /// The strategy that produced the signal, at most 50 characters.
    pub strategy_name: String,
    /// The bar timeframe the strategy ran on (`H1`, `M15`, …), at most 10 characters.
    pub timeframe: String,
    /// The stop-loss level the signal suggests (exact price); `None`: none suggested.
    #[serde(with = "compact::option_decimal")]
    pub stop_loss: Option<Decimal>,
    /// The take-profit level the signal suggests (exact price); `None`: none suggested.
    #[serde(with = "compact::option_decimal")]
    pub take_profit: Option<Decimal>,
    /// Why the strategy signalled, free text of at most 4096 characters; `None`: not given.
    pub reason: Option<String>,
    /// Whether a machine-learning model was consulted on the signal (default `false`).
    pub ml_enhanced: bool,
    /// The model's confidence, a finite number in [0, 1]; `None`: no model confidence.
    pub ml_confidence: Option<f64>,
    /// Whether the model agreed with the strategy; `None`: not known.
    pub ml_agreed: Option<bool>,
}

impl Signal {
    /// A signal with the fields the contract requires, in its order; the optional fields are
    /// absent (`None`) and `ml_enhanced` is `false`.
    #[allow(clippy::too_many_arguments)] // The contract requires eight fields.
    pub fn new(
        signal_id: u64,
        symbol: impl Into<String>,
        signal_type: SignalType,
        timestamp: Timestamp,
        price: Decimal,
        confidence: f64,
        strategy_name: impl Into<String>,
        timeframe: impl Into<String>,
    ) -> Signal {
        Signal {
            signal_id,
            symbol: symbol.into(),
            signal_type,
            timestamp,
            price,
            confidence,
            strategy_name: strategy_name.into(),
            timeframe: timeframe.into(),
            stop_loss: None,
            take_profit: None,
            reason: None,
            ml_enhanced: false,
            ml_confidence: None,
            ml_agreed: None,
        }
    }
}

/// `trade_opened`: an order was filled (OPEN) or placed as a pending order (PENDING).
///
/// Required by the contract: the arguments of [`TradeOpened::new`]. The other fields are
/// optional; set them after construction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TradeOpened {
    /// The broker's ticket number of the order, unique in the journal; the events that follow
    /// the trade name it.
    pub ticket: u64,
    /// The instrument (`EURUSD`): 1 to 12 characters, no whitespace or control characters.
    pub symbol: String,
    /// The direction: long (BUY) or short (SELL).
    pub trade_type: TradeType,
    /// The size in lots: exact, greater than zero.
    #[serde(with = "compact::decimal")]
    pub volume: Decimal,
    /// The fill price of an OPEN trade, or the order price of a PENDING one: exact, greater
    /// than zero.
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    /// When the order was filled (OPEN) or placed (PENDING), UTC.
    pub entry_time: Timestamp,
    /// OPEN (the default) or PENDING.
    pub status: OpenStatus,
    /// The stop-loss level (exact price); `None`: no stop loss.
    #[serde(with = "compact::option_decimal")]
    pub stop_loss: Option<Decimal>,
    /// The take-profit level (exact price); `None`: no take profit.
    #[serde(with = "compact::option_decimal")]
    pub take_profit: Option<Decimal>,
    /// The identifier the trading program tags its orders with at the broker (MetaTrader's
    /// magic number); 0 when it tags none (the default).
    pub magic_number: u64,
    /// The broker account the trade belongs to; `None`: not given (the trade then counts
    /// only in queries over all accounts).
    pub account_number: Option<u64>,
    /// The strategy that opened the trade, at most 50 characters; `None`: not given.
    pub strategy_name: Option<String>,
    /// The signal this trade executes; `None`: no signal. When given, the signal must exist
    /// and not be executed yet, and it becomes executed with this ticket.
    pub signal_id: Option<u64>,
    /// Why the signal was executed, free text of at most 4096 characters, recorded on the
    /// linked signal; `None`: not given.
    pub execution_reason: Option<String>,
    /// The linked signal's confidence as the trader saw it, a finite number in [0, 1];
    /// `None`: not given.
    pub signal_confidence: Option<f64>,
    /// The linked signal's reason as the trader saw it, free text of at most 4096
    /// characters; `None`: not given.
    pub signal_reason: Option<String>,
    /// Whether a machine-learning model was consulted on the trade (default `false`).
    pub ml_enhanced: bool,
    /// The model's confidence, a finite number in [0, 1]; `None`: no model confidence.
    pub ml_confidence: Option<f64>,
    /// Whether an AI review approved the trade (default `true`: no review vetoed it).
    pub ai_approved: bool,
    /// The AI review's reasoning, free text of at most 4096 characters; `None`: not given.
    pub ai_reasoning: Option<String>,
    /// The commission charged at the opening, exact, in the account currency (default 0).
    /// `trade_closed` may replace it.
    #[serde(with = "compact::decimal")]
    pub commission: Decimal,
    /// The swap (overnight financing) so far, exact, in the account currency (default 0).
    /// `trade_closed` may replace it.
    #[serde(with = "compact::decimal")]
    pub swap: Decimal,
    /// The order's comment at the broker, free text of at most 4096 characters; `None`: none.
    pub comment: Option<String>,
}

impl TradeOpened {
    /// A trade with the fields the contract requires, in its order; the optional fields take
    /// the contract's defaults: status OPEN, magic number 0, `ml_enhanced` false,
    /// `ai_approved` true, commission and swap 0, everything else absent (`None`).
    ///
    /// ```
    /// use tradeledger::{Decimal, OpenStatus, Timestamp, TradeOpened, TradeType};
    ///
    /// let placed = Timestamp::parse_rfc3339("2024-01-02T10:00:00Z").unwrap();
    /// let price = |text: &str| text.parse::<Decimal>().unwrap();
    /// let (volume, entry_price) = (price("0.10"), price("1.10460"));
    /// let mut order = TradeOpened::new(1001, "EURUSD", TradeType::Buy, volume, entry_price, placed);
    /// // Optional fields are set on the event; the contract adds only optional fields, so
    /// // code written this way keeps compiling when it does.
    /// order.status = OpenStatus::Pending;
    /// order.stop_loss = Some(price("1.10250"));
    /// order.signal_id = Some(1);
    /// assert!(order.ai_approved);
    /// assert_eq!(order.commission, Decimal::ZERO);
    /// ```
    pub fn new(
        ticket: u64,
        symbol: impl Into<String>,
        trade_type: TradeType,
        volume: Decimal,
        entry_price: Decimal,
        entry_time: Timestamp,
    ) -> TradeOpened {
        TradeOpened {
            ticket,
            symbol: symbol.into(),
            trade_type,
            volume,
            entry_price,
            entry_time,
            status: OpenStatus::Open,
            stop_loss: None,
            take_profit: None,
            magic_number: 0,
            account_number: None,
            strategy_name: None,
            signal_id: None,
            execution_reason: None,
            signal_confidence: None,
            signal_reason: None,
            ml_enhanced: false,
            ml_confidence: None,
            ai_approved: true,
            ai_reasoning: None,
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
            comment: None,
        }
    }
}

/// `order_filled`: a PENDING order was filled. Every field is required ([`OrderFilled::new`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderFilled {
    /// The ticket of the PENDING order.
    pub ticket: u64,
    /// The fill price, replacing the order price: exact, greater than zero.
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    /// When the order was filled (UTC), replacing the time it was placed; not earlier than
    /// that.
    pub entry_time: Timestamp,
}

impl OrderFilled {
    /// A fill with the fields the contract requires, in its order.
    pub fn new(ticket: u64, entry_price: Decimal, entry_time: Timestamp) -> OrderFilled {
        OrderFilled {
            ticket,
            entry_price,
            entry_time,
        }
    }
}

/// `order_cancelled`: a PENDING order was cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderCancelled {
    /// The ticket of the PENDING order.
    pub ticket: u64,
    /// When the order was cancelled (UTC); not earlier than the time it was placed.
    pub time: Timestamp,
    /// Why, free text of at most 4096 characters, shown as the trade's `close_reason`;
    /// `None`: not given.
    pub reason: Option<String>,
}

impl OrderCancelled {
    /// A cancellation with the fields the contract requires, in its order; no reason.
    pub fn new(ticket: u64, time: Timestamp) -> OrderCancelled {
        OrderCancelled {
            ticket,
            time,
            reason: None,
        }
    }
}

/// `order_failed`: the broker rejected an order; recorded as a FAILED trade.
///
/// The trade takes the `trade_opened` defaults for what this event does not carry
/// (commission and swap 0, `ml_enhanced` false, `ai_approved` true).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderFailed {
    /// The ticket the order was given, unique in the journal.
    pub ticket: u64,
    /// The instrument (`EURUSD`): 1 to 12 characters, no whitespace or control characters.
    pub symbol: String,
    /// The direction of the rejected order.
    pub trade_type: TradeType,
    /// The size requested, in lots: exact, greater than zero.
    #[serde(with = "compact::decimal")]
    pub volume: Decimal,
    /// The price requested: exact, greater than zero.
    #[serde(with = "compact::decimal")]
    pub entry_price: Decimal,
    /// When the order was attempted (UTC).
    pub entry_time: Timestamp,
    /// Why the broker rejected it, free text of at most 4096 characters, shown as the trade's
    /// `close_reason`; `None`: not given.
    pub reason: Option<String>,
    /// The signal the order was meant to execute, kept on the trade for audit; the signal
    /// stays not executed. `None`: no signal.
    pub signal_id: Option<u64>,
    /// The broker account; `None`: not given.
    pub account_number: Option<u64>,
    /// The strategy that placed the order, at most 50 characters; `None`: not given.
    pub strategy_name: Option<String>,
    /// The trading program's tag on the order (MetaTrader's magic number); 0 by default.
    pub magic_number: u64,
}

impl OrderFailed {
    /// A rejected order with the fields the contract requires, in its order; the optional
    /// fields are absent (`None`) and the magic number is 0.
    pub fn new(
        ticket: u64,
        symbol: impl Into<String>,
        trade_type: TradeType,
        volume: Decimal,
        entry_price: Decimal,
        entry_time: Timestamp,
    ) -> OrderFailed {
        OrderFailed {
            ticket,
            symbol: symbol.into(),
            trade_type,
            volume,
            entry_price,
            entry_time,
            reason: None,
            signal_id: None,
            account_number: None,
            strategy_name: None,
            magic_number: 0,
        }
    }
}

/// `trade_modified`: stop loss / take profit changed on an OPEN or PENDING trade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TradeModified {
    /// The ticket of the OPEN or PENDING trade.
    pub ticket: u64,
    /// When the levels were changed (UTC).
    pub time: Timestamp,
    /// The change to the stop-loss level ([`PriceUpdate::Unchanged`] by default).
    pub stop_loss: PriceUpdate,
    /// The change to the take-profit level ([`PriceUpdate::Unchanged`] by default).
    pub take_profit: PriceUpdate,
}

impl TradeModified {
    /// A modification with the fields the contract requires, in its order; both levels are
    /// [`PriceUpdate::Unchanged`] until set.
    pub fn new(ticket: u64, time: Timestamp) -> TradeModified {
        TradeModified {
            ticket,
            time,
            stop_loss: PriceUpdate::Unchanged,
            take_profit: PriceUpdate::Unchanged,
        }
    }
}

/// `trade_closed`: an OPEN trade was closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TradeClosed {
    /// The ticket of the OPEN trade.
    pub ticket: u64,
    /// The price the position was closed at: exact, greater than zero.
    #[serde(with = "compact::decimal")]
    pub exit_price: Decimal,
    /// When the position was closed (UTC); not earlier than its entry time.
    pub exit_time: Timestamp,
    /// The realized profit, exact, in the account currency: negative for a loss, zero for
    /// breakeven. Wins, losses and every statistic are computed from it.
    #[serde(with = "compact::decimal")]
    pub profit: Decimal,
    /// The result in pips, exact; `None`: not given (an earlier value is kept).
    #[serde(with = "compact::option_decimal")]
    pub pips: Option<Decimal>,
    /// The trade's total commission, exact, in the account currency; replaces the value from
    /// the opening when given, `None` keeps it.
    #[serde(with = "compact::option_decimal")]
    pub commission: Option<Decimal>,
    /// The trade's total swap, exact, in the account currency; replaces the value from the
    /// opening when given, `None` keeps it.
    #[serde(with = "compact::option_decimal")]
    pub swap: Option<Decimal>,
    /// Why the trade was closed (`take profit`, `stop loss`, …), free text of at most 4096
    /// characters, shown as its `close_reason`; `None`: not given.
    pub reason: Option<String>,
}

impl TradeClosed {
    /// A close with the fields the contract requires, in its order; the optional fields are
    /// absent (`None`: the trade keeps its pips, commission and swap).
    pub fn new(
        ticket: u64,
        exit_price: Decimal,
        exit_time: Timestamp,
        profit: Decimal,
    ) -> TradeClosed {
        TradeClosed {
            ticket,
            exit_price,
            exit_time,
            profit,
            pips: None,
            commission: None,
            swap: None,
            reason: None,
        }
    }
}

/// `signal_executed`: link a signal to a trade after the fact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignalExecuted {
    /// The signal, which must not be executed yet; it becomes executed.
    pub signal_id: u64,
    /// The trade that executed it (not a FAILED one); it gets the signal's id.
    pub ticket: u64,
    /// Why the signal was executed, free text of at most 4096 characters; `None`: not given.
    pub execution_reason: Option<String>,
}

impl SignalExecuted {
    /// A link with the fields the contract requires, in its order; no execution reason.
    pub fn new(signal_id: u64, ticket: u64) -> SignalExecuted {
        SignalExecuted {
            signal_id,
            ticket,
            execution_reason: None,
        }
    }
}

/// `account_snapshot`: account state, typically once per trading cycle.
///
/// Money is exact, in the account currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountSnapshot {
    /// The broker account.
    pub account_number: u64,
    /// The broker's trading server, at most 50 characters.
    pub server: String,
    /// The broker, at most 50 characters.
    pub broker: String,
    /// The balance: deposits plus realized profit.
    #[serde(with = "compact::decimal")]
    pub balance: Decimal,
    /// The equity: the balance plus the floating profit of open positions.
    #[serde(with = "compact::decimal")]
    pub equity: Decimal,
    /// When the account was read (UTC).
    pub snapshot_time: Timestamp,
    /// The floating profit of the open positions; `None`: not given.
    #[serde(with = "compact::option_decimal")]
    pub profit: Option<Decimal>,
    /// The margin the open positions hold; `None`: not given.
    #[serde(with = "compact::option_decimal")]
    pub margin: Option<Decimal>,
    /// The free margin, available for new positions; `None`: not given.
    #[serde(with = "compact::option_decimal")]
    pub margin_free: Option<Decimal>,
    /// The volume of the open positions, in lots (default 0).
    #[serde(with = "compact::decimal")]
    pub total_volume: Decimal,
    /// The margin level as the broker reports it (equity / margin, in percent); `None`: not
    /// given (no margin is held, for one).
    #[serde(with = "compact::option_decimal")]
    pub margin_level: Option<Decimal>,
    /// How many positions are open (default 0).
    pub open_positions: u32,
}

impl AccountSnapshot {
    /// A snapshot with the fields the contract requires, in its order; the optional fields
    /// are absent (`None`), total volume and open positions 0.
    pub fn new(
        account_number: u64,
        server: impl Into<String>,
        broker: impl Into<String>,
        balance: Decimal,
        equity: Decimal,
        snapshot_time: Timestamp,
    ) -> AccountSnapshot {
        AccountSnapshot {
            account_number,
            server: server.into(),
            broker: broker.into(),
            balance,
            equity,
            snapshot_time,
            profit: None,
            margin: None,
            margin_free: None,
            total_volume: Decimal::ZERO,
            margin_level: None,
            open_positions: 0,
        }
    }
}

/// One domain event. The variant is stored in the record frame as its [`EventKind`].
///
/// Deliberately exhaustive: the contract (`docs/INTERCHANGE.md`) changes only by adding
/// optional fields to these nine events, never by adding an event, so a `match` over `Event`
/// needs no catch-all arm. A new kind of event would be a new version of the contract.
///
/// Each event struct converts into its variant: `Event::from(signal)`, `signal.into()`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A strategy produced a signal.
    Signal(Signal),
    /// An order was filled or placed.
    TradeOpened(TradeOpened),
    /// A pending order was filled.
    OrderFilled(OrderFilled),
    /// A pending order was cancelled.
    OrderCancelled(OrderCancelled),
    /// The broker rejected an order.
    OrderFailed(OrderFailed),
    /// The stop loss or take profit of a trade changed.
    TradeModified(TradeModified),
    /// An open trade was closed.
    TradeClosed(TradeClosed),
    /// A signal was linked to a trade after the fact.
    SignalExecuted(SignalExecuted),
    /// The state of an account.
    AccountSnapshot(AccountSnapshot),
}

macro_rules! event_from {
    ($($variant:ident),+ $(,)?) => {
        $(
            impl From<$variant> for Event {
                fn from(event: $variant) -> Event {
                    Event::$variant(event)
                }
            }
        )+
    };
}

event_from!(
    Signal,
    TradeOpened,
    OrderFilled,
    OrderCancelled,
    OrderFailed,
    TradeModified,
    TradeClosed,
    SignalExecuted,
    AccountSnapshot,
);

/// The event kind as stored in a record frame (`docs/FORMAT.md` §4). The numbers are forever.
/// Exhaustive, like [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum EventKind {
    /// `signal`.
    Signal = 1,
    /// `trade_opened`.
    TradeOpened = 2,
    /// `order_filled`.
    OrderFilled = 3,
    /// `order_cancelled`.
    OrderCancelled = 4,
    /// `order_failed`.
    OrderFailed = 5,
    /// `trade_modified`.
    TradeModified = 6,
    /// `trade_closed`.
    TradeClosed = 7,
    /// `signal_executed`.
    SignalExecuted = 8,
    /// `account_snapshot`.
    AccountSnapshot = 9,
}

impl EventKind {
    /// Every kind, by its number.
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

    /// The kind a record frame's number stands for; `None` for a number no kind has.
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

    /// The kind named `name` in JSON Lines (`"trade_opened"`); exact, case-sensitive.
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
    /// The event's kind, as its record frame stores it.
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

    /// The business time the event carries (its timestamp, entry, exit or snapshot time);
    /// [`Timestamp::MIN`] for `signal_executed`, which carries none.
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
#[doc(hidden)]
pub mod compact {
    /// A `Decimal` as `(scale, mantissa)`.
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

    /// An `Option<Decimal>` as an option of `(scale, mantissa)`.
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

    /// The digits written by hand are those of chrono's formatting, over the whole range.
    #[test]
    fn timestamp_display_matches_chrono() {
        let reference = |t: Timestamp| {
            let time = t.to_datetime();
            let mut text = time.format("%Y-%m-%dT%H:%M:%S").to_string();
            let fraction = format!("{:09}", time.timestamp_subsec_nanos());
            let fraction = fraction.trim_end_matches('0');
            if !fraction.is_empty() {
                text.push('.');
                text.push_str(fraction);
            }
            text + "Z"
        };
        let mut rng = crate::rng::SplitMix64::new(7);
        let edges = [
            i64::MIN,
            i64::MAX,
            0,
            -1,
            1,
            1_000_000_000,
            999_999_999,
            1_700_000_000_000_000_010,
        ];
        let random = (0..20_000).map(|_| rng.next_u64() as i64);
        for nanos in edges.into_iter().chain(random) {
            let t = Timestamp::from_nanos(nanos);
            assert_eq!(t.to_string(), reference(t), "{nanos}");
        }
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
