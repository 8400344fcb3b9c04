//! §4: lifecycle, null rules, filtering and ordering, daily rows and the summary.

use super::fixtures::*;
use crate::model::event::*;
use crate::projection::{Projections, QueryError, TimeBasis, TimeRange, TradeFilter, TradeSelect};
use rust_decimal::Decimal;

fn exit_stats(state: &Projections, from: &str, to: &str) -> crate::projection::TradeStatistics {
    let range = TimeRange::new(Some(at(from)), Some(at(to)));
    state
        .trade_statistics(range, TimeBasis::Exit, None, None)
        .unwrap()
}

#[test]
fn pending_fill_replaces_entry_and_reorders_open_trades() {
    let mut state = journal([
        Event::TradeOpened(pending(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeOpened(opened(2, "EURUSD", "2024-03-04T09:00:00Z")),
    ]);
    assert!(state
        .open_trades(None, None)
        .unwrap()
        .iter()
        .map(|t| t.ticket)
        .eq([2]));
    extend(
        &mut state,
        [Event::OrderFilled(filled(
            1,
            "1.20000",
            "2024-03-04T10:00:00Z",
        ))],
    );
    let trade = state.trade_by_ticket(1).unwrap().unwrap();
    assert_eq!(trade.status, TradeStatus::Open);
    assert_eq!(
        (trade.entry_price, trade.entry_time),
        (dec("1.20000"), at("2024-03-04T10:00:00Z"))
    );
    let open: Vec<u64> = state
        .open_trades(None, None)
        .unwrap()
        .iter()
        .map(|t| t.ticket)
        .collect();
    assert_eq!(open, [2, 1]);
    let by_entry = TradeFilter {
        range: TimeRange::new(
            Some(at("2024-03-04T08:00:00Z")),
            Some(at("2024-03-04T08:30:00Z")),
        ),
        ..TradeFilter::default()
    };
    assert!(
        state.trades(&by_entry).unwrap().is_empty(),
        "the old entry time is still indexed"
    );
}

#[test]
fn cancelled_order_keeps_exit_null_and_its_signal_executed() {
    let state = journal([
        Event::Signal(signal(5, "EURUSD", "2024-03-04T07:00:00Z")),
        Event::TradeOpened(TradeOpened {
            signal_id: Some(5),
            execution_reason: Some("breakout".into()),
            ..pending(1, "EURUSD", "2024-03-04T08:00:00Z")
        }),
        Event::OrderCancelled(cancelled(1, "2024-03-04T09:00:00Z")),
    ]);
    let trade = state.trade_by_ticket(1).unwrap().unwrap();
    assert_eq!(trade.status, TradeStatus::Cancelled);
    assert_eq!(trade.close_reason.as_deref(), Some("expired"));
    assert_eq!(
        (trade.exit_time, trade.duration_seconds, trade.profit),
        (None, None, None)
    );
    let signal = &state.recent_signals(None, 1).unwrap()[0];
    assert!(signal.executed);
    assert_eq!(
        (signal.ticket, signal.execution_reason.as_deref()),
        (Some(1), Some("breakout"))
    );
    assert!(state
        .trades(&TradeFilter {
            status: Some(TradeStatus::Pending),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

#[test]
fn failed_order_is_a_failed_trade_and_leaves_its_signal_unexecuted() {
    let state = journal([
        Event::Signal(signal(5, "EURUSD", "2024-03-04T07:00:00Z")),
        Event::OrderFailed(OrderFailed {
            signal_id: Some(5),
            ..failed(1, "EURUSD", "2024-03-04T08:00:00Z")
        }),
    ]);
    let trade = state.trade_by_ticket(1).unwrap().unwrap();
    assert_eq!(trade.status, TradeStatus::Failed);
    assert_eq!(trade.signal_id, Some(5));
    assert_eq!(trade.close_reason.as_deref(), Some("no money"));
    assert_eq!(
        (trade.commission, trade.swap, trade.magic_number),
        (dec("0"), dec("0"), 7)
    );
    assert!(!trade.ml_enhanced && trade.ai_approved);
    let signal = &state.recent_signals(None, 1).unwrap()[0];
    assert_eq!((signal.executed, signal.ticket), (false, None));
    assert_eq!(
        state.signal_execution_rate(None).unwrap().executed_signals,
        0
    );
}

#[test]
fn modification_sets_removes_or_keeps_each_level() {
    let state = journal([
        Event::TradeOpened(TradeOpened {
            stop_loss: Some(dec("1.1")),
            take_profit: Some(dec("1.3")),
            ..opened(1, "EURUSD", "2024-03-04T08:00:00Z")
        }),
        Event::TradeModified(modified(
            1,
            PriceUpdate::Set(dec("1.15")),
            PriceUpdate::Unchanged,
        )),
    ]);
    let trade = state.trade_by_ticket(1).unwrap().unwrap();
    assert_eq!(
        (trade.stop_loss, trade.take_profit),
        (Some(dec("1.15")), Some(dec("1.3")))
    );
    let mut state = state;
    extend(
        &mut state,
        [Event::TradeModified(modified(
            1,
            PriceUpdate::Unchanged,
            PriceUpdate::Remove,
        ))],
    );
    let trade = state.trade_by_ticket(1).unwrap().unwrap();
    assert_eq!(
        (trade.stop_loss, trade.take_profit),
        (Some(dec("1.15")), None)
    );
}

#[test]
fn close_sets_exit_fields_and_replaces_only_given_costs() {
    let state = journal([
        Event::TradeOpened(TradeOpened {
            commission: dec("-0.70"),
            swap: dec("-0.10"),
            ..opened(1, "EURUSD", "2024-03-04T08:00:00.900Z")
        }),
        Event::TradeOpened(TradeOpened {
            commission: dec("-0.70"),
            swap: dec("-0.10"),
            ..opened(2, "EURUSD", "2024-03-04T08:00:00Z")
        }),
        Event::TradeClosed(TradeClosed {
            pips: Some(dec("10.0")),
            commission: Some(dec("-1.40")),
            reason: Some("take profit".into()),
            ..closed(1, "2024-03-04T08:01:00.100Z", "12.50")
        }),
        Event::TradeClosed(closed(2, "2024-03-04T08:00:00Z", "0")),
    ]);
    let one = state.trade_by_ticket(1).unwrap().unwrap();
    assert_eq!(one.status, TradeStatus::Closed);
    assert_eq!(
        (one.exit_price, one.profit, one.pips),
        (Some(dec("1.10550")), Some(dec("12.50")), Some(dec("10.0")))
    );
    assert_eq!((one.commission, one.swap), (dec("-1.40"), dec("-0.10")));
    assert_eq!(one.close_reason.as_deref(), Some("take profit"));
    // 59.2 s rounds down to 59.
    assert_eq!(one.duration_seconds, Some(59));
    let two = state.trade_by_ticket(2).unwrap().unwrap();
    assert_eq!(
        (two.duration_seconds, two.pips, two.commission),
        (Some(0), None, dec("-0.70"))
    );
}

#[test]
fn late_link_sets_signal_and_trade_fields() {
    let state = journal([
        Event::Signal(signal(5, "EURUSD", "2024-03-04T07:00:00Z")),
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::SignalExecuted(linked(5, 1)),
    ]);
    assert_eq!(
        state.trade_by_ticket(1).unwrap().unwrap().signal_id,
        Some(5)
    );
    let signal = &state.recent_signals(Some("EURUSD"), 10).unwrap()[0];
    assert_eq!((signal.executed, signal.ticket), (true, Some(1)));
    assert_eq!(signal.execution_reason.as_deref(), Some("late link"));
}

#[test]
fn statistics_null_rules_without_losses_or_wins() {
    let wins_only = journal([
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(1, "2024-03-04T09:00:00Z", "7.5")),
    ]);
    let stats = wins_only
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
        .unwrap();
    assert_eq!(
        (stats.profit_factor, stats.average_loss, stats.largest_loss),
        (None, None, None)
    );
    assert_eq!(
        (stats.gross_loss, stats.largest_win),
        (dec("0"), Some(dec("7.5")))
    );
    let losses_only = journal([
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(1, "2024-03-04T09:00:00Z", "-2")),
        Event::TradeOpened(opened(2, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(2, "2024-03-04T09:00:00Z", "-6")),
    ]);
    let stats = losses_only
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
        .unwrap();
    assert_eq!(
        (stats.average_win, stats.largest_win, stats.gross_profit),
        (None, None, dec("0"))
    );
    assert_eq!(
        (stats.profit_factor, stats.average_loss, stats.largest_loss),
        (Some(dec("0")), Some(dec("4")), Some(dec("-6")))
    );
    let empty = Projections::new()
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
        .unwrap();
    assert_eq!(
        (empty.win_rate, empty.average_profit, empty.total_profit),
        (dec("0"), dec("0"), dec("0"))
    );
    assert_eq!(
        (empty.total_trades, empty.average_win, empty.profit_factor),
        (0, None, None)
    );
}

/// Trade 1 enters on the 4th and exits on the 5th; trade 2 enters and exits on the 5th.
fn across_midnight() -> Projections {
    journal([
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T22:00:00Z")),
        Event::TradeClosed(closed(1, "2024-03-05T01:00:00Z", "10")),
        Event::TradeOpened(opened(2, "GBPUSD", "2024-03-05T02:00:00Z")),
        Event::TradeClosed(closed(2, "2024-03-05T03:00:00Z", "-4")),
    ])
}

#[test]
fn statistics_filter_by_exit_by_default_and_by_entry_on_request() {
    let state = across_midnight();
    let (from, to) = (
        Some(at("2024-03-04T00:00:00Z")),
        Some(at("2024-03-04T23:59:59.999999999Z")),
    );
    let range = TimeRange::new(from, to);
    let by_exit = state
        .trade_statistics(range, TimeBasis::Exit, None, None)
        .unwrap();
    assert_eq!(by_exit.total_trades, 0);
    let by_entry = state
        .trade_statistics(range, TimeBasis::Entry, None, None)
        .unwrap();
    assert_eq!(
        (by_entry.total_trades, by_entry.total_profit),
        (1, dec("10"))
    );
    let gbp = state
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, Some("GBPUSD"), None)
        .unwrap();
    assert_eq!(gbp.total_profit, dec("-4"));
    let unknown = state
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, Some("eurusd"), None)
        .unwrap();
    assert_eq!(unknown.total_trades, 0, "symbols match case-sensitively");
    let other_account = state
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, Some(7))
        .unwrap();
    assert_eq!(other_account.total_trades, 0);
}

#[test]
fn range_bounds_are_inclusive_to_the_nanosecond() {
    let state = across_midnight();
    assert_eq!(
        exit_stats(&state, "2024-03-05T01:00:00Z", "2024-03-05T03:00:00Z").total_trades,
        2
    );
    assert_eq!(
        exit_stats(
            &state,
            "2024-03-05T01:00:00.000000001Z",
            "2024-03-05T03:00:00Z"
        )
        .total_trades,
        1
    );
    assert_eq!(
        exit_stats(
            &state,
            "2024-03-05T01:00:00Z",
            "2024-03-05T02:59:59.999999999Z"
        )
        .total_trades,
        1
    );
    let trades = TradeFilter {
        range: TimeRange::new(
            Some(at("2024-03-04T22:00:00Z")),
            Some(at("2024-03-05T02:00:00Z")),
        ),
        ..TradeFilter::default()
    };
    assert_eq!(state.trades(&trades).unwrap().len(), 2);
    let closed_by_exit = TradeFilter {
        by: TimeBasis::Exit,
        range: TimeRange::new(Some(at("2024-03-05T03:00:00Z")), None),
        ..TradeFilter::default()
    };
    assert!(state
        .trades(&closed_by_exit)
        .unwrap()
        .iter()
        .map(|t| t.ticket)
        .eq([2]));
}

#[test]
fn ties_are_broken_by_ticket_and_seq() {
    let state = journal([
        Event::TradeOpened(opened(9, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeOpened(opened(3, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeOpened(opened(5, "EURUSD", "2024-03-04T07:00:00Z")),
        Event::Signal(signal(2, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::Signal(signal(1, "GBPUSD", "2024-03-04T08:00:00Z")),
        Event::Signal(signal(3, "EURUSD", "2024-03-04T07:00:00Z")),
        Event::AccountSnapshot(snapshot(1, "2024-03-04T08:00:00Z", "2", "2")),
        Event::AccountSnapshot(snapshot(1, "2024-03-04T08:00:00Z", "1", "1")),
        Event::AccountSnapshot(snapshot(1, "2024-03-04T07:00:00Z", "3", "3")),
    ]);
    let open: Vec<u64> = state
        .open_trades(None, None)
        .unwrap()
        .iter()
        .map(|t| t.ticket)
        .collect();
    assert_eq!(open, [5, 3, 9]);
    let all: Vec<u64> = state
        .trades(&TradeFilter::default())
        .unwrap()
        .iter()
        .map(|t| t.ticket)
        .collect();
    assert_eq!(all, [5, 3, 9]);
    // Same timestamp: the later record (signal 1, seq 5) first, across symbols too.
    let signals: Vec<u64> = state
        .recent_signals(None, 10)
        .unwrap()
        .iter()
        .map(|s| s.signal_id)
        .collect();
    assert_eq!(signals, [1, 2, 3]);
    assert_eq!(state.recent_signals(None, 2).unwrap().len(), 2);
    let balances: Vec<String> = state
        .snapshots_between(1, TimeRange::ALL)
        .unwrap()
        .iter()
        .map(|s| s.balance.to_string())
        .collect();
    assert_eq!(balances, ["3", "2", "1"]);
    assert_eq!(state.latest_snapshot(1).unwrap().unwrap().balance, dec("1"));
    assert_eq!(state.latest_snapshot(2).unwrap(), None);
}

#[test]
fn filters_by_symbol_account_and_status() {
    let state = journal([
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeOpened(TradeOpened {
            account_number: Some(2002),
            ..opened(2, "EURUSD", "2024-03-04T08:00:00Z")
        }),
        Event::TradeOpened(TradeOpened {
            account_number: None,
            ..opened(3, "GBPUSD", "2024-03-04T08:00:00Z")
        }),
        Event::OrderFailed(failed(4, "GBPUSD", "2024-03-04T08:00:00Z")),
    ]);
    let tickets = |views: Vec<crate::projection::TradeView>| {
        views.iter().map(|t| t.ticket).collect::<Vec<_>>()
    };
    assert_eq!(
        tickets(state.open_trades(Some("EURUSD"), None).unwrap()),
        [1, 2]
    );
    assert_eq!(tickets(state.open_trades(None, Some(2002)).unwrap()), [2]);
    assert_eq!(
        tickets(state.open_trades(Some("USDJPY"), None).unwrap()),
        Vec::<u64>::new()
    );
    let failed_gbp = TradeFilter {
        status: Some(TradeStatus::Failed),
        symbol: Some("GBPUSD"),
        ..Default::default()
    };
    assert_eq!(tickets(state.trades(&failed_gbp).unwrap()), [4]);
    let reversed = TradeFilter {
        range: TimeRange::new(
            Some(at("2024-03-05T00:00:00Z")),
            Some(at("2024-03-04T00:00:00Z")),
        ),
        ..Default::default()
    };
    assert!(state.trades(&reversed).unwrap().is_empty());
    let open_by_exit = TradeFilter {
        status: Some(TradeStatus::Open),
        by: TimeBasis::Exit,
        ..Default::default()
    };
    assert!(state.trades(&open_by_exit).unwrap().is_empty());
}

#[test]
fn execution_rate_counts_every_signal_type_since_the_bound() {
    let state = journal([
        Event::Signal(signal(1, "EURUSD", "2024-03-03T12:00:00Z")),
        Event::Signal(Signal {
            signal_type: SignalType::Hold,
            ..signal(2, "EURUSD", "2024-03-04T12:00:00Z")
        }),
        Event::Signal(signal(3, "EURUSD", "2024-03-05T12:00:00Z")),
        Event::Signal(signal(4, "EURUSD", "2024-03-04T06:00:00Z")),
        Event::TradeOpened(TradeOpened {
            signal_id: Some(3),
            ..opened(1, "EURUSD", "2024-03-05T12:00:00Z")
        }),
        Event::TradeOpened(TradeOpened {
            signal_id: Some(1),
            ..opened(2, "EURUSD", "2024-03-05T12:00:00Z")
        }),
    ]);
    let all = state.signal_execution_rate(None).unwrap();
    assert_eq!(
        (all.total_signals, all.executed_signals, all.execution_rate),
        (4, 2, dec("50"))
    );
    let since = state
        .signal_execution_rate(Some(at("2024-03-04T12:00:00Z")))
        .unwrap();
    assert_eq!((since.total_signals, since.executed_signals), (2, 1));
    let rate = since.execution_rate;
    assert_eq!(rate, dec("50"));
    let third = state
        .signal_execution_rate(Some(at("2024-03-04T00:00:00Z")))
        .unwrap();
    assert_eq!(
        third.execution_rate.to_string(),
        "33.333333333333333333333333333"
    );
    let none = state
        .signal_execution_rate(Some(at("2025-01-01T00:00:00Z")))
        .unwrap();
    assert_eq!((none.total_signals, none.execution_rate), (0, dec("0")));
}

/// Two accounts trade; only account 1001 has snapshots, until `second` adds one for 2002.
fn two_accounts(second_account_snapshots: bool) -> Projections {
    let mut events = vec![
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(1, "2024-03-04T09:00:00Z", "5")),
        Event::TradeOpened(TradeOpened {
            account_number: Some(2002),
            ..opened(2, "EURUSD", "2024-03-04T08:00:00Z")
        }),
        Event::TradeClosed(closed(2, "2024-03-05T09:00:00Z", "-5")),
        Event::AccountSnapshot(snapshot(1001, "2024-03-04T12:00:00Z", "100.00", "101.00")),
        Event::AccountSnapshot(snapshot(
            1001,
            "2024-03-04T23:59:59.999999999Z",
            "105.00",
            "105.50",
        )),
        Event::AccountSnapshot(snapshot(1001, "2024-03-05T00:00:00Z", "999", "999")),
    ];
    if second_account_snapshots {
        events.push(Event::AccountSnapshot(snapshot(
            2002,
            "2024-03-01T00:00:00Z",
            "50",
            "50",
        )));
    }
    journal(events)
}

#[test]
fn daily_end_balance_comes_from_the_last_snapshot_of_the_day() {
    let state = two_accounts(false);
    let days = state.daily_performance(None, None, Some(1001)).unwrap();
    assert_eq!(
        days.len(),
        1,
        "a day without trades of 1001 has no row for 1001"
    );
    assert_eq!(
        (
            days[0].account_number,
            days[0].end_balance,
            days[0].end_equity
        ),
        (Some(1001), Some(dec("105.00")), Some(dec("105.50")))
    );
    // 2002 has no snapshot: null balance even though it has trades.
    let days = state.daily_performance(None, None, Some(2002)).unwrap();
    assert_eq!((days.len(), days[0].end_balance), (1, None));
    // Without an account: the only account with snapshots (2002 only appears on trades).
    let days = state.daily_performance(None, None, None).unwrap();
    let balances: Vec<_> = days
        .iter()
        .map(|d| (d.account_number, d.end_balance))
        .collect();
    assert_eq!(
        balances,
        [(None, Some(dec("105.00"))), (None, Some(dec("999")))]
    );
}

#[test]
fn daily_end_balance_is_null_when_several_accounts_have_snapshots() {
    let state = two_accounts(true);
    let days = state.daily_performance(None, None, None).unwrap();
    assert!(days
        .iter()
        .all(|d| d.end_balance.is_none() && d.end_equity.is_none()));
    let days = state.daily_performance(None, None, Some(2002)).unwrap();
    assert_eq!(days[0].end_balance, Some(dec("50")));
}

#[test]
fn daily_rows_respect_inclusive_date_bounds() {
    let state = two_accounts(false);
    let date = |d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let days = state
        .daily_performance(date("2024-03-05"), date("2024-03-05"), None)
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].date, date("2024-03-05").unwrap());
    assert!(state
        .daily_performance(date("2024-03-06"), date("2024-03-04"), None)
        .unwrap()
        .is_empty());
}

#[test]
fn summary_counts_breakeven_days_apart_from_losing_days() {
    let state = journal([
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(1, "2024-03-04T09:00:00Z", "5")),
        Event::TradeOpened(opened(2, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(2, "2024-03-04T10:00:00Z", "-5.00")),
        Event::TradeOpened(opened(3, "EURUSD", "2024-03-05T08:00:00Z")),
        Event::TradeClosed(closed(3, "2024-03-05T09:00:00Z", "-1")),
        Event::TradeOpened(opened(4, "EURUSD", "2024-03-06T08:00:00Z")),
        Event::TradeClosed(closed(4, "2024-03-06T09:00:00Z", "3")),
    ]);
    let summary = state.performance_summary(None, None, None).unwrap();
    assert_eq!(
        (
            summary.total_days,
            summary.winning_days,
            summary.losing_days,
            summary.breakeven_days
        ),
        (3, 1, 1, 1)
    );
    assert_eq!((summary.total_trades, summary.total_profit), (4, dec("2")));
    assert_eq!(
        summary.average_daily_profit.to_string(),
        "0.6666666666666666666666666667"
    );
    let empty = state.performance_summary(None, None, Some(9)).unwrap();
    assert_eq!(
        (empty.total_days, empty.average_daily_profit),
        (0, dec("0"))
    );
}

#[test]
fn checkpoint_round_trips_exactly_and_refuses_other_versions() {
    let mut state = two_accounts(true);
    // A second open of ticket 1, which the rules refuse: applied anyway, it is counted.
    let refused = Event::TradeOpened(opened(1, "EURUSD", "2024-03-06T08:00:00Z"));
    state.apply(9, at("2030-01-01T00:00:00Z"), &refused);
    assert_eq!((state.applied_events(), state.ignored_events()), (9, 1));
    let bytes = state.encode_state().unwrap();
    let decoded = Projections::decode_state(bytes.clone()).unwrap();
    assert_eq!(decoded, state);
    let counters = |s: &Projections| (s.head_seq(), s.applied_events(), s.ignored_events());
    assert_eq!(counters(&decoded), (9, 9, 1));
    assert_eq!(
        decoded.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None),
        state.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
    );
    // The hot section starts with the layout version (a varint).
    let hot = hot_section(&bytes);
    let mut other_version = bytes.clone();
    other_version[hot] = 1;
    let error = Projections::decode_state(other_version).unwrap_err();
    assert_eq!(
        error,
        crate::projection::StateDecodeError::Version {
            found: 1,
            expected: crate::projection::PROJECTION_VERSION
        }
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        Projections::decode_state(trailing),
        Err(crate::projection::StateDecodeError::Malformed(_))
    ));
    assert!(Projections::decode_state(bytes[..bytes.len() - 1].to_vec()).is_err());
    let empty = Projections::new().encode_state().unwrap();
    assert_eq!(
        Projections::decode_state(empty).unwrap(),
        Projections::new()
    );
}

/// A stored trade that names a string the state does not hold, or whose entry points outside
/// the records, is damage, whether the whole record is read (`trade_by_ticket`) or only its
/// head (`for_each_closed_trade`); bytes after a record's end are damage when the whole record is
/// read, and not read by a head.
/// Ten signals and closed trades and a trade without a signal, stored (with one more signal
/// when `signal_11`, else another one); then, on a layer over them, a trade linked late to
/// the stored signal 11, and a new signal linked late to the stored trade 13 (overrides of
/// records of the layer below).
fn stored_below(signal_11: bool) -> Projections {
    let mut events = Vec::new();
    for n in 1..=10u64 {
        let time = format!("2024-01-0{}T10:00:00Z", n % 9 + 1);
        let mut trade = opened(n, "EURUSD", &time);
        trade.signal_id = Some(n);
        events.push(Event::Signal(signal(n, "EURUSD", &time)));
        events.push(Event::TradeOpened(trade));
        events.push(Event::TradeClosed(closed(n, &time, "1.5")));
    }
    let id = if signal_11 { 11 } else { 99 };
    events.push(Event::Signal(signal(id, "EURUSD", "2024-01-05T10:00:00Z")));
    events.push(Event::TradeOpened(opened(
        13,
        "EURUSD",
        "2024-01-05T11:00:00Z",
    )));
    events.push(Event::TradeClosed(closed(13, "2024-01-05T12:00:00Z", "1")));
    journal(events)
}

fn two_layers() -> (Vec<u8>, Vec<u8>, Projections) {
    let bottom_bytes = stored_below(true).encode_layer().unwrap();
    let mut state = Projections::decode_state(bottom_bytes.clone()).unwrap();
    extend(
        &mut state,
        [
            Event::TradeOpened(opened(12, "EURUSD", "2024-01-06T10:00:00Z")),
            Event::SignalExecuted(linked(11, 12)),
            Event::TradeClosed(closed(12, "2024-01-06T11:00:00Z", "-2")),
            Event::Signal(signal(14, "EURUSD", "2024-01-06T12:00:00Z")),
            Event::SignalExecuted(linked(14, 13)),
        ],
    );
    let top = state.encode_layer().unwrap();
    (bottom_bytes, top, state)
}

#[test]
fn a_stack_of_layers_loads_as_one_state_and_a_broken_one_is_refused() {
    let (bottom, top, state) = two_layers();
    let parent = |bytes: &Vec<u8>| Projections::stored_parent(std::sync::Arc::new(bytes.clone()));
    assert_eq!(parent(&bottom).unwrap(), None);
    assert_eq!(parent(&top).unwrap(), Some(33));
    let loaded = Projections::decode_layers(vec![bottom.clone(), top.clone()]).unwrap();
    assert_eq!(loaded, state);
    let signal = loaded.signal_by_id(11).unwrap().unwrap();
    assert_eq!((signal.executed, signal.ticket), (true, Some(12)));
    let trade = loaded.trade_by_ticket(13).unwrap().unwrap();
    assert_eq!(trade.signal_id, Some(14));
    // A layer over another state at the same seq, whose overrides name what is not there.
    let other = stored_below(false).encode_layer().unwrap();
    assert_eq!(parent(&other).unwrap(), None);
    let error = Projections::decode_layers(vec![other, top.clone()]).unwrap_err();
    assert!(error.to_string().contains("link of signal 11"), "{error}");
    // The layer alone, the layers in the wrong order, or a layer twice: refused.
    for broken in [
        vec![top.clone()],
        vec![top.clone(), bottom.clone()],
        vec![bottom.clone(), bottom.clone()],
        vec![bottom.clone(), top.clone(), top.clone()],
    ] {
        let error = Projections::decode_layers(broken).unwrap_err();
        assert!(
            matches!(error, crate::projection::StateDecodeError::Malformed(_)),
            "{error}"
        );
    }
    // Written whole, the same state needs no layer below, and the link is in the record.
    let whole = loaded.encode_state().unwrap();
    assert_eq!(parent(&whole).unwrap(), None);
    assert_eq!(Projections::decode_state(whole).unwrap(), state);
}

#[test]
fn a_layer_is_merged_with_the_one_below_by_the_records_of_every_kind() {
    // 10 records below: 4 signals, 3 finished trades, 3 snapshots.
    let mut events = Vec::new();
    for n in 1..=4u64 {
        events.push(Event::Signal(signal(n, "EURUSD", "2024-01-02T10:00:00Z")));
    }
    for n in 1..=3u64 {
        events.push(Event::TradeOpened(opened(
            n,
            "EURUSD",
            "2024-01-02T10:00:00Z",
        )));
        events.push(Event::TradeClosed(closed(n, "2024-01-02T11:00:00Z", "1")));
        let time = format!("2024-01-0{}T12:00:00Z", n + 2);
        events.push(Event::AccountSnapshot(snapshot(1001, &time, "100", "100")));
    }
    let below = Projections::decode_state(journal(events).encode_state().unwrap()).unwrap();
    let parent_of = |more: &[Event]| {
        let mut state = below.clone();
        extend(&mut state, more.iter().cloned());
        let layer = state.encode_layer().unwrap();
        Projections::stored_parent(std::sync::Arc::new(layer)).unwrap()
    };
    let signals = |ids: std::ops::RangeInclusive<u64>| {
        ids.map(|n| Event::Signal(signal(n, "EURUSD", "2024-01-09T10:00:00Z")))
    };
    let snapshots = |days: std::ops::RangeInclusive<u64>| {
        days.map(|d| {
            let time = format!("2024-02-0{d}T12:00:00Z");
            Event::AccountSnapshot(snapshot(1001, &time, "100", "100"))
        })
    };
    // 3 signals and 2 snapshots: 10 is at most twice 5, the layer below is merged.
    let more: Vec<Event> = signals(5..=7).chain(snapshots(1..=2)).collect();
    assert_eq!(parent_of(&more), None);
    // 1 signal and 1 snapshot: 10 is over twice 2, the new layer lies on it.
    let more: Vec<Event> = signals(5..=5).chain(snapshots(1..=1)).collect();
    assert_eq!(parent_of(&more), Some(below.head_seq()));
}

#[test]
fn a_forged_stored_trade_is_refused_whole_and_by_its_head() {
    let state = journal([
        Event::TradeOpened(opened(1, "EURUSD", "2024-03-04T08:00:00Z")),
        Event::TradeClosed(closed(1, "2024-03-04T09:00:00Z", "5")),
    ]);
    let bytes = state.encode_state().unwrap();
    let (records, len) = section(&bytes, super::super::stored::TRADE_RECORDS);
    let error = |state: &Projections| {
        let whole = state.trade_by_ticket(1).unwrap_err().to_string();
        let head = walk(state, None).map_err(|e| e.to_string());
        (whole, head)
    };

    // The record starts with the ticket (1, one byte), then the symbol's index.
    let mut unknown_name = bytes.clone();
    assert_eq!(unknown_name[records + 1], 0, "the only name");
    unknown_name[records + 1] = 9;
    let (whole, head) = error(&Projections::decode_state(unknown_name).unwrap());
    assert!(whole.contains("names an unknown string"), "{whole}");
    assert!(head.unwrap_err().contains("names an unknown string"));

    // One byte more in the records' section: the next section's first byte follows the record.
    let mut longer = bytes.clone();
    let at = directory_entry(&bytes, super::super::stored::TRADE_RECORDS) + 8;
    longer[at..at + 8].copy_from_slice(&(len as u64 + 1).to_le_bytes());
    let (whole, head) = error(&Projections::decode_state(longer).unwrap());
    assert!(whole.contains("has trailing bytes"), "{whole}");
    assert_eq!(head.unwrap(), [(1, "EURUSD".into(), None, dec("5"))]);

    // The trade's entry points at the records' end (an empty record), then beyond it.
    let (entries, _) = section(&bytes, super::super::stored::TRADE_BY_TICKET);
    for (start, expected) in [(len, "does not decode"), (len + 5, "has a bad extent")] {
        let mut moved = bytes.clone();
        moved[entries + 8..entries + 16].copy_from_slice(&(start as u64).to_le_bytes());
        let (whole, head) = error(&Projections::decode_state(moved).unwrap());
        assert!(whole.contains(expected), "{start}: {whole}");
        assert!(head.unwrap_err().contains(expected), "{start}");
    }
}

/// Where the directory entry `(offset u64, len u64)` of `section` lies.
fn directory_entry(bytes: &[u8], section: usize) -> usize {
    let directory = bytes.len() - super::super::stored::DIRECTORY_BYTES as usize;
    directory + 8 + 16 * section
}

/// The offset and length of `section`, from the directory that closes the payload.
fn section(bytes: &[u8], section: usize) -> (usize, usize) {
    let at = directory_entry(bytes, section);
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    (word(at), word(at + 8))
}

/// The offset of the hot section, from the directory that closes the payload.
fn hot_section(bytes: &[u8]) -> usize {
    section(bytes, super::super::stored::HOT).0
}

/// (ticket, symbol, strategy_name, profit) of a closed trade.
type Walked = (u64, String, Option<String>, Decimal);

/// The closed trades of `state` (of `account`, if given) as `for_each_closed_trade` walks
/// them.
fn walk(state: &Projections, account: Option<u64>) -> Result<Vec<Walked>, QueryError> {
    let select = TradeSelect {
        account,
        ..TradeSelect::default()
    };
    let mut walked = Vec::new();
    state.for_each_closed_trade(TimeRange::ALL, TimeBasis::Exit, &select, |t| {
        let strategy = t.strategy_name.map(String::from);
        walked.push((t.ticket, t.symbol.to_string(), strategy, t.profit));
    })?;
    Ok(walked)
}

/// `latest_trades` is the end of `trades` by entry time; `for_each_closed_trade` walks
/// exactly the trades `trades --status CLOSED --by exit` lists, in (exit_time, ticket) order;
/// `snapshots_between` and `equity_curve` list the same snapshots in the same order. In
/// memory, and read from a checkpoint with later rows in memory whose times fall between the
/// checkpoint's (so that the two are merged, not appended).
#[test]
fn latest_trades_closed_trades_and_snapshots_agree_in_memory_and_from_a_checkpoint() {
    let later = [
        Event::TradeOpened(TradeOpened {
            strategy_name: Some("breakout".into()),
            ..opened(3, "GBPUSD", "2024-03-06T08:00:00Z")
        }),
        Event::TradeClosed(closed(3, "2024-03-06T10:00:00Z", "-2.50")),
        Event::TradeOpened(opened(4, "EURUSD", "2024-03-07T08:00:00Z")),
        Event::TradeClosed(closed(4, "2024-03-07T09:00:00Z", "0")),
        Event::TradeOpened(opened(5, "EURUSD", "2024-03-07T08:30:00Z")),
        // Exits between the checkpoint's trades 1 (03-04 09:00) and 2 (03-05 09:00).
        Event::TradeOpened(opened(6, "EURUSD", "2024-03-04T08:30:00Z")),
        Event::TradeClosed(closed(6, "2024-03-04T10:00:00Z", "7")),
        // Between the checkpoint's snapshots of 1001.
        Event::AccountSnapshot(snapshot(1001, "2024-03-04T18:00:00Z", "103", "104")),
    ];
    let mut in_memory = two_accounts(true);
    let bytes = two_accounts(true).encode_state().unwrap();
    let mut from_checkpoint = Projections::decode_state(bytes).unwrap();
    extend(&mut in_memory, later.clone());
    extend(&mut from_checkpoint, later);
    for state in [&in_memory, &from_checkpoint] {
        for account in [None, Some(1001), Some(2002), Some(7)] {
            let all = state
                .trades(&TradeFilter {
                    account,
                    ..TradeFilter::default()
                })
                .unwrap();
            for limit in [0, 1, 2, 100] {
                let expected: Vec<_> = all.iter().rev().take(limit).cloned().collect();
                let latest = state.latest_trades(TimeRange::ALL, account, limit).unwrap();
                assert_eq!(latest, expected, "account {account:?}, limit {limit}");
            }
            let closed = state
                .trades(&TradeFilter {
                    status: Some(TradeStatus::Closed),
                    account,
                    by: TimeBasis::Exit,
                    ..TradeFilter::default()
                })
                .unwrap();
            // `trades` lists by entry; the walk goes in exit order.
            let mut closed = closed;
            closed.sort_by_key(|t| (t.exit_time, t.ticket));
            let expected: Vec<_> = (closed.iter())
                .map(|t| {
                    (
                        t.ticket,
                        t.symbol.clone(),
                        t.strategy_name.clone(),
                        t.profit.unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                walk(state, account).unwrap(),
                expected,
                "account {account:?}"
            );
        }
        for account in [1001, 2002, 7] {
            let views = state.snapshots_between(account, TimeRange::ALL).unwrap();
            let points = state.equity_curve(account, TimeRange::ALL).unwrap();
            let from_views: Vec<_> = views
                .iter()
                .map(|v| (v.snapshot_time, v.balance, v.equity))
                .collect();
            let from_points: Vec<_> = points
                .iter()
                .map(|p| (p.snapshot_time, p.balance, p.equity))
                .collect();
            assert_eq!(from_points, from_views, "account {account}");
        }
    }
    let merged = walk(&from_checkpoint, None).unwrap();
    let tickets: Vec<u64> = merged.iter().map(|t| t.0).collect();
    assert_eq!(tickets[..2], [1, 6], "merged by exit time");
    for account in [1001, 2002] {
        assert_eq!(
            from_checkpoint
                .snapshots_between(account, TimeRange::ALL)
                .unwrap(),
            in_memory
                .snapshots_between(account, TimeRange::ALL)
                .unwrap(),
            "account {account}"
        );
    }
}
