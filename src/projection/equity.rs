//! An account's equity over its snapshots: peak, trough, the largest falls in money and in
//! percent, and the return over the period (`equity`, and the report's figures and
//! drawdown chart). A pure fold over snapshots in (snapshot_time, seq) order.

use rust_decimal::Decimal;

use super::query::{QueryError, TimeRange};
use super::tally::ArithmeticOverflow;
use super::view::{Drawdown, EquityAt, EquityPoint, EquitySummary};
use super::Projections;

impl Projections {
    /// The `equity` object of `account` over its snapshots with snapshot_time in `range`;
    /// `None` when there is none.
    pub fn equity_summary(
        &self,
        account: u64,
        range: TimeRange,
    ) -> Result<Option<EquitySummary>, QueryError> {
        equity_summary_across(&[self], account, range)
    }
}

/// [`Projections::equity_summary`] over several journals' states as one: the account's
/// snapshots of all of them, by snapshot_time (on a tie, the journal named first).
pub fn equity_summary_across(
    states: &[&Projections],
    account: u64,
    range: TimeRange,
) -> Result<Option<EquitySummary>, QueryError> {
    let mut points = Vec::new();
    for state in states {
        points.extend(state.equity_curve(account, range)?);
    }
    // Stable: each journal's own order, and the journal named first, on a tie.
    points.sort_by_key(|p| p.snapshot_time);
    let mut tracker = EquityTracker::new();
    for point in &points {
        tracker.add(point)?;
    }
    Ok(tracker.summary(account)?)
}

/// Folds snapshots one at a time, in order.
#[derive(Clone, Debug, Default)]
pub struct EquityTracker {
    snapshots: u64,
    first: Option<EquityAt>,
    last: Option<EquityAt>,
    /// The highest equity so far (its first snapshot): the running peak.
    peak: Option<EquityAt>,
    trough: Option<EquityAt>,
    max_drawdown: Option<Drawdown>,
    max_drawdown_percent: Option<Drawdown>,
}

fn at(point: &EquityPoint) -> EquityAt {
    EquityAt {
        snapshot_time: point.snapshot_time,
        equity: point.equity,
        balance: point.balance,
    }
}

/// `part / whole × 100`, `None` when `whole` is not above zero.
fn percent_of(part: Decimal, whole: Decimal) -> Result<Option<Decimal>, ArithmeticOverflow> {
    if whole <= Decimal::ZERO {
        return Ok(None);
    }
    let hundredfold = part
        .checked_mul(Decimal::ONE_HUNDRED)
        .ok_or(ArithmeticOverflow)?;
    hundredfold
        .checked_div(whole)
        .map(Some)
        .ok_or(ArithmeticOverflow)
}

impl EquityTracker {
    /// No snapshot yet.
    pub fn new() -> EquityTracker {
        EquityTracker::default()
    }

    /// Counts the next snapshot, and returns its drawdown from the running peak in percent of
    /// that peak (0 at a new peak, `None` when the peak is not above zero).
    pub fn add(&mut self, point: &EquityPoint) -> Result<Option<Decimal>, ArithmeticOverflow> {
        let now = at(point);
        self.snapshots += 1;
        self.first.get_or_insert(now);
        self.last = Some(now);
        if self.trough.is_none_or(|t| now.equity < t.equity) {
            self.trough = Some(now);
        }
        let peak = match self.peak {
            Some(peak) if peak.equity >= now.equity => peak,
            _ => {
                self.peak = Some(now);
                return percent_of(Decimal::ZERO, now.equity);
            }
        };
        let amount = peak
            .equity
            .checked_sub(now.equity)
            .ok_or(ArithmeticOverflow)?;
        let fall = Drawdown {
            amount,
            percent: percent_of(amount, peak.equity)?,
            peak,
            trough: now,
        };
        if amount > Decimal::ZERO && self.max_drawdown.is_none_or(|m| amount > m.amount) {
            self.max_drawdown = Some(fall);
        }
        if let Some(percent) = fall.percent.filter(|p| *p > Decimal::ZERO) {
            let larger = |m: Drawdown| m.percent.is_none_or(|p| percent > p);
            if self.max_drawdown_percent.is_none_or(larger) {
                self.max_drawdown_percent = Some(fall);
            }
        }
        Ok(fall.percent)
    }

