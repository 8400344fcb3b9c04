//! End-to-end tests of the interchange rules: one test per rule, each checking the line, the
//! field and the reason of the error.

use std::io::{self, BufRead, Read};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::object::Object;
use super::*;
use crate::model::contract::*;
use crate::model::event::*;

const T: &str = "2024-01-02T10:00:00Z";

/// A minimal valid line of each kind (required fields only).
fn minimal(kind: EventKind) -> Value {
    let fields = match kind {
        EventKind::Signal => json!({
            "signal_id": 1, "symbol": "EURUSD", "signal_type": "BUY", "timestamp": T,
            "price": "1.10450", "confidence": 0.8, "strategy_name": "ma_cross",
            "timeframe": "H1"
        }),
        EventKind::TradeOpened | EventKind::OrderFailed => json!({
            "ticket": 100, "symbol": "EURUSD", "trade_type": "BUY", "volume": "0.10",
            "entry_price": "1.10450", "entry_time": T
        }),
        EventKind::OrderFilled => json!({"ticket": 100, "entry_price": "1.1", "entry_time": T}),
        EventKind::OrderCancelled | EventKind::TradeModified => {
            json!({"ticket": 100, "time": T})
        }
        EventKind::TradeClosed => json!({
            "ticket": 100, "exit_price": "1.2", "exit_time": T, "profit": "-12.50"
        }),
        EventKind::SignalExecuted => json!({"signal_id": 1, "ticket": 100}),
        EventKind::AccountSnapshot => json!({
            "account_number": 12345, "server": "Demo-1", "broker": "Broker",
            "balance": "10000.00", "equity": "10012.50", "snapshot_time": T
        }),
    };
    let mut line = json!({"event": kind.name()});
    line.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    line
}

/// `minimal(kind)` with `key` set to `value` (`None` removes it).
fn changed(kind: EventKind, key: &str, value: Option<Value>) -> String {
    let mut line = minimal(kind);
    let object = line.as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(key.into(), value),
        None => object.remove(key),
    };
    line.to_string()
}

