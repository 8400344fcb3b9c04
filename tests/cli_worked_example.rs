//! The old system's worked example (`fixtures/worked-example.jsonl`), imported through the CLI
//! and queried with every query command; the expected values are worked out by hand below.
//!
//! The journal: account 12345678, three UTC days.
//!
//! | ticket | symbol | entry (UTC)      | exit (UTC)             | profit |
//! |--------|--------|------------------|------------------------|--------|
//! | 1001   | EURUSD | 01-02 08:00:05   | 01-02 11:00:00         |  20.00 |
//! | 1002   | EURUSD | 01-02 12:00:00   | 01-02 15:30:00         | -12.50 |
//! | 1003   | GBPUSD | 01-02 20:00:00   | 01-02 23:59:59.5       |   8.75 |
//! | 1004   | EURUSD | 01-02 22:00:00   | 01-03 09:00:00         |   0.00 | breakeven
//! | 1005   | EURUSD | 01-04 09:00:00   | 01-04 11:00:00         |   5.25 |
//! | 1006   | EURUSD | 01-04 13:00:00   | 01-04 16:00:00         |  -7.40 |
//! | 1007   | EURUSD | 01-04 18:00:00   | (open)                 |        |
//!
//! Signals 1 (BUY, executed by 1001 at opening), 2 (HOLD), 3, 5 (not executed) and 4
//! (executed by 1007 through `signal_executed`). Snapshots on 01-02 00:00 (10000.00),
//! 01-02 16:00 (10007.50), 01-03 12:00 (10016.25), 01-04 20:00 (10014.10, equity 10013.60).

mod cli_support;

use cli_support::*;
use serde_json::{json, Value};

fn imported() -> (tempfile::TempDir, String) {
    let (temp, dir) = journal_dir();
    let fixture = fixture("worked-example.jsonl");
    let out = ok(&["import", path(&dir), path(&fixture)]);
    assert!(out.contains("imported 24 events"), "{out}");
    (temp, path(&dir).to_string())
}

#[test]
fn stats_count_the_breakeven_and_have_exact_sums() {
    let (_temp, dir) = imported();
    let stats = json(&["stats", &dir]);
    // Wins 20.00, 8.75, 5.25; losses -12.50, -7.40; one breakeven 0.00.
    assert_eq!(stats["total_trades"], 6);
    assert_eq!(stats["winning_trades"], 3);
    assert_eq!(stats["losing_trades"], 2);
    assert_eq!(stats["breakeven_trades"], 1);
    // 3 / 6 × 100: the breakeven counts in the total.
    assert_ratio(&stats["win_rate"], "50");
    // 20.00 + 8.75 + 5.25 = 34.00; 12.50 + 7.40 = 19.90; 34.00 − 19.90 = 14.10.
    assert_eq!(stats["gross_profit"], "34.00");
    assert_eq!(stats["gross_loss"], "19.90");
    assert_eq!(stats["total_profit"], "14.10");
    // 14.10 / 6 = 2.35; 34.00 / 19.90 = 1.70854271356783919598…
    assert_ratio(&stats["average_profit"], "2.35");
    assert_ratio(&stats["profit_factor"], "1.708542713567839195979899");
    // 34.00 / 3 = 11.333…; 19.90 / 2 = 9.95.
    assert_ratio(&stats["average_win"], "11.333333333333333333333333");
    assert_ratio(&stats["average_loss"], "9.95");
    assert_eq!(stats["largest_win"], "20.00");
    assert_eq!(stats["largest_loss"], "-12.50");
}

#[test]
fn profit_factor_is_null_without_a_loss_and_set_with_one() {
    let (_temp, dir) = imported();
    // GBPUSD: only 1003 (+8.75), no loss: profit_factor, average_loss, largest_loss are null.
    let gbp = json(&["stats", &dir, "--symbol", "GBPUSD"]);
    assert_eq!(gbp["total_trades"], 1);
    assert_eq!(gbp["profit_factor"], Value::Null);
    assert_eq!(gbp["average_loss"], Value::Null);
    assert_eq!(gbp["largest_loss"], Value::Null);
    assert_eq!(gbp["gross_loss"].as_str().map(dec), Some(dec("0")));
    // EURUSD: wins 20.00 + 5.25 = 25.25, losses 12.50 + 7.40 = 19.90: 25.25 / 19.90.
    let eur = json(&["stats", &dir, "--symbol", "EURUSD"]);
    assert_eq!(eur["total_trades"], 5);
    assert_ratio(&eur["profit_factor"], "1.268844221105527638190954");
    // No trade at all for an unknown symbol: zeros, and nulls where nothing exists.
    let none = json(&["stats", &dir, "--symbol", "eurusd"]);
    assert_eq!(none["total_trades"], 0);
    assert_ratio(&none["win_rate"], "0");
    assert_eq!(none["profit_factor"], Value::Null);
    assert_eq!(none["average_win"], Value::Null);
}

