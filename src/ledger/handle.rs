//! The async journal handle a trading process embeds (tokio).
//!
//! - `append(events).await` returns once the journal's durability mode is satisfied. In
//!   Buffered and Periodic mode it completes on the calling task: the batch is checked,
//!   copied into mapped memory and applied, with no channel and no thread hop. In Sync mode
//!   the task then waits for durability: if nobody is flushing, it becomes the group-commit
//!   leader and flushes at once on its own worker thread (`block_in_place`, so the runtime
//!   moves its other tasks away); otherwise it awaits the leader's flush, which
//!   usually covers its batch too. No append pays a wake-up of a dedicated writer thread.
//! - Disk I/O never runs on a worker thread with tasks queued behind it: the Sync flush and
//!   an append that may roll to a new segment (the active one is nearly full) run under
//!   `block_in_place`.
//! - `try_append` never awaits: it writes and returns the sequence numbers; in Sync mode the
//!   batch is not yet durable (await [`JournalHandle::wait_durable`] when it matters).
//! - Failures follow the handle's [`FailurePolicy`]: `Halt` returns the error; `Continue`
//!   keeps the batch in a bounded backlog, counts it, logs it and reports it in [`Health`],
//!   and returns [`Receipt::Held`] — never a sequence number for a record not written.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::{Error, Failure};
use crate::ledger::{CheckpointStatus, Ledger, LedgerError};
use crate::model::event::Event;
use crate::projection::Projections;
use crate::storage::journal::{JournalOptions, OpenMode};
use crate::sync::lock;
use crate::Durability;

/// Room in the active segment, beyond a batch's largest possible size, below which an append
/// runs where blocking is allowed: other tasks' appends may take room between the look and
/// this task's append.
const ROLL_MARGIN_BYTES: u64 = 256 << 10;

/// What to do when the disk fails or fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Appends fail loudly with the error; the trading code decides.
    Halt,
    /// Trading goes on: batches that could not be written are kept (up to `held_events_max`
    /// events, then counted as dropped), reported through [`Health`] and logs, and returned by
    /// [`JournalHandle::take_held`]. Rejected input (a rule violation) is still an error.
    Continue {
        /// The most events the backlog keeps; later failed batches are dropped and counted.
        held_events_max: usize,
    },
}

/// The outcome of an append that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Written, and durable as the journal's mode promises.
    Written {
        /// The sequence number of the batch's first event.
        first_seq: u64,
        /// The sequence number of the batch's last event.
        last_seq: u64,
    },
    /// Not written (the journal failed; `Continue` policy): kept in the backlog.
    Held {
        /// Events in the backlog now, this batch's included.
        held_events: usize,
    },
}

impl Receipt {
    /// The last sequence number, if the batch was written.
    pub fn last_seq(&self) -> Option<u64> {
        match self {
            Receipt::Written { last_seq, .. } => Some(*last_seq),
            Receipt::Held { .. } => None,
        }
    }
}

/// A snapshot of the handle's health and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Events written through this handle since it was made.
    pub events_appended: u64,
    /// Bytes those events take in the journal's segments (frames included).
    pub bytes_appended: u64,
    /// The journal's last sequence number.
    pub head_seq: u64,
    /// The last sequence number on stable storage.
    pub durable_seq: u64,
    /// Median duration of the journal's flushes so far, nanoseconds.
    pub flush_latency_p50_ns: u64,
    /// 99th percentile of the flush durations, nanoseconds.
    pub flush_latency_p99_ns: u64,
    /// The longest flush, nanoseconds.
    pub flush_latency_max_ns: u64,
    /// Flushes so far.
    pub flushes: u64,
    /// Appends waiting for durability right now.
    pub queue_depth: usize,
    /// Total time appends spent waiting for durability, nanoseconds.
    pub waited_ns_total: u64,
    /// The last append failure (the policy decides what happened to the batch).
    pub last_error: Option<Failure>,
    /// The writer refuses appends until the journal is reopened.
    pub poisoned: bool,
    /// Events kept in the backlog (Continue policy).
    pub held_events: usize,
    /// Events that did not fit in the backlog: lost, and counted here.
    pub dropped_events: u64,
    /// Checkpoints written since open, and why the last one failed if it did (the automatic
    /// ones run in the background; a failure leaves appends going and the next open replays
    /// more).
    pub checkpoints: CheckpointStatus,
}

