//! A simple-moving-average crossover that gives a signal on every bar.
//!
//! * BUY when the fast SMA of closes moves above the slow SMA (a bullish cross), SELL when it
//!   moves below (a bearish cross), HOLD otherwise, including while the slow window fills.
//! * A cross is a change of the side the fast SMA is on. Bars where both are equal keep the
//!   previous side, so `+ 0 +` is not a cross; but a series whose averages were equal since
//!   the window filled crosses on its first non-zero difference.
//! * Confidence = |fast − slow| / (mean high-low range over the slow window ×
//!   [`FULL_CONFIDENCE_RANGE_RATIO`]), clamped to [0, 1] and rounded to 4 places: how
//!   established the trend is relative to recent volatility. Right at a cross the averages
//!   are close, so crossover signals tend to have low confidence.
//!
//! The averages are exact `Decimal`; only the confidence is a float.

use std::collections::VecDeque;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::bars::Bar;
use crate::model::event::SignalType;

/// The SMA spread, in mean bar ranges, at which confidence reaches 1.
pub const FULL_CONFIDENCE_RANGE_RATIO: Decimal = Decimal::from_parts(5, 0, 0, false, 1);
/// Places of the confidence (keeps journal values short and exactly reproducible).
const CONFIDENCE_DECIMALS: u32 = 4;
/// Places of the averages quoted in signal reasons.
const REASON_DECIMALS: u32 = 5;

/// The strategy's output for one bar.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySignal {
    pub signal_type: SignalType,
    /// In [0, 1].
    pub confidence: f64,
    pub reason: String,
}

/// Which side of the slow SMA the fast SMA is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Equal since the window filled: no side yet.
    Level,
    Above,
    Below,
}

/// A moving-average crossover over bar closes.
#[derive(Clone, Debug)]
pub struct MaCrossover {
    fast_period_bars: usize,
    slow_period_bars: usize,
    /// The last `slow_period_bars` closes and high-low ranges, oldest first.
    closes: VecDeque<Decimal>,
    ranges: VecDeque<Decimal>,
    /// The last side other than `Level`, once the window is full.
    side: Option<Side>,
}

impl MaCrossover {
    /// # Panics
    /// Unless `1 <= fast_period_bars < slow_period_bars` (`DemoConfig::validate` checks it).
    pub fn new(fast_period_bars: usize, slow_period_bars: usize) -> Self {
        assert!(
            fast_period_bars >= 1 && fast_period_bars < slow_period_bars,
            "need 1 <= fast < slow periods"
        );
        MaCrossover {
            fast_period_bars,
            slow_period_bars,
            closes: VecDeque::with_capacity(slow_period_bars + 1),
            ranges: VecDeque::with_capacity(slow_period_bars + 1),
            side: None,
        }
    }

    /// Feeds the next bar and returns its signal.
    pub fn on_bar(&mut self, bar: &Bar) -> StrategySignal {
        self.closes.push_back(bar.close);
        self.ranges.push_back(bar.high - bar.low);
        if self.closes.len() > self.slow_period_bars {
            self.closes.pop_front();
            self.ranges.pop_front();
        }
        if self.closes.len() < self.slow_period_bars {
            return StrategySignal {
                signal_type: SignalType::Hold,
                confidence: 0.0,
                reason: format!(
                    "warming up: {} of {} bars",
                    self.closes.len(),
                    self.slow_period_bars
                ),
            };
        }
        let fast = mean(self.closes.iter().rev().take(self.fast_period_bars));
        let slow = mean(self.closes.iter());
        let range = mean(self.ranges.iter());
        let now = match fast.cmp(&slow) {
            std::cmp::Ordering::Greater => Side::Above,
            std::cmp::Ordering::Less => Side::Below,
            std::cmp::Ordering::Equal => Side::Level,
        };
        let crossed = now != Side::Level && self.side.is_some_and(|before| before != now);
        if now != Side::Level || self.side.is_none() {
            self.side = Some(now);
        }
        let signal_type = match (crossed, now) {
            (true, Side::Above) => SignalType::Buy,
            (true, _) => SignalType::Sell,
            (false, _) => SignalType::Hold,
        };
        StrategySignal {
            signal_type,
            confidence: confidence(fast - slow, range),
            reason: self.reason(crossed, now, fast, slow),
        }
    }

