//! Field values (`docs/INTERCHANGE.md` §1). Each reader takes the raw JSON text of one non-null
//! field value and returns the typed value, or the reason it was refused (the caller adds the
//! field name and line).

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::decimal::{self, DecimalError};
use crate::model::contract::{self, shown, Breach, Rule, FREE_TEXT_MAX_CHARS, RATIO_EXPECTED};
use crate::model::event::{OpenStatus, PriceUpdate, SignalType, Timestamp, TradeType};

/// Why a value was refused, without the field name: the reason, and the stateless rule of
/// `crate::model::contract` when the value is of the right type but breaks one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reason {
    pub text: String,
    pub rule: Option<Rule>,
}

impl Reason {
    /// A well-typed value that breaks a stateless rule; `raw` is quoted as written.
    fn broken(breach: Breach, raw: &RawValue) -> Reason {
        Reason {
            text: breach.reason(|| shown(raw.get())),
            rule: Some(breach.rule),
        }
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason { text, rule: None }
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason::from(text.to_string())
    }
}

impl std::ops::Deref for Reason {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<String> for Reason {
    fn eq(&self, other: &String) -> bool {
        self.rule.is_none() && self.text == *other
    }
}

/// The message of a serde_json error without its " at line L column C" suffix.
pub(super) fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(message) => message.to_string(),
        None => message,
    }
}

fn refuse<T>(expected: &str, raw: &RawValue) -> Result<T, Reason> {
    Err(format!("{expected}, got {}", shown(raw.get())).into())
}

/// The text of a JSON number, or `None` when the value is of another type.
fn number_text(raw: &RawValue) -> Option<&str> {
    let text = raw.get();
    text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        .then_some(text)
}

/// The unescaped content of a JSON string, `None` when the value is of another type.
fn string_content(raw: &RawValue) -> Option<Result<String, Reason>> {
    raw.get().starts_with('"').then(|| {
        serde_json::from_str::<String>(raw.get())
            .map_err(|e| format!("malformed string: {}", without_position(&e)).into())
    })
}

fn string_or(raw: &RawValue, expected: &str) -> Result<String, Reason> {
    string_content(raw).unwrap_or_else(|| refuse(expected, raw))
}

/// An integer without fraction or exponent, read from its JSON text.
enum IntegerText {
    Unsigned(u64),
    Negative,
    Invalid,
}

fn unsigned(raw: &RawValue) -> IntegerText {
    let Some(text) = number_text(raw) else {
        return IntegerText::Invalid;
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return IntegerText::Invalid;
    }
    if negative && digits.bytes().any(|b| b != b'0') {
        return IntegerText::Negative;
    }
    digits
        .parse()
        .map_or(IntegerText::Invalid, IntegerText::Unsigned)
}

/// An id or other unsigned 64-bit integer (`signal_id`, `ticket`, `magic_number`, ...).
pub(super) fn id(raw: &RawValue) -> Result<u64, Reason> {
    match unsigned(raw) {
        IntegerText::Unsigned(value) => Ok(value),
        IntegerText::Negative | IntegerText::Invalid => {
            refuse("must be an unsigned 64-bit integer", raw)
        }
    }
}

/// `open_positions`: an unsigned 32-bit integer.
pub(super) fn open_positions(raw: &RawValue) -> Result<u32, Reason> {
    match unsigned(raw) {
        IntegerText::Unsigned(value) => {
            u32::try_from(value).or_else(|_| refuse("must be an unsigned 32-bit integer", raw))
        }
        IntegerText::Negative => refuse("negative open_positions", raw),
        IntegerText::Invalid => refuse("must be an unsigned 32-bit integer", raw),
    }
}

/// A decimal: a decimal string or a JSON number, read exactly.
pub(super) fn decimal(raw: &RawValue) -> Result<Decimal, Reason> {
    decimal_or(raw, "must be a decimal like \"1.10450\"")
}

