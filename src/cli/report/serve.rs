//! `serve`: the report page on 127.0.0.1, kept up to date while another process appends.
//!
//! A follower of the journal (as in `tail`) applies each new record to the projections and
//! re-renders the report; `/events` (server-sent events) tells each open page the new head
//! sequence number, and the page fetches `/body` and swaps it in. Read-only like the query
//! commands: no lock, nothing written.
//!
//! One thread follows the journal, one accepts connections, and each request gets a thread
//! (a page keeps one open for its events).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiny_http::{Header, Method, Request, Response};
use tradeledger::projection::Projections;
use tradeledger::storage::limits::{FOLLOW_RESYNC_AFTER_MS, TAIL_POLL_INTERVAL_MS};
use tradeledger::storage::reader::{FollowOptions, Follower};

use super::{gather, page, Selection};
use crate::cli::options::Source;
use crate::cli::query::DayBounds;

#[derive(Args)]
pub struct ServeArgs {
    /// The journal folder.
    pub dir: PathBuf,
    #[command(flatten)]
    pub days: DayBounds,
    /// The TCP port (0: any free port; the address is printed on stderr).
    #[arg(long, default_value_t = 8017)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address also needs --allow-remote.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Allow --bind to name an address other machines can reach: the page shows the account
    /// to anyone who can connect, without authentication.
    #[arg(long)]
    pub allow_remote: bool,
    /// How long to sleep between looks for new records, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = TAIL_POLL_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_ms: u64,
    /// How often an idle event stream sends a comment, in milliseconds (which also notices
    /// pages that went away).
    #[arg(long, value_name = "MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keepalive_ms: u64,
}

/// The page at one head sequence number.
struct Rendered {
    seq: u64,
    page: String,
    body: String,
}

impl Rendered {
    fn of(state: &Projections, view: &View) -> anyhow::Result<Rendered> {
        let report = gather(state, &view.journal, view.selection)?;
        Ok(Rendered {
            seq: report.head_seq,
            page: page::document(&report, Some(view.poll_ms)),
            body: page::body(&report).into_string(),
        })
    }
}

/// What every rendering needs.
struct View {
    journal: String,
    selection: Selection,
    poll_ms: u64,
}

/// What the threads share: the current page, a signal when it changes, and why following
/// stopped (if it did).
struct Shared {
    current: Mutex<Arc<Rendered>>,
    changed: Condvar,
    failure: Mutex<Option<anyhow::Error>>,
}

impl Shared {
    fn current(&self) -> Arc<Rendered> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    if !args.bind.is_loopback() && !args.allow_remote {
        anyhow::bail!(
            "refusing to listen on {}: the page would show the account to anyone who can reach \
             that address; use a loopback address (the default is 127.0.0.1), or add \
             --allow-remote to mean it",
            args.bind
        );
    }
    let source = Source {
        dir: args.dir.clone(),
        as_of: None,
        at_event_time: None,
        json: false,
    };
    // An interrupt ends `serve` with exit code 0, as it ends `tail`.
    let stop = crate::cli::interrupt::watch(|| {})?;
    let state = source.load()?;
    let view = View {
        journal: args.dir.display().to_string(),
        selection: Selection::of(&args.days),
        poll_ms: args.poll_ms,
    };
    let first = Rendered::of(&state, &view)?;
    let options = FollowOptions {
        poll_interval: Duration::from_millis(args.poll_ms),
        resync_after: Duration::from_millis(FOLLOW_RESYNC_AFTER_MS),
    };
    let follower = Follower::open_with(&args.dir, Some(state.head_seq() + 1), options)?;
    let listener = TcpListener::bind((args.bind, args.port))
        .with_context(|| format!("listen on {}:{}", args.bind, args.port))?;
    let address = listener
        .local_addr()
        .context("read the listening address")?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow::anyhow!("serve on {address}: {e}"))?;
    let shared = Arc::new(Shared {
        current: Mutex::new(Arc::new(first)),
        changed: Condvar::new(),
        failure: Mutex::new(None),
    });
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let failure = follow(follower, state, &view, &shared, options.poll_interval);
            *shared
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(failure);
        });
    }
    eprintln!(
        "serving {} at http://{address}/ (interrupt to stop)",
        args.dir.display()
    );
    let keepalive = Duration::from_millis(args.keepalive_ms);
    loop {
        if crate::cli::interrupt::happened(&stop) {
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(failure) = shared
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Err(failure.context(format!("follow {}", args.dir.display())));
        }
        if let Some(request) = server
            .recv_timeout(Duration::from_millis(200))
            .context("accept a connection")?
        {
            let shared = shared.clone();
            std::thread::spawn(move || {
                if let Err(error) = respond(request, &shared, keepalive) {
                    tracing::debug!(%error, "a connection ended");
                }
            });
        }
    }
}

/// Applies each new record to `state` and publishes the re-rendered page; returns only when
/// following or rendering fails.
fn follow(
    mut follower: Follower,
    mut state: Projections,
    view: &View,
    shared: &Shared,
    poll: Duration,
) -> anyhow::Error {
    loop {
        let records = match follower.poll() {
            Ok(records) => records,
            Err(error) => return error.into(),
        };
        if !records.is_empty() {
            for record in &records {
                state.apply(record.seq, record.recorded_at, &record.event);
            }
            match Rendered::of(&state, view) {
                Ok(rendered) => {
                    *shared
                        .current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Arc::new(rendered);
                    shared.changed.notify_all();
                }
                Err(error) => return error,
            }
        }
        std::thread::sleep(poll);
    }
}

fn respond(request: Request, shared: &Shared, keepalive: Duration) -> std::io::Result<()> {
    if *request.method() != Method::Get {
        let response = Response::from_string("only GET is served\n").with_status_code(405);
        return request.respond(response);
    }
    let path = request.url().split('?').next().unwrap_or("");
    let html = |text: &str| {
        Response::from_string(text)
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .with_header(header("Cache-Control", "no-store"))
    };
    match path {
        "/" | "/index.html" => request.respond(html(&shared.current().page)),
        "/body" => request.respond(html(&shared.current().body)),
        "/events" => events(request, shared, keepalive),
        _ => request.respond(Response::from_string("not found\n").with_status_code(404)),
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("headers are ASCII")
}

/// A server-sent event stream: `head` with the current sequence number at once and whenever
/// it changes; a comment after `keepalive` of silence. Ends when the page goes away.
fn events(request: Request, shared: &Shared, keepalive: Duration) -> std::io::Result<()> {
    let mut out = request.into_writer();
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
          Connection: close\r\n\r\n",
    )?;
    let mut sent = None;
    loop {
        let seq = {
            let current = shared
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (current, _) = shared
                .changed
                .wait_timeout_while(current, keepalive, |c| Some(c.seq) == sent)
                .unwrap_or_else(PoisonError::into_inner);
            current.seq
        };
        if Some(seq) == sent {
            out.write_all(b": keep-alive\n\n")?;
        } else {
            write!(out, "event: head\ndata: {seq}\n\n")?;
            sent = Some(seq);
        }
        out.flush()?;
    }
}
