//! The load generator behind `tradeledger load`: producers that trade like a live system.
//!
//! Each producer is a tokio task appending through the async [`JournalHandle`], one batch per
//! trading action, and waiting for each acknowledgement under the journal's durability mode
//! before the next (so `P` producers keep up to `P` batches in flight, and in Sync mode they
//! share flushes through the handle's group commit). The events follow valid lifecycles
//! (`docs/INTERCHANGE.md` §3): signals, market entries linked to their signal, pending orders
//! that are later filled or cancelled, rejected orders, stop-loss changes, closes with the
//! profit of the price move, signals linked after the fact, and account snapshots.
//!
//! A run continues from the journal's state, read from the projections: tickets and
//! signal_ids start after the highest ones in the journal, each producer's account balance
//! continues from its latest snapshot, and the trades an earlier run left OPEN or PENDING
//! (recognised by [`LOAD_MAGIC`]) are closed, filled or cancelled first.
//!
//! With an acknowledgement log, the sequence number of every event is appended to it, one
//! per line, after the append that wrote it returned: a line in that file is a promise the
//! journal must keep (`tests/torture.rs`).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rust_decimal::Decimal;

use crate::ledger::handle::{JournalHandle, Receipt};
use crate::ledger::LedgerError;
use crate::model::event::*;
use crate::projection::{Projections, QueryError, TradeView};
use crate::rng::SplitMix64;
use crate::sync::lock;

/// The magic number of every order the generator places: how a later run recognises the
/// trades it left open.
pub const LOAD_MAGIC: u64 = 770_077;
/// Producer `p` trades on account `LOAD_ACCOUNT_BASE + p`.
pub const LOAD_ACCOUNT_BASE: u64 = 90_000_000;
pub const LOAD_STRATEGY: &str = "load_generator";

/// At most this many OPEN trades per producer; beyond it, the producer closes.
const MAX_OPEN_PER_PRODUCER: usize = 8;
/// At most this many PENDING orders per producer.
const MAX_PENDING_PER_PRODUCER: usize = 4;
const INITIAL_BALANCE: &str = "10000.00";

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Stop after this many events in all (exactly: the last batches are cut to fit).
    pub events: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Events per second over all producers; `None`: as fast as acknowledgements come.
    pub rate: Option<f64>,
    pub producers: usize,
    /// Append the sequence number of each acknowledged event to this file.
    pub ack_log: Option<PathBuf>,
    /// Seed of the price walks and of the choice of actions.
    pub seed: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            events: Some(10_000),
            duration: None,
            rate: None,
            producers: 1,
            ack_log: None,
            seed: 1,
        }
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot open the acknowledgement log {}: {source}", path.display())]
    AckLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state the run continues from could not be read (a damaged checkpoint block).
    #[error("cannot read the journal's state: {0}")]
    State(#[from] QueryError),
    /// The journal refused or failed an append (the report of what was done comes along).
    #[error("append failed after {} acknowledged events: {error}", report.events)]
    Append {
        error: LedgerError,
        report: Box<LoadReport>,
    },
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub producers: usize,
    /// Acknowledged events and batches.
    pub events: u64,
    pub batches: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub elapsed: Duration,
    /// OPEN trades and PENDING orders found from earlier runs.
    pub carried_open: usize,
    pub carried_pending: usize,
    /// Events acknowledged per kind, indexed by `EventKind as usize - 1`.
    pub kinds: [u64; 9],
    /// Per batch, from the moment it was due (with `--rate`, its scheduled time plus the
    /// lateness of tokio's timer, if the call came later; else the call) to its
    /// acknowledgement, in nanoseconds.
    pub latency_ns: Histogram<u64>,
}

impl LoadReport {
    fn new(producers: usize) -> LoadReport {
        LoadReport {
            producers,
            events: 0,
            batches: 0,
            first_seq: None,
            last_seq: None,
            elapsed: Duration::ZERO,
            carried_open: 0,
            carried_pending: 0,
            kinds: [0; 9],
            latency_ns: Histogram::new(3).expect("3 significant digits is valid"),
        }
    }

