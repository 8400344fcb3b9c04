//! `_native.Ledger`: a `tradeledger::Ledger` shared by Python threads.
//!
//! Appends and queries run with the GIL released (`Python::detach`): other Python threads run
//! meanwhile, and appends from several of them meet in the ledger's own append lock (and, in
//! `sync` durability, in one group commit). Queries return the JSON text of the library's
//! views, the objects `tradeledger … --json` prints, for the Python layer to convert.

use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};

use chrono::NaiveDate;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde::Serialize;
use tradeledger::ledger::load_read_only;
use tradeledger::projection::TradeSelect;
use tradeledger::{
    Durability, Error, JournalOptions, JournalReader, Ledger, LedgerError, OpenMode, Projections,
    QueryError, TimeBasis, TimeRange, Timestamp, TradeFilter, TradeStatus,
};

use crate::convert::{self, ConvertError, Refusal};
use crate::{RefusedError, TradeledgerError};

/// A journal open for writing, with its live projections; or its projections as they were
/// when it was opened read-only.
#[pyclass(frozen, name = "Ledger", module = "tradeledger._native")]
pub struct NativeLedger {
    /// `None` once closed. Appends and queries take it shared; `close` takes it away.
    ledger: RwLock<Option<Opened>>,
    path: PathBuf,
}

/// What `NativeLedger` holds while open.
enum Opened {
    /// Open for writing: the journal's lock is held, the projections are live.
    Writer(Ledger),
    /// Read-only: the projections as of the open, no lock held, nothing written.
    Reader {
        state: Box<Projections>,
        durability: Durability,
    },
}

impl Opened {
    fn durability(&self) -> Durability {
        match self {
            Opened::Writer(ledger) => ledger.journal().meta().durability,
            Opened::Reader { durability, .. } => *durability,
        }
    }

    fn head_seq(&self) -> u64 {
        match self {
            Opened::Writer(ledger) => ledger.journal().head_seq(),
            Opened::Reader { state, .. } => state.head_seq(),
        }
    }

    fn query<R>(&self, query: impl FnOnce(&Projections) -> R) -> R {
        match self {
            Opened::Writer(ledger) => ledger.query(query),
            Opened::Reader { state, .. } => query(state),
        }
    }
}

#[pymethods]
impl NativeLedger {
    /// Creates a journal in `path` (empty or missing).
    #[staticmethod]
    #[pyo3(signature = (path, durability = "buffered", segment_size_bytes = None, checkpoint_every_records = None))]
    fn create(
        py: Python<'_>,
        path: PathBuf,
        durability: &str,
        segment_size_bytes: Option<u64>,
        checkpoint_every_records: Option<u64>,
    ) -> PyResult<NativeLedger> {
        let durability = Durability::parse(durability).ok_or_else(|| {
            PyValueError::new_err(format!(
                "durability must be \"buffered\", \"sync\" or \"periodic:<ms>\", got {durability:?}"
            ))
        })?;
        let mut options = JournalOptions {
            durability,
            ..JournalOptions::default()
        };
        if let Some(bytes) = segment_size_bytes {
            options.segment_size_bytes = bytes;
        }
        if let Some(records) = checkpoint_every_records {
            options.checkpoint_every_records = records;
        }
        let ledger = py
            .detach(|| Ledger::create(&path, &options))
            .map_err(|error| journal_error(&path, "create", &error))?;
        Ok(NativeLedger::new(ledger, path))
    }

