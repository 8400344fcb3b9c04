//! The statistics traders ask for, and the firm-wide view, through the command line on the
//! demo journal (two strategies, each with its own magic number, on one account):
//! - the demo's final report and `daily` use the terms of `stats`, and a day's `net_result`
//!   is the change of its `end_balance`;
//! - `--group-by` rows are the statistics `--strategy` / `--magic` select, and add up;
//! - several journals (`--journal` repeated, or a folder of mirrors) answer as their union,
//!   `--group-by journal` gives each journal's own statistics.
//!
//! The arithmetic itself is checked against a plain model in `tests/projection_model.rs`.

mod cli_support;

use std::path::Path;

use cli_support::{dec, decimal, fails, json, ok, path};
use rust_decimal::Decimal;
use serde_json::Value;

const BARS: &str = "1500";

fn demo_journal(dir: &Path) -> String {
    ok(&["demo", path(dir), "--bars", BARS])
}

/// The value after `label` on the demo report's line that starts with it.
fn reported(report: &str, label: &str) -> Decimal {
    let line = report.lines().find(|l| l.starts_with(label)).unwrap();
    dec(line[label.len()..].split_whitespace().next().unwrap())
}

#[test]
fn the_demo_report_and_daily_rows_reconcile_with_stats_and_the_balance() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo");
    let report = demo_journal(&dir);
    let stats = json(&["stats", path(&dir)]);
    assert!(stats["total_trades"].as_u64().unwrap() > 50, "{stats}");
    for (label, field) in [
        ("total profit", "total_profit"),
        ("total commission", "total_commission"),
        ("net result", "net_result"),
        ("max drawdown", "max_drawdown"),
    ] {
        let figure = decimal(&stats[field]);
        assert_eq!(reported(&report, label), figure.round_dp(2), "{label}");
    }
    let net_result = decimal(&stats["net_result"]);
    let costs = decimal(&stats["total_commission"]) + decimal(&stats["total_swap"]);
    assert_eq!(net_result, decimal(&stats["total_profit"]) + costs);
    assert!(costs < Decimal::ZERO, "the demo pays commission");

    // The demo's account starts at 10,000 and only trades: each day's net result is the
    // change of its end balance, and the days add up to the statistics.
    let days = json(&["daily", path(&dir)]);
    let days = days.as_array().unwrap();
    let mut balance = dec("10000");
    for day in days {
        let end = decimal(&day["end_balance"]);
        assert_eq!(end - balance, decimal(&day["net_result"]), "{day}");
        balance = end;
    }
    let sum = |field: &str| days.iter().map(|d| decimal(&d[field])).sum::<Decimal>();
    assert_eq!(sum("net_result"), net_result);
    assert_eq!(sum("total_commission"), decimal(&stats["total_commission"]));
    let summary = json(&["summary", path(&dir)]);
    assert_eq!(decimal(&summary["net_result"]), net_result);
}

/// `stats --group-by KEY --json` as (key, stats object without the key) pairs.
fn groups(dir: &Path, key: &str, field: &str, more: &[&str]) -> Vec<(Value, Value)> {
    let mut args = vec!["stats", path(dir), "--group-by", key, "--json"];
    args.extend_from_slice(more);
    let text = ok(&args);
    let rows: Value = serde_json::from_str(&text).unwrap();
    let rows = rows.as_array().unwrap();
    let key_first = format!("{{\"{field}\":");
    assert_eq!(
        text.matches(&key_first).count(),
        rows.len(),
        "the key comes first: {text}"
    );
    let rows = rows.iter().map(|row| {
        let mut row = row.as_object().unwrap().clone();
        (row.remove(field).unwrap(), Value::Object(row))
    });
    rows.collect()
}

