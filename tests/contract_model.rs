//! Properties of the contract's stateless rules across paths:
//!
//! - the library (`Ledger::append`) refuses an event under a stateless rule if and only if
//!   `import`'s parser refuses the event's JSON line (as `dump` writes it), and both name the
//!   same rule and field;
//! - `dump | import` round-trips every journal the library writes: the fresh journal holds the
//!   same events, decimal scales included.

mod cli_support;
mod common;

use std::cell::Cell;
use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use tradeledger::ledger::{Ledger, LedgerError};
use tradeledger::model::event::*;
use tradeledger::model::interchange::{parse_event, write_event};
use tradeledger::storage::journal::JournalOptions;
use tradeledger::{Durability, JournalReader};

/// A value for one constrained field, drawn mostly near or beyond the limits.
#[derive(Clone, Debug)]
struct Wild {
    field: usize,
    ratio: f64,
    decimal: Decimal,
    text: String,
}

fn wild_ratio() -> impl Strategy<Value = f64> {
    prop_oneof![
        common::ratio(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1.0 + f64::EPSILON),
        Just(-f64::MIN_POSITIVE),
        any::<f64>(),
        -2.0..2.0f64,
    ]
}

fn wild_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        common::any_decimal(),
        common::positive_decimal(),
        Just(Decimal::ZERO),
        Just(Decimal::from_parts(0, 0, 0, true, 5)),
        Just(Decimal::new(-1, 28)),
        Just(Decimal::new(1, 28)),
    ]
}

/// Texts around every limit (symbol 12, timeframe 10, names 50, free text 4096), with and
/// without whitespace and control characters.
fn wild_text() -> impl Strategy<Value = String> {
    let around = |max: usize| {
        (max.saturating_sub(2)..=max + 2, any::<char>())
            .prop_map(|(len, c)| c.to_string().repeat(len))
    };
    prop_oneof![
        Just(String::new()),
        common::symbol(),
        vec(any::<char>(), 0..16).prop_map(String::from_iter),
        Just("EUR USD".to_string()),
        Just("EUR\u{7f}".to_string()),
        around(10),
        around(12),
        around(50),
        around(4096),
    ]
}

fn wild() -> impl Strategy<Value = Wild> {
    (any::<usize>(), wild_ratio(), wild_decimal(), wild_text()).prop_map(
        |(field, ratio, decimal, text)| Wild {
            field,
            ratio,
            decimal,
            text,
        },
    )
}

/// Sets one constrained field of `event` (chosen by `wild.field`) to the wild value of its type.
fn apply(event: &mut Event, wild: &Wild) {
    let text = || wild.text.clone();
    match event {
        Event::Signal(e) => match wild.field % 7 {
            0 => e.symbol = text(),
            1 => e.price = wild.decimal,
            2 => e.confidence = wild.ratio,
            3 => e.strategy_name = text(),
            4 => e.timeframe = text(),
            5 => e.reason = Some(text()),
            _ => e.ml_confidence = Some(wild.ratio),
        },
        Event::TradeOpened(e) => match wild.field % 10 {
            0 => e.symbol = text(),
            1 => e.volume = wild.decimal,
            2 => e.entry_price = wild.decimal,
            3 => e.strategy_name = Some(text()),
            4 => e.execution_reason = Some(text()),
            5 => e.signal_confidence = Some(wild.ratio),
            6 => e.signal_reason = Some(text()),
            7 => e.ml_confidence = Some(wild.ratio),
            8 => e.ai_reasoning = Some(text()),
            _ => e.comment = Some(text()),
        },
        Event::OrderFilled(e) => e.entry_price = wild.decimal,
        Event::OrderCancelled(e) => e.reason = Some(text()),
        Event::OrderFailed(e) => match wild.field % 5 {
            0 => e.symbol = text(),
            1 => e.volume = wild.decimal,
            2 => e.entry_price = wild.decimal,
            3 => e.reason = Some(text()),
            _ => e.strategy_name = Some(text()),
        },
        Event::TradeModified(_) => {}
        Event::TradeClosed(e) => match wild.field % 2 {
            0 => e.exit_price = wild.decimal,
            _ => e.reason = Some(text()),
        },
        Event::SignalExecuted(e) => e.execution_reason = Some(text()),
        Event::AccountSnapshot(e) => match wild.field % 2 {
            0 => e.server = text(),
            _ => e.broker = text(),
        },
    }
}

/// Any event, valid or not: a valid one with zero to two constrained fields set wild.
fn any_event_valid_or_not() -> impl Strategy<Value = Event> {
    (common::any_event(), vec(wild(), 0..3)).prop_map(|(mut event, wilds)| {
        for wild in &wilds {
            apply(&mut event, wild);
        }
        event
    })
}

