//! `tradeledger report` and `serve` in a real browser (headless Chromium, Debian's
//! `chromium`): the page logs no error, every chart draws data, the figures it states are
//! those of `stats --json` and `summary --json`, and the live page shows a trade appended
//! by another process within 2 s.

mod cli_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cli_support::{json, ok, path};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json as object, Value};
use tradeledger::ledger::Ledger;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::OpenMode;
use tradeledger::tools::sample;

const DEADLINE: Duration = Duration::from_secs(30);
/// How soon the live page must show an appended trade.
const LIVE_WITHIN: Duration = Duration::from_secs(2);
/// Okabe–Ito colours the charts draw data in (axes and grid are greys and black).
const PALETTE: [&str; 4] = ["#0072B2", "#E69F00", "#009E73", "#D55E00"];

/// The browser: `$CHROMIUM`, or `chromium` on the PATH (`.ci/run` installs it).
fn chromium() -> String {
    let program = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{program} is needed for the browser tests: apt-get install -y chromium (or set CHROMIUM)"
    );
    program
}

const HEADLESS: [&str; 4] = [
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--no-first-run",
];

/// A demo journal of `bars` bars in a fresh temporary folder.
fn demo_journal(bars: usize) -> (tempfile::TempDir, PathBuf) {
    let (temp, dir) = cli_support::journal_dir();
    ok(&["demo", path(&dir), "--bars", &bars.to_string()]);
    (temp, dir)
}

/// The opening tags named `tag` in `html`, each as the text between `<tag` and `>`.
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    html.match_indices(&open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            &rest[..rest.find('>').unwrap_or(rest.len())]
        })
        .collect()
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = format!(" {tag}").find(&key)?;
    let rest = &tag[at + key.len() - 1..];
    rest.find('"').map(|end| &rest[..end])
}

/// The `<figure data-chart=ID>` element's inner text.
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("the page has no chart {id}"));
    let end = dom[start..].find("</figure>").expect("the figure ends") + start;
    &dom[start..end]
}

fn in_palette(tag: &str) -> bool {
    ["stroke", "fill"]
        .iter()
        .filter_map(|a| attribute(tag, a))
        .any(|colour| PALETTE.iter().any(|p| p.eq_ignore_ascii_case(colour)))
}

/// Marks of data: lines in the palette with at least `min_points` points, and bars
/// (rectangles) in the palette.
fn data_marks(svg: &str, min_points: usize) -> (usize, usize) {
    let lines = tags(svg, "polyline")
        .into_iter()
        .filter(|t| in_palette(t))
        .filter(|t| {
            attribute(t, "points").is_some_and(|p| p.split_whitespace().count() >= min_points)
        })
        .count();
    let bars = tags(svg, "rect")
        .into_iter()
        .filter(|t| in_palette(t))
        .count();
    (lines, bars)
}

