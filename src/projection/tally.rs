//! Win/loss tallies of closed trades (`docs/INTERCHANGE.md` §4) and their per-day index.
//!
//! A [`Tally`] is mergeable (sums, counts, max/min), so the statistics of any set of whole days
//! are the merge of per-day tallies kept up to date by `apply`: no aggregation job, and a query
//! over years costs one merge per day, not one step per trade.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::intern::Sym;
use super::time::{Day, DayBounds};
use super::view::TradeStatistics;
use crate::model::event::compact;

/// A decimal sum or quotient left the range of the 96-bit decimal type (about ±7.9 × 10^28).
///
/// `apply` never fails: a tally whose sum would overflow keeps counting and remembers it, and
/// every query that reads that tally reports this error instead of a wrong number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a decimal sum or ratio exceeds the range of the 96-bit decimal type (about 7.9e28)")]
pub struct ArithmeticOverflow;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub wins: u64,
    pub losses: u64,
    pub breakevens: u64,
    #[serde(with = "compact::decimal")]
    pub gross_profit: Decimal,
    /// A positive magnitude: the sum of `-profit` over losing trades.
    #[serde(with = "compact::decimal")]
    pub gross_loss: Decimal,
    #[serde(with = "compact::option_decimal")]
    pub largest_win: Option<Decimal>,
    /// The most negative profit (a negative number).
    #[serde(with = "compact::option_decimal")]
    pub largest_loss: Option<Decimal>,
    /// The sums of the trades' commission and swap, signed as the broker reports them.
    #[serde(with = "compact::decimal")]
    pub commission: Decimal,
    #[serde(with = "compact::decimal")]
    pub swap: Decimal,
    pub overflowed: bool,
}

/// What a closed trade adds to a tally.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub profit: Decimal,
    pub commission: Decimal,
    pub swap: Decimal,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome) {
        let profit = outcome.profit;
        self.commission = self.checked(self.commission.checked_add(outcome.commission));
        self.swap = self.checked(self.swap.checked_add(outcome.swap));
        match profit.cmp(&Decimal::ZERO) {
            Ordering::Greater => {
                self.wins += 1;
                self.gross_profit = self.checked(self.gross_profit.checked_add(profit));
                self.largest_win = Some(self.largest_win.map_or(profit, |w| w.max(profit)));
            }
            Ordering::Less => {
                self.losses += 1;
                self.gross_loss = self.checked(self.gross_loss.checked_sub(profit));
                self.largest_loss = Some(self.largest_loss.map_or(profit, |l| l.min(profit)));
            }
            Ordering::Equal => self.breakevens += 1,
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.wins += other.wins;
        self.losses += other.losses;
        self.breakevens += other.breakevens;
        self.gross_profit = self.checked(self.gross_profit.checked_add(other.gross_profit));
        self.gross_loss = self.checked(self.gross_loss.checked_add(other.gross_loss));
        self.largest_win = pick(self.largest_win, other.largest_win, Decimal::max);
        self.largest_loss = pick(self.largest_loss, other.largest_loss, Decimal::min);
        self.commission = self.checked(self.commission.checked_add(other.commission));
        self.swap = self.checked(self.swap.checked_add(other.swap));
        self.overflowed |= other.overflowed;
    }

    /// The sum if it fits; otherwise keeps the old value and marks the tally as overflowed.
    fn checked(&mut self, sum: Option<Decimal>) -> Decimal {
        match sum {
            Some(sum) => sum,
            None => {
                self.overflowed = true;
                Decimal::ZERO
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.wins + self.losses + self.breakevens
    }

    pub fn net_profit(&self) -> Result<Decimal, ArithmeticOverflow> {
        if self.overflowed {
            return Err(ArithmeticOverflow);
        }
        // Both sides are non-negative and in range, so the difference is in range too.
        self.gross_profit
            .checked_sub(self.gross_loss)
            .ok_or(ArithmeticOverflow)
    }

    /// profit + commission + swap: what the trades did to the balance.
    pub fn net_result(&self) -> Result<Decimal, ArithmeticOverflow> {
        let total = self.net_profit()?.checked_add(self.commission);
        total
            .and_then(|t| t.checked_add(self.swap))
            .ok_or(ArithmeticOverflow)
    }

    /// The `stats` object without the figures that depend on the trades' order (the streaks
    /// and the drawdown, left 0): for a day row, which does not show them.
    pub fn order_free_statistics(&self) -> Result<TradeStatistics, ArithmeticOverflow> {
        let total_profit = self.net_profit()?;
        Ok(TradeStatistics {
            total_trades: self.total(),
            winning_trades: self.wins,
            losing_trades: self.losses,
            breakeven_trades: self.breakevens,
            win_rate: percent(self.wins, self.total()),
            total_profit,
            average_profit: average(total_profit, self.total())?.unwrap_or(Decimal::ZERO),
            gross_profit: self.gross_profit,
            gross_loss: self.gross_loss,
            profit_factor: self.profit_factor()?,
            average_win: average(self.gross_profit, self.wins)?,
            average_loss: average(self.gross_loss, self.losses)?,
            largest_win: self.largest_win,
            largest_loss: self.largest_loss,
            total_commission: self.commission,
            total_swap: self.swap,
            net_result: self.net_result()?,
            max_consecutive_wins: 0,
            max_consecutive_losses: 0,
            max_drawdown: Decimal::ZERO,
        })
    }

    /// `None` when there is no losing trade (§4: "null", not 0, which would read "all losses").
    fn profit_factor(&self) -> Result<Option<Decimal>, ArithmeticOverflow> {
        if self.losses == 0 {
            return Ok(None);
        }
        // A tiny total loss against a huge profit can leave the decimal range.
        let factor = self.gross_profit.checked_div(self.gross_loss);
        factor.map(Some).ok_or(ArithmeticOverflow)
    }
}

fn pick(
    a: Option<Decimal>,
    b: Option<Decimal>,
    better: fn(Decimal, Decimal) -> Decimal,
) -> Option<Decimal> {
    match (a, b) {
        (Some(a), Some(b)) => Some(better(a, b)),
        (a, b) => a.or(b),
    }
}

/// `part / whole × 100` by exact decimal division (28 significant digits), `0` for no items.
/// Computed as `part × 100 / whole` so that 1 of 3 gives 33.333333333333333333333333333.
pub(crate) fn percent(part: u64, whole: u64) -> Decimal {
    if whole == 0 {
        return Decimal::ZERO;
    }
    // Counts are below 2^64 ≈ 1.8e19, so `part × 100` stays far below the 7.9e28 limit.
    Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole)
}

/// `sum / count`, `None` when there are no items.
pub(crate) fn average(sum: Decimal, count: u64) -> Result<Option<Decimal>, ArithmeticOverflow> {
    if count == 0 {
        return Ok(None);
    }
    sum.checked_div(Decimal::from(count))
        .map(Some)
        .ok_or(ArithmeticOverflow)
}

/// Which trades a statistic counts: every given condition must hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TradeSelect<'a> {
    /// Only trades of this account; `None`: any account (trades without one included).
    pub account: Option<u64>,
    /// Only trades of this symbol: exact, case-sensitive; `None`: any symbol.
    pub symbol: Option<&'a str>,
    /// Only trades with this strategy_name: exact, case-sensitive; `None`: any (trades
    /// without one included).
    pub strategy: Option<&'a str>,
    /// Only trades with this magic number; `None`: any.
    pub magic: Option<u64>,
}

