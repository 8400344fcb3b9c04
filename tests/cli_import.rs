//! `import` through the CLI: every §3 rule family is refused with exit code 1, an error that
//! names the line and the field, and the journal left byte for byte as it was.

mod cli_support;

use std::path::Path;

use cli_support::*;

const BASE: &[&str] = &[
    r#"{"event":"signal","signal_id":1,"symbol":"EURUSD","signal_type":"BUY","timestamp":"2024-01-02T08:00:00Z","price":"1.10450","confidence":0.72,"strategy_name":"ma","timeframe":"H1"}"#,
    r#"{"event":"trade_opened","ticket":1001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"1.10450","entry_time":"2024-01-02T08:00:05Z","signal_id":1}"#,
    r#"{"event":"trade_opened","ticket":2001,"symbol":"EURUSD","trade_type":"SELL","volume":"0.10","entry_price":"1.10450","entry_time":"2024-01-02T09:00:00Z"}"#,
    r#"{"event":"trade_closed","ticket":2001,"exit_price":"1.10400","exit_time":"2024-01-02T10:00:00Z","profit":"5.00"}"#,
];

/// A valid first line, so that a refusal on line 2 shows that valid lines are not kept either.
const VALID: &str = r#"{"event":"signal","signal_id":7,"symbol":"EURUSD","signal_type":"SELL","timestamp":"2024-01-03T08:00:00Z","price":"1.1","confidence":0.5,"strategy_name":"ma","timeframe":"H1"}"#;

fn base_journal() -> (tempfile::TempDir, std::path::PathBuf) {
    let (temp, dir) = journal_dir();
    let base = write_file(temp.path(), "base.jsonl", BASE);
    ok(&["import", path(&dir), path(&base)]);
    (temp, dir)
}

/// Imports `VALID` then `bad`; the import must fail naming line 2 and each of `expected`.
fn refused(bad: &str, expected: &[&str]) {
    let (temp, dir) = base_journal();
    let before = journal_files(&dir);
    let file = write_file(temp.path(), "bad.jsonl", &[VALID, bad]);
    let error = fails(&["import", path(&dir), path(&file)], 1);
    assert!(error.contains("bad.jsonl: line 2"), "{error}");
    for text in expected {
        assert!(error.contains(text), "expected {text:?} in: {error}");
    }
    assert!(error.contains("nothing was imported"), "{error}");
    assert_eq!(
        journal_files(&dir),
        before,
        "a refused import changed the journal"
    );
    assert_eq!(json(&["execution-rate", path(&dir)])["total_signals"], 1);
}