fn parsed(line: &str) -> Event {
    parse_event(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[track_caller]
fn assert_refused(line: &str, field: Option<&str>, reason_part: &str) {
    let error = parse_event(line).expect_err(line);
    assert_eq!(error.field.as_deref(), field, "{line}: {error}");
    assert!(
        error.reason.contains(reason_part),
        "{line}: {error:?} does not say {reason_part:?}"
    );
}

#[track_caller]
fn assert_field_refused(kind: EventKind, key: &str, value: Value, reason_part: &str) {
    assert_refused(&changed(kind, key, Some(value)), Some(key), reason_part);
}

fn written(event: &Event) -> String {
    let mut line = String::new();
    write_event(&mut line, event, None, None);
    line
}

fn decimal(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[test]
fn error_messages_name_the_line_and_the_field() {
    let bad = changed(EventKind::TradeOpened, "entry_price", Some(json!("-1.2")));
    let file = format!("{}\n\n{bad}\n", minimal(EventKind::Signal));
    let error = read_events(file.as_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 3, field \"entry_price\": must be a positive decimal, got \"-1.2\" (rule \"non-positive price or volume\")"
    );
    assert_eq!(
        (error.line, error.field.as_deref()),
        (3, Some("entry_price"))
    );
    let error = read_events("{\"event\":\n".as_bytes()).unwrap_err();
    assert!(error
        .to_string()
        .starts_with("line 1: malformed JSON at column"));
}

#[test]
fn field_names_in_messages_are_escaped_and_shortened() {
    let key = format!("a\"\n{}", "x".repeat(500));
    let line = format!(r#"{{"event":"signal",{}:1}}"#, Value::from(key.as_str()));
    let message = parse_event(&line).unwrap_err().to_string();
    assert!(message.starts_with("field \"a\\\"\\nxxx"), "{message}");
    assert!(message.len() < 150, "{message}");
}

#[test]
fn minimal_lines_take_the_contract_defaults() {
    let Event::TradeOpened(opened) = parsed(&minimal(EventKind::TradeOpened).to_string()) else {
        panic!("not a trade_opened")
    };
    assert_eq!(opened.status, OpenStatus::Open);
    assert_eq!(
        (opened.magic_number, opened.ml_enhanced, opened.ai_approved),
        (0, false, true)
    );
    assert_eq!(
        (opened.commission, opened.swap),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert_eq!(opened.account_number, None);
    let Event::OrderFailed(failed) = parsed(&changed(EventKind::OrderFailed, "x", None)) else {
        panic!("not an order_failed")
    };
    assert_eq!((failed.magic_number, failed.signal_id), (0, None));
    let Event::AccountSnapshot(snapshot) = parsed(&minimal(EventKind::AccountSnapshot).to_string())
    else {
        panic!("not an account_snapshot")
    };
    assert_eq!(
        (snapshot.total_volume, snapshot.open_positions),
        (Decimal::ZERO, 0)
    );
    let Event::Signal(signal) = parsed(&minimal(EventKind::Signal).to_string()) else {
        panic!("not a signal")
    };
    assert_eq!(
        (signal.ml_enhanced, signal.ml_agreed, signal.reason),
        (false, None, None)
    );
}

#[test]
fn null_means_absent_for_optional_fields() {
    for kind in EventKind::ALL {
        let absent = parsed(&minimal(kind).to_string());
        let required: Vec<String> = minimal(kind).as_object().unwrap().keys().cloned().collect();
        for name in field_names(kind)
            .iter()
            .filter(|n| !required.contains(&n.to_string()))
        {
            let line = changed(kind, name, Some(Value::Null));
            assert_eq!(parsed(&line), absent, "{line}");
        }
    }
}

#[test]
fn every_required_field_is_required() {
    for kind in EventKind::ALL {
        for key in minimal(kind)
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "event")
        {
            assert_refused(
                &changed(kind, key, None),
                Some(key),
                "missing required field",
            );
            assert_field_refused(kind, key, Value::Null, "required, got null");
        }
    }
}

#[test]
fn every_field_refuses_arrays_and_objects() {
    for kind in EventKind::ALL {
        for key in field_names(kind) {
            assert_field_refused(kind, key, json!([1]), "got [1]");
            assert_field_refused(kind, key, json!({"a": 1}), "got {\"a\":1}");
        }
    }
}

#[test]
fn the_event_name_is_required_and_known() {
    assert_refused("{}", Some("event"), "missing required field");
    assert_refused(
        r#"{"event":"trade_open","ticket":1}"#,
        Some("event"),
        "must be one of signal, trade_opened,",
    );
    assert_refused(r#"{"event":7}"#, Some("event"), "got 7");
    assert_refused(r#"{"event":"SIGNAL"}"#, Some("event"), "got \"SIGNAL\"");
}

#[test]
fn unknown_fields_are_refused_even_from_other_kinds() {
    let line = changed(EventKind::TradeOpened, "entry_prce", Some(json!("1.1")));
    assert_refused(
        &line,
        Some("entry_prce"),
        "unknown field for event \"trade_opened\"",
    );
    let line = changed(EventKind::Signal, "profit", Some(json!("1")));
    assert_refused(&line, Some("profit"), "unknown field");
    // An unknown field is reported before a missing one (a typo explains both).
    let line =
        changed(EventKind::OrderFilled, "entry_price", None).replace('}', r#","entry_prise":"1"}"#);
    assert_refused(&line, Some("entry_prise"), "unknown field");
}

#[test]
fn duplicate_keys_are_refused() {
    let line = r#"{"event":"signal_executed","signal_id":1,"ticket":2,"ticket":3}"#;
    assert_refused(line, Some("ticket"), "duplicate key");
    let line = r#"{"event":"signal_executed","event":"signal_executed","signal_id":1,"ticket":2}"#;
    assert_refused(line, Some("event"), "duplicate key");
}

#[test]
fn malformed_json_is_refused() {
    assert_refused("{\"event\":\"signal\",}", None, "malformed JSON at column");
    assert_refused("[]", None, "expected a JSON object");
    assert_refused("\"signal\"", None, "expected a JSON object");
    assert_refused(
        &format!("{} {{}}", minimal(EventKind::SignalExecuted)),
        None,
        "trailing",
    );
    assert_refused("{\"event\":NaN}", None, "malformed JSON");
}

#[test]
fn seq_and_recorded_at_are_checked_and_ignored() {
    let base = parsed(&minimal(EventKind::SignalExecuted).to_string());
    let line = changed(
        EventKind::SignalExecuted,
        "seq",
        Some(json!(18446744073709551615u64)),
    )
    .replace('}', r#","recorded_at":"2024-01-02T10:00:00.5+01:00"}"#);
    assert_eq!(parsed(&line), base);
    let line = changed(EventKind::SignalExecuted, "seq", Some(Value::Null));
    assert_eq!(parsed(&line), base);
    assert_field_refused(
        EventKind::SignalExecuted,
        "seq",
        json!(-1),
        "unsigned 64-bit",
    );
    assert_field_refused(
        EventKind::SignalExecuted,
        "seq",
        json!("1"),
        "unsigned 64-bit",
    );
    assert_field_refused(
        EventKind::SignalExecuted,
        "recorded_at",
        json!(5),
        "RFC 3339",
    );
    assert_field_refused(
        EventKind::SignalExecuted,
        "recorded_at",
        json!("2024-01-02 10:00:00"),
        "with an offset",
    );
}

#[test]
fn timestamps_need_an_offset_and_must_be_in_range() {
    let kind = EventKind::TradeClosed;
    assert_field_refused(
        kind,
        "exit_time",
        json!("2024-01-02T10:00:00"),
        "with an offset",
    );
    assert_field_refused(kind, "exit_time", json!("2262-04-12T00:00:00Z"), "outside");
    assert_field_refused(kind, "exit_time", json!("yesterday"), "RFC 3339");
    assert_field_refused(
        kind,
        "exit_time",
        json!(1704189600),
        "RFC 3339 timestamp string",
    );
    let line = changed(
        kind,
        "exit_time",
        Some(json!("2024-01-02T12:00:00.123456789+02:00")),
    );
    let Event::TradeClosed(closed) = parsed(&line) else {
        panic!("not trade_closed")
    };
    assert_eq!(
        closed.exit_time.to_string(),
        "2024-01-02T10:00:00.123456789Z"
    );
}

#[test]
fn decimals_are_exact_strings_or_numbers() {
    let kind = EventKind::TradeClosed;
    let raw = r#"{"event":"trade_closed","ticket":1,"exit_price":1.10450,"exit_time":"2024-01-02T10:00:00Z","profit":-2.5e-3}"#;
    let Event::TradeClosed(closed) = parsed(raw) else {
        panic!("not trade_closed")
    };
    assert_eq!(closed.exit_price.to_string(), "1.10450");
    assert_eq!(closed.profit.to_string(), "-0.0025");
    assert_field_refused(kind, "profit", json!("+1"), "must be a decimal like");
    assert_field_refused(kind, "profit", json!(".5"), "must be a decimal like");
    assert_field_refused(kind, "profit", json!("1e3"), "must be a decimal like");
    assert_field_refused(kind, "profit", json!(true), "must be a decimal");
    let forty_digits = "1234567890123456789012345678901234567890";
    assert_field_refused(
        kind,
        "profit",
        json!(forty_digits),
        "too many significant digits",
    );
    let raw = format!(
        r#"{{"event":"trade_closed","ticket":1,"exit_price":"1","exit_time":"{T}","profit":{forty_digits}}}"#
    );
    assert_refused(&raw, Some("profit"), "too many significant digits");
    assert_field_refused(
        kind,
        "pips",
        json!("0.00000000000000000000000000001"),
        "more than 28",
    );
    let line = changed(kind, "profit", Some(json!("-0.00")));
    let Event::TradeClosed(closed) = parsed(&line) else {
        panic!("not trade_closed")
    };
    assert_eq!(closed.profit.to_string(), "0.00");
}

#[test]
fn prices_and_volumes_must_be_positive() {
    let cases = [
        (EventKind::Signal, "price"),
        (EventKind::TradeOpened, "entry_price"),
        (EventKind::TradeOpened, "volume"),
        (EventKind::OrderFailed, "entry_price"),
        (EventKind::OrderFailed, "volume"),
        (EventKind::OrderFilled, "entry_price"),
        (EventKind::TradeClosed, "exit_price"),
    ];
    for (kind, key) in cases {
        assert_field_refused(
            kind,
            key,
            json!("0"),
            "must be a positive decimal, got \"0\"",
        );
        assert_field_refused(kind, key, json!("-0.00"), "must be a positive decimal");
        assert_field_refused(
            kind,
            key,
            json!(-1.5),
            "must be a positive decimal, got -1.5",
        );
    }
    // Other decimals may be zero or negative.
    parsed(&changed(
        EventKind::TradeOpened,
        "stop_loss",
        Some(json!("-1")),
    ));
    parsed(&changed(
        EventKind::AccountSnapshot,
        "equity",
        Some(json!("-5.00")),
    ));
}

#[test]
fn ratios_are_finite_numbers_in_the_unit_interval() {
    let cases = [
        (EventKind::Signal, "confidence"),
        (EventKind::Signal, "ml_confidence"),
        (EventKind::TradeOpened, "signal_confidence"),
        (EventKind::TradeOpened, "ml_confidence"),
    ];
    for (kind, key) in cases {
        for bad in [json!(1.01), json!(-0.5), json!("0.5")] {
            assert_field_refused(kind, key, bad, "must be a number between 0 and 1");
        }
        let huge: Value = serde_json::from_str("1e400").unwrap();
        assert_field_refused(kind, key, huge, "must be a number between 0 and 1");
        for good in [json!(0), json!(1), json!(0.25)] {
            parsed(&changed(kind, key, Some(good)));
        }
    }
}

#[test]
fn ids_are_unsigned_64_bit_integers() {
    let cases = [
        (EventKind::Signal, "signal_id"),
        (EventKind::TradeOpened, "ticket"),
        (EventKind::TradeOpened, "magic_number"),
        (EventKind::TradeOpened, "account_number"),
        (EventKind::TradeOpened, "signal_id"),
        (EventKind::AccountSnapshot, "account_number"),
        (EventKind::SignalExecuted, "ticket"),
    ];
    let too_big: Value = serde_json::from_str("18446744073709551616").unwrap();
    for (kind, key) in cases {
        for bad in [json!(-1), json!(1.5), json!("7"), too_big.clone()] {
            assert_field_refused(kind, key, bad, "must be an unsigned 64-bit integer");
        }
        parsed(&changed(kind, key, Some(json!(u64::MAX))));
    }
}

#[test]
fn open_positions_is_an_unsigned_32_bit_count() {
    let kind = EventKind::AccountSnapshot;
    assert_field_refused(
        kind,
        "open_positions",
        json!(-2),
        "negative open_positions, got -2",
    );
    assert_field_refused(
        kind,
        "open_positions",
        json!(4294967296u64),
        "unsigned 32-bit",
    );
    assert_field_refused(kind, "open_positions", json!(1.5), "unsigned 32-bit");
    parsed(&changed(kind, "open_positions", Some(json!(u32::MAX))));
}

#[test]
fn enums_are_case_insensitive_and_printed_upper_case() {
    let line = changed(EventKind::Signal, "signal_type", Some(json!("hOlD")));
    let event = parsed(&line);
    assert!(written(&event).contains(r#""signal_type":"HOLD""#));
    let line = changed(EventKind::TradeOpened, "status", Some(json!("pending")));
    assert!(written(&parsed(&line)).contains(r#""status":"PENDING""#));
    assert_field_refused(
        EventKind::TradeOpened,
        "status",
        json!("CLOSED"),
        "one of OPEN, PENDING",
    );
    assert_field_refused(
        EventKind::TradeOpened,
        "trade_type",
        json!("HOLD"),
        "one of BUY, SELL",
    );
    assert_field_refused(
        EventKind::Signal,
        "signal_type",
        json!(1),
        "one of BUY, SELL, HOLD",
    );
}

#[test]
fn booleans_are_json_booleans() {
    assert_field_refused(
        EventKind::Signal,
        "ml_enhanced",
        json!("true"),
        "must be true or false",
    );
    assert_field_refused(
        EventKind::TradeOpened,
        "ai_approved",
        json!(1),
        "must be true or false",
    );
}

#[test]
fn symbols_are_one_to_twelve_visible_characters() {
    let kind = EventKind::OrderFailed;
    assert_field_refused(kind, "symbol", json!(""), "must not be empty");
    assert_field_refused(kind, "symbol", json!("EUR USD"), "whitespace or control");
    assert_field_refused(
        kind,
        "symbol",
        json!("EURUSD\u{7}"),
        "whitespace or control",
    );
    assert_field_refused(
        kind,
        "symbol",
        json!("ABCDEFGHIJKLM"),
        "at most 12 characters",
    );
    parsed(&changed(kind, "symbol", Some(json!("ÄÖÜ€€€€€€€€€"))));
}

#[test]
fn texts_are_limited_in_characters() {
    let cases = [
        (EventKind::Signal, "strategy_name", STRATEGY_NAME_MAX_CHARS),
        (EventKind::Signal, "timeframe", TIMEFRAME_MAX_CHARS),
        (EventKind::Signal, "reason", FREE_TEXT_MAX_CHARS),
        (
            EventKind::TradeOpened,
            "strategy_name",
            STRATEGY_NAME_MAX_CHARS,
        ),
        (
            EventKind::TradeOpened,
            "execution_reason",
            FREE_TEXT_MAX_CHARS,
        ),
        (EventKind::TradeOpened, "signal_reason", FREE_TEXT_MAX_CHARS),
        (EventKind::TradeOpened, "ai_reasoning", FREE_TEXT_MAX_CHARS),
        (EventKind::TradeOpened, "comment", FREE_TEXT_MAX_CHARS),
        (EventKind::OrderCancelled, "reason", FREE_TEXT_MAX_CHARS),
        (
            EventKind::OrderFailed,
            "strategy_name",
            STRATEGY_NAME_MAX_CHARS,
        ),
        (EventKind::TradeClosed, "reason", FREE_TEXT_MAX_CHARS),
        (
            EventKind::SignalExecuted,
            "execution_reason",
            FREE_TEXT_MAX_CHARS,
        ),
        (EventKind::AccountSnapshot, "server", SERVER_MAX_CHARS),
        (EventKind::AccountSnapshot, "broker", SERVER_MAX_CHARS),
    ];
    for (kind, key, max) in cases {
        // Multi-byte characters: the limit counts characters, not bytes.
        parsed(&changed(kind, key, Some(json!("€".repeat(max)))));
        let expected = format!("must be at most {max} characters, got {}", max + 1);
        assert_field_refused(kind, key, json!("€".repeat(max + 1)), &expected);
        assert_field_refused(kind, key, json!(5), "must be a string");
    }
}

#[test]
fn trade_modified_levels_are_unchanged_removed_or_set() {
    let kind = EventKind::TradeModified;
    let line = changed(kind, "stop_loss", Some(json!("None")))
        .replace('}', r#","take_profit":"1.25000"}"#);
    let Event::TradeModified(modified) = parsed(&line) else {
        panic!("not trade_modified")
    };
    assert_eq!(modified.stop_loss, PriceUpdate::Remove);
    assert_eq!(modified.take_profit, PriceUpdate::Set(decimal("1.25000")));
    let event = Event::TradeModified(modified);
    assert!(written(&event).ends_with(r#""stop_loss":"none","take_profit":"1.25000"}"#));
    let Event::TradeModified(unchanged) = parsed(&minimal(kind).to_string()) else {
        panic!("not trade_modified")
    };
    assert_eq!(unchanged.stop_loss, PriceUpdate::Unchanged);
    let event = Event::TradeModified(unchanged);
    assert!(written(&event).ends_with(r#""stop_loss":null,"take_profit":null}"#));
    assert_field_refused(kind, "take_profit", json!("remove"), "or \"none\"");
}

fn full_trade_opened() -> TradeOpened {
    TradeOpened {
        ticket: 100,
        symbol: "EURUSD".into(),
        trade_type: TradeType::Sell,
        volume: decimal("0.10"),
        entry_price: decimal("1.10450"),
        entry_time: Timestamp::parse_rfc3339("2024-01-02T10:00:00.120Z").unwrap(),
        status: OpenStatus::Pending,
        stop_loss: Some(decimal("1.11000")),
        take_profit: None,
        magic_number: 42,
        account_number: Some(12345),
        strategy_name: Some("ma_cross".into()),
        signal_id: Some(7),
        execution_reason: Some("crossed \"up\"\n".into()),
        signal_confidence: Some(0.1),
        signal_reason: None,
        ml_enhanced: true,
        ml_confidence: Some(1.0),
        ai_approved: false,
        ai_reasoning: None,
        commission: decimal("-0.70"),
        swap: Decimal::ZERO,
        comment: Some("é".into()),
    }
}

#[test]
fn dump_lines_have_a_fixed_exact_form() {
    let event = Event::TradeOpened(full_trade_opened());
    let mut line = String::new();
    let recorded = Timestamp::parse_rfc3339("2024-01-02T10:00:01Z").unwrap();
    write_event(&mut line, &event, Some(9), Some(recorded));
    let expected = concat!(
        r#"{"event":"trade_opened","seq":9,"recorded_at":"2024-01-02T10:00:01Z","#,
        r#""ticket":100,"symbol":"EURUSD","trade_type":"SELL","volume":"0.10","#,
        r#""entry_price":"1.10450","entry_time":"2024-01-02T10:00:00.12Z","status":"PENDING","#,
        r#""stop_loss":"1.11000","take_profit":null,"magic_number":42,"account_number":12345,"#,
        r#""strategy_name":"ma_cross","signal_id":7,"execution_reason":"crossed \"up\"\n","#,
        r#""signal_confidence":0.1,"signal_reason":null,"ml_enhanced":true,"ml_confidence":1.0,"#,
        r#""ai_approved":false,"ai_reasoning":null,"commission":"-0.70","swap":"0","#,
        r#""comment":"é"}"#
    );
    assert_eq!(line, expected);
    assert_eq!(parsed(&line), event);
}

#[test]
fn dump_lines_print_every_field_in_field_names_order() {
    for kind in EventKind::ALL {
        let event = parsed(&minimal(kind).to_string());
        let mut line = String::new();
        write_event(&mut line, &event, Some(1), Some(Timestamp::MIN));
        let object = Object::parse(&line).unwrap();
        let keys: Vec<&str> = object.keys().collect();
        let mut expected = vec!["event", "seq", "recorded_at"];
        expected.extend(field_names(kind));
        assert_eq!(keys, expected);
        assert_eq!(parsed(&line), event);
        assert_eq!(written(&parsed(&written(&event))), written(&event));
    }
}

#[test]
fn value_helpers_keep_scale_and_trim_fractions() {
    assert_eq!(decimal_to_json(&decimal("1.10450")), json!("1.10450"));
    assert_eq!(
        decimal_to_json(&decimal("-0.0000000000000000000000000001")),
        json!("-0.0000000000000000000000000001")
    );
    let t = Timestamp::parse_rfc3339("2024-01-02T10:00:00.500+00:00").unwrap();
    assert_eq!(timestamp_to_json(t), json!("2024-01-02T10:00:00.5Z"));
    // Never null (absent): a non-finite ratio of an old journal is shown as what it is.
    assert_eq!(ratio_to_json(f64::NAN), json!("NaN"));
    assert_eq!(ratio_to_json(f64::INFINITY), json!("Infinity"));
    assert_eq!(ratio_to_json(f64::NEG_INFINITY), json!("-Infinity"));
    assert_eq!(ratio_to_json(0.5).to_string(), "0.5");
    let mut out = String::new();
    write_object(&mut out, &[("z", json!(1)), ("a\"", Value::Null)]);
    assert_eq!(out, r#"{"z":1,"a\"":null}"#);
}

#[test]
fn crlf_blank_lines_and_empty_files_are_accepted() {
    assert_eq!(read_events(&b""[..]), Ok(vec![]));
    assert_eq!(read_events(&b"\n \t\r\n\n"[..]), Ok(vec![]));
    let line = minimal(EventKind::SignalExecuted).to_string();
    let file = format!("\r\n{line}\r\n  \n{line}");
    let events = read_events(file.as_bytes()).unwrap();
    let numbers: Vec<u64> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [2, 4]);
}

#[test]
fn a_byte_order_mark_is_refused_on_its_line() {
    let line = minimal(EventKind::SignalExecuted).to_string();
    let file = format!("\u{feff}{line}\n");
    let error = read_events(file.as_bytes()).unwrap_err();
    assert_eq!((error.line, error.field.as_deref()), (1, None));
    assert!(error.reason.contains("byte-order mark"), "{error}");
    let file = format!("{line}\n\u{feff}{line}\n");
    assert_eq!(read_events(file.as_bytes()).unwrap_err().line, 2);
}

#[test]
fn invalid_utf8_is_refused_with_its_line() {
    let mut file = format!("{}\n", minimal(EventKind::SignalExecuted)).into_bytes();
    file.extend_from_slice(b"{\"event\":\"sig\xffnal\"}\n");
    let error = read_events(&file[..]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2: invalid UTF-8 at byte 14 of the line"
    );
}

/// A reader of `len` bytes `x` followed by `rest`, generated on the fly.
fn long_line_then(len: u64, rest: &str) -> impl BufRead + '_ {
    io::BufReader::new(io::repeat(b'x').take(len).chain(rest.as_bytes()))
}

#[test]
fn a_100_mb_line_is_refused_and_reading_goes_on() {
    let line = format!("\n{}\n", minimal(EventKind::SignalExecuted));
    let mut reader = EventReader::new(long_line_then(100 << 20, &line));
    let error = reader.next().unwrap().unwrap_err();
    assert_eq!(error.to_string(), "line 1: line longer than 1048576 bytes");
    assert_eq!(reader.next().unwrap().unwrap().0, 2);
    assert!(reader.next().is_none());
}

#[test]
fn a_line_at_the_limit_is_read() {
    let line = minimal(EventKind::SignalExecuted).to_string();
    let padding = " ".repeat(MAX_LINE_BYTES - line.len());
    let file = format!("{line}{padding}\r\n{line}{padding} \n");
    let mut reader = EventReader::new(file.as_bytes());
    assert_eq!(reader.next().unwrap().unwrap().0, 1);
    assert_eq!(reader.next().unwrap().unwrap_err().line, 2);
}

#[test]
fn deeply_nested_values_are_refused_cleanly() {
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let line = changed(EventKind::SignalExecuted, "ticket", None)
        .replace('}', &format!(r#","ticket":{nested}}}"#));
    assert_refused(
        &line,
        Some("ticket"),
        "must be an unsigned 64-bit integer, got [[[[",
    );
    let open = format!(r#"{{"event":{}"#, "{\"a\":".repeat(depth));
    assert_refused(&open, None, "malformed JSON");
    let top = "[".repeat(depth);
    assert_refused(&top, None, "expected a JSON object");
}

/// A reader that fails after its first line.
struct Failing(bool);

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::replace(&mut self.0, true) {
            return Err(io::Error::other("disk on fire"));
        }
        let line = format!("{}\n", minimal(EventKind::SignalExecuted));
        buf[..line.len()].copy_from_slice(line.as_bytes());
        Ok(line.len())
    }
}

#[test]
fn read_errors_name_the_line_and_stop_the_reader() {
    let mut reader = EventReader::new(io::BufReader::new(Failing(false)));
    assert!(reader.next().unwrap().is_ok());
    let error = reader.next().unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2: cannot read the input: disk on fire"
    );
    assert!(reader.next().is_none());
}

#[test]
fn read_events_stops_at_the_first_refused_line() {
    let good = minimal(EventKind::SignalExecuted).to_string();
    let file = format!("{good}\n{{}}\n[]\n");
    assert_eq!(read_events(file.as_bytes()).unwrap_err().line, 2);
    let errors: Vec<u64> = EventReader::new(file.as_bytes())
        .filter_map(|item| item.err().map(|e| e.line))
        .collect();
    assert_eq!(errors, [2, 3]);
}
