//! The list commands streamed: `--jsonl` lines are the `--json` array's elements, paging with
//! `--limit`/`--after` walks every trade once, a reader that stops reading ends the command
//! quietly, and `inventory` counts what the events written hold. The journal is read from a
//! checkpoint plus a tail replayed into memory, with rows of both interleaved in time, so that
//! every walk merges stored and in-memory rows.

mod cli_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use cli_support::*;
use serde_json::{json, Value};

const SYMBOLS: [&str; 3] = ["EURUSD", "GBPUSD", "USDJPY"];
const ACCOUNTS: [Option<u64>; 3] = [Some(11), Some(22), None];
const STRATEGIES: [Option<&str>; 3] = [Some("alpha"), Some("beta"), None];
const MAGICS: [u64; 3] = [0, 7, 42];

/// `2024-03-01` plus `minutes`, RFC 3339 as the CLI prints it.
fn at(minutes: u64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z").unwrap();
    let time = start + chrono::Duration::minutes(minutes as i64);
    time.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One trade of the generated journal, as the events written say it is.
#[derive(Clone, Debug)]
struct Trade {
    ticket: u64,
    symbol: &'static str,
    account: Option<u64>,
    strategy: Option<&'static str>,
    magic: u64,
    entry: u64,
    exit: Option<u64>,
    status: &'static str,
}

/// The events of the journal in two parts (the first is checkpointed, the second replayed
/// on load), and the trades they leave.
struct Generated {
    first: Vec<Value>,
    second: Vec<Value>,
    trades: Vec<Trade>,
    /// (minute, symbol, strategy) of each signal.
    signals: Vec<(u64, &'static str, &'static str)>,
    /// (account, minute) of each snapshot.
    snapshots: Vec<(u64, u64)>,
}

/// Trades 1..=60 and signals 1..=40 in the first part, 61..=100 and 41..=70 in the second,
/// at interleaved times (and some times shared across the parts, the ticket breaking the
/// tie); trades left OPEN or PENDING by the first part are closed, filled or cancelled in
/// the second, and a signal of the first part is linked in the second.
fn generate() -> Generated {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut trades = Vec::new();
    for ticket in 1..=100u64 {
        let in_first = ticket <= 60;
        let entry = match in_first {
            true => 3 * ticket,
            false => (ticket - 60) * 9 / 2,
        };
        let i = ticket as usize;
        let mut trade = Trade {
            ticket,
            symbol: SYMBOLS[i % 3],
            account: ACCOUNTS[(i / 3) % 3],
            strategy: STRATEGIES[(i / 2) % 3],
            magic: MAGICS[(i / 5) % 3],
            entry,
            exit: None,
            status: "OPEN",
        };
        let part = if in_first { &mut first } else { &mut second };
        let mut opened = json!({
            "event": "trade_opened", "ticket": ticket, "symbol": trade.symbol,
            "trade_type": if ticket % 2 == 0 { "BUY" } else { "SELL" },
            "volume": "0.10", "entry_price": "1.10000", "entry_time": at(entry),
            "magic_number": trade.magic,
        });
        if let Some(account) = trade.account {
            opened["account_number"] = json!(account);
        }
        if let Some(strategy) = trade.strategy {
            opened["strategy_name"] = json!(strategy);
        }
        match ticket % 7 {
            3 => {
                opened["event"] = json!("order_failed");
                opened["reason"] = json!("rejected");
                trade.status = "FAILED";
                part.push(opened);
            }
            5 => {
                opened["status"] = json!("PENDING");
                trade.status = "PENDING";
                part.push(opened);
            }
            _ => part.push(opened),
        }
        // What becomes of it: closed (after a random-looking holding time, so that exit
        // order differs from entry order), left open, filled or cancelled.
        let hold = 1 + (ticket * 37) % 50;
        match (trade.status, ticket % 4) {
            ("OPEN", 0) => {} // stays open
            ("OPEN", 1) if in_first => {
                // Closed only in the second part: a live trade of the checkpoint.
                trade.exit = Some(entry + 400);
                trade.status = "CLOSED";
                second.push(close(ticket, entry + 400));
            }
            ("OPEN", _) => {
                trade.exit = Some(entry + hold);
                trade.status = "CLOSED";
                let part = if in_first { &mut first } else { &mut second };
                part.push(close(ticket, entry + hold));
            }
            ("PENDING", 0 | 1) => {
                second.push(json!({"event": "order_filled", "ticket": ticket,
                    "entry_price": "1.10010", "entry_time": at(entry + 1)}));
                trade.entry = entry + 1;
                trade.status = "OPEN";
            }
            ("PENDING", 2) => {
                second.push(json!({"event": "order_cancelled", "ticket": ticket,
                    "time": at(entry + 2), "reason": "expired"}));
                trade.status = "CANCELLED";
            }
            _ => {}
        }
        trades.push(trade);
    }
    let mut signals = Vec::new();
    for id in 1..=70u64 {
        let minute = match id <= 40 {
            true => 5 * id,
            false => (id - 40) * 13 / 2,
        };
        let (symbol, strategy) = (SYMBOLS[(id as usize) % 3], STRATEGIES[(id as usize) % 2]);
        signals.push((minute, symbol, strategy.unwrap()));
        let part = if id <= 40 { &mut first } else { &mut second };
        part.push(json!({
            "event": "signal", "signal_id": id, "symbol": symbol,
            "signal_type": "BUY", "timestamp": at(minute), "price": "1.10000",
            "confidence": 0.5, "strategy_name": strategy.unwrap(),
            "timeframe": "H1",
        }));
    }
    // A signal of the checkpoint executed by a trade of the tail.
    second.push(json!({"event": "signal_executed", "signal_id": 2, "ticket": 62}));
    let mut snapshots = Vec::new();
    for n in 0..30u64 {
        let (account, minute) = (ACCOUNTS[(n % 2) as usize].unwrap(), 7 * n + n % 3);
        snapshots.push((account, minute));
        let part = if n % 3 == 0 { &mut second } else { &mut first };
        part.push(json!({
            "event": "account_snapshot", "account_number": account, "server": "S",
            "broker": "B", "balance": format!("{}.00", 1000 + n), "equity": "1000.00",
            "snapshot_time": at(minute),
        }));
    }
    Generated {
        first,
        second,
        trades,
        signals,
        snapshots,
    }
}

fn close(ticket: u64, minute: u64) -> Value {
    json!({"event": "trade_closed", "ticket": ticket, "exit_price": "1.10100",
        "exit_time": at(minute), "profit": format!("{}.50", ticket % 9)})
}

fn write_events(folder: &Path, name: &str, events: &[Value]) -> PathBuf {
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    write_file(folder, name, &refs)
}

/// The generated journal, read from the checkpoint of its first part plus its second part
/// replayed into memory (the checkpoint of the second part is removed).
fn journal() -> (tempfile::TempDir, String, Generated) {
    let generated = generate();
    let (temp, dir) = journal_dir();
    let first = write_events(temp.path(), "first.jsonl", &generated.first);
    let second = write_events(temp.path(), "second.jsonl", &generated.second);
    ok(&["import", path(&dir), path(&first)]);
    ok(&["import", path(&dir), path(&second)]);
    let first_seq = generated.first.len() as u64;
    for entry in std::fs::read_dir(dir.join("checkpoints")).unwrap() {
        let entry = entry.unwrap().path();
        if entry.to_string_lossy().ends_with(".ckpt") && !entry.ends_with(checkpoint(first_seq)) {
            std::fs::remove_file(entry).unwrap();
        }
    }
    let status = json(&["status", path(&dir)]);
    assert_eq!(status["checkpoint_seq"], first_seq, "{status}");
    let head = (generated.first.len() + generated.second.len()) as u64;
    assert_eq!(status["head_seq"], head);
    (temp, path(&dir).to_string(), generated)
}

fn checkpoint(seq: u64) -> String {
    format!("checkpoint-{seq:020}.ckpt")
}

/// The lines of a `--jsonl` run, each parsed.
fn jsonl(args: &[&str]) -> Vec<Value> {
    let mut args = args.to_vec();
    args.push("--jsonl");
    let text = ok(&args);
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

fn tickets(rows: &[Value]) -> Vec<u64> {
    rows.iter().map(|r| r["ticket"].as_u64().unwrap()).collect()
}

/// The tickets in the list's order, (entry_time, ticket), of the trades `keep` selects.
fn expected(trades: &[Trade], keep: impl Fn(&Trade) -> bool) -> Vec<u64> {
    let mut kept: Vec<&Trade> = trades.iter().filter(|t| keep(t)).collect();
    kept.sort_by_key(|t| (t.entry, t.ticket));
    kept.iter().map(|t| t.ticket).collect()
}

/// Every `--jsonl` line is the element of the `--json` array at its place, byte for byte,
/// and the rows are in the list's order, with stored and in-memory rows interleaved.
#[test]
fn jsonl_lines_are_the_json_arrays_elements() {
    let (_temp, dir, generated) = journal();
    let queries: &[&[&str]] = &[
        &["trades"],
        &["trades", "--by", "exit"],
        &["trades", "--by", "exit", "--from", "2024-03-01T02:00:00Z"],
        &["trades", "--status", "closed", "--symbol", "EURUSD"],
        &["trades", "--open"],
        &["trades", "--status", "pending"],
        &["trades", "--account", "11", "--to", "2024-03-01T03:00:00Z"],
        &["trades", "--symbol", "NOSUCH"],
        &["trades", "--limit", "5", "--after", "12"],
        &["signals"],
        &["signals", "--limit", "7"],
        &["signals", "--symbol", "GBPUSD"],
        &["snapshots", "--account", "11"],
        &[
            "snapshots",
            "--account",
            "22",
            "--from",
            "2024-03-01T01:00:00Z",
        ],
        &["snapshots", "--account", "99"],
    ];
    for query in queries {
        let mut args = vec![query[0], dir.as_str()];
        args.extend_from_slice(&query[1..]);
        let mut array_args = args.clone();
        array_args.push("--json");
        let array = ok(&array_args);
        let mut line_args = args.clone();
        line_args.push("--jsonl");
        let lines = ok(&line_args);
        let rebuilt = format!("[{}]\n", lines.lines().collect::<Vec<_>>().join(","));
        assert_eq!(array, rebuilt, "{query:?}");
    }
    // The orders, checked against the events written.
    let all = tickets(&jsonl(&["trades", &dir]));
    assert_eq!(all, expected(&generated.trades, |_| true));
    let stored = |t: &u64| *t <= 60;
    assert!(all.windows(2).any(|w| stored(&w[0]) != stored(&w[1])));
    let by_exit = tickets(&jsonl(&["trades", &dir, "--by", "exit"]));
    assert_eq!(
        by_exit,
        expected(&generated.trades, |t| t.status == "CLOSED")
    );
    let signals = jsonl(&["signals", &dir, "--limit", "1000"]);
    assert_eq!(signals.len(), 70);
    let times: Vec<&str> = signals
        .iter()
        .map(|s| s["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(
        signals.iter().find(|s| s["signal_id"] == 2).unwrap()["ticket"],
        62
    );
    let snapshots = jsonl(&["snapshots", &dir, "--account", "11"]);
    let balances: Vec<&str> = snapshots
        .iter()
        .map(|s| s["balance"].as_str().unwrap())
        .collect();
    let expected_balances: Vec<String> = (0..30u64)
        .filter(|n| n % 2 == 0)
        .map(|n| format!("{}.00", 1000 + n))
        .collect();
    assert_eq!(balances, expected_balances);
}

/// `--jsonl` is refused where the command prints one object.
#[test]
fn jsonl_is_refused_with_one_object_commands() {
    let (_temp, dir, _) = journal();
    fails(&["trades", &dir, "--ticket", "1", "--jsonl"], 1);
    fails(&["trades", &dir, "--json", "--jsonl"], 1);
    fails(
        &["snapshots", &dir, "--account", "11", "--latest", "--jsonl"],
        1,
    );
    fails(&["trades", &dir, "--ticket", "1", "--after", "2"], 1);
}

/// Pages of every size walk the whole list once, in order, for both `--by`, with and
/// without a filter.
#[test]
fn paging_walks_every_trade_once() {
    let (_temp, dir, generated) = journal();
    let lists: [(&[&str], Vec<u64>); 4] = [
        (&[], expected(&generated.trades, |_| true)),
        (
            &["--by", "exit"],
            expected(&generated.trades, |t| t.status == "CLOSED"),
        ),
        (
            &["--symbol", "GBPUSD"],
            expected(&generated.trades, |t| t.symbol == "GBPUSD"),
        ),
        (
            &[
                "--by",
                "exit",
                "--account",
                "22",
                "--to",
                "2024-03-01T04:00:00Z",
            ],
            expected(&generated.trades, |t| {
                t.status == "CLOSED" && t.account == Some(22) && t.exit.unwrap() <= 240
            }),
        ),
    ];
    for (options, whole) in &lists {
        assert!(whole.len() > 5, "{options:?}");
        for size in [1usize, 3, 7, 200] {
            let mut walked: Vec<u64> = Vec::new();
            let mut pages = 0;
            loop {
                let limit = size.to_string();
                let after = walked.last().map(u64::to_string);
                let mut args = vec!["trades", dir.as_str(), "--limit", &limit];
                args.extend_from_slice(options);
                if let Some(after) = &after {
                    args.extend_from_slice(&["--after", after]);
                }
                let page = tickets(&jsonl(&args));
                assert!(page.len() <= size, "{args:?}");
                walked.extend(&page);
                pages += 1;
                assert!(pages <= whole.len() + 1, "{options:?}: paging does not end");
                if page.len() < size {
                    break;
                }
            }
            assert_eq!(&walked, whole, "{options:?}, pages of {size}");
            assert_eq!(
                pages,
                whole.len() / size + 1,
                "{options:?}, pages of {size}"
            );
        }
    }
    // `--limit 0` prints no row; a limit past the end prints them all.
    assert!(jsonl(&["trades", &dir, "--limit", "0"]).is_empty());
    let all = jsonl(&["trades", &dir, "--limit", "1000"]);
    assert_eq!(tickets(&all), lists[0].1);
}

/// `--after` names a row of the list or fails, saying which.
#[test]
fn after_a_ticket_that_is_not_a_row_fails() {
    let (temp, dir, generated) = journal();
    let before = journal_files(temp.path());
    let error = fails(&["trades", &dir, "--after", "100000"], 1);
    assert!(error.contains("no trade has ticket 100000"), "{error}");
    // Ticket 20 is still OPEN: `--by exit` lists CLOSED trades only.
    let open = generated.trades.iter().find(|t| t.ticket == 20).unwrap();
    assert_eq!(open.status, "OPEN");
    let error = fails(&["trades", &dir, "--by", "exit", "--after", "20"], 1);
    assert!(
        error.contains("not one of the trades these options select"),
        "{error}"
    );
    let error = fails(&["trades", &dir, "--symbol", "EURUSD", "--after", "1"], 1);
    assert!(error.contains("--after 1"), "{error}");
    assert_eq!(journal_files(temp.path()), before, "a query wrote");
}

/// Enough rows to fill a pipe's buffer many times: the command is still writing when the
/// reader goes away.
fn big_journal() -> (tempfile::TempDir, String) {
    let (temp, dir) = journal_dir();
    ok(&["load", path(&dir), "--events", "6000", "--seed", "3"]);
    (temp, path(&dir).to_string())
}

/// Reads one line of `tradeledger ARGS`, then closes the pipe; the command must end with 0
/// and nothing on stderr.
fn read_one_line_then_close(args: &[&str]) {
    let mut child = spawn(args);
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(!line.trim().is_empty(), "{args:?}: {line:?}");
    drop(reader);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    assert_eq!(stderr(&output), "", "{args:?}");
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    let (_temp, dir) = big_journal();
    let rows = ok(&["trades", &dir, "--jsonl"]);
    assert!(rows.len() > 256 << 10, "{} bytes only", rows.len());
    read_one_line_then_close(&["trades", &dir, "--jsonl"]);
    read_one_line_then_close(&["trades", &dir, "--by", "exit", "--jsonl"]);
    read_one_line_then_close(&["signals", &dir, "--jsonl", "--limit", "100000"]);
    read_one_line_then_close(&["dump", &dir]);
    // The table for people is written as its rows come too.
    read_one_line_then_close(&["trades", &dir]);
}

/// Counts and first and last minute of one group of the reference inventory.
#[derive(Default)]
struct Seen {
    trades: u64,
    signals: u64,
    snapshots: u64,
    times: Vec<u64>,
}

impl Seen {
    fn trade(&mut self, trade: &Trade) {
        self.trades += 1;
        self.times.push(trade.entry);
        self.times.extend(trade.exit);
    }

    /// The group's object, with the counts `counts` names.
    fn object(&self, key: (&str, Value), counts: &[&str]) -> Value {
        let mut object = serde_json::Map::new();
        object.insert(key.0.into(), key.1);
        for count in counts {
            let value = match *count {
                "trades" => self.trades,
                "signals" => self.signals,
                _ => self.snapshots,
            };
            object.insert(count.to_string(), value.into());
        }
        let (first, last) = (self.times.iter().min(), self.times.iter().max());
        object.insert("first".into(), at(*first.unwrap()).into());
        object.insert("last".into(), at(*last.unwrap()).into());
        Value::Object(object)
    }
}

/// `inventory --json` against a reference counted from the events written.
#[test]
fn inventory_counts_what_the_events_hold() {
    let (_temp, dir, generated) = journal();
    let mut accounts: BTreeMap<Option<u64>, Seen> = BTreeMap::new();
    let mut symbols: BTreeMap<&str, Seen> = BTreeMap::new();
    let mut strategies: BTreeMap<Option<&str>, Seen> = BTreeMap::new();
    let mut magic_numbers: BTreeMap<u64, Seen> = BTreeMap::new();
    for trade in &generated.trades {
        accounts.entry(trade.account).or_default().trade(trade);
        symbols.entry(trade.symbol).or_default().trade(trade);
        strategies.entry(trade.strategy).or_default().trade(trade);
        magic_numbers.entry(trade.magic).or_default().trade(trade);
    }
    for &(minute, symbol, strategy) in &generated.signals {
        for seen in [
            symbols.entry(symbol).or_default(),
            strategies.entry(Some(strategy)).or_default(),
        ] {
            seen.signals += 1;
            seen.times.push(minute);
        }
    }
    for &(account, minute) in &generated.snapshots {
        let seen = accounts.entry(Some(account)).or_default();
        seen.snapshots += 1;
        seen.times.push(minute);
    }
    let expected = json!({
        "accounts": accounts.iter().map(|(a, seen)| {
            seen.object(("account_number", json!(a)), &["trades", "snapshots"])
        }).collect::<Vec<_>>(),
        "symbols": symbols.iter().map(|(s, seen)| {
            seen.object(("symbol", json!(s)), &["trades", "signals"])
        }).collect::<Vec<_>>(),
        "strategies": strategies.iter().map(|(s, seen)| {
            seen.object(("strategy_name", json!(s)), &["trades", "signals"])
        }).collect::<Vec<_>>(),
        "magic_numbers": magic_numbers.iter().map(|(m, seen)| {
            seen.object(("magic_number", json!(m)), &["trades"])
        }).collect::<Vec<_>>(),
    });
    assert_eq!(accounts.len(), 3, "two accounts and the trades without one");
    assert_eq!(json(&["inventory", &dir]), expected);
    let text = ok(&["inventory", &dir]);
    for title in ["accounts", "symbols", "strategies", "magic numbers"] {
        assert!(text.lines().any(|line| line == title), "{text}");
    }
    let (_empty_temp, empty) = journal_dir();
    ok(&["init", path(&empty)]);
    let nothing = json!({"accounts": [], "symbols": [], "strategies": [], "magic_numbers": []});
    assert_eq!(json(&["inventory", path(&empty)]), nothing);
}
