//! The old system's worked example, with every expected value computed by hand.
//!
//! Account 1001, six CLOSED trades and one OPEN trade:
//!
//! | ticket | symbol | entry (UTC)      | exit (UTC)            | profit  |
//! |--------|--------|------------------|-----------------------|---------|
//! | 1      | EURUSD | 03-04 09:00      | 03-04 11:30           |  25.50  |
//! | 2      | EURUSD | 03-04 10:00      | 03-04 15:00           | -10.25  |
//! | 3      | GBPUSD | 03-04 20:00      | 03-04 23:59:59.5      |   0.00  |
//! | 4      | EURUSD | 03-05 08:00      | 03-05 09:15:30        |  40.00  |
//! | 5      | GBPUSD | 03-05 12:00      | 03-05 13:00           | -15.75  |
//! | 6      | EURUSD | 03-04 22:00      | 03-06 01:00           |   3.20  |
//! | 7      | EURUSD | 03-06 02:00      | (open)                |         |
//!
//! Wins 1, 4, 6: gross_profit = 25.50 + 40.00 + 3.20 = 68.70.
//! Losses 2, 5: gross_loss = 10.25 + 15.75 = 26.00. Trade 3 is breakeven.
//! total_profit = 68.70 − 26.00 = 42.70; win_rate = 3 × 100 / 6 = 50;
//! average_profit = 42.70 / 6 = 7.11666…; profit_factor = 68.70 / 26.00 = 2.6423076923…;
//! average_win = 68.70 / 3 = 22.90; average_loss = 26.00 / 2 = 13.
//!
//! Trade 3 closes at 23:59:59.5 on the 4th: it belongs to the 4th, and a `--to 2024-03-04`
//! (23:59:59.999999999) includes it; the old system's `<= 23:59:59` dropped it.

use super::fixtures::*;
use crate::model::event::*;
use crate::projection::{Projections, TimeBasis, TimeRange};
use chrono::NaiveDate;

fn example() -> Projections {
    let trades = [
        (1, "EURUSD", "03-04T09:00:00", "03-04T11:30:00", "25.50"),
        (2, "EURUSD", "03-04T10:00:00", "03-04T15:00:00", "-10.25"),
        (3, "GBPUSD", "03-04T20:00:00", "03-04T23:59:59.5", "0.00"),
        (4, "EURUSD", "03-05T08:00:00", "03-05T09:15:30", "40.00"),
        (5, "GBPUSD", "03-05T12:00:00", "03-05T13:00:00", "-15.75"),
        (6, "EURUSD", "03-04T22:00:00", "03-06T01:00:00", "3.20"),
    ];
    let time = |t: &str| format!("2024-{t}Z");
    let mut events = Vec::new();
    for (ticket, symbol, entry, exit, profit) in trades {
        events.push(Event::TradeOpened(opened(ticket, symbol, &time(entry))));
        events.push(Event::TradeClosed(closed(ticket, &time(exit), profit)));
    }
    events.push(Event::TradeOpened(opened(
        7,
        "EURUSD",
        "2024-03-06T02:00:00Z",
    )));
    events.extend(
        [
            snapshot(1001, "2024-03-04T12:00:00Z", "10025.50", "10030.00"),
            snapshot(1001, "2024-03-05T00:00:00Z", "10015.25", "10015.25"),
            snapshot(1001, "2024-03-05T18:00:00Z", "10039.50", "10041.10"),
        ]
        .map(Event::AccountSnapshot),
    );
    journal(events)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn statistics_of_all_closed_trades() {
    let stats = example()
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None)
        .unwrap();
    let json = serde_json::to_string(&stats).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"total_trades":6,"winning_trades":3,"losing_trades":2,"breakeven_trades":1,"#,
            r#""win_rate":"50","total_profit":"42.70","average_profit":"7.1166666666666666666666666667","#,
            r#""gross_profit":"68.70","gross_loss":"26.00","profit_factor":"2.6423076923076923076923076923","#,
            r#""average_win":"22.90","average_loss":"13.00","largest_win":"40.00","largest_loss":"-15.75","#,
            // In exit order +25.50 −10.25 0 +40.00 −15.75 +3.20: no two wins or losses in a
            // row; cumulative profit falls most from 55.25 to 39.50.
            r#""total_commission":"0","total_swap":"0","net_result":"42.70","#,
            r#""max_consecutive_wins":1,"max_consecutive_losses":1,"max_drawdown":"15.75"}"#
        )
    );
}

#[test]
fn a_close_at_half_a_second_to_midnight_belongs_to_its_day() {
    let state = example();
    let day = |to: &str| TimeRange::new(Some(at("2024-03-04T00:00:00Z")), Some(at(to)));
    let whole_day = state
        .trade_statistics(
            day("2024-03-04T23:59:59.999999999Z"),
            TimeBasis::Exit,
            None,
            None,
        )
        .unwrap();
    // Trades 1, 2, 3: 25.50 − 10.25 + 0.00 = 15.25.
    assert_eq!(
        (
            whole_day.total_trades,
            whole_day.breakeven_trades,
            whole_day.total_profit
        ),
        (3, 1, dec("15.25"))
    );
    let old_bound = state
        .trade_statistics(day("2024-03-04T23:59:59Z"), TimeBasis::Exit, None, None)
        .unwrap();
    assert_eq!(old_bound.total_trades, 2);
    // By entry the 4th has trades 1, 2, 3 and 6: 25.50 − 10.25 + 0.00 + 3.20 = 18.45.
    let by_entry = state
        .trade_statistics(
            day("2024-03-04T23:59:59.999999999Z"),
            TimeBasis::Entry,
            None,
            None,
        )
        .unwrap();
    assert_eq!(
        (
            by_entry.total_trades,
            by_entry.winning_trades,
            by_entry.total_profit
        ),
        (4, 2, dec("18.45"))
    );
}

