//! Progress bars on stderr, for the commands that can run long (`docs/CLI.md`, "Progress").
//!
//! A bar is drawn only when stderr is a terminal, and cleared when its work is done, so that
//! what follows (the result on stdout, a message) starts on a clean line; otherwise nothing is
//! written. `TRADELEDGER_PROGRESS=always` draws them anyway, as plain lines (at most one a
//! second per bar, and its final state when it ends), for a log; `never` never draws them.
//! The library tells how far its work got through its `..._with_progress` variants
//! ([`tradeledger::progress`]); [`with_bar`] connects one to a bar.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use tradeledger::ledger::{AsOf, CheckpointInfo, Ledger, OpenReport};
use tradeledger::model::event::Timestamp;
use tradeledger::progress::Progress;
use tradeledger::projection::Projections;
use tradeledger::storage::journal::OpenMode;
use tradeledger::Error;

/// The environment variable that overrides whether bars are drawn: `always` or `never`.
pub const PROGRESS_ENV: &str = "TRADELEDGER_PROGRESS";

/// On a terminal, a bar appears only once its work has taken this long: a quick command
/// does not flash one.
const SHOW_AFTER: Duration = Duration::from_millis(300);

/// As lines, a bar writes one at most this often (and its last state).
const LINE_EVERY: Duration = Duration::from_secs(1);

/// Where bars go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// stderr is a terminal: drawn in place, cleared at the end.
    Terminal,
    /// `TRADELEDGER_PROGRESS=always` on something else: plain lines.
    Lines,
    Hidden,
}

fn mode() -> Mode {
    let terminal = std::io::stderr().is_terminal();
    match std::env::var(PROGRESS_ENV).as_deref() {
        Ok("never") => Mode::Hidden,
        Ok("always") if !terminal => Mode::Lines,
        _ if terminal => Mode::Terminal,
        _ => Mode::Hidden,
    }
}

/// What a bar counts.
#[derive(Clone, Copy)]
pub enum Unit {
    Bytes,
    /// A share of the work, in percent (`verify`, whose work is several passes).
    Percent,
    /// A count of things with this name (`records`, `rows`, `bars`).
    Count(&'static str),
    /// A count of things whose total is not known beforehand (rows streamed out).
    Open(&'static str),
    /// Work that cannot tell how far it got (one atomic append): only the time it has taken.
    Waiting,
}

/// A progress bar on stderr (see the module).
pub struct Bar {
    bar: ProgressBar,
    mode: Mode,
    started: Instant,
    /// With `TRADELEDGER_PROGRESS=always` on something else than a terminal.
    lines: Option<Arc<Lines>>,
    /// A [`Unit::Waiting`] bar: it has work to tell of without a length.
    waiting: bool,
}

impl Bar {
    /// A bar for the work `what` ("verifying", "replaying"), counted in `unit`.
    pub fn new(what: &str, unit: Unit) -> Bar {
        let mode = mode();
        let bar = ProgressBar::hidden();
        let counts = match unit {
            Unit::Bytes => "{binary_bytes}/{binary_total_bytes}".to_string(),
            Unit::Percent => "{percent}%".to_string(),
            Unit::Count(name) => format!("{{human_pos}}/{{human_len}} {name}"),
            Unit::Open(name) => format!("{{human_pos}} {name}"),
            Unit::Waiting => String::new(),
        };
        let template = match unit {
            Unit::Open(_) => format!("{{msg}} {counts}, {{elapsed}}"),
            Unit::Waiting => "{msg}, {elapsed}".to_string(),
            _ => format!("{{msg}} [{{bar:30}}] {counts}, {{elapsed}}, eta {{eta}}"),
        };
        let style = ProgressStyle::with_template(&template)
            .expect("the bar's template is valid")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_string());
        let lines = (mode == Mode::Lines).then(Arc::<Lines>::default);
        if let Some(lines) = &lines {
            let target = Box::new(SharedLines(Arc::clone(lines)));
            bar.set_draw_target(ProgressDrawTarget::term_like(target));
        }
        Bar {
            bar,
            mode,
            started: Instant::now(),
            lines,
            waiting: matches!(unit, Unit::Waiting),
        }
    }

    /// `done` of `total` units are done.
    pub fn set(&self, done: u64, total: u64) {
        if total == 0 {
            // Nothing to do (no record after the checkpoint): no bar at all.
            return;
        }
        self.show_when_due();
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    /// `done` things are done, of a total not known (a [`Unit::Open`] bar): moves it every
    /// 4096, and shows it on a terminal once the work has taken a while.
    pub fn count(&self, done: u64) {
        if !done.is_multiple_of(4096) {
            return;
        }
        self.show_when_due();
        self.bar.set_position(done);
    }

    /// The last count of a [`Unit::Open`] bar, before [`Bar::finish`].
    pub fn counted(&self, done: u64) {
        self.show_when_due();
        self.bar.set_length(done);
        self.bar.set_position(done);
    }

    fn show_when_due(&self) {
        if self.mode == Mode::Terminal
            && self.bar.is_hidden()
            && self.started.elapsed() >= SHOW_AFTER
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// The work is over (done, or ended by an error): the bar is cleared from a terminal;
    /// as lines, its last state is written (unless there was no work).
    pub fn finish(&self) {
        match &self.lines {
            Some(_) if self.bar.length().is_none() && !self.waiting => {}
            Some(lines) => {
                lines.last_state.store(true, Ordering::Relaxed);
                self.bar.abandon();
            }
            None => self.bar.finish_and_clear(),
        }
    }
}

/// Runs `work` with a bar for `what` that its [`Progress`] moves; the bar is finished when
/// the work returns.
pub fn with_bar<T>(what: &str, unit: Unit, work: impl FnOnce(Progress) -> T) -> T {
    let bar = Bar::new(what, unit);
    let result = work(&mut |done, total| bar.set(done, total));
    bar.finish();
    result
}

/// Runs `work`, which cannot tell how far it got (the append of a whole file as one batch),
/// with a line that says what it does and how long it has taken: on a terminal once it has
/// taken [`SHOW_AFTER`], redrawn as the time goes; as lines, its last state when it ends.
pub fn with_waiting<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let bar = Bar::new(what, Unit::Waiting);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let bar_ref = &bar;
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            let bar = bar_ref;
            let timeout = std::sync::mpsc::RecvTimeoutError::Timeout;
            if finished.recv_timeout(SHOW_AFTER) == Err(timeout) {
                bar.show_when_due();
                bar.bar.enable_steady_tick(Duration::from_millis(200));
                let _ = finished.recv();
            }
        });
        let result = work();
        drop(done);
        result
    });
    bar.bar.disable_steady_tick();
    bar.finish();
    result
}

