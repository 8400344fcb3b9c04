//! Bad input through `tradeledger import`: every rule of docs/INTERCHANGE.md §3 not covered by
//! `cli_import.rs`, and adversarial files (a 100 MB line, deep nesting, invalid UTF-8, a
//! byte-order mark, numbers beyond the decimal range, 40-digit decimals, timestamps out of
//! range). Each is refused with exit code 1 and an error naming the line and the field, the
//! journal byte for byte as before; CRLF line endings and files without events are accepted.

mod cli_support;

use std::io::Write;
use std::path::{Path, PathBuf};

use cli_support::*;

const BASE: &[&str] = &[
    r#"{"event":"signal","signal_id":1,"symbol":"EURUSD","signal_type":"BUY","timestamp":"2024-01-02T08:00:00Z","price":"1.10450","confidence":0.72,"strategy_name":"ma","timeframe":"H1"}"#,
    r#"{"event":"trade_opened","ticket":1001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"1.10450","entry_time":"2024-01-02T08:00:05Z","signal_id":1}"#,
    r#"{"event":"trade_opened","ticket":2001,"symbol":"EURUSD","trade_type":"SELL","volume":"0.10","entry_price":"1.10450","entry_time":"2024-01-02T09:00:00Z"}"#,
    r#"{"event":"trade_closed","ticket":2001,"exit_price":"1.10400","exit_time":"2024-01-02T10:00:00Z","profit":"5.00"}"#,
    r#"{"event":"order_failed","ticket":3001,"symbol":"EURUSD","trade_type":"SELL","volume":"0.10","entry_price":"1.10450","entry_time":"2024-01-02T09:00:00Z"}"#,
    r#"{"event":"trade_opened","ticket":4001,"symbol":"EURUSD","trade_type":"BUY","status":"PENDING","volume":"0.10","entry_price":"1.10450","entry_time":"2024-01-02T09:00:00Z"}"#,
    r#"{"event":"signal","signal_id":2,"symbol":"EURUSD","signal_type":"HOLD","timestamp":"2024-01-02T08:00:00Z","price":"1.10450","confidence":0.72,"strategy_name":"ma","timeframe":"H1"}"#,
];

/// A valid first line: a refusal on line 2 must not keep it either.
const VALID: &str = r#"{"event":"signal","signal_id":7,"symbol":"EURUSD","signal_type":"SELL","timestamp":"2024-01-03T08:00:00Z","price":"1.1","confidence":0.5,"strategy_name":"ma","timeframe":"H1"}"#;

/// A signal line with `field` set to the raw JSON `value` (added if absent).
fn signal_with(field: &str, value: &str) -> String {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(VALID).unwrap();
    object.insert("signal_id".into(), 8.into());
    let mut fields: Vec<String> = object
        .iter()
        .filter(|(k, _)| k.as_str() != field)
        .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k.as_str())))
        .collect();
    fields.push(format!("\"{field}\":{value}"));
    format!("{{{}}}", fields.join(","))
}

fn base_journal() -> (tempfile::TempDir, PathBuf) {
    let (temp, dir) = journal_dir();
    let base = write_file(temp.path(), "base.jsonl", BASE);
    ok(&["import", path(&dir), path(&base)]);
    (temp, dir)
}

/// Imports the file made by `write` into the base journal: refused with exit code 1, the
/// error containing each of `expected`, and the journal unchanged.
fn refused_file(write: impl FnOnce(&Path), expected: &[&str]) {
    let (temp, dir) = base_journal();
    let before = journal_files(&dir);
    let file = temp.path().join("bad.jsonl");
    write(&file);
    let error = fails(&["import", path(&dir), path(&file)], 1);
    for text in expected {
        assert!(error.contains(text), "expected {text:?} in: {error}");
    }
    assert!(error.contains("nothing was imported"), "{error}");
    assert!(!error.contains("panicked"), "{error}");
    assert_eq!(
        journal_files(&dir),
        before,
        "a refused import changed the journal"
    );
}

/// `VALID` then `bad`: refused on line 2 naming `field`.
fn refused(bad: &str, field: &str, expected: &[&str]) {
    let field = format!("line 2, field \"{field}\"");
    let mut all = vec![field.as_str()];
    all.extend_from_slice(expected);
    refused_file(
        |file| {
            std::fs::write(file, format!("{VALID}\n{bad}\n")).unwrap();
        },
        &all,
    );
}

