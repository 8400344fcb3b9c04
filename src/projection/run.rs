//! The figures of closed trades that depend on their order: the longest runs of wins and of
//! losses, and the largest fall of cumulative profit (`docs/INTERCHANGE.md` §4), over trades
//! in (exit_time, ticket) order.
//!
//! A [`Run`] is a monoid: `a.then(&b)` is the run of a's trades followed by b's, so per-day
//! runs merge into the run of any span of days, like tallies do. Unlike a tally, a run must
//! see its trades in order. [`DayRuns`] keeps one per UTC exit day (and per account and
//! symbol of that day) and marks it disordered when a trade arrives with an earlier exit key
//! than one already counted; a query then scans that day's trades instead.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::intern::Sym;
use super::tally::{ArithmeticOverflow, CellFilter, Outcome, Tally};
use super::time::{Day, DayBounds};
use super::time_index::TimeKey;
use super::view::TradeStatistics;
use crate::model::event::compact;

/// Runs of wins and losses and the drawdown of cumulative profit over trades in order. A
/// breakeven trade (profit exactly zero) ends a run of wins and a run of losses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run {
    trades: u64,
    /// Wins at the start, at the end, and the longest run anywhere.
    lead_wins: u64,
    trail_wins: u64,
    max_wins: u64,
    lead_losses: u64,
    trail_losses: u64,
    max_losses: u64,
    /// The sum of the profits.
    #[serde(with = "compact::decimal")]
    sum: Decimal,
    /// The highest cumulative profit, the empty start (0) included: at least 0.
    #[serde(with = "compact::decimal")]
    peak: Decimal,
    /// The lowest cumulative profit, the empty start included: at most 0.
    #[serde(with = "compact::decimal")]
    trough: Decimal,
    /// The largest fall from a cumulative profit to a later one: at least 0.
    #[serde(with = "compact::decimal")]
    drawdown: Decimal,
    overflowed: bool,
}

impl Run {
    /// The run of one trade.
    fn of(profit: Decimal) -> Run {
        let win = u64::from(profit > Decimal::ZERO);
        let loss = u64::from(profit < Decimal::ZERO);
        Run {
            trades: 1,
            lead_wins: win,
            trail_wins: win,
            max_wins: win,
            lead_losses: loss,
            trail_losses: loss,
            max_losses: loss,
            sum: profit,
            peak: profit.max(Decimal::ZERO),
            trough: profit.min(Decimal::ZERO),
            drawdown: (-profit).max(Decimal::ZERO),
            overflowed: false,
        }
    }

    /// Appends one trade after those already counted.
    pub fn add(&mut self, profit: Decimal) {
        *self = self.then(&Run::of(profit));
    }

    /// The run of `self`'s trades followed by `next`'s.
    pub fn then(&self, next: &Run) -> Run {
        let lead = |a_lead: u64, b_lead: u64| match a_lead == self.trades {
            true => self.trades + b_lead,
            false => a_lead,
        };
        let trail = |a_trail: u64, b_trail: u64| match b_trail == next.trades {
            true => next.trades + a_trail,
            false => b_trail,
        };
        let mut overflowed = self.overflowed || next.overflowed;
        let mut add = |a: Decimal, b: Decimal| {
            a.checked_add(b).unwrap_or_else(|| {
                overflowed = true;
                Decimal::ZERO
            })
        };
        let sum = add(self.sum, next.sum);
        let peak = self.peak.max(add(self.sum, next.peak));
        let lowest_next = add(self.sum, next.trough);
        let trough = self.trough.min(lowest_next);
        let across = add(self.peak, -lowest_next);
        Run {
            trades: self.trades + next.trades,
            lead_wins: lead(self.lead_wins, next.lead_wins),
            trail_wins: trail(self.trail_wins, next.trail_wins),
            max_wins: (self.max_wins.max(next.max_wins)).max(self.trail_wins + next.lead_wins),
            lead_losses: lead(self.lead_losses, next.lead_losses),
            trail_losses: trail(self.trail_losses, next.trail_losses),
            max_losses: (self.max_losses.max(next.max_losses))
                .max(self.trail_losses + next.lead_losses),
            sum,
            peak,
            trough,
            drawdown: self.drawdown.max(next.drawdown).max(across),
            overflowed,
        }
    }

    pub fn max_consecutive_wins(&self) -> u64 {
        self.max_wins
    }

    pub fn max_consecutive_losses(&self) -> u64 {
        self.max_losses
    }

    pub fn max_drawdown(&self) -> Result<Decimal, ArithmeticOverflow> {
        match self.overflowed {
            true => Err(ArithmeticOverflow),
            false => Ok(self.drawdown),
        }
    }

    pub fn trades(&self) -> u64 {
        self.trades
    }
}

/// The statistics of a group of closed trades met one at a time in (exit_time, ticket)
/// order: a tally and a run of the same trades.
#[derive(Clone, Debug, Default)]
pub(crate) struct Accumulator {
    pub tally: Tally,
    pub run: Run,
}