/// Which closed trades a query counts, of those the per-day tallies tell apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CellFilter {
    pub symbol: Option<Sym>,
    pub account: Option<u64>,
}

impl CellFilter {
    pub fn matches(&self, account: Option<u64>, symbol: Sym) -> bool {
        self.account.is_none_or(|wanted| account == Some(wanted))
            && self.symbol.is_none_or(|wanted| symbol == wanted)
    }
}

/// One tally per (account, symbol) seen on a day, kept sorted by (account, symbol) so that a
/// day with many accounts and symbols is still found by binary search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Cell {
    account: Option<u64>,
    symbol: Sym,
    tally: Tally,
}

/// Tallies of closed trades per UTC day (of exit time, or of entry time), per account and symbol.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DayTallies {
    days: BTreeMap<Day, Vec<Cell>>,
}

impl DayTallies {
    pub fn add(&mut self, day: Day, account: Option<u64>, symbol: Sym, outcome: Outcome) {
        let cells = self.days.entry(day).or_default();
        let position = cells.binary_search_by(|c| (c.account, c.symbol).cmp(&(account, symbol)));
        let index = position.unwrap_or_else(|free| {
            let tally = Tally::default();
            let cell = Cell {
                account,
                symbol,
                tally,
            };
            cells.insert(free, cell);
            free
        });
        cells[index].tally.add(outcome);
    }