    fn merge(&mut self, other: &LoadReport) {
        self.events += other.events;
        self.batches += other.batches;
        self.first_seq = match (self.first_seq, other.first_seq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seq = self.last_seq.max(other.last_seq);
        for (mine, theirs) in self.kinds.iter_mut().zip(other.kinds) {
            *mine += theirs;
        }
        // Both histograms auto-resize; adding cannot fail.
        let _ = self.latency_ns.add(&other.latency_ns);
    }

    /// Events per second over the run.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The batch latency at `quantile` (0..=1), nanoseconds; `None` before the first batch.
    pub fn latency_at(&self, quantile: f64) -> Option<u64> {
        (!self.latency_ns.is_empty()).then(|| self.latency_ns.value_at_quantile(quantile))
    }

    /// `(kind name, count)` of every kind with a non-zero count.
    pub fn kind_counts(&self) -> Vec<(&'static str, u64)> {
        KINDS
            .iter()
            .zip(self.kinds)
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| (kind.name(), n))
            .collect()
    }
}

const KINDS: [EventKind; 9] = [
    EventKind::Signal,
    EventKind::TradeOpened,
    EventKind::OrderFilled,
    EventKind::OrderCancelled,
    EventKind::OrderFailed,
    EventKind::TradeModified,
    EventKind::TradeClosed,
    EventKind::SignalExecuted,
    EventKind::AccountSnapshot,
];

/// What a run did in one interval ([`run_with_intervals`]).
#[derive(Clone, Debug)]
pub struct Interval {
    /// From the start of the run to the end of the interval.
    pub since_start: Duration,
    /// The interval's acknowledged events and batches, and their latency (`elapsed`: the
    /// interval's length).
    pub report: LoadReport,
    /// Events acknowledged from the start of the run to the end of the interval.
    pub events_total: u64,
}

/// How long an interval is, and who is handed what was done in each
/// ([`run_with_intervals`]).
pub type Intervals<'a> = (Duration, &'a mut dyn FnMut(&Interval));

/// Runs the load on `handle` until the configured events or time are done, or `stop` is set.
pub async fn run(
    handle: &JournalHandle,
    config: &LoadConfig,
    stop: Arc<AtomicBool>,
) -> Result<LoadReport, LoadError> {
    run_with_intervals(handle, config, stop, None).await
}

/// [`run`], handing `on_interval` what the producers did in each `every` of the run (a
/// partial last interval is not handed out: the run's report has it).
pub async fn run_with_intervals(
    handle: &JournalHandle,
    config: &LoadConfig,
    stop: Arc<AtomicBool>,
    intervals: Option<Intervals<'_>>,
) -> Result<LoadReport, LoadError> {
    let producers = config.producers.max(1);
    let ack_log = match &config.ack_log {
        Some(path) => Some(Arc::new(AckLog::open(path)?)),
        None => None,
    };
    let books = handle.query(|state| plan(state, producers))?;
    let carried_open = books.iter().map(|b| b.carried.len()).sum::<usize>();
    let carried_pending = books.iter().map(|b| b.pending.len()).sum::<usize>();
    let ids = Arc::new(handle.query(Ids::after)?);
    let shared = Arc::new(Run {
        budget: config.events.map(AtomicU64::new),
        deadline: config.duration.map(|d| Instant::now() + d),
        rate_per_producer: config.rate.map(|r| r / producers as f64),
        stop,
        ack_log,
        ids,
        live: intervals.as_ref().map(|_| {
            (0..producers)
                .map(|_| Mutex::new(LoadReport::new(1)))
                .collect()
        }),
    });
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(producers);
    for (index, book) in books.into_iter().enumerate() {
        let producer = Producer {
            index,
            book,
            rng: SplitMix64::new(
                config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            prices: Prices::new(),
            last_time: Timestamp::from_nanos(0),
        };
        let handle = handle.clone();
        let shared = Arc::clone(&shared);
        tasks.push(tokio::spawn(producer.run(handle, shared)));
    }
    let joined = async {
        let mut parts = Vec::with_capacity(tasks.len());
        for task in tasks {
            let part = task.await;
            parts.push(part.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic())));
        }
        parts
    };
    let mut joined = std::pin::pin!(joined);
    let parts = match intervals {
        None => joined.await,
        Some((every, on_interval)) => {
            let mut interval = Interval {
                since_start: Duration::ZERO,
                report: LoadReport::new(producers),
                events_total: 0,
            };
            loop {
                let end = started + interval.since_start + every;
                match tokio::time::timeout_at(end.into(), &mut joined).await {
                    Ok(parts) => break parts,
                    Err(_) => {
                        interval.since_start += every;
                        interval.report = shared.take_interval(producers, every);
                        interval.events_total += interval.report.events;
                        on_interval(&interval);
                    }
                }
            }
        }
    };
    let mut report = LoadReport::new(producers);
    report.carried_open = carried_open;
    report.carried_pending = carried_pending;
    let mut failure = None;
    for (part, error) in parts {
        report.merge(&part);
        if let (None, Some(error)) = (&failure, error) {
            failure = Some(error);
        }
    }
    report.elapsed = started.elapsed();
    match failure {
        None => Ok(report),
        Some(error) => Err(LoadError::Append {
            error,
            report: Box::new(report),
        }),
    }
}

