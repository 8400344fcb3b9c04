//! The results: an aligned table with ratios to the floors and to SQLite, the comparison of
//! each tradeledger API with the best peer journal ("vs. peers"), the machine, and
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

/// The peer journals' cases (`peers.rs`), by prefix.
const PEER_PREFIXES: [&str; 3] = ["okaywal_", "raft_engine_", "fjall_"];

fn is_peer(name: &str) -> bool {
    PEER_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// The tradeledger API a group-commit case goes through, for the comparison with the peers.
fn api_of(name: &str) -> Option<&'static str> {
    if name.starts_with("sync_append_async_p") {
        Some("JournalHandle")
    } else if name.starts_with("ledger_sync_append_p") {
        Some("Ledger")
    } else if name.starts_with("sync_append_p") {
        Some("Journal")
    } else {
        None
    }
}

/// `(bound ops/s, achieved fraction)` for the `sync_append_*`, `ledger_sync_append_*` and peer
/// cases: P producers that each wait for their own acknowledgement can complete at most P
/// appends per fdatasync.
fn group_commit(case: &CaseResult, results: &[CaseResult]) -> Option<(f64, f64)> {
    let name = case.name;
    if !(name.starts_with("sync_append_")
        || name.starts_with("ledger_sync_append_")
        || is_peer(name))
    {
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
    aligned(&rows)
}

/// `rows` (the first is the header) as an aligned table: first column left-aligned, the
/// others right-aligned, a rule under the header.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
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

/// The goal for group commit against the peers: each API ≥ 1.5× the best peer's ops/s.
pub const VS_PEERS_GOAL: f64 = 1.5;

/// One tradeledger API at P producers against the fastest peer journal at the same P.
pub struct VsPeer<'a> {
    pub producers: usize,
    pub api: &'static str,
    pub case: &'a CaseResult,
    pub best_peer: &'a CaseResult,
}

impl VsPeer<'_> {
    /// The API's throughput over the best peer's.
    pub fn ratio(&self) -> f64 {
        self.case.measured.ops_per_s() / self.best_peer.measured.ops_per_s()
    }
}

/// At P = 16 and 64: each tradeledger API (Journal, Ledger, JournalHandle) that ran, against
/// the peer case with the most ops/s at the same P in the same run.
pub fn vs_peers(results: &[CaseResult]) -> Vec<VsPeer<'_>> {
    let mut out = vec![];
    for producers in [16, 64] {
        let at_p = || results.iter().filter(move |r| r.producers == producers);
        let best_peer = at_p().filter(|r| is_peer(r.name)).max_by(|a, b| {
            let (a, b) = (a.measured.ops_per_s(), b.measured.ops_per_s());
            a.total_cmp(&b)
        });
        let Some(best_peer) = best_peer else { continue };
        for api in ["Journal", "Ledger", "JournalHandle"] {
            if let Some(case) = at_p().find(|r| api_of(r.name) == Some(api)) {
                out.push(VsPeer {
                    producers,
                    api,
                    case,
                    best_peer,
                });
            }
        }
    }
    out
}

const VS_PEERS_HEADER: [&str; 10] = [
    "P",
    "API",
    "case",
    "ops/s",
    "p50",
    "best peer",
    "peer ops/s",
    "peer p50",
    "× best peer ops/s",
    "goal ≥ 1.5×",
];

fn vs_peers_rows(results: &[CaseResult]) -> Vec<Vec<String>> {
    let mut rows = vec![VS_PEERS_HEADER.iter().map(|h| h.to_string()).collect()];
    for v in vs_peers(results) {
        let ratio = v.ratio();
        rows.push(vec![
            v.producers.to_string(),
            v.api.to_string(),
            v.case.name.to_string(),
            count(v.case.measured.ops_per_s()),
            duration(v.case.quantile_ns(0.5)),
            v.best_peer.name.to_string(),
            count(v.best_peer.measured.ops_per_s()),
            duration(v.best_peer.quantile_ns(0.5)),
            format!("{ratio:.2}×"),
            if ratio >= VS_PEERS_GOAL {
                "met"
            } else {
                "missed"
            }
            .to_string(),
        ]);
    }
    rows
}

/// The "vs. peers" table, aligned; empty when no tradeledger API and no peer ran at P = 16
/// or 64.
pub fn vs_peers_table(results: &[CaseResult]) -> String {
    let rows = vs_peers_rows(results);
    if rows.len() < 2 {
        return String::new();
    }
    aligned(&rows)
}

/// The "vs. peers" table as Markdown.
pub fn vs_peers_markdown(results: &[CaseResult]) -> String {
    let rows = vs_peers_rows(results);
    if rows.len() < 2 {
        return String::new();
    }
    let mut out = format!("| {} |\n", rows[0].join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(rows[0].len())));
    for row in &rows[1..] {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
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
    let vs_peers: Vec<_> = vs_peers(results)
        .iter()
        .map(|v| {
            serde_json::json!({
                "producers": v.producers,
                "api": v.api,
                "case": v.case.name,
                "ops_per_s": (v.case.measured.ops_per_s() * 10.0).round() / 10.0,
                "best_peer": v.best_peer.name,
                "best_peer_ops_per_s": (v.best_peer.measured.ops_per_s() * 10.0).round() / 10.0,
                "ratio": (v.ratio() * 1000.0).round() / 1000.0,
                "goal": VS_PEERS_GOAL,
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
        "vs_peers": vs_peers,
    });
    serde_json::to_string_pretty(&document).expect("JSON of plain values")
}