    /// The merged tally of the matching cells of each day in `days`, skipping days without one.
    pub fn rows(
        &self,
        days: DayBounds,
        filter: CellFilter,
    ) -> impl Iterator<Item = (Day, Tally)> + '_ {
        self.days.range(days).filter_map(move |(day, cells)| {
            let mut matching = cells
                .iter()
                .filter(|c| filter.matches(c.account, c.symbol))
                .peekable();
            matching.peek()?;
            let mut tally = Tally::default();
            matching.for_each(|c| tally.merge(&c.tally));
            Some((*day, tally))
        })
    }

    /// The accounts of the cells, ascending (cells without an account left out).
    pub fn accounts(&self) -> Vec<u64> {
        let cells = self.days.values().flatten();
        let accounts: BTreeSet<u64> = cells.filter_map(|c| c.account).collect();
        accounts.into_iter().collect()
    }

    /// Cells strictly sorted on every day, as `add` keeps them (checked on checkpoint load).
    pub fn is_sorted(&self) -> bool {
        let key = |c: &Cell| (c.account, c.symbol);
        let sorted = |cells: &Vec<Cell>| cells.windows(2).all(|w| key(&w[0]) < key(&w[1]));
        self.days.values().all(sorted)
    }

    /// The number of trades counted in every cell (wide: a forged file may hold any counts).
    pub fn trade_count(&self) -> u128 {
        let cells = self.days.values().flatten();
        let count =
            |t: &Tally| u128::from(t.wins) + u128::from(t.losses) + u128::from(t.breakevens);
        cells.map(|c| count(&c.tally)).sum()
    }

    /// Bytes held, roughly: one cell per (day, account, symbol) plus the B-tree entry.
    pub fn approximate_bytes(&self) -> usize {
        let cells: usize = self.days.values().map(Vec::capacity).sum();
        cells * size_of::<Cell>() + self.days.len() * size_of::<(Day, Vec<Cell>)>() * 3 / 2
    }

    pub fn sum(&self, days: DayBounds, filter: CellFilter) -> Tally {
        let mut total = Tally::default();
        for (_, tally) in self.rows(days, filter) {
            total.merge(&tally);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    /// A trade of this profit, without costs.
    fn only(profit: Decimal) -> Outcome {
        Outcome {
            profit,
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
        }
    }

    fn statistics(tally: &Tally) -> Result<TradeStatistics, ArithmeticOverflow> {
        tally.order_free_statistics()
    }

    #[test]
    fn breakeven_and_negative_zero_count_in_totals_only() {
        let mut tally = Tally::default();
        tally.add(only(dec("0.00")));
        tally.add(only(dec("-0.00")));
        tally.add(only(dec("5")));
        assert_eq!((tally.wins, tally.losses, tally.breakevens), (1, 0, 2));
        let stats = statistics(&tally).unwrap();
        assert_eq!(stats.total_trades, 3);
        assert_eq!(stats.profit_factor, None);
        assert_eq!(stats.average_loss, None);
        assert_eq!(stats.largest_loss, None);
    }

    #[test]
    fn overflowing_sum_is_reported_not_wrapped() {
        let mut tally = Tally::default();
        tally.add(only(Decimal::MAX));
        tally.add(only(Decimal::MAX));
        assert!(tally.overflowed);
        assert_eq!(statistics(&tally), Err(ArithmeticOverflow));
        let mut merged = Tally::default();
        merged.merge(&tally);
        assert_eq!(merged.net_profit(), Err(ArithmeticOverflow));
    }

    #[test]
    fn profit_factor_that_leaves_the_decimal_range_is_an_error() {
        let mut tally = Tally::default();
        tally.add(only(dec("70000000000000000000000000000")));
        tally.add(only(dec("-0.0000000001")));
        assert_eq!(statistics(&tally), Err(ArithmeticOverflow));
    }

    #[test]
    fn costs_are_summed_signed_and_net_result_adds_them_to_the_profit() {
        let mut tally = Tally::default();
        let trade = |profit, commission, swap| Outcome {
            profit: dec(profit),
            commission: dec(commission),
            swap: dec(swap),
        };
        tally.add(trade("10", "-0.70", "0.25"));
        let mut other = Tally::default();
        other.add(trade("-4", "-0.70", "-1.10"));
        tally.merge(&other);
        let stats = statistics(&tally).unwrap();
        assert_eq!(stats.total_commission, dec("-1.40"));
        assert_eq!(stats.total_swap, dec("-0.85"));
        assert_eq!(stats.net_result, dec("3.75"));
        let mut overflowing = Tally::default();
        overflowing.add(trade("1", "-70000000000000000000000000000", "0"));
        overflowing.add(trade("1", "-70000000000000000000000000000", "0"));
        assert_eq!(statistics(&overflowing), Err(ArithmeticOverflow));
    }

    #[test]
    fn percent_keeps_full_precision() {
        assert_eq!(percent(1, 3).to_string(), "33.333333333333333333333333333");
        assert_eq!(percent(0, 0), Decimal::ZERO);
        assert_eq!(percent(2, 2), Decimal::ONE_HUNDRED);
    }
}
