//! Nothing removes or replaces the files of a journal that a writer holds: every command
//! that does (`demo` replacing a demo journal, `upgrade` dropping checkpoints, `checkpoint`
//! pruning old ones, `settings` rewriting `journal.meta`, `import` and `load`, which write
//! and prune checkpoints) takes the writer lock first and refuses a live journal with exit
//! code 4, leaving every file as it was.

mod cli_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{fails, journal_files, json, ok, run, stderr, stdout};
use tradeledger::storage::folder::{is_locked_by_writer, WriterLock};

const DEADLINE: Duration = Duration::from_secs(60);

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

/// The event count a finished `demo` run reports ("events written   N   in ...").
fn events_written(report: &str) -> u64 {
    let line = (report.lines())
        .find(|l| l.starts_with("events written"))
        .unwrap_or_else(|| panic!("no event count in {report}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn every_command_that_removes_or_replaces_files_refuses_a_live_journal_with_exit_4() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("demo-journal");
    ok(&["demo", path(&dir), "--bars", "40"]);
    let events = temp.path().join("events.jsonl");
    // One new signal: the first the demo wrote, with an id of its own.
    let first = ok(&["dump", path(&dir), "--to-seq", "1"]);
    let mut signal: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    assert_eq!(signal["event"], "signal");
    signal["signal_id"] = 999_999_999.into();
    std::fs::write(&events, format!("{signal}\n")).unwrap();
    // A live writer's lock, held by this process on an open of its own (a writer's background
    // work, such as preparing the next segment, would change the files by itself).
    let lock = WriterLock::acquire(&dir).unwrap();
    let before = journal_files(&dir);
    for args in [
        vec!["demo", path(&dir), "--bars", "10"],
        vec!["upgrade", path(&dir)],
        vec!["checkpoint", path(&dir)],
        vec!["settings", path(&dir), "--durability", "sync"],
        vec!["import", path(&dir), events.to_str().unwrap()],
        vec!["load", path(&dir), "--events", "10"],
    ] {
        let error = fails(&args, 4);
        assert!(
            error.contains("locked by another writer"),
            "{args:?}: {error}"
        );
        assert!(
            journal_files(&dir) == before,
            "{args:?} changed the journal"
        );
    }
    drop(lock);
    // Without the writer, the next demo run replaces its journal.
    let replaced = run(&["demo", path(&dir), "--bars", "10"]);
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert!(stderr(&replaced).contains("replacing the demo journal"));
    assert_eq!(
        json(&["verify", path(&dir)])["records"],
        events_written(&stdout(&replaced))
    );
}

/// The bug: a second `demo` deleted the journal a first one was still writing.
#[test]
fn a_running_demo_keeps_its_journal_when_another_demo_starts() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("demo-journal");
    ok(&["demo", path(&dir), "--bars", "10"]);
    let mut first = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["demo", path(&dir), "--bars", "120", "--realtime-ms", "10"])
        .env_remove("TRADELEDGER_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first run holds the lock once it has replaced the old journal by its own.
    let deadline = Instant::now() + DEADLINE;
    while !(is_locked_by_writer(&dir) && dir.join("journal.meta").exists()) {
        assert!(Instant::now() < deadline, "the first demo never started");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first demo ended early"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let error = fails(&["demo", path(&dir), "--bars", "10"], 4);
    assert!(error.contains("locked by another writer"), "{error}");
    let status = cli_support::wait_with_deadline(&mut first, "the demo", DEADLINE);
    let output = first.wait_with_output().unwrap();
    assert!(status.success(), "{}", stderr(&output));
    assert_eq!(
        json(&["verify", path(&dir)])["records"],
        events_written(&stdout(&output))
    );
}

/// Two runs started together on one demo journal: each either replaces it and runs, or is
/// refused with 4 while the other holds it; the journal left is a whole run of one of them.
#[test]
fn two_demos_started_together_never_break_each_other() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("demo-journal");
    ok(&["demo", path(&dir), "--bars", "10"]);
    for round in 0..3 {
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_tradeledger"))
                .args(["demo", path(&dir), "--bars", "60"])
                .env_remove("TRADELEDGER_LOG")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let runs = [spawn(), spawn()];
        let mut finished = vec![];
        for mut child in runs {
            let status = cli_support::wait_with_deadline(&mut child, "the demo", DEADLINE);
            let output = child.wait_with_output().unwrap();
            assert!(
                matches!(status.code(), Some(0 | 4)),
                "round {round}: {status:?}: {}",
                stderr(&output)
            );
            if status.success() {
                finished.push(events_written(&stdout(&output)));
            }
        }
        assert!(!finished.is_empty(), "round {round}: neither run finished");
        let records = json(&["verify", path(&dir)])["records"].as_u64().unwrap();
        assert!(
            finished.contains(&records),
            "round {round}: {records} records, runs wrote {finished:?}"
        );
    }
}