#[test]
fn daily_rows_sum_to_the_stats_total_and_the_late_close_stays_on_its_day() {
    let (_temp, dir) = imported();
    let days = json(&["daily", &dir]);
    let days = days.as_array().unwrap();
    let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2024-01-02", "2024-01-03", "2024-01-04"]);
    // 01-02: 1001, 1002 and 1003 (closed at 23:59:59.5, still 01-02): 20.00 − 12.50 + 8.75.
    let first = &days[0];
    assert_eq!(first["total_trades"], 3);
    assert_eq!(first["gross_profit"], "28.75");
    assert_eq!(first["net_profit"], "16.25");
    // 2 of 3 won: 66.666…; 28.75 / 12.50 = 2.3.
    assert_ratio(&first["win_rate"], "66.666666666666666666666666");
    assert_ratio(&first["profit_factor"], "2.3");
    assert_eq!(first["account_number"], Value::Null);
    // The only account with snapshots gives the end balance: the 16:00 snapshot.
    assert_eq!(first["end_balance"], "10007.50");
    // 01-03: only the breakeven 1004: no win, no loss, profit_factor null.
    let second = &days[1];
    assert_eq!(second["total_trades"], 1);
    assert_eq!(second["breakeven_trades"], 1);
    assert_eq!(decimal(&second["net_profit"]), dec("0"));
    assert_eq!(second["profit_factor"], Value::Null);
    assert_eq!(second["largest_win"], Value::Null);
    assert_eq!(second["end_balance"], "10016.25");
    // 01-04: 5.25 − 7.40 = −2.15; 5.25 / 7.40 = 0.709459…
    let third = &days[2];
    assert_eq!(third["net_profit"], "-2.15");
    assert_ratio(&third["profit_factor"], "0.709459459459459459459459");
    assert_eq!(third["end_balance"], "10014.10");
    assert_eq!(third["end_equity"], "10013.60");
    // 16.25 + 0 − 2.15 = 14.10 = stats total_profit over the same days.
    let sum: rust_decimal::Decimal = days.iter().map(|d| decimal(&d["net_profit"])).sum();
    let stats = json(&["stats", &dir, "--from", "2024-01-02", "--to", "2024-01-04"]);
    assert_eq!(sum, decimal(&stats["total_profit"]));
    assert_eq!(stats["total_profit"], "14.10");
}

#[test]
fn the_close_at_half_a_second_before_midnight_counts_on_its_own_day() {
    let (_temp, dir) = imported();
    // --to a date means its last nanosecond: 1003's exit at 23:59:59.5 is in.
    let day = json(&["stats", &dir, "--from", "2024-01-02", "--to", "2024-01-02"]);
    assert_eq!(day["total_trades"], 3);
    // A bound at 23:59:59 leaves it out: 20.00 − 12.50 = 7.50.
    let before = json(&["stats", &dir, "--to", "2024-01-02T23:59:59Z"]);
    assert_eq!(before["total_trades"], 2);
    assert_eq!(before["total_profit"], "7.50");
    // And the next day does not see it.
    let next = json(&["daily", &dir, "--from", "2024-01-03", "--to", "2024-01-03"]);
    assert_eq!(next.as_array().unwrap().len(), 1);
    assert_eq!(next[0]["total_trades"], 1);
}