#[test]
fn a_ticket_already_in_the_journal_is_refused() {
    refused(
        r#"{"event":"trade_opened","ticket":1001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"1.1","entry_time":"2024-01-03T08:00:05Z"}"#,
        &[r#"field "ticket""#, "duplicate ticket", "1001"],
    );
}

#[test]
fn a_ticket_twice_in_the_file_is_refused_on_its_second_line() {
    let (temp, dir) = base_journal();
    let before = journal_files(&dir);
    let opened = r#"{"event":"trade_opened","ticket":3001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"1.1","entry_time":"2024-01-03T08:00:05Z"}"#;
    let file = write_file(temp.path(), "twice.jsonl", &[opened, "", opened]);
    let error = fails(&["import", path(&dir), path(&file)], 1);
    // Blank lines count: the second copy is on line 3.
    assert!(error.contains(r#"line 3, field "ticket""#), "{error}");
    assert_eq!(journal_files(&dir), before);
}

#[test]
fn unknown_references_are_refused() {
    refused(
        r#"{"event":"trade_closed","ticket":9999,"exit_price":"1.1","exit_time":"2024-01-03T10:00:00Z","profit":"1"}"#,
        &[r#"field "ticket""#, "unknown ticket"],
    );
    refused(
        r#"{"event":"signal_executed","signal_id":99,"ticket":1001}"#,
        &[r#"field "signal_id""#, "unknown signal_id"],
    );
}

#[test]
fn illegal_status_changes_are_refused() {
    // Closing a CLOSED trade, filling an OPEN one, executing an executed signal.
    refused(
        r#"{"event":"trade_closed","ticket":2001,"exit_price":"1.1","exit_time":"2024-01-03T10:00:00Z","profit":"1"}"#,
        &[r#"field "ticket""#, "illegal status change", "CLOSED"],
    );
    refused(
        r#"{"event":"order_filled","ticket":1001,"entry_price":"1.1","entry_time":"2024-01-03T08:00:05Z"}"#,
        &[r#"field "ticket""#, "illegal status change"],
    );
    refused(
        r#"{"event":"signal_executed","signal_id":1,"ticket":1001}"#,
        &[r#"field "signal_id""#, "already executed"],
    );
}

#[test]
fn an_exit_before_the_entry_is_refused() {
    refused(
        r#"{"event":"trade_closed","ticket":1001,"exit_price":"1.1","exit_time":"2024-01-02T08:00:00Z","profit":"1"}"#,
        &[r#"field "exit_time""#, "earlier than entry_time"],
    );
}

#[test]
fn a_non_positive_price_is_refused() {
    refused(
        r#"{"event":"trade_opened","ticket":3001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"0","entry_time":"2024-01-03T08:00:05Z"}"#,
        &[r#"field "entry_price""#, "positive"],
    );
}

#[test]
fn a_confidence_out_of_range_is_refused() {
    refused(
        r#"{"event":"signal","signal_id":8,"symbol":"EURUSD","signal_type":"SELL","timestamp":"2024-01-03T08:00:00Z","price":"1.1","confidence":1.5,"strategy_name":"ma","timeframe":"H1"}"#,
        &[r#"field "confidence""#, "1.5"],
    );
}

#[test]
fn an_unknown_field_is_refused() {
    refused(
        r#"{"event":"signal_executed","signal_id":1,"ticket":1001,"colour":"red"}"#,
        &[r#"field "colour""#, "unknown field"],
    );
}

#[test]
fn a_duplicate_key_is_refused() {
    refused(
        r#"{"event":"signal_executed","signal_id":1,"ticket":1001,"ticket":1001}"#,
        &[r#"field "ticket""#, "duplicate key"],
    );
}

#[test]
fn malformed_json_is_refused() {
    refused(r#"{"event":"signal_executed","#, &["malformed JSON"]);
}

#[test]
fn a_timestamp_without_an_offset_is_refused() {
    refused(
        r#"{"event":"trade_opened","ticket":3001,"symbol":"EURUSD","trade_type":"BUY","volume":"0.10","entry_price":"1.1","entry_time":"2024-01-03T08:00:05"}"#,
        &[r#"field "entry_time""#, "offset"],
    );
}

#[test]
fn a_refused_file_does_not_create_the_journal() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("never");
    let file = write_file(temp.path(), "bad.jsonl", &[VALID, BASE[3]]);
    let error = fails(&["import", path(&dir), path(&file)], 1);
    assert!(error.contains(r#"line 2, field "ticket""#), "{error}");
    assert!(!dir.exists(), "a refused import created {}", dir.display());
}

#[test]
fn an_empty_file_is_accepted_and_appends_nothing() {
    let (temp, dir) = base_journal();
    let before = journal_files(&dir);
    let empty = write_file(temp.path(), "empty.jsonl", &[""]);
    let out = ok(&["import", path(&dir), path(&empty)]);
    assert!(out.contains("nothing was imported"), "{out}");
    assert_eq!(journal_files(&dir), before);
}

#[test]
fn standard_input_lower_case_enums_and_number_decimals_are_accepted() {
    let (_temp, dir) = base_journal();
    let lines = [
        r#"{"event":"trade_opened","ticket":3001,"symbol":"EURUSD","trade_type":"buy","status":"pending","volume":0.10,"entry_price":1.10500,"entry_time":"2024-01-03T08:00:00+02:00"}"#,
        r#"{"event":"order_filled","ticket":3001,"entry_price":"1.10510","entry_time":"2024-01-03T07:00:00Z"}"#,
    ];
    let output = run_with_stdin(&["import", path(&dir), "-", "--json"], &lines.join("\n"));
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["appended"], 2);
    assert_eq!(report["first_seq"], 5);
    assert_eq!(report["events"]["order_filled"], 1);
    let trade = json(&["trades", path(&dir), "--ticket", "3001"]);
    assert_eq!(trade["status"], "OPEN");
    assert_eq!(trade["trade_type"], "BUY");
    // The number 0.10 keeps its scale; the fill replaced the price and time (+02:00 → UTC).
    assert_eq!(trade["volume"], "0.10");
    assert_eq!(trade["entry_price"], "1.10510");
    assert_eq!(trade["entry_time"], "2024-01-03T07:00:00Z");
}

#[test]
fn a_missing_input_file_is_an_input_error() {
    let (temp, dir) = journal_dir();
    let error = fails(
        &["import", path(&dir), path(&temp.path().join("nope.jsonl"))],
        1,
    );
    assert!(error.contains("nope.jsonl"), "{error}");
    assert!(!Path::new(&dir).exists());
}

/// An interrupt (SIGINT, as Ctrl-C sends) while `import` still reads its input ends it with
/// exit code 130 and says that nothing was imported; the journal is as it was.
#[test]
fn an_import_interrupted_while_reading_says_nothing_was_imported() {
    use std::io::Write;
    let (_temp, dir) = base_journal();
    let before = journal_files(&dir);
    let mut import = std::process::Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["import", path(&dir), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // More than a pipe holds: once written, the import is reading, so it listens for
    // interrupts (it starts listening before it reads).
    let mut lines = String::new();
    let mut n = 1000;
    while lines.len() < 256 << 10 {
        let time = tradeledger::Timestamp::from_nanos(n as i64 * 1_000_000_000);
        let event = tradeledger::tools::sample::signal(n, time);
        tradeledger::model::interchange::write_event(&mut lines, &event, None, None);
        lines.push('\n');
        n += 1;
    }
    let mut stdin = import.stdin.take().unwrap();
    stdin.write_all(lines.as_bytes()).unwrap();
    let pid = import.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(sent.unwrap().success());
    let output = import.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("interrupted: nothing was imported"), "{said}");
    assert!(
        journal_files(&dir) == before,
        "an interrupted import changed the journal"
    );
}
