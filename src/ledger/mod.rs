//! The ledger: a journal plus its live projections. Every batch is checked against the
//! current state (`docs/INTERCHANGE.md` §3) before it is appended, and applied to the
//! projections right after, under one lock, so the projections always equal a replay of the
//! journal.
//!
//! Opening loads the newest usable checkpoint and replays only the records after it.

#[doc(hidden)]
pub mod checkpoint;
pub mod handle;

pub use checkpoint::{CheckpointInfo, IgnoredCheckpoint};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::error::{Error, Failure};
use crate::model::event::{Event, Timestamp};
use crate::progress::{ignore, Progress, Tracker, RECORDS_PER_REPORT};
use crate::projection::{drop_elsewhere, CheckError, Projections, StateSnapshot, Violation};
use crate::storage::journal::{Journal, JournalOptions, OpenMode, RecoveryReport};
use crate::storage::reader::{JournalReader, Position, Records};
use crate::storage::writer::Appended;
use crate::sync::lock;
use checkpoint::MappedCheckpoint;

/// Rounds of catching up while appends go on before a state is swapped in ...
const CATCH_UP_ROUNDS: usize = 8;
/// ... or until it is at most this many records behind: the rest is replayed under the
/// append lock.
const CATCH_UP_UNDER_LOCK: u64 = 256;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Event `index` of the batch breaks a rule; nothing of the batch was appended.
    #[error("event {index} of the batch rejected: {violation}")]
    Rejected {
        /// The position of the refused event in the batch, from 0.
        index: usize,
        /// The rule it breaks and the field concerned.
        violation: Violation,
    },
    /// The journal failed (I/O, damage, a stopped writer): the batch may not be written.
    #[error(transparent)]
    Storage(#[from] Error),
}

impl LedgerError {
    /// The failure as a health report keeps it.
    pub fn failure(&self) -> Failure {
        match self {
            LedgerError::Storage(error) => Failure::from(error),
            rejected => Failure {
                message: rejected.to_string(),
                io_kind: None,
                corruption: false,
            },
        }
    }
}

/// What opening the ledger found and did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OpenReport {
    /// What recovery found at the journal's tail and did (a torn tail cut, links completed).
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
    /// After the record with this sequence number.
    Seq(u64),
    /// After the last record the journal received at or before this time (UTC).
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
    /// The ledger's background threads that hold a clone of it (automatic checkpoints,
    /// healing), so the journal stays open while they run: `close` and the last handle's
    /// drop join them ([`Ledger::spawn_background`]).
    background_threads: Arc<BackgroundThreads>,
    /// Serializes checkpoint writes: an automatic checkpoint and `checkpoint`/`close` at the
    /// same seq would otherwise share one temporary file, and one of the renames would fail.
    checkpoint_lock: Mutex<()>,
    checkpoints: Mutex<CheckpointStatus>,
    /// What opening found and did ([`Ledger::open_report`]).
    open_report: OpenReport,
    /// The checkpoint files the ledger's states read, each mapped once.
    mappings: checkpoint::Mappings,
}

/// The checkpoints written since the ledger was opened, for health reports: an automatic
/// checkpoint that fails (a full disk) is logged and reported here; appends go on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointStatus {
    /// Checkpoints written since the ledger was opened.
    pub written: u64,
    /// The newest written: its seq and size in bytes.
    pub last_seq: Option<u64>,
    /// The size of the newest written, in bytes (0 when none was).
    pub last_bytes: u64,
    /// Why the last attempt failed, if it did; cleared by the next one that succeeds.
    pub last_error: Option<Failure>,
    /// An automatic checkpoint is being written.
    pub running: bool,
    /// The head seq at which the next automatic checkpoint starts (None: disabled).
    pub next_automatic_at: Option<u64>,
}

/// A journal with live projections. Clone to share between threads.
///
/// When the last clone is dropped, the ledger shuts down as [`Ledger::close`] does, without
/// its error: its background threads are joined, the journal is flushed, a checkpoint is
/// written if records were appended since the last one, and the journal is released.
#[derive(Clone)]
pub struct Ledger {
    /// The users' share of the ledger; `None` in the clones its background threads work
    /// with. Declared first, so dropped before `inner`: the last user's drop joins the
    /// background threads while the ledger is still whole.
    _users: Option<Arc<Users>>,
    inner: Arc<Inner>,
}

impl Ledger {
    /// Creates a journal in `dir` (empty or missing) with an empty state.
    pub fn create(dir: &Path, options: &JournalOptions) -> Result<Ledger, Error> {
        let journal = Journal::create(dir, options)?;
        Ok(Ledger::from_parts(
            journal,
            Projections::new(),
            OpenReport::default(),
            checkpoint::Mappings::default(),
        ))
    }

