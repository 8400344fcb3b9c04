//! The rules of `docs/INTERCHANGE.md` §3, and the stateless ones among them, each defined once.
//!
//! A stateless rule needs only the event: positive prices and volumes, input ratios finite and
//! in [0, 1], symbols of 1 to 12 characters without whitespace or control characters, texts
//! within their limits. Both paths into a journal call these functions: the JSON Lines parser
//! (`interchange`, value by value, so a line's first refused field is reported) and the
//! library's appends ([`validate`], from `Projections::check_batch`, which `Ledger::append`
//! and the async handle's `append`/`try_append` run before anything is written). So import
//! and the library refuse the same events, under the same rule and field names.
//!
//! The other rules of §1 hold by the types of [`crate::model::event`]: every [`Timestamp`] is in
//! range (nanoseconds in an `i64`), every `Decimal` has at most 28 decimal places and a 96-bit
//! mantissa, ids are `u64` and `open_positions` a `u32`. The events keep plain fields (rather
//! than validated newtypes) because a journal written before these checks may hold events
//! that break them: they must still decode, replay and `dump` faithfully, and `verify`
//! reports them (`docs/RECOVERY.md`, "Contract violations").
//!
//! Nothing here allocates unless a rule is broken.
//!
//! [`Timestamp`]: crate::model::event::Timestamp

use std::fmt;

use rust_decimal::Decimal;

use crate::model::event::*;

/// The longest symbol, in characters.
pub const SYMBOL_MAX_CHARS: usize = 12;
/// The longest `strategy_name`, in characters.
pub const STRATEGY_NAME_MAX_CHARS: usize = 50;
/// The longest `timeframe`, in characters.
pub const TIMEFRAME_MAX_CHARS: usize = 10;
/// The longest `server` or `broker`, in characters.
pub const SERVER_MAX_CHARS: usize = 50;
/// The longest free text (`reason`, `signal_reason`, `ai_reasoning`, `execution_reason`,
/// `comment`), in characters.
pub const FREE_TEXT_MAX_CHARS: usize = 4096;

/// How the interchange format spells a ratio that no JSON number can hold: `"NaN"`,
/// `"Infinity"` or `"-Infinity"` (as a JSON string). Only a journal written before the
/// library enforced the rules has such a ratio; it is shown as what it is, never as `null`.
#[doc(hidden)]
pub fn non_finite_name(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A ratio as `dump` writes it, for messages: the shortest JSON number that reads back as the
/// same `f64`, or the quoted [`non_finite_name`].
fn ratio_text(value: f64) -> String {
    match serde_json::Number::from_f64(value) {
        Some(number) => number.to_string(),
        None => format!("\"{}\"", non_finite_name(value)),
    }
}

/// The §3 rule an event broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A `signal` whose `signal_id` the journal already has.
    DuplicateSignalId,
    /// A `trade_opened` or `order_failed` whose `ticket` the journal already has.
    DuplicateTicket,
    /// A `signal_id` that names no signal of the journal.
    UnknownSignalId,
    /// A `ticket` that names no trade of the journal.
    UnknownTicket,
    /// `order_filled`/`order_cancelled` of a trade that is not PENDING, `trade_closed` of one
    /// that is not OPEN, `trade_modified` of a finished trade, `signal_executed` of a FAILED one.
    IllegalStatusChange,
    /// `signal_executed` or `trade_opened` naming a signal that is already executed.
    SignalAlreadyExecuted,
    /// `order_filled` earlier than the time the order was placed.
    FillBeforeOrder,
    /// `order_cancelled` earlier than the time the order was placed.
    CancelBeforeOrder,
    /// `trade_closed` with an `exit_time` earlier than the trade's `entry_time`.
    ExitBeforeEntry,
    /// Stateless: a `price`, `entry_price`, `exit_price` or `volume` that is zero or negative.
    NotPositive,
    /// Stateless: an input ratio (`confidence`, `ml_confidence`, `signal_confidence`) that is
    /// NaN, infinite, or outside [0, 1].
    RatioOutOfRange,
    /// Stateless: a symbol that is empty, longer than 12 characters, or holds whitespace or a
    /// control character.
    InvalidSymbol,
    /// Stateless: a text over its limit (`strategy_name`, `timeframe`, `server`, `broker`, the
    /// free texts).
    TextTooLong,
}