    /// Opens the journal in `path` for writing: recovery, checkpoint, replay.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<NativeLedger> {
        let ledger = py
            .detach(|| Ledger::open(&path, &OpenMode::default()))
            .map_err(|error| journal_error(&path, "open", &error))?;
        Ok(NativeLedger::new(ledger, path))
    }

    /// Loads the projections of the journal in `path` without its lock and without writing:
    /// it may be open for writing elsewhere. The state is the journal's as of now.
    #[staticmethod]
    fn open_read_only(py: Python<'_>, path: PathBuf) -> PyResult<NativeLedger> {
        let opened = py
            .detach(|| {
                let durability = JournalReader::open(&path)?.meta().durability;
                let (state, _) = load_read_only(&path, None)?;
                Ok::<_, Error>(Opened::Reader {
                    state: Box::new(state),
                    durability,
                })
            })
            .map_err(|error| journal_error(&path, "open", &error))?;
        Ok(NativeLedger {
            ledger: RwLock::new(Some(opened)),
            path,
        })
    }

    /// Whether the ledger was opened read-only.
    #[getter]
    fn read_only(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |opened| Ok(matches!(opened, Opened::Reader { .. })))
    }

    /// The journal's folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.ledger
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// The journal's durability: `buffered`, `sync` or `periodic:<ms>`.
    #[getter]
    fn durability(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |opened| {
            Ok(match opened.durability() {
                Durability::Buffered => "buffered".to_string(),
                Durability::Sync => "sync".to_string(),
                Durability::Periodic { interval_ms } => format!("periodic:{interval_ms}"),
                other => format!("{other:?}").to_lowercase(),
            })
        })
    }

    /// The seq of the last record appended (0 for an empty journal).
    #[getter]
    fn head_seq(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |opened| Ok(opened.head_seq()))
    }

    /// Appends `events` (event dicts) as one atomic batch; returns `(first_seq, last_seq)`.
    fn append(&self, py: Python<'_>, events: &Bound<'_, PyAny>) -> PyResult<(u64, u64)> {
        let events = match convert::events(events) {
            Ok(events) => events,
            Err(ConvertError::Python(error)) => return Err(error),
            Err(ConvertError::Refused(refusal)) => return Err(refused(py, refusal)),
        };
        if events.is_empty() {
            return Err(PyValueError::new_err(
                "append needs at least one event; nothing was appended",
            ));
        }
        let appended = py.detach(|| {
            let guard = self.ledger.read().unwrap_or_else(PoisonError::into_inner);
            guard.as_ref().map(|opened| match opened {
                Opened::Writer(ledger) => Some(ledger.append(&events)),
                Opened::Reader { .. } => None,
            })
        });
        match appended {
            None => Err(closed(&self.path)),
            Some(None) => Err(TradeledgerError::new_err(format!(
                "{}: opened read-only: appends need Ledger.open(path); nothing was appended",
                self.path.display()
            ))),
            Some(Some(Ok(appended))) => Ok((appended.first_seq, appended.last_seq)),
            Some(Some(Err(LedgerError::Rejected { index, violation }))) => Err(refused(
                py,
                Refusal {
                    index,
                    field: Some(violation.field.to_string()),
                    reason: violation.detail,
                    rule: Some(violation.rule.name()),
                },
            )),
            Some(Some(Err(LedgerError::Storage(error)))) => {
                Err(journal_error(&self.path, "append to", &error))
            }
        }
    }

    /// Converts `events` as `append` does and appends nothing: how many events they are.
    /// For the benchmark's profile (`bench/append_bench.py`), which times the conversion alone.
    fn _convert_only(&self, py: Python<'_>, events: &Bound<'_, PyAny>) -> PyResult<usize> {
        match convert::events(events) {
            Ok(events) => Ok(events.len()),
            Err(ConvertError::Python(error)) => Err(error),
            Err(ConvertError::Refused(refusal)) => Err(refused(py, refusal)),
        }
    }

    /// Flushes, writes a checkpoint and releases the journal. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = py.detach(|| {
            self.ledger
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
        match taken {
            None | Some(Opened::Reader { .. }) => Ok(()),
            Some(Opened::Writer(ledger)) => py
                .detach(|| ledger.close())
                .map_err(|error| journal_error(&self.path, "close", &error)),
        }
    }

    /// The trade with `ticket` (JSON object or `null`).
    fn trade_by_ticket(&self, py: Python<'_>, ticket: u64) -> PyResult<String> {
        self.query(py, |state| state.trade_by_ticket(ticket))
    }

    /// Trades selected as `tradeledger trades` selects them (JSON array); `strategy` and
    /// `magic` as its `--strategy` and `--magic`.
    #[pyo3(signature = (status = None, symbol = None, account = None, start = None, end = None, by = "entry", strategy = None, magic = None))]
    #[allow(clippy::too_many_arguments)]
    fn trades(
        &self,
        py: Python<'_>,
        status: Option<&str>,
        symbol: Option<String>,
        account: Option<u64>,
        start: Option<&str>,
        end: Option<&str>,
        by: &str,
        strategy: Option<String>,
        magic: Option<u64>,
    ) -> PyResult<String> {
        let status = status
            .map(|text| {
                TradeStatus::parse(text).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "status must be one of PENDING, OPEN, CLOSED, CANCELLED, FAILED, got {text:?}"
                    ))
                })
            })
            .transpose()?;
        let range = range(start, end)?;
        let by = basis(by)?;
        if by == TimeBasis::Exit && status.is_some_and(|status| status != TradeStatus::Closed) {
            return Err(PyValueError::new_err(
                "by=\"exit\" selects CLOSED trades by exit_time; it cannot be combined with another status",
            ));
        }
        self.query(py, |state| {
            state.trades(&TradeFilter {
                status,
                symbol: symbol.as_deref(),
                account,
                range,
                by,
                strategy: strategy.as_deref(),
                magic,
            })
        })
    }

    /// The statistics `tradeledger stats` prints (JSON object); `strategy` and `magic` as its
    /// `--strategy` and `--magic`.
    #[pyo3(signature = (start = None, end = None, by = "exit", symbol = None, account = None, strategy = None, magic = None))]
    #[allow(clippy::too_many_arguments)]
    fn trade_statistics(
        &self,
        py: Python<'_>,
        start: Option<&str>,
        end: Option<&str>,
        by: &str,
        symbol: Option<String>,
        account: Option<u64>,
        strategy: Option<String>,
        magic: Option<u64>,
    ) -> PyResult<String> {
        let (range, by) = (range(start, end)?, basis(by)?);
        self.query(py, |state| {
            let select = TradeSelect {
                account,
                symbol: symbol.as_deref(),
                strategy: strategy.as_deref(),
                magic,
            };
            state.statistics(range, by, &select)
        })
    }

    /// The `limit` most recent signals (JSON array).
    #[pyo3(signature = (symbol = None, limit = 100))]
    fn recent_signals(
        &self,
        py: Python<'_>,
        symbol: Option<String>,
        limit: usize,
    ) -> PyResult<String> {
        self.query(py, |state| state.recent_signals(symbol.as_deref(), limit))
    }

    /// `tradeledger execution-rate` (JSON object).
    #[pyo3(signature = (since = None))]
    fn signal_execution_rate(&self, py: Python<'_>, since: Option<&str>) -> PyResult<String> {
        let since = since.map(|text| timestamp("since", text)).transpose()?;
        self.query(py, |state| state.signal_execution_rate(since))
    }

    /// The latest snapshot of `account` (JSON object or `null`).
    fn latest_snapshot(&self, py: Python<'_>, account: u64) -> PyResult<String> {
        self.query(py, |state| state.latest_snapshot(account))
    }

    /// Snapshots of `account` in the range (JSON array).
    #[pyo3(signature = (account, start = None, end = None))]
    fn snapshots_between(
        &self,
        py: Python<'_>,
        account: u64,
        start: Option<&str>,
        end: Option<&str>,
    ) -> PyResult<String> {
        let range = range(start, end)?;
        self.query(py, |state| state.snapshots_between(account, range))
    }

    /// Daily performance rows, `tradeledger daily` (JSON array); `strategy` and `magic` as
    /// its `--strategy` and `--magic`.
    #[pyo3(signature = (start = None, end = None, account = None, strategy = None, magic = None))]
    fn daily_performance(
        &self,
        py: Python<'_>,
        start: Option<&str>,
        end: Option<&str>,
        account: Option<u64>,
        strategy: Option<String>,
        magic: Option<u64>,
    ) -> PyResult<String> {
        let (from, to) = (date("start", start)?, date("end", end)?);
        self.query(py, |state| {
            state.daily_rows(from, to, &day_select(account, strategy.as_deref(), magic))
        })
    }

    /// `tradeledger summary` (JSON object); `strategy` and `magic` as its `--strategy` and
    /// `--magic`.
    #[pyo3(signature = (start = None, end = None, account = None, strategy = None, magic = None))]
    fn performance_summary(
        &self,
        py: Python<'_>,
        start: Option<&str>,
        end: Option<&str>,
        account: Option<u64>,
        strategy: Option<String>,
        magic: Option<u64>,
    ) -> PyResult<String> {
        let (from, to) = (date("start", start)?, date("end", end)?);
        self.query(py, |state| {
            state.summary(from, to, &day_select(account, strategy.as_deref(), magic))
        })
    }
}

