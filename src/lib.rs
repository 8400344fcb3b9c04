//! tradeledger: an event-sourced, append-only journal for trading systems.
//!
//! A trading process records what happens as [`Event`]s: a strategy's [`Signal`], an order
//! filled or placed ([`TradeOpened`]), a trade closed ([`TradeClosed`]), an
//! [`AccountSnapshot`], … Each batch of events is checked against the rules of the contract
//! (`docs/INTERCHANGE.md`), appended atomically as checksummed records to a memory-mapped
//! segment log, and applied to [`Projections`]: the trades, signals, snapshots and daily
//! performance that queries read. Times are UTC ([`Timestamp`]), money, prices and volumes
//! exact decimals ([`Decimal`]), and an absent optional field is `None`.
//!
//! # Embedding
//!
//! [`Ledger`] is the synchronous API; [`JournalHandle`] wraps it for tokio (`append(…).await`,
//! group commit, failure policies, health). Events are built with their `new`, which takes the
//! fields the contract requires; optional fields are set afterwards. The contract grows only
//! by optional fields, so code written this way keeps compiling as it grows.
//!
//! ```
//! use tradeledger::{
//!     Decimal, JournalOptions, Ledger, OpenMode, Signal, SignalType, TimeBasis, TimeRange,
//!     Timestamp, TradeClosed, TradeOpened, TradeType,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let price = |text: &str| text.parse::<Decimal>().expect("a decimal");
//! let at = Timestamp::parse_rfc3339("2024-01-02T10:00:00Z")?;
//!
//! // A new journal; a signal and the trade that executes it, as one atomic batch: after a
//! // crash both or neither are there.
//! let ledger = Ledger::create(dir.path(), &JournalOptions::default())?;
//! let signal = Signal::new(
//!     1, "EURUSD", SignalType::Buy, at, price("1.10450"), 0.8, "ma_crossover", "H1",
//! );
//! let (volume, entry_price) = (price("0.10"), price("1.10460"));
//! let mut fill = TradeOpened::new(1001, "EURUSD", TradeType::Buy, volume, entry_price, at);
//! fill.signal_id = Some(1); // links the trade to its signal, which becomes executed
//! fill.stop_loss = Some(price("1.10250"));
//! let appended = ledger.append(&[signal.into(), fill.into()])?;
//! assert_eq!((appended.first_seq, appended.last_seq), (1, 2));
//! ledger.close()?; // flushes and writes a checkpoint
//!
//! // The process starts again: reopening recovers the journal and rebuilds the projections.
//! let ledger = Ledger::open(dir.path(), &OpenMode::default())?;
//! let open = ledger.query(|state| state.open_trades(None, None))?;
//! assert_eq!(open.len(), 1);
//! assert_eq!(open[0].ticket, 1001);
//!
//! let exit = Timestamp::parse_rfc3339("2024-01-02T14:30:00Z")?;
//! let close = TradeClosed::new(1001, price("1.10850"), exit, price("39.00"));
//! ledger.append(&[close.into()])?;
//! let stats =
//!     ledger.query(|state| state.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None))?;
//! assert_eq!(stats.total_trades, 1);
//! assert_eq!(stats.total_profit, price("39.00"));
//! ledger.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Auditing
//!
//! [`JournalReader`] reads a journal's records back, without a lock and while a writer
//! appends; [`storage::verify`] checks a whole journal; [`model::interchange`] reads and writes
//! the JSON Lines form of the events that `tradeledger import` and `dump` use. The long ones
//! (verifying, replaying, writing a checkpoint) have `..._with_progress` variants that tell a
//! [`progress::Progress`] callback how far they got.
//!
//! # Layers
//!
//! See `ARCHITECTURE.md` for the map and `docs/FORMAT.md` for the bytes on disk. The layers,
//! bottom up: [`model`] (the events and their rules), [`storage`] (the journal's bytes on
//! disk), [`projection`] (the tables derived from the events), [`ledger`] (a journal with its
//! projections, checkpoints and the async handle). The command-line tools sit on top, behind
//! the `cli` feature. The crate root re-exports what an embedder needs; the modules keep their
//! paths.

#![deny(missing_docs)]

pub mod error;
pub mod ledger;
pub mod model;
pub mod progress;
pub mod projection;
#[doc(hidden)]
pub mod rng;
pub mod storage;
mod sync;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod tools;

// What an embedder needs, at the root; the module paths stay valid.
/// The exact decimal type of prices, volumes and money in the events and views, re-exported so
/// that an embedder builds events with the same version the crate uses.
/// The calendar date the daily-performance queries take (UTC days).
#[doc(no_inline)]
pub use chrono::NaiveDate;
pub use error::{Error, Failure};
pub use ledger::handle::{FailurePolicy, Health, JournalHandle, Receipt};
pub use ledger::{Ledger, LedgerError, OpenReport};
pub use model::contract::{Rule, Violation};
pub use model::event::{
    AccountSnapshot, Event, EventKind, OpenStatus, OrderCancelled, OrderFailed, OrderFilled,
    PriceUpdate, Signal, SignalExecuted, SignalType, Timestamp, TimestampError, TradeClosed,
    TradeModified, TradeOpened, TradeStatus, TradeType,
};
pub use projection::{
    DayView, ExecutionRate, PerformanceSummary, Projections, QueryError, Rows, SignalView,
    SnapshotView, TimeBasis, TimeRange, TradeFilter, TradeStatistics, TradeView,
};
#[doc(no_inline)]
pub use rust_decimal::Decimal;
pub use storage::format::Durability;
pub use storage::journal::{Appended, Journal, JournalOptions, OpenMode};
pub use storage::reader::{JournalReader, Record};
