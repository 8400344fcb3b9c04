//! Helpers for the CLI tests: run the real binary, read its JSON, snapshot journal files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::Value;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Runs `tradeledger ARGS` with logs at the default level and no standard input.
pub fn run(args: &[&str]) -> Output {
    run_with_stdin(args, "")
}

/// Starts `tradeledger ARGS` with logs at the default level, its standard streams piped.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(args)
        .env_remove("TRADELEDGER_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tradeledger")
}

pub fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = spawn(args);
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for tradeledger")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "tradeledger {args:?} failed ({:?}): {}",
        output.status.code(),
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command with `--json` that must succeed; stdout must be exactly one JSON document.
pub fn json(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(&args);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("tradeledger {args:?} printed no single JSON document ({e}): {text}")
    })
}

/// A command that must fail with `code`; returns its stderr.
pub fn fails(args: &[&str], code: i32) -> String {
    let output = run(args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "tradeledger {args:?}: stdout {} stderr {}",
        stdout(&output),
        stderr(&output)
    );
    stderr(&output)
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// A decimal printed as a JSON string.
pub fn decimal(value: &Value) -> Decimal {
    dec(value
        .as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, got {value}")))
}

/// A derived ratio (§1): a string, compared numerically, with at least 20 significant digits
/// unless it is exact with fewer.
pub fn assert_ratio(value: &Value, expected: &str) {
    let got = decimal(value);
    let want = dec(expected);
    let tolerance = dec("0.000000000000000001");
    assert!(
        (got - want).abs() < tolerance,
        "ratio {value}, expected about {expected}"
    );
    let digits = value
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    let exact = got.normalize().scale() < 10;
    assert!(
        exact || digits >= 20,
        "ratio {value} has fewer than 20 digits"
    );
}

/// Every file of a journal folder with its bytes (checkpoints included).
pub fn journal_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A temporary folder and the journal path inside it (not yet created).
pub fn journal_dir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("journal");
    (temp, dir)
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Writes `lines` into `name` in `folder`; returns the file's path.
pub fn write_file(folder: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let file = folder.join(name);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    file
}

/// The exit status of `child` once it ends; past `deadline`, it is killed and the test fails
/// naming `what`.
pub fn wait_with_deadline(child: &mut Child, what: &str, deadline: Duration) -> ExitStatus {
    let until = Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("{what} did not end in time");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
