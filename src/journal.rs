//! Creating and opening a journal folder; recovery on open; the writer handle.
//!
//! A journal folder holds (`docs/FORMAT.md` §1):
//! - `journal.meta`: the journal's settings and identity;
//! - `LOCK`: locked by the one writer process;
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segments, named by their first sequence number;
//! - `torn/`: bytes cut off by recovery, kept for inspection, never read again.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{io_error, Error};
use crate::event::{Event, Timestamp};
use crate::format::{
    ChainLink, Durability, JournalMeta, SegmentHeader, Watermark, FORMAT_VERSION,
    SEGMENT_HEADER_SIZE,
};
use crate::limits::{SEGMENT_SIZE_DEFAULT_BYTES, SEGMENT_SIZE_MAX_BYTES, SEGMENT_SIZE_MIN_BYTES};
use crate::recovery::{self, Cut, ScannedSegment, SegmentFacts, TailDecision};
use crate::scan::{scan_segment, SegmentScan};
use crate::segment::{self, SegmentFile, PREPARED_FILE_NAME};
use crate::storage::{Storage, FILE_MODE};
use crate::writer::{lock, SegmentEntry, Shared, Start};
pub use crate::writer::{Appended, Clock};

pub const META_FILE_NAME: &str = "journal.meta";
pub const LOCK_FILE_NAME: &str = "LOCK";
pub const TORN_DIR_NAME: &str = "torn";

/// How many times a reader scans a live journal again before it believes in damage
/// ([`Layout::load_for_reading`]).
const LIVE_RESCANS: u64 = 5;

/// Settings of a new journal, stored in `journal.meta`.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// Default `Buffered`.
    pub durability: Durability,
    /// Default 32 MiB; between 64 KiB and 1 GiB, a multiple of 4096.
    pub segment_size_bytes: u64,
    /// Automatic checkpoint after this many records; 0 disables. Default 100,000.
    pub checkpoint_every_records: u64,
    /// Flag bits of `journal.meta` (e.g. [`crate::format::META_FLAG_DEMO`]).
    pub flags: u32,
    /// Fixed identity, for byte-exact fixtures. Default: random.
    pub journal_id: Option<[u8; 16]>,
    pub clock: Clock,
    /// Where the journal's durable I/O goes. Default: the real file system.
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
    pub clock: Clock,
    /// Where the journal's durable I/O goes. Default: the real file system.
    pub storage: Storage,
}

/// What recovery did when the journal was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The torn tail that was cut, if any.
    pub cut: Option<CutReport>,
    /// Chain links that were pending (writer stopped before sealing finished) and were written.
    pub links_completed: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutReport {
    pub segment: PathBuf,
    pub offset: u64,
    pub last_seq_kept: u64,
    pub bytes_cut: u64,
    pub segments_removed: usize,
    /// Valid records lay beyond the damage (a power loss persisted unsynced writes out of
    /// order, or salvage cut real damage).
    pub later_records_discarded: bool,
    /// Where the cut bytes were saved.
    pub saved_to: PathBuf,
}

impl std::fmt::Display for CutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cut a torn tail of {} bytes after seq {} in {} at byte {}",
            self.bytes_cut,
            self.last_seq_kept,
            self.segment.display(),
            self.offset
        )?;
        if self.segments_removed > 0 {
            write!(f, ", removed {} later segment(s)", self.segments_removed)?;
        }
        if self.later_records_discarded {
            f.write_str(", discarding valid-looking records beyond it (never durable)")?;
        }
        write!(f, "; saved to {}", self.saved_to.display())
    }
}

/// The writer of a journal. Cheap to share: clone the `Arc`. Dropping the last handle flushes
/// and stops the background thread.
pub struct Journal {
    shared: Arc<Shared>,
    background: Mutex<Option<JoinHandle<()>>>,
    /// Set by the first shutdown (`close`), so that the drop after it does not flush and
    /// write the watermark again.
    shut_down: std::sync::atomic::AtomicBool,
    _lock: File,
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
    pub fn create_locked(
        dir: &Path,
        options: &JournalOptions,
        lock: WriterLock,
    ) -> Result<Journal, Error> {
        validate_segment_size(options.segment_size_bytes)?;
        let storage = &options.storage;
        prepare_empty_dir(storage, dir)?;
        let lock = lock.file;
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
        let lock = lock_writer(dir)?;
        Journal::open_locked(dir, mode, lock)
    }

