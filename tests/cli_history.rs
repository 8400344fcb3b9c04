//! The journal as history through the CLI: `dump | import` reproduces every query, `--as-of`
//! and `replay` see the past, `export --csv` writes the tables, queries never write, and
//! checkpoints are shown by `status`, written by `checkpoint` and rebuilt by `upgrade`.

mod cli_support;

use std::path::Path;

use cli_support::*;
use serde_json::{json, Value};
use tradeledger::projection::PROJECTION_VERSION;

fn imported() -> (tempfile::TempDir, String) {
    let (temp, dir) = journal_dir();
    ok(&["import", path(&dir), path(&fixture("worked-example.jsonl"))]);
    (temp, path(&dir).to_string())
}

/// The JSON of every query command over the worked example.
fn all_queries(dir: &str) -> Vec<Value> {
    let queries: &[&[&str]] = &[
        &["stats"],
        &["stats", "--by", "entry", "--from", "2024-01-02T12:00:00Z"],
        &["trades"],
        &["trades", "--open"],
        &["trades", "--ticket", "1003"],
        &["signals"],
        &["execution-rate"],
        &["snapshots", "--account", "12345678"],
        &["snapshots", "--account", "12345678", "--latest"],
        &["daily"],
        &["daily", "--account", "12345678"],
        &["summary"],
    ];
    let with_dir = |q: &[&str]| {
        let mut args = vec![q[0], dir];
        args.extend_from_slice(&q[1..]);
        json(&args)
    };
    queries.iter().map(|q| with_dir(q)).collect()
}

#[test]
fn dump_then_import_into_a_fresh_journal_reproduces_every_query() {
    let (temp, dir) = imported();
    let dump = ok(&["dump", &dir]);
    assert_eq!(dump.lines().count(), 24);
    let copy = temp.path().join("copy");
    let output = run_with_stdin(&["import", path(&copy), "-"], &dump);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(all_queries(&dir), all_queries(path(&copy)));
    // The copy's events are the same, with new recorded_at times.
    let strip = |text: &str| -> Vec<Value> {
        let mut events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        events
            .iter_mut()
            .for_each(|e| e["recorded_at"] = Value::Null);
        events
    };
    assert_eq!(strip(&dump), strip(&ok(&["dump", path(&copy)])));
}

const LATER: &[&str] = &[
    r#"{"event":"trade_closed","ticket":1007,"exit_price":"1.09610","exit_time":"2024-01-05T10:00:00Z","profit":"10.00"}"#,
    r#"{"event":"account_snapshot","account_number":12345678,"server":"Demo-Server","broker":"Demo Broker","balance":"10024.10","equity":"10024.10","snapshot_time":"2024-01-05T10:00:00Z"}"#,
];

