//! Progress bars (`docs/CLI.md`, "Progress"): with stderr not a terminal, the long commands
//! write none; `TRADELEDGER_PROGRESS=always` draws them as lines, each bar ending with its
//! last state (done == total); stdout is the same either way.

mod cli_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cli_support::*;

/// Runs `tradeledger ARGS` in `folder`, stderr piped (not a terminal), with
/// `TRADELEDGER_PROGRESS` set to `progress` or unset. It must succeed.
fn run_in(folder: &Path, args: &[&str], progress: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tradeledger"));
    command
        .args(args)
        .current_dir(folder)
        .env_remove("TRADELEDGER_LOG")
        .env_remove("TRADELEDGER_PROGRESS")
        .stdin(Stdio::null());
    if let Some(value) = progress {
        command.env("TRADELEDGER_PROGRESS", value);
    }
    let output = command.output().expect("run tradeledger");
    assert!(
        output.status.success(),
        "tradeledger {args:?} failed: {}",
        stderr(&output)
    );
    output
}

/// Each command, and the bars it draws when forced (bars with work to do: the journal has no
/// checkpoint when the sequence starts, and holds more than one day of rows).
const COMMANDS: &[(&[&str], &[&str])] = &[
    (&["verify", "j"], &["verifying"]),
    (&["verify", "j", "--json"], &["verifying"]),
    (&["replay", "j"], &["replaying"]),
    (&["stats", "j", "--json"], &["replaying"]),
    (&["trades", "j", "--open"], &["replaying"]),
    (&["daily", "j"], &["replaying"]),
    (
        &["export", "j", "--csv", "out"],
        &["replaying", "trades.csv", "signals.csv", "snapshots.csv"],
    ),
    (
        &["export", "j", "--sqlite", "out.db"],
        &["replaying", "reading records", "writing rows"],
    ),
    (
        &["import", "k", "events.jsonl"],
        &[
            "reading",
            "checking 2000 events",
            "appending 2000 events",
            "writing checkpoint",
        ],
    ),
    (&["checkpoint", "j"], &["replaying", "writing checkpoint"]),
    (&["upgrade", "j"], &["replaying all", "writing checkpoint"]),
    (
        &[
            "stats",
            "j",
            "--at-event-time",
            "2100-01-01T00:00:00Z",
            "--json",
        ],
        &["replaying"],
    ),
    (&["status", "j"], &["hashing the records"]),
    (&["salvage", "j", "copy"], &["copying"]),
];

/// A journal `j` of several segments without a checkpoint, and `events.jsonl`, events to
/// import into a new journal.
fn prepare(folder: &Path) {
    run_in(
        folder,
        &[
            "load",
            "j",
            "--events",
            "4000",
            "--seed",
            "7",
            "--segment-size",
            "65536",
            "--interval",
            "0",
        ],
        None,
    );
    std::fs::remove_dir_all(folder.join("j/checkpoints")).unwrap();
    let dump = run_in(folder, &["dump", "j", "--to-seq", "2000"], None);
    std::fs::write(folder.join("events.jsonl"), dump.stdout).unwrap();
    let segments = tradeledger::storage::reader::segment_paths(&folder.join("j"))
        .unwrap()
        .len();
    assert!(segments >= 2, "several segments: {segments}");
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// What a bar looks like when drawn: its frame or a terminal's control characters.
fn has_bar_marks(text: &str) -> bool {
    text.contains('\r') || text.contains('\x1b') || text.contains("[=") || text.contains("=>")
}

#[test]
fn bars_are_drawn_only_when_asked_and_never_change_stdout() {
    let temp = tempfile::tempdir().unwrap();
    let (quiet, forced) = (temp.path().join("quiet"), temp.path().join("forced"));
    std::fs::create_dir_all(&quiet).unwrap();
    prepare(&quiet);
    copy_folder(&quiet, &forced);
    for (args, bars) in COMMANDS {
        let plain = run_in(&quiet, args, None);
        let drawn = run_in(&forced, args, Some("always"));
        let (plain_err, drawn_err) = (stderr(&plain), stderr(&drawn));
        assert!(
            !has_bar_marks(&plain_err) && !plain_err.contains("replaying"),
            "{args:?} with stderr not a terminal wrote progress: {plain_err:?}"
        );
        assert_eq!(
            stdout(&plain),
            stdout(&drawn),
            "{args:?}: stdout is the same with bars drawn"
        );
        assert!(
            !has_bar_marks(&stdout(&drawn)),
            "{args:?}: no bar on stdout"
        );
        assert!(
            !drawn_err.contains('\r') && !drawn_err.contains('\x1b'),
            "{args:?}: forced bars are plain lines: {drawn_err:?}"
        );
        for bar in *bars {
            if bar.ends_with(".csv") {
                // Rows streamed out: no total beforehand, the last line counts them all.
                let file = std::fs::read_to_string(forced.join("out").join(bar)).unwrap();
                let rows = file.lines().count() - 1;
                let last = format!("{bar} {} rows, ", thousands(rows));
                let counted = drawn_err.lines().any(|line| line.starts_with(&last));
                assert!(counted, "{args:?}: no {last:?} in {drawn_err}");
                continue;
            }
            if bar.ends_with(" events") {
                // One atomic step, which cannot tell how far it got: its time only.
                let said = drawn_err
                    .lines()
                    .any(|line| line.starts_with(&format!("{bar}, ")));
                assert!(said, "{args:?}: no {bar:?} line in {drawn_err}");
                continue;
            }
            // The last state: a full bar, and for a count `N/N`.
            let full = format!("{bar} [{}] ", "=".repeat(30));
            let last = drawn_err
                .lines()
                .rfind(|line| line.starts_with(&full))
                .unwrap_or_else(|| panic!("{args:?}: no full {bar:?} bar in {drawn_err}"));
            // `4,000/4,000 records`, `754.59 KiB/754.59 KiB` or `100%`, then the times.
            let counts = last[full.len()..].split(", ").next().unwrap();
            if let Some((done, total)) = counts.split_once('/') {
                let same = total == done || total.starts_with(&format!("{done} "));
                assert!(same, "{args:?}: {last}");
            } else {
                assert_eq!(counts, "100%", "{args:?}: {last}");
            }
        }
    }
}

/// `n` as indicatif's `human_pos` prints it: 1,304.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `never` draws nothing, also where `always` would.
#[test]
fn never_draws_no_bar() {
    let temp = tempfile::tempdir().unwrap();
    prepare(temp.path());
    for args in [&["verify", "j"][..], &["replay", "j"]] {
        let output = run_in(temp.path(), args, Some("never"));
        assert!(!has_bar_marks(&stderr(&output)), "{args:?}");
        assert!(!stderr(&output).contains("verifying"), "{args:?}");
    }
}
