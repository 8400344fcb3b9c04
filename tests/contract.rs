//! The stateless rules of `docs/INTERCHANGE.md` §3 hold on every path into a journal:
//! `Ledger::append`, `JournalHandle::append` and `try_append` refuse each event `import`
//! refuses, naming the same rule and field, with the index of the event in its batch, and
//! leave the journal exactly as it was.

use std::path::Path;

use rust_decimal::Decimal;
use tradeledger::ledger::handle::{FailurePolicy, JournalHandle};
use tradeledger::ledger::{Ledger, LedgerError};
use tradeledger::model::contract::{validate, Rule};
use tradeledger::model::event::*;
use tradeledger::model::interchange::{parse_event, write_event};
use tradeledger::projection::Violation;
use tradeledger::storage::journal::{JournalOptions, OpenMode};
use tradeledger::{tools::sample, Durability, JournalReader};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_nanos(seconds * 1_000_000_000)
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn signal(change: impl FnOnce(&mut Signal)) -> Event {
    let Event::Signal(mut e) = sample::signal(900, t(10)) else {
        unreachable!()
    };
    change(&mut e);
    Event::Signal(e)
}

fn trade(change: impl FnOnce(&mut TradeOpened)) -> Event {
    let Event::TradeOpened(mut e) = sample::trade_opened(900, t(10)) else {
        unreachable!()
    };
    e.signal_id = None;
    change(&mut e);
    Event::TradeOpened(e)
}

fn failed(change: impl FnOnce(&mut OrderFailed)) -> Event {
    let mut e = OrderFailed::new(
        901,
        "EURUSD",
        TradeType::Buy,
        dec("0.10"),
        dec("1.1"),
        t(10),
    );
    change(&mut e);
    Event::OrderFailed(e)
}

fn snapshot(change: impl FnOnce(&mut AccountSnapshot)) -> Event {
    let Event::AccountSnapshot(mut e) = sample::account_snapshot(7, t(10), "1000") else {
        unreachable!()
    };
    change(&mut e);
    Event::AccountSnapshot(e)
}

/// One event breaking each stateless rule in each field it covers, with the rule and field a
/// refusal must name. Every event here is valid but for that one field (checked below).
fn violations() -> Vec<(Event, Rule, &'static str)> {
    let long = |chars: usize| "x".repeat(chars);
    vec![
        (
            signal(|e| e.confidence = f64::NAN),
            Rule::RatioOutOfRange,
            "confidence",
        ),
        (
            signal(|e| e.confidence = 7.0),
            Rule::RatioOutOfRange,
            "confidence",
        ),
        (
            signal(|e| e.confidence = -0.0001),
            Rule::RatioOutOfRange,
            "confidence",
        ),
        (
            signal(|e| e.ml_confidence = Some(-0.5)),
            Rule::RatioOutOfRange,
            "ml_confidence",
        ),
        (
            trade(|e| e.signal_confidence = Some(f64::INFINITY)),
            Rule::RatioOutOfRange,
            "signal_confidence",
        ),
        (
            trade(|e| e.ml_confidence = Some(f64::NEG_INFINITY)),
            Rule::RatioOutOfRange,
            "ml_confidence",
        ),
        (trade(|e| e.volume = dec("-5")), Rule::NotPositive, "volume"),
        (
            signal(|e| e.price = dec("-1.1")),
            Rule::NotPositive,
            "price",
        ),
        (
            trade(|e| e.entry_price = dec("0")),
            Rule::NotPositive,
            "entry_price",
        ),
        (
            failed(|e| e.volume = dec("0.00")),
            Rule::NotPositive,
            "volume",
        ),
        (
            failed(|e| e.entry_price = dec("-0.1")),
            Rule::NotPositive,
            "entry_price",
        ),
        (
            Event::OrderFilled(OrderFilled::new(1, Decimal::ZERO, t(20))),
            Rule::NotPositive,
            "entry_price",
        ),
        (
            Event::TradeClosed(TradeClosed::new(1, dec("-2"), t(20), dec("1"))),
            Rule::NotPositive,
            "exit_price",
        ),
        (
            signal(|e| e.symbol = String::new()),
            Rule::InvalidSymbol,
            "symbol",
        ),
        (
            trade(|e| e.symbol = "EUR USD AND A FEW MORE WORD".into()),
            Rule::InvalidSymbol,
            "symbol",
        ),
        (
            failed(|e| e.symbol = "EUR\tUSD".into()),
            Rule::InvalidSymbol,
            "symbol",
        ),
        (
            signal(|e| e.strategy_name = long(5000)),
            Rule::TextTooLong,
            "strategy_name",
        ),
        (
            signal(|e| e.timeframe = long(11)),
            Rule::TextTooLong,
            "timeframe",
        ),
        (
            signal(|e| e.reason = Some(long(4097))),
            Rule::TextTooLong,
            "reason",
        ),
        (
            trade(|e| e.comment = Some(long(5000))),
            Rule::TextTooLong,
            "comment",
        ),
        (
            trade(|e| e.strategy_name = Some(long(51))),
            Rule::TextTooLong,
            "strategy_name",
        ),
        (
            trade(|e| e.execution_reason = Some(long(4097))),
            Rule::TextTooLong,
            "execution_reason",
        ),
        (
            trade(|e| e.signal_reason = Some(long(4097))),
            Rule::TextTooLong,
            "signal_reason",
        ),
        (
            trade(|e| e.ai_reasoning = Some(long(4097))),
            Rule::TextTooLong,
            "ai_reasoning",
        ),
        (
            failed(|e| e.reason = Some(long(4097))),
            Rule::TextTooLong,
            "reason",
        ),
        (
            failed(|e| e.strategy_name = Some(long(51))),
            Rule::TextTooLong,
            "strategy_name",
        ),
        (
            Event::OrderCancelled({
                let mut cancel = OrderCancelled::new(1, t(20));
                cancel.reason = Some(long(4097));
                cancel
            }),
            Rule::TextTooLong,
            "reason",
        ),
        (
            Event::SignalExecuted({
                let mut link = SignalExecuted::new(1, 1);
                link.execution_reason = Some(long(4097));
                link
            }),
            Rule::TextTooLong,
            "execution_reason",
        ),
        (
            snapshot(|e| e.server = long(51)),
            Rule::TextTooLong,
            "server",
        ),
        (
            snapshot(|e| e.broker = long(51)),
            Rule::TextTooLong,
            "broker",
        ),
    ]
}