#[test]
fn as_of_a_seq_or_a_time_shows_the_journal_before_a_later_import() {
    let (temp, dir) = imported();
    let stats_before = json(&["stats", &dir]);
    let later = write_file(temp.path(), "later.jsonl", LATER);
    ok(&["import", &dir, path(&later)]);
    assert_eq!(json(&["stats", &dir])["total_trades"], 7);
    assert_eq!(json(&["trades", &dir, "--open"]), json!([]));
    // After seq 24 (the first import) the state is the one seen before the second import.
    assert_eq!(json(&["stats", &dir, "--as-of", "24"]), stats_before);
    let open = json(&["trades", &dir, "--open", "--as-of", "24"]);
    assert_eq!(open[0]["ticket"], 1007);
    // The same point named by time: when seq 24 was recorded.
    let dump = ok(&["dump", &dir, "--from-seq", "24", "--to-seq", "24"]);
    let recorded: Value = serde_json::from_str(dump.trim()).unwrap();
    let at = recorded["recorded_at"].as_str().unwrap();
    assert_eq!(json(&["stats", &dir, "--as-of", at]), stats_before);
    assert_eq!(
        json(&["daily", &dir, "--as-of", at])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Seq 0 is the empty journal; a seq past the head is an error.
    assert_eq!(json(&["stats", &dir, "--as-of", "0"])["total_trades"], 0);
    let error = fails(&["stats", &dir, "--as-of", "27"], 1);
    assert!(error.contains("up to seq 26"), "{error}");
}

#[test]
fn replay_summarizes_the_state_at_a_point() {
    let (temp, dir) = imported();
    let later = write_file(temp.path(), "later.jsonl", LATER);
    ok(&["import", &dir, path(&later)]);
    let at_24 = json(&["replay", &dir, "--as-of", "24"]);
    assert_eq!(at_24["head_seq"], 24);
    assert_eq!(
        at_24["trades"],
        json!({"total": 7, "pending": 0, "open": 1, "closed": 6, "cancelled": 0, "failed": 0})
    );
    assert_eq!(at_24["signals"], 5);
    assert_eq!(at_24["executed_signals"], 2);
    assert_eq!(at_24["snapshots"], 4);
    assert_eq!(at_24["snapshot_accounts"], json!([12345678]));
    assert_eq!(at_24["closed_profit"], "14.10");
    assert_eq!(at_24["open_trades"][0]["ticket"], 1007);
    // Seq 3 is trade_opened 1001: one signal (executed by it), one open trade, one snapshot.
    let at_3 = json(&["replay", &dir, "--as-of", "3"]);
    assert_eq!(at_3["trades"]["open"], 1);
    assert_eq!(at_3["trades"]["closed"], 0);
    assert_eq!(at_3["executed_signals"], 1);
    assert_eq!(at_3["snapshots"], 1);
    assert_eq!(decimal(&at_3["closed_profit"]), dec("0"));
    // Without --as-of: the head. 14.10 + 10.00 = 24.10.
    let head = json(&["replay", &dir]);
    assert_eq!(head["head_seq"], 26);
    assert_eq!(head["closed_profit"], "24.10");
    assert_eq!(head["open_trades"], json!([]));
    assert!(ok(&["replay", &dir, "--as-of", "24"]).contains("closed profit   14.10"));
}

const SMALL: &[&str] = &[
    r#"{"event":"signal","signal_id":2,"symbol":"EURUSD","signal_type":"SELL","timestamp":"2024-03-01T10:00:00Z","price":"1.08500","confidence":0.25,"strategy_name":"ma","timeframe":"H1","reason":"weak, \"maybe\""}"#,
    r#"{"event":"signal","signal_id":1,"symbol":"EURUSD","signal_type":"BUY","timestamp":"2024-03-01T09:00:00.25Z","price":"1.08400","confidence":0.9,"strategy_name":"ma","timeframe":"H1"}"#,
    r#"{"event":"trade_opened","ticket":11,"symbol":"EURUSD","trade_type":"BUY","volume":"0.50","entry_price":"1.08410","entry_time":"2024-03-01T09:00:01Z","account_number":42,"signal_id":1,"commission":"-3.50"}"#,
    r#"{"event":"trade_opened","ticket":12,"symbol":"EURUSD","trade_type":"SELL","status":"PENDING","volume":"0.10","entry_price":"1.09000","entry_time":"2024-03-01T09:30:00Z","account_number":42}"#,
    r#"{"event":"order_cancelled","ticket":12,"time":"2024-03-01T11:00:00Z","reason":"expired"}"#,
    r#"{"event":"trade_closed","ticket":11,"exit_price":"1.08610","exit_time":"2024-03-01T12:00:00Z","profit":"100.00","pips":"20.0"}"#,
    r#"{"event":"account_snapshot","account_number":42,"server":"S","broker":"B","balance":"5096.50","equity":"5096.50","snapshot_time":"2024-03-01T12:00:00Z"}"#,
    r#"{"event":"account_snapshot","account_number":7,"server":"S","broker":"B","balance":"1000","equity":"999.5","snapshot_time":"2024-03-01T08:00:00Z","margin_level":"1234.5"}"#,
];

const TRADES_CSV: &str = "\
ticket,symbol,trade_type,status,volume,entry_price,entry_time,exit_price,exit_time,profit,pips,commission,swap,duration_seconds,stop_loss,take_profit,magic_number,account_number,strategy_name,signal_id,signal_confidence,signal_reason,ml_enhanced,ml_confidence,ai_approved,ai_reasoning,comment,close_reason
11,EURUSD,BUY,CLOSED,0.50,1.08410,2024-03-01T09:00:01Z,1.08610,2024-03-01T12:00:00Z,100.00,20.0,-3.50,0,10799,,,0,42,,1,,,false,,true,,,
12,EURUSD,SELL,CANCELLED,0.10,1.09000,2024-03-01T09:30:00Z,,,,,0,0,,,,0,42,,,,,false,,true,,,expired
";

const SIGNALS_CSV: &str = "\
signal_id,symbol,signal_type,timestamp,price,stop_loss,take_profit,confidence,reason,strategy_name,timeframe,ml_enhanced,ml_confidence,ml_agreed,executed,execution_reason,ticket
1,EURUSD,BUY,2024-03-01T09:00:00.25Z,1.08400,,,0.9,,ma,H1,false,,,true,,11
2,EURUSD,SELL,2024-03-01T10:00:00Z,1.08500,,,0.25,\"weak, \"\"maybe\"\"\",ma,H1,false,,,false,,
";

const SNAPSHOTS_CSV: &str = "\
account_number,server,broker,balance,equity,profit,margin,margin_free,margin_level,open_positions,total_volume,snapshot_time
7,S,B,1000,999.5,,,,1234.5,0,0,2024-03-01T08:00:00Z
42,S,B,5096.50,5096.50,,,,,0,0,2024-03-01T12:00:00Z
";

// Two accounts have snapshots, so the row without --account has no end balance (§4).
const DAILY_CSV: &str = "\
date,account_number,total_trades,winning_trades,losing_trades,breakeven_trades,gross_profit,gross_loss,net_profit,win_rate,profit_factor,average_win,average_loss,largest_win,largest_loss,end_balance,end_equity,total_commission,total_swap,net_result
2024-03-01,,1,1,0,0,100.00,0,100.00,100,,100.00,,100.00,,,,-3.50,0,96.50
";

#[test]
fn export_writes_the_four_tables_as_csv() {
    let (temp, dir) = journal_dir();
    let file = write_file(temp.path(), "small.jsonl", SMALL);
    ok(&["import", path(&dir), path(&file)]);
    let out = temp.path().join("csv");
    let report = ok(&["export", path(&dir), "--csv", path(&out)]);
    assert!(report.contains("trades.csv (2 rows)"), "{report}");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    // Signals oldest first (by timestamp, then seq), though signal 2 was appended first.
    assert_eq!(read("trades.csv"), TRADES_CSV);
    assert_eq!(read("signals.csv"), SIGNALS_CSV);
    assert_eq!(read("snapshots.csv"), SNAPSHOTS_CSV);
    assert_eq!(read("daily.csv"), DAILY_CSV);
}

#[test]
fn export_of_an_empty_journal_writes_the_header_rows() {
    let (temp, dir) = journal_dir();
    ok(&["init", path(&dir)]);
    let out = temp.path().join("csv");
    ok(&["export", path(&dir), "--csv", path(&out)]);
    let first_line = |text: &str| text.lines().next().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(out.join("trades.csv")).unwrap(),
        format!("{}\n", first_line(TRADES_CSV))
    );
    assert_eq!(
        std::fs::read_to_string(out.join("daily.csv")).unwrap(),
        format!("{}\n", first_line(DAILY_CSV))
    );
}