    /// [`Ledger::create`] under a writer lock the caller holds ([`Journal::create_locked`]).
    #[doc(hidden)]
    pub fn create_locked(
        dir: &Path,
        options: &JournalOptions,
        lock: crate::storage::folder::WriterLock,
    ) -> Result<Ledger, Error> {
        let journal = Journal::create_locked(dir, options, lock)?;
        Ok(Ledger::from_parts(
            journal,
            Projections::new(),
            OpenReport::default(),
            checkpoint::Mappings::default(),
        ))
    }

    /// Opens a journal for writing: recovery, newest usable checkpoint, replay of the rest.
    /// What it found and did is [`Ledger::open_report`].
    ///
    /// ```
    /// use tradeledger::{Decimal, JournalOptions, Ledger, OpenMode, Timestamp, TradeOpened, TradeType};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let ledger = Ledger::create(dir.path(), &JournalOptions::default())?;
    /// let (volume, price) = ("0.10".parse::<Decimal>()?, "1.10460".parse::<Decimal>()?);
    /// let at = Timestamp::parse_rfc3339("2024-01-02T10:00:00Z")?;
    /// let trade = TradeOpened::new(1001, "EURUSD", TradeType::Buy, volume, price, at);
    /// ledger.append(&[trade.into()])?;
    /// drop(ledger); // as `close` does: flush, checkpoint, release the journal
    ///
    /// let ledger = Ledger::open(dir.path(), &OpenMode::default())?;
    /// let report = ledger.open_report();
    /// assert!(report.recovery.cut.is_none()); // nothing torn: it was shut down cleanly
    /// assert_eq!(report.checkpoint.as_ref().map(|c| c.seq), Some(1));
    /// assert_eq!(ledger.query(|state| state.max_ticket())?, 1001);
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(dir: &Path, mode: &OpenMode) -> Result<Ledger, Error> {
        Ledger::open_with_progress(dir, mode, &mut ignore)
    }

    /// [`Ledger::open`], telling `progress` how many of the records to replay after the
    /// checkpoint are applied ([`crate::progress`]).
    pub fn open_with_progress(
        dir: &Path,
        mode: &OpenMode,
        progress: Progress,
    ) -> Result<Ledger, Error> {
        let journal = Journal::open(dir, mode)?;
        let mut report = OpenReport {
            recovery: journal.recovery_report().clone(),
            ..OpenReport::default()
        };
        // A checkpoint beyond the head describes records that are gone (a cut, a salvage):
        // records appended from now on would take their seqs, and be read through it.
        let head = journal.head_seq();
        let removed = checkpoint::remove_beyond(journal.storage(), dir, head)?;
        report
            .ignored_checkpoints
            .extend(removed.into_iter().map(|(seq, path)| IgnoredCheckpoint {
                path,
                reason: format!("at seq {seq}, beyond the journal's head {head}: removed"),
            }));
        let mappings = checkpoint::Mappings::default();
        let head = journal.head_seq();
        let (state, mapped) = state_through(&journal, head, &mut report, progress, &mappings)?;
        report.checkpoint_log();
        let replayed_without_checkpoint = report
            .checkpoint
            .is_none()
            .then_some(report.replayed_records);
        let ledger = Ledger::from_parts(journal, state, report, mappings);
        ledger.check_in_background(mapped);
        let every = ledger.journal().meta().checkpoint_every_records;
        if every > 0 && replayed_without_checkpoint.is_some_and(|replayed| replayed >= every) {
            // Rebuilt without a checkpoint, the whole state is in memory. Written now, from
            // the live state, nothing waits for it; the first automatic checkpoint would
            // replay the whole journal again beside it. A failure leaves it to the automatic
            // checkpoints.
            if let Err(error) = ledger.checkpoint() {
                tracing::warn!(%error, "checkpoint after replay on open failed");
            }
        }
        Ok(ledger)
    }

