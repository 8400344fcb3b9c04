//! The reader never panics, whatever the input, and whatever it accepts writes back stably.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use tradeledger::model::event::Event;
use tradeledger::model::interchange::{field_names, parse_event, write_event, EventReader};

fn written(event: &Event) -> String {
    let mut line = String::new();
    write_event(&mut line, event, None, None);
    line
}

/// Anything accepted is a valid event: it writes and reads back to itself.
fn accepted_is_stable(line: &str) -> Result<(), TestCaseError> {
    if let Ok(event) = parse_event(line) {
        let again = parse_event(&written(&event));
        prop_assert_eq!(again.as_ref(), Ok(&event));
        prop_assert!(common::identical(&again.unwrap(), &event));
    }
    Ok(())
}

/// A valid line with one edit: a cut, an insertion or a replacement at a character boundary.
fn edited_line() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        ".{0,3}",
    );
    (common::any_event(), edit).prop_map(|(event, (at, len, insert))| {
        let line = written(&event);
        let chars: Vec<char> = line.chars().collect();
        let start = at.index(chars.len() + 1);
        let end = start + len.index(chars.len() - start + 1).min(8);
        let mut edited: String = chars[..start].iter().collect();
        edited.push_str(&insert);
        edited.extend(&chars[end..]);
        edited
    })
}

/// Values that probe the edges of every field type.
fn tricky_value() -> impl Strategy<Value = String> {
    let fixed = select(vec![
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1",
        "-1",
        "1.0",
        "0.5",
        "1e0",
        "1E+2",
        "1e-29",
        "1e400",
        "-1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "4294967296",
        "79228162514264337593543950335",
        "79228162514264337593543950336",
        "0.00000000000000000000000000001",
        "[]",
        "{}",
        "[[[[1]]]]",
        "\"\"",
        "\"none\"",
        "\"NONE\"",
        "\"BUY\"",
        "\"hold\"",
        "\"pending\"",
        "\"closed\"",
        "\"1.10450\"",
        "\"-0.00\"",
        "\"+1\"",
        "\".5\"",
        "\"1e5\"",
        "\"2024-01-02T10:00:00Z\"",
        "\"2024-01-02T10:00:00\"",
        "\"2262-04-11T23:47:16.854775807Z\"",
        "\"2262-04-11T23:47:16.854775808Z\"",
        "\"1677-09-21T00:12:43.145224192Z\"",
        "\"\\ud800\"",
        "\"EUR USD\"",
        "\"\\u0000\"",
        "\"signal\"",
    ]);
    prop_oneof![
        fixed.prop_map(str::to_string),
        any::<String>().prop_map(|s| serde_json::Value::from(s).to_string()),
        any::<f64>().prop_map(|f| serde_json::Value::from(f).to_string()),
        any::<i128>().prop_map(|i| i.to_string()),
    ]
}

/// A valid line with a few fields replaced by (or added with) tricky values, and sometimes
/// a key written twice.
fn tricky_object() -> impl Strategy<Value = String> {
    let overrides = vec((any::<prop::sample::Index>(), tricky_value()), 0..4);
    let extra = select(vec!["seq", "recorded_at", "event", "Ticket", "", "profit"]);
    let duplicate = proptest::option::weighted(0.1, any::<prop::sample::Index>());
    (common::any_event(), overrides, extra, duplicate).prop_map(
        |(event, overrides, extra, duplicate)| {
            let mut names: Vec<&str> = field_names(event.kind()).to_vec();
            names.push(extra);
            let line = written(&event);
            let base: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&line).unwrap();
            let mut fields: Vec<(String, String)> = base
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            for (at, value) in overrides {
                let name = names[at.index(names.len())].to_string();
                match fields.iter_mut().find(|(k, _)| *k == name) {
                    Some(field) => field.1 = value,
                    None => fields.push((name, value)),
                }
            }
            if let Some(at) = duplicate {
                fields.push(fields[at.index(fields.len())].clone());
            }
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k.as_str())))
                .collect();
            format!("{{{}}}", body.join(","))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_string_is_parsed_or_refused(line in any::<String>()) {
        let _ = parse_event(&line);
    }

    #[test]
    fn any_bytes_are_read_or_refused(bytes in vec(any::<u8>(), 0..512)) {
        for item in EventReader::new(&bytes[..]) {
            if let Err(error) = item {
                prop_assert!(error.line >= 1);
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }

    #[test]
    fn edited_lines_are_refused_or_stable(line in edited_line()) {
        accepted_is_stable(&line)?;
    }

    #[test]
    fn tricky_objects_are_refused_or_stable(line in tricky_object()) {
        accepted_is_stable(&line)?;
    }
}
