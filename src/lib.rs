//! tradeledger: an event-sourced, append-only journal for trading systems.
//!
//! Every event is appended as a checksummed record to a memory-mapped, preallocated segment
//! log; projections are derived from it. See `ARCHITECTURE.md` for the map and
//! `docs/FORMAT.md` for the bytes on disk.

pub mod checkpoint;
pub mod codec;
pub mod contract;
pub mod demo;
pub mod error;
pub mod event;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod handle;
pub mod interchange;
pub mod journal;
pub mod ledger;
pub mod limits;
pub mod load;
pub(crate) mod mmap;
pub mod projection;
pub mod reader;
pub mod recovery;
pub mod rng;
pub mod sample;
pub mod scan;
pub(crate) mod segment;
pub mod storage;
pub mod verify;
pub(crate) mod writer;

pub use error::Error;
pub use event::Event;
pub use format::Durability;
pub use journal::{Journal, JournalOptions, OpenMode};
pub use reader::{JournalReader, Record};