    /// What opening found and did: the recovery, the checkpoint loaded, the records replayed
    /// (all empty for a ledger just created).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.open_report
    }

    fn from_parts(
        journal: Journal,
        state: Projections,
        open_report: OpenReport,
        mappings: checkpoint::Mappings,
    ) -> Ledger {
        let background_threads = Arc::<BackgroundThreads>::default();
        Ledger {
            _users: Some(Arc::new(Users {
                background_threads: Arc::clone(&background_threads),
            })),
            inner: Arc::new(Inner {
                journal,
                state: RwLock::new(state),
                append_lock: Mutex::new(()),
                records_since_checkpoint: AtomicU64::new(0),
                checkpoint_running: AtomicBool::new(false),
                background_threads,
                checkpoint_lock: Mutex::new(()),
                checkpoints: Mutex::new(CheckpointStatus::default()),
                open_report,
                mappings,
            }),
        }
    }

    /// The journal underneath: its head, durable seq, settings and reader.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// Checks `events` against the current state, appends them as one atomic batch, applies
    /// them. Returns once the durability mode is satisfied.
    pub fn append(&self, events: &[Event]) -> Result<Appended, LedgerError> {
        let appended = self.append_unflushed(events)?;
        if self.journal().meta().durability == crate::Durability::Sync {
            if let Err(error) = self.inner.journal.flush_through(appended.last_seq) {
                self.rewind_unacknowledged();
                return Err(error.into());
            }
        }
        Ok(appended)
    }

    /// After a failed flush in Sync mode: every batch after the last durable record was
    /// applied to the live state, but its append failed (or was held), so it was never
    /// acknowledged; after a failed flush its bytes may or may not reach the disk. The live
    /// state must not show such records: it is rebuilt as of the last durable record, from the
    /// newest checkpoint at or before it plus replay. The writer is poisoned, so nothing is
    /// appended after them. Returns how many records the state dropped. In Buffered and
    /// Periodic mode an append is acknowledged before any flush, and nothing is rewound.
    #[doc(hidden)]
    pub fn rewind_unacknowledged(&self) -> u64 {
        let inner = &*self.inner;
        if inner.journal.meta().durability != crate::Durability::Sync {
            return 0;
        }
        let _serial = lock(&inner.append_lock);
        let durable = inner.journal.durable_seq();
        let head = self.state().head_seq();
        if head <= durable {
            return 0;
        }
        match state_through(
            &inner.journal,
            durable,
            &mut OpenReport::default(),
            &mut ignore,
            &inner.mappings,
        ) {
            Ok((state, mapped)) => {
                *inner.state.write().unwrap_or_else(|p| p.into_inner()) = state;
                self.check_in_background(mapped);
                tracing::warn!(
                    durable,
                    dropped = head - durable,
                    "flush failed: the live state no longer shows the records after the last durable one"
                );
                head - durable
            }
            Err(error) => {
                // The state still shows them; health and the append's error say the
                // journal failed, and the next open rebuilds the state from the journal.
                tracing::error!(%error, durable, "could not rewind the live state after a failed flush");
                0
            }
        }
    }

    /// Check, append and apply, without waiting for durability (the async handle waits).
    #[doc(hidden)]
    pub fn append_unflushed(&self, events: &[Event]) -> Result<Appended, LedgerError> {
        self.append_batch(events).map_err(|(error, _)| error)
    }

    /// [`Ledger::append_unflushed`] of events the caller gives up: the projections keep their
    /// free text without copying it. On failure nothing was appended or applied, and the
    /// events come back with the error.
    pub(crate) fn append_unflushed_owned(
        &self,
        events: Vec<Event>,
    ) -> Result<Appended, (LedgerError, Vec<Event>)> {
        self.append_batch(events)
    }

    fn append_batch<B: Batch>(&self, batch: B) -> Result<Appended, (LedgerError, B)> {
        let inner = &*self.inner;
        let _serial = lock(&inner.append_lock);
        let events = batch.events();
        let checked = self.state().check_batch(events);
        if let Err((index, error)) = checked {
            let error = match error {
                CheckError::Violation(violation) => LedgerError::Rejected { index, violation },
                CheckError::Corrupt(damage) => LedgerError::Storage(Error::Corrupt(damage)),
            };
            return Err((error, batch));
        }
        let appended = match inner.journal.write(events) {
            Ok(appended) => appended,
            Err(error) => return Err((error.into(), batch)),
        };
        let count = events.len() as u64;
        {
            let mut state = inner.state.write().unwrap_or_else(|p| p.into_inner());
            // check_batch accepted the batch against this state just now, under the same
            // append lock, so the rules need not run again.
            batch.apply(&mut state, appended.first_seq, appended.recorded_at);
        }
        let since = inner
            .records_since_checkpoint
            .fetch_add(count, Ordering::Relaxed)
            + count;
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

    /// The checkpoints written since the ledger was opened, the last failure, and when the
    /// next automatic one is due.
    pub fn checkpoint_status(&self) -> CheckpointStatus {
        let mut status = lock(&self.inner.checkpoints).clone();
        status.running = self.inner.checkpoint_running.load(Ordering::Acquire);
        let every = self.inner.journal.meta().checkpoint_every_records;
        status.next_automatic_at = (every > 0).then(|| {
            let since = self.inner.records_since_checkpoint.load(Ordering::Relaxed);
            let counted_from = self.inner.journal.head_seq().saturating_sub(since);
            counted_from + every
        });
        status
    }

    /// Writes a checkpoint of the live state. Appends wait while its in-memory part is copied
    /// (12 ms for 100 000 records since the last checkpoint): for when none are expected
    /// (open, close, the `checkpoint` command). The automatic checkpoints are taken without
    /// that wait (`Ledger::checkpoint_beside`).
    pub fn checkpoint(&self) -> Result<CheckpointInfo, Error> {
        self.checkpoint_with_progress(&mut ignore)
    }

    /// [`Ledger::checkpoint`], telling `progress` how many of the state's records are written
    /// ([`checkpoint::write_snapshot_with_progress`]).
    pub fn checkpoint_with_progress(&self, progress: Progress) -> Result<CheckpointInfo, Error> {
        let snapshot = || self.state().snapshot().map_err(Error::Corrupt);
        self.write_checkpoint(snapshot, progress)
    }

    /// Writes a checkpoint of a state built beside the live one (the newest checkpoint, then
    /// the records after it replayed), so appends never wait for it.
    fn checkpoint_beside(&self) -> Result<CheckpointInfo, Error> {
        self.write_checkpoint(
            || {
                let journal = &self.inner.journal;
                let head = journal.head_seq();
                let mappings = &self.inner.mappings;
                let mut report = OpenReport::default();
                let (state, _mapped) =
                    state_through(journal, head, &mut report, &mut ignore, mappings)?;
                state.snapshot().map_err(Error::Corrupt)
            },
            &mut ignore,
        )
    }

    /// Counts a checkpoint written, or keeps why it failed ([`Ledger::checkpoint_status`]).
    fn record_checkpoint(
        &self,
        written: Result<CheckpointInfo, Error>,
    ) -> Result<CheckpointInfo, Error> {
        let mut status = lock(&self.inner.checkpoints);
        match &written {
            Ok(info) => {
                status.written += 1;
                status.last_seq = Some(info.seq);
                status.last_bytes = info.bytes;
                status.last_error = None;
            }
            Err(error) => status.last_error = Some(Failure::from(error)),
        }
        written
    }

    /// Writes the state `snapshot` takes, then switches the live state to read it.
    fn write_checkpoint(
        &self,
        snapshot: impl FnOnce() -> Result<StateSnapshot, Error>,
        progress: Progress,
    ) -> Result<CheckpointInfo, Error> {
        let _span = tracing::info_span!("checkpoint").entered();
        let inner = &*self.inner;
        let _writing = lock(&inner.checkpoint_lock);
        let journal = &inner.journal;
        let written = snapshot().and_then(|snapshot| {
            // The records a checkpoint describes are durable before it is: else a power
            // failure could keep the checkpoint and lose them, and the records appended later
            // under the same seqs would be read through its state.
            journal.flush_through(snapshot.seq())?;
            checkpoint::write_snapshot_with_progress(
                journal.storage(),
                journal.dir(),
                &journal.meta().journal_id,
                &snapshot,
                progress,
            )
        });
        let info = self.record_checkpoint(written)?;
        let since = journal.head_seq().saturating_sub(info.seq);
        inner
            .records_since_checkpoint
            .store(since, Ordering::Relaxed);
        tracing::info!(seq = info.seq, bytes = info.bytes, "checkpoint written");
        if let Err(reason) = self.switch_to(&info) {
            tracing::warn!(%reason, "the live state keeps its previous base");
        }
        Ok(info)
    }

    /// Replaces the live state by one that reads the checkpoint just written, so that memory
    /// holds only what came after it. The new state catches up by replaying the journal after
    /// the checkpoint, first while appends go on, then under the append lock; it replaces the
    /// live state only if it reached the same head.
    fn switch_to(&self, info: &CheckpointInfo) -> Result<(), String> {
        let journal_id = &self.inner.journal.meta().journal_id;
        let loaded = checkpoint::load(&info.path, journal_id, &self.inner.mappings)?;
        self.swap_in(loaded.state, loaded.mapped)
    }

    /// Replaces the live state by `state` (behind it, at most), reading the checkpoint
    /// `mapped`: `state` catches up by replaying the journal, first while appends go on, then
    /// under the append lock, and replaces the live state only if it reached the same head.
    fn swap_in(
        &self,
        mut state: Projections,
        mapped: Vec<Arc<MappedCheckpoint>>,
    ) -> Result<(), String> {
        let inner = &*self.inner;
        // Its last round runs under the append lock, where no release of pages may run.
        let reader = inner.journal.reader().holding_pages();
        // Each round goes on from where the last one stopped: finding a record by its seq
        // reads the segment from its start.
        let mut resume_at: Option<Position> = None;
        let mut catch_up = |state: &mut Projections| {
            let next = state.head_seq() + 1;
            let mut records = match resume_at {
                Some(position) if position.next_seq == next => reader.records_at(position),
                _ => reader.records(next),
            };
            apply_records(&mut records, state, None, &mut |_| {}).map_err(|e| e.to_string())?;
            resume_at = Some(records.position());
            Ok::<_, String>(())
        };
        // Close in on the head while appends go on, so that little is left to replay under
        // the append lock.
        for _ in 0..CATCH_UP_ROUNDS {
            catch_up(&mut state)?;
            let behind = inner.journal.head_seq().saturating_sub(state.head_seq());
            if behind <= CATCH_UP_UNDER_LOCK {
                break;
            }
        }
        let serial = lock(&inner.append_lock);
        catch_up(&mut state)?;
        let mut live = inner.state.write().unwrap_or_else(|p| p.into_inner());
        let position = |s: &Projections| (s.head_seq(), s.applied_events());
        if position(&state) != position(&live) || state.damage().is_some() {
            return Err(format!(
                "the reloaded state is at {:?}, the live one at {:?}",
                position(&state),
                position(&live)
            ));
        }
        let old = std::mem::replace(&mut *live, state);
        drop(live);
        drop(serial);
        // Freeing a whole state takes milliseconds: not here, where appends would wait.
        drop_elsewhere(old);
        self.check_in_background(mapped);
        Ok(())
    }

    /// Checks every block of the checkpoint the live state reads, on a background thread,
    /// while the state still reads it. Reads check their blocks themselves; this finds damage
    /// early, and heals it ([`Ledger::heal`]) rather than let queries fail until a restart.
    fn check_in_background(&self, mapped: Vec<Arc<MappedCheckpoint>>) {
        if mapped.is_empty() {
            return;
        }
        let ledger = Arc::downgrade(&self.inner);
        let background = Arc::clone(&self.inner.background_threads);
        let spawned = std::thread::Builder::new()
            .name("tradeledger-checkpoint-check".into())
            .spawn(move || {
                run_in_background_priority();
                // The top layer first: the newest, and the one no earlier check has read. A
                // layer's blocks already checked (by a read, or the check of an earlier stack
                // that held it) are not read again.
                let damaged = mapped.iter().rev().find_map(|layer| {
                    // The only other holders are the states reading the layer.
                    let in_use = || Arc::strong_count(layer) > 1;
                    let damage = layer.verify_all(in_use).err()?;
                    Some((damage, layer.info().path.clone()))
                });
                let Some((damage, path)) = damaged else {
                    return;
                };
                tracing::error!(%damage, "checkpoint damaged: queries that read the damaged block fail until the state is rebuilt without it");
                drop(mapped);
                // Healed on a thread of its own, which the last handle's drop waits for.
                let healing = background.spawn(ledger, "tradeledger-heal", move |ledger| {
                    if let Err(error) = ledger.heal(&path) {
                        tracing::error!(%error, "could not rebuild the state without the damaged checkpoint; reopen the ledger to rebuild it");
                    }
                });
                if let Err(error) = healing {
                    tracing::error!(%error, "no thread to rebuild the state without the damaged checkpoint; reopen the ledger to rebuild it");
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no background check of the checkpoint; blocks are checked when read");
        }
    }

    /// After damage in the checkpoint at `damaged`: sets the file aside (renamed to
    /// `….ckpt.damaged`, kept for inspection) and rebuilds the live state without it, from an
    /// older checkpoint or the start of the journal plus replay, while appends and queries go
    /// on; a checkpoint of the rebuilt state replaces the damaged one (whatever the automatic
    /// checkpoint setting: the damaged one was wanted). Queries that read a damaged block fail
    /// until the rebuilt state is swapped in.
    fn heal(&self, damaged: &Path) -> Result<(), String> {
        let _span = tracing::info_span!("heal", checkpoint = %damaged.display()).entered();
        let inner = &*self.inner;
        let _writing = lock(&inner.checkpoint_lock);
        let mut aside = damaged.as_os_str().to_owned();
        aside.push(checkpoint::SET_ASIDE_SUFFIX);
        let aside = PathBuf::from(aside);
        inner
            .journal
            .storage()
            .rename(damaged, &aside)
            .map_err(|e| format!("cannot set {} aside: {e}", damaged.display()))?;
        let mut report = OpenReport::default();
        let head = inner.journal.head_seq();
        let (state, mapped) = state_through(
            &inner.journal,
            head,
            &mut report,
            &mut ignore,
            &inner.mappings,
        )
        .map_err(|e| e.to_string())?;
        // The replacement is written from the rebuilt state before anyone reads it, so no
        // lock is held; if it cannot be written, the rebuilt state is used as it is.
        let journal_id = &inner.journal.meta().journal_id;
        // Durable first, as in `write_checkpoint`.
        inner
            .journal
            .flush_through(head)
            .map_err(|e| e.to_string())?;
        let written = checkpoint::write(
            inner.journal.storage(),
            inner.journal.dir(),
            journal_id,
            &state,
        );
        let swapped = match self.record_checkpoint(written) {
            Ok(info) => {
                inner.records_since_checkpoint.store(0, Ordering::Relaxed);
                drop((state, mapped));
                self.switch_to(&info)
            }
            Err(error) => {
                tracing::warn!(%error, "no checkpoint of the rebuilt state");
                self.swap_in(state, mapped)
            }
        };
        swapped.map_err(|reason| format!("the rebuilt state was not swapped in: {reason}"))?;
        tracing::warn!(
            from_checkpoint = ?report.checkpoint.map(|c| c.seq),
            replayed = report.replayed_records,
            "state rebuilt without the damaged checkpoint"
        );
        Ok(())
    }

    fn checkpoint_in_background(&self) {
        if self.inner.checkpoint_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let spawned = self.spawn_background("tradeledger-checkpoint", |ledger| {
            if let Err(error) = ledger.checkpoint_beside() {
                tracing::error!(%error, "automatic checkpoint failed");
                // Tried again after another interval, not at every append.
                (ledger.inner.records_since_checkpoint).store(0, Ordering::Relaxed);
            }
            (ledger.inner.checkpoint_running).store(false, Ordering::Release);
        });
        if spawned.is_err() {
            (self.inner.checkpoint_running).store(false, Ordering::Release);
        }
    }

    /// Runs `work` on a thread of its own ([`BackgroundThreads::spawn`]).
    fn spawn_background(
        &self,
        name: &str,
        work: impl FnOnce(Ledger) + Send + 'static,
    ) -> std::io::Result<()> {
        let ledger = Arc::downgrade(&self.inner);
        self.inner.background_threads.spawn(ledger, name, work)
    }

    /// Joins the ledger's background threads.
    fn wait_for_background(&self) {
        self.inner.background_threads.join_all();
    }

    /// Flushes and writes a checkpoint. Other clones of this ledger keep working until dropped.
    pub fn close(self) -> Result<(), Error> {
        self.close_with_progress(&mut ignore)
    }

    /// [`Ledger::close`], telling `progress` how many of the state's records the checkpoint
    /// has written ([`Ledger::checkpoint_with_progress`]).
    pub fn close_with_progress(self, progress: Progress) -> Result<(), Error> {
        self.inner.journal.flush()?;
        // The background threads hold the ledger: once they are done, this handle's drop
        // releases the journal (if no other clone is left) before `close` returns.
        self.wait_for_background();
        self.checkpoint_with_progress(progress)?;
        Ok(())
    }
}

/// The niceness of the ledger's background threads (automatic checkpoints, the check of a
/// loaded checkpoint's blocks, healing).
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`BACKGROUND_NICE`]: a checkpoint replays, encodes
/// and checksums hundreds of MB, and on a machine with few cores it competed for the CPU with
/// the threads that append and flush. Sync appends, 8 producers at 10 000 events/s, while
/// 230 MB checkpoints were written, seven alternating pairs of runs: median p99 1.9 →
/// 1.5 ms; p99.9 and max within the noise (`docs/BENCHMARKS.md` §7, item 22).
/// A process already running at a lower priority keeps it.
fn run_in_background_priority() {
    let this_thread = Some(rustix::thread::gettid());
    let lowered = rustix::process::getpriority_process(this_thread).and_then(|nice| {
        let nice = nice.max(BACKGROUND_NICE);
        rustix::process::setpriority_process(this_thread, nice)
    });
    if let Err(error) = lowered {
        tracing::debug!(%error, "the background thread keeps its priority");
    }
}

/// The ledger's background threads that work with it (automatic checkpoints, healing).
#[derive(Default)]
struct BackgroundThreads {
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl BackgroundThreads {
    /// Joins every background thread, those started meanwhile (a healing started by a
    /// check) included.
    fn join_all(&self) {
        loop {
            let threads = std::mem::take(&mut *lock(&self.threads));
            if threads.is_empty() {
                return;
            }
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("a background thread of the ledger panicked");
                }
            }
        }
    }

    /// Runs `work` on a thread of its own, at background priority, with the ledger if it
    /// still exists (a clone without the users' share, so its drop never joins threads). The
    /// thread takes its reference to the ledger itself, once registered: a failed spawn drops
    /// no ledger under the lock.
    fn spawn(
        &self,
        ledger: std::sync::Weak<Inner>,
        name: &str,
        work: impl FnOnce(Ledger) + Send + 'static,
    ) -> std::io::Result<()> {
        let mut threads = lock(&self.threads);
        threads.retain(|thread| !thread.is_finished());
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                run_in_background_priority();
                if let Some(inner) = ledger.upgrade() {
                    work(Ledger {
                        _users: None,
                        inner,
                    });
                }
            })?;
        threads.push(thread);
        Ok(())
    }
}

