//! Errors of the storage layer. Corruption, I/O failure and misuse are different variants,
//! and each says where: the file, the byte offset, the sequence number.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Damage found on disk: a file, a byte offset, the sequence number concerned if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub file: PathBuf,
    pub offset: u64,
    pub seq: Option<u64>,
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

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("journal damaged: {0}")]
    Corrupt(Box<Corruption>),
    #[error("{} is locked by another writer (only one process may append to a journal)", dir.display())]
    Locked { dir: PathBuf },
    #[error("{} is not a tradeledger journal (no journal.meta)", dir.display())]
    NotAJournal { dir: PathBuf },
    #[error("{} already holds a journal", dir.display())]
    AlreadyExists { dir: PathBuf },
    #[error("{} is not empty and is not a journal; refusing to touch it", dir.display())]
    NotEmpty { dir: PathBuf },
    /// The writer failed and stopped; `kind` is the I/O error kind of the failure when it was
    /// one (`StorageFull` for ENOSPC, `Other` for EIO…), so that a caller can tell a full
    /// disk from a failing one.
    #[error("the writer stopped after a failure and refuses appends until the journal is reopened: {reason}")]
    Poisoned {
        reason: String,
        kind: Option<io::ErrorKind>,
    },
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    #[error("an append needs at least one event")]
    EmptyBatch,
    #[error(
        "event {index} of the batch encodes to {bytes} bytes, more than the {limit}-byte limit"
    )]
    EventTooLarge {
        index: usize,
        bytes: usize,
        limit: usize,
    },
    #[error("cannot decode record seq {seq} in {} at byte {offset}: {reason}", file.display())]
    Decode {
        file: PathBuf,
        offset: u64,
        seq: u64,
        reason: String,
    },
}

impl Error {
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

/// `map_err` helper: an I/O error on `path` while doing `op`.
pub fn io_error(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { path, op, source }
}
