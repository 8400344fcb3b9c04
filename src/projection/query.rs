//! Typed queries mirroring the old repositories, each answered from an index: a ticket or a
//! latest snapshot costs the same with 10 million events as with 10, and a range query costs
//! O(log n + k) (k = the rows in range, or the days in range for the per-day tallies).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::chunked::Slot;
use super::signals::{SignalCount, SignalRecord};
use super::snapshots::SnapshotRecord;
use super::tally::{average, percent, ArithmeticOverflow, CellFilter, Tally};
use super::time::{date_of_day, day_bounds, day_end, day_of_date, split_days, Day};
use super::trades::{time_keys, TimeKey, TradeRecord};
use super::view::*;
use super::Projections;
use crate::event::{Timestamp, TradeStatus};

/// An inclusive time range; `None` leaves that end open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    pub fn new(from: Option<Timestamp>, to: Option<Timestamp>) -> TimeRange {
        TimeRange { from, to }
    }
}

/// Which time of a trade a range selects on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBasis {
    /// exit_time: CLOSED trades realized in the period (the default of `stats`).
    Exit,
    /// entry_time (the default of `trades`; `stats --by entry`).
    Entry,
}

/// The selection of `trades`: every given condition must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeFilter<'a> {
    pub status: Option<TradeStatus>,
    /// Exact, case-sensitive match.
    pub symbol: Option<&'a str>,
    pub account: Option<u64>,
    pub range: TimeRange,
    /// `Entry` selects any status by entry_time; `Exit` selects CLOSED trades by exit_time.
    pub by: TimeBasis,
}

impl Default for TradeFilter<'_> {
    fn default() -> Self {
        TradeFilter {
            status: None,
            symbol: None,
            account: None,
            range: TimeRange::ALL,
            by: TimeBasis::Entry,
        }
    }
}

impl Projections {
    pub fn trade_by_ticket(&self, ticket: u64) -> Option<TradeView> {
        self.trades.get(ticket).map(|r| self.trade_view(r))
    }

    /// The highest ticket of any trade (0 when there is none): where new tickets can start.
    pub fn max_ticket(&self) -> u64 {
        self.trades
            .records
            .iter()
            .map(|r| r.ticket)
            .max()
            .unwrap_or(0)
    }

    /// The highest signal_id of any signal (0 when there is none).
    pub fn max_signal_id(&self) -> u64 {
        let ids = self.signals.records.iter().map(|r| r.signal_id);
        ids.max().unwrap_or(0)
    }

    /// PENDING orders by (entry_time, ticket).
    pub fn pending_trades(&self) -> Vec<TradeView> {
        let filter = TradeFilter {
            status: Some(TradeStatus::Pending),
            ..TradeFilter::default()
        };
        self.trades(&filter)
    }

    /// OPEN trades by (entry_time, ticket).
    pub fn open_trades(&self, symbol: Option<&str>, account: Option<u64>) -> Vec<TradeView> {
        let filter = TradeFilter {
            status: Some(TradeStatus::Open),
            symbol,
            account,
            ..TradeFilter::default()
        };
        self.trades(&filter)
    }

    /// Trades matching `filter`, by (entry_time, ticket).
    pub fn trades(&self, filter: &TradeFilter) -> Vec<TradeView> {
        let Some(cells) = self.cell_filter(filter.symbol, filter.account) else {
            return Vec::new();
        };
        let Some(keys) = time_keys(filter.range.from, filter.range.to) else {
            return Vec::new();
        };
        let wanted = |r: &&TradeRecord| {
            filter.status.is_none_or(|s| r.status == s) && cells.matches(r.account_number, r.symbol)
        };
        if filter.by == TimeBasis::Exit {
            if filter.status.is_some_and(|s| s != TradeStatus::Closed) {
                return Vec::new();
            }
            let mut found: Vec<&TradeRecord> = self
                .slots(&self.trades.closed_by_exit, keys)
                .filter(wanted)
                .collect();
            found.sort_unstable_by_key(|r| r.entry_key());
            return found.into_iter().map(|r| self.trade_view(r)).collect();
        }
        let index = match filter.status {
            Some(TradeStatus::Open) => &self.trades.open,
            Some(TradeStatus::Pending) => &self.trades.pending,
            _ => &self.trades.by_entry,
        };
        let found = self.slots(index, keys).filter(wanted);
        found.map(|r| self.trade_view(r)).collect()
    }

