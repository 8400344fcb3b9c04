//! The results: an aligned table with ratios to the floors and to SQLite, the machine, and
//! `target/bench/latency.json`.

use std::fmt::Write as _;
use std::path::Path;

use crate::measure::Measured;

/// One finished case.
pub struct CaseResult {
    pub name: &'static str,
    /// The durability class the case belongs to: `buffered`, `periodic` or `sync`.
    pub durability: &'static str,
    pub producers: usize,
    pub measured: Measured,
}

impl CaseResult {
    pub fn quantile_ns(&self, q: f64) -> u64 {
        self.measured.histogram.value_at_quantile(q)
    }

    fn p50(&self) -> f64 {
        self.quantile_ns(0.5) as f64
    }
}

fn find<'a>(results: &'a [CaseResult], name: &str) -> Option<&'a CaseResult> {
    results.iter().find(|r| r.name == name)
}

/// The floor a case is compared with: the bare hardware cost of its durability class.
fn floor_of(case: &CaseResult) -> Option<&'static str> {
    match (case.name.starts_with("floor_"), case.durability) {
        (true, _) => None,
        (false, "sync") => Some("floor_write_fdatasync_4k"),
        (false, _) => Some("floor_mmap_copy_128b"),
    }
}

/// The SQLite case of the same durability.
fn sqlite_of(case: &CaseResult) -> Option<&'static str> {
    if case.name.starts_with("floor_") || case.name.starts_with("sqlite_") {
        return None;
    }
    Some(match case.durability {
        "sync" => "sqlite_wal_full",
        _ => "sqlite_wal_normal",
    })
}

/// `(bound ops/s, achieved fraction)` for the `sync_append_*` cases: P producers that each wait for
/// their own acknowledgement can complete at most P appends per fdatasync.
fn group_commit(case: &CaseResult, results: &[CaseResult]) -> Option<(f64, f64)> {
    if !case.name.starts_with("sync_append_") {
        return None;
    }
    let fdatasync_ns = find(results, "floor_write_fdatasync_4k")?.p50();
    let bound = case.producers as f64 * 1e9 / fdatasync_ns;
    Some((bound, case.measured.ops_per_s() / bound))
}

pub fn duration(ns: u64) -> String {
    let ns = ns as f64;
    match ns {
        n if n < 1e3 => format!("{n:.0} ns"),
        n if n < 1e4 => format!("{:.2} µs", n / 1e3),
        n if n < 1e6 => format!("{:.1} µs", n / 1e3),
        n if n < 1e7 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.1} ms", n / 1e6),
    }
}

