//! The storage layer: the journal's bytes on disk, from the file-system seam up to reading
//! and verifying. It knows events only as payloads to encode and decode (`crate::model`), and
//! depends on neither the projections nor an async runtime.
//!
//! In data-flow order (the modules without a link are internal to the crate):
//! * `fs`: the seam every durability-relevant file-system call goes through, and the
//!   simulated disk the crash tests run on.
//! * `format`: every byte of the segment, frame and meta formats (`docs/FORMAT.md`).
//! * `limits`: the sizes the format and the writer accept.
//! * `mmap`, `segment`: a mapped segment file and its header.
//! * `folder`: the journal folder's files besides the segments: meta, lock, leftovers.
//! * `scan`: the walk over a segment's frames at open; `recovery`: what open decides from
//!   it; `layout`: the segments as open finds them, and the decisions applied.
//! * `writer`: appends, rolls and seals; `commit`: group commit (one flush leader, its
//!   waiters); [`journal`]: the public journal on top.
//! * [`reader`]: reading and following a journal; [`verify`]: the auditor's check.

pub(crate) mod commit;
#[doc(hidden)]
pub mod folder;
#[doc(hidden)]
pub mod format;
#[doc(hidden)]
pub mod fs;
pub mod journal;
pub(crate) mod layout;
#[doc(hidden)]
pub mod limits;
pub(crate) mod mmap;
pub mod reader;
#[doc(hidden)]
pub mod recovery;
#[doc(hidden)]
pub mod scan;
pub(crate) mod segment;
pub mod verify;
pub(crate) mod writer;

#[doc(hidden)]
pub use fs::{CrashFate, SimulatedDisk, Storage};
