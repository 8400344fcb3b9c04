//! Loading a stored state (layout version [`PROJECTION_VERSION`], `docs/FORMAT.md` §6), and the
//! logical equality of states.
//!
//! Loading reads the section directory and decodes the `HOT` section only; the history stays
//! where it is (`stored.rs`). Framing and per-block checksums are the caller's
//! ([`StateBytes`]).

use std::sync::Arc;

use super::encode::{all_signals, all_snapshots, all_trades, Hot};
use super::signals::SignalRecord;
use super::snapshots::SnapshotRecord;
use super::stored::*;
use super::tally::DayTallies;
use super::trades::TradeRecord;
use super::Projections;
use crate::error::Corruption;
use crate::model::event::TradeStatus;

impl Projections {
    /// Loads a state stored as `layers`, bottom first (one, for a state written whole): the
    /// directories and the top layer's hot section are decoded and checked, the history is
    /// read in place from the layers by later queries.
    #[doc(hidden)]
    pub fn from_stored(layers: Vec<Arc<dyn StateBytes>>) -> Result<Projections, StateDecodeError> {
        let layers = (layers.into_iter())
            .map(|bytes| Layer::open(bytes).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(top) = layers.last().cloned() else {
            return Err(StateDecodeError::Malformed("no layer".into()));
        };
        let base = Base::new(layers).map_err(StateDecodeError::Malformed)?;
        let malformed = |e: postcard::Error| StateDecodeError::Malformed(e.to_string());
        let (hot, rest) = postcard::take_from_bytes::<Hot>(top.hot()?).map_err(malformed)?;
        if !rest.is_empty() {
            let reason = format!("{} trailing bytes after the hot state", rest.len());
            return Err(StateDecodeError::Malformed(reason));
        }
        let sorted =
            hot.links.is_sorted_by(|a, b| a.0 < b.0) && hot.relinks.is_sorted_by(|a, b| a.0 < b.0);
        if !sorted {
            return Err(StateDecodeError::Malformed("overrides out of order".into()));
        }
        let mut state = Projections {
            head_seq: hot.head_seq,
            applied_events: hot.applied_events,
            ignored_events: hot.ignored_events,
            names: hot.names,
            base_accounts: hot.snapshot_accounts,
            exit_days: hot.exit_days,
            exit_runs: hot.exit_runs,
            base_links: hot.links.into_iter().collect(),
            base_relinks: hot.relinks.into_iter().collect(),
            ..Projections::default()
        };
        state.signals.per_day = hot.signal_days;
        state.check_overrides(&base)?;
        state.add_live(&base, hot.live_trades)?;
        state.check_aggregates(&base)?;
        state.base = Some(Arc::new(base));
        Ok(state)
    }

    /// The seq of the layer a stored state lies on; `None` for a state written whole.
    #[doc(hidden)]
    pub fn stored_parent(bytes: Arc<dyn StateBytes>) -> Result<Option<u64>, StateDecodeError> {
        Ok(Layer::open(bytes)?.parent())
    }

    /// A state kept in memory (tests, fuzzing, benches): [`Projections::from_stored`] without
    /// checksums.
    #[doc(hidden)]
    pub fn decode_state(bytes: Vec<u8>) -> Result<Projections, StateDecodeError> {
        Projections::decode_layers(vec![bytes])
    }

    /// A state kept in memory as layers, bottom first ([`Projections::encode_layer`]).
    #[doc(hidden)]
    pub fn decode_layers(layers: Vec<Vec<u8>>) -> Result<Projections, StateDecodeError> {
        let layers = layers.into_iter();
        Projections::from_stored(layers.map(|b| Arc::new(b) as Arc<dyn StateBytes>).collect())
    }

    /// The overrides must name records of the layers below the top one, whose stored state
    /// they change: a signal not yet executed, a trade without a signal.
    fn check_overrides(&self, base: &Base) -> Result<(), StateDecodeError> {
        let below = base.part(0..base.layers().len().saturating_sub(1));
        let malformed = |reason: String| Err(StateDecodeError::Malformed(reason));
        let corrupt = StateDecodeError::Corrupt;
        for signal_id in self.base_links.keys() {
            let found = match &below {
                Some(below) => below.find_signal(*signal_id).map_err(corrupt)?,
                None => None,
            };
            if found.is_none_or(|(_, entry)| entry.executed) {
                return malformed(format!(
                    "link of signal {signal_id}, not a stored unexecuted signal below"
                ));
            }
        }
        for ticket in self.base_relinks.keys() {
            let found = match &below {
                Some(below) => below.find_trade(*ticket).map_err(corrupt)?,
                None => None,
            };
            if found.is_none() {
                return malformed(format!("link of trade {ticket}, not a stored trade below"));
            }
        }
        Ok(())
    }

    /// Indexes the OPEN and PENDING trades of the hot section, which must name stored names
    /// and tickets that are nowhere else.
    fn add_live(&mut self, base: &Base, live: Vec<TradeRecord>) -> Result<(), StateDecodeError> {
        let malformed = |reason: String| StateDecodeError::Malformed(reason);
        for record in live {
            let ticket = record.ticket;
            if !matches!(record.status, TradeStatus::Open | TradeStatus::Pending) {
                return Err(malformed(format!(
                    "live trade {ticket} is {}",
                    record.status
                )));
            }
            if !record.names_known(&self.names) {
                return Err(malformed(format!("trade {ticket} names an unknown string")));
            }
            let stored = base.find_trade(ticket).map_err(StateDecodeError::Corrupt)?;
            if self.trades.get(ticket).is_some() || stored.is_some() {
                return Err(malformed(format!("ticket {ticket} stored twice")));
            }
            self.trades.insert(record);
        }
        Ok(())
    }

    /// The stored aggregates must count what the base holds: a forged file whose counts
    /// disagree is refused, and counts are then small enough that no sum overflows.
    fn check_aggregates(&self, base: &Base) -> Result<(), StateDecodeError> {
        let malformed = |reason: &str| Err(StateDecodeError::Malformed(reason.into()));
        if !self.exit_days.is_sorted() {
            return malformed("per-day tallies out of order");
        }
        let closed = u128::from(base.count(TRADE_BY_EXIT));
        let counts = |days: &DayTallies| days.trade_count();
        if counts(&self.exit_days) != closed {
            return malformed("per-day tallies disagree with the closed trades");
        }
        if !self.exit_runs.is_consistent() || self.exit_runs.trade_count() != closed {
            return malformed("per-day runs disagree with the closed trades");
        }
        let days = self.signals.per_day.values();
        let total: u128 = days.clone().map(|d| u128::from(d.total)).sum();
        let sane = days.into_iter().all(|d| d.executed <= d.total);
        if !sane || total != u128::from(base.count(SIGNAL_BY_ID)) {
            return malformed("per-day signal counts disagree with the signals");
        }
        let accounts = &self.base_accounts;
        if !accounts.windows(2).all(|w| w[0] < w[1]) {
            return malformed("snapshot accounts out of order");
        }
        Ok(())
    }

    /// Logical equality: the same counters, names, aggregates and records, wherever each is
    /// kept (base or memory). A damaged base makes the states unequal.
    fn same_as(&self, other: &Projections) -> Result<bool, Box<Corruption>> {
        let counters = |p: &Projections| (p.head_seq, p.applied_events, p.ignored_events);
        if counters(self) != counters(other)
            || self.damage.is_some()
            || other.damage.is_some()
            || self.names != other.names
            || self.exit_days != other.exit_days
            || self.exit_runs != other.exit_runs
            || self.signals.per_day != other.signals.per_day
            || self.accounts() != other.accounts()
        {
            return Ok(false);
        }
        if !same_items(self.every_trade(), other.every_trade())? {
            return Ok(false);
        }
        if !same_items(self.every_signal(), other.every_signal())? {
            return Ok(false);
        }
        same_items(self.every_snapshot(), other.every_snapshot())
    }

    /// Every trade by ticket, wherever it is kept.
    fn every_trade(&self) -> impl Iterator<Item = Result<TradeRecord, Box<Corruption>>> + '_ {
        let mut memory: Vec<TradeRecord> = self.trades.records.iter().cloned().collect();
        memory.sort_unstable_by_key(|r| r.ticket);
        let base = self.base.as_deref();
        all_trades(base, &self.names, &self.base_relinks, memory.into_iter())
    }