/// What the producers share.
struct Run {
    /// Events left to append, when the run is bounded by a count.
    budget: Option<AtomicU64>,
    deadline: Option<Instant>,
    rate_per_producer: Option<f64>,
    stop: Arc<AtomicBool>,
    ack_log: Option<Arc<AckLog>>,
    ids: Arc<Ids>,
    /// With intervals: what each producer did since the last interval ended (a lock of
    /// its own per producer, so that only the interval's end waits for it).
    live: Option<Vec<Mutex<LoadReport>>>,
}

impl Run {
    /// What the producers did since the last call: taken, and started afresh.
    fn take_interval(&self, producers: usize, length: Duration) -> LoadReport {
        let mut report = LoadReport::new(producers);
        for live in self.live.iter().flatten() {
            report.merge(&std::mem::replace(&mut *lock(live), LoadReport::new(1)));
        }
        report.elapsed = length;
        report
    }

    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Takes up to `wanted` events from the budget; 0 when it is spent.
    fn reserve(&self, wanted: usize) -> usize {
        let Some(budget) = &self.budget else {
            return wanted;
        };
        let mut left = budget.load(Ordering::Relaxed);
        loop {
            let take = left.min(wanted as u64);
            if take == 0 {
                return 0;
            }
            match budget.compare_exchange_weak(
                left,
                left - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take as usize,
                Err(now) => left = now,
            }
        }
    }
}

/// New tickets and signal_ids, after the highest ones in the journal.
struct Ids {
    next_ticket: AtomicU64,
    next_signal_id: AtomicU64,
}

impl Ids {
    fn after(state: &Projections) -> Result<Ids, QueryError> {
        Ok(Ids {
            next_ticket: AtomicU64::new(state.max_ticket()? + 1),
            next_signal_id: AtomicU64::new(state.max_signal_id()? + 1),
        })
    }

    fn ticket(&self) -> u64 {
        self.next_ticket.fetch_add(1, Ordering::Relaxed)
    }