#[test]
fn queries_write_nothing() {
    let (_temp, dir) = imported();
    let before = journal_files(Path::new(&dir));
    all_queries(&dir);
    ok(&["replay", &dir, "--as-of", "5"]);
    ok(&["status", &dir]);
    ok(&["stats", &dir]);
    assert_eq!(journal_files(Path::new(&dir)), before);
}

#[test]
fn queries_work_while_another_process_holds_the_writer() {
    use tradeledger::ledger::Ledger;
    use tradeledger::storage::journal::OpenMode;
    let (temp, dir) = imported();
    let ledger = Ledger::open(Path::new(&dir), &OpenMode::default()).unwrap();
    let later = tradeledger::model::interchange::read_events(LATER.join("\n").as_bytes()).unwrap();
    let events: Vec<_> = later.into_iter().map(|(_, e)| e).collect();
    ledger.append(&events).unwrap();
    // Appended, not yet closed: another process reads it without the lock.
    assert_eq!(json(&["stats", &dir])["total_trades"], 7);
    assert_eq!(json(&["replay", &dir])["head_seq"], 26);
    // A second writer is refused with exit code 4, and nothing is imported.
    let signal = SMALL[1].replace(r#""signal_id":1,"#, r#""signal_id":99,"#);
    let file = write_file(temp.path(), "more.jsonl", &[&signal]);
    let error = fails(&["import", &dir, path(&file)], 4);
    assert!(error.contains("locked"), "{error}");
    ledger.close().unwrap();
    assert_eq!(json(&["execution-rate", &dir])["total_signals"], 5);
}

#[test]
fn status_shows_the_checkpoint_that_checkpoint_writes() {
    let (temp, dir) = journal_dir();
    ok(&["init", path(&dir)]);
    let status = json(&["status", path(&dir)]);
    assert_eq!(status["checkpoint_seq"], Value::Null);
    assert_eq!(status["checkpoints"], json!([]));
    assert!(ok(&["status", path(&dir)]).contains("checkpoint      none"));
    let file = write_file(temp.path(), "small.jsonl", SMALL);
    ok(&["import", path(&dir), path(&file)]);
    let written = json(&["checkpoint", path(&dir)]);
    assert_eq!(written["seq"], 8);
    assert_eq!(written["projection_version"], PROJECTION_VERSION);
    let status = json(&["status", path(&dir)]);
    assert_eq!(status["head_seq"], 8);
    assert_eq!(status["checkpoint_seq"], 8);
    assert_eq!(status["checkpoint_projection_version"], PROJECTION_VERSION);
    assert_eq!(status["checkpoints"][0]["usable"], true);
    let text = ok(&["status", path(&dir)]);
    let shown = format!("seq 8, projection version {PROJECTION_VERSION}");
    assert!(text.contains(&shown), "{text}");
    assert!(text.contains("usable"), "{text}");
}

/// A checkpoint a running writer set aside as damaged is listed by `status`, not usable, with
/// its seq and why, and no open reads it.
#[test]
fn status_lists_a_checkpoint_set_aside_as_damaged() {
    let (_temp, dir) = imported();
    let checkpoints = Path::new(&dir).join("checkpoints");
    let usable = checkpoints.join("checkpoint-00000000000000000024.ckpt");
    let aside = checkpoints.join("checkpoint-00000000000000000012.ckpt.damaged");
    std::fs::copy(&usable, &aside).unwrap();
    let status = json(&["status", &dir]);
    assert_eq!(status["checkpoint_seq"], 24);
    let listed = status["checkpoints"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        listed[1]["file"],
        "checkpoint-00000000000000000012.ckpt.damaged"
    );
    assert_eq!(listed[1]["seq"], 12);
    assert_eq!(listed[1]["usable"], false);
    let reason = listed[1]["reason"].as_str().unwrap();
    assert!(reason.contains("set aside by a running writer"), "{reason}");
    let text = ok(&["status", &dir]);
    assert!(
        text.contains("checkpoint-00000000000000000012.ckpt.damaged"),
        "{text}"
    );
    // `upgrade` clears them with the rest.
    let upgraded = json(&["upgrade", &dir]);
    assert_eq!(
        (
            upgraded["removed"].as_u64(),
            upgraded["removed_damaged"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(!aside.exists());
    let listed = json(&["status", &dir])["checkpoints"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 1, "only the fresh checkpoint");
}

/// Sets the projection version of a checkpoint file and fixes its header checksum.
fn set_projection_version(file: &Path, version: u32) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[12..16].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn upgrade_rebuilds_a_checkpoint_of_another_projection_version() {
    let (_temp, dir) = imported();
    let before = all_queries(&dir);
    let checkpoint = Path::new(&dir).join("checkpoints/checkpoint-00000000000000000024.ckpt");
    set_projection_version(&checkpoint, 99);
    let status = json(&["status", &dir]);
    assert_eq!(status["checkpoint_seq"], Value::Null);
    let reason = status["checkpoints"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("projection version 99"), "{reason}");
    // Queries ignore it and replay.
    assert_eq!(all_queries(&dir), before);
    let report = ok(&["upgrade", &dir]);
    assert!(
        report.contains("not usable: projection version 99"),
        "{report}"
    );
    let rebuilt = format!(
        "removed 1 checkpoint(s); rebuilt the projections (version {PROJECTION_VERSION}) by replaying 24 records"
    );
    assert!(report.contains(&rebuilt), "{report}");
    let status = json(&["status", &dir]);
    assert_eq!(status["checkpoint_seq"], 24);
    assert_eq!(status["checkpoint_projection_version"], PROJECTION_VERSION);
    assert_eq!(all_queries(&dir), before);
}

/// `upgrade` killed while it writes its fresh checkpoint leaves the checkpoint the journal
/// had: it removes the old ones only once the new one is in place.
#[test]
fn an_upgrade_killed_while_it_writes_keeps_the_old_checkpoint() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("j");
    let dir = path(&dir).to_string();
    ok(&["load", &dir, "--events", "60000", "--seed", "5"]);
    let checkpoints = Path::new(&dir).join("checkpoints");
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&checkpoints)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    };
    let old: Vec<String> = files()
        .into_iter()
        .filter(|n| n.ends_with(".ckpt"))
        .collect();
    assert!(!old.is_empty(), "load wrote a checkpoint");
    let mut upgrade = std::process::Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["upgrade", &dir])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its new checkpoint is being written (the temporary file is there).
    let started = std::time::Instant::now();
    let seen = loop {
        if files().iter().any(|name| name.ends_with(".tmp")) {
            upgrade.kill().unwrap();
            break true;
        }
        if upgrade.try_wait().unwrap().is_some() {
            break false;
        }
        assert!(started.elapsed().as_secs() < 60, "upgrade runs on");
    };
    upgrade.wait().unwrap();
    assert!(
        seen,
        "the upgrade ended before its checkpoint was seen being written"
    );
    let left = files();
    for name in &old {
        assert!(
            left.contains(name),
            "{name} was removed by a killed upgrade: {left:?}"
        );
    }
    let status = json(&["status", &dir]);
    assert!(status["checkpoint_seq"].as_u64().is_some(), "{status}");
}