#[test]
fn groups_equal_their_filters_and_add_up() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo");
    demo_journal(&dir);
    let all = json(&["stats", path(&dir)]);
    let by_strategy = groups(&dir, "strategy", "strategy_name", &[]);
    let by_magic = groups(&dir, "magic", "magic_number", &[]);
    assert_eq!(by_strategy.len(), 2, "{by_strategy:?}");
    assert_eq!(by_magic.len(), 2, "{by_magic:?}");
    for (name, stats) in &by_strategy {
        let filtered = json(&["stats", path(&dir), "--strategy", name.as_str().unwrap()]);
        assert_eq!(&filtered, stats, "{name}");
    }
    for (magic, stats) in &by_magic {
        let filtered = json(&["stats", path(&dir), "--magic", &magic.to_string()]);
        assert_eq!(&filtered, stats, "{magic}");
    }
    let trades = |rows: &[(Value, Value)]| -> u64 {
        rows.iter()
            .map(|(_, s)| s["total_trades"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(trades(&by_strategy), all["total_trades"].as_u64().unwrap());
    let profit = by_strategy
        .iter()
        .map(|(_, s)| decimal(&s["total_profit"]))
        .sum::<Decimal>();
    assert_eq!(profit, decimal(&all["total_profit"]));
    let by_account = groups(&dir, "account", "account_number", &[]);
    assert_eq!(by_account.len(), 1, "one account");
    assert_eq!(by_account[0].1, all);

    // `trades --strategy` and `--magic` list the trades those statistics count.
    for (name, stats) in &by_strategy {
        let args = [
            "trades",
            path(&dir),
            "--status",
            "CLOSED",
            "--strategy",
            name.as_str().unwrap(),
        ];
        let listed = json(&args);
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len() as u64, stats["total_trades"].as_u64().unwrap());
        assert!(listed.iter().all(|t| t["strategy_name"] == *name));
    }
    for (magic, stats) in &by_magic {
        let magic_text = magic.to_string();
        let listed = json(&["trades", path(&dir), "--by", "exit", "--magic", &magic_text]);
        assert_eq!(
            listed.as_array().unwrap().len() as u64,
            stats["total_trades"].as_u64().unwrap()
        );
    }

    // The daily rows of one strategy add up to its statistics.
    let (name, stats) = &by_strategy[0];
    let name = name.as_str().unwrap();
    let days = json(&["daily", path(&dir), "--strategy", name]);
    let days = days.as_array().unwrap();
    let net = days
        .iter()
        .map(|d| decimal(&d["net_profit"]))
        .sum::<Decimal>();
    assert_eq!(net, decimal(&stats["total_profit"]));
    let unknown = json(&["stats", path(&dir), "--strategy", "no such strategy"]);
    assert_eq!(unknown["total_trades"], 0);
    assert_eq!(unknown["max_drawdown"], "0");
}

#[test]
fn several_journals_answer_as_their_union() {
    let scratch = tempfile::tempdir().unwrap();
    let mirrors = scratch.path().join("mirrors");
    let (first, second) = (mirrors.join("host-a"), mirrors.join("host-b"));
    demo_journal(&first);
    ok(&["demo", path(&second), "--bars", "700"]);
    let one = json(&["stats", path(&first)]);
    let two = json(&["stats", path(&second)]);

    let repeated = json(&["stats", path(&first), "--journal", path(&second)]);
    let folder = json(&["stats", path(&mirrors)]);
    assert_eq!(
        repeated, folder,
        "a folder of mirrors stands for its journals"
    );
    let count = |v: &Value| v["total_trades"].as_u64().unwrap();
    assert_eq!(count(&folder), count(&one) + count(&two));
    let sum = |field: &str| decimal(&one[field]) + decimal(&two[field]);
    for field in [
        "total_profit",
        "gross_profit",
        "total_commission",
        "net_result",
    ] {
        assert_eq!(decimal(&folder[field]), sum(field), "{field}");
    }

    let by_journal = groups(&mirrors, "journal", "journal", &[]);
    let names: Vec<&str> = by_journal
        .iter()
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(names, [path(&first), path(&second)]);
    assert_eq!(by_journal[0].1, one);
    assert_eq!(by_journal[1].1, two);

    // Both demos trade the same account from the same start: the union's days sum both.
    let days = json(&["daily", path(&mirrors)]);
    let days_one = json(&["daily", path(&first)]);
    let total = |days: &Value| -> u64 {
        let rows = days.as_array().unwrap().iter();
        rows.map(|d| d["total_trades"].as_u64().unwrap()).sum()
    };
    let days_two = json(&["daily", path(&second)]);
    assert_eq!(total(&days), total(&days_one) + total(&days_two));
    let summary = json(&["summary", path(&first), "--journal", path(&second)]);
    assert_eq!(decimal(&summary["net_result"]), sum("net_result"));

    let rates = [&first, &second].map(|dir| json(&["execution-rate", path(dir)]));
    let rate = json(&["execution-rate", path(&mirrors)]);
    let signals = |field: &str| {
        rates
            .iter()
            .map(|r| r[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(rate["total_signals"], signals("total_signals"));
    assert_eq!(rate["executed_signals"], signals("executed_signals"));
    let expected = Decimal::from(signals("executed_signals")) * dec("100")
        / Decimal::from(signals("total_signals"));
    assert_eq!(decimal(&rate["execution_rate"]), expected);

    // The lists: every journal's rows, merged in the list's order, each naming its journal.
    let listed = |args: &[&str]| -> Vec<Value> {
        let text = ok(args);
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = listed(&["trades", path(&mirrors), "--jsonl"]);
    let each = [&first, &second].map(|dir| json(&["trades", path(dir)]));
    let counted: usize = each.iter().map(|t| t.as_array().unwrap().len()).sum();
    assert_eq!(all.len(), counted);
    let names = [path(&first), path(&second)];
    let order: Vec<(String, usize, u64)> = (all.iter())
        .map(|t| {
            let journal = names.iter().position(|n| t["journal"] == *n).unwrap();
            (
                t["entry_time"].as_str().unwrap().to_string(),
                journal,
                t["ticket"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "by (entry_time, journal, ticket)"
    );
    for (journal, trades) in each.iter().enumerate() {
        let mine: Vec<Value> = (all.iter())
            .filter(|t| t["journal"] == names[journal])
            .map(|t| {
                let mut t = t.as_object().unwrap().clone();
                t.remove("journal");
                Value::Object(t)
            })
            .collect();
        assert_eq!(
            &Value::Array(mine),
            trades,
            "journal {journal}'s trades, as it lists them"
        );
    }
    let every = ["--limit", "100000000"];
    let signals = listed(&[&["signals", path(&mirrors), "--jsonl"][..], &every].concat());
    let alone = [&first, &second].map(|dir| json(&[&["signals", path(dir)][..], &every].concat()));
    let alone: usize = alone.iter().map(|s| s.as_array().unwrap().len()).sum();
    assert_eq!(signals.len(), alone);
    let times: Vec<&str> = signals
        .iter()
        .map(|s| s["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "most recent first");
    assert!(signals.iter().any(|s| s["journal"] == names[1]));
    fails(&["trades", path(&mirrors), "--after", "1"], 1);
    let account = ["--account", "12345678"];
    let snapshots = listed(&[&["snapshots", path(&mirrors), "--jsonl"][..], &account].concat());
    let alone =
        [&first, &second].map(|dir| json(&[&["snapshots", path(dir)][..], &account].concat()));
    let counted: usize = alone.iter().map(|s| s.as_array().unwrap().len()).sum();
    assert_eq!(snapshots.len(), counted);
    let times: Vec<&str> = snapshots
        .iter()
        .map(|s| s["snapshot_time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "by snapshot_time");
    let latest = json(&[&["snapshots", path(&mirrors), "--latest"][..], &account].concat());
    let alone_latest = json(&[&["snapshots", path(&first), "--latest"][..], &account].concat());
    assert_eq!(
        latest, alone_latest,
        "the longer demo's last snapshot is the latest"
    );

    // inventory: each group's counts summed; equity: the account's snapshots of both.
    let inventories = [&first, &second].map(|dir| json(&["inventory", path(dir)]));
    let inventory = json(&["inventory", path(&mirrors)]);
    for (i, strategy) in inventory["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let mut trades = 0;
        for alone in &inventories {
            let same = alone["strategies"].as_array().unwrap().iter();
            let mut same = same.filter(|s| s["strategy_name"] == strategy["strategy_name"]);
            trades += same.next().map_or(0, |s| s["trades"].as_u64().unwrap());
        }
        assert_eq!(strategy["trades"].as_u64().unwrap(), trades, "strategy {i}");
    }
    let accounts = &inventory["accounts"][0];
    let alone_first = &inventories[0]["accounts"][0];
    assert_eq!(accounts["first"], alone_first["first"]);
    let equity = json(&[&["equity", path(&mirrors)][..], &account].concat());
    assert_eq!(equity["snapshots"].as_u64().unwrap() as usize, counted);
    let peaks = [&first, &second].map(|dir| json(&[&["equity", path(dir)][..], &account].concat()));
    let highest = peaks
        .iter()
        .map(|e| decimal(&e["peak"]["equity"]))
        .max()
        .unwrap();
    assert_eq!(decimal(&equity["peak"]["equity"]), highest);

    let error = fails(&["stats", path(&mirrors), "--as-of", "5"], 1);
    assert!(
        error.contains("--as-of takes a TIME with several journals"),
        "{error}"
    );
}

/// `equity` against the obvious computation over `snapshots`: the highest and lowest equity
/// (first reached), the largest fall from an earlier equity in money and in percent of that
/// earlier equity, and the return from the first to the last snapshot.
#[test]
fn equity_equals_a_plain_computation_over_the_snapshots() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo");
    demo_journal(&dir);
    let account = json(&["snapshots", path(&dir), "--account", "12345678", "--latest"]);
    assert!(account.is_object(), "the demo's account has snapshots");
    let (from, to) = ("2017-06-01", "2017-12-31");
    let range = ["--from", from, "--to", to];
    let args = |command: &'static str| {
        let mut args = vec![command, path(&dir), "--account", "12345678"];
        args.extend(range);
        args
    };
    let rows = json(&args("snapshots"));
    let rows: Vec<(String, Decimal)> = (rows.as_array().unwrap().iter())
        .map(|r| {
            (
                r["snapshot_time"].as_str().unwrap().to_string(),
                decimal(&r["equity"]),
            )
        })
        .collect();
    assert!(rows.len() > 100);
    let equity = json(&args("equity"));
    assert_eq!(equity["snapshots"], rows.len());
    let first_max = rows.iter().rev().max_by_key(|r| r.1).unwrap();
    let first_min = rows.iter().rev().min_by_key(|r| r.1).unwrap();
    assert_eq!(equity["peak"]["snapshot_time"], first_max.0.as_str());
    assert_eq!(decimal(&equity["peak"]["equity"]), first_max.1);
    assert_eq!(decimal(&equity["trough"]["equity"]), first_min.1);
    let (mut money, mut percent) = (Decimal::ZERO, Decimal::ZERO);
    for (i, high) in rows.iter().enumerate() {
        for low in &rows[i..] {
            money = money.max(high.1 - low.1);
            percent = percent.max((high.1 - low.1) * dec("100") / high.1);
        }
    }
    assert_eq!(decimal(&equity["max_drawdown"]["amount"]), money);
    assert_eq!(decimal(&equity["max_drawdown_percent"]["percent"]), percent);
    let change = rows.last().unwrap().1 - rows[0].1;
    assert_eq!(decimal(&equity["change"]), change);
    assert_eq!(
        decimal(&equity["return_percent"]),
        change * dec("100") / rows[0].1
    );
    let none = json(&["equity", path(&dir), "--account", "1"]);
    assert_eq!(none, Value::Null);
}

/// Events recorded late (all of them imported at once, long after they happened) are placed
/// by `--at-event-time` at their own times: before the close, the trade is OPEN; a link to a
/// trade opened later is left out; `--as-of` by recording time sees all or nothing.
#[test]
fn at_event_time_gives_the_book_as_of_trading_time() {
    let (temp, dir) = cli_support::journal_dir();
    let file = cli_support::write_file(
        temp.path(),
        "late.jsonl",
        &[
            r#"{"event":"signal","signal_id":1,"symbol":"EURUSD","signal_type":"BUY","timestamp":"2024-03-01T09:00:00Z","price":"1.08400","confidence":0.9,"strategy_name":"ma","timeframe":"H1"}"#,
            r#"{"event":"trade_opened","ticket":11,"symbol":"EURUSD","trade_type":"BUY","volume":"0.50","entry_price":"1.08410","entry_time":"2024-03-01T09:00:01Z","account_number":42}"#,
            r#"{"event":"trade_closed","ticket":11,"exit_price":"1.08610","exit_time":"2024-03-01T12:00:00Z","profit":"100.00"}"#,
            r#"{"event":"trade_opened","ticket":12,"symbol":"EURUSD","trade_type":"SELL","volume":"0.10","entry_price":"1.09000","entry_time":"2024-03-01T13:00:00Z","account_number":42}"#,
            r#"{"event":"signal_executed","signal_id":1,"ticket":12}"#,
        ],
    );
    ok(&["import", path(&dir), path(&file)]);
    let at = |time: &str, command: &[&str]| {
        let mut args = command.to_vec();
        args.extend([path(&dir), "--at-event-time", time]);
        json(&args)
    };
    let morning = at("2024-03-01T11:00:00Z", &["trades"]);
    let tickets: Vec<(u64, &str)> = (morning.as_array().unwrap().iter())
        .map(|t| (t["ticket"].as_u64().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(tickets, [(11, "OPEN")]);
    let signal = at("2024-03-01T11:00:00Z", &["signals"]);
    assert_eq!(
        signal[0]["executed"], false,
        "the link to ticket 12 is left out"
    );
    let said = cli_support::stderr(&cli_support::run(&[
        "signals",
        path(&dir),
        "--at-event-time",
        "2024-03-01T11:00:00Z",
    ]));
    assert!(said.contains("3 records left out"), "{said}");
    assert!(!said.contains("refuse"), "left out, not refused: {said}");
    assert_eq!(at("2024-03-01T11:00:00Z", &["stats"])["total_trades"], 0);
    assert_eq!(at("2024-03-01T12:00:00Z", &["stats"])["total_trades"], 1);
    let evening = at("2024-03-01", &["signals"]);
    assert_eq!(
        (&evening[0]["executed"], &evening[0]["ticket"]),
        (&Value::Bool(true), &Value::from(12))
    );
    let both = json(&["stats", path(&dir), "--as-of", "2024-03-01"]);
    assert_eq!(
        both["total_trades"], 0,
        "recorded long after: nothing by recording time"
    );
}
