//! Creating and opening a journal folder; recovery on open; the writer handle.
//!
//! A journal folder holds (`docs/FORMAT.md` §1):
//! - `journal.meta`: the journal's settings and identity;
//! - `LOCK`: locked by the one writer process;
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segments, named by their first sequence number;
//! - `torn/`: bytes cut off by recovery, kept for inspection, never read again.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{io_error, Error};
use crate::model::event::Event;
use crate::storage::folder::{
    create_files, prepare_empty_dir, read_meta, remove_creation_leftovers, remove_prepared_files,
    write_meta, WriterLock,
};
pub use crate::storage::format::JournalMeta;
use crate::storage::format::{Durability, FORMAT_VERSION};
use crate::storage::fs::Storage;
pub use crate::storage::layout::CutReport;
use crate::storage::layout::Layout;
use crate::storage::limits::{
    SEGMENT_SIZE_DEFAULT_BYTES, SEGMENT_SIZE_MAX_BYTES, SEGMENT_SIZE_MIN_BYTES,
};
use crate::storage::recovery::{self, TailDecision};
pub use crate::storage::writer::Appended;
#[doc(hidden)]
pub use crate::storage::writer::Clock;
use crate::storage::writer::Shared;
use crate::sync::lock;

/// Settings of a new journal, stored in `journal.meta`.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// Default `Buffered`.
    pub durability: Durability,
    /// Default 32 MiB; between 64 KiB and 1 GiB, a multiple of 4096.
    pub segment_size_bytes: u64,
    /// Automatic checkpoint after this many records; 0 disables. Default 100,000.
    pub checkpoint_every_records: u64,
    /// Flag bits of `journal.meta` (e.g. [`crate::storage::format::META_FLAG_DEMO`]).
    #[doc(hidden)]
    pub flags: u32,
    /// Fixed identity, for byte-exact fixtures. Default: random.
    #[doc(hidden)]
    pub journal_id: Option<[u8; 16]>,
    /// Where the recorded-at times come from. Default: the system clock.
    #[doc(hidden)]
    pub clock: Clock,
    /// Where the journal's durable I/O goes. Default: the real file system.
    #[doc(hidden)]
    pub storage: Storage,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            durability: Durability::Buffered,
            segment_size_bytes: SEGMENT_SIZE_DEFAULT_BYTES,
            checkpoint_every_records: 100_000,
            flags: 0,
            journal_id: None,
            clock: Clock::System,
            storage: Storage::default(),
        }
    }
}

/// How to open an existing journal.
#[derive(Clone, Debug, Default)]
pub struct OpenMode {
    /// Cut the journal at the first damage instead of refusing to open (`docs/RECOVERY.md`,
    /// "Salvage"). What is cut is kept in `torn/`.
    pub salvage: bool,
    /// Where the recorded-at times come from. Default: the system clock.
    #[doc(hidden)]
    pub clock: Clock,
    /// Where the journal's durable I/O goes. Default: the real file system.
    #[doc(hidden)]
    pub storage: Storage,
}

/// What recovery did when the journal was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The torn tail that was cut, if any.
    pub cut: Option<CutReport>,
    /// Chain links that were pending (writer stopped before sealing finished) and were written.
    pub links_completed: usize,
}

/// The writer of a journal (share it behind an `Arc`). Dropping it does what
/// [`Journal::close`] does, logging the error `close` would return: flush, write the
/// watermark, stop the background thread, release the writer lock.
pub struct Journal {
    shared: Arc<Shared>,
    background: Mutex<Option<JoinHandle<()>>>,
    /// Set by the first shutdown (`close`), so that the drop after it does not flush and
    /// write the watermark again.
    shut_down: std::sync::atomic::AtomicBool,
    _lock: WriterLock,
    recovery: RecoveryReport,
}

impl Journal {
    /// Creates a journal in `dir` (created if missing; must be empty otherwise) and opens it.
    ///
    /// `journal.meta` is written last: until it exists the folder is no journal, so a crash
    /// or a failure (a full disk) during creation leaves no half-made journal. What such an
    /// interrupted creation left (an empty first segment, a prepared file, the lock file) is
    /// removed by the next creation; a failed creation removes it itself.
    pub fn create(dir: &Path, options: &JournalOptions) -> Result<Journal, Error> {
        validate_segment_size(options.segment_size_bytes)?;
        prepare_empty_dir(&options.storage, dir)?;
        Journal::create_locked(dir, options, WriterLock::acquire(dir)?)
    }