/// The share of the ledger its users hold: every clone but the background threads' ones.
struct Users {
    background_threads: Arc<BackgroundThreads>,
}

/// The last user's clone is gone: the background threads are joined, so that the ledger's
/// own drop (`Inner`'s: flush, last checkpoint, release of the journal) happens before the
/// user's drop returns. Background threads never join each other.
impl Drop for Users {
    fn drop(&mut self) {
        self.background_threads.join_all();
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
            checkpoint::write(
                self.journal.storage(),
                self.journal.dir(),
                &self.journal.meta().journal_id,
                state,
            )
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

/// The state to replay onto: a loaded checkpoint (state, seq, mapping), or an empty state.
type Start = (Projections, u64, Vec<Arc<MappedCheckpoint>>);

/// Loads the newest usable checkpoint at or below `max_seq`.
fn load_from_checkpoint(
    dir: &Path,
    journal_id: &[u8; 16],
    max_seq: u64,
    report: &mut OpenReport,
    mappings: &checkpoint::Mappings,
) -> Result<Start, Error> {
    let (loaded, ignored) = checkpoint::load_newest(dir, journal_id, max_seq, mappings)?;
    report.ignored_checkpoints.extend(ignored);
    Ok(match loaded {
        Some(loaded) => {
            let seq = loaded.info.seq;
            report.checkpoint = Some(loaded.info);
            (loaded.state, seq, loaded.mapped)
        }
        None => (Projections::new(), 0, Vec::new()),
    })
}

/// The state of the writer's `journal` after record `seq`: the newest usable checkpoint at or
/// before it, plus replay (told to `progress`, in records); and the checkpoint the state reads,
/// to be checked in the background ([`Ledger::check_in_background`]).
fn state_through(
    journal: &Journal,
    seq: u64,
    report: &mut OpenReport,
    progress: Progress,
    mappings: &checkpoint::Mappings,
) -> Result<(Projections, Vec<Arc<MappedCheckpoint>>), Error> {
    let journal_id = journal.meta().journal_id;
    let loaded = load_from_checkpoint(journal.dir(), &journal_id, seq, report, mappings)?;
    let until = Some(AsOf::Seq(seq));
    let head = journal.head_seq();
    replay_after(&journal.reader(), loaded, until, head, report, progress)
}

/// Replays the records after the start state (up to `until`; the journal's head is `head`).
/// If the replay met a damaged block of the checkpoint, the checkpoint is reported as ignored
/// and the whole journal is replayed instead: a damaged checkpoint costs time, never a wrong
/// state (`progress` then starts over, from 0 of the whole journal).
fn replay_after(
    reader: &JournalReader,
    (mut state, seq, mapped): Start,
    until: Option<AsOf>,
    head: u64,
    report: &mut OpenReport,
    progress: Progress,
) -> Result<(Projections, Vec<Arc<MappedCheckpoint>>), Error> {
    report.replayed_records = replay_up_to(reader, &mut state, seq + 1, until, head, progress)?;
    let Some(damage) = state.damage() else {
        return Ok((state, mapped));
    };
    let reason = format!("damaged, rebuilt by replay: {damage}");
    if let Some(info) = report.checkpoint.take() {
        let path = info.path;
        report
            .ignored_checkpoints
            .push(IgnoredCheckpoint { path, reason });
    }
    let mut state = Projections::new();
    report.replayed_records = replay_up_to(reader, &mut state, 1, until, head, progress)?;
    Ok((state, Vec::new()))
}

/// Applies the records from `from_seq` on to `state`, stopping at `until`. Returns how many
/// records were applied.
#[doc(hidden)]
pub fn replay(
    reader: &JournalReader,
    state: &mut Projections,
    from_seq: u64,
    until: Option<AsOf>,
) -> Result<u64, Error> {
    apply_records(&mut reader.records(from_seq), state, until, &mut |_| {})
}

/// [`replay`], telling `progress` how many of the records to replay (from `from_seq` to
/// `until` or the head) are applied, every [`RECORDS_PER_REPORT`] records and at the end.
#[doc(hidden)]
pub fn replay_with_progress(
    reader: &JournalReader,
    state: &mut Projections,
    from_seq: u64,
    until: Option<AsOf>,
    progress: Progress,
) -> Result<u64, Error> {
    let head = reader.head_seq()?;
    replay_up_to(reader, state, from_seq, until, head, progress)
}

/// [`replay_with_progress`] of a journal whose head is `head`.
fn replay_up_to(
    reader: &JournalReader,
    state: &mut Projections,
    from_seq: u64,
    until: Option<AsOf>,
    head: u64,
    progress: Progress,
) -> Result<u64, Error> {
    let last = match until {
        Some(AsOf::Seq(seq)) => seq.min(head),
        _ => head,
    };
    let mut tracker = Tracker::new(progress, (last + 1).saturating_sub(from_seq));
    let mut records = reader.records(from_seq);
    let applied = apply_records(&mut records, state, until, &mut |n| tracker.set(n))?;
    tracker.finish();
    Ok(applied)
}

/// Applies `records` to `state` until they end or pass `until`. Returns how many were applied;
/// `applied_so_far` is told how many every [`RECORDS_PER_REPORT`] records.
fn apply_records(
    records: &mut Records,
    state: &mut Projections,
    until: Option<AsOf>,
    applied_so_far: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let mut applied = 0u64;
    for record in records {
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
        if applied.is_multiple_of(RECORDS_PER_REPORT) {
            applied_so_far(applied);
        }
    }
    Ok(applied)
}

/// The projections of a journal, read-only (no lock, nothing written): from the newest
/// usable checkpoint plus replay, or, with `as_of`, the state at that point of history.
pub fn load_read_only(dir: &Path, as_of: Option<AsOf>) -> Result<(Projections, OpenReport), Error> {
    load_read_only_with_progress(dir, as_of, &mut crate::progress::ignore)
}

/// [`load_read_only`], telling `progress` how many of the records to replay after the
/// checkpoint are applied ([`crate::progress`]).
pub fn load_read_only_with_progress(
    dir: &Path,
    as_of: Option<AsOf>,
    progress: Progress,
) -> Result<(Projections, OpenReport), Error> {
    let reader = JournalReader::open(dir)?;
    let mut report = OpenReport::default();
    let head = reader.head_seq()?;
    let journal_id = reader.meta().journal_id;
    let mappings = checkpoint::Mappings::default();
    let mut from_checkpoint =
        |seq: u64| load_from_checkpoint(dir, &journal_id, seq, &mut report, &mappings);
    let start = match as_of {
        // Recorded-at times need not grow with seq (clocks step back), so a checkpoint
        // cannot be trusted to lie before a time: replay from the start.
        Some(AsOf::Time(_)) => (Projections::new(), 0, Vec::new()),
        Some(AsOf::Seq(seq)) => from_checkpoint(seq.min(head))?,
        None => from_checkpoint(head)?,
    };
    let (state, _) = replay_after(&reader, start, as_of, head, &mut report, progress)?;
    Ok((state, report))
}

/// The book as of trading time `time`: the events whose own time ([`Event::time`]) is at or
/// before it, applied in journal order, by a replay from the start (a checkpoint holds events
/// of every time). A `signal_executed` carries no time: it is applied when the signal and
/// the trade it links are in the book, and left out otherwise, like the events after `time`.
/// Returns the state and how many records were left out.
pub fn load_at_event_time(dir: &Path, time: Timestamp) -> Result<(Projections, u64), Error> {
    load_at_event_time_with_progress(dir, time, &mut crate::progress::ignore)
}

/// [`load_at_event_time`], telling `progress` how many of the journal's records were read
/// ([`crate::progress`]).
pub fn load_at_event_time_with_progress(
    dir: &Path,
    time: Timestamp,
    progress: Progress,
) -> Result<(Projections, u64), Error> {
    let reader = JournalReader::open(dir)?;
    let mut tracker = crate::progress::Tracker::new(progress, reader.head_seq()?);
    let mut state = Projections::new();
    let mut left_out = 0;
    for record in reader.records(1) {
        let record = record?;
        if record.seq % crate::progress::RECORDS_PER_REPORT == 0 {
            tracker.set(record.seq);
        }
        let in_book = record.event.time() <= time
            && (!matches!(record.event, Event::SignalExecuted(_))
                || state.check(&record.event).is_ok());
        if in_book {
            state.apply(record.seq, record.recorded_at, &record.event);
        } else {
            left_out += 1;
        }
    }
    tracker.finish();
    Ok((state, left_out))
}

/// A batch to append: borrowed (its events are copied into the projections where needed) or
/// owned (they are moved).
trait Batch {
    fn events(&self) -> &[Event];
    fn apply(self, state: &mut Projections, first_seq: u64, recorded_at: Timestamp);
}

impl Batch for &[Event] {
    fn events(&self) -> &[Event] {
        self
    }

    fn apply(self, state: &mut Projections, first_seq: u64, recorded_at: Timestamp) {
        for (seq, event) in (first_seq..).zip(self) {
            state.apply_checked(seq, recorded_at, event);
        }
    }
}

impl Batch for Vec<Event> {
    fn events(&self) -> &[Event] {
        self
    }

    fn apply(self, state: &mut Projections, first_seq: u64, recorded_at: Timestamp) {
        for (seq, event) in (first_seq..).zip(self) {
            state.apply_checked_owned(seq, recorded_at, event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::tools::sample;

    /// The ledger's background threads run at a lower priority than the threads that append
    /// (or at the process's own, if that is lower still: raising it needs privileges).
    #[test]
    fn background_threads_run_at_a_lower_priority() {
        let nice_here = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = nice_here().unwrap();
        let background = std::thread::spawn(move || {
            run_in_background_priority();
            nice_here().unwrap()
        });
        assert_eq!(background.join().unwrap(), before.max(BACKGROUND_NICE));
        assert_eq!(
            nice_here().unwrap(),
            before,
            "only the background thread changed"
        );
    }

    /// An automatic checkpoint does not need the live state: while an append holds it (here,
    /// its write lock held by the test), the checkpoint is still written, from a state built
    /// beside it; only the switch to the new file waits.
    #[test]
    fn an_automatic_checkpoint_is_written_while_the_live_state_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let ledger = Ledger::create(dir.path(), &options).unwrap();
        for n in 1..=40u64 {
            let at = Timestamp::from_nanos(n as i64 * 1_000_000_000);
            let trade = [sample::signal(n, at), sample::trade_opened(n, at)];
            ledger.append(&trade).unwrap();
        }
        let journal_id = ledger.journal().meta().journal_id;
        let live = ledger.inner.state.write().unwrap();
        let beside = ledger.clone();
        let writer = std::thread::spawn(move || beside.checkpoint_beside());
        let waiting_since = Instant::now();
        let written = || {
            let found = checkpoint::describe(dir.path(), &journal_id).unwrap();
            found.iter().any(|c| c.as_ref().is_ok_and(|c| c.seq == 80))
        };
        while !written() {
            assert!(
                waiting_since.elapsed() < Duration::from_secs(60),
                "the checkpoint waited for the live state"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(live);
        let info = writer.join().unwrap().unwrap();
        assert_eq!(info.seq, 80);
        assert_eq!(ledger.state().head_seq(), 80);
    }
}