/// A decimal, or the reason `expected` when the value is not of a decimal's form.
fn decimal_or(raw: &RawValue, expected: &str) -> Result<Decimal, Reason> {
    let parsed = if let Some(text) = number_text(raw) {
        decimal::from_json_number(text)
    } else if let Some(content) = string_content(raw) {
        decimal::from_decimal_string(&content?)
    } else {
        return refuse(expected, raw);
    };
    parsed.or_else(|error| match error {
        DecimalError::Syntax => refuse(expected, raw),
        DecimalError::TooManyPlaces | DecimalError::TooManyDigits => {
            refuse(&format!("must be an exact decimal: {error}"), raw)
        }
    })
}

/// A decimal greater than zero (`price`, `entry_price`, `exit_price`, `volume`).
pub(super) fn positive_decimal(raw: &RawValue) -> Result<Decimal, Reason> {
    let value = decimal(raw)?;
    contract::positive(value).map_err(|breach| Reason::broken(breach, raw))?;
    Ok(value)
}

/// An input ratio (`confidence`, ...): a JSON number, read as the nearest `f64`, finite and in
/// [0, 1]. The strings `"NaN"`, `"Infinity"` and `"-Infinity"` (how `dump` prints a value no
/// JSON number can hold) are read as those values, and so refused by the rule, not the type.
pub(super) fn ratio(raw: &RawValue) -> Result<f64, Reason> {
    let value = match number_text(raw) {
        Some(text) => text.parse::<f64>().ok(),
        None => non_finite(raw.get()),
    };
    let Some(value) = value else {
        return refuse(RATIO_EXPECTED, raw);
    };
    contract::ratio(value).map_err(|breach| Reason::broken(breach, raw))?;
    Ok(value)
}

/// The value of a non-finite ratio as `dump` writes it.
fn non_finite(json: &str) -> Option<f64> {
    match json {
        r#""NaN""# => Some(f64::NAN),
        r#""Infinity""# => Some(f64::INFINITY),
        r#""-Infinity""# => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A timestamp: RFC 3339 with an offset, up to nanoseconds, within the range of [`Timestamp`].
pub(super) fn timestamp(raw: &RawValue) -> Result<Timestamp, Reason> {
    let text = string_or(raw, "must be an RFC 3339 timestamp string")?;
    if fraction_digits(&text) > 9 {
        // chrono would drop the digits beyond nanoseconds without a word.
        return refuse("has more than 9 fractional digits (nanoseconds)", raw);
    }
    Timestamp::parse_rfc3339(&text).or_else(|error| refuse(&format!("{error}"), raw))
}

/// How many digits follow the first `.` (the seconds fraction; the date and time have none).
fn fraction_digits(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, after)| {
        after.bytes().take_while(u8::is_ascii_digit).count()
    })
}

/// `true` or `false`.
pub(super) fn boolean(raw: &RawValue) -> Result<bool, Reason> {
    match raw.get() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => refuse("must be true or false", raw),
    }
}

/// A text of at most `max` characters (Unicode scalar values).
pub(super) fn text(max: usize) -> impl Fn(&RawValue) -> Result<String, Reason> {
    move |raw| {
        let text = string_or(raw, "must be a string")?;
        contract::text(&text, max).map_err(|breach| Reason::broken(breach, raw))?;
        Ok(text)
    }
}

/// A free text (`reason`, `comment`, ...).
pub(super) fn free_text(raw: &RawValue) -> Result<String, Reason> {
    text(FREE_TEXT_MAX_CHARS)(raw)
}

/// A symbol: 1 to 12 characters, no whitespace or control characters.
pub(super) fn symbol(raw: &RawValue) -> Result<String, Reason> {
    let symbol = string_or(raw, "must be a string")?;
    contract::symbol(&symbol).map_err(|breach| Reason::broken(breach, raw))?;
    Ok(symbol)
}

/// An enum written by its upper-case name; input is case-insensitive.
pub(super) trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn parse(text: &str) -> Option<Self>;
}

