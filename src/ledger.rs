//! The ledger: a journal plus its live projections. Every batch is checked against the
//! current state (`docs/INTERCHANGE.md` §3) before it is appended, and applied to the
//! projections right after, under one lock, so the projections always equal a replay of the
//! journal.
//!
//! Opening loads the newest usable checkpoint and replays only the records after it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::checkpoint::{self, CheckpointInfo, IgnoredCheckpoint};
use crate::error::Error;
use crate::event::{Event, Timestamp};
use crate::journal::{Journal, JournalOptions, OpenMode, RecoveryReport};
use crate::projection::{Projections, Violation};
use crate::reader::JournalReader;
use crate::writer::Appended;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Event `index` of the batch breaks a rule; nothing of the batch was appended.
    #[error("event {index} of the batch rejected: {violation}")]
    Rejected { index: usize, violation: Violation },
    #[error(transparent)]
    Storage(#[from] Error),
}

/// What opening the ledger found and did.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    pub recovery: RecoveryReport,
    /// The checkpoint the state was loaded from.
    pub checkpoint: Option<CheckpointInfo>,
    /// Checkpoints passed over (damaged, other projection version, ahead of the journal).
    pub ignored_checkpoints: Vec<IgnoredCheckpoint>,
    /// Records replayed after the checkpoint.
    pub replayed_records: u64,
}

/// A point of the journal's history: after a sequence number, or after the last record
/// appended at or before a time (the longest prefix of records with `recorded_at ≤ time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    Seq(u64),
    Time(Timestamp),
}

struct Inner {
    journal: Journal,
    state: RwLock<Projections>,
    /// Serializes check + append + apply, so each batch is checked against the state it
    /// will be applied to.
    append_lock: Mutex<()>,
    records_since_checkpoint: AtomicU64,
    checkpoint_running: AtomicBool,
    /// Serializes checkpoint writes: an automatic checkpoint and `checkpoint`/`close` at the
    /// same seq would otherwise share one temporary file, and one of the renames would fail.
    checkpoint_lock: Mutex<()>,
}