fn ledger(dir: &Path) -> Ledger {
    let options = JournalOptions {
        durability: Durability::Buffered,
        segment_size_bytes: 8 << 20,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    Ledger::create(dir, &options).unwrap()
}

fn line_of(event: &Event) -> String {
    let mut line = String::new();
    write_event(&mut line, event, Some(1), Some(Timestamp::from_nanos(0)));
    line
}

#[test]
fn the_library_refuses_an_event_under_a_stateless_rule_iff_import_refuses_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(dir.path());
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let (refused, appended) = (Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&any_event_valid_or_not(), |event| {
            let head = ledger.journal().head_seq();
            let library = match ledger.append(std::slice::from_ref(&event)) {
                Ok(_) => None,
                // The state's rules (unknown ticket, ...) are no business of the parser.
                Err(LedgerError::Rejected { violation, .. }) if !violation.rule.is_stateless() => {
                    None
                }
                Err(LedgerError::Rejected { index, violation }) => {
                    prop_assert_eq!(index, 0);
                    Some((violation.rule, violation.field.to_string()))
                }
                Err(other) => panic!("append failed: {other}"),
            };
            let written = ledger.journal().head_seq() - head;
            let line = line_of(&event);
            let import = parse_event(&line).err().map(|error| {
                let rule = error
                    .rule
                    .unwrap_or_else(|| panic!("no rule: {error} in {line}"));
                (rule, error.field.unwrap())
            });
            prop_assert_eq!(&library, &import, "{:?}", event);
            if library.is_some() {
                prop_assert_eq!(written, 0, "a refused event was written");
                refused.set(refused.get() + 1);
            } else {
                appended.set(appended.get() + u32::from(written == 1));
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches both sides (about half the events break a stateless rule).
    let (refused, appended) = (refused.get(), appended.get());
    assert!(
        refused > 200 && appended > 200,
        "{refused} refused, {appended} appended"
    );
}

/// Events the library accepted, one append each, from `events` with ids folded into a few
/// values so that later events refer to earlier ones.
fn write_journal(dir: &Path, events: Vec<Event>) -> Vec<Event> {
    let ledger = ledger(dir);
    let mut accepted = vec![];
    for mut event in events {
        fold_ids(&mut event);
        match ledger.append(std::slice::from_ref(&event)) {
            Ok(_) => accepted.push(event),
            Err(LedgerError::Rejected { .. }) => {}
            Err(other) => panic!("append failed: {other}"),
        }
    }
    ledger.close().unwrap();
    accepted
}

fn fold_ids(event: &mut Event) {
    let fold = |id: &mut u64| *id %= 4;
    match event {
        Event::Signal(e) => fold(&mut e.signal_id),
        Event::TradeOpened(e) => {
            fold(&mut e.ticket);
            e.signal_id.as_mut().map(fold);
        }
        Event::OrderFilled(e) => fold(&mut e.ticket),
        Event::OrderCancelled(e) => fold(&mut e.ticket),
        Event::OrderFailed(e) => {
            fold(&mut e.ticket);
            e.signal_id.as_mut().map(fold);
        }
        Event::TradeModified(e) => fold(&mut e.ticket),
        Event::TradeClosed(e) => fold(&mut e.ticket),
        Event::SignalExecuted(e) => {
            fold(&mut e.signal_id);
            fold(&mut e.ticket);
        }
        Event::AccountSnapshot(_) => {}
    }
}

fn events_in(dir: &Path) -> Vec<Event> {
    let reader = JournalReader::open(dir).unwrap();
    reader.records(1).map(|r| r.unwrap().event).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn dump_then_import_reproduces_every_journal_the_library_writes(
        events in vec(any_event_valid_or_not(), 0..16),
    ) {
        let temp = tempfile::tempdir().unwrap();
        let original = temp.path().join("original");
        let copy = temp.path().join("copy");
        let accepted = write_journal(&original, events);
        let written = events_in(&original);
        prop_assert_eq!(written.len(), accepted.len());

        let dump = cli_support::ok(&["dump", cli_support::path(&original)]);
        let output = cli_support::run_with_stdin(&["import", cli_support::path(&copy), "-"], &dump);
        prop_assert!(
            output.status.success(),
            "import refused the dump: {}",
            cli_support::stderr(&output)
        );
        let imported = events_in(&copy);
        prop_assert_eq!(imported.len(), accepted.len());
        for (imported, accepted) in imported.iter().zip(&accepted) {
            prop_assert!(common::identical(imported, accepted), "{:?} != {:?}", imported, accepted);
        }
        // And the dump of the copy is the dump of the original but for recorded_at.
        let again = cli_support::ok(&["dump", cli_support::path(&copy)]);
        let without_time = |text: &str| -> Vec<String> {
            text.lines()
                .map(|line| {
                    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
                    value.as_object_mut().unwrap().remove("recorded_at");
                    value.to_string()
                })
                .collect()
        };
        prop_assert_eq!(without_time(&again), without_time(&dump));
    }
}