    /// [`Journal::create`] under the writer lock of `dir`, which the caller took (and may
    /// have held while it emptied the folder: `demo` replaces a journal without a moment in
    /// which another process could take the folder). The folder is checked again under the
    /// lock: a journal another process created meanwhile is never overwritten.
    #[doc(hidden)]
    pub fn create_locked(
        dir: &Path,
        options: &JournalOptions,
        lock: WriterLock,
    ) -> Result<Journal, Error> {
        validate_segment_size(options.segment_size_bytes)?;
        let storage = &options.storage;
        prepare_empty_dir(storage, dir)?;
        remove_creation_leftovers(storage, dir)?;
        let meta = JournalMeta {
            format_version: FORMAT_VERSION,
            durability: options.durability,
            segment_size_bytes: options.segment_size_bytes,
            journal_id: match options.journal_id {
                Some(id) => id,
                None => random_id()?,
            },
            created_at: options.clock.now(),
            checkpoint_every_records: options.checkpoint_every_records,
            flags: options.flags,
        };
        if let Err(error) = create_files(storage, dir, &meta) {
            // Best effort: the error says what failed; what is left is removed next time.
            let _ = remove_creation_leftovers(storage, dir);
            return Err(error);
        }
        Journal::open_locked(
            dir,
            &OpenMode {
                salvage: false,
                clock: options.clock,
                storage: storage.clone(),
            },
            lock,
        )
    }

    /// Opens an existing journal for writing, recovering its tail (`docs/RECOVERY.md`).
    pub fn open(dir: &Path, mode: &OpenMode) -> Result<Journal, Error> {
        let _span = tracing::info_span!("open", dir = %dir.display()).entered();
        read_meta(dir)?;
        let lock = WriterLock::acquire(dir)?;
        Journal::open_locked(dir, mode, lock)
    }

    fn open_locked(dir: &Path, mode: &OpenMode, lock: WriterLock) -> Result<Journal, Error> {
        let meta = read_meta(dir)?;
        let storage = &mode.storage;
        remove_prepared_files(storage, dir)?;
        let mut layout = Layout::load(dir, &meta, Some(storage))?;
        let mut report = RecoveryReport::default();
        let region_start = if mode.salvage {
            layout.scan_all(meta.frame_seed());
            0
        } else {
            layout.tail_start
        };
        let decision = recovery::assess_tail(&layout.scanned_tail(region_start), mode.salvage)?;
        if let TailDecision::Cut(cut) = decision {
            let cut_report = layout.apply_cut(storage, dir, region_start + cut.segment, &cut)?;
            tracing::warn!(%cut_report, "recovery");
            report.cut = Some(cut_report);
        }
        report.links_completed = layout.complete_links()?;
        layout.mark_durable(storage)?;
        // The names of the segments found are durable too. A writer may have died between
        // a segment's rename into place and the folder sync after it: the records appended
        // to that segment from now on would vanish with its name at a power failure.
        crate::storage::segment::sync_dir(storage, dir)?;
        let start = layout.into_start()?;
        let shared = Shared::start(meta, dir, mode.clock, storage.clone(), start);
        let background = shared.spawn_background()?;
        tracing::info!(dir = %dir.display(), head_seq = shared.committed_seq(), "journal opened for writing");
        Ok(Journal {
            shared,
            background: Mutex::new(Some(background)),
            shut_down: Default::default(),
            _lock: lock,
            recovery: report,
        })
    }

    /// Appends `events` as one atomic batch: after a crash, all of them or none are there.
    /// Returns once the journal's durability mode is satisfied.
    ///
    /// This is the raw log: it checks no rule of the contract. Applications append through
    /// [`crate::ledger::Ledger`] or [`crate::ledger::handle::JournalHandle`], which refuse a batch
    /// that breaks a stateless or stateful rule before anything is written.
    pub fn append(&self, events: &[Event]) -> Result<Appended, Error> {
        self.shared.append(events)
    }

    /// Appends `events` as one atomic batch into mapped memory and publishes it, without
    /// waiting for durability whatever the mode; pair with [`Journal::flush_through`].
    pub fn write(&self, events: &[Event]) -> Result<Appended, Error> {
        self.shared.write_batch(events, self.shared.clock().now())
    }

    /// Appends one batch of records exactly as another journal with the same id stored them
    /// (frames handed out by [`crate::storage::reader::Follower::poll_raw_up_to`] there, each
    /// without its padding): the replica a mirror keeps. Each frame is checked (its checksum
    /// with this journal's seed, the next seqs in order, the batch-end flag on the last one
    /// only) and copied verbatim, so that the records keep their bytes, seqs and recorded_at
    /// times; nothing is appended when a check fails ([`Error::StoredBatch`]). Returns once
    /// the journal's durability mode is satisfied.
    pub fn append_stored(&self, frames: &[&[u8]]) -> Result<Appended, Error> {
        let appended = self.shared.write_stored_batch(frames)?;
        if self.shared.meta.durability == Durability::Sync {
            self.shared.flush_through(appended.last_seq)?;
        }
        Ok(appended)
    }

    /// Returns once `seq` is on stable storage: flushes as the group-commit leader, or waits
    /// for the leader whose flush covers it.
    pub fn flush_through(&self, seq: u64) -> Result<(), Error> {
        self.shared.flush_through(seq)
    }

