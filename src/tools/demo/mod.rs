//! The paper trader: a simulation of the old forex bot over recorded bars, writing the events
//! a live trader would write. Pure logic: it appends to any [`EventSink`] and never reads the
//! wall clock for event times. The model is described in `docs/DEMO.md`.
//!
//! * [`bars`]: OHLCV bars from CSV.
//! * [`strategy`]: a moving-average crossover that signals every bar.
//! * [`account`]: profit, margin and equity arithmetic.
//! * [`trader`]: a `CurrencyTrader` per strategy (fills, stops, pending orders, rejections).
//! * [`orchestrator`]: traders side by side in lockstep cycles, account snapshots, [`run`].

pub mod account;
pub mod bars;
pub mod config;
pub mod orchestrator;
pub mod sink;
pub mod strategy;
pub mod trader;

#[cfg(test)]
mod tests;

pub use account::{Account, ContractSpec, Position, Quote};
pub use bars::{load_bars, parse_bars, Bar, BarsError};
pub use config::{DemoConfig, TraderConfig, ID_BLOCK};
pub use orchestrator::{event_trader, run, DemoSummary};
pub use sink::{EventSink, MemorySink, SinkError};
pub use strategy::{MaCrossover, StrategySignal};
pub use trader::{exit_in_bar, CurrencyTrader, Exit, PendingOrder, TraderStats};