/// A reader that moves `bar` by the bytes read from `inner` (of `total`), every 64 KiB.
pub struct Reading<'a, R> {
    inner: R,
    bar: &'a Bar,
    done: u64,
    shown: u64,
    total: u64,
}

impl<'a, R: std::io::Read> Reading<'a, R> {
    pub fn new(inner: R, total: u64, bar: &'a Bar) -> Reading<'a, R> {
        bar.set(0, total);
        Reading {
            inner,
            bar,
            done: 0,
            shown: 0,
            total,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Reading<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.done += read as u64;
        if self.done - self.shown >= 64 << 10 || read == 0 {
            self.shown = self.done;
            self.bar.set(self.done.min(self.total), self.total);
        }
        Ok(read)
    }
}

/// The projections of the journal in `dir`, read-only, with a bar over the records replayed
/// after the checkpoint ([`tradeledger::ledger::load_read_only`]).
pub fn load_read_only(dir: &Path, as_of: Option<AsOf>) -> Result<(Projections, OpenReport), Error> {
    with_bar("replaying", Unit::Count("records"), |progress| {
        tradeledger::ledger::load_read_only_with_progress(dir, as_of, progress)
    })
}

/// The book of the journal in `dir` as of trading time `time`, with a bar over the records
/// read ([`tradeledger::ledger::load_at_event_time`]).
pub fn load_at_event_time(dir: &Path, time: Timestamp) -> Result<(Projections, u64), Error> {
    with_bar("replaying", Unit::Count("records"), |progress| {
        tradeledger::ledger::load_at_event_time_with_progress(dir, time, progress)
    })
}

/// Opens the journal in `dir` for writing, with a bar over the records replayed after the
/// checkpoint ([`Ledger::open`]).
pub fn open(dir: &Path) -> Result<Ledger, Error> {
    with_bar("replaying", Unit::Count("records"), |progress| {
        Ledger::open_with_progress(dir, &OpenMode::default(), progress)
    })
}

/// A checkpoint of `ledger`'s state, with a bar over the records written
/// ([`Ledger::checkpoint`]).
pub fn checkpoint(ledger: &Ledger) -> Result<CheckpointInfo, Error> {
    with_bar("writing checkpoint", Unit::Count("records"), |progress| {
        ledger.checkpoint_with_progress(progress)
    })
}

/// Closes `ledger`, with a bar over the records its last checkpoint writes ([`Ledger::close`]).
pub fn close(ledger: Ledger) -> Result<(), Error> {
    with_bar("writing checkpoint", Unit::Count("records"), |progress| {
        ledger.close_with_progress(progress)
    })
}

/// The draw target of `TRADELEDGER_PROGRESS=always` when stderr is no terminal: each state
/// drawn becomes one plain line (indicatif writes a state, pads it with spaces to the width,
/// then flushes), with no cursor movement and no carriage return; at most one a second, but
/// the last state always.
#[derive(Debug, Default)]
struct Lines {
    line: Mutex<String>,
    last_written: Mutex<Option<Instant>>,
    /// The next state drawn is the bar's last.
    last_state: AtomicBool,
}

/// [`Lines`], shared by the bar's draw target and the [`Bar`] that says when it ends.
#[derive(Debug)]
struct SharedLines(Arc<Lines>);

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TermLike for SharedLines {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, text: &str) -> std::io::Result<()> {
        self.write_str(text)?;
        self.flush()
    }

    fn write_str(&self, text: &str) -> std::io::Result<()> {
        locked(&self.0.line).extend(text.chars().filter(|&c| c != '\r'));
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        locked(&self.0.line).clear();
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        let mut line = std::mem::take(&mut *locked(&self.0.line));
        line.truncate(line.trim_end().len());
        let mut last_written = locked(&self.0.last_written);
        let due = last_written.is_none_or(|at| at.elapsed() >= LINE_EVERY);
        if line.is_empty() || !(due || self.0.last_state.load(Ordering::Relaxed)) {
            return Ok(());
        }
        *last_written = Some(Instant::now());
        line.push('\n');
        let mut stderr = std::io::stderr().lock();
        stderr.write_all(line.as_bytes())?;
        stderr.flush()
    }
}