impl NativeLedger {
    fn new(ledger: Ledger, path: PathBuf) -> NativeLedger {
        NativeLedger {
            ledger: RwLock::new(Some(Opened::Writer(ledger))),
            path,
        }
    }

    /// Runs `work` on the open ledger, with the GIL released.
    fn with<R: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&Opened) -> PyResult<R> + Send,
    ) -> PyResult<R> {
        let result = py.detach(|| {
            let guard = self.ledger.read().unwrap_or_else(PoisonError::into_inner);
            guard.as_ref().map(work)
        });
        result.unwrap_or_else(|| Err(closed(&self.path)))
    }

    /// Runs a query on the live projections; its result as JSON text.
    fn query<T: Serialize>(
        &self,
        py: Python<'_>,
        query: impl FnOnce(&Projections) -> Result<T, QueryError> + Send,
    ) -> PyResult<String> {
        let path = self.path.clone();
        self.with(py, move |opened| {
            let found = opened.query(query).map_err(|error| {
                TradeledgerError::new_err(format!("{}: query failed: {error}", path.display()))
            })?;
            serde_json::to_string(&found).map_err(|error| {
                TradeledgerError::new_err(format!("serialize the query's result: {error}"))
            })
        })
    }
}

/// The `RefusedError` of `refusal`, with `rule`, `field`, `index` and `reason` set.
fn refused(py: Python<'_>, refusal: Refusal) -> PyErr {
    let field = refusal.field.as_deref().map_or(String::new(), |field| {
        format!(", field \"{}\"", field.escape_debug())
    });
    let rule = refusal
        .rule
        .map_or(String::new(), |rule| format!(" (rule \"{rule}\")"));
    let message = format!(
        "event {}{field}: {}{rule}; nothing was appended",
        refusal.index, refusal.reason
    );
    let error = RefusedError::new_err(message);
    let value = error.value(py);
    let set = value
        .setattr("rule", refusal.rule)
        .and_then(|()| value.setattr("field", refusal.field))
        .and_then(|()| value.setattr("index", refusal.index))
        .and_then(|()| value.setattr("reason", refusal.reason));
    match set {
        Ok(()) => error,
        Err(failed) => failed,
    }
}