    fn slots<'a>(
        &'a self,
        index: &'a BTreeMap<TimeKey, Slot>,
        keys: std::ops::RangeInclusive<TimeKey>,
    ) -> impl DoubleEndedIterator<Item = &'a TradeRecord> + 'a {
        index
            .range(keys)
            .map(|(_, slot)| &self.trades.records[*slot])
    }

    /// `None` when a symbol is asked for that the journal has never seen: nothing matches.
    fn cell_filter(&self, symbol: Option<&str>, account: Option<u64>) -> Option<CellFilter> {
        let symbol = match symbol {
            Some(name) => Some(self.names.lookup(name)?),
            None => None,
        };
        Some(CellFilter { symbol, account })
    }

    /// Statistics of CLOSED trades whose exit (or entry) time is in `range` (§4). Whole UTC
    /// days come from the per-day tallies; only the partial days at the ends are scanned.
    pub fn trade_statistics(
        &self,
        range: TimeRange,
        by: TimeBasis,
        symbol: Option<&str>,
        account: Option<u64>,
    ) -> Result<TradeStatistics, ArithmeticOverflow> {
        let Some(cells) = self.cell_filter(symbol, account) else {
            return Tally::default().statistics();
        };
        let split = split_days(range.from, range.to);
        let days = match by {
            TimeBasis::Exit => &self.exit_days,
            TimeBasis::Entry => &self.entry_days,
        };
        let mut tally = split
            .whole_days
            .map(|whole| days.sum(whole, cells))
            .unwrap_or_default();
        for (from, to) in split.pieces.into_iter().flatten() {
            for record in self.closed_between(by, from, to) {
                if cells.matches(record.account_number, record.symbol) {
                    tally.add(record.profit.unwrap_or_default());
                }
            }
        }
        tally.statistics()
    }

    fn closed_between(&self, by: TimeBasis, from: Timestamp, to: Timestamp) -> Vec<&TradeRecord> {
        let Some(keys) = time_keys(Some(from), Some(to)) else {
            return Vec::new();
        };
        match by {
            TimeBasis::Exit => self.slots(&self.trades.closed_by_exit, keys).collect(),
            TimeBasis::Entry => self
                .slots(&self.trades.by_entry, keys)
                .filter(|r| r.status == TradeStatus::Closed)
                .collect(),
        }
    }

    /// The `limit` most recent signals, by timestamp descending, then seq descending.
    pub fn recent_signals(&self, symbol: Option<&str>, limit: usize) -> Vec<SignalView> {
        let symbol = match symbol {
            Some(name) => match self.names.lookup(name) {
                Some(sym) => Some(sym),
                None => return Vec::new(),
            },
            None => None,
        };
        let newest = self.signals.newest_first(symbol).take(limit);
        newest
            .map(|slot| self.signal_view(&self.signals.records[slot]))
            .collect()
    }

    /// Signals with timestamp ≥ `since` (all types, HOLD included) and how many were executed.
    pub fn signal_execution_rate(&self, since: Option<Timestamp>) -> ExecutionRate {
        let split = split_days(since, None);
        let mut count = SignalCount::default();
        if let Some(whole) = split.whole_days {
            for day in self.signals.per_day.range(whole).map(|(_, c)| c) {
                count.total += day.total;
                count.executed += day.executed;
            }
        }
        for (from, to) in split.pieces.into_iter().flatten() {
            for slot in self.signals.between(from, to) {
                count.total += 1;
                count.executed += u64::from(self.signals.records[slot].executed);
            }
        }
        ExecutionRate {
            total_signals: count.total,
            executed_signals: count.executed,
            execution_rate: percent(count.executed, count.total),
        }
    }

    /// The snapshot of `account` with the greatest (snapshot_time, seq).
    pub fn latest_snapshot(&self, account: u64) -> Option<SnapshotView> {
        let latest = self.snapshots.between(account, None, None).next_back();
        latest.map(|record| self.snapshot_view(record))
    }

    /// The accounts that have snapshots, ascending.
    pub fn snapshot_accounts(&self) -> Vec<u64> {
        self.snapshots.by_account.keys().copied().collect()
    }

    /// Snapshots of `account` with snapshot_time in `range`, by snapshot_time, then seq.
    pub fn snapshots_between(&self, account: u64, range: TimeRange) -> Vec<SnapshotView> {
        let rows = self.snapshots.between(account, range.from, range.to);
        rows.map(|record| self.snapshot_view(record)).collect()
    }

    /// One row per UTC day in `[from, to]` on which a trade (of `account`, if given) was closed.
    pub fn daily_performance(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        account: Option<u64>,
    ) -> Result<Vec<DayView>, ArithmeticOverflow> {
        let rows = self.day_tallies(from, to, account);
        rows.into_iter()
            .map(|(day, tally)| self.day_view(day, &tally, account))
            .collect()
    }

    /// The summary of the daily rows in `[from, to]` (§4).
    pub fn performance_summary(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        account: Option<u64>,
    ) -> Result<PerformanceSummary, ArithmeticOverflow> {
        let mut summary = PerformanceSummary {
            total_days: 0,
            winning_days: 0,
            losing_days: 0,
            breakeven_days: 0,
            total_trades: 0,
            total_profit: Decimal::ZERO,
            average_daily_profit: Decimal::ZERO,
        };
        for (_, tally) in self.day_tallies(from, to, account) {
            let net_profit = tally.net_profit()?;
            summary.total_days += 1;
            match net_profit.cmp(&Decimal::ZERO) {
                std::cmp::Ordering::Greater => summary.winning_days += 1,
                std::cmp::Ordering::Less => summary.losing_days += 1,
                std::cmp::Ordering::Equal => summary.breakeven_days += 1,
            }
            summary.total_trades += tally.total();
            let total = summary.total_profit.checked_add(net_profit);
            summary.total_profit = total.ok_or(ArithmeticOverflow)?;
        }
        let average_daily = average(summary.total_profit, summary.total_days)?;
        summary.average_daily_profit = average_daily.unwrap_or(Decimal::ZERO);
        Ok(summary)
    }

    fn day_tallies(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        account: Option<u64>,
    ) -> Vec<(Day, Tally)> {
        let bounds = day_bounds(from.map(day_of_date), to.map(day_of_date));
        let Some(bounds) = bounds else {
            return Vec::new();
        };
        let cells = CellFilter {
            symbol: None,
            account,
        };
        self.exit_days.rows(bounds, cells).collect()
    }
}

