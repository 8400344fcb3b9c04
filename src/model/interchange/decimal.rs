//! Exact decimal reading (`docs/INTERCHANGE.md` §1): decimal strings and JSON number texts
//! become a [`Decimal`] with their scale kept, or an error. Nothing is ever rounded.

use std::fmt;

use rust_decimal::Decimal;

/// The largest scale (digits after the point) a [`Decimal`] holds.
const MAX_SCALE: u32 = Decimal::MAX_SCALE;

/// The largest mantissa a [`Decimal`] holds: 2^96 - 1.
const MAX_MANTISSA: u128 = (1 << 96) - 1;

/// Why a well-formed decimal text has no exact [`Decimal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// Not of the expected form.
    Syntax,
    /// More than 28 digits after the point.
    TooManyPlaces,
    /// The digits do not fit the 96-bit mantissa.
    TooManyDigits,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecimalError::Syntax => "not a decimal of the form -?DIGITS(.DIGITS)?",
            DecimalError::TooManyPlaces => {
                "more than 28 decimal places (a decimal cannot keep them exactly)"
            }
            DecimalError::TooManyDigits => {
                "too many significant digits (a decimal holds a 96-bit mantissa, about 28 digits)"
            }
        })
    }
}

/// The parts of a decimal text: sign, integer digits, fraction digits, power-of-ten exponent.
struct Parts<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
    exponent: i64,
}

/// Reads a decimal string: `-?DIGITS(.DIGITS)?`, no `+`, no leading `.`, no exponent.
pub(crate) fn from_decimal_string(text: &str) -> Result<Decimal, DecimalError> {
    let (negative, unsigned) = split_sign(text);
    let (integer, fraction) = split_point(unsigned).ok_or(DecimalError::Syntax)?;
    exact(Parts {
        negative,
        integer,
        fraction,
        exponent: 0,
    })
}

/// Reads the text of a JSON number, exponent included: `-?INT(.FRAC)?([eE][+-]?DIGITS)?`.
pub(crate) fn from_json_number(text: &str) -> Result<Decimal, DecimalError> {
    let (negative, unsigned) = split_sign(text);
    let (significand, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = split_point(significand).ok_or(DecimalError::Syntax)?;
    exact(Parts {
        negative,
        integer,
        fraction,
        exponent,
    })
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    }
}

/// `DIGITS` or `DIGITS.DIGITS`, as (integer, fraction).
fn split_point(text: &str) -> Option<(&str, &str)> {
    let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction_ok = !text.contains('.') || is_digits(fraction);
    (is_digits(integer) && fraction_ok).then_some((integer, fraction))
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// An exponent `[+-]?DIGITS`, saturated far beyond any usable scale so that huge exponents
/// are refused instead of overflowing.
fn parse_exponent(text: &str) -> Result<i64, DecimalError> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !is_digits(digits) {
        return Err(DecimalError::Syntax);
    }
    let magnitude = digits.bytes().fold(0i64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(b - b'0'))
            .min(1 << 40)
    });
    Ok(if negative { -magnitude } else { magnitude })
}

/// The exact decimal `±integer.fraction × 10^exponent`, scale = fraction digits − exponent.
fn exact(parts: Parts<'_>) -> Result<Decimal, DecimalError> {
    let scale = i64::try_from(parts.fraction.len())
        .unwrap_or(i64::MAX)
        .saturating_sub(parts.exponent);
    if scale > i64::from(MAX_SCALE) {
        return Err(DecimalError::TooManyPlaces);
    }
    let mut digits = parts.integer.bytes().chain(parts.fraction.bytes());
    let mut mantissa = digits.try_fold(0u128, push_digit)?;
    let mut scale = scale;
    while scale < 0 && mantissa != 0 {
        mantissa = push_digit(mantissa, b'0')?;
        scale += 1;
    }
    let scale = u32::try_from(scale.max(0)).map_err(|_| DecimalError::TooManyPlaces)?;
    // The mantissa is at most 2^96 - 1, so it fits an i128 with either sign.
    let signed = if parts.negative {
        -(mantissa as i128)
    } else {
        mantissa as i128
    };
    Decimal::try_from_i128_with_scale(signed, scale).map_err(|_| DecimalError::TooManyDigits)
}

/// `mantissa × 10 + digit`, refused once it leaves the 96-bit range.
fn push_digit(mantissa: u128, digit: u8) -> Result<u128, DecimalError> {
    let next = mantissa * 10 + u128::from(digit - b'0');
    if next > MAX_MANTISSA {
        Err(DecimalError::TooManyDigits)
    } else {
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(result: Result<Decimal, DecimalError>) -> Result<String, DecimalError> {
        result.map(|d| d.to_string())
    }

    #[test]
    fn decimal_strings_keep_their_scale() {
        for text in [
            "1.10450",
            "0",
            "12",
            "0.0000000000000000000000000001",
            "-3.5",
        ] {
            assert_eq!(text_of(from_decimal_string(text)), Ok(text.to_string()));
        }
        assert_eq!(text_of(from_decimal_string("007.50")), Ok("7.50".into()));
    }

    #[test]
    fn negative_zero_is_zero() {
        let zero = from_decimal_string("-0.00").unwrap();
        assert!(zero.is_zero());
        assert!(!zero.is_sign_negative());
        assert_eq!(zero.to_string(), "0.00");
    }

    #[test]
    fn decimal_strings_refuse_other_forms() {
        for text in [
            "", "-", "+1", ".5", "1.", "1e5", " 1", "1 ", "1,5", "--1", "1.2.3", "0x10", "١",
        ] {
            assert_eq!(
                from_decimal_string(text),
                Err(DecimalError::Syntax),
                "{text:?}"
            );
        }
    }

    #[test]
    fn extremes_are_exact_or_refused() {
        let max = "79228162514264337593543950335";
        assert_eq!(text_of(from_decimal_string(max)), Ok(max.into()));
        assert_eq!(
            from_decimal_string("79228162514264337593543950336"),
            Err(DecimalError::TooManyDigits)
        );
        let forty = "1234567890123456789012345678901234567890";
        assert_eq!(from_decimal_string(forty), Err(DecimalError::TooManyDigits));
        assert_eq!(
            from_decimal_string("0.00000000000000000000000000001"),
            Err(DecimalError::TooManyPlaces)
        );
        // Exact value 10, but not with 28 places: refused rather than rescaled.
        assert_eq!(
            from_decimal_string("10.0000000000000000000000000000"),
            Err(DecimalError::TooManyDigits)
        );
    }

    #[test]
    fn json_numbers_are_read_from_their_text() {
        let cases = [
            ("1.10450", "1.10450"),
            ("0.1", "0.1"),
            ("1e3", "1000"),
            ("1.5E+2", "150"),
            ("15e-1", "1.5"),
            ("-2.50e-2", "-0.0250"),
            ("0e999999999999999999999", "0"),
            ("123e-28", "0.0000000000000000000000000123"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text_of(from_json_number(text)),
                Ok(expected.into()),
                "{text}"
            );
        }
    }

    #[test]
    fn json_numbers_out_of_range_are_refused() {
        assert_eq!(from_json_number("1e-29"), Err(DecimalError::TooManyPlaces));
        assert_eq!(from_json_number("1e-400"), Err(DecimalError::TooManyPlaces));
        assert_eq!(from_json_number("1e29"), Err(DecimalError::TooManyDigits));
        assert_eq!(
            from_json_number("1e99999999999999999999"),
            Err(DecimalError::TooManyDigits)
        );
        assert_eq!(from_json_number("1e"), Err(DecimalError::Syntax));
    }
}