struct Inner {
    ledger: Ledger,
    policy: FailurePolicy,
    events_appended: AtomicU64,
    bytes_appended: AtomicU64,
    waiting: AtomicUsize,
    waited_ns_total: AtomicU64,
    last_error: Mutex<Option<Failure>>,
    held: Mutex<VecDeque<Vec<Event>>>,
    held_events: AtomicUsize,
    dropped_events: AtomicU64,
}

/// A cloneable handle to a ledger for async code.
#[derive(Clone)]
pub struct JournalHandle {
    inner: Arc<Inner>,
}

impl JournalHandle {
    /// Opens the journal in `dir` as [`Ledger::open`] does (recovery, the newest usable
    /// checkpoint, replay of the rest; what it found is `handle.ledger().open_report()`). The
    /// open runs where blocking is allowed, so the runtime's other tasks are not held up by
    /// its disk reads.
    pub async fn open(
        dir: impl Into<PathBuf>,
        mode: OpenMode,
        policy: FailurePolicy,
    ) -> Result<JournalHandle, Error> {
        let dir = dir.into();
        let ledger = blocking(move || Ledger::open(&dir, &mode)).await?;
        Ok(JournalHandle::new(ledger, policy))
    }

    /// Creates a journal in `dir` as [`Ledger::create`] does, where blocking is allowed.
    pub async fn create(
        dir: impl Into<PathBuf>,
        options: JournalOptions,
        policy: FailurePolicy,
    ) -> Result<JournalHandle, Error> {
        let dir = dir.into();
        let ledger = blocking(move || Ledger::create(&dir, &options)).await?;
        Ok(JournalHandle::new(ledger, policy))
    }

    /// A handle on a ledger opened or created by the caller.
    pub fn new(ledger: Ledger, policy: FailurePolicy) -> JournalHandle {
        JournalHandle {
            inner: Arc::new(Inner {
                ledger,
                policy,
                events_appended: AtomicU64::new(0),
                bytes_appended: AtomicU64::new(0),
                waiting: AtomicUsize::new(0),
                waited_ns_total: AtomicU64::new(0),
                last_error: Mutex::new(None),
                held: Mutex::new(VecDeque::new()),
                held_events: AtomicUsize::new(0),
                dropped_events: AtomicU64::new(0),
            }),
        }
    }

    /// The ledger the handle appends to: for what the handle does not offer itself.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// Appends `events` as one atomic batch; resolves once the durability mode is satisfied.
    pub async fn append(&self, events: Vec<Event>) -> Result<Receipt, LedgerError> {
        if self.inner.ledger.journal().meta().durability != Durability::Sync {
            return self.try_append(events);
        }
        // The batch is kept until it is durable: a failed flush holds it (Continue policy).
        let written = match self.write(&events[..], |ledger, events| {
            ledger.append_unflushed(events)
        }) {
            Ok(appended) => appended,
            Err(error) => return self.failed(events, error),
        };
        self.count(written.last_seq - written.first_seq + 1, written.bytes);
        if let Err(error) = self.wait_durable(written.last_seq).await {
            return self.failed(events, LedgerError::Storage(error));
        }
        Ok(Receipt::Written {
            first_seq: written.first_seq,
            last_seq: written.last_seq,
        })
    }

    /// Checks, copies and applies the batch `events` on this task (`append` does). When the
    /// batch may not fit in the active segment, it may roll to a new one, which syncs and
    /// renames files: that runs where blocking is allowed, so the runtime's other tasks are
    /// not held up by disk I/O.
    fn write<E: Borrow<[Event]>, R>(&self, events: E, append: impl FnOnce(&Ledger, E) -> R) -> R {
        let ledger = &self.inner.ledger;
        let may_roll = ledger
            .journal()
            .shared()
            .may_roll(events.borrow(), ROLL_MARGIN_BYTES);
        if may_roll {
            block_on_disk(|| append(ledger, events))
        } else {
            append(ledger, events)
        }
    }

    /// Writes `events` without ever awaiting. In Sync mode the batch is not durable yet
    /// when this returns; [`JournalHandle::wait_durable`] waits for it.
    pub fn try_append(&self, events: Vec<Event>) -> Result<Receipt, LedgerError> {
        match self.write(events, |ledger, events| {
            ledger.append_unflushed_owned(events)
        }) {
            Ok(written) => {
                self.count(written.last_seq - written.first_seq + 1, written.bytes);
                Ok(Receipt::Written {
                    first_seq: written.first_seq,
                    last_seq: written.last_seq,
                })
            }
            Err((error, events)) => self.failed(events, error),
        }
    }