/// Record → view conversions (names resolved, derived fields computed).
impl Projections {
    fn trade_view(&self, r: &TradeRecord) -> TradeView {
        let text = |t: &Option<Box<str>>| t.as_deref().map(String::from);
        TradeView {
            ticket: r.ticket,
            symbol: self.names.name(r.symbol).to_owned(),
            trade_type: r.trade_type,
            status: r.status,
            volume: r.volume,
            entry_price: r.entry_price,
            entry_time: r.entry_time,
            exit_price: r.exit_price,
            exit_time: r.exit_time,
            profit: r.profit,
            pips: r.pips,
            commission: r.commission,
            swap: r.swap,
            duration_seconds: r
                .exit_time
                .and_then(|exit| exit.seconds_since(r.entry_time)),
            stop_loss: r.stop_loss,
            take_profit: r.take_profit,
            magic_number: r.magic_number,
            account_number: r.account_number,
            strategy_name: r.strategy_name.map(|s| self.names.name(s).to_owned()),
            signal_id: r.signal_id,
            signal_confidence: r.signal_confidence,
            signal_reason: text(&r.signal_reason),
            ml_enhanced: r.ml_enhanced,
            ml_confidence: r.ml_confidence,
            ai_approved: r.ai_approved,
            ai_reasoning: text(&r.ai_reasoning),
            comment: text(&r.comment),
            close_reason: text(&r.close_reason),
        }
    }

    fn signal_view(&self, r: &SignalRecord) -> SignalView {
        let text = |t: &Option<Box<str>>| t.as_deref().map(String::from);
        SignalView {
            signal_id: r.signal_id,
            symbol: self.names.name(r.symbol).to_owned(),
            signal_type: r.signal_type,
            timestamp: r.timestamp,
            price: r.price,
            stop_loss: r.stop_loss,
            take_profit: r.take_profit,
            confidence: r.confidence,
            reason: text(&r.reason),
            strategy_name: self.names.name(r.strategy_name).to_owned(),
            timeframe: self.names.name(r.timeframe).to_owned(),
            ml_enhanced: r.ml_enhanced,
            ml_confidence: r.ml_confidence,
            ml_agreed: r.ml_agreed,
            executed: r.executed,
            execution_reason: text(&r.execution_reason),
            ticket: r.ticket,
        }
    }

    fn snapshot_view(&self, r: &SnapshotRecord) -> SnapshotView {
        SnapshotView {
            account_number: r.account_number,
            server: self.names.name(r.server).to_owned(),
            broker: self.names.name(r.broker).to_owned(),
            balance: r.balance,
            equity: r.equity,
            profit: r.profit,
            margin: r.margin,
            margin_free: r.margin_free,
            margin_level: r.margin_level,
            open_positions: r.open_positions,
            total_volume: r.total_volume,
            snapshot_time: r.snapshot_time,
        }
    }

    fn day_view(
        &self,
        day: Day,
        tally: &Tally,
        account: Option<u64>,
    ) -> Result<DayView, ArithmeticOverflow> {
        let stats = tally.statistics()?;
        let balance_account = account.or_else(|| self.snapshots.only_account());
        let end = balance_account.and_then(|a| self.snapshots.last_at_or_before(a, day_end(day)));
        Ok(DayView {
            date: date_of_day(day),
            account_number: account,
            total_trades: stats.total_trades,
            winning_trades: stats.winning_trades,
            losing_trades: stats.losing_trades,
            breakeven_trades: stats.breakeven_trades,
            gross_profit: stats.gross_profit,
            gross_loss: stats.gross_loss,
            net_profit: stats.total_profit,
            win_rate: stats.win_rate,
            profit_factor: stats.profit_factor,
            average_win: stats.average_win,
            average_loss: stats.average_loss,
            largest_win: stats.largest_win,
            largest_loss: stats.largest_loss,
            end_balance: end.map(|s| s.balance),
            end_equity: end.map(|s| s.equity),
        })
    }
}