    fn reason(&self, crossed: bool, side: Side, fast: Decimal, slow: Decimal) -> String {
        let relation = match (crossed, side) {
            (true, Side::Above) => "crossed above",
            (true, _) => "crossed below",
            (false, Side::Above) => "above",
            (false, Side::Below) => "below",
            (false, Side::Level) => "level with",
        };
        let suffix = if crossed { "" } else { ", no cross" };
        format!(
            "fast SMA({}) {} {} slow SMA({}) {}{suffix}",
            self.fast_period_bars,
            fast.round_dp(REASON_DECIMALS).normalize(),
            relation,
            self.slow_period_bars,
            slow.round_dp(REASON_DECIMALS).normalize(),
        )
    }
}

fn mean<'a>(values: impl ExactSizeIterator<Item = &'a Decimal>) -> Decimal {
    let count = Decimal::from(values.len());
    values.sum::<Decimal>() / count
}

/// |spread| relative to the mean range, clamped to [0, 1].
fn confidence(spread: Decimal, mean_range: Decimal) -> f64 {
    let scale = mean_range * FULL_CONFIDENCE_RANGE_RATIO;
    let ratio = if spread.is_zero() {
        Decimal::ZERO
    } else if scale.is_zero() {
        Decimal::ONE
    } else {
        (spread.abs() / scale).min(Decimal::ONE)
    };
    // A Decimal in [0, 1] with 4 places always converts.
    ratio.round_dp(CONFIDENCE_DECIMALS).to_f64().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::model::event::Timestamp;

    /// Bars with the given closes and a high-low range of 0.2 around each close.
    fn bars(closes: &[&str]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, close)| {
                let close = Decimal::from_str(close).unwrap();
                let half = Decimal::new(1, 1);
                Bar {
                    time: Timestamp::from_nanos(i as i64 * 3_600_000_000_000),
                    open: close,
                    high: close + half,
                    low: close - half,
                    close,
                    volume: 1,
                }
            })
            .collect()
    }

    #[test]
    fn crossover_on_a_hand_made_series() {
        let series = bars(&["1", "1", "1", "1", "1.2", "1.3", "1.1", "0.9", "0.8"]);
        let mut strategy = MaCrossover::new(2, 4);
        let signals: Vec<StrategySignal> = series.iter().map(|b| strategy.on_bar(b)).collect();
        let types: Vec<SignalType> = signals.iter().map(|s| s.signal_type).collect();
        use SignalType::*;
        assert_eq!(
            types,
            [Hold, Hold, Hold, Hold, Buy, Hold, Hold, Sell, Hold],
            "{signals:#?}"
        );
        assert_eq!(signals[0].reason, "warming up: 1 of 4 bars");
        assert_eq!(signals[0].confidence, 0.0);
        // Bar 4: fast (1 + 1.2) / 2 = 1.1, slow 4.2 / 4 = 1.05; spread 0.05 / (0.2 × 0.5).
        assert_eq!(signals[4].confidence, 0.5);
        assert_eq!(
            signals[4].reason,
            "fast SMA(2) 1.1 crossed above slow SMA(4) 1.05"
        );
        // Bar 7: fast 1.0, slow 1.125; spread 0.125 / 0.1 = 1.25, clamped.
        assert_eq!(signals[7].confidence, 1.0);
        assert_eq!(signals[3].confidence, 0.0, "level averages");
        assert!(signals[5].reason.ends_with(", no cross"));
    }

    #[test]
    fn touching_without_crossing_is_not_a_cross() {
        // Fast 1, slow 2: spread is close[i] − close[i−1] over 2. Up, flat (level), up again.
        let series = bars(&["1", "1.1", "1.1", "1.2", "1.1"]);
        let mut strategy = MaCrossover::new(1, 2);
        let types: Vec<SignalType> = series
            .iter()
            .map(|b| strategy.on_bar(b).signal_type)
            .collect();
        use SignalType::*;
        // Bar 1 fills the window on the fast side above: not a cross (no earlier side).
        assert_eq!(types, [Hold, Hold, Hold, Hold, Sell]);
    }
}