#[test]
fn statistics_of_one_symbol() {
    // EURUSD: 25.50 − 10.25 + 40.00 + 3.20 = 58.45, one loss of 10.25.
    let stats = example()
        .trade_statistics(TimeRange::ALL, TimeBasis::Exit, Some("EURUSD"), Some(1001))
        .unwrap();
    assert_eq!(
        (
            stats.total_trades,
            stats.winning_trades,
            stats.losing_trades
        ),
        (4, 3, 1)
    );
    assert_eq!(stats.total_profit, dec("58.45"));
    // 68.70 / 10.25 = 6.70243902439024390243902439…
    assert_eq!(
        stats.profit_factor.unwrap().to_string(),
        "6.7024390243902439024390243902"
    );
}

#[test]
fn daily_rows() {
    let days = example().daily_performance(None, None, None).unwrap();
    let rows: Vec<String> = days
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    // 4th: trades 1, 2, 3. win_rate 1/3; profit_factor 25.50 / 10.25 = 2.48780487804878…;
    // end balance from the 12:00 snapshot (the one at 00:00 on the 5th is after the day).
    assert_eq!(
        rows[0],
        concat!(
            r#"{"date":"2024-03-04","account_number":null,"total_trades":3,"winning_trades":1,"losing_trades":1,"#,
            r#""breakeven_trades":1,"gross_profit":"25.50","gross_loss":"10.25","net_profit":"15.25","#,
            r#""win_rate":"33.333333333333333333333333333","profit_factor":"2.4878048780487804878048780488","#,
            r#""average_win":"25.50","average_loss":"10.25","largest_win":"25.50","largest_loss":"-10.25","#,
            r#""end_balance":"10025.50","end_equity":"10030.00","#,
            r#""total_commission":"0","total_swap":"0","net_result":"15.25"}"#
        )
    );
    // 5th: trades 4, 5. 40.00 − 15.75 = 24.25; 40.00 / 15.75 = 2.53968253968253968…
    assert_eq!(
        rows[1],
        concat!(
            r#"{"date":"2024-03-05","account_number":null,"total_trades":2,"winning_trades":1,"losing_trades":1,"#,
            r#""breakeven_trades":0,"gross_profit":"40.00","gross_loss":"15.75","net_profit":"24.25","#,
            r#""win_rate":"50","profit_factor":"2.5396825396825396825396825397","#,
            r#""average_win":"40.00","average_loss":"15.75","largest_win":"40.00","largest_loss":"-15.75","#,
            r#""end_balance":"10039.50","end_equity":"10041.10","#,
            r#""total_commission":"0","total_swap":"0","net_result":"24.25"}"#
        )
    );
    // 6th: trade 6 only; no loss, so the loss fields are null; balance carried from the 5th.
    assert_eq!(
        rows[2],
        concat!(
            r#"{"date":"2024-03-06","account_number":null,"total_trades":1,"winning_trades":1,"losing_trades":0,"#,
            r#""breakeven_trades":0,"gross_profit":"3.20","gross_loss":"0","net_profit":"3.20","#,
            r#""win_rate":"100","profit_factor":null,"#,
            r#""average_win":"3.20","average_loss":null,"largest_win":"3.20","largest_loss":null,"#,
            r#""end_balance":"10039.50","end_equity":"10041.10","#,
            r#""total_commission":"0","total_swap":"0","net_result":"3.20"}"#
        )
    );
    assert_eq!(rows.len(), 3);
}

#[test]
fn daily_net_profit_adds_up_to_the_statistics_of_the_same_days() {
    let state = example();
    let days = state
        .daily_performance(
            Some(date("2024-03-04")),
            Some(date("2024-03-05")),
            Some(1001),
        )
        .unwrap();
    let net: rust_decimal::Decimal = days.iter().map(|d| d.net_profit).sum();
    let range = TimeRange::new(
        Some(at("2024-03-04T00:00:00Z")),
        Some(at("2024-03-05T23:59:59.999999999Z")),
    );
    let stats = state
        .trade_statistics(range, TimeBasis::Exit, None, Some(1001))
        .unwrap();
    // 15.25 + 24.25 = 39.50.
    assert_eq!((net, stats.total_profit), (dec("39.50"), dec("39.50")));
}

#[test]
fn summary() {
    let summary = example().performance_summary(None, None, None).unwrap();
    // Three winning days (15.25, 24.25, 3.20), six trades; 42.70 / 3 = 14.2333…
    assert_eq!(
        serde_json::to_string(&summary).unwrap(),
        concat!(
            r#"{"total_days":3,"winning_days":3,"losing_days":0,"breakeven_days":0,"#,
            r#""total_trades":6,"total_profit":"42.70","average_daily_profit":"14.233333333333333333333333333","#,
            r#""total_commission":"0","total_swap":"0","net_result":"42.70"}"#
        )
    );
}

#[test]
fn the_open_trade_is_open_and_not_counted() {
    let state = example();
    let open = state.open_trades(None, Some(1001)).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].ticket, open[0].status), (7, TradeStatus::Open));
    assert_eq!(open[0].profit, None);
}