#[test]
fn by_entry_selects_on_entry_time_and_by_exit_on_exit_time() {
    let (_temp, dir) = imported();
    let range = ["--from", "2024-01-02", "--to", "2024-01-02"];
    let by_exit = json(&[&["stats", &dir][..], &range].concat());
    let by_entry = json(&[&["stats", &dir, "--by", "entry"][..], &range].concat());
    // Exited on 01-02: 1001, 1002, 1003. Entered on 01-02: those and 1004 (breakeven).
    assert_eq!(by_exit["total_trades"], 3);
    assert_eq!(by_entry["total_trades"], 4);
    assert_eq!(by_entry["breakeven_trades"], 1);
    // 2 of 3 against 2 of 4; the profit is the same, the breakeven adding nothing.
    assert_ratio(&by_exit["win_rate"], "66.666666666666666666666666");
    assert_ratio(&by_entry["win_rate"], "50");
    assert_eq!(by_exit["total_profit"], by_entry["total_profit"]);
    // 01-03: 1004 exited then but no trade entered then.
    let third = ["--from", "2024-01-03", "--to", "2024-01-03"];
    assert_eq!(
        json(&[&["stats", &dir][..], &third].concat())["total_trades"],
        1
    );
    let entered = json(&[&["stats", &dir, "--by", "entry"][..], &third].concat());
    assert_eq!(entered["total_trades"], 0);
}

#[test]
fn summary_counts_winning_losing_and_breakeven_days() {
    let (_temp, dir) = imported();
    let summary = json(&["summary", &dir]);
    // Days: +16.25 (winning), 0 (breakeven, not losing), −2.15 (losing).
    assert_eq!(
        summary,
        json!({
            "total_days": 3, "winning_days": 1, "losing_days": 1, "breakeven_days": 1,
            "total_trades": 6, "total_profit": "14.10", "average_daily_profit": "4.70",
            "total_commission": "-0.70", "total_swap": "0", "net_result": "13.40",
        })
    );
    // 01-03 to 01-04: 0 − 2.15 = −2.15 over 2 days: −1.075.
    let part = json(&[
        "summary",
        &dir,
        "--from",
        "2024-01-03",
        "--to",
        "2024-01-04",
    ]);
    assert_eq!(part["total_days"], 2);
    assert_eq!(part["total_profit"], "-2.15");
    assert_ratio(&part["average_daily_profit"], "-1.075");
}

#[test]
fn open_trades_and_a_trade_by_ticket() {
    let (_temp, dir) = imported();
    let open = json(&["trades", &dir, "--open"]);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["ticket"], 1007);
    assert_eq!(open[0]["status"], "OPEN");
    // Linked by signal_executed after it was opened.
    assert_eq!(open[0]["signal_id"], 4);
    assert_eq!(open[0]["exit_time"], Value::Null);
    let trade = json(&["trades", &dir, "--ticket", "1003"]);
    assert_eq!(
        trade,
        json!({
            "ticket": 1003, "symbol": "GBPUSD", "trade_type": "BUY", "status": "CLOSED",
            "volume": "0.20", "entry_price": "1.27000", "entry_time": "2024-01-02T20:00:00Z",
            "exit_price": "1.27044", "exit_time": "2024-01-02T23:59:59.5Z",
            // Imported as the JSON number 8.75: read exactly, printed as a string.
            "profit": "8.75", "pips": "4.4", "commission": "0", "swap": "0",
            // 20:00:00 to 23:59:59.5 is 14 399.5 s, rounded down.
            "duration_seconds": 14399,
            "stop_loss": null, "take_profit": null, "magic_number": 0,
            "account_number": 12345678, "strategy_name": "breakout", "signal_id": null,
            "signal_confidence": null, "signal_reason": null, "ml_enhanced": false,
            "ml_confidence": null, "ai_approved": true, "ai_reasoning": null, "comment": null,
            "close_reason": "end of session",
        })
    );
    assert_eq!(json(&["trades", &dir, "--ticket", "999"]), Value::Null);
    // 1002 was imported with trade_type "sell": upper case on output.
    assert_eq!(
        json(&["trades", &dir, "--ticket", "1002"])["trade_type"],
        "SELL"
    );
}