#[test]
fn usage_errors_exit_with_1_and_help_with_0() {
    let (_temp, dir) = imported();
    let error = fails(&["snapshots", &dir], 1);
    assert!(error.contains("--account"), "{error}");
    let error = fails(&["daily", &dir, "--from", "2024-01-02T00:00:00Z"], 1);
    assert!(error.contains("not a date YYYY-MM-DD"), "{error}");
    fails(&["stats", &dir, "--from", "2024-01-02T00:00:00"], 1);
    fails(&["trades", &dir, "--open", "--status", "closed"], 1);
    fails(&["trades", &dir, "--by", "exit", "--status", "open"], 1);
    fails(&["trades", &dir, "--ticket", "1", "--symbol", "EURUSD"], 1);
    fails(
        &[
            "snapshots",
            &dir,
            "--account",
            "1",
            "--latest",
            "--from",
            "2024-01-01",
        ],
        1,
    );
    fails(&["stats", &dir, "--by", "sideways"], 1);
    fails(&["frobnicate"], 1);
    fails(&[], 1);
    let not_a_journal = tempfile::tempdir().unwrap();
    let error = fails(&["stats", path(not_a_journal.path())], 1);
    assert!(error.contains("not a tradeledger journal"), "{error}");
    assert!(run(&["--help"]).status.success());
    assert!(run(&["stats", "--help"]).status.success());
}