fn closed(path: &std::path::Path) -> PyErr {
    TradeledgerError::new_err(format!("{}: the ledger is closed", path.display()))
}

/// A journal error as `TradeledgerError`: `cannot open /x: …`.
fn journal_error(path: &std::path::Path, doing: &str, error: &Error) -> PyErr {
    TradeledgerError::new_err(format!("cannot {doing} {}: {error}", path.display()))
}

/// The trades `daily` and `summary` count, as the command line selects them: any symbol.
fn day_select(account: Option<u64>, strategy: Option<&str>, magic: Option<u64>) -> TradeSelect<'_> {
    TradeSelect {
        account,
        strategy,
        magic,
        ..TradeSelect::default()
    }
}

/// The `start`/`end` of a query: RFC 3339 texts, inclusive.
fn range(start: Option<&str>, end: Option<&str>) -> PyResult<TimeRange> {
    let from = start.map(|text| timestamp("start", text)).transpose()?;
    let to = end.map(|text| timestamp("end", text)).transpose()?;
    Ok(TimeRange::new(from, to))
}

fn timestamp(argument: &str, text: &str) -> PyResult<Timestamp> {
    Timestamp::parse_rfc3339(text)
        .map_err(|error| PyValueError::new_err(format!("{argument}: {error}, got {text:?}")))
}

fn date(argument: &str, text: Option<&str>) -> PyResult<Option<NaiveDate>> {
    text.map(|text| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|error| {
            PyValueError::new_err(format!(
                "{argument}: not a date YYYY-MM-DD ({error}), got {text:?}"
            ))
        })
    })
    .transpose()
}

fn basis(by: &str) -> PyResult<TimeBasis> {
    match by.to_ascii_lowercase().as_str() {
        "exit" => Ok(TimeBasis::Exit),
        "entry" => Ok(TimeBasis::Entry),
        _ => Err(PyValueError::new_err(format!(
            "by must be \"exit\" or \"entry\", got {by:?}"
        ))),
    }
}