    /// The summary of the snapshots counted; `None` when there is none.
    pub fn summary(
        &self,
        account_number: u64,
    ) -> Result<Option<EquitySummary>, ArithmeticOverflow> {
        let (Some(first), Some(last), Some(peak), Some(trough)) =
            (self.first, self.last, self.peak, self.trough)
        else {
            return Ok(None);
        };
        let change = last
            .equity
            .checked_sub(first.equity)
            .ok_or(ArithmeticOverflow)?;
        Ok(Some(EquitySummary {
            account_number,
            snapshots: self.snapshots,
            first,
            last,
            peak,
            trough,
            change,
            return_percent: percent_of(change, first.equity)?,
            max_drawdown: self.max_drawdown,
            max_drawdown_percent: self.max_drawdown_percent,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Timestamp;
    use proptest::prelude::*;

    fn point(second: i64, equity: i64) -> EquityPoint {
        EquityPoint {
            snapshot_time: Timestamp::from_nanos(second * 1_000_000_000),
            balance: Decimal::from(equity),
            equity: Decimal::from(equity),
        }
    }

    fn summary(equities: &[i64]) -> Option<EquitySummary> {
        let mut tracker = EquityTracker::new();
        for (second, equity) in equities.iter().enumerate() {
            tracker.add(&point(second as i64, *equity)).unwrap();
        }
        tracker.summary(7).unwrap()
    }

    #[test]
    fn the_largest_falls_in_money_and_in_percent_may_differ() {
        // 100 -> 50 is −50 (50 %); 1000 -> 600 is −400 (40 %).
        let s = summary(&[100, 50, 1000, 600, 800]).unwrap();
        let money = s.max_drawdown.unwrap();
        assert_eq!(
            (money.amount, money.peak.equity, money.trough.equity),
            (400.into(), 1000.into(), 600.into())
        );
        assert_eq!(money.percent, Some(Decimal::from(40)));
        let percent = s.max_drawdown_percent.unwrap();
        assert_eq!(
            (percent.amount, percent.percent),
            (50.into(), Some(50.into()))
        );
        assert_eq!((s.peak.equity, s.trough.equity), (1000.into(), 50.into()));
        assert_eq!((s.change, s.return_percent), (700.into(), Some(700.into())));
        assert_eq!(s.snapshots, 5);
    }

    #[test]
    fn rising_equity_has_no_drawdown_and_no_snapshot_no_summary() {
        let s = summary(&[10, 10, 20]).unwrap();
        assert_eq!((s.max_drawdown, s.max_drawdown_percent), (None, None));
        assert_eq!(s.peak.snapshot_time, Timestamp::from_nanos(2_000_000_000));
        assert_eq!(summary(&[]), None);
        let broke = summary(&[0, -5]).unwrap();
        assert_eq!(broke.return_percent, None);
        assert_eq!(broke.max_drawdown.unwrap().percent, None);
    }

    proptest! {
        /// The largest fall equals the obvious maximum over every pair (earlier, later).
        #[test]
        fn the_largest_fall_is_the_largest_over_all_pairs(equities in proptest::collection::vec(-50i64..200, 1..30)) {
            let s = summary(&equities).unwrap();
            let mut largest = 0;
            for (i, high) in equities.iter().enumerate() {
                for low in &equities[i..] {
                    largest = largest.max(high - low);
                }
            }
            prop_assert_eq!(s.max_drawdown.map_or(Decimal::ZERO, |d| d.amount), Decimal::from(largest));
            prop_assert_eq!(s.peak.equity, Decimal::from(*equities.iter().max().unwrap()));
            prop_assert_eq!(s.trough.equity, Decimal::from(*equities.iter().min().unwrap()));
        }
    }
}
