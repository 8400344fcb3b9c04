//! Python event dicts → library events, through the library's own JSON Lines parser.
//!
//! Each dict is written as the JSON Lines line it stands for, and that line is read by
//! `model::interchange::parse_event`, the parser of `tradeledger import`: the fields, their
//! types, defaults and the stateless rules are the library's, never repeated here. What this
//! module decides is only how a Python value is written in JSON:
//!
//! | Python | JSON |
//! |---|---|
//! | `None` | `null` |
//! | `bool` | `true` / `false` |
//! | `int` (and subclasses) | an integer, its exact digits |
//! | `float` | a number (Python's repr); NaN and ±infinity as `"NaN"`, `"Infinity"`, `"-Infinity"`, as `dump` writes them |
//! | `str` (and subclasses) | a string |
//! | `decimal.Decimal` | a number, its exact digits (`str(d)`); NaN and infinities as strings, which the parser refuses |
//! | aware `datetime` | an RFC 3339 string in UTC, to the microsecond (to the nanosecond for a `pandas.Timestamp`) |
//!
//! A naive `datetime`, a `date` and any other type are refused here, naming the field: they
//! have no JSON Lines form.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyDate, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyDict, PyFloat, PyInt,
    PyList, PyString, PyTimeAccess, PyTuple, PyType, PyTzInfo, PyTzInfoAccess,
};
use tradeledger::model::interchange::{parse_event, FieldError};
use tradeledger::{Event, TimestampError};

/// `decimal.Decimal`, looked up once.
static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Why event `index` of a batch was refused: the field, the reason and the rule of
/// `docs/INTERCHANGE.md` §3 when one is broken.
#[derive(Debug)]
pub struct Refusal {
    /// The position of the event in the list, from 0.
    pub index: usize,
    /// The field to blame, `None` when the event as a whole is refused.
    pub field: Option<String>,
    /// What is wrong, for a person to read.
    pub reason: String,
    /// The rule's name (`"non-positive price or volume"`), `None` for a value of the wrong
    /// type, a missing or unknown field.
    pub rule: Option<&'static str>,
}

impl Refusal {
    fn from_field_error(index: usize, error: FieldError) -> Refusal {
        Refusal {
            index,
            field: error.field,
            reason: error.reason,
            rule: error.rule.map(|rule| rule.name()),
        }
    }
}

/// Why a list could not become events: a refused event, or a Python error raised while reading
/// it (a `utcoffset` that raised, a list changed meanwhile).
pub enum ConvertError {
    Refused(Refusal),
    Python(PyErr),
}

impl From<PyErr> for ConvertError {
    fn from(error: PyErr) -> ConvertError {
        ConvertError::Python(error)
    }
}

/// The events of `batch`, a list (or tuple, or other iterable) of event dicts.
pub fn events<'py>(batch: &Bound<'py, PyAny>) -> Result<Vec<Event>, ConvertError> {
    let py = batch.py();
    let mut writer = LineWriter {
        line: String::with_capacity(512),
        decimal: DECIMAL.import(py, "decimal", "Decimal")?.clone(),
    };
    let list = batch.cast::<PyList>().ok();
    let mut events = Vec::with_capacity(list.map_or(0, |list| list.len()));
    let mut convert = |index: usize, item: &Bound<'py, PyAny>| -> Result<(), ConvertError> {
        let event = writer
            .event(item)?
            .map_err(|error| ConvertError::Refused(Refusal::from_field_error(index, error)))?;
        events.push(event);
        Ok(())
    };
    if let Some(list) = list {
        for (index, item) in list.iter().enumerate() {
            convert(index, &item)?;
        }
    } else if let Ok(tuple) = batch.cast::<PyTuple>() {
        for (index, item) in tuple.iter().enumerate() {
            convert(index, &item)?;
        }
    } else if batch.is_instance_of::<PyDict>() {
        return Err(ConvertError::Python(
            pyo3::exceptions::PyTypeError::new_err(
                "append takes a list of event dicts; put a single event in a list: append([event])",
            ),
        ));
    } else {
        for (index, item) in batch.try_iter()?.enumerate() {
            convert(index, &item?)?;
        }
    }
    Ok(events)
}