fn options(durability: Durability) -> JournalOptions {
    JournalOptions {
        durability,
        segment_size_bytes: 1 << 20,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    }
}

/// A ledger holding signal 1 and a PENDING order with ticket 1, so the events above that
/// refer to them pass the state's rules, and their only fault is the stateless one.
fn ledger(dir: &Path, durability: Durability) -> Ledger {
    let ledger = Ledger::create(dir, &options(durability)).unwrap();
    let pending = trade(|e| {
        e.ticket = 1;
        e.status = OpenStatus::Pending;
    });
    ledger.append(&[sample::signal(1, t(1)), pending]).unwrap();
    ledger
}

/// The rule and field import names for the event's JSON line (the line `dump` would print).
fn import_refusal(event: &Event) -> Option<(Rule, String)> {
    let mut line = String::new();
    write_event(&mut line, event, None, None);
    let error = parse_event(&line).err()?;
    Some((error.rule.expect("a stateless rule"), error.field.unwrap()))
}

/// Fixes the one broken field back, to show the event's only fault is that field.
fn repaired(event: &Event, field: &str) -> Event {
    let mut event = event.clone();
    let ok_text = || Some("ok".to_string());
    match &mut event {
        Event::Signal(e) => match field {
            "confidence" => e.confidence = 0.5,
            "ml_confidence" => e.ml_confidence = None,
            "price" => e.price = dec("1"),
            "symbol" => e.symbol = "EURUSD".into(),
            "strategy_name" => e.strategy_name = "s".into(),
            "timeframe" => e.timeframe = "H1".into(),
            "reason" => e.reason = ok_text(),
            _ => unreachable!("{field}"),
        },
        Event::TradeOpened(e) => match field {
            "signal_confidence" => e.signal_confidence = None,
            "ml_confidence" => e.ml_confidence = None,
            "volume" => e.volume = dec("1"),
            "entry_price" => e.entry_price = dec("1"),
            "symbol" => e.symbol = "EURUSD".into(),
            "comment" => e.comment = ok_text(),
            "strategy_name" => e.strategy_name = ok_text(),
            "execution_reason" => e.execution_reason = ok_text(),
            "signal_reason" => e.signal_reason = ok_text(),
            "ai_reasoning" => e.ai_reasoning = ok_text(),
            _ => unreachable!("{field}"),
        },
        Event::OrderFailed(e) => match field {
            "volume" => e.volume = dec("1"),
            "entry_price" => e.entry_price = dec("1"),
            "symbol" => e.symbol = "EURUSD".into(),
            "reason" => e.reason = ok_text(),
            "strategy_name" => e.strategy_name = ok_text(),
            _ => unreachable!("{field}"),
        },
        Event::OrderFilled(e) => e.entry_price = dec("1"),
        Event::TradeClosed(e) => e.exit_price = dec("1"),
        Event::OrderCancelled(e) => e.reason = ok_text(),
        Event::SignalExecuted(e) => e.execution_reason = ok_text(),
        Event::AccountSnapshot(e) => match field {
            "server" => e.server = "s".into(),
            "broker" => e.broker = "b".into(),
            _ => unreachable!("{field}"),
        },
        Event::TradeModified(_) => unreachable!(),
    }
    event
}