impl Accumulator {
    pub fn add(&mut self, outcome: Outcome) {
        self.tally.add(outcome);
        self.run.add(outcome.profit);
    }

    /// The `stats` object of the trades counted.
    pub fn statistics(&self) -> Result<TradeStatistics, ArithmeticOverflow> {
        debug_assert_eq!(
            self.run.trades(),
            self.tally.total(),
            "a run of other trades"
        );
        Ok(TradeStatistics {
            max_consecutive_wins: self.run.max_consecutive_wins(),
            max_consecutive_losses: self.run.max_consecutive_losses(),
            max_drawdown: self.run.max_drawdown()?,
            ..self.tally.order_free_statistics()?
        })
    }
}

/// A run kept as trades arrive, which may be out of order: then it is marked, and not used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderedRun {
    run: Run,
    last: Option<TimeKey>,
    disordered: bool,
}

impl OrderedRun {
    fn add(&mut self, key: TimeKey, profit: Decimal) {
        self.disordered |= self.last.is_some_and(|last| key < last);
        self.last = Some(self.last.map_or(key, |last| last.max(key)));
        self.run.add(profit);
    }

    /// The run, if every trade arrived in order.
    fn ordered(&self) -> Option<&Run> {
        (!self.disordered).then_some(&self.run)
    }
}

/// One UTC exit day: the run of all its trades, and one per (account, symbol), sorted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct DayRun {
    whole: OrderedRun,
    cells: Vec<(Option<u64>, Sym, OrderedRun)>,
}

/// How a query gets the run of one day's trades that match its filter.
pub(crate) enum DayRunSource<'a> {
    /// Kept in order: use it.
    Kept(&'a Run),
    /// No trade of the day matches.
    Empty,
    /// Several (account, symbol) cells match but not all, or the run kept is disordered:
    /// scan the day's trades.
    Scan,
}

/// Runs of closed trades per UTC day of exit_time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DayRuns {
    days: BTreeMap<Day, DayRun>,
}

impl DayRuns {
    pub fn add(
        &mut self,
        day: Day,
        key: TimeKey,
        account: Option<u64>,
        symbol: Sym,
        profit: Decimal,
    ) {
        let day = self.days.entry(day).or_default();
        day.whole.add(key, profit);
        let cells = &mut day.cells;
        let index = match cells.binary_search_by(|c| (c.0, c.1).cmp(&(account, symbol))) {
            Ok(found) => found,
            Err(free) => {
                cells.insert(free, (account, symbol, OrderedRun::default()));
                free
            }
        };
        cells[index].2.add(key, profit);
    }