impl Rule {
    /// The rule's name in `docs/INTERCHANGE.md` §3, as import's and the library's errors
    /// print it (`"duplicate ticket"`).
    pub const fn name(self) -> &'static str {
        match self {
            Rule::DuplicateSignalId => "duplicate signal_id",
            Rule::DuplicateTicket => "duplicate ticket",
            Rule::UnknownSignalId => "unknown signal_id",
            Rule::UnknownTicket => "unknown ticket",
            Rule::IllegalStatusChange => "illegal status change",
            Rule::SignalAlreadyExecuted => "signal already executed",
            Rule::FillBeforeOrder => "fill before order",
            Rule::CancelBeforeOrder => "cancel before order",
            Rule::ExitBeforeEntry => "exit_time before entry_time",
            Rule::NotPositive => "non-positive price or volume",
            Rule::RatioOutOfRange => "ratio outside [0, 1]",
            Rule::InvalidSymbol => "invalid symbol",
            Rule::TextTooLong => "text over its limit",
        }
    }

    /// True for a rule that needs only the event, not the journal's state.
    pub const fn is_stateless(self) -> bool {
        matches!(
            self,
            Rule::NotPositive | Rule::RatioOutOfRange | Rule::InvalidSymbol | Rule::TextTooLong
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event that a rule refuses: which rule, which field, and the values.
///
/// Displays as `rule "duplicate ticket", field "ticket": ticket 1001 already exists`; the
/// importer adds the line number, the library the index of the event in its batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rule \"{rule}\", field \"{field}\": {detail}")]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// The field to blame, as JSON Lines names it (`"entry_price"`).
    pub field: &'static str,
    /// What is wrong with its value, for a person to read.
    pub detail: String,
}

/// A value that breaks a stateless rule, before the caller says how the value is written.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The rule broken.
    pub rule: Rule,
    what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    NotPositive,
    RatioOutOfRange,
    Empty,
    WhitespaceOrControl,
    TooLong { max_chars: usize, chars: usize },
}

impl Breach {
    /// Why the value was refused, `shown` giving the value as written (the parser passes the
    /// raw JSON text, the library the JSON text `dump` writes for it). Only some reasons
    /// quote the value; `shown` is called only for those.
    pub fn reason(self, shown: impl FnOnce() -> String) -> String {
        match self.what {
            What::NotPositive => format!("must be a positive decimal, got {}", shown()),
            What::RatioOutOfRange => format!("{RATIO_EXPECTED}, got {}", shown()),
            What::Empty => "must not be empty".into(),
            What::WhitespaceOrControl => format!(
                "must not contain whitespace or control characters, got {}",
                shown()
            ),
            What::TooLong { max_chars, chars } => {
                format!("must be at most {max_chars} characters, got {chars}")
            }
        }
    }
}

/// What an input ratio must be (also the reason when a value is not a number at all).
#[doc(hidden)]
pub const RATIO_EXPECTED: &str = "must be a number between 0 and 1";

/// `price`, `entry_price`, `exit_price`, `volume`: greater than zero.
#[doc(hidden)]
pub fn positive(value: Decimal) -> Result<(), Breach> {
    // The same as `value > Decimal::ZERO` (a negative zero is zero, and so refused), read
    // from the sign and the mantissa without the general comparison.
    if value.is_sign_positive() && !value.is_zero() {
        return Ok(());
    }
    Err(Breach {
        rule: Rule::NotPositive,
        what: What::NotPositive,
    })
}

/// `confidence`, `ml_confidence`, `signal_confidence`: finite and in [0, 1] (`-0.0` is 0).
#[doc(hidden)]
pub fn ratio(value: f64) -> Result<(), Breach> {
    // NaN fails both comparisons; the infinities fail one.
    if (0.0..=1.0).contains(&value) {
        return Ok(());
    }
    Err(Breach {
        rule: Rule::RatioOutOfRange,
        what: What::RatioOutOfRange,
    })
}

/// A text of at most `max_chars` characters (Unicode scalar values).
#[doc(hidden)]
pub fn text(value: &str, max_chars: usize) -> Result<(), Breach> {
    at_most(value, max_chars, Rule::TextTooLong)
}

/// A symbol: 1 to 12 characters, none of them whitespace or control.
#[doc(hidden)]
pub fn symbol(value: &str) -> Result<(), Breach> {
    at_most(value, SYMBOL_MAX_CHARS, Rule::InvalidSymbol)?;
    let breach = |what| {
        Err(Breach {
            rule: Rule::InvalidSymbol,
            what,
        })
    };
    if value.is_empty() {
        return breach(What::Empty);
    }
    if has_whitespace_or_control(value) {
        return breach(What::WhitespaceOrControl);
    }
    Ok(())
}

