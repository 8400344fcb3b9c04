//! tradeledger: an event-sourced, append-only journal for trading systems.
//!
//! Every event is appended as a checksummed record to a memory-mapped, preallocated segment
//! log; projections are derived from it. See `ARCHITECTURE.md` for the map and
//! `docs/FORMAT.md` for the bytes on disk.
//!
//! The layers, bottom up: [`model`] (the events and their rules), [`storage`] (the journal's
//! bytes on disk), [`projection`] (the tables derived from the events), [`ledger`] (a journal
//! with its projections, checkpoints and the async handle). The command-line tools sit on top,
//! behind the `cli` feature.

pub mod error;
pub mod ledger;
pub mod model;
pub mod projection;
#[doc(hidden)]
pub mod rng;
pub mod storage;
mod sync;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod tools;

pub use error::Error;
pub use ledger::handle::JournalHandle;
pub use ledger::{Ledger, OpenReport};
pub use model::event::Event;
pub use storage::format::Durability;
pub use storage::journal::{Journal, JournalOptions, OpenMode};
pub use storage::reader::{JournalReader, Record};