macro_rules! named {
    ($($ty:ty),+) => {$(
        impl Named for $ty {
            const ALL: &'static [Self] = <$ty>::ALL;
            fn name(self) -> &'static str {
                <$ty>::name(self)
            }
            fn parse(text: &str) -> Option<Self> {
                <$ty>::parse(text)
            }
        }
    )+};
}

named!(SignalType, TradeType, OpenStatus);

/// One of the names of `T`, in any case.
pub(super) fn named<T: Named>(raw: &RawValue) -> Result<T, Reason> {
    // The list of names is written only for a refusal: it costs an allocation per value.
    let expected = || {
        let names: Vec<&str> = T::ALL.iter().map(|v| v.name()).collect();
        format!("must be one of {}", names.join(", "))
    };
    match string_content(raw) {
        Some(text) => T::parse(&text?).map_or_else(|| refuse(&expected(), raw), Ok),
        None => refuse(&expected(), raw),
    }
}

/// A `trade_modified` level: `"none"` (any case) removes it, a decimal sets it.
pub(super) fn price_update(raw: &RawValue) -> Result<PriceUpdate, Reason> {
    if let Some(Ok(text)) = string_content(raw) {
        if text.eq_ignore_ascii_case("none") {
            return Ok(PriceUpdate::Remove);
        }
    }
    decimal_or(raw, "must be a decimal like \"1.10450\" or \"none\"").map(PriceUpdate::Set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn ids_are_unsigned_64_bit_integers() {
        assert_eq!(id(&raw("0")), Ok(0));
        assert_eq!(id(&raw("18446744073709551615")), Ok(u64::MAX));
        for bad in ["18446744073709551616", "-1", "1.0", "1e3", "\"1\"", "true"] {
            let reason = id(&raw(bad)).unwrap_err();
            assert_eq!(
                reason,
                format!("must be an unsigned 64-bit integer, got {bad}")
            );
        }
    }

    #[test]
    fn open_positions_names_negative_values() {
        assert_eq!(open_positions(&raw("4294967295")), Ok(u32::MAX));
        assert_eq!(
            open_positions(&raw("-3")),
            Err("negative open_positions, got -3".into())
        );
        assert_eq!(open_positions(&raw("-0")), Ok(0));
        assert!(open_positions(&raw("4294967296"))
            .unwrap_err()
            .starts_with("must be an unsigned 32-bit integer"));
    }

    #[test]
    fn decimals_accept_strings_and_numbers_exactly() {
        assert_eq!(decimal(&raw("\"1.10450\"")).unwrap().to_string(), "1.10450");
        assert_eq!(decimal(&raw("1.10450")).unwrap().to_string(), "1.10450");
        assert_eq!(decimal(&raw("\"-0.00\"")).unwrap(), Decimal::ZERO);
        assert!(decimal(&raw("\"1e5\"")).is_err());
        assert!(decimal(&raw("true"))
            .unwrap_err()
            .starts_with("must be a decimal"));
        let forty = "1234567890123456789012345678901234567890";
        assert!(decimal(&raw(forty))
            .unwrap_err()
            .contains("too many significant digits"));
    }

    #[test]
    fn positive_decimals_refuse_zero_and_below() {
        let refused = positive_decimal(&raw("\"-1.2\"")).unwrap_err();
        assert_eq!(refused.text, "must be a positive decimal, got \"-1.2\"");
        assert_eq!(refused.rule, Some(Rule::NotPositive));
        assert!(positive_decimal(&raw("0")).is_err());
        assert!(positive_decimal(&raw("\"0.00001\"")).is_ok());
    }

    #[test]
    fn ratios_are_numbers_in_the_unit_interval() {
        assert_eq!(ratio(&raw("0")), Ok(0.0));
        assert_eq!(ratio(&raw("1")), Ok(1.0));
        assert_eq!(ratio(&raw("0.75")), Ok(0.75));
        for bad in ["1.5", "-0.1", "1e400", "\"NaN\"", "\"-Infinity\""] {
            let refused = ratio(&raw(bad)).unwrap_err();
            assert_eq!(refused.rule, Some(Rule::RatioOutOfRange), "{bad}");
            assert_eq!(refused.text, format!("{RATIO_EXPECTED}, got {bad}"));
        }
        for wrong_type in ["\"0.5\"", "null", "\"nan\"", "true"] {
            let refused = ratio(&raw(wrong_type)).unwrap_err();
            assert_eq!(refused.rule, None, "{wrong_type}");
        }
    }

    #[test]
    fn timestamps_need_an_offset_and_a_string() {
        let t = timestamp(&raw("\"2024-01-02T12:00:00+02:00\"")).unwrap();
        assert_eq!(t.to_string(), "2024-01-02T10:00:00Z");
        assert!(timestamp(&raw("\"2024-01-02T10:00:00\""))
            .unwrap_err()
            .contains("with an offset"));
        assert!(timestamp(&raw("\"2300-01-01T00:00:00Z\""))
            .unwrap_err()
            .contains("outside"));
        assert!(timestamp(&raw("1704189600")).is_err());
        let nanos = timestamp(&raw("\"2024-01-02T10:00:00.123456789Z\"")).unwrap();
        assert_eq!(nanos.to_string(), "2024-01-02T10:00:00.123456789Z");
        assert!(timestamp(&raw("\"2024-01-02T10:00:00.1234567891Z\""))
            .unwrap_err()
            .starts_with("has more than 9 fractional digits"));
    }

    #[test]
    fn texts_count_characters_not_bytes() {
        let fifty = format!("\"{}\"", "é".repeat(50));
        assert!(text(50)(&raw(&fifty)).is_ok());
        let fifty_one = format!("\"{}\"", "é".repeat(51));
        let refused = text(50)(&raw(&fifty_one)).unwrap_err();
        assert_eq!(refused.text, "must be at most 50 characters, got 51");
        assert_eq!(refused.rule, Some(Rule::TextTooLong));
        assert_eq!(text(5)(&raw("\"a\\u00e9\"")), Ok("aé".into()));
        assert!(text(5)(&raw("5")).is_err());
        let lone_surrogate = text(5)(&raw(r#""\ud800""#)).unwrap_err();
        assert!(
            lone_surrogate.starts_with("malformed string"),
            "{lone_surrogate}"
        );
    }

    #[test]
    fn symbols_are_short_and_without_spaces() {
        assert_eq!(symbol(&raw("\"EURUSD\"")), Ok("EURUSD".into()));
        assert_eq!(symbol(&raw("\"\"")).unwrap_err().text, "must not be empty");
        for bad in [
            "\"\"",
            "\"EUR USD\"",
            "\"EUR\\tUSD\"",
            "\"EUR\\u0000\"",
            "\"ABCDEFGHIJKLM\"",
        ] {
            let refused = symbol(&raw(bad)).unwrap_err();
            assert_eq!(refused.rule, Some(Rule::InvalidSymbol), "{bad}");
        }
        assert_eq!(
            symbol(&raw("12")).unwrap_err().rule,
            None,
            "a number is of the wrong type"
        );
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(named::<SignalType>(&raw("\"hold\"")), Ok(SignalType::Hold));
        assert_eq!(
            named::<OpenStatus>(&raw("\"Pending\"")),
            Ok(OpenStatus::Pending)
        );
        assert_eq!(
            named::<OpenStatus>(&raw("\"CLOSED\"")),
            Err("must be one of OPEN, PENDING, got \"CLOSED\"".into())
        );
    }

    #[test]
    fn price_updates_read_none_and_decimals() {
        assert_eq!(price_update(&raw("\"NoNe\"")), Ok(PriceUpdate::Remove));
        let set = price_update(&raw("\"1.20\"")).unwrap();
        assert_eq!(set, PriceUpdate::Set(Decimal::new(120, 2)));
        assert!(price_update(&raw("\"nothing\"")).is_err());
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = format!("\"{}\"", "x".repeat(1000));
        let reason = boolean(&raw(&long)).unwrap_err();
        assert!(reason.len() < 80, "{reason}");
        assert!(reason.ends_with('…'));
    }
}