/// Any whitespace or control character (`char::is_whitespace`, `char::is_control`).
fn has_whitespace_or_control(value: &str) -> bool {
    // In ASCII, both sets together are exactly 0x00..=0x20 and 0x7F: bytes are checked as
    // such until the first non-ASCII one. Decoding every character and asking the Unicode
    // tables cost 15 to 25 ns a symbol.
    for (at, byte) in value.bytes().enumerate() {
        if !byte.is_ascii() {
            // Every byte before is ASCII, so `at` starts a character.
            return value[at..]
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        }
        if byte <= b' ' || byte == 0x7f {
            return true;
        }
    }
    false
}

fn at_most(value: &str, max_chars: usize, rule: Rule) -> Result<(), Breach> {
    // A character takes at least one byte: a short text needs no count.
    if value.len() <= max_chars {
        return Ok(());
    }
    let chars = value.chars().count();
    if chars <= max_chars {
        return Ok(());
    }
    Err(Breach {
        rule,
        what: What::TooLong { max_chars, chars },
    })
}

/// Checks `event` against every stateless rule, field by field in the order `dump` writes
/// them (`interchange::field_names`), and reports the first field refused, as the parser
/// would for the event's JSON line.
pub fn validate(event: &Event) -> Result<(), Violation> {
    let check = Check;
    match event {
        Event::Signal(e) => signal(&check, e),
        Event::TradeOpened(e) => trade_opened(&check, e),
        Event::OrderFilled(e) => check.price("entry_price", e.entry_price),
        Event::OrderCancelled(e) => check.free_text("reason", &e.reason),
        Event::OrderFailed(e) => order_failed(&check, e),
        Event::TradeModified(_) => Ok(()),
        Event::TradeClosed(e) => {
            check.price("exit_price", e.exit_price)?;
            check.free_text("reason", &e.reason)
        }
        Event::SignalExecuted(e) => check.free_text("execution_reason", &e.execution_reason),
        Event::AccountSnapshot(e) => {
            check.text("server", &e.server, SERVER_MAX_CHARS)?;
            check.text("broker", &e.broker, SERVER_MAX_CHARS)
        }
    }
}

fn signal(check: &Check, e: &Signal) -> Result<(), Violation> {
    check.symbol("symbol", &e.symbol)?;
    check.price("price", e.price)?;
    check.ratio("confidence", e.confidence)?;
    check.text("strategy_name", &e.strategy_name, STRATEGY_NAME_MAX_CHARS)?;
    check.text("timeframe", &e.timeframe, TIMEFRAME_MAX_CHARS)?;
    check.free_text("reason", &e.reason)?;
    check.optional_ratio("ml_confidence", e.ml_confidence)
}

fn trade_opened(check: &Check, e: &TradeOpened) -> Result<(), Violation> {
    check.symbol("symbol", &e.symbol)?;
    check.price("volume", e.volume)?;
    check.price("entry_price", e.entry_price)?;
    check.optional_strategy_name(&e.strategy_name)?;
    check.free_text("execution_reason", &e.execution_reason)?;
    check.optional_ratio("signal_confidence", e.signal_confidence)?;
    check.free_text("signal_reason", &e.signal_reason)?;
    check.optional_ratio("ml_confidence", e.ml_confidence)?;
    check.free_text("ai_reasoning", &e.ai_reasoning)?;
    check.free_text("comment", &e.comment)
}

fn order_failed(check: &Check, e: &OrderFailed) -> Result<(), Violation> {
    check.symbol("symbol", &e.symbol)?;
    check.price("volume", e.volume)?;
    check.price("entry_price", e.entry_price)?;
    check.free_text("reason", &e.reason)?;
    check.optional_strategy_name(&e.strategy_name)
}

/// The rules applied to named fields; a breach becomes a [`Violation`] naming the field, with
/// the value shown as `dump` writes it.
struct Check;

impl Check {
    fn price(&self, field: &'static str, value: Decimal) -> Result<(), Violation> {
        positive(value).map_err(|b| violation(b, field, || format!("\"{value}\"")))
    }

    fn ratio(&self, field: &'static str, value: f64) -> Result<(), Violation> {
        ratio(value).map_err(|b| violation(b, field, || ratio_text(value)))
    }