fn count(n: f64) -> String {
    match n {
        n if n >= 1e6 => format!("{:.2} M", n / 1e6),
        n if n >= 1e3 => format!("{:.1} k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn ratio(value: Option<f64>) -> String {
    value.map_or("-".into(), |r| format!("{r:.2}×"))
}

const HEADER: [&str; 17] = [
    "case",
    "durability",
    "P",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "ops/s",
    "p50/floor",
    "SQLite p50 ÷",
    "× SQLite ops/s",
    "GC bound ops/s",
    "of bound",
    "appends/flush",
    "flush p50",
    "gap",
];

/// The time between one flush and the next that is not the flush itself: the cycle (a group
/// every appends/flush ÷ ops/s) less the median flush. Waking the producers and their next
/// appends happen there.
fn flush_gap_ns(case: &CaseResult) -> Option<u64> {
    let groups = case.measured.groups?;
    let cycle_ns = groups.appends_per_flush * 1e9 / case.measured.ops_per_s();
    Some((cycle_ns - groups.flush_p50_ns as f64).max(0.0) as u64)
}

fn row(case: &CaseResult, results: &[CaseResult]) -> Vec<String> {
    let floor = floor_of(case).and_then(|n| find(results, n));
    let sqlite = sqlite_of(case).and_then(|n| find(results, n));
    let gc = group_commit(case, results);
    let q = |q| duration(case.quantile_ns(q));
    let groups = case.measured.groups;
    vec![
        case.name.to_string(),
        case.durability.to_string(),
        case.producers.to_string(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        duration(case.measured.histogram.max()),
        count(case.measured.ops_per_s()),
        ratio(floor.map(|f| case.p50() / f.p50())),
        ratio(sqlite.map(|s| s.p50() / case.p50())),
        ratio(sqlite.map(|s| case.measured.ops_per_s() / s.measured.ops_per_s())),
        gc.map_or("-".into(), |(bound, _)| count(bound)),
        gc.map_or("-".into(), |(_, achieved)| {
            format!("{:.0} %", achieved * 100.0)
        }),
        groups.map_or("-".into(), |g| format!("{:.1}", g.appends_per_flush)),
        groups.map_or("-".into(), |g| duration(g.flush_p50_ns)),
        flush_gap_ns(case).map_or("-".into(), duration),
    ]
}

/// The aligned results table (first column left-aligned, the others right-aligned).
pub fn table(results: &[CaseResult]) -> String {
    let mut rows = vec![HEADER.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    rows.extend(results.iter().map(|case| row(case, results)));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        for (c, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            let _ = match c {
                0 => write!(out, "{cell}{pad}"),
                _ => write!(out, "  {pad}{cell}"),
            };
        }
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    out
}

/// The same table as Markdown, for `docs/BENCHMARKS.md`.
pub fn markdown(results: &[CaseResult]) -> String {
    let mut out = format!("| {} |\n", HEADER.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
    for case in results {
        out.push_str(&format!("| {} |\n", row(case, results).join(" | ")));
    }
    out
}

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub filesystem: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The machine, from /proc; the filesystem is the mount that holds `bench_dir`.
pub fn machine(bench_dir: &Path) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let field = |line: &str| line.split_once(':').map(|(_, v)| v.trim().to_string());
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(field);
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = read("/proc/meminfo");
    let memory_kib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
    Machine {
        cpu: cpu.unwrap_or_else(|| "unknown".into()),
        cores,
        memory_bytes: memory_kib.unwrap_or(0) * 1024,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        filesystem: filesystem(bench_dir),
    }
}

/// `type (device on mount point)` of the longest mount point that is a prefix of `dir`.
fn filesystem(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = read("/proc/self/mounts");
    let best = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && dir.starts_with(f[1])).then(|| (f[1].len(), f[2], f[0], f[1]))
        })
        .max_by_key(|m| m.0);
    best.map_or("unknown".into(), |(_, kind, device, point)| {
        format!("{kind} ({device} on {point})")
    })
}

/// The JSON document of `target/bench/latency.json`.
pub fn json(machine: &Machine, results: &[CaseResult], run: serde_json::Value) -> String {
    let cases: Vec<_> = results
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "durability": c.durability,
                "producers": c.producers,
                "p50_ns": c.quantile_ns(0.5),
                "p90_ns": c.quantile_ns(0.9),
                "p99_ns": c.quantile_ns(0.99),
                "p999_ns": c.quantile_ns(0.999),
                "max_ns": c.measured.histogram.max(),
                "ops_per_s": (c.measured.ops_per_s() * 10.0).round() / 10.0,
                "appends_per_flush": c.measured.groups.map(|g| (g.appends_per_flush * 10.0).round() / 10.0),
                "flush_p50_ns": c.measured.groups.map(|g| g.flush_p50_ns),
                "flush_gap_ns": flush_gap_ns(c),
            })
        })
        .collect();
    let document = serde_json::json!({
        "machine": {
            "cpu": machine.cpu,
            "cores": machine.cores,
            "memory_bytes": machine.memory_bytes,
            "kernel": machine.kernel,
            "filesystem": machine.filesystem,
        },
        "run": run,
        "cases": cases,
    });
    serde_json::to_string_pretty(&document).expect("JSON of plain values")
}
