//! The top-level JSON object of a line: its keys in order, each with the raw text of its value.
//!
//! `serde_json::Value` keeps the last of duplicate keys silently; this reader refuses them.
//! Values are captured as raw text, so numbers keep their exact digits and a deeply nested
//! value is skipped without recursion (serde_json skips raw values with an explicit stack).

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::value::without_position;
use super::FieldError;
use crate::model::contract::shown;

/// The fields of one JSON object, in the order they were written, without duplicates.
pub(super) struct Object<'a> {
    entries: Vec<(String, &'a RawValue)>,
}

impl<'a> Object<'a> {
    /// Parses `line` as exactly one JSON object (surrounding whitespace allowed).
    pub(super) fn parse(line: &'a str) -> Result<Object<'a>, FieldError> {
        let start = line.trim_start_matches(is_json_whitespace);
        if !start.starts_with('{') {
            return Err(FieldError::whole_line(format!(
                "expected a JSON object, got {}",
                describe_start(start)
            )));
        }
        let mut deserializer = serde_json::Deserializer::from_str(line);
        let read = deserializer
            .deserialize_map(ObjectVisitor)
            .map_err(malformed)?;
        deserializer.end().map_err(malformed)?;
        match read.duplicate {
            Some(key) => Err(FieldError::in_field(key, "duplicate key")),
            None => Ok(Object {
                entries: read.entries,
            }),
        }
    }

    /// The raw value of `name`, `None` when absent (a JSON `null` is returned as such).
    pub(super) fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.entries
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    }

    /// The keys, in the order they were written.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(key, _)| key.as_str())
    }
}

/// JSON's insignificant whitespace (RFC 8259 §2).
pub(super) fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn describe_start(start: &str) -> String {
    if start.is_empty() {
        "an empty line".into()
    } else {
        shown(start)
    }
}

/// A serde_json error as a reason, with its column but without serde_json's "at line 1".
fn malformed(error: serde_json::Error) -> FieldError {
    FieldError::whole_line(format!(
        "malformed JSON at column {}: {}",
        error.column(),
        without_position(&error)
    ))
}

/// What the visitor read: the entries, and the first key written twice.
struct Read<'a> {
    entries: Vec<(String, &'a RawValue)>,
    duplicate: Option<String>,
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Read<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read<'de>, A::Error> {
        // An event has at most a few dozen keys: they are compared with those before them,
        // cheaper than hashing each; a set takes over for longer objects, which are refused
        // anyway but must not cost quadratic time.
        const COMPARED: usize = 32;
        let mut seen: Option<HashSet<String>> = None;
        let mut read = Read {
            entries: Vec::with_capacity(16),
            duplicate: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let value: &'de RawValue = map.next_value()?;
            let new = match &mut seen {
                Some(seen) => seen.insert(key.clone()),
                None => !read.entries.iter().any(|(earlier, _)| *earlier == key),
            };
            if new {
                read.entries.push((key, value));
                if seen.is_none() && read.entries.len() == COMPARED {
                    seen = Some(read.entries.iter().map(|(k, _)| k.clone()).collect());
                }
            } else if read.duplicate.is_none() {
                read.duplicate = Some(key);
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_of(line: &str) -> String {
        Object::parse(line).err().expect("refused").reason
    }

    #[test]
    fn keys_keep_their_order_and_raw_values() {
        let object = Object::parse(r#" {"b": 1.50, "a": "x", "c": null} "#).unwrap();
        assert_eq!(object.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(object.get("b").unwrap().get(), "1.50");
        assert_eq!(object.get("c").unwrap().get(), "null");
        assert!(object.get("d").is_none());
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_name() {
        let error = Object::parse(r#"{"a":1,"b":2,"a":3}"#).err().unwrap();
        assert_eq!(error.field.as_deref(), Some("a"));
        assert_eq!(error.reason, "duplicate key");
        // An escaped spelling of the same key is the same key.
        let error = Object::parse(r#"{"a":1,"\u0061":2}"#).err().unwrap();
        assert_eq!(error.field.as_deref(), Some("a"));
    }

    #[test]
    fn duplicate_keys_are_found_in_long_objects_too() {
        // Past the keys compared one by one, a set takes over: duplicates of keys on either
        // side of the switch are found.
        let keys = |n: usize| (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>();
        for (count, duplicate) in [(40, 3), (40, 35), (31, 30), (33, 31), (33, 32)] {
            let mut fields = keys(count);
            fields.push(format!("\"k{duplicate}\":0"));
            let line = format!("{{{}}}", fields.join(","));
            let error = Object::parse(&line).err().expect("a duplicate");
            assert_eq!(error.field, Some(format!("k{duplicate}")), "{count} keys");
        }
        let line = format!("{{{}}}", keys(100).join(","));
        assert_eq!(Object::parse(&line).unwrap().keys().count(), 100);
    }

    #[test]
    fn non_objects_and_malformed_json_are_refused() {
        assert_eq!(reason_of("[1]"), "expected a JSON object, got [1]");
        assert_eq!(reason_of("  "), "expected a JSON object, got an empty line");
        assert_eq!(
            reason_of(r#"{"a":1"#),
            "malformed JSON at column 6: EOF while parsing an object"
        );
        assert!(reason_of(r#"{"a":1} x"#).contains("trailing characters"));
        assert!(reason_of(r#"{"a":01}"#).starts_with("malformed JSON"));
        assert!(reason_of(r#"{"\ud800":1}"#).starts_with("malformed JSON"));
        assert!(reason_of("{\"a\":\"tab\there\"}").starts_with("malformed JSON"));
    }

    #[test]
    fn deep_nesting_is_read_without_recursion() {
        let depth = 200_000;
        let line = format!(r#"{{"a":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        let object = Object::parse(&line).unwrap();
        assert_eq!(object.get("a").unwrap().get().len(), 2 * depth);
        let unbalanced = format!(r#"{{"a":{}"#, "[".repeat(depth));
        assert!(reason_of(&unbalanced).starts_with("malformed JSON"));
        let nested_objects = format!(r#"{{"a":{}"#, "{\"b\":".repeat(depth));
        assert!(reason_of(&nested_objects).starts_with("malformed JSON"));
    }
}
