//! In-memory projections of the event stream (`docs/PROJECTIONS.md`): the trades, signals,
//! account snapshots and daily performance of `docs/INTERCHANGE.md` §4, kept live by
//! [`Projections::apply`] and identical when rebuilt by replaying the journal.
//!
//! **Architecture invariant:** projections do no I/O and never see bytes of the log. They get
//! `(seq, recorded_at, &Event)` in log order; a checkpoint is bytes in and out
//! ([`Projections::encode_state`], [`Projections::decode_state`]), framed elsewhere.

mod apply;
mod checkpoint;
mod chunked;
mod intern;
mod memory;
mod query;
mod signals;
mod snapshots;
mod tally;
mod time;
mod trades;
mod validate;
mod view;

#[cfg(test)]
mod tests;

pub use checkpoint::{StateDecodeError, PROJECTION_VERSION};
pub use memory::MemoryEstimate;
pub use query::{TimeBasis, TimeRange, TradeFilter};
pub use tally::ArithmeticOverflow;
pub use validate::{Rule, Violation};
pub use view::{
    DayView, ExecutionRate, PerformanceSummary, SignalView, SnapshotView, TradeStatistics,
    TradeView,
};

use intern::Interner;
use signals::SignalBook;
use snapshots::SnapshotBook;
use tally::DayTallies;
use trades::TradeBook;

/// All projection state. The checkpoint layout mirrors these fields (`checkpoint.rs`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projections {
    /// Sequence number of the last applied event (0 before the first).
    head_seq: u64,
    applied_events: u64,
    /// Events that `check` refuses, met during `apply` (see [`Projections::ignored_events`]).
    ignored_events: u64,
    names: Interner,
    trades: TradeBook,
    signals: SignalBook,
    snapshots: SnapshotBook,
    /// Closed trades per UTC day of exit_time: the daily table and `stats --by exit`.
    exit_days: DayTallies,
    /// Closed trades per UTC day of entry_time: `stats --by entry`.
    entry_days: DayTallies,
}

impl Projections {
    pub fn new() -> Projections {
        Projections::default()
    }

    /// Sequence number of the last applied event; 0 before the first one (use
    /// [`Projections::applied_events`] to tell "nothing applied" from "applied seq 0").
    pub fn head_seq(&self) -> u64 {
        self.head_seq
    }

    pub fn applied_events(&self) -> u64 {
        self.applied_events
    }

    /// Events that broke a §3 rule when applied, and were skipped. Always 0 for a journal
    /// whose events were checked before they were appended; non-zero means the log holds
    /// events the current rules refuse, which its opener should report.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }
}
