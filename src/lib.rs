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

// What an embedder needs, at the root; the module paths stay valid.
pub use error::Error;
pub use ledger::handle::{FailurePolicy, Health, JournalHandle, Receipt};
pub use ledger::{Ledger, LedgerError, OpenReport};
pub use model::contract::{Rule, Violation};
pub use model::event::{
    AccountSnapshot, Event, EventKind, OpenStatus, OrderCancelled, OrderFailed, OrderFilled,
    PriceUpdate, Signal, SignalExecuted, SignalType, Timestamp, TimestampError, TradeClosed,
    TradeModified, TradeOpened, TradeStatus, TradeType,
};
pub use projection::{
    DayView, ExecutionRate, PerformanceSummary, Projections, QueryError, SignalView, SnapshotView,
    TimeBasis, TimeRange, TradeFilter, TradeStatistics, TradeView,
};
/// The exact decimal type of prices, volumes and money in the events and views, re-exported so
/// that an embedder builds events with the same version the crate uses.
#[doc(no_inline)]
pub use rust_decimal::Decimal;
pub use storage::format::Durability;
pub use storage::journal::{Appended, Journal, JournalOptions, OpenMode};
pub use storage::reader::{JournalReader, Record};