/// Writes event dicts as JSON Lines lines into one reused buffer.
struct LineWriter<'py> {
    line: String,
    decimal: Bound<'py, PyType>,
}

impl<'py> LineWriter<'py> {
    /// The event `item` stands for; the outer error is a Python error, the inner a refusal.
    fn event(&mut self, item: &Bound<'py, PyAny>) -> PyResult<Result<Event, FieldError>> {
        let Ok(dict) = item.cast::<PyDict>() else {
            return Ok(Err(FieldError::whole_line(format!(
                "an event must be a dict with the JSON Lines field names, got {}",
                type_name(item)
            ))));
        };
        self.line.clear();
        self.line.push('{');
        for (position, (key, value)) in dict.iter().enumerate() {
            if position > 0 {
                self.line.push(',');
            }
            let Ok(key) = key.cast::<PyString>() else {
                return Ok(Err(FieldError::whole_line(format!(
                    "field names must be strings, got {}",
                    type_name(&key)
                ))));
            };
            let Ok(name) = key.to_str() else {
                return Ok(Err(FieldError::whole_line(
                    "a field name is not valid Unicode (a lone surrogate)",
                )));
            };
            push_json_string(&mut self.line, name);
            self.line.push(':');
            if let Err(reason) = self.value(&value)? {
                return Ok(Err(FieldError::in_field(name, reason)));
            }
        }
        self.line.push('}');
        Ok(parse_event(&self.line))
    }

    /// Writes `value` as JSON; the inner error is why it has no JSON form.
    fn value(&mut self, value: &Bound<'py, PyAny>) -> PyResult<Result<(), String>> {
        let line = &mut self.line;
        if value.is_none() {
            line.push_str("null");
        } else if let Ok(text) = value.cast::<PyString>() {
            match text.to_str() {
                Ok(text) => push_json_string(line, text),
                Err(_) => return Ok(Err("a string that is not valid Unicode".into())),
            }
        } else if value.is_instance_of::<PyBool>() {
            line.push_str(if value.is_truthy()? { "true" } else { "false" });
        } else if value.is_instance_of::<PyInt>() {
            match value.extract::<i128>() {
                Ok(integer) => write!(line, "{integer}").expect("writing to a String"),
                // Beyond i128: int's own digits (a subclass's str may be a name).
                Err(_) => {
                    let digits = value
                        .py()
                        .get_type::<PyInt>()
                        .call_method1("__repr__", (value,))?;
                    line.push_str(digits.cast::<PyString>()?.to_str()?);
                }
            }
        } else if let Ok(float) = value.cast::<PyFloat>() {
            push_float(line, float.value());
        } else if value.is_instance(&self.decimal)? {
            let text = value.str()?;
            let text = text.to_str()?;
            if is_finite_decimal_text(text) {
                // A JSON number: the parser reads its exact digits, exponent included.
                line.push_str(text);
            } else {
                push_json_string(line, text);
            }
        } else if let Ok(time) = value.cast::<PyDateTime>() {
            match utc_text(time)? {
                Ok(text) => push_json_string(line, &text),
                Err(reason) => return Ok(Err(reason)),
            }
        } else if value.is_instance_of::<PyDate>() {
            return Ok(Err(
                "a date is not a timestamp: give an aware datetime or an RFC 3339 string".into(),
            ));
        } else {
            return Ok(Err(format!(
                "a Python {} has no JSON Lines form (give str, int, float, bool, None, \
                 Decimal or an aware datetime)",
                type_name(value)
            )));
        }
        Ok(Ok(()))
    }
}

/// `str(Decimal)` of a finite value: `-?DIGITS(.DIGITS)?(E[+-]DIGITS)?`, a JSON number.
fn is_finite_decimal_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    digits.starts_with(|c: char| c.is_ascii_digit())
}