    fn signal_id(&self) -> u64 {
        self.next_signal_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// The acknowledgement log: whole lines, each written by one `write` call after the append
/// returned, so a kill loses at most the lines of the call in progress.
struct AckLog {
    file: Mutex<File>,
    path: PathBuf,
}

impl AckLog {
    /// Opens the log for appending. A last line without its newline (a run was killed while
    /// writing it) was never a complete acknowledgement: it is cut, so that the next line
    /// does not run into it.
    fn open(path: &Path) -> Result<AckLog, LoadError> {
        let failed = |source| LoadError::AckLog {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(failed)?;
        let complete = complete_lines_len(&file).map_err(failed)?;
        if complete < file.metadata().map_err(failed)?.len() {
            file.set_len(complete).map_err(failed)?;
        }
        Ok(AckLog {
            file: Mutex::new(file),
            path: path.to_path_buf(),
        })
    }

    fn record(&self, first_seq: u64, last_seq: u64, text: &mut String) -> std::io::Result<()> {
        use std::fmt::Write as _;
        text.clear();
        for seq in first_seq..=last_seq {
            let _ = writeln!(text, "{seq}");
        }
        let mut file = lock(&self.file);
        file.write_all(text.as_bytes())
    }
}

/// The length of `file` up to and including its last newline.
fn complete_lines_len(file: &File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = [0u8; 64];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.read_exact_at(part, start)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// A trade a producer keeps track of.
#[derive(Clone, Debug)]
struct Position {
    ticket: u64,
    symbol: usize,
    trade_type: TradeType,
    volume: Decimal,
    entry_price: Decimal,
    entry_time: Timestamp,
    stop_loss: Decimal,
}

/// One producer's trades and account.
#[derive(Debug, Default)]
struct Book {
    /// OPEN trades left by an earlier run: closed first.
    carried: VecDeque<Position>,
    open: VecDeque<Position>,
    pending: VecDeque<Position>,
    /// A trade opened without its signal: `signal_executed` links them later.
    unlinked: Option<(u64, u64)>,
    account: u64,
    balance: Decimal,
}

/// Splits the journal's leftover load trades between the producers and continues each
/// producer's account from its latest snapshot.
fn plan(state: &Projections, producers: usize) -> Result<Vec<Book>, QueryError> {
    let mut books: Vec<Book> = (0..producers)
        .map(|p| {
            let account = LOAD_ACCOUNT_BASE + p as u64;
            let balance = state
                .latest_snapshot(account)?
                .map_or_else(|| dec(INITIAL_BALANCE), |s| s.balance);
            Ok(Book {
                account,
                balance,
                ..Book::default()
            })
        })
        .collect::<Result<_, QueryError>>()?;
    let ours = |t: &TradeView| t.magic_number == LOAD_MAGIC;
    let open = state.open_trades(None, None)?;
    for (i, trade) in open.iter().filter(|t| ours(t)).enumerate() {
        books[i % producers].carried.push_back(position_of(trade));
    }
    let pending = state.pending_trades()?;
    for (i, trade) in pending.iter().filter(|t| ours(t)).enumerate() {
        books[i % producers].pending.push_back(position_of(trade));
    }
    Ok(books)
}

fn position_of(trade: &TradeView) -> Position {
    let symbol = SYMBOLS
        .iter()
        .position(|s| s.name == trade.symbol)
        .unwrap_or(0);
    Position {
        ticket: trade.ticket,
        symbol,
        trade_type: trade.trade_type,
        volume: trade.volume,
        entry_price: trade.entry_price,
        entry_time: trade.entry_time,
        stop_loss: trade.stop_loss.unwrap_or(trade.entry_price),
    }
}

struct Producer {
    index: usize,
    book: Book,
    rng: SplitMix64,
    prices: Prices,
    last_time: Timestamp,
}

impl Producer {
    async fn run(
        mut self,
        handle: JournalHandle,
        run: Arc<Run>,
    ) -> (LoadReport, Option<LedgerError>) {
        let mut report = LoadReport::new(1);
        let started = tokio::time::Instant::now();
        let mut sent = 0u64;
        let mut ack_text = String::new();
        // How late tokio's timer fired the last time this producer slept until a batch was
        // due: it fires on whole milliseconds, so batches come in bursts.
        let mut timer_lag = Duration::ZERO;
        loop {
            if run.over() {
                break;
            }
            let due = match run.rate_per_producer {
                Some(rate) if rate > 0.0 => {
                    let due = (started + Duration::from_secs_f64(sent as f64 / rate)).into_std();
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                        timer_lag = due.elapsed();
                    }
                    if run.over() {
                        break;
                    }
                    // A batch is due when it would have been sent with the timer's lag alone:
                    // any later, and the journal held it up (counted: no coordinated
                    // omission); the timer's lag is none of the journal's doing.
                    (due + timer_lag).min(Instant::now())
                }
                _ => Instant::now(),
            };
            let mut batch = self.next_batch(&run.ids);
            let allowed = run.reserve(batch.len());
            if allowed == 0 {
                break;
            }
            if allowed < batch.len() {
                // The end of a counted run: fill the rest with HOLD signals.
                batch = (0..allowed).map(|_| self.hold_signal(&run.ids)).collect();
            }
            let kinds: Vec<EventKind> = batch.iter().map(Event::kind).collect();
            let outcome = handle.append(batch).await;
            let latency = due.elapsed().as_nanos() as u64;
            let (first_seq, last_seq) = match outcome {
                Ok(Receipt::Written {
                    first_seq,
                    last_seq,
                }) => (first_seq, last_seq),
                Ok(Receipt::Held { .. }) => {
                    let reason = "the journal failed and the batch was held".to_string();
                    return (
                        report,
                        Some(LedgerError::Storage(crate::Error::Poisoned {
                            reason,
                            kind: None,
                        })),
                    );
                }
                Err(error) => return (report, Some(error)),
            };
            if let Some(log) = &run.ack_log {
                if let Err(source) = log.record(first_seq, last_seq, &mut ack_text) {
                    let error = crate::Error::Io {
                        path: log.path.clone(),
                        op: "append to the acknowledgement log",
                        source,
                    };
                    return (report, Some(LedgerError::Storage(error)));
                }
            }
            let _ = report.latency_ns.record(latency.max(1));
            if let Some(live) = run.live.as_ref().map(|live| &live[self.index]) {
                let mut live = lock(live);
                let _ = live.latency_ns.record(latency.max(1));
                live.events += kinds.len() as u64;
                live.batches += 1;
            }
            report.events += kinds.len() as u64;
            report.batches += 1;
            report.first_seq.get_or_insert(first_seq);
            report.last_seq = Some(last_seq);
            for kind in kinds {
                report.kinds[kind as usize - 1] += 1;
            }
            sent += (last_seq - first_seq) + 1;
        }
        (report, None)
    }

    /// A strictly increasing event time per producer, following the wall clock.
    fn now(&mut self) -> Timestamp {
        let now = Timestamp::now().max(Timestamp::from_nanos(self.last_time.nanos() + 1));
        self.last_time = now;
        now
    }

    /// The next trading action, as one atomic batch.
    fn next_batch(&mut self, ids: &Ids) -> Vec<Event> {
        let time = self.now();
        for symbol in 0..SYMBOLS.len() {
            self.prices.step(symbol, &mut self.rng);
        }
        if let Some(position) = self.book.carried.pop_front() {
            return vec![self.close(position, time, "closed by a later load run")];
        }
        let open = self.book.open.len();
        let pending = self.book.pending.len();
        let roll = self.rng.below(100);
        let mut batch = match roll {
            _ if open >= MAX_OPEN_PER_PRODUCER => self.close_oldest(time),
            0..=19 => self.market_entry(ids),
            20..=27 if pending < MAX_PENDING_PER_PRODUCER => self.pending_order(ids),
            28..=35 if pending > 0 => self.resolve_pending(time),
            36..=39 => self.rejected_order(ids, time),
            40..=51 if open > 0 => self.modify(time),
            52..=71 if open > 0 => self.close_oldest(time),
            72..=76 => self.entry_linked_later(ids, time),
            77..=79 if self.book.unlinked.is_some() => self.link_later(),
            80..=89 => vec![self.snapshot(time)],
            _ => vec![self.hold_signal(ids)],
        };
        // A trading cycle often ends with an account snapshot.
        if roll % 10 == 3 && !matches!(batch.last(), Some(Event::AccountSnapshot(_))) {
            batch.push(self.snapshot(time));
        }
        batch
    }

    fn signal(&mut self, ids: &Ids, symbol: usize, signal_type: SignalType) -> Signal {
        let time = self.now();
        let price = self.prices.mid(symbol);
        let spec = &SYMBOLS[symbol];
        let (stop_loss, take_profit) = match signal_type {
            SignalType::Sell => (price + spec.points(300), price - spec.points(600)),
            _ => (price - spec.points(300), price + spec.points(600)),
        };
        Signal {
            signal_id: ids.signal_id(),
            symbol: spec.name.into(),
            signal_type,
            timestamp: time,
            price,
            confidence: self.rng.below(1000) as f64 / 1000.0,
            strategy_name: LOAD_STRATEGY.into(),
            timeframe: "M5".into(),
            stop_loss: (signal_type != SignalType::Hold).then_some(stop_loss),
            take_profit: (signal_type != SignalType::Hold).then_some(take_profit),
            reason: Some(
                match signal_type {
                    SignalType::Buy => "fast MA crossed above slow MA",
                    SignalType::Sell => "fast MA crossed below slow MA",
                    SignalType::Hold => "no crossover",
                }
                .into(),
            ),
            ml_enhanced: self.rng.below(4) == 0,
            ml_confidence: None,
            ml_agreed: None,
        }
    }

    fn hold_signal(&mut self, ids: &Ids) -> Event {
        let symbol = self.rng.below(SYMBOLS.len() as u64) as usize;
        Event::Signal(self.signal(ids, symbol, SignalType::Hold))
    }

    fn direction(&mut self) -> (SignalType, TradeType) {
        if self.rng.below(2) == 0 {
            (SignalType::Buy, TradeType::Buy)
        } else {
            (SignalType::Sell, TradeType::Sell)
        }
    }

    fn opened(
        &mut self,
        ids: &Ids,
        signal: &Signal,
        status: OpenStatus,
        link: bool,
    ) -> TradeOpened {
        let symbol = SYMBOLS
            .iter()
            .position(|s| s.name == signal.symbol)
            .unwrap_or(0);
        let trade_type = match signal.signal_type {
            SignalType::Sell => TradeType::Sell,
            _ => TradeType::Buy,
        };
        let spec = &SYMBOLS[symbol];
        // A pending limit order waits a little below (buy) or above (sell) the market.
        let entry_price = match (status, trade_type) {
            (OpenStatus::Pending, TradeType::Buy) => signal.price - spec.points(50),
            (OpenStatus::Pending, TradeType::Sell) => signal.price + spec.points(50),
            _ => signal.price,
        };
        TradeOpened {
            ticket: ids.ticket(),
            symbol: signal.symbol.clone(),
            trade_type,
            volume: Decimal::new(1 + self.rng.below(50) as i64, 2),
            entry_price,
            entry_time: signal.timestamp,
            status,
            stop_loss: signal.stop_loss,
            take_profit: signal.take_profit,
            magic_number: LOAD_MAGIC,
            account_number: Some(self.book.account),
            strategy_name: Some(LOAD_STRATEGY.into()),
            signal_id: link.then_some(signal.signal_id),
            execution_reason: link.then(|| "signal confidence above threshold".into()),
            signal_confidence: Some(signal.confidence),
            signal_reason: signal.reason.clone(),
            ml_enhanced: signal.ml_enhanced,
            ml_confidence: None,
            ai_approved: true,
            ai_reasoning: None,
            commission: Decimal::new(-7, 1),
            swap: Decimal::ZERO,
            comment: Some(format!("load producer {}", self.index)),
        }
    }

    fn track(&mut self, trade: &TradeOpened) -> Position {
        Position {
            ticket: trade.ticket,
            symbol: SYMBOLS
                .iter()
                .position(|s| s.name == trade.symbol)
                .unwrap_or(0),
            trade_type: trade.trade_type,
            volume: trade.volume,
            entry_price: trade.entry_price,
            entry_time: trade.entry_time,
            stop_loss: trade.stop_loss.unwrap_or(trade.entry_price),
        }
    }

    fn market_entry(&mut self, ids: &Ids) -> Vec<Event> {
        let symbol = self.rng.below(SYMBOLS.len() as u64) as usize;
        let (signal_type, _) = self.direction();
        let signal = self.signal(ids, symbol, signal_type);
        let trade = self.opened(ids, &signal, OpenStatus::Open, true);
        let position = self.track(&trade);
        self.book.open.push_back(position);
        vec![Event::Signal(signal), Event::TradeOpened(trade)]
    }

    fn pending_order(&mut self, ids: &Ids) -> Vec<Event> {
        let symbol = self.rng.below(SYMBOLS.len() as u64) as usize;
        let (signal_type, _) = self.direction();
        let signal = self.signal(ids, symbol, signal_type);
        let trade = self.opened(ids, &signal, OpenStatus::Pending, true);
        let position = self.track(&trade);
        self.book.pending.push_back(position);
        vec![Event::Signal(signal), Event::TradeOpened(trade)]
    }

    fn resolve_pending(&mut self, time: Timestamp) -> Vec<Event> {
        let Some(mut order) = self.book.pending.pop_front() else {
            return vec![self.snapshot(time)];
        };
        let time = time.max(order.entry_time);
        if self.rng.below(10) < 7 && self.book.open.len() < MAX_OPEN_PER_PRODUCER {
            order.entry_time = time;
            let filled = Event::OrderFilled(OrderFilled {
                ticket: order.ticket,
                entry_price: order.entry_price,
                entry_time: time,
            });
            self.book.open.push_back(order);
            vec![filled]
        } else {
            vec![Event::OrderCancelled(OrderCancelled {
                ticket: order.ticket,
                time,
                reason: Some("order expired".into()),
            })]
        }
    }

    fn rejected_order(&mut self, ids: &Ids, time: Timestamp) -> Vec<Event> {
        let symbol = self.rng.below(SYMBOLS.len() as u64) as usize;
        let (signal_type, trade_type) = self.direction();
        let signal = self.signal(ids, symbol, signal_type);
        let failed = OrderFailed {
            ticket: ids.ticket(),
            symbol: signal.symbol.clone(),
            trade_type,
            volume: Decimal::new(10, 2),
            entry_price: signal.price,
            entry_time: time.max(signal.timestamp),
            reason: Some("broker rejected: requote".into()),
            signal_id: Some(signal.signal_id),
            account_number: Some(self.book.account),
            strategy_name: Some(LOAD_STRATEGY.into()),
            magic_number: LOAD_MAGIC,
        };
        vec![Event::Signal(signal), Event::OrderFailed(failed)]
    }

    fn modify(&mut self, time: Timestamp) -> Vec<Event> {
        let at = self.rng.below(self.book.open.len() as u64) as usize;
        let position = &mut self.book.open[at];
        let spec = &SYMBOLS[position.symbol];
        // Trail the stop towards the price by 5 to 50 points.
        let step = spec.points(5 * (1 + self.rng.below(10) as i64));
        position.stop_loss = match position.trade_type {
            TradeType::Buy => position.stop_loss + step,
            TradeType::Sell => position.stop_loss - step,
        };
        if position.stop_loss <= Decimal::ZERO {
            position.stop_loss = spec.points(1);
        }
        vec![Event::TradeModified(TradeModified {
            ticket: position.ticket,
            time,
            stop_loss: PriceUpdate::Set(position.stop_loss),
            take_profit: PriceUpdate::Unchanged,
        })]
    }

    fn close_oldest(&mut self, time: Timestamp) -> Vec<Event> {
        match self.book.open.pop_front() {
            Some(position) => vec![self.close(position, time, "take profit or stop loss")],
            None => vec![self.snapshot(time)],
        }
    }

    fn close(&mut self, position: Position, time: Timestamp, reason: &str) -> Event {
        let spec = &SYMBOLS[position.symbol];
        let exit_price = self.prices.mid(position.symbol);
        let direction = match position.trade_type {
            TradeType::Buy => Decimal::ONE,
            TradeType::Sell => Decimal::NEGATIVE_ONE,
        };
        let moved = (exit_price - position.entry_price) * direction;
        let mut profit = moved * position.volume * Decimal::from(100_000);
        if spec.quote_is_jpy {
            profit /= exit_price;
        }
        let profit = profit.round_dp(2);
        let pips = (moved / spec.pip()).round_dp(1);
        self.book.balance += profit;
        Event::TradeClosed(TradeClosed {
            ticket: position.ticket,
            exit_price,
            exit_time: time.max(position.entry_time),
            profit,
            pips: Some(pips),
            commission: None,
            swap: None,
            reason: Some(reason.into()),
        })
    }

    /// A trade opened without its signal, linked by `signal_executed` in a later batch.
    fn entry_linked_later(&mut self, ids: &Ids, time: Timestamp) -> Vec<Event> {
        if self.book.unlinked.is_some() {
            return self.link_later();
        }
        let symbol = self.rng.below(SYMBOLS.len() as u64) as usize;
        let (signal_type, _) = self.direction();
        let signal = self.signal(ids, symbol, signal_type);
        let mut trade = self.opened(ids, &signal, OpenStatus::Open, false);
        trade.entry_time = time.max(signal.timestamp);
        let position = self.track(&trade);
        self.book.unlinked = Some((signal.signal_id, trade.ticket));
        self.book.open.push_back(position);
        vec![Event::Signal(signal), Event::TradeOpened(trade)]
    }

    fn link_later(&mut self) -> Vec<Event> {
        let (signal_id, ticket) = self.book.unlinked.take().expect("an unlinked pair");
        vec![Event::SignalExecuted(SignalExecuted {
            signal_id,
            ticket,
            execution_reason: Some("linked by the order reconciler".into()),
        })]
    }

    fn snapshot(&mut self, time: Timestamp) -> Event {
        let open = &self.book.open;
        let volume: Decimal = open.iter().map(|p| p.volume).sum();
        let floating: Decimal = open
            .iter()
            .map(|p| {
                let sign = match p.trade_type {
                    TradeType::Buy => Decimal::ONE,
                    TradeType::Sell => Decimal::NEGATIVE_ONE,
                };
                let mut profit = (self.prices.mid(p.symbol) - p.entry_price)
                    * sign
                    * p.volume
                    * Decimal::from(100_000);
                if SYMBOLS[p.symbol].quote_is_jpy {
                    profit /= self.prices.mid(p.symbol);
                }
                profit
            })
            .sum::<Decimal>()
            .round_dp(2);
        let margin = (volume * Decimal::from(1000)).round_dp(2);
        let equity = self.book.balance + floating;
        Event::AccountSnapshot(AccountSnapshot {
            account_number: self.book.account,
            server: "Load-Server".into(),
            broker: "tradeledger load".into(),
            balance: self.book.balance,
            equity,
            snapshot_time: time,
            profit: Some(floating),
            margin: Some(margin),
            margin_free: Some(equity - margin),
            total_volume: volume,
            margin_level: (margin > Decimal::ZERO)
                .then(|| (equity / margin * Decimal::from(100)).round_dp(2)),
            open_positions: open.len() as u32,
        })
    }
}

/// An instrument: its name, price scale and starting price.
struct SymbolSpec {
    name: &'static str,
    /// Digits after the point (5 for EURUSD, 3 for USDJPY).
    scale: u32,
    start_points: i64,
    quote_is_jpy: bool,
}

impl SymbolSpec {
    /// `n` points (the smallest price step) as a price difference.
    fn points(&self, n: i64) -> Decimal {
        Decimal::new(n, self.scale)
    }

    /// One pip: ten points.
    fn pip(&self) -> Decimal {
        self.points(10)
    }
}

const SYMBOLS: [SymbolSpec; 4] = [
    SymbolSpec {
        name: "EURUSD",
        scale: 5,
        start_points: 110_450,
        quote_is_jpy: false,
    },
    SymbolSpec {
        name: "GBPUSD",
        scale: 5,
        start_points: 127_020,
        quote_is_jpy: false,
    },
    SymbolSpec {
        name: "AUDUSD",
        scale: 5,
        start_points: 66_310,
        quote_is_jpy: false,
    },
    SymbolSpec {
        name: "USDJPY",
        scale: 3,
        start_points: 148_250,
        quote_is_jpy: true,
    },
];

/// A random walk of each symbol's price, in points, kept within ±20 % of its start.
struct Prices {
    points: [i64; SYMBOLS.len()],
}

impl Prices {
    fn new() -> Prices {
        Prices {
            points: SYMBOLS.map(|s| s.start_points),
        }
    }

    fn step(&mut self, symbol: usize, rng: &mut SplitMix64) {
        let start = SYMBOLS[symbol].start_points;
        let change = rng.below(41) as i64 - 20;
        let next = self.points[symbol] + change;
        self.points[symbol] = next.clamp(start * 4 / 5, start * 6 / 5);
    }

    fn mid(&self, symbol: usize) -> Decimal {
        SYMBOLS[symbol].points(self.points[symbol])
    }
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a valid decimal constant")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::Projections;

    /// Drives producers without a journal: every batch must pass the ledger's checks against
    /// the state the earlier batches built, including across a "restart" (a new plan).
    #[test]
    fn batches_follow_valid_lifecycles_across_restarts() {
        let mut state = Projections::new();
        let mut seq = 0u64;
        let mut kinds = std::collections::BTreeSet::new();
        for run in 0..3u64 {
            let ids = Ids::after(&state).unwrap();
            let books = plan(&state, 2).unwrap();
            if run > 0 {
                assert!(
                    books
                        .iter()
                        .any(|b| !b.carried.is_empty() || !b.pending.is_empty()),
                    "an earlier run left trades to carry over"
                );
            }
            let mut producers: Vec<Producer> = books
                .into_iter()
                .enumerate()
                .map(|(index, book)| Producer {
                    index,
                    book,
                    rng: SplitMix64::new(run * 10 + index as u64),
                    prices: Prices::new(),
                    last_time: Timestamp::from_nanos(0),
                })
                .collect();
            let carried: Vec<u64> = producers
                .iter()
                .flat_map(|p| p.book.carried.iter().map(|c| c.ticket))
                .collect();
            for step in 0..2_000 {
                let producer = &mut producers[step % 2];
                let batch = producer.next_batch(&ids);
                state
                    .check_batch(&batch)
                    .unwrap_or_else(|(i, v)| panic!("run {run} step {step} event {i}: {v}"));
                for event in &batch {
                    kinds.insert(event.kind());
                    seq += 1;
                    state.apply(seq, Timestamp::now(), event);
                }
            }
            for ticket in carried {
                let trade = state.trade_by_ticket(ticket).unwrap().unwrap();
                assert_eq!(trade.status, TradeStatus::Closed, "ticket {ticket}");
            }
        }
        assert_eq!(state.ignored_events(), 0);
        assert_eq!(
            kinds.len(),
            KINDS.len(),
            "every kind of event occurs: {kinds:?}"
        );
    }

    #[test]
    fn a_partial_last_line_of_the_ack_log_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ack.log");
        std::fs::write(&path, "1\n2\n3").unwrap();
        let log = AckLog::open(&path).unwrap();
        log.record(4, 5, &mut String::new()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n4\n5\n");
        std::fs::write(&path, "12").unwrap();
        AckLog::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn the_budget_is_shared_exactly() {
        let run = Run {
            budget: Some(AtomicU64::new(5)),
            deadline: None,
            rate_per_producer: None,
            stop: Arc::new(AtomicBool::new(false)),
            ack_log: None,
            ids: Arc::new(Ids::after(&Projections::new()).unwrap()),
            live: None,
        };
        assert_eq!(run.reserve(3), 3);
        assert_eq!(run.reserve(3), 2);
        assert_eq!(run.reserve(3), 0);
    }
}