#[test]
fn state_rules_not_covered_elsewhere() {
    refused(
        r#"{"event":"signal","signal_id":1,"symbol":"EURUSD","signal_type":"BUY","timestamp":"2024-01-02T08:00:00Z","price":"1.1","confidence":0.7,"strategy_name":"ma","timeframe":"H1"}"#,
        "signal_id",
        &["duplicate signal_id", "signal_id 1 already exists"],
    );
    refused(
        r#"{"event":"trade_opened","ticket":5001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"1.1","entry_time":"2024-01-02T08:00:05Z","signal_id":1}"#,
        "signal_id",
        &["signal already executed"],
    );
    refused(
        r#"{"event":"order_cancelled","ticket":1001,"time":"2024-01-03T08:00:00Z"}"#,
        "ticket",
        &["illegal status change", "OPEN"],
    );
    refused(
        r#"{"event":"order_cancelled","ticket":4001,"time":"2024-01-01T08:00:00Z"}"#,
        "time",
        &["cancel before order"],
    );
    refused(
        r#"{"event":"order_filled","ticket":4001,"entry_price":"1.1","entry_time":"2024-01-01T08:00:00Z"}"#,
        "entry_time",
        &["fill before order"],
    );
    refused(
        r#"{"event":"trade_modified","ticket":2001,"time":"2024-01-03T08:00:00Z","stop_loss":"1.1"}"#,
        "ticket",
        &["illegal status change", "CLOSED"],
    );
    refused(
        r#"{"event":"trade_modified","ticket":3001,"time":"2024-01-03T08:00:00Z","stop_loss":"1.1"}"#,
        "ticket",
        &["illegal status change", "FAILED"],
    );
    refused(
        r#"{"event":"signal_executed","signal_id":2,"ticket":3001}"#,
        "ticket",
        &["illegal status change", "FAILED"],
    );
    refused(
        r#"{"event":"order_filled","ticket":9999,"entry_price":"1.1","entry_time":"2024-01-03T08:00:00Z"}"#,
        "ticket",
        &["unknown ticket"],
    );
}

