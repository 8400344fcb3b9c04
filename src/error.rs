//! Errors of the storage layer. Corruption, I/O failure and misuse are different variants,
//! and each says where: the file, the byte offset, the sequence number.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Damage found on disk: a file, a byte offset, the sequence number concerned if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The damaged file: a segment, `journal.meta` or a checkpoint.
    pub file: PathBuf,
    /// The byte offset in `file` where the damage was found.
    pub offset: u64,
    /// The sequence number of the record concerned; `None` when no record is (a header, a
    /// checkpoint block) or it could not be told.
    pub seq: Option<u64>,
    /// What is wrong there, for a person to read.
    pub reason: String,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.file.display(), self.offset)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why a journal operation failed: the storage layer's errors, each saying where.
///
/// Non-exhaustive: new kinds of failure may be added, so a `match` needs a catch-all arm.
/// [`Error::is_corruption`] and [`Error::io_kind`] classify without matching.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("I/O error: cannot {op} {}: {source}", path.display())]
    Io {
        /// The file or folder it was called on.
        path: PathBuf,
        /// What was being done (`open`, `sync`, `rename`, …).
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The journal is damaged before its tail: nothing is cut silently (`docs/RECOVERY.md`).
    #[error("journal damaged: {0}")]
    Corrupt(Box<Corruption>),
    /// Another process holds the journal's writer lock: one writer per journal.
    #[error("{} is locked by another writer (only one process may append to a journal)", dir.display())]
    Locked {
        /// The journal folder.
        dir: PathBuf,
    },
    /// The folder holds no journal (no `journal.meta`).
    #[error("{} is not a tradeledger journal (no journal.meta)", dir.display())]
    NotAJournal {
        /// The folder.
        dir: PathBuf,
    },
    /// Creating a journal where one already is.
    #[error("{} already holds a journal", dir.display())]
    AlreadyExists {
        /// The journal folder.
        dir: PathBuf,
    },
    /// Creating a journal in a folder that holds other files: they are left alone.
    #[error("{} is not empty and is not a journal; refusing to touch it", dir.display())]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
    },
    /// The writer failed and stopped; `kind` is the I/O error kind of the failure when it was
    /// one (`StorageFull` for ENOSPC, `Other` for EIO…), so that a caller can tell a full
    /// disk from a failing one.
    #[error("the writer stopped after a failure and refuses appends until the journal is reopened: {reason}")]
    Poisoned {
        /// The failure that stopped the writer.
        reason: String,
        /// Its I/O error kind, when it was an I/O failure.
        kind: Option<io::ErrorKind>,
    },
    /// A journal setting out of its range (the segment size, for one); says which and why.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// An append of no events.
    #[error("an append needs at least one event")]
    EmptyBatch,
    /// An event too large for one record; nothing of the batch was appended.
    #[error(
        "event {index} of the batch encodes to {bytes} bytes, more than the {limit}-byte limit"
    )]
    EventTooLarge {
        /// Its index in the batch, from 0.
        index: usize,
        /// Its encoded size.
        bytes: usize,
        /// The largest encoded event a record holds.
        limit: usize,
    },
    /// Records copied from another journal (a mirror's) that do not continue this one: not
    /// its id, not the next seq, not one whole batch, or a frame that does not validate.
    /// Nothing of the batch was appended.
    #[error("stored records refused at seq {seq}: {reason}")]
    StoredBatch {
        /// The sequence number of the record refused.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// A record passed its checksum but its payload does not decode as an event.
    #[error("cannot decode record seq {seq} in {} at byte {offset}: {reason}", file.display())]
    Decode {
        /// The segment holding the record.
        file: PathBuf,
        /// The byte offset of the record's frame in `file`.
        offset: u64,
        /// The record's sequence number.
        seq: u64,
        /// Why it does not decode.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Corrupt`] naming the file, offset and sequence number.
    #[doc(hidden)]
    pub fn corrupt(file: &Path, offset: u64, seq: Option<u64>, reason: impl Into<String>) -> Error {
        Error::Corrupt(Box::new(Corruption {
            file: file.to_path_buf(),
            offset,
            seq,
            reason: reason.into(),
        }))
    }

    /// The kind of the I/O error behind this one: of an I/O failure, or of the failure that
    /// stopped the writer.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            Error::Poisoned { kind, .. } => *kind,
            _ => None,
        }
    }

    /// True for damage on disk (as opposed to I/O failure or misuse).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt(_) | Error::Decode { .. })
    }
}

/// A failure as a health report keeps it, after the error itself went to its caller: what
/// it said, and what a monitor classifies it by (a full disk is not a failing one).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The error's message, saying where and why.
    pub message: String,
    /// The I/O error kind, when it was an I/O failure or stopped the writer after one
    /// ([`Error::io_kind`]): `StorageFull` for a full disk, `Other` for EIO…
    pub io_kind: Option<io::ErrorKind>,
    /// It was damage found on disk ([`Error::is_corruption`]).
    pub corruption: bool,
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Failure {
        Failure {
            message: error.to_string(),
            io_kind: error.io_kind(),
            corruption: error.is_corruption(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `map_err` helper: an I/O error on `path` while doing `op`.
#[doc(hidden)]
pub fn io_error(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { path, op, source }
}