#[test]
fn trades_listings_filter_and_order_by_entry_time() {
    let (_temp, dir) = imported();
    let tickets = |args: &[&str]| -> Vec<u64> {
        let all = json(&[&["trades", &dir][..], args].concat());
        all.as_array()
            .unwrap()
            .iter()
            .map(|t| t["ticket"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(tickets(&[]), [1001, 1002, 1003, 1004, 1005, 1006, 1007]);
    assert_eq!(tickets(&["--symbol", "GBPUSD"]), [1003]);
    assert_eq!(
        tickets(&["--status", "closed", "--from", "2024-01-04"]),
        [1005, 1006]
    );
    // Entered on 01-02 against closed on 01-03.
    assert_eq!(
        tickets(&["--from", "2024-01-02", "--to", "2024-01-02"]),
        [1001, 1002, 1003, 1004]
    );
    assert_eq!(
        tickets(&["--by", "exit", "--from", "2024-01-03", "--to", "2024-01-03"]),
        [1004]
    );
    assert_eq!(tickets(&["--account", "1"]), Vec::<u64>::new());
}

#[test]
fn signals_most_recent_first_and_the_execution_rate() {
    let (_temp, dir) = imported();
    let signals = json(&["signals", &dir]);
    let ids: Vec<u64> = signals
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal_id"].as_u64().unwrap())
        .collect();
    // By timestamp descending: 4 (01-04 17:55), 5 (01-03 15:00), 3 (01-03 10:00), 2, 1.
    assert_eq!(ids, [4, 5, 3, 2, 1]);
    let hold = &signals[3];
    assert_eq!(hold["signal_type"], "HOLD");
    assert_eq!(hold["executed"], false);
    assert_eq!(hold["ticket"], Value::Null);
    assert_eq!(signals[4]["executed"], true);
    assert_eq!(signals[4]["ticket"], 1001);
    assert_eq!(signals[4]["confidence"], json!(0.72));
    assert_eq!(signals[0]["execution_reason"], "linked after the fill");
    let limited = json(&["signals", &dir, "--symbol", "GBPUSD", "--limit", "1"]);
    assert_eq!(limited.as_array().unwrap().len(), 1);
    assert_eq!(limited[0]["signal_id"], 5);
    // 2 of 5 executed, the HOLD included in the total: 40.
    let rate = json(&["execution-rate", &dir]);
    assert_eq!(rate["total_signals"], 5);
    assert_eq!(rate["executed_signals"], 2);
    assert_ratio(&rate["execution_rate"], "40");
    // Since 01-03: signals 3, 5, 4, of which 4 executed: 1 / 3 × 100.
    let since = json(&["execution-rate", &dir, "--since", "2024-01-03"]);
    assert_eq!(since["total_signals"], 3);
    assert_ratio(&since["execution_rate"], "33.333333333333333333333333");
}

#[test]
fn snapshots_of_the_account_across_days() {
    let (_temp, dir) = imported();
    let all = json(&["snapshots", &dir, "--account", "12345678"]);
    let balances: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["balance"].as_str().unwrap())
        .collect();
    assert_eq!(balances, ["10000.00", "10007.50", "10016.25", "10014.10"]);
    let day = json(&[
        "snapshots",
        &dir,
        "--account",
        "12345678",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-02",
    ]);
    assert_eq!(day.as_array().unwrap().len(), 2);
    let latest = json(&["snapshots", &dir, "--account", "12345678", "--latest"]);
    assert_eq!(latest["equity"], "10013.60");
    assert_eq!(latest["open_positions"], 1);
    assert_eq!(latest["margin_level"], Value::Null);
    assert_eq!(latest["snapshot_time"], "2024-01-04T20:00:00Z");
    assert_eq!(
        json(&["snapshots", &dir, "--account", "1", "--latest"]),
        Value::Null
    );
    assert_eq!(json(&["snapshots", &dir, "--account", "1"]), json!([]));
}

#[test]
fn human_tables_round_money_and_ratios_to_two_places() {
    let (_temp, dir) = imported();
    let stats = ok(&["stats", &dir]);
    let shown = |label: &str| {
        let line = stats.lines().find(|l| l.starts_with(label)).unwrap();
        line[label.len()..].trim().to_string()
    };
    assert_eq!(shown("profit factor"), "1.71", "{stats}");
    assert_eq!(shown("win rate"), "50.00 %", "{stats}");
    let daily = ok(&["daily", &dir]);
    let first = daily.lines().nth(1).unwrap();
    assert!(first.starts_with("2024-01-02"), "{daily}");
    assert!(first.contains("66.67 %"), "{daily}");
    // Prices stay exact in tables.
    assert!(ok(&["trades", &dir, "--open"]).contains("1.09510"));
}