#[test]
fn value_rules_not_covered_elsewhere() {
    refused(&signal_with("price", r#""-1""#), "price", &["positive"]);
    refused(
        r#"{"event":"trade_closed","ticket":1001,"exit_price":"0","exit_time":"2024-01-03T10:00:00Z","profit":"1"}"#,
        "exit_price",
        &["positive"],
    );
    refused(
        r#"{"event":"trade_opened","ticket":5001,"symbol":"EURUSD","trade_type":"BUY","volume":"0","entry_price":"1.1","entry_time":"2024-01-02T08:00:05Z"}"#,
        "volume",
        &["positive"],
    );
    refused(
        &signal_with("confidence", "1e400"),
        "confidence",
        &["between 0 and 1"],
    );
    refused(
        &signal_with("confidence", r#""NaN""#),
        "confidence",
        &["between 0 and 1"],
    );
    refused(
        &signal_with("confidence", "-0.01"),
        "confidence",
        &["between 0 and 1"],
    );
    refused(
        r#"{"event":"account_snapshot","account_number":1,"server":"s","broker":"b","balance":"1","equity":"1","snapshot_time":"2024-01-02T08:00:00Z","open_positions":-1}"#,
        "open_positions",
        &["negative"],
    );
    refused(
        &signal_with("signal_id", r#""8""#),
        "signal_id",
        &["unsigned 64-bit integer"],
    );
    refused(
        &signal_with("signal_id", "18446744073709551616"),
        "signal_id",
        &["unsigned 64-bit integer"],
    );
    refused(
        &signal_with("signal_type", r#""SIDEWAYS""#),
        "signal_type",
        &["SIDEWAYS"],
    );
    refused(
        r#"{"event":"signal","signal_id":8,"signal_type":"BUY","timestamp":"2024-01-02T08:00:00Z","price":"1","confidence":0.5,"strategy_name":"ma","timeframe":"H1"}"#,
        "symbol",
        &["missing required field"],
    );
    refused(
        &signal_with("strategy_name", &format!("\"{}\"", "a".repeat(51))),
        "strategy_name",
        &["at most 50 characters"],
    );
    refused(
        &signal_with("symbol", r#""EURUSDEURUSDX""#),
        "symbol",
        &["12"],
    );
    refused(
        &signal_with("reason", &format!("\"{}\"", "r".repeat(4097))),
        "reason",
        &["at most 4096 characters"],
    );
}

#[test]
fn numbers_beyond_the_decimal_range_and_40_digit_decimals_are_refused() {
    refused(
        &signal_with("price", r#""79228162514264337593543950336""#),
        "price",
        &["too many significant digits"],
    );
    refused(
        &signal_with("price", "1e40"),
        "price",
        &["too many significant digits"],
    );
    refused(
        &signal_with("price", "123456789012345678901234567890123456789012"),
        "price",
        &["too many significant digits"],
    );
    let forty_digits = format!("\"1.{}1\"", "0".repeat(38));
    refused(
        &signal_with("price", &forty_digits),
        "price",
        &["more than 28 decimal places"],
    );
    refused(&signal_with("price", "1e-40"), "price", &["decimal"]);
}

#[test]
fn timestamps_out_of_range_are_refused() {
    for time in [
        "2262-04-12T00:00:00Z",
        "1600-01-01T00:00:00Z",
        "9999-12-31T23:59:59+14:00",
    ] {
        refused(
            &signal_with("timestamp", &format!("\"{time}\"")),
            "timestamp",
            &["outside 1677-09-21..2262-04-11", time],
        );
    }
    refused(
        &signal_with("timestamp", r#""2024-02-30T00:00:00Z""#),
        "timestamp",
        &["2024-02-30"],
    );
}

#[test]
fn deeply_nested_json_is_refused() {
    let depth = 100_000;
    let nested = format!("{}1{}", "[{\"a\":".repeat(depth), "}]".repeat(depth));
    refused(
        &signal_with("reason", &nested),
        "reason",
        &["must be a string"],
    );
    // Nesting as the whole line.
    refused_file(
        |file| std::fs::write(file, format!("{VALID}\n{}\n", "[".repeat(depth))).unwrap(),
        &["line 2: expected a JSON object"],
    );
}

#[test]
fn a_100_mb_line_is_refused_without_being_held() {
    refused_file(
        |file| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(file).unwrap());
            writeln!(out, "{VALID}").unwrap();
            out.write_all(br#"{"event":"signal","reason":""#).unwrap();
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..100 {
                out.write_all(&chunk).unwrap();
            }
            out.write_all(b"\"}\n").unwrap();
            out.flush().unwrap();
        },
        &["line 2: line longer than 1048576 bytes"],
    );
}

#[test]
fn invalid_utf8_and_a_byte_order_mark_are_refused_with_the_line() {
    refused_file(
        |file| {
            let mut bytes = format!("{VALID}\n").into_bytes();
            bytes.extend_from_slice(b"{\"event\":\"signal\",\"symbol\":\"EUR\xff\xfeUSD\"}\n");
            std::fs::write(file, bytes).unwrap();
        },
        &["line 2: invalid UTF-8 at byte"],
    );
    refused_file(
        |file| {
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            bytes.extend_from_slice(VALID.as_bytes());
            std::fs::write(file, bytes).unwrap();
        },
        &["line 1: starts with a UTF-8 byte-order mark"],
    );
}

#[test]
fn an_unknown_event_is_refused() {
    refused(
        r#"{"event":"dividend","amount":"1"}"#,
        "event",
        &["dividend"],
    );
}

#[test]
fn crlf_line_endings_and_files_without_events_are_accepted() {
    let (temp, dir) = base_journal();
    let file = temp.path().join("crlf.jsonl");
    std::fs::write(
        &file,
        format!(
            "{VALID}\r\n\r\n{}\r\n",
            BASE[6].replace("\"signal_id\":2", "\"signal_id\":9")
        ),
    )
    .unwrap();
    let report = json(&["import", path(&dir), path(&file)]);
    assert_eq!(report["appended"], 2);
    assert_eq!(json(&["signals", path(&dir)]).as_array().unwrap().len(), 4);
    // Blank lines only, and an empty file: nothing appended, nothing changed.
    let before = journal_files(&dir);
    for (name, text) in [("blank.jsonl", "\n \r\n\t\n"), ("empty.jsonl", "")] {
        let file = temp.path().join(name);
        std::fs::write(&file, text).unwrap();
        let report = json(&["import", path(&dir), path(&file)]);
        assert_eq!(report["appended"], 0, "{name}");
        assert_eq!(journal_files(&dir), before, "{name}");
    }
}