/// A float as Python's repr writes it (`1.0`, `0.1`, `1e-07`); non-finite values as `dump`
/// writes them.
fn push_float(line: &mut String, value: f64) {
    if value.is_nan() {
        line.push_str("\"NaN\"");
    } else if value.is_infinite() {
        line.push_str(if value > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        // Rust's Debug form is the shortest that reads back as the same f64, like repr.
        write!(line, "{value:?}").expect("writing to a String");
    }
}

/// An aware datetime as RFC 3339 in UTC (`2024-01-02T10:00:00.250000Z`); a naive one (no
/// tzinfo, or a tzinfo whose `utcoffset` is `None`) is refused.
fn utc_text(time: &Bound<'_, PyDateTime>) -> PyResult<Result<String, String>> {
    let naive = || {
        Ok(Err(
            "a naive datetime (without tzinfo) is refused: give an aware datetime, \
             e.g. with tzinfo=timezone.utc"
                .to_string(),
        ))
    };
    let Some(tzinfo) = time.get_tzinfo() else {
        return naive();
    };
    let offset = if tzinfo.is(PyTzInfo::utc(time.py())?) {
        TimeDelta::zero()
    } else {
        let offset = time.call_method0("utcoffset")?;
        if offset.is_none() {
            return naive();
        }
        let offset = offset.cast::<PyDelta>()?;
        TimeDelta::days(i64::from(offset.get_days()))
            + TimeDelta::seconds(i64::from(offset.get_seconds()))
            + TimeDelta::microseconds(i64::from(offset.get_microseconds()))
    };
    let date = NaiveDate::from_ymd_opt(
        time.get_year(),
        u32::from(time.get_month()),
        u32::from(time.get_day()),
    );
    let clock = NaiveTime::from_hms_nano_opt(
        u32::from(time.get_hour()),
        u32::from(time.get_minute()),
        u32::from(time.get_second()),
        time.get_microsecond() * 1_000 + extra_nanoseconds(time)?,
    );
    let utc = date
        .zip(clock)
        .and_then(|(date, clock)| NaiveDateTime::new(date, clock).checked_sub_signed(offset));
    let Some(utc) = utc else {
        return Ok(Err(TimestampError::OutOfRange.to_string()));
    };
    // Written by hand: chrono's `format` parses its pattern on every call, a tenth of the
    // conversion's time in the append benchmark.
    let (date, clock) = (utc.date(), utc.time());
    let mut text = String::with_capacity(32);
    write!(
        text,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        date.month(),
        date.day(),
        clock.hour(),
        clock.minute(),
        clock.second()
    )
    .expect("writing to a String");
    let nanos = clock.nanosecond();
    if nanos % 1_000 != 0 {
        write!(text, ".{nanos:09}").expect("writing to a String");
    } else if nanos != 0 {
        write!(text, ".{:06}", nanos / 1_000).expect("writing to a String");
    }
    text.push('Z');
    Ok(Ok(text))
}

/// The nanoseconds below the microsecond of a datetime subclass that keeps them
/// (`pandas.Timestamp.nanosecond`); 0 for a `datetime`, which has none.
fn extra_nanoseconds(time: &Bound<'_, PyDateTime>) -> PyResult<u32> {
    if time.is_exact_instance_of::<PyDateTime>() {
        return Ok(0);
    }
    match time.getattr("nanosecond") {
        Ok(nanos) => Ok(nanos.extract::<u32>()?.min(999)),
        Err(_) => Ok(0),
    }
}

/// `text` as a JSON string.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..at]);
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}").expect("writing to a String");
        } else {
            out.push_str(escape);
        }
        start = at + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// The name of a value's type (`list`, `Decimal`).
fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "object".into(), |name| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let read: String = serde_json::from_str(&out).unwrap();
        assert_eq!(read, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn floats_read_back_as_the_same_number() {
        for value in [1.0, 0.1, 1e-7, 0.75, 123456.789] {
            let mut out = String::new();
            push_float(&mut out, value);
            assert_eq!(out.parse::<f64>().unwrap(), value, "{out}");
        }
        let mut out = String::new();
        push_float(&mut out, f64::NAN);
        assert_eq!(out, "\"NaN\"");
    }

    #[test]
    fn finite_decimal_texts_are_numbers() {
        for text in ["1.10450", "-0", "1E+2", "0E-8"] {
            assert!(is_finite_decimal_text(text), "{text}");
        }
        for text in ["NaN", "-Infinity", "sNaN", ""] {
            assert!(!is_finite_decimal_text(text), "{text}");
        }
    }
}