    /// Every signal by signal_id, wherever it is kept.
    fn every_signal(&self) -> impl Iterator<Item = Result<SignalRecord, Box<Corruption>>> + '_ {
        let mut memory: Vec<SignalRecord> = self.signals.records.iter().cloned().collect();
        memory.sort_unstable_by_key(|r| r.signal_id);
        let base = self.base.as_deref();
        all_signals(base, &self.names, &self.base_links, memory.into_iter())
    }

    /// Every snapshot by (account, snapshot_time, seq), wherever it is kept.
    fn every_snapshot(&self) -> impl Iterator<Item = Result<SnapshotRecord, Box<Corruption>>> + '_ {
        let mut memory: Vec<SnapshotRecord> = self.snapshots.records.iter().cloned().collect();
        memory.sort_unstable_by_key(|r| (r.account_number, r.key()));
        all_snapshots(self.base.as_deref(), &self.names, memory.into_iter())
    }
}

/// Whether two fallible sequences hold equal items; the first error is returned.
fn same_items<T: PartialEq>(
    mut a: impl Iterator<Item = Result<T, Box<Corruption>>>,
    mut b: impl Iterator<Item = Result<T, Box<Corruption>>>,
) -> Result<bool, Box<Corruption>> {
    loop {
        match (a.next().transpose()?, b.next().transpose()?) {
            (None, None) => return Ok(true),
            (Some(x), Some(y)) if x == y => continue,
            _ => return Ok(false),
        }
    }
}

/// Logical equality (see `same_as`); a state that cannot be read equals nothing.
impl PartialEq for Projections {
    fn eq(&self, other: &Projections) -> bool {
        self.same_as(other).unwrap_or(false)
    }
}