    fn optional_ratio(&self, field: &'static str, value: Option<f64>) -> Result<(), Violation> {
        value.map_or(Ok(()), |value| self.ratio(field, value))
    }

    fn symbol(&self, field: &'static str, value: &str) -> Result<(), Violation> {
        symbol(value).map_err(|b| violation(b, field, || shown_text(value)))
    }

    fn text(&self, field: &'static str, value: &str, max_chars: usize) -> Result<(), Violation> {
        text(value, max_chars).map_err(|b| violation(b, field, || shown_text(value)))
    }

    fn free_text(&self, field: &'static str, value: &Option<String>) -> Result<(), Violation> {
        match value {
            Some(value) => self.text(field, value, FREE_TEXT_MAX_CHARS),
            None => Ok(()),
        }
    }

    fn optional_strategy_name(&self, value: &Option<String>) -> Result<(), Violation> {
        match value {
            Some(value) => self.text("strategy_name", value, STRATEGY_NAME_MAX_CHARS),
            None => Ok(()),
        }
    }
}

fn violation(breach: Breach, field: &'static str, shown: impl FnOnce() -> String) -> Violation {
    Violation {
        rule: breach.rule,
        field,
        detail: breach.reason(shown),
    }
}

/// A text as JSON writes it, shortened as the parser shortens the values it quotes.
fn shown_text(value: &str) -> String {
    shown(&serde_json::Value::from(value).to_string())
}

/// How many characters of an offending value an error message quotes.
const SHOWN_CHARS: usize = 40;

/// The raw JSON text of a value, shortened for an error message.
pub(crate) fn shown(raw: &str) -> String {
    shorten(raw, SHOWN_CHARS)
}

/// `text` cut to `max` characters, with `…` when something was cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_finite_and_in_the_unit_interval() {
        for good in [0.0, -0.0, 1.0, 0.5, 5e-324] {
            assert_eq!(ratio(good), Ok(()), "{good}");
        }
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0000001,
            -0.5,
            7.0,
        ] {
            assert_eq!(ratio(bad).unwrap_err().rule, Rule::RatioOutOfRange, "{bad}");
        }
    }

    #[test]
    fn positive_refuses_zero_negative_zero_and_below() {
        assert_eq!(positive(Decimal::new(1, 28)), Ok(()));
        for bad in [Decimal::ZERO, Decimal::NEGATIVE_ONE, Decimal::new(-0, 2)] {
            assert_eq!(positive(bad).unwrap_err().rule, Rule::NotPositive, "{bad}");
        }
        let negative_zero = Decimal::from_parts(0, 0, 0, true, 3);
        assert!(positive(negative_zero).is_err());
    }

    #[test]
    fn texts_count_characters_not_bytes() {
        assert_eq!(text(&"é".repeat(50), 50), Ok(()));
        let breach = text(&"é".repeat(51), 50).unwrap_err();
        assert_eq!(breach.rule, Rule::TextTooLong);
        assert_eq!(
            breach.reason(String::new),
            "must be at most 50 characters, got 51"
        );
    }

    #[test]
    fn symbols_are_short_non_empty_and_without_spaces() {
        assert_eq!(symbol("EURUSD"), Ok(()));
        assert_eq!(symbol("ÉÉÉÉÉÉÉÉÉÉÉÉ"), Ok(()));
        for bad in ["", "EUR USD", "EUR\u{0}", "ABCDEFGHIJKLM", "EUR\u{a0}USD"] {
            assert_eq!(
                symbol(bad).unwrap_err().rule,
                Rule::InvalidSymbol,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_ascii_shortcut_agrees_with_the_unicode_definition() {
        for byte in 0..=0x7fu8 {
            let c = char::from(byte);
            let text = format!("AB{c}");
            let expected = c.is_whitespace() || c.is_control();
            assert_eq!(has_whitespace_or_control(&text), expected, "{byte:#x}");
            assert_eq!(
                has_whitespace_or_control(&format!("É{c}")),
                expected,
                "{byte:#x}"
            );
        }
        assert!(has_whitespace_or_control("EUR\u{2003}"), "an em space");
        assert!(has_whitespace_or_control("EUR\u{85}"), "a C1 control");
    }

    #[test]
    fn every_stateless_rule_is_marked_stateless() {
        assert!(Rule::NotPositive.is_stateless());
        assert!(Rule::TextTooLong.is_stateless());
        assert!(!Rule::DuplicateTicket.is_stateless());
    }
}
