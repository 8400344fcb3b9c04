//! Checkpoint state: the projections as bytes (postcard), and back.
//!
//! Layout version [`PROJECTION_VERSION`] (`docs/PROJECTIONS.md` §Checkpoint): a varint `u32`
//! version, then [`Projections`] field by field. Only the primary records, the per-day
//! tallies and counters are stored; the hash and B-tree indexes are rebuilt on load. Framing
//! and checksums are the caller's.

use serde::{Deserialize, Serialize};

use super::intern::Interner;
use std::collections::BTreeMap;

use super::signals::{SignalBook, SignalCount};
use super::snapshots::SnapshotBook;
use super::tally::DayTallies;
use super::time::{day_of, Day};
use super::trades::TradeBook;
use super::Projections;
use crate::event::TradeStatus;

/// Bump on any change to the stored structs (field order, types, meaning).
pub const PROJECTION_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateDecodeError {
    #[error("checkpoint state has layout version {found}, this build reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("malformed checkpoint state: {0}")]
    Malformed(String),
}

/// The stored fields, by position. Private, so that no caller can deserialize a
/// `Projections` without its indexes being rebuilt.
#[derive(Serialize)]
struct StoredRef<'a> {
    head_seq: u64,
    applied_events: u64,
    ignored_events: u64,
    names: &'a Interner,
    trades: &'a TradeBook,
    signals: &'a SignalBook,
    snapshots: &'a SnapshotBook,
    exit_days: &'a DayTallies,
    entry_days: &'a DayTallies,
}

/// The same fields, owned, for decoding (serde encodes `&T` exactly as `T`).
#[derive(Deserialize)]
struct Stored {
    head_seq: u64,
    applied_events: u64,
    ignored_events: u64,
    names: Interner,
    trades: TradeBook,
    signals: SignalBook,
    snapshots: SnapshotBook,
    exit_days: DayTallies,
    entry_days: DayTallies,
}

impl Projections {
    pub fn encode_state(&self) -> Vec<u8> {
        // Every stored type has an infallible postcard encoding into a Vec (no unsized
        // sequences, map keys are plain values).
        let stored = StoredRef {
            head_seq: self.head_seq,
            applied_events: self.applied_events,
            ignored_events: self.ignored_events,
            names: &self.names,
            trades: &self.trades,
            signals: &self.signals,
            snapshots: &self.snapshots,
            exit_days: &self.exit_days,
            entry_days: &self.entry_days,
        };
        postcard::to_stdvec(&(PROJECTION_VERSION, stored))
            .expect("postcard encoding of projection state into a Vec is infallible")
    }

    pub fn decode_state(bytes: &[u8]) -> Result<Projections, StateDecodeError> {
        let malformed = |e: postcard::Error| StateDecodeError::Malformed(e.to_string());
        let (found, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(malformed)?;
        if found != PROJECTION_VERSION {
            let expected = PROJECTION_VERSION;
            return Err(StateDecodeError::Version { found, expected });
        }
        let (stored, rest) = postcard::take_from_bytes::<Stored>(rest).map_err(malformed)?;
        if !rest.is_empty() {
            let reason = format!("{} trailing bytes", rest.len());
            return Err(StateDecodeError::Malformed(reason));
        }
        let mut state = Projections {
            head_seq: stored.head_seq,
            applied_events: stored.applied_events,
            ignored_events: stored.ignored_events,
            names: stored.names,
            trades: stored.trades,
            signals: stored.signals,
            snapshots: stored.snapshots,
            exit_days: stored.exit_days,
            entry_days: stored.entry_days,
        };
        state.rebuild().map_err(StateDecodeError::Malformed)?;
        Ok(state)
    }

    /// Rebuilds the indexes and checks what the records refer to.
    fn rebuild(&mut self) -> Result<(), String> {
        self.trades.rebuild_indexes()?;
        self.signals.rebuild_indexes()?;
        self.snapshots.rebuild_indexes()?;
        let names = &self.names;
        let trade_names =
            self.trades.records.iter().all(|r| {
                names.contains(r.symbol) && r.strategy_name.is_none_or(|s| names.contains(s))
            });
        let signal_names = self.signals.records.iter().all(|r| {
            names.contains(r.symbol)
                && names.contains(r.strategy_name)
                && names.contains(r.timeframe)
        });
        let snapshot_names = (self.snapshots.records.iter())
            .all(|r| names.contains(r.server) && names.contains(r.broker));
        if !(trade_names && signal_names && snapshot_names) {
            return Err("a record names an interned string that is not stored".into());
        }
        if !(self.exit_days.is_sorted() && self.entry_days.is_sorted()) {
            return Err("per-day tallies out of order".into());
        }
        self.check_aggregates()
    }

    /// The per-day aggregates are stored, but must be what the records add up to: a
    /// checkpoint whose counts disagree (damage that kept its checksum, or a forged file) is
    /// refused, never summed into overflowing or wrong statistics.
    fn check_aggregates(&self) -> Result<(), String> {
        let (mut exit_days, mut entry_days) = (DayTallies::default(), DayTallies::default());
        for record in self.trades.records.iter() {
            if record.status != TradeStatus::Closed {
                continue;
            }
            let (Some(exit_time), Some(profit)) = (record.exit_time, record.profit) else {
                return Err(format!(
                    "closed trade {} without exit time or profit",
                    record.ticket
                ));
            };
            let (account, symbol) = (record.account_number, record.symbol);
            exit_days.add(day_of(exit_time), account, symbol, profit);
            entry_days.add(day_of(record.entry_time), account, symbol, profit);
        }
        if exit_days != self.exit_days || entry_days != self.entry_days {
            return Err("per-day tallies disagree with the closed trades".into());
        }
        let mut per_day: BTreeMap<Day, SignalCount> = BTreeMap::new();
        for record in self.signals.records.iter() {
            let count = per_day.entry(day_of(record.timestamp)).or_default();
            count.total += 1;
            count.executed += u64::from(record.executed);
        }
        if per_day != self.signals.per_day {
            return Err("per-day signal counts disagree with the signals".into());
        }
        Ok(())
    }
}