    fn count(&self, events: u64, bytes: u64) {
        self.inner
            .events_appended
            .fetch_add(events, Ordering::Relaxed);
        self.inner
            .bytes_appended
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Applies the failure policy to a batch that was not written (or not made durable).
    fn failed(&self, events: Vec<Event>, error: LedgerError) -> Result<Receipt, LedgerError> {
        if matches!(error, LedgerError::Rejected { .. }) {
            return Err(error);
        }
        tracing::error!(%error, events = events.len(), "journal append failed");
        *lock(&self.inner.last_error) = Some(error.failure());
        let FailurePolicy::Continue { held_events_max } = self.inner.policy else {
            return Err(error);
        };
        let mut held = lock(&self.inner.held);
        let held_now = self.inner.held_events.load(Ordering::Relaxed);
        if held_now + events.len() > held_events_max {
            self.inner
                .dropped_events
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            tracing::error!(
                events = events.len(),
                "journal backlog full: batch dropped and counted"
            );
        } else {
            self.inner
                .held_events
                .fetch_add(events.len(), Ordering::Relaxed);
            held.push_back(events);
        }
        Ok(Receipt::Held {
            held_events: self.inner.held_events.load(Ordering::Relaxed),
        })
    }

    /// Waits until `seq` is on stable storage: leads a flush if nobody is flushing, else
    /// awaits the leader's. If the flush fails, the live state is rewound to the last durable
    /// record ([`Ledger::rewind_unacknowledged`]): the batches after it are not written.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), Error> {
        let shared = Arc::clone(self.inner.ledger.journal().shared());
        let commit = shared.commit();
        let started = Instant::now();
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let result = loop {
            let committed = commit
                .commit_async(
                    || shared.durable_seq() >= seq,
                    || block_on_disk(|| shared.flush_all()),
                )
                .await;
            let result = shared.after_commit(committed, seq);
            if result.is_err() || shared.durable_seq() >= seq {
                break result;
            }
        };
        self.inner.waiting.fetch_sub(1, Ordering::Relaxed);
        self.inner
            .waited_ns_total
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if result.is_err() {
            // The batch is reported failed (or held): the live state must not show it.
            block_on_disk(|| self.inner.ledger.rewind_unacknowledged());
        }
        result
    }

    /// Runs `query` on the live projections (the writer waits only while it runs).
    pub fn query<R>(&self, query: impl FnOnce(&Projections) -> R) -> R {
        self.inner.ledger.query(query)
    }

    /// Counts, flush latencies, the backlog and the last failure, as of now.
    pub fn health(&self) -> Health {
        let journal = self.inner.ledger.journal();
        let (p50, p99, max, flushes) = journal.shared().flush_latency_ns();
        Health {
            events_appended: self.inner.events_appended.load(Ordering::Relaxed),
            bytes_appended: self.inner.bytes_appended.load(Ordering::Relaxed),
            head_seq: journal.head_seq(),
            durable_seq: journal.durable_seq(),
            flush_latency_p50_ns: p50,
            flush_latency_p99_ns: p99,
            flush_latency_max_ns: max,
            flushes,
            queue_depth: self.inner.waiting.load(Ordering::Relaxed),
            waited_ns_total: self.inner.waited_ns_total.load(Ordering::Relaxed),
            last_error: lock(&self.inner.last_error).clone(),
            poisoned: journal.poisoned().is_some(),
            held_events: self.inner.held_events.load(Ordering::Relaxed),
            dropped_events: self.inner.dropped_events.load(Ordering::Relaxed),
            checkpoints: self.inner.ledger.checkpoint_status(),
        }
    }

    /// Takes the backlog of batches that could not be written (Continue policy), oldest
    /// first, to write them elsewhere or into the reopened journal.
    pub fn take_held(&self) -> Vec<Vec<Event>> {
        let mut held = lock(&self.inner.held);
        self.inner.held_events.store(0, Ordering::Relaxed);
        held.drain(..).collect()
    }

    /// Flushes everything and writes a checkpoint, off the runtime's worker threads.
    pub async fn close(self) -> Result<(), Error> {
        let ledger = self.inner.ledger.clone();
        drop(self);
        tokio::task::spawn_blocking(move || ledger.close())
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }
}

/// Runs blocking disk work from async code without stalling the runtime: on a multi-thread
/// runtime the current worker hands its other tasks to a new worker and blocks itself (no
/// thread hop for this task); elsewhere it simply runs.
/// Runs `work` on tokio's blocking threads; a panic in it is resumed here.
async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("the runtime shut down while a journal was being opened: {error}"),
    }
}

fn block_on_disk<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
