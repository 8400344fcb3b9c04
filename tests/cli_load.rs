//! `tradeledger load`: exact counts, the acknowledgement log, runs that continue the journal,
//! the stored durability, pacing, and the JSON report.

mod cli_support;

use cli_support::*;
use serde_json::Value;

fn load(dir: &str, extra: &[&str]) -> Value {
    let mut args = vec!["load", dir];
    args.extend_from_slice(extra);
    json(&args)
}

#[test]
fn runs_continue_the_journal_and_close_the_trades_left_open() {
    let (temp, dir) = journal_dir();
    let ack = temp.path().join("ack.log");
    let first = load(
        path(&dir),
        &[
            "--durability",
            "sync",
            "--events",
            "1500",
            "--producers",
            "3",
            "--seed",
            "1",
            "--ack-log",
            path(&ack),
        ],
    );
    assert_eq!(first["created"], true);
    assert_eq!(first["durability"], "sync");
    assert_eq!(first["events"], 1500);
    assert_eq!(
        (first["first_seq"].as_u64(), first["last_seq"].as_u64()),
        (Some(1), Some(1500))
    );
    for q in ["p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "max_ns"] {
        assert!(first["latency"][q].as_u64().unwrap() > 0, "{q}");
    }
    let kinds = first["events_by_kind"].as_object().unwrap();
    for kind in [
        "signal",
        "trade_opened",
        "trade_closed",
        "trade_modified",
        "account_snapshot",
    ] {
        assert!(
            kinds[kind].as_u64().unwrap() > 0,
            "{kind} in the mix: {first}"
        );
    }
    let mut acked: Vec<u64> = std::fs::read_to_string(&ack)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    acked.sort_unstable();
    assert_eq!(
        acked,
        (1..=1500).collect::<Vec<_>>(),
        "one line per acknowledged event"
    );

    let open_before = json(&["trades", path(&dir), "--open"]);
    let open_tickets: Vec<u64> = open_before
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket"].as_u64().unwrap())
        .collect();
    assert!(!open_tickets.is_empty(), "the first run left trades open");
    let max_ticket = json(&["trades", path(&dir)])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket"].as_u64().unwrap())
        .max()
        .unwrap();

    // A second run, asked for another durability: the journal keeps its own, and says so.
    let output = run(&[
        "load",
        path(&dir),
        "--durability",
        "buffered",
        "--events",
        "800",
        "--seed",
        "2",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("keeps it"), "{}", stderr(&output));
    let second: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(second["created"], false);
    assert_eq!(second["durability"], "sync");
    assert_eq!(second["head_seq_before"], 1500);
    assert_eq!(second["first_seq"], 1501);
    assert_eq!(second["last_seq"], 2300);
    assert_eq!(
        second["carried_open_trades"].as_u64().unwrap(),
        open_tickets.len() as u64
    );
    for ticket in &open_tickets {
        let trade = json(&["trades", path(&dir), "--ticket", &ticket.to_string()]);
        assert_eq!(
            trade["status"], "CLOSED",
            "ticket {ticket} left open by the first run"
        );
    }
    let new_tickets: Vec<u64> = json(&["trades", path(&dir), "--from", "1970-01-01"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket"].as_u64().unwrap())
        .filter(|&t| t > max_ticket)
        .collect();
    assert!(!new_tickets.is_empty(), "the second run opened new tickets");
    let report = json(&["verify", path(&dir)]);
    assert_eq!(report["records"], 2300);
    // The ledger's checks let every event in: nothing was skipped on replay.
    assert_eq!(json(&["replay", path(&dir)])["ignored_events"], 0);
}

#[test]
fn seconds_and_rate_bound_a_run() {
    let (_temp, dir) = journal_dir();
    let report = load(
        path(&dir),
        &["--seconds", "1", "--rate", "500", "--producers", "2"],
    );
    let events = report["events"].as_u64().unwrap();
    assert!(
        (350..=600).contains(&events),
        "{events} events at 500/s for 1 s"
    );
    assert!(report["seconds"].as_f64().unwrap() >= 0.99);
}

#[test]
fn bad_options_are_usage_errors() {
    let (_temp, dir) = journal_dir();
    for args in [
        vec!["load", path(&dir), "--events", "10", "--seconds", "1"],
        vec!["load", path(&dir), "--producers", "0"],
        vec!["load", path(&dir), "--rate", "-5"],
        vec!["load", path(&dir), "--durability", "sometimes"],
    ] {
        fails(&args, 1);
    }
    assert!(!dir.exists(), "a refused run creates nothing");
    let error = fails(
        &[
            "load",
            path(&dir),
            "--ack-log",
            "/nonexistent/folder/ack.log",
        ],
        3,
    );
    assert!(error.contains("acknowledgement log"), "{error}");
    assert!(!dir.exists(), "a bad acknowledgement log creates nothing");
}

#[test]
fn the_human_report_names_throughput_and_percentiles() {
    let (_temp, dir) = journal_dir();
    let out = ok(&["load", path(&dir), "--events", "300"]);
    for text in [
        "created journal",
        "300 in",
        "events/s",
        "p50",
        "p99.9",
        "max",
        "mix",
    ] {
        assert!(out.contains(text), "{text:?} in {out}");
    }
}

/// An interrupt (SIGINT) stops `load`: it reports what it appended, every event of which is in
/// the journal, and exits with 130.
#[test]
fn an_interrupted_load_reports_what_it_appended_and_exits_130() {
    let (_temp, dir) = journal_dir();
    let load = std::process::Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args([
            "load",
            path(&dir),
            "--rate",
            "2000",
            "--seconds",
            "120",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It listens for interrupts before it appends: wait for its first records.
    let started = std::time::Instant::now();
    while !dir.join("journal.meta").exists() || json(&["status", path(&dir)])["head_seq"] == 0 {
        assert!(started.elapsed().as_secs() < 60, "load appends nothing");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = load.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(sent.unwrap().success());
    let output = load.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let status = json(&["status", path(&dir)]);
    assert_eq!(report["last_seq"], status["head_seq"], "{report}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
}

/// `--interval S` prints a line on stderr per S seconds of the run: as many as the run's time
/// allows, at most (never counted exactly: the machine may be slow), each at the next multiple
/// of S, with the events so far never decreasing and never more than the run acknowledged.
/// stdout keeps the one JSON document.
#[test]
fn a_run_prints_a_progress_line_per_interval() {
    let (_temp, dir) = journal_dir();
    let started = std::time::Instant::now();
    let args = [
        "load",
        path(&dir),
        "--seconds",
        "1",
        "--rate",
        "4000",
        "--interval",
        "0.1",
        "--json",
    ];
    let output = run(&args);
    let elapsed = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("one JSON document");
    let lines: Vec<String> = stderr(&output)
        .lines()
        .filter(|line| line.starts_with("progress: "))
        .map(str::to_string)
        .collect();
    assert!(
        !lines.is_empty(),
        "a one-second run with --interval 0.1 prints lines"
    );
    assert!(
        lines.len() as f64 <= elapsed / 0.1 + 1.0,
        "{} lines in {elapsed:.2} s: {lines:?}",
        lines.len()
    );
    let mut events_before = 0;
    for (n, line) in (1..).zip(&lines) {
        let fields: Vec<&str> = line["progress: ".len()..].split(", ").collect();
        assert_eq!(fields[0], format!("{:.1} s", n as f64 * 0.1), "{line}");
        let events: u64 = fields[1].strip_suffix(" events").unwrap().parse().unwrap();
        assert!(events >= events_before, "{lines:?}");
        assert!(fields[2].ends_with(" events/s"), "{line}");
        assert!(fields[3].starts_with("latency p50 "), "{line}");
        events_before = events;
    }
    assert!(events_before <= report["events"].as_u64().unwrap());

    let quiet = run(&["load", path(&dir), "--seconds", "0.3", "--interval", "0"]);
    assert!(quiet.status.success());
    assert!(!stderr(&quiet).contains("progress: "), "--interval 0: none");
}
