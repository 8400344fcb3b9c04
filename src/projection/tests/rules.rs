//! §3: every stateful rule refuses what it should, names its rule and field, and accepts the
//! boundary case next to it.

use super::fixtures::*;
use crate::model::event::*;
use crate::projection::{CheckError, Projections, Rule, Violation};

fn refused(state: &Projections, event: Event) -> Violation {
    match state.check(&event) {
        Err(CheckError::Violation(violation)) => violation,
        other => panic!("event should be refused by a rule, got {other:?}"),
    }
}

/// The rule that refused event `index` of a batch.
fn refused_at(state: &Projections, batch: &[Event]) -> (usize, Rule) {
    match state.check_batch(batch) {
        Err((index, CheckError::Violation(violation))) => (index, violation.rule),
        other => panic!("batch should be refused by a rule, got {other:?}"),
    }
}

fn assert_refused(state: &Projections, event: Event, rule: Rule, field: &str) {
    let violation = refused(state, event);
    assert_eq!(
        (violation.rule, violation.field),
        (rule, field),
        "{violation}"
    );
}

/// Signal 1 (not executed), signal 2 executed by OPEN trade 10, PENDING order 11 placed at
/// 10:00, FAILED order 12, CLOSED trade 13, CANCELLED order 14.
fn state() -> Projections {
    journal([
        Event::Signal(signal(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::Signal(signal(2, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeOpened(TradeOpened {
            signal_id: Some(2),
            ..opened(10, "EURUSD", "2024-03-04T09:00:00Z")
        }),
        Event::TradeOpened(pending(11, "EURUSD", "2024-03-04T10:00:00Z")),
        Event::OrderFailed(failed(12, "EURUSD", "2024-03-04T10:00:00Z")),
        Event::TradeOpened(opened(13, "EURUSD", "2024-03-04T09:00:00Z")),
        Event::TradeClosed(closed(13, "2024-03-04T11:00:00Z", "5")),
        Event::TradeOpened(pending(14, "EURUSD", "2024-03-04T10:00:00Z")),
        Event::OrderCancelled(cancelled(14, "2024-03-04T10:30:00Z")),
    ])
}

#[test]
fn violation_message_names_rule_field_and_value() {
    let violation = refused(
        &state(),
        Event::TradeOpened(opened(10, "EURUSD", "2024-03-04T09:00:00Z")),
    );
    assert_eq!(
        violation.to_string(),
        r#"rule "duplicate ticket", field "ticket": ticket 10 already exists"#
    );
}

#[test]
fn duplicate_signal_id_is_refused() {
    let event = Event::Signal(signal(1, "GBPUSD", "2024-03-05T08:00:00Z"));
    assert_refused(&state(), event, Rule::DuplicateSignalId, "signal_id");
}

#[test]
fn duplicate_ticket_is_refused_across_opened_and_failed_orders() {
    let state = state();
    let time = "2024-03-05T08:00:00Z";
    // Ticket 12 was created by order_failed; 10 by trade_opened.
    let reopen_failed = Event::TradeOpened(opened(12, "EURUSD", time));
    assert_refused(&state, reopen_failed, Rule::DuplicateTicket, "ticket");
    let fail_open = Event::OrderFailed(failed(10, "EURUSD", time));
    assert_refused(&state, fail_open, Rule::DuplicateTicket, "ticket");
}

#[test]
fn references_to_unknown_tickets_are_refused() {
    let state = state();
    let unknown = [
        Event::OrderFilled(filled(99, "1.1", "2024-03-05T08:00:00Z")),
        Event::OrderCancelled(cancelled(99, "2024-03-05T08:00:00Z")),
        Event::TradeModified(modified(99, PriceUpdate::Remove, PriceUpdate::Unchanged)),
        Event::TradeClosed(closed(99, "2024-03-05T08:00:00Z", "1")),
        Event::SignalExecuted(linked(1, 99)),
    ];
    for event in unknown {
        assert_refused(&state, event, Rule::UnknownTicket, "ticket");
    }
}

#[test]
fn references_to_unknown_signal_ids_are_refused() {
    let state = state();
    let time = "2024-03-05T08:00:00Z";
    let unknown = [
        Event::TradeOpened(TradeOpened {
            signal_id: Some(99),
            ..opened(20, "EURUSD", time)
        }),
        Event::OrderFailed(OrderFailed {
            signal_id: Some(99),
            ..failed(20, "EURUSD", time)
        }),
        Event::SignalExecuted(linked(99, 10)),
    ];
    for event in unknown {
        assert_refused(&state, event, Rule::UnknownSignalId, "signal_id");
    }
}

#[test]
fn fill_and_cancel_need_a_pending_order() {
    let state = state();
    for ticket in [10, 12, 13, 14] {
        let fill = Event::OrderFilled(filled(ticket, "1.1", "2024-03-05T08:00:00Z"));
        assert_refused(&state, fill, Rule::IllegalStatusChange, "ticket");
        let cancel = Event::OrderCancelled(cancelled(ticket, "2024-03-05T08:00:00Z"));
        assert_refused(&state, cancel, Rule::IllegalStatusChange, "ticket");
    }
    let fill = Event::OrderFilled(filled(11, "1.1", "2024-03-05T08:00:00Z"));
    assert_eq!(state.check(&fill), Ok(()));
}

#[test]
fn close_needs_an_open_trade() {
    let state = state();
    for ticket in [11, 12, 13, 14] {
        let close = Event::TradeClosed(closed(ticket, "2024-03-05T08:00:00Z", "1"));
        let violation = refused(&state, close);
        assert_eq!(violation.rule, Rule::IllegalStatusChange, "{violation}");
    }
    let close = Event::TradeClosed(closed(10, "2024-03-05T08:00:00Z", "1"));
    assert_eq!(state.check(&close), Ok(()));
}

#[test]
fn modify_is_refused_on_finished_trades_only() {
    let state = state();
    let modify = |ticket| {
        Event::TradeModified(modified(
            ticket,
            PriceUpdate::Remove,
            PriceUpdate::Unchanged,
        ))
    };
    for ticket in [12, 13, 14] {
        assert_refused(&state, modify(ticket), Rule::IllegalStatusChange, "ticket");
    }
    assert_eq!(state.check(&modify(10)), Ok(()));
    assert_eq!(state.check(&modify(11)), Ok(()));
}

#[test]
fn executed_signals_cannot_be_executed_again() {
    let state = state();
    let relink = Event::SignalExecuted(linked(2, 13));
    assert_refused(&state, relink, Rule::SignalAlreadyExecuted, "signal_id");
    let reopen = Event::TradeOpened(TradeOpened {
        signal_id: Some(2),
        ..opened(20, "EURUSD", "2024-03-05T08:00:00Z")
    });
    assert_refused(&state, reopen, Rule::SignalAlreadyExecuted, "signal_id");
    // A cancelled order is no obstacle to linking; a failed one is.
    assert_eq!(state.check(&Event::SignalExecuted(linked(1, 14))), Ok(()));
    let on_failed = Event::SignalExecuted(linked(1, 12));
    assert_refused(&state, on_failed, Rule::IllegalStatusChange, "ticket");
}

#[test]
fn failed_order_may_name_an_executed_signal() {
    // The signal stays as it is (§2), so nothing contradicts: only unknown ids are refused.
    let event = Event::OrderFailed(OrderFailed {
        signal_id: Some(2),
        ..failed(20, "EURUSD", "2024-03-05T08:00:00Z")
    });
    assert_eq!(state().check(&event), Ok(()));
}

#[test]
fn times_may_not_run_backwards_from_entry() {
    let state = state();
    let early_fill = Event::OrderFilled(filled(11, "1.1", "2024-03-04T09:59:59.999999999Z"));
    assert_refused(&state, early_fill, Rule::FillBeforeOrder, "entry_time");
    let early_cancel = Event::OrderCancelled(cancelled(11, "2024-03-04T09:59:59Z"));
    assert_refused(&state, early_cancel, Rule::CancelBeforeOrder, "time");
    let early_exit = Event::TradeClosed(closed(10, "2024-03-04T08:59:59Z", "1"));
    assert_refused(&state, early_exit, Rule::ExitBeforeEntry, "exit_time");
    // Equal times are allowed: a zero-second trade, an instant fill or cancel.
    for event in [
        Event::OrderFilled(filled(11, "1.1", "2024-03-04T10:00:00Z")),
        Event::OrderCancelled(cancelled(11, "2024-03-04T10:00:00Z")),
        Event::TradeClosed(closed(10, "2024-03-04T09:00:00Z", "1")),
    ] {
        assert_eq!(state.check(&event), Ok(()));
    }
}

#[test]
fn batch_sees_its_own_earlier_events() {
    let state = state();
    let batch = [
        Event::Signal(signal(30, "EURUSD", "2024-03-05T08:00:00Z")),
        Event::TradeOpened(TradeOpened {
            signal_id: Some(30),
            ..pending(31, "EURUSD", "2024-03-05T09:00:00Z")
        }),
        Event::OrderFilled(filled(31, "1.2", "2024-03-05T09:30:00Z")),
        Event::TradeClosed(closed(31, "2024-03-05T09:30:00Z", "1")),
        Event::OrderFilled(filled(11, "1.1", "2024-03-05T08:00:00Z")),
        Event::TradeClosed(closed(11, "2024-03-05T08:00:00Z", "1")),
    ];
    assert_eq!(state.check_batch(&batch), Ok(()));
    let before = state.clone();
    let mut bad = batch.to_vec();
    bad.push(Event::SignalExecuted(linked(30, 10)));
    assert_eq!(refused_at(&state, &bad), (6, Rule::SignalAlreadyExecuted));
    bad[6] = Event::TradeClosed(closed(31, "2024-03-06T08:00:00Z", "1"));
    assert_eq!(refused_at(&state, &bad), (6, Rule::IllegalStatusChange));
    bad[6] = Event::Signal(signal(30, "EURUSD", "2024-03-05T08:00:00Z"));
    assert_eq!(state.check_batch(&bad).unwrap_err().0, 6);
    // The fill moved entry_time to 09:30: a close before that is refused.
    bad.truncate(3);
    bad.push(Event::TradeClosed(closed(31, "2024-03-05T09:15:00Z", "1")));
    assert_eq!(refused_at(&state, &bad), (3, Rule::ExitBeforeEntry));
    assert_eq!(state, before, "check_batch changed the state");
}

#[test]
fn apply_skips_and_counts_a_refused_event() {
    let mut state = state();
    let before = state.trade_by_ticket(13).unwrap();
    state.apply(
        100,
        at("2030-01-01T00:00:00Z"),
        &Event::TradeClosed(closed(13, "2024-03-09T00:00:00Z", "99")),
    );
    assert_eq!(state.ignored_events(), 1);
    assert_eq!(state.head_seq(), 100);
    assert_eq!(state.trade_by_ticket(13).unwrap(), before);
    let stats = state.trade_statistics(
        Default::default(),
        crate::projection::TimeBasis::Exit,
        None,
        None,
    );
    assert_eq!(stats.unwrap().total_trades, 1);
}