/// The `data-value` and the shown text of the key figure `source.key`.
fn figure<'a>(dom: &'a str, source: &str, key: &str) -> (&'a str, &'a str) {
    let marker = format!("data-figure=\"{source}.{key}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("the page states no figure {source}.{key}"));
    let tag_end = dom[at..].find('>').unwrap() + at;
    let tag = &dom[at - 1..tag_end];
    let value = attribute(tag, "data-value").expect("a figure has data-value");
    let text_end = dom[tag_end..].find('<').unwrap() + tag_end;
    (value, &dom[tag_end + 1..text_end])
}

fn rounded(value: &str) -> String {
    let mut d: Decimal = value.parse().unwrap();
    d = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(2);
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d.to_string()
}

/// Every field of the `--json` object is on the page with exactly that value, shown rounded.
fn assert_figures_match(dom: &str, source: &str, expected: &Value) {
    let fields = expected.as_object().expect("an object");
    for (key, want) in fields {
        let (value, shown) = figure(dom, source, key);
        let want_text = match want {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert_eq!(
            value, want_text,
            "{source}.{key}: page vs `{source} --json`"
        );
        match want {
            Value::String(text) => assert!(
                shown == rounded(text) || shown == format!("{} %", rounded(text)),
                "{source}.{key} is shown as {shown:?}, not {text} rounded"
            ),
            Value::Null => assert_eq!(shown, "-", "{source}.{key}"),
            other => assert_eq!(shown, other.to_string(), "{source}.{key}"),
        }
    }
}

fn run_chromium(args: &[&str]) -> (String, String) {
    let output = Command::new(chromium())
        .args(HEADLESS)
        .args(args)
        .output()
        .expect("start chromium");
    assert!(output.status.success(), "chromium {args:?}: {output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_report_draws_every_chart_and_states_the_figures_of_stats_and_summary() {
    let (_temp, dir) = demo_journal(600);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let page = out.join("report.html");
    let before = cli_support::journal_files(&dir);
    ok(&["report", path(&dir), "-o", path(&page)]);
    assert!(
        cli_support::journal_files(&dir) == before,
        "report only reads the journal"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains(" src=\""),
        "the page loads nothing from elsewhere"
    );
    for href in tags(&html, "link")
        .into_iter()
        .filter_map(|t| attribute(t, "href"))
    {
        assert!(href.starts_with("data:"), "the page links to {href}");
    }
    let size = html.len();
    assert!(size < 5 << 20, "the page is {size} bytes");

    let url = format!("file://{}", page.display());
    let (dom, log) = run_chromium(&[
        "--dump-dom",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        &url,
    ]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "the page logged: {console:#?}");
    assert!(
        dom.contains("data-ready=\"true\""),
        "the page's scripts ran"
    );
    assert!(!dom.contains("data-errors="), "the page recorded errors");

    // Each chart draws data, not just axes: (chart, lines of ≥ N points, N, bars).
    let expected = [
        ("equity", 2, 50, 0),
        ("drawdown", 1, 50, 0),
        ("cumulative", 1, 5, 0),
        ("daily", 0, 0, 5),
        ("distribution", 0, 0, 2),
    ];
    for (id, lines, min_points, bars) in expected {
        let (drawn_lines, drawn_bars) = data_marks(chart(&dom, id), min_points.max(2));
        assert!(
            drawn_lines >= lines && drawn_bars >= bars,
            "chart {id}: {drawn_lines} data lines (want {lines} of {min_points}+ points), \
             {drawn_bars} bars (want {bars})"
        );
    }

    let dir_text = path(&dir);
    assert_figures_match(&dom, "stats", &json(&["stats", dir_text]));
    assert_figures_match(&dom, "summary", &json(&["summary", dir_text]));

    let screenshot = out.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = format!("--screenshot={}", screenshot.display());
    run_chromium(&[&shot, "--window-size=1400,2400", &url]);
    let bytes = std::fs::metadata(&screenshot).map_or(0, |m| m.len());
    assert!(
        bytes > 10_000,
        "screenshot {} has {bytes} bytes",
        screenshot.display()
    );
    let render_ms = dom
        .split("data-render-ms=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("?");
    eprintln!(
        "report: {size} bytes, loaded in {render_ms} ms (virtual time), screenshot {}",
        screenshot.display()
    );
}

#[test]
fn serve_refuses_other_interfaces_unless_asked() {
    let (_temp, dir) = demo_journal(50);
    let error = cli_support::fails(
        &["serve", path(&dir), "--bind", "0.0.0.0", "--port", "0"],
        1,
    );
    assert!(error.contains("refusing to listen on 0.0.0.0"), "{error}");
}

/// An interrupt (SIGINT, as Ctrl-C sends, or SIGTERM) ends `serve` with exit code 0, as it
/// ends `tail`.
#[test]
fn serve_ends_cleanly_on_an_interrupt() {
    let (_temp, dir) = demo_journal(50);
    for signal in ["-INT", "-TERM"] {
        let (mut serve, _address) = start_serve(&dir);
        let pid = serve.0.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = serve.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "serve still runs after kill {signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "serve after kill {signal}: {status}"
        );
    }
}

/// A process the test started, stopped by its PID when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a free port; returns it and its address.
fn start_serve(dir: &Path) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["serve", path(dir), "--port", "0", "--poll-ms", "20"])
        .env_remove("TRADELEDGER_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let address = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("serve said where it listens: {line:?}"))
        .to_string();
    (Process(child), address)
}

/// Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: it reads
/// commands on fd 3 and writes on fd 4, which a shell maps to our pipes).
struct Browser {
    process: Process,
    commands: ChildStdin,
    replies: mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
}

impl Browser {
    fn start() -> Browser {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>/dev/null")
            .arg(chromium())
            .args(HEADLESS)
            .arg("--remote-debugging-pipe")
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let commands = child.stdin.take().unwrap();
        let mut output = child.stdout.take().unwrap();
        let (sender, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buffer = [0u8; 65536];
            while let Ok(n) = output.read(&mut buffer) {
                if n == 0 {
                    return;
                }
                pending.extend_from_slice(&buffer[..n]);
                while let Some(end) = pending.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    let Ok(value) = serde_json::from_slice(&message[..end]) else {
                        continue;
                    };
                    if sender.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        Browser {
            process: Process(child),
            commands,
            replies,
            next_id: 0,
            session: None,
        }
    }

    /// Sends a command and waits for its reply's `result`.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = object!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            message["sessionId"] = Value::String(session.clone());
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        self.commands.flush().unwrap();
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let reply = self
                .replies
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium answered no {method}"));
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", object!({ "url": url }));
        let attached = self.call(
            "Target.attachToTarget",
            object!({ "targetId": target["targetId"], "flatten": true }),
        );
        self.session = attached["sessionId"].as_str().map(str::to_string);
        assert!(self.session.is_some(), "attached to the page: {attached}");
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            object!({ "expression": expression, "returnByValue": true }),
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` every few milliseconds until it is `true`; the time it took.
    fn wait_for(&mut self, expression: &str, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.eval(expression) == Value::Bool(true) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.session = None;
        // Closing lets Chromium end its helper processes; the PID is killed if it does not.
        self.next_id += 1;
        let close = object!({ "id": self.next_id, "method": "Browser.close", "params": {} });
        let mut bytes = serde_json::to_vec(&close).unwrap();
        bytes.push(0);
        let _ = self.commands.write_all(&bytes);
        let _ = self.commands.flush();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.process.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn the_live_page_shows_an_appended_trade_within_two_seconds() {
    let (_temp, dir) = demo_journal(200);
    let (_serve, address) = start_serve(&dir);
    let mut browser = Browser::start();
    browser.open(&address);
    let connected = browser.wait_for(
        "(document.getElementById('live') || {}).textContent === 'live: connected'",
        DEADLINE,
    );
    assert!(
        connected.is_some(),
        "the page connected to its event stream"
    );

    let ledger = Ledger::open(&dir, &OpenMode::default()).unwrap();
    let n = ledger.query(|s| s.max_ticket().unwrap().max(s.max_signal_id().unwrap())) + 1;
    let appended_at = Instant::now();
    ledger
        .append(&sample::signal_and_trade(n, Timestamp::now()))
        .unwrap();
    let shown = browser.wait_for(
        &format!("document.querySelector('tr[data-ticket=\"{n}\"]') !== null"),
        LIVE_WITHIN.saturating_sub(appended_at.elapsed()),
    );
    let waited = appended_at.elapsed();
    assert!(
        shown.is_some(),
        "trade {n} was not on the page {waited:?} after its append"
    );
    eprintln!("the live page showed trade {n} {waited:?} after its append");
    assert_eq!(
        browser.eval("document.documentElement.getAttribute('data-errors')"),
        Value::Null
    );
    ledger.close().unwrap();
}
