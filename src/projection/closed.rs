//! Statistics of closed trades over any selection (`docs/INTERCHANGE.md` §4), and the walk of
//! closed trades in (exit_time, ticket) order they rest on.
//!
//! Two ways to the same numbers, one the check of the other (`tests/projection_model.rs`):
//! - **Per-day aggregates.** `stats` by exit time, selected by account and symbol, merges the
//!   tallies and runs kept per UTC day (`tally.rs`, `run.rs`), scanning only the partial days at
//!   the ends and any day whose run cannot be used: a query over years costs one merge per day.
//! - **A walk.** Any other selection (strategy, magic number, `--by entry`) or grouping walks
//!   the selected trades one at a time: O(trades selected), and for `--by entry` they are
//!   collected and sorted by exit key first, since runs count trades in exit order.

use rust_decimal::Decimal;

use super::intern::Sym;
use super::query::{QueryError, TimeBasis, TimeRange};
use super::run::{Accumulator, DayRunSource};
use super::tally::{ArithmeticOverflow, CellFilter, Outcome, TradeSelect};
use super::time::{clamp, day_end, day_start_nanos, split_days};
use super::time_index::time_keys;
use super::trades::TradeHead;
use super::view::TradeStatistics;
use super::walk::ALL_KEYS;
use super::Projections;
use crate::model::event::Timestamp;

/// A CLOSED trade as statistics see it: its keys, its groupings and what it earned.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClosedTrade<'a> {
    /// The broker's ticket: unique within one journal.
    pub ticket: u64,
    /// When the trade was filled, UTC.
    pub entry_time: Timestamp,
    /// When it was closed, UTC.
    pub exit_time: Timestamp,
    /// Its account, if the journal records one.
    pub account_number: Option<u64>,
    /// Its symbol.
    pub symbol: &'a str,
    /// The strategy that opened it, if named.
    pub strategy_name: Option<&'a str>,
    /// The magic number of its order.
    pub magic_number: u64,
    /// The realized profit, exact, in the account currency.
    pub profit: Decimal,
    /// The commission, signed as the broker reports it (a cost is negative).
    pub commission: Decimal,
    /// The swap, signed likewise.
    pub swap: Decimal,
}

impl ClosedTrade<'_> {
    pub(super) fn outcome(&self) -> Outcome {
        Outcome {
            profit: self.profit,
            commission: self.commission,
            swap: self.swap,
        }
    }
}

/// The `stats` object of closed trades given one at a time in (exit_time, ticket) order: the
/// same arithmetic as [`Projections::statistics`], for groupings and sets of journals.
#[derive(Clone, Debug, Default)]
pub struct StatisticsBuilder(Accumulator);

impl StatisticsBuilder {
    /// No trade counted yet.
    pub fn new() -> StatisticsBuilder {
        StatisticsBuilder::default()
    }

    /// Counts `trade`, which comes after every trade counted so far in (exit_time, ticket)
    /// order (the streaks and the drawdown depend on it).
    pub fn add(&mut self, trade: &ClosedTrade) {
        self.0.add(trade.outcome());
    }

    /// The `stats` object of the trades counted so far.
    pub fn statistics(&self) -> Result<TradeStatistics, ArithmeticOverflow> {
        self.0.statistics()
    }
}

impl Outcome {
    /// What a closed trade's head adds to a tally, without resolving its names.
    fn of(head: &TradeHead) -> Outcome {
        Outcome {
            profit: head.profit.unwrap_or_default(),
            commission: head.commission,
            swap: head.swap,
        }
    }
}

/// A [`TradeSelect`] with its names resolved to this state's symbols.
#[derive(Clone, Copy)]
struct Resolved {
    cells: CellFilter,
    strategy: Option<Sym>,
    magic: Option<u64>,
}

impl Resolved {
    fn matches(&self, head: &TradeHead) -> bool {
        self.cells.matches(head.account_number, head.symbol)
            && self.strategy.is_none_or(|s| head.strategy_name == Some(s))
            && self.magic.is_none_or(|m| head.magic_number == m)
    }
}

impl Projections {
    /// `None` when a name is asked for that the journal has never seen: nothing matches.
    fn resolve(&self, select: &TradeSelect) -> Option<Resolved> {
        Some(Resolved {
            cells: self.cell_filter(select.symbol, select.account)?,
            strategy: self.name_filter(select.strategy)?,
            magic: select.magic,
        })
    }

