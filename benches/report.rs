//! `cargo bench --bench report [-- EVENTS RUNS]`: the speed figures of `docs/REPORT.md`.
//!
//! - `tradeledger load DIR --events EVENTS --seed 7` (default 10,000,000) writes a journal,
//!   closed with a checkpoint at its head; `REPORT_BENCH_JOURNAL=DIR` reuses one instead;
//! - `tradeledger report DIR -o FILE`, RUNS times (default 5): wall time and peak resident
//!   memory of each run, and the page's size;
//! - the page loaded in headless Chromium (`$CHROMIUM`, or `chromium`; skipped when there is
//!   none): the `data-render-ms` the page records when its scripts have run, and the
//!   browser's wall time.
//!
//! Prints a table and writes `target/bench/report.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tradeledger");

/// What one run of a child process cost.
struct Cost {
    wall: Duration,
    peak_rss_kib: u64,
}

/// Runs `command` to completion: its wall time, and its peak resident memory as the kernel's
/// high-water mark (`VmHWM`) last read while it ran (read every 2 ms: the peak of the last
/// 2 ms before it exits may be missed).
fn measure(mut command: Command) -> Cost {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the command");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        let high_water = std::fs::read_to_string(&status_file).ok().and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak_rss_kib = peak_rss_kib.max(high_water.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = started.elapsed();
    assert!(status.success(), "{command:?} failed: {status}");
    Cost { wall, peak_rss_kib }
}

fn journal(events: u64, scratch: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("REPORT_BENCH_JOURNAL") {
        return PathBuf::from(dir);
    }
    let dir = scratch.join("journal");
    let mut load = Command::new(BIN);
    load.arg("load")
        .arg(&dir)
        .args(["--events", &events.to_string(), "--seed", "7"]);
    let cost = measure(load);
    println!(
        "journal: {events} events written by `load` in {:.1} s",
        cost.wall.as_secs_f64()
    );
    dir
}

/// The page in headless Chromium: `(data-render-ms, browser wall time)`, or why not.
fn render(page: &Path) -> Result<(u64, Duration), String> {
    let program = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let started = Instant::now();
    let output = Command::new(&program)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let wall = started.elapsed();
    let dom = String::from_utf8_lossy(&output.stdout);
    let ms = dom
        .split("data-render-ms=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|ms| ms.parse().ok())
        .ok_or("the page recorded no data-render-ms")?;
    Ok((ms, wall))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let events: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = journal(events, scratch.path());
    let page = scratch.path().join("report.html");

    let mut costs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut report = Command::new(BIN);
        report.arg("report").arg(&dir).arg("-o").arg(&page);
        costs.push(measure(report));
    }
    let page_bytes = std::fs::metadata(&page).expect("the page").len();
    let rendered = render(&page);

    let mut walls: Vec<f64> = costs.iter().map(|c| c.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    let peak_mib = costs.iter().map(|c| c.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    println!("\n| what | measured | target |");
    println!("|---|---|---|");
    println!(
        "| `report`, wall time over {runs} runs | min {:.2} s, median {:.2} s, max {:.2} s \
         (peak RSS {peak_mib:.0} MiB) | ≤ 2 s |",
        walls[0],
        walls[walls.len() / 2],
        walls[walls.len() - 1]
    );
    println!("| page size | {} KB | ≤ 5 MB |", page_bytes / 1000);
    match &rendered {
        Ok((ms, wall)) => println!(
            "| page load in headless Chromium (`data-render-ms`) | {ms} ms (browser run {:.1} s) \
             | ≤ 1 s |",
            wall.as_secs_f64()
        ),
        Err(why) => println!("| page load in headless Chromium | skipped: {why} | ≤ 1 s |"),
    }

    let json = serde_json::json!({
        "events": events,
        "journal": dir.display().to_string(),
        "report_wall_s": walls,
        "report_peak_rss_kib": costs.iter().map(|c| c.peak_rss_kib).collect::<Vec<_>>(),
        "page_bytes": page_bytes,
        "render_ms": rendered.as_ref().ok().map(|r| r.0),
        "browser_wall_s": rendered.as_ref().ok().map(|r| r.1.as_secs_f64()),
        "render_skipped": rendered.as_ref().err(),
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/report.json");
    std::fs::create_dir_all(out.parent().expect("target/bench")).expect("create target/bench");
    std::fs::write(&out, serde_json::to_string_pretty(&json).expect("JSON")).expect("write");
    println!("\nJSON: {}", out.display());
}