    fn open_locked(dir: &Path, mode: &OpenMode, lock: File) -> Result<Journal, Error> {
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
    /// [`crate::ledger::Ledger`] or [`crate::handle::JournalHandle`], which refuse a batch
    /// that breaks a stateless or stateful rule before anything is written.
    pub fn append(&self, events: &[Event]) -> Result<Appended, Error> {
        self.shared.append(events)
    }

    /// Appends `events` as one atomic batch into mapped memory and publishes it, without
    /// waiting for durability whatever the mode; pair with [`Journal::flush_through`].
    pub fn write(&self, events: &[Event]) -> Result<Appended, Error> {
        self.shared.write_batch(events, self.shared.clock().now())
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

    pub fn meta(&self) -> &JournalMeta {
        &self.shared.meta
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Where the journal's durable I/O goes (checkpoints are written through it too).
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

    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Why the writer refuses appends, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.poisoned_reason()
    }

    /// A reader over this journal's committed records, sharing the writer's mappings.
    pub fn reader(&self) -> crate::reader::JournalReader {
        crate::reader::JournalReader::from_writer(Arc::clone(&self.shared))
    }

    /// Flushes, stops the background thread and releases the lock.
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
        let result = if self.shared.poisoned_reason().is_none() {
            self.shared
                .flush()
                .and_then(|()| self.shared.write_watermark())
        } else {
            Ok(())
        };
        self.stop_background_and_wait();
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

/// The first segment, then `journal.meta`, each durable before the next step.
fn create_files(storage: &Storage, dir: &Path, meta: &JournalMeta) -> Result<(), Error> {
    let prepared = dir.join(PREPARED_FILE_NAME);
    segment::create_zeroed(storage, &prepared, meta.segment_size_bytes)?;
    let header = SegmentHeader {
        format_version: FORMAT_VERSION,
        journal_id: meta.journal_id,
        first_seq: 1,
        index: 0,
        capacity_bytes: meta.segment_size_bytes,
        created_at: meta.created_at,
    };
    segment::activate(
        storage,
        dir,
        &prepared,
        &header,
        Some(&ChainLink::GENESIS),
        None,
    )?;
    write_meta(storage, dir, meta)
}

/// True for the files an interrupted creation can leave in a folder without `journal.meta`:
/// the lock file, a temporary meta file, prepared files, and the first segment while it
/// holds no record.
fn is_creation_leftover(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name == LOCK_FILE_NAME
        || name == format!("{META_FILE_NAME}.tmp")
        || name.starts_with(PREPARED_FILE_NAME)
    {
        return true;
    }
    if name != crate::format::segment_file_name(1) {
        return false;
    }
    // Only an empty first segment: its first frame position is still zero.
    let mut first_frame = [0u8; 8];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut first_frame, SEGMENT_HEADER_SIZE as u64))
        .is_ok_and(|()| first_frame == [0u8; 8])
}

/// Removes what an interrupted creation left (see [`is_creation_leftover`]), except the lock.
/// No folder sync of its own: leftovers a power failure brings back are leftovers again, and
/// the creation's next folder sync (when the first segment is renamed into place) makes the
/// removals durable with it.
fn remove_creation_leftovers(storage: &Storage, dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(io_error(dir, "list journal folder"))? {
        let path = entry.map_err(io_error(dir, "list journal folder"))?.path();
        if is_creation_leftover(&path) && !path.ends_with(LOCK_FILE_NAME) {
            storage
                .remove_file(&path)
                .map_err(io_error(&path, "remove"))?;
        }
    }
    Ok(())
}

fn prepare_empty_dir(storage: &Storage, dir: &Path) -> Result<(), Error> {
    if dir.join(META_FILE_NAME).exists() {
        return Err(Error::AlreadyExists {
            dir: dir.to_path_buf(),
        });
    }
    if dir.exists() {
        for entry in fs::read_dir(dir).map_err(io_error(dir, "list folder"))? {
            let path = entry.map_err(io_error(dir, "list folder"))?.path();
            if !is_creation_leftover(&path) {
                return Err(Error::NotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
        }
        return Ok(());
    }
    storage
        .create_dir_all(dir)
        .map_err(io_error(dir, "create journal folder"))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        segment::sync_dir(storage, parent)?;
    }
    Ok(())
}

/// Writes `journal.meta` atomically: temporary file, sync, rename, sync the folder.
fn write_meta(storage: &Storage, dir: &Path, meta: &JournalMeta) -> Result<(), Error> {
    let tmp = dir.join(format!("{META_FILE_NAME}.tmp"));
    let path = dir.join(META_FILE_NAME);
    let mut file = storage
        .create_truncate(&tmp)
        .map_err(io_error(&tmp, "create"))?;
    file.write_all(&meta.encode())
        .map_err(io_error(&tmp, "write"))?;
    storage.sync_all(&file).map_err(io_error(&tmp, "sync"))?;
    storage
        .rename(&tmp, &path)
        .map_err(io_error(&path, "rename"))?;
    segment::sync_dir(storage, dir)
}

/// Settings of an existing journal that may change; `None` keeps a setting as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsChange {
    pub durability: Option<Durability>,
    /// For the segments created from then on; existing segments keep their size.
    pub segment_size_bytes: Option<u64>,
    pub checkpoint_every_records: Option<u64>,
}

/// Changes the settings of the journal in `dir` and returns them before and after. They
/// apply from the next open on, so no writer may be running: the writer lock is taken while
/// `journal.meta` is rewritten (atomically, [`write_meta`]), and a running writer makes this
/// fail with [`Error::Locked`]. An invalid setting changes nothing.
pub fn change_settings(
    storage: &Storage,
    dir: &Path,
    change: &SettingsChange,
) -> Result<(JournalMeta, JournalMeta), Error> {
    // Read first: a folder that is no journal gets no lock file.
    read_meta(dir)?;
    let _lock = lock_writer(dir)?;
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

pub fn read_meta(dir: &Path) -> Result<JournalMeta, Error> {
    let path = dir.join(META_FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if segment::is_not_found(&e) => {
            return Err(Error::NotAJournal {
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io_error(&path, "read")(e)),
    };
    JournalMeta::decode(&bytes).map_err(|e| Error::corrupt(&path, 0, None, e.to_string()))
}

/// The writer lock of a journal folder (`flock` on `LOCK`), held until dropped. Whatever
/// removes or replaces journal files holds it for the whole removal or replacement.
pub struct WriterLock {
    file: File,
}

impl WriterLock {
    /// Takes the writer lock of `dir` (creating `LOCK` if missing). [`Error::Locked`] while
    /// another process holds it, or another open of it in this process (`flock` locks
    /// belong to the open file).
    pub fn acquire(dir: &Path) -> Result<WriterLock, Error> {
        lock_writer(dir).map(|file| WriterLock { file })
    }
}

fn lock_writer(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(&path)
        .map_err(io_error(&path, "open lock file"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(&path, "lock")(e)),
    }
}

/// True when another process holds the writer lock (for read-only tools to say "live").
pub fn is_locked_by_writer(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(LOCK_FILE_NAME)) else {
        return false;
    };
    matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

fn remove_prepared_files(storage: &Storage, dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(io_error(dir, "list journal folder"))? {
        let entry = entry.map_err(io_error(dir, "list journal folder"))?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(PREPARED_FILE_NAME)
        {
            storage
                .remove_file(&entry.path())
                .map_err(io_error(&entry.path(), "remove"))?;
        }
    }
    Ok(())
}

/// The segments of a journal, their header facts, and scans of the tail region.
pub(crate) struct Layout {
    pub files: Vec<SegmentFile>,
    pub facts: Vec<SegmentFacts>,
    /// Index of the first segment not yet known to be sealed and synced.
    pub tail_start: usize,
    /// Scans of `files[tail_start..]` (or of all files after `scan_all`).
    pub scans: Vec<Option<SegmentScan>>,
}

impl Layout {
    /// Opens every segment, checks the chain structure and scans the tail region. With the
    /// `writable` storage the segments are mapped for writing (by the writer, under its lock).
    pub(crate) fn load(
        dir: &Path,
        meta: &JournalMeta,
        writable: Option<&Storage>,
    ) -> Result<Layout, Error> {
        let mut files = vec![];
        let mut facts = vec![];
        for (name_first_seq, path) in segment::list_segments(dir)? {
            let file = segment::open_segment(&path, writable)?;
            facts.push(SegmentFacts {
                path: path.clone(),
                name_first_seq,
                header: file.header,
                link: file.link,
                watermark_seq: file.watermark.map_or(0, |w| w.durable_seq),
            });
            files.push(file);
        }
        if files.is_empty() {
            return Err(Error::corrupt(
                dir,
                0,
                None,
                "the journal has no segment file",
            ));
        }
        let tail_start = recovery::check_structure(&facts, &meta.journal_id)?;
        let mut layout = Layout {
            scans: vec![None; files.len()],
            files,
            facts,
            tail_start,
        };
        layout.scan_range(tail_start, meta.frame_seed());
        Ok(layout)
    }

    /// The layout as a reader sees it (no lock, nothing written), with the tail decision a
    /// writer's open would take. `scan_all` scans every segment (verify).
    ///
    /// While a writer is appending, the bytes after the committed end change during the scan:
    /// batches appended after the in-order walk stopped look like valid records beyond a hole,
    /// claiming that the records of the hole are durable, which is what damage looks like.
    /// So when a writer holds the lock, damage is looked at again on a fresh scan, a few times;
    /// a race does not repeat, real damage does.
    pub fn load_for_reading(
        dir: &Path,
        meta: &JournalMeta,
        scan_all: bool,
    ) -> Result<(Layout, TailDecision), Error> {
        let mut rescans = 0;
        loop {
            let attempt = Layout::load(dir, meta, None).and_then(|mut layout| {
                if scan_all {
                    layout.scan_all(meta.frame_seed());
                }
                let tail = layout.scanned_tail(layout.tail_start);
                let decision = recovery::assess_tail(&tail, false)?;
                Ok((layout, decision))
            });
            match attempt {
                Err(error)
                    if error.is_corruption()
                        && rescans < LIVE_RESCANS
                        && is_locked_by_writer(dir) =>
                {
                    rescans += 1;
                    tracing::debug!(%error, rescans, "a writer is appending: scanning again");
                    std::thread::sleep(std::time::Duration::from_millis(rescans));
                }
                other => return other,
            }
        }
    }

    fn scan_range(&mut self, from: usize, seed: u32) {
        for i in from..self.files.len() {
            if self.scans[i].is_none() {
                let file = &self.files[i];
                self.scans[i] = Some(scan_segment(
                    file.map.all_bytes(),
                    file.header.first_seq,
                    seed,
                ));
            }
        }
    }

    /// Scans every segment (salvage, verify).
    pub fn scan_all(&mut self, seed: u32) {
        self.scan_range(0, seed);
    }

    pub fn scanned_tail(&self, from: usize) -> Vec<ScannedSegment<'_>> {
        (from..self.files.len())
            .map(|i| ScannedSegment {
                facts: &self.facts[i],
                scan: self.scans[i].as_ref().expect("tail segments are scanned"),
            })
            .collect()
    }

    /// The offset up to which segment `i` holds committed records.
    pub fn committed_end(&self, i: usize) -> usize {
        match (&self.scans[i], self.facts.get(i + 1).and_then(|f| f.link)) {
            (Some(scan), _) => scan.committed_end,
            (None, Some(link)) => link.prev_data_end as usize,
            (None, None) => unreachable!("segments before the tail region have a sealed successor"),
        }
    }

    /// Cuts the tail as decided: saves the cut bytes under `torn/`, zeroes them, moves later
    /// segments to `torn/`, syncs. `cut.segment` counts from the scanned region's start.
    fn apply_cut(
        &mut self,
        storage: &Storage,
        dir: &Path,
        index: usize,
        cut: &Cut,
    ) -> Result<CutReport, Error> {
        let torn_dir = dir.join(TORN_DIR_NAME);
        storage
            .create_dir_all(&torn_dir)
            .map_err(io_error(&torn_dir, "create"))?;
        let file = &self.files[index];
        let saved_to = torn_dir.join(format!(
            "{}@{}.{}",
            file.file_name(),
            cut.offset,
            Timestamp::now().nanos()
        ));
        let bytes = &file.map.all_bytes()[cut.offset..cut.offset + cut.bytes_cut];
        storage
            .create_new(&saved_to)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| storage.sync_all(&f)))
            .map_err(io_error(&saved_to, "save torn bytes"))?;
        let handle = OpenOptions::new()
            .write(true)
            .open(&file.path)
            .map_err(io_error(&file.path, "open for cut"))?;
        handle
            .write_all_at(&vec![0u8; cut.bytes_cut], cut.offset as u64)
            .map_err(io_error(&file.path, "clear torn tail"))?;
        storage
            .sync_data(&handle)
            .map_err(io_error(&file.path, "sync cut"))?;
        for removed in self.files.drain(index + 1..) {
            let target = torn_dir.join(removed.file_name());
            storage
                .rename(&removed.path, &target)
                .map_err(io_error(&removed.path, "move aside"))?;
        }
        self.facts.truncate(index + 1);
        self.scans.truncate(index + 1);
        let scan = self.scans[index].as_mut().expect("cut segment was scanned");
        scan.dirty_end = scan.committed_end;
        self.tail_start = self.tail_start.min(index);
        segment::sync_dir(storage, &torn_dir)?;
        segment::sync_dir(storage, dir)?;
        Ok(CutReport {
            segment: self.files[index].path.clone(),
            offset: cut.offset as u64,
            last_seq_kept: cut.last_seq_kept,
            bytes_cut: cut.bytes_cut as u64,
            segments_removed: cut.segments_removed,
            later_records_discarded: cut.later_records,
            saved_to,
        })
    }

    /// Writes the chain links the previous writer left pending, each durable before the next
    /// is written (a sealed link after a pending one is damage).
    ///
    /// The link the previous writer wrote last may still be only in the page cache (it died
    /// between the write and its sync), yet it reads as sealed. It lies in segment
    /// `tail_start`: the predecessor of the first pending link, which is flushed whole below
    /// before that link is written, or the last segment, which `mark_durable` flushes whole.
    /// Every link before it was synced before it was written.
    fn complete_links(&mut self) -> Result<usize, Error> {
        let mut completed = 0;
        for i in 1..self.files.len() {
            if self.facts[i].link.is_some() {
                continue;
            }
            let prev = &self.files[i - 1];
            let data_end = self.committed_end(i - 1);
            let prev_last_seq = self.files[i].header.first_seq - 1;
            prev.map
                .flush(0, prev.map.len())
                .map_err(io_error(&prev.path, "sync sealed segment"))?;
            let link = ChainLink {
                prev_hash: segment::hash_prefix(prev.map.all_bytes(), data_end),
                prev_data_end: data_end as u64,
                prev_last_seq,
            };
            // Synced with the whole segment when it is the predecessor of the next pending
            // link (above), or with the recovered segment (`mark_durable`) when it is the
            // last: before the next link is written, and before anything is appended.
            segment::write_link_unsynced(&self.files[i].path, &link)?;
            self.facts[i].link = Some(link);
            completed += 1;
        }
        Ok(completed)
    }

    /// Syncs the last segment and records in its watermark that everything recovered is
    /// durable, so that later damage to it is never mistaken for a torn tail.
    ///
    /// The sync happens even when the watermark already says so: a writer that crashed may
    /// have left the records, and the watermark itself, in the page cache only. The range
    /// starts at byte 0, so the header page (links, watermark) is synced too: the seal hashes it.
    fn mark_durable(&self, storage: &Storage) -> Result<(), Error> {
        let last = self.files.len() - 1;
        let scan = self.scans[last].as_ref().expect("last segment is scanned");
        let file = &self.files[last];
        let watermark = Watermark {
            durable_seq: scan.last_seq,
            durable_end: scan.committed_end as u64,
        };
        file.map
            .flush(0, scan.committed_end)
            .map_err(io_error(&file.path, "sync recovered segment"))?;
        if file.watermark == Some(watermark) {
            return Ok(());
        }
        segment::write_watermark(storage, &file.path, &watermark)
    }

    fn into_start(mut self) -> Result<Start, Error> {
        let last = self.files.len() - 1;
        let scan = self.scans[last].clone().expect("last segment is scanned");
        let writer = self.files[last]
            .map
            .attach_writer()
            .map_err(io_error(&self.files[last].path, "map segment for writing"))?;
        let segments = self
            .files
            .into_iter()
            .map(|f| SegmentEntry {
                first_seq: f.header.first_seq,
                index: f.header.index,
                path: f.path,
                map: f.map,
            })
            .collect::<Vec<_>>();
        for (i, entry) in segments.iter().enumerate().take(last) {
            let end = match &self.scans[i] {
                Some(s) => s.committed_end,
                None => self.facts[i + 1]
                    .link
                    .map_or(SEGMENT_HEADER_SIZE as u64, |l| l.prev_data_end)
                    as usize,
            };
            entry.map.publish(end);
        }
        Ok(Start {
            segments,
            writer,
            write_offset: scan.committed_end,
            next_seq: scan.last_seq + 1,
        })
    }
}