    fn closed_trade(&self, head: &TradeHead) -> ClosedTrade<'_> {
        ClosedTrade {
            ticket: head.ticket,
            entry_time: head.entry_time,
            exit_time: head.exit_time.unwrap_or(head.entry_time),
            account_number: head.account_number,
            symbol: self.names.name(head.symbol),
            strategy_name: head.strategy_name.map(|s| self.names.name(s)),
            magic_number: head.magic_number,
            profit: head.profit.unwrap_or_default(),
            commission: head.commission,
            swap: head.swap,
        }
    }

    /// Calls `visit` with each CLOSED trade selected by `select` whose exit (or entry) time is
    /// in `range`, in (exit_time, ticket) order, one at a time, nothing collected. By entry
    /// time the walk goes by exit from the range's start (a trade never exits before it
    /// enters: a rule), passing over the trades entered outside the range undecoded.
    pub fn for_each_closed_trade<'s>(
        &'s self,
        range: TimeRange,
        by: TimeBasis,
        select: &TradeSelect,
        mut visit: impl FnMut(&ClosedTrade<'s>),
    ) -> Result<(), QueryError> {
        self.intact()?;
        let (Some(wanted), Some(keys)) = (self.resolve(select), time_keys(range.from, range.to))
        else {
            return Ok(());
        };
        let (exits, entered) = match by {
            TimeBasis::Exit => (keys, None),
            TimeBasis::Entry => {
                let ((from, _), (to, _)) = (*keys.start(), *keys.end());
                ((from, 0)..=*ALL_KEYS.end(), Some(from..=to))
            }
        };
        self.for_each_closed_head(exits, entered, |head| {
            if wanted.matches(&head) {
                visit(&self.closed_trade(&head));
            }
        })?;
        Ok(())
    }

    /// Statistics of the CLOSED trades selected by `select` whose exit (or entry) time is in
    /// `range` (§4).
    pub fn statistics(
        &self,
        range: TimeRange,
        by: TimeBasis,
        select: &TradeSelect,
    ) -> Result<TradeStatistics, QueryError> {
        self.intact()?;
        let Some(wanted) = self.resolve(select) else {
            return Ok(Accumulator::default().statistics()?);
        };
        if by == TimeBasis::Exit && wanted.strategy.is_none() && wanted.magic.is_none() {
            return self.statistics_by_day(range, wanted.cells);
        }
        let mut statistics = StatisticsBuilder::new();
        self.for_each_closed_trade(range, by, select, |trade| statistics.add(trade))?;
        Ok(statistics.statistics()?)
    }

    /// [`Projections::statistics`] by exit time from the per-day tallies and runs.
    fn statistics_by_day(
        &self,
        range: TimeRange,
        cells: CellFilter,
    ) -> Result<TradeStatistics, QueryError> {
        let split = split_days(range.from, range.to);
        let [head, tail] = split.pieces;
        let mut total = match head {
            Some((from, to)) => self.scan_exit(from, to, cells)?,
            None => Accumulator::default(),
        };
        if let Some(whole) = split.whole_days {
            total.tally.merge(&self.exit_days.sum(whole, cells));
            for (day, source) in self.exit_runs.sources(whole, cells) {
                total.run = match source {
                    DayRunSource::Kept(kept) => total.run.then(kept),
                    DayRunSource::Empty => continue,
                    DayRunSource::Scan => {
                        let start = clamp(day_start_nanos(day));
                        let day = self.scan_exit(start, day_end(day), cells)?;
                        total.run.then(&day.run)
                    }
                };
            }
        }
        if let Some((from, to)) = tail {
            let last = self.scan_exit(from, to, cells)?;
            total.tally.merge(&last.tally);
            total.run = total.run.then(&last.run);
        }
        Ok(total.statistics()?)
    }

    /// The tally and run of the CLOSED trades in `cells` with an exit time in `[from, to]`.
    fn scan_exit(
        &self,
        from: Timestamp,
        to: Timestamp,
        cells: CellFilter,
    ) -> Result<Accumulator, QueryError> {
        let mut part = Accumulator::default();
        if let Some(keys) = time_keys(Some(from), Some(to)) {
            self.for_each_closed_head(keys, None, |head| {
                if cells.matches(head.account_number, head.symbol) {
                    part.add(Outcome::of(&head));
                }
            })?;
        }
        Ok(part)
    }
}

/// [`Projections::for_each_closed_trade`] over several journals' states as one (a firm-wide
/// view): each trade with the index of its state, in (exit_time, state index, ticket) order,
/// since tickets are unique within one journal only. With more than one state, the selected
/// trades are collected and sorted first.
pub fn for_each_closed_trade_across<'s>(
    states: &[&'s Projections],
    range: TimeRange,
    by: TimeBasis,
    select: &TradeSelect,
    mut visit: impl FnMut(usize, &ClosedTrade<'s>),
) -> Result<(), QueryError> {
    if let [only] = states {
        return only.for_each_closed_trade(range, by, select, |trade| visit(0, trade));
    }
    let mut all = Vec::new();
    for (index, state) in states.iter().enumerate() {
        state.for_each_closed_trade(range, by, select, |trade| all.push((index, *trade)))?;
    }
    all.sort_unstable_by_key(|(index, t)| (t.exit_time, *index, t.ticket));
    all.iter().for_each(|(index, trade)| visit(*index, trade));
    Ok(())
}

/// [`Projections::statistics`] over several journals' states as one.
pub fn statistics_across(
    states: &[&Projections],
    range: TimeRange,
    by: TimeBasis,
    select: &TradeSelect,
) -> Result<TradeStatistics, QueryError> {
    if let [only] = states {
        return only.statistics(range, by, select);
    }
    let mut statistics = StatisticsBuilder::new();
    for_each_closed_trade_across(states, range, by, select, |_, t| statistics.add(t))?;
    Ok(statistics.statistics()?)
}