    /// The writer internals shared with the async handle.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Makes the next flush fail with EIO, poisoning the writer (failure-policy tests).
    #[doc(hidden)]
    pub fn inject_flush_failure(&self) {
        self.shared.inject_flush_failure();
    }

    /// Makes the next segment creation fail with ENOSPC, as on a full disk: the batch that
    /// needs a new segment fails and the writer is poisoned (disk-full tests).
    #[doc(hidden)]
    pub fn inject_no_space(&self) {
        self.shared.inject_no_space();
    }

    /// Makes everything appended so far durable, whatever the durability mode.
    pub fn flush(&self) -> Result<(), Error> {
        self.shared.flush()
    }

    /// The journal's settings and identity, as `journal.meta` holds them.
    pub fn meta(&self) -> &JournalMeta {
        &self.shared.meta
    }

    /// The journal folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Where the journal's durable I/O goes (checkpoints are written through it too).
    #[doc(hidden)]
    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    /// The last committed (readable) sequence number; 0 when empty.
    pub fn head_seq(&self) -> u64 {
        self.shared.committed_seq()
    }

    /// Flush latency since the journal was opened: `(p50, p99, max, count)`, nanoseconds
    /// (failed flushes included).
    pub fn flush_latency_ns(&self) -> (u64, u64, u64, u64) {
        self.shared.flush_latency_ns()
    }

    /// The last sequence number known to be on stable storage.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable_seq()
    }

    /// What recovery found and did when the journal was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Why the writer refuses appends, if it does: the error every append returns.
    pub fn poisoned(&self) -> Option<Error> {
        self.shared.poisoned_error()
    }

    /// A reader over this journal's committed records, sharing the writer's mappings.
    pub fn reader(&self) -> crate::storage::reader::JournalReader {
        crate::storage::reader::JournalReader::from_writer(Arc::clone(&self.shared))
    }

    /// Flushes, writes the watermark (`docs/FORMAT.md`), stops the background thread and
    /// releases the lock. A writer that failed (poisoned) is only stopped and released.
    pub fn close(self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<(), Error> {
        if self
            .shut_down
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return Ok(());
        }
        let result = if self.shared.poisoned_error().is_none() {
            self.shared
                .flush()
                .and_then(|()| self.shared.write_watermark())
        } else {
            Ok(())
        };
        self.stop_background_and_wait();
        self.shared.discard_prepared();
        result
    }

    /// Stops the background thread and waits until it has exited (also for tests of what
    /// happens without it).
    pub(crate) fn stop_background_and_wait(&self) {
        self.shared.stop_background();
        let handle = lock(&self.background).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "flush on drop failed");
        }
    }
}

fn validate_segment_size(size: u64) -> Result<(), Error> {
    if !(SEGMENT_SIZE_MIN_BYTES..=SEGMENT_SIZE_MAX_BYTES).contains(&size)
        || !size.is_multiple_of(4096)
    {
        return Err(Error::InvalidSetting(format!(
            "segment size {size} bytes: must be a multiple of 4096 between {SEGMENT_SIZE_MIN_BYTES} and {SEGMENT_SIZE_MAX_BYTES}"
        )));
    }
    Ok(())
}

fn random_id() -> Result<[u8; 16], Error> {
    let path = Path::new("/dev/urandom");
    let mut id = [0u8; 16];
    File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut id))
        .map_err(io_error(path, "read random journal id"))?;
    Ok(id)
}

/// Settings of an existing journal that may change; `None` keeps a setting as it is.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsChange {
    /// The new durability mode.
    pub durability: Option<Durability>,
    /// For the segments created from then on; existing segments keep their size.
    pub segment_size_bytes: Option<u64>,
    /// The new automatic checkpoint interval, in records (0: never).
    pub checkpoint_every_records: Option<u64>,
}

/// Changes the settings of the journal in `dir` and returns them before and after. They
/// apply from the next open on, so no writer may be running: the writer lock is taken while
/// `journal.meta` is rewritten (atomically, `folder::write_meta`), and a running writer makes this
/// fail with [`Error::Locked`]. An invalid setting changes nothing.
#[doc(hidden)]
pub fn change_settings(
    storage: &Storage,
    dir: &Path,
    change: &SettingsChange,
) -> Result<(JournalMeta, JournalMeta), Error> {
    // Read first: a folder that is no journal gets no lock file.
    read_meta(dir)?;
    let _lock = WriterLock::acquire(dir)?;
    let before = read_meta(dir)?;
    let mut after = before;
    if let Some(durability) = change.durability {
        after.durability = durability;
    }
    if let Some(size) = change.segment_size_bytes {
        validate_segment_size(size)?;
        after.segment_size_bytes = size;
    }
    if let Some(every) = change.checkpoint_every_records {
        after.checkpoint_every_records = every;
    }
    if after != before {
        write_meta(storage, dir, &after)?;
    }
    Ok((before, after))
}