fn assert_names(violation: &Violation, rule: Rule, field: &str, event: &Event) {
    assert_eq!(
        (violation.rule, violation.field),
        (rule, field),
        "{event:?}: {violation}"
    );
    assert!(
        violation
            .to_string()
            .contains(&format!("rule \"{}\"", rule.name())),
        "{violation}"
    );
}

/// The journal in `dir` holds exactly `records` records, read from disk by a fresh reader.
fn assert_records_on_disk(dir: &Path, records: u64) {
    let reader = JournalReader::open(dir).unwrap();
    assert_eq!(reader.head_seq().unwrap(), records);
    let read = reader.records(1).count() as u64;
    assert_eq!(read, records);
}

#[test]
fn each_violation_is_refused_by_import_and_passes_once_repaired() {
    for (event, rule, field) in violations() {
        assert_eq!(
            import_refusal(&event),
            Some((rule, field.to_string())),
            "{event:?}"
        );
        let repaired = repaired(&event, field);
        assert_eq!(import_refusal(&repaired), None, "{repaired:?}");
        assert_eq!(validate(&repaired), Ok(()), "{repaired:?}");
    }
}

#[test]
fn ledger_append_refuses_each_violation_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(dir.path(), Durability::Sync);
    let head = ledger.journal().head_seq();
    for (event, rule, field) in violations() {
        // The violating event last, after two valid ones: the whole batch is refused.
        let batch = vec![
            sample::account_snapshot(7, t(5), "100"),
            sample::signal(50, t(5)),
            event.clone(),
        ];
        match ledger.append(&batch) {
            Err(LedgerError::Rejected { index, violation }) => {
                assert_eq!(index, 2, "{violation}");
                assert_names(&violation, rule, field, &event);
            }
            other => panic!("{event:?} was not refused: {other:?}"),
        }
        assert_eq!(ledger.journal().head_seq(), head);
        assert_eq!(ledger.state().head_seq(), head);
    }
    // A stateless violation is reported before a state rule broken earlier in the batch, as
    // import reports a bad value on any line before it checks the file against the state.
    let duplicate = sample::signal(1, t(5));
    let negative = signal(|e| e.price = dec("-1"));
    match ledger.append(&[duplicate, negative]) {
        Err(LedgerError::Rejected { index, violation }) => {
            assert_eq!((index, violation.rule), (1, Rule::NotPositive));
        }
        other => panic!("not refused: {other:?}"),
    }
    ledger.close().unwrap();
    assert_records_on_disk(dir.path(), head);
    let reopened = Ledger::open(dir.path(), &OpenMode::default()).unwrap();
    assert_eq!(reopened.state().head_seq(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_append_and_try_append_refuse_each_violation_and_write_nothing() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ledger(dir.path(), durability);
        let journal = JournalHandle::new(ledger, FailurePolicy::Continue { held_events_max: 8 });
        let head = journal.ledger().journal().head_seq();
        for (event, rule, field) in violations() {
            let batch = vec![sample::signal(60, t(5)), event.clone()];
            match journal.append(batch.clone()).await {
                Err(LedgerError::Rejected { index, violation }) => {
                    assert_eq!(index, 1);
                    assert_names(&violation, rule, field, &event);
                }
                other => panic!("append of {event:?} was not refused: {other:?}"),
            }
            match journal.try_append(batch) {
                Err(LedgerError::Rejected { index, violation }) => {
                    assert_eq!(index, 1);
                    assert_names(&violation, rule, field, &event);
                }
                other => panic!("try_append of {event:?} was not refused: {other:?}"),
            }
            assert_eq!(journal.ledger().journal().head_seq(), head);
        }
        let health = journal.health();
        assert_eq!(
            (health.held_events, health.events_appended),
            (0, 0),
            "a refused batch is not held"
        );
        drop(journal);
        assert_records_on_disk(dir.path(), head);
    }
}