    /// Each day in `days` on which a trade was closed, with where its matching run comes from.
    pub fn sources(
        &self,
        days: DayBounds,
        filter: CellFilter,
    ) -> impl Iterator<Item = (Day, DayRunSource<'_>)> + '_ {
        self.days.range(days).map(move |(day, runs)| {
            let mut matching = runs.cells.iter().filter(|c| filter.matches(c.0, c.1));
            let source = match (matching.next(), matching.next()) {
                (None, _) => DayRunSource::Empty,
                (Some(only), None) => only
                    .2
                    .ordered()
                    .map_or(DayRunSource::Scan, DayRunSource::Kept),
                (Some(_), Some(_)) => {
                    let all = runs.cells.iter().all(|c| filter.matches(c.0, c.1));
                    match all.then(|| runs.whole.ordered()).flatten() {
                        Some(run) => DayRunSource::Kept(run),
                        None => DayRunSource::Scan,
                    }
                }
            };
            (*day, source)
        })
    }

    /// Cells strictly sorted on every day, each day's whole run counting what its cells
    /// count (checked on checkpoint load).
    pub fn is_consistent(&self) -> bool {
        self.days.values().all(|day| {
            let sorted = day
                .cells
                .windows(2)
                .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1));
            let counted: u128 = day.cells.iter().map(|c| u128::from(c.2.run.trades)).sum();
            sorted && counted == u128::from(day.whole.run.trades)
        })
    }

    /// The number of trades counted (wide: a forged file may hold any counts).
    pub fn trade_count(&self) -> u128 {
        self.days
            .values()
            .map(|d| u128::from(d.whole.run.trades))
            .sum()
    }

    /// Bytes held, roughly.
    pub fn approximate_bytes(&self) -> usize {
        let cells: usize = self.days.values().map(|d| d.cells.capacity()).sum();
        cells * size_of::<(Option<u64>, Sym, OrderedRun)>()
            + self.days.len() * size_of::<(Day, DayRun)>() * 3 / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The figures computed the obvious way over a list of profits.
    fn naive(profits: &[Decimal]) -> (u64, u64, Decimal) {
        let (mut wins, mut losses, mut best_wins, mut best_losses) = (0, 0, 0, 0);
        let (mut cumulative, mut peak, mut drawdown) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for p in profits {
            wins = if *p > Decimal::ZERO { wins + 1 } else { 0 };
            losses = if *p < Decimal::ZERO { losses + 1 } else { 0 };
            best_wins = best_wins.max(wins);
            best_losses = best_losses.max(losses);
            cumulative += p;
            peak = peak.max(cumulative);
            drawdown = drawdown.max(peak - cumulative);
        }
        (best_wins, best_losses, drawdown)
    }

    fn figures(run: &Run) -> (u64, u64, Decimal) {
        let drawdown = run.max_drawdown().unwrap();
        (
            run.max_consecutive_wins(),
            run.max_consecutive_losses(),
            drawdown,
        )
    }

    proptest! {
        /// Any split of a list into consecutive parts, merged in order, gives the figures of
        /// the whole list, and those equal the naive computation.
        #[test]
        fn merged_parts_equal_the_whole_and_the_naive_figures(
            units in proptest::collection::vec(-3i64..=3, 0..40),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
        ) {
            let profits: Vec<Decimal> = units.iter().map(|u| Decimal::new(*u * 125, 2)).collect();
            let mut whole = Run::default();
            profits.iter().for_each(|p| whole.add(*p));
            prop_assert_eq!(figures(&whole), naive(&profits));
            prop_assert_eq!(whole.trades(), profits.len() as u64);
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(profits.len() + 1)).collect();
            at.push(0);
            at.push(profits.len());
            at.sort_unstable();
            let mut merged = Run::default();
            for pair in at.windows(2) {
                let mut part = Run::default();
                profits[pair[0]..pair[1]].iter().for_each(|p| part.add(*p));
                merged = merged.then(&part);
            }
            prop_assert_eq!(merged, whole);
        }
    }

    #[test]
    fn a_breakeven_ends_both_runs_and_a_first_loss_is_a_drawdown() {
        let run = |profits: &[i64]| {
            let mut run = Run::default();
            profits.iter().for_each(|p| run.add(Decimal::from(*p)));
            figures(&run)
        };
        assert_eq!(run(&[1, 1, 0, 1]), (2, 0, Decimal::ZERO));
        assert_eq!(run(&[-1, -1, 0, -1]), (0, 2, Decimal::from(3)));
        assert_eq!(run(&[-5]), (0, 1, Decimal::from(5)));
        assert_eq!(run(&[3, -1, -4, 2, -1]), (1, 2, Decimal::from(5)));
        assert_eq!(run(&[]), (0, 0, Decimal::ZERO));
    }

    #[test]
    fn an_overflowing_sum_is_an_error() {
        let mut run = Run::default();
        run.add(Decimal::MAX);
        run.add(Decimal::MAX);
        assert_eq!(run.max_drawdown(), Err(ArithmeticOverflow));
        // Whatever comes after, and whichever side of a merge overflowed.
        run.add(Decimal::ONE);
        assert_eq!(run.max_drawdown(), Err(ArithmeticOverflow));
        let after = Run::of(Decimal::ONE).then(&run);
        assert_eq!(after.max_drawdown(), Err(ArithmeticOverflow));
    }

    /// What a checkpoint's loader checks of the runs it reads: cells strictly sorted, and the
    /// whole day counting what its cells count.
    #[test]
    fn forged_runs_are_inconsistent() {
        let mut names = super::super::intern::Interner::default();
        let (eur, gbp) = (names.intern("EURUSD"), names.intern("GBPUSD"));
        let t = crate::model::event::Timestamp::from_nanos;
        let mut runs = DayRuns::default();
        runs.add(0, (t(1), 1), None, eur, Decimal::ONE);
        runs.add(0, (t(2), 2), None, gbp, Decimal::ONE);
        assert!(runs.is_consistent());
        assert_eq!(runs.trade_count(), 2);
        let mut twice = runs.clone();
        let day = twice.days.get_mut(&0).unwrap();
        day.cells[1].1 = day.cells[0].1;
        assert!(!twice.is_consistent(), "two cells of one (account, symbol)");
        let mut miscounted = runs.clone();
        miscounted.days.get_mut(&0).unwrap().whole.run.trades = 3;
        assert!(
            !miscounted.is_consistent(),
            "the whole day counts another number"
        );
    }

    #[test]
    fn a_trade_earlier_than_one_counted_marks_the_day_disordered() {
        let sym = super::super::intern::Interner::default().intern("EURUSD");
        let all = CellFilter::default();
        let day_zero = (std::ops::Bound::Included(0), std::ops::Bound::Included(0));
        let mut runs = DayRuns::default();
        let t = |n| crate::model::event::Timestamp::from_nanos(n);
        runs.add(0, (t(5), 1), None, sym, Decimal::ONE);
        runs.add(0, (t(5), 2), None, sym, Decimal::ONE);
        let kept = |runs: &DayRuns| {
            matches!(
                runs.sources(day_zero, all).next(),
                Some((0, DayRunSource::Kept(_)))
            )
        };
        assert!(kept(&runs));
        runs.add(0, (t(5), 0), None, sym, Decimal::ONE);
        assert!(!kept(&runs));
    }
}
