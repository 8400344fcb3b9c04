//! A journal written before the library checked the contract's stateless rules may hold events
//! that break them. It still opens and replays, `dump` shows those events as they are, `import`
//! refuses the dump, and `verify` reports each one by seq as a contract violation: its own line,
//! its own `--json` field and exit code 5, apart from damage (2).

mod cli_support;

use std::path::Path;

use cli_support::*;
use rust_decimal::Decimal;
use serde_json::Value;
use tradeledger::ledger::Ledger;
use tradeledger::model::contract::Rule;
use tradeledger::model::event::*;
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::{storage::verify, tools::sample};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_nanos(seconds * 1_000_000_000)
}

/// Writes, through the storage layer (which checks no rule, as every append path did before),
/// five events of which seq 2, 3 and 4 break a stateless rule.
fn legacy_journal(dir: &Path) {
    let Event::Signal(mut nan) = sample::signal(2, t(2)) else {
        unreachable!()
    };
    nan.confidence = f64::NAN;
    let Event::TradeOpened(mut negative) = sample::trade_opened(3, t(3)) else {
        unreachable!()
    };
    negative.signal_id = None;
    negative.volume = Decimal::from(-5);
    let Event::Signal(mut empty) = sample::signal(4, t(4)) else {
        unreachable!()
    };
    empty.symbol = String::new();
    let events = [
        sample::signal(1, t(1)),
        Event::Signal(nan),
        Event::TradeOpened(negative),
        Event::Signal(empty),
        sample::account_snapshot(7, t(5), "1000"),
    ];
    let journal = Journal::create(dir, &JournalOptions::default()).unwrap();
    journal.append(&events).unwrap();
    journal.close().unwrap();
}

const EXPECTED: [(u64, EventKind, Rule, &str); 3] = [
    (2, EventKind::Signal, Rule::RatioOutOfRange, "confidence"),
    (3, EventKind::TradeOpened, Rule::NotPositive, "volume"),
    (4, EventKind::Signal, Rule::InvalidSymbol, "symbol"),
];

#[test]
fn verify_reports_each_violation_by_seq_apart_from_damage() {
    let temp = tempfile::tempdir().unwrap();
    legacy_journal(temp.path());
    let report = verify::verify(temp.path()).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.contract_violation_count, 3);
    let found: Vec<_> = report
        .contract_violations
        .iter()
        .map(|v| (v.seq, v.kind, v.violation.rule, v.violation.field))
        .collect();
    assert_eq!(found, EXPECTED);

    let dir = path(temp.path());
    let output = run(&["verify", dir]);
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("status    intact"), "{text}");
    assert!(text.contains("contract  3 event(s)"), "{text}");
    assert!(
        text.contains(
            "seq 2 (signal): rule \"ratio outside [0, 1]\", field \"confidence\": must be a number between 0 and 1, got \"NaN\""
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "seq 3 (trade_opened): rule \"non-positive price or volume\", field \"volume\""
        ),
        "{text}"
    );

    let output = run(&["verify", dir, "--json"]);
    assert_eq!(output.status.code(), Some(5));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["status"], "intact");
    assert_eq!(value["contract_violations"]["count"], 3);
    let events = value["contract_violations"]["events"].as_array().unwrap();
    let listed: Vec<(u64, &str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["event"].as_str().unwrap(),
                e["rule"].as_str().unwrap(),
                e["field"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(u64, &str, &str, &str)> = EXPECTED
        .iter()
        .map(|(seq, kind, rule, field)| (*seq, kind.name(), rule.name(), *field))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn an_intact_journal_verifies_without_the_optional_field() {
    let temp = tempfile::tempdir().unwrap();
    let journal = Journal::create(temp.path(), &JournalOptions::default()).unwrap();
    journal.append(&sample::signal_and_trade(1, t(1))).unwrap();
    journal.close().unwrap();
    let value = json(&["verify", path(temp.path())]);
    assert_eq!(value["status"], "intact");
    assert!(value.get("contract_violations").is_none(), "{value}");
    assert!(!ok(&["verify", path(temp.path())]).contains("contract"));
}

#[test]
fn the_journal_opens_replays_and_dumps_faithfully_and_import_refuses_the_dump() {
    let temp = tempfile::tempdir().unwrap();
    legacy_journal(temp.path());
    let ledger = Ledger::open(temp.path(), &OpenMode::default()).unwrap();
    assert_eq!(ledger.state().head_seq(), 5);
    ledger.close().unwrap();

    let dump = ok(&["dump", path(temp.path())]);
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[1].contains(r#""confidence":"NaN""#), "{}", lines[1]);
    assert!(lines[2].contains(r#""volume":"-5""#), "{}", lines[2]);
    assert!(lines[3].contains(r#""symbol":"""#), "{}", lines[3]);

    let fresh = tempfile::tempdir().unwrap();
    let target = fresh.path().join("journal");
    let error = {
        let output = run_with_stdin(&["import", path(&target), "-"], &dump);
        assert_eq!(output.status.code(), Some(1));
        stderr(&output)
    };
    assert!(
        error.contains(
            "line 2, field \"confidence\": must be a number between 0 and 1, got \"NaN\" (rule \"ratio outside [0, 1]\")"
        ),
        "{error}"
    );
    assert!(!target.exists(), "a refused import creates no journal");
}

/// Violations in every segment of a journal of many, which `verify` decodes on several
/// threads: the first 1,000 are listed in seq order, all of them are counted, and the figures
/// of the records are those of the whole journal.
#[test]
fn violations_across_segments_are_listed_in_seq_order_and_all_counted() {
    let temp = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        segment_size_bytes: 64 << 10,
        ..JournalOptions::default()
    };
    let journal = Journal::create(temp.path(), &options).unwrap();
    let breaks = |n: u64| n.is_multiple_of(3);
    for n in 1..=4000u64 {
        let Event::Signal(mut signal) = sample::signal(n, t(n as i64)) else {
            unreachable!()
        };
        if breaks(n) {
            signal.confidence = f64::NAN;
        }
        journal.append(&[Event::Signal(signal)]).unwrap();
    }
    journal.close().unwrap();
    let segments = tradeledger::storage::reader::segment_paths(temp.path()).unwrap();
    assert!(segments.len() >= 6, "{} segments", segments.len());
    let report = verify::verify(temp.path()).unwrap();
    assert_eq!(report.records, 4000);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(4000)));
    assert_eq!(report.contract_violation_count, 1333);
    let listed: Vec<u64> = report.contract_violations.iter().map(|v| v.seq).collect();
    let expected: Vec<u64> = (1..=4000).filter(|&n| breaks(n)).take(1000).collect();
    assert_eq!(listed, expected);
}
