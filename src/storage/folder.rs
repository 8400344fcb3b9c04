//! A journal's folder and the files in it besides the segments (`docs/FORMAT.md` §1):
//! - `journal.meta`: the journal's settings and identity;
//! - `LOCK`: locked by the one writer process;
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segments, named by their first sequence number;
//! - `torn/`: bytes cut off by recovery, kept for inspection, never read again.
//!
//! Creating the folder's files in a crash-safe order, reading and writing the meta file,
//! taking the writer's lock, and clearing what an interrupted creation or writer left.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{io_error, Error};
use crate::storage::format::{
    ChainLink, JournalMeta, SegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_SIZE,
};
use crate::storage::fs::{Storage, FILE_MODE};
use crate::storage::limits::segment_capacity;
use crate::storage::segment;
/// The name each file prepared to become the next segment starts with (`docs/FORMAT.md` §1).
pub use crate::storage::segment::PREPARED_FILE_NAME;

pub const META_FILE_NAME: &str = "journal.meta";

pub const LOCK_FILE_NAME: &str = "LOCK";

pub const TORN_DIR_NAME: &str = "torn";

/// The first segment, then `journal.meta`, each durable before the next step.
pub(crate) fn create_files(storage: &Storage, dir: &Path, meta: &JournalMeta) -> Result<(), Error> {
    let prepared = dir.join(PREPARED_FILE_NAME);
    let capacity = segment_capacity(meta.segment_size_bytes, 0);
    segment::create_zeroed(storage, &prepared, capacity)?;
    let header = SegmentHeader {
        format_version: FORMAT_VERSION,
        journal_id: meta.journal_id,
        first_seq: 1,
        index: 0,
        capacity_bytes: capacity,
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
pub(crate) fn is_creation_leftover(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name == LOCK_FILE_NAME
        || name == format!("{META_FILE_NAME}.tmp")
        || name.starts_with(PREPARED_FILE_NAME)
    {
        return true;
    }
    if name != crate::storage::format::segment_file_name(1) {
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
pub(crate) fn remove_creation_leftovers(storage: &Storage, dir: &Path) -> Result<(), Error> {
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

pub(crate) fn prepare_empty_dir(storage: &Storage, dir: &Path) -> Result<(), Error> {
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
pub(crate) fn write_meta(storage: &Storage, dir: &Path, meta: &JournalMeta) -> Result<(), Error> {
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
///
/// Dropping it unlocks explicitly before closing the file. A `flock` lock belongs to the open
/// file description, and a child process that another thread forks shares that description
/// until its `exec` closes it: closing our descriptor alone would leave the lock held for that
/// moment, and a reopen right after a close would fail with [`Error::Locked`].
pub struct WriterLock {
    file: File,
}

impl WriterLock {
    /// Takes the writer lock of `dir` (creating `LOCK` if missing). [`Error::Locked`] while
    /// another process holds it, or another open of it in this process (`flock` locks
    /// belong to the open file).
    pub fn acquire(dir: &Path) -> Result<WriterLock, Error> {
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
            Ok(()) => Ok(WriterLock { file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                dir: dir.to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(&path, "lock")(e)),
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too, unless a forked child still shares it (see
        // above); an unlock that fails leaves exactly that.
        let _ = self.file.unlock();
    }
}

/// True when another process holds the writer lock (for read-only tools to say "live").
pub fn is_locked_by_writer(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(LOCK_FILE_NAME)) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            // Unlocked explicitly, for the reason `WriterLock` gives.
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

pub(crate) fn remove_prepared_files(storage: &Storage, dir: &Path) -> Result<(), Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A child process forked while the lock is held shares its open file description until
    /// it calls `exec`. A duplicated descriptor stands for that child here: the lock must be
    /// free once dropped, whoever else still refers to the file.
    #[test]
    fn a_dropped_writer_lock_is_free_while_a_shared_descriptor_lives() {
        let temp = tempfile::tempdir().unwrap();
        let lock = WriterLock::acquire(temp.path()).unwrap();
        let forked_child = lock.file.try_clone().unwrap();
        assert!(matches!(
            WriterLock::acquire(temp.path()),
            Err(Error::Locked { .. })
        ));
        assert!(is_locked_by_writer(temp.path()));
        drop(lock);
        assert!(!is_locked_by_writer(temp.path()));
        let again = WriterLock::acquire(temp.path()).unwrap();
        drop(forked_child);
        drop(again);
    }
}