/// A journal with live projections. Clone to share between threads.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl Ledger {
    pub fn create(dir: &Path, options: &JournalOptions) -> Result<Ledger, Error> {
        let journal = Journal::create(dir, options)?;
        Ok(Ledger::from_parts(journal, Projections::new()))
    }

    /// Opens a journal for writing: recovery, newest usable checkpoint, replay of the rest.
    pub fn open(dir: &Path, mode: &OpenMode) -> Result<(Ledger, OpenReport), Error> {
        let journal = Journal::open(dir, mode)?;
        let mut report = OpenReport {
            recovery: journal.recovery_report().clone(),
            ..OpenReport::default()
        };
        let reader = journal.reader();
        let (state, loaded) = load_from_checkpoint(
            dir,
            &journal.meta().journal_id,
            journal.head_seq(),
            &mut report,
        )?;
        let mut state = state;
        report.replayed_records = replay(&reader, &mut state, loaded + 1, None)?;
        report.checkpoint_log();
        Ok((Ledger::from_parts(journal, state), report))
    }

    fn from_parts(journal: Journal, state: Projections) -> Ledger {
        Ledger {
            inner: Arc::new(Inner {
                journal,
                state: RwLock::new(state),
                append_lock: Mutex::new(()),
                records_since_checkpoint: AtomicU64::new(0),
                checkpoint_running: AtomicBool::new(false),
                checkpoint_lock: Mutex::new(()),
            }),
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// Checks `events` against the current state, appends them as one atomic batch, applies
    /// them. Returns once the durability mode is satisfied.
    pub fn append(&self, events: &[Event]) -> Result<Appended, LedgerError> {
        let appended = self.append_unflushed(events)?;
        if self.journal().meta().durability == crate::Durability::Sync {
            self.inner.journal.flush_through(appended.last_seq)?;
        }
        Ok(appended)
    }

    /// Check, append and apply, without waiting for durability (the async handle waits).
    pub fn append_unflushed(&self, events: &[Event]) -> Result<Appended, LedgerError> {
        let inner = &*self.inner;
        let _serial = inner.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.state()
            .check_batch(events)
            .map_err(|(index, violation)| LedgerError::Rejected { index, violation })?;
        let appended = inner.journal.write(events)?;
        {
            let mut state = inner.state.write().unwrap_or_else(|p| p.into_inner());
            for (i, event) in events.iter().enumerate() {
                // check_batch accepted the batch against this state just now, under the same
                // append lock, so the rules need not run again.
                state.apply_checked(appended.first_seq + i as u64, appended.recorded_at, event);
            }
        }
        let since = inner
            .records_since_checkpoint
            .fetch_add(events.len() as u64, Ordering::Relaxed)
            + events.len() as u64;
        let every = inner.journal.meta().checkpoint_every_records;
        if every > 0 && since >= every {
            self.checkpoint_in_background();
        }
        Ok(appended)
    }

    /// Read access to the live projections. Appends wait while the guard is held: keep it
    /// short.
    pub fn state(&self) -> RwLockReadGuard<'_, Projections> {
        self.inner.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `query` on the live projections.
    pub fn query<R>(&self, query: impl FnOnce(&Projections) -> R) -> R {
        query(&self.state())
    }

    /// Writes a checkpoint of the current state.
    pub fn checkpoint(&self) -> Result<CheckpointInfo, Error> {
        let _span = tracing::info_span!("checkpoint").entered();
        let inner = &*self.inner;
        let _writing = inner
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Only the encoding needs the state: appends wait for the read guard to go, so the
        // file work (write, sync, rename, folder sync) is done after it is dropped.
        let (seq, payload) = {
            let state = self.state();
            (state.head_seq(), state.encode_state())
        };
        let info = checkpoint::write_encoded(
            inner.journal.dir(),
            &inner.journal.meta().journal_id,
            seq,
            &payload,
        )?;
        inner.records_since_checkpoint.store(0, Ordering::Relaxed);
        tracing::info!(seq = info.seq, bytes = info.bytes, "checkpoint written");
        Ok(info)
    }

    fn checkpoint_in_background(&self) {
        if self.inner.checkpoint_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let ledger = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tradeledger-checkpoint".into())
            .spawn(move || {
                if let Err(error) = ledger.checkpoint() {
                    tracing::error!(%error, "automatic checkpoint failed");
                }
                ledger
                    .inner
                    .checkpoint_running
                    .store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.inner
                .checkpoint_running
                .store(false, Ordering::Release);
        }
    }

    /// Flushes and writes a checkpoint. Other clones of this ledger keep working until dropped.
    pub fn close(self) -> Result<(), Error> {
        self.inner.journal.flush()?;
        self.checkpoint()?;
        Ok(())
    }
}

/// The last handle writes a checkpoint when records were appended since the last one.
impl Drop for Inner {
    fn drop(&mut self) {
        let pending = *self.records_since_checkpoint.get_mut();
        if pending == 0 || self.journal.poisoned().is_some() {
            return;
        }
        let result = self.journal.flush().and_then(|()| {
            let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
            checkpoint::write(self.journal.dir(), &self.journal.meta().journal_id, state)
        });
        if let Err(error) = result {
            tracing::error!(%error, "checkpoint on close failed");
        }
    }
}

impl OpenReport {
    fn checkpoint_log(&self) {
        for ignored in &self.ignored_checkpoints {
            tracing::warn!(path = %ignored.path.display(), reason = %ignored.reason, "checkpoint ignored");
        }
        if let Some(cut) = &self.recovery.cut {
            tracing::warn!(%cut, "recovery");
        }
    }
}

/// Loads the newest usable checkpoint at or below `max_seq`; returns the state and its seq.
fn load_from_checkpoint(
    dir: &Path,
    journal_id: &[u8; 16],
    max_seq: u64,
    report: &mut OpenReport,
) -> Result<(Projections, u64), Error> {
    let (loaded, ignored) = checkpoint::load_newest(dir, journal_id, max_seq)?;
    report.ignored_checkpoints = ignored;
    Ok(match loaded {
        Some((info, state)) => {
            let seq = info.seq;
            report.checkpoint = Some(info);
            (state, seq)
        }
        None => (Projections::new(), 0),
    })
}

/// Applies the records from `from_seq` on to `state`, stopping at `until`. Returns how many
/// records were applied.
pub fn replay(
    reader: &JournalReader,
    state: &mut Projections,
    from_seq: u64,
    until: Option<AsOf>,
) -> Result<u64, Error> {
    let mut applied = 0;
    for record in reader.records(from_seq) {
        let record = record?;
        let past = match until {
            Some(AsOf::Seq(seq)) => record.seq > seq,
            Some(AsOf::Time(time)) => record.recorded_at > time,
            None => false,
        };
        if past {
            break;
        }
        state.apply(record.seq, record.recorded_at, &record.event);
        applied += 1;
    }
    Ok(applied)
}

/// The projections of a journal, read-only (no lock, nothing written): from the newest
/// usable checkpoint plus replay, or, with `as_of`, the state at that point of history.
pub fn load_read_only(dir: &Path, as_of: Option<AsOf>) -> Result<(Projections, OpenReport), Error> {
    let reader = JournalReader::open(dir)?;
    let mut report = OpenReport::default();
    let head = reader.head_seq()?;
    let (mut state, loaded) = match as_of {
        // Recorded-at times need not grow with seq (clocks step back), so a checkpoint
        // cannot be trusted to lie before a time: replay from the start.
        Some(AsOf::Time(_)) => (Projections::new(), 0),
        Some(AsOf::Seq(seq)) => {
            load_from_checkpoint(dir, &reader.meta().journal_id, seq.min(head), &mut report)?
        }
        None => load_from_checkpoint(dir, &reader.meta().journal_id, head, &mut report)?,
    };
    report.replayed_records = replay(&reader, &mut state, loaded + 1, as_of)?;
    Ok((state, report))
}