#[test]
fn init_settings_are_stored_in_the_journal_and_shown_by_status() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("j");
    let dir_text = dir.to_str().unwrap();
    let args = [
        "init",
        dir_text,
        "--segment-size",
        "131072",
        "--durability",
        "periodic:250",
        "--checkpoint-every",
        "500",
    ];
    assert!(cli_support::run(&args).status.success());
    let status = cli_support::json(&["status", dir_text]);
    assert_eq!(status["durability"], "periodic:250");
    assert_eq!(status["segment_size_bytes"], 131072);
    assert_eq!(status["checkpoint_every_records"], 500);
}

/// A query that needs a damaged block of a checkpoint exits with 2 and names the checkpoint
/// file and the byte offset; a query whose blocks are intact still answers.
#[test]
fn a_query_that_meets_a_damaged_checkpoint_block_exits_with_2_and_names_the_file() {
    let (_temp, dir) = journal_dir();
    ok(&["load", path(&dir), "--events", "20000"]);
    let written = json(&["checkpoint", path(&dir)]);
    let file = written["path"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(&file).unwrap();
    let payload_len = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    assert!(
        payload_len > 4 * 65536,
        "several blocks: {payload_len} bytes"
    );
    // The first trade record is the first byte of the payload (docs/FORMAT.md §6.3).
    bytes[64] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let error = fails(&["trades", path(&dir), "--json"], 2);
    assert!(error.contains(&file), "{error}");
    assert!(error.contains("at byte 64"), "{error}");
    assert!(error.contains("checksum mismatch"), "{error}");
    // The counters and the per-day tallies are in the hot section, which is intact.
    let rate = json(&["execution-rate", path(&dir)]);
    assert!(rate["total_signals"].as_u64().unwrap() > 0);
}

/// `status` shows the disk use of each part of the folder: segments, prepared segments (none
/// once the writer closed), checkpoints, and what recovery cut into `torn/`.
#[test]
fn status_shows_disk_use_by_part() {
    let (_temp, dir) = imported();
    let folder = Path::new(&dir);
    let bytes_in = |sub: &str, wanted: &dyn Fn(&str) -> bool| -> u64 {
        std::fs::read_dir(folder.join(sub))
            .map(|entries| {
                entries
                    .map(|e| e.unwrap())
                    .filter(|e| wanted(&e.file_name().to_string_lossy()))
                    .map(|e| e.metadata().unwrap().len())
                    .sum()
            })
            .unwrap_or(0)
    };
    let disk = |dir: &str| json(&["status", dir])["disk"].clone();
    let before = disk(&dir);
    let segments = bytes_in("", &|name| name.ends_with(".seg"));
    assert_eq!(before["segments_bytes"], segments, "{before}");
    assert_eq!(
        before["prepared_bytes"], 0,
        "a closed journal keeps none: {before}"
    );
    assert_eq!(
        before["checkpoints_bytes"],
        bytes_in("checkpoints", &|_| true)
    );
    assert_eq!(before["torn_bytes"], 0);
    let total = segments + bytes_in("checkpoints", &|_| true);
    assert_eq!(before["total_bytes"], total);

    // Bytes after the last record that are no record: a torn tail, which the next writer
    // cuts into torn/.
    let segment = tradeledger::storage::reader::segment_paths(folder).unwrap()[0].clone();
    let data_end = json(&["verify", &dir])["data_bytes"].as_u64().unwrap();
    let mut file = std::fs::read(&segment).unwrap();
    let at = tradeledger::storage::format::SEGMENT_HEADER_SIZE + data_end as usize;
    file[at..at + 64].fill(0x5a);
    std::fs::write(&segment, file).unwrap();
    let extra = write_file(
        folder.parent().unwrap(),
        "one.jsonl",
        &[
            r#"{"event":"signal","signal_id":900,"symbol":"EURUSD","signal_type":"BUY","timestamp":"2024-01-05T08:00:00Z","price":"1.1","confidence":0.5,"strategy_name":"ma","timeframe":"H1"}"#,
        ],
    );
    ok(&["import", &dir, path(&extra)]);
    let after = disk(&dir);
    let torn = bytes_in("torn", &|_| true);
    assert!(torn > 0, "the cut was saved in torn/");
    assert_eq!(after["torn_bytes"], torn, "{after}");
}

/// `--as-of TIME` says it reads by the time the journal recorded each event, and warns when
/// that time is before the first record (an empty state, which trading times in 2017 would
/// otherwise give without a word).
#[test]
fn as_of_a_time_says_which_clock_and_warns_before_the_first_record() {
    let (_temp, dir) = imported();
    let output = run(&["replay", &dir, "--as-of", "2017-06-01", "--json"]);
    assert!(output.status.success());
    let said = stderr(&output);
    assert!(said.contains("recorded_at"), "{said}");
    assert!(
        said.contains("before the journal's first record (seq 1, recorded at"),
        "{said}"
    );
    let state: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(state["head_seq"], 0);
    // A time after the first record: the note, no warning.
    let output = run(&["replay", &dir, "--as-of", "2200-01-01", "--json"]);
    let said = stderr(&output);
    assert!(
        said.contains("recorded_at") && !said.contains("warning"),
        "{said}"
    );
}
