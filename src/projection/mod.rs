//! In-memory projections of the event stream (`docs/PROJECTIONS.md`): the trades, signals,
//! account snapshots and daily performance of `docs/INTERCHANGE.md` §4, kept live by
//! [`Projections::apply`] and identical when rebuilt by replaying the journal.
//!
//! **Architecture invariant:** projections do no I/O and never see bytes of the log. They get
//! `(seq, recorded_at, &Event)` in log order; a checkpoint is bytes in and out
//! ([`StateSnapshot::write`], [`Projections::from_stored`]), framed and checksummed elsewhere.
//!
//! The state is a *base* (the history of a checkpoint, read in place through [`StateBytes`])
//! plus in-memory tables for everything since and for what can still change (`stored.rs`).

mod apply;
mod checkpoint;
mod chunked;
mod closed;
mod encode;
mod equity;
mod id_index;
mod intern;
mod inventory;
mod memory;
mod query;
mod run;
mod signals;
mod snapshots;
mod stored;
mod tally;
mod time;
mod time_index;
mod trades;
mod validate;
mod view;
mod walk;

#[cfg(test)]
mod tests;

pub use crate::model::contract::{Rule, Violation};
pub(crate) use chunked::drop_elsewhere;
pub use closed::{for_each_closed_trade_across, statistics_across, ClosedTrade, StatisticsBuilder};
pub use encode::{StateSnapshot, WriteStateError};
pub use equity::{equity_summary_across, EquityTracker};
pub use inventory::{
    inventory_across, AccountInventory, Inventory, MagicInventory, StrategyInventory,
    SymbolInventory, TradesAndSignals,
};
pub use memory::MemoryEstimate;
pub use query::{
    daily_rows_across, execution_rate_across, summary_across, QueryError, Rows, TimeBasis,
    TimeRange, TradeFilter,
};
pub use stored::{StateBytes, StateDecodeError, PROJECTION_VERSION};
pub use tally::{ArithmeticOverflow, TradeSelect};
pub use validate::CheckError;
pub use view::{
    DayView, Drawdown, EquityAt, EquityPoint, EquitySummary, ExecutionRate, PerformanceSummary,
    SignalView, SnapshotView, TradeStatistics, TradeView,
};

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::error::Corruption;
use intern::Interner;
use run::DayRuns;
use signals::SignalBook;
use snapshots::SnapshotBook;
use stored::Base;
use tally::DayTallies;
use trades::TradeBook;

/// A signal of the base executed after the checkpoint: the linked ticket and the reason.
pub(crate) type Link = (u64, Option<Box<str>>);

/// All projection state. Equality is logical (`checkpoint.rs`): the same records, counters and
/// aggregates, whichever part is stored in the base and which in memory.
#[derive(Clone, Debug, Default)]
pub struct Projections {
    /// Sequence number of the last applied event (0 before the first).
    head_seq: u64,
    applied_events: u64,
    /// Events that `check` refuses, met during `apply` (see [`Projections::ignored_events`]).
    ignored_events: u64,
    names: Interner,
    /// The finished trades, signals and snapshots of the checkpoint this state was loaded
    /// from, read in place. `None` for a state built by replay alone.
    base: Option<Arc<Base>>,
    /// Accounts with snapshots in the base, ascending.
    base_accounts: Vec<u64>,
    /// Trades not in the base: the OPEN and PENDING trades of the checkpoint and every trade
    /// since.
    trades: TradeBook,
    /// Signals since the checkpoint; `per_day` counts every signal.
    signals: SignalBook,
    /// Snapshots since the checkpoint.
    snapshots: SnapshotBook,
    /// Closed trades per UTC day of exit_time: the daily table and `stats --by exit`.
    exit_days: DayTallies,
    /// Runs of closed trades per UTC day of exit_time: streaks and drawdown of `stats`.
    exit_runs: DayRuns,
    /// Signals of the base executed since the checkpoint, by signal_id.
    base_links: FxHashMap<u64, Link>,
    /// Trades of the base linked to a signal since the checkpoint: ticket → signal_id.
    base_relinks: FxHashMap<u64, u64>,
    /// The first damage met while applying an event (a base block that failed its check):
    /// from then on the state is incomplete and every query reports it.
    damage: Option<Box<Corruption>>,
}

impl Projections {
    /// The empty state, before any event: what replaying a journal starts from.
    pub fn new() -> Projections {
        Projections::default()
    }

    /// Sequence number of the last applied event; 0 before the first one (use
    /// [`Projections::applied_events`] to tell "nothing applied" from "applied seq 0").
    pub fn head_seq(&self) -> u64 {
        self.head_seq
    }

    /// How many events were applied (those [`Projections::ignored_events`] counts included):
    /// the number of records the state covers.
    pub fn applied_events(&self) -> u64 {
        self.applied_events
    }

    /// Events that broke a §3 rule when applied, and were skipped. Always 0 for a journal
    /// whose events were checked before they were appended; non-zero means the log holds
    /// events the current rules refuse, which its opener should report.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }

    /// The damage that made `apply` skip an event, if any: such a state must be rebuilt by
    /// replay (the ledger does so at open).
    pub fn damage(&self) -> Option<&Corruption> {
        self.damage.as_deref()
    }
}
