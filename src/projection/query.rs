//! Typed queries mirroring the old repositories, each answered from an index: a ticket or a
//! latest snapshot costs the same with 10 million events as with 10, and a range query costs
//! O(log n + k) (k = the rows in range, or the days in range for the per-day tallies).

use std::ops::RangeInclusive;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::intern::Sym;
use super::signals::{SignalCount, SignalRecord};
use super::snapshots::SnapshotRecord;
use super::stored::{SIGNAL_BY_ID, TRADE_BY_ENTRY, TRADE_BY_TICKET};
use super::tally::{average, percent, ArithmeticOverflow, CellFilter, Tally, TradeSelect};
use super::time::{
    clamp, date_of_day, day_bounds, day_end, day_of, day_of_date, day_start_nanos, split_days, Day,
};
use super::time_index::{time_keys, TimeKey};
use super::trades::{TradeHead, TradeRecord};
use super::view::*;
use super::walk::{key_after, Held, ALL_KEYS};
use super::Projections;
use crate::error::Corruption;
use crate::model::event::{Timestamp, TradeStatus};

/// An inclusive time range; `None` leaves that end open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The earliest time included (UTC); `None`: no lower bound.
    pub from: Option<Timestamp>,
    /// The latest time included (UTC); `None`: no upper bound.
    pub to: Option<Timestamp>,
}

impl TimeRange {
    /// Every time: both ends open.
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    /// The times from `from` through `to`, both included; `None` leaves that end open.
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
    /// Only trades with this status; `None`: any status.
    pub status: Option<TradeStatus>,
    /// Only trades of this symbol: exact, case-sensitive match; `None`: any symbol.
    pub symbol: Option<&'a str>,
    /// Only trades of this account; `None`: any account (trades without one included).
    pub account: Option<u64>,
    /// Only trades whose entry (or exit, see `by`) time is in this range.
    pub range: TimeRange,
    /// `Entry` selects any status by entry_time; `Exit` selects CLOSED trades by exit_time.
    pub by: TimeBasis,
    /// Only trades with this strategy_name: exact, case-sensitive; `None`: any (trades
    /// without one included).
    pub strategy: Option<&'a str>,
    /// Only trades with this magic number; `None`: any.
    pub magic: Option<u64>,
}

impl Default for TradeFilter<'_> {
    fn default() -> Self {
        TradeFilter {
            status: None,
            symbol: None,
            account: None,
            range: TimeRange::ALL,
            by: TimeBasis::Entry,
            strategy: None,
            magic: None,
        }
    }
}

/// Why a query has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A sum or ratio exceeds what a `Decimal` holds (about 7.9 × 10²⁸).
    #[error(transparent)]
    Overflow(#[from] ArithmeticOverflow),
    /// A block of the checkpoint the state reads in place failed its check (the file and
    /// byte offset are named), or the state met such a block while applying an event.
    #[error("checkpoint damaged: {0}")]
    Corrupt(Box<Corruption>),
}

impl From<Box<Corruption>> for QueryError {
    fn from(damage: Box<Corruption>) -> QueryError {
        QueryError::Corrupt(damage)
    }
}

type Damage = Box<Corruption>;

/// A trade found by a query.
type Found<'a> = Held<'a, TradeRecord>;

/// The rows of a list query, one at a time, in the query's order (see the method that
/// returns it). Each stored row is decoded when its turn comes: going through millions of
/// rows holds one at a time. An item is `Err` when a checkpoint block the row needs is
/// damaged; nothing follows it.
pub struct Rows<'a, V> {
    rows: Box<dyn Iterator<Item = Result<V, QueryError>> + 'a>,
}

impl<'a, V: 'a> Rows<'a, V> {
    fn new(rows: impl Iterator<Item = Result<V, QueryError>> + 'a) -> Rows<'a, V> {
        Rows {
            rows: Box::new(rows),
        }
    }

    fn empty() -> Rows<'a, V> {
        Rows::new(std::iter::empty())
    }
}

impl<V> Iterator for Rows<'_, V> {
    type Item = Result<V, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

impl<V> std::fmt::Debug for Rows<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rows")
    }
}

impl Projections {
    /// `Err` if applying an event met a damaged block: the state is incomplete.
    pub(crate) fn intact(&self) -> Result<(), Damage> {
        match &self.damage {
            Some(damage) => Err(damage.clone()),
            None => Ok(()),
        }
    }

    /// The trade with this ticket, whatever its status; `None` when there is none.
    pub fn trade_by_ticket(&self, ticket: u64) -> Result<Option<TradeView>, QueryError> {
        self.intact()?;
        if let Some(record) = self.trades.get(ticket) {
            return Ok(Some(self.trade_view(record)));
        }
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let Some((ordinal, _)) = base.find_trade(ticket)? else {
            return Ok(None);
        };
        Ok(Some(self.trade_view(&self.base_trade(base, ordinal)?)))
    }

    /// The signal with this id, with its execution state; `None` when there is none.
    pub fn signal_by_id(&self, signal_id: u64) -> Result<Option<SignalView>, QueryError> {
        self.intact()?;
        if let Some(slot) = self.signals.slot(signal_id) {
            return Ok(Some(self.signal_view(&self.signals.records[slot])));
        }
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let Some((ordinal, _)) = base.find_signal(signal_id)? else {
            return Ok(None);
        };
        Ok(Some(self.signal_view(&self.base_signal(base, ordinal)?)))
    }

    /// The highest ticket of any trade (0 when there is none): where new tickets can start.
    pub fn max_ticket(&self) -> Result<u64, QueryError> {
        let hot = self.trades.records.iter().map(|r| r.ticket).max();
        self.highest(hot, TRADE_BY_TICKET)
    }

    /// The highest signal_id of any signal (0 when there is none).
    pub fn max_signal_id(&self) -> Result<u64, QueryError> {
        let hot = self.signals.records.iter().map(|r| r.signal_id).max();
        self.highest(hot, SIGNAL_BY_ID)
    }

    /// The greater of `hot` and the last id of a base array sorted by id (0 for neither).
    fn highest(&self, hot: Option<u64>, section: usize) -> Result<u64, QueryError> {
        self.intact()?;
        let stored = match &self.base {
            Some(base) => base.last_id(section)?,
            None => None,
        };
        Ok(hot.max(stored).unwrap_or(0))
    }

    /// PENDING orders by (entry_time, ticket).
    pub fn pending_trades(&self) -> Result<Vec<TradeView>, QueryError> {
        let filter = TradeFilter {
            status: Some(TradeStatus::Pending),
            ..TradeFilter::default()
        };
        self.trades(&filter)
    }

    /// OPEN trades by (entry_time, ticket).
    pub fn open_trades(
        &self,
        symbol: Option<&str>,
        account: Option<u64>,
    ) -> Result<Vec<TradeView>, QueryError> {
        let filter = TradeFilter {
            status: Some(TradeStatus::Open),
            symbol,
            account,
            ..TradeFilter::default()
        };
        self.trades(&filter)
    }

    /// Trades matching `filter`, by (entry_time, ticket): [`Projections::trade_rows`],
    /// collected.
    pub fn trades(&self, filter: &TradeFilter) -> Result<Vec<TradeView>, QueryError> {
        self.trade_rows(filter)?.collect()
    }

    /// Trades matching `filter`, by (entry_time, ticket), one at a time. With `by: Entry` the
    /// walk holds one trade at a time; with `by: Exit` it first gathers the entry time, ticket
    /// and place of each CLOSED trade whose exit time is in range (32 bytes a trade, no
    /// decode) to put them in entry order.
    pub fn trade_rows(&self, filter: &TradeFilter) -> Result<Rows<'_, TradeView>, QueryError> {
        self.trades_from(filter, None)
    }

    /// The rows of [`Projections::trade_rows`] that come after the trade with ticket `after`
    /// in its order, (entry_time, ticket): keyset paging, each page starting after the last
    /// row of the one before. `Ok(None)` when no trade has that ticket or `filter` does not
    /// select it (see [`Projections::trade_selected`]).
    pub fn trade_rows_after(
        &self,
        filter: &TradeFilter,
        after: u64,
    ) -> Result<Option<Rows<'_, TradeView>>, QueryError> {
        let Some(trade) = self.trade_by_ticket(after)? else {
            return Ok(None);
        };
        if !self.trade_selected(filter, &trade) {
            return Ok(None);
        }
        let key = (trade.entry_time, trade.ticket);
        self.trades_from(filter, Some(key)).map(Some)
    }

    /// Whether `filter` selects `trade`: whether [`Projections::trades`] lists it.
    pub fn trade_selected(&self, filter: &TradeFilter, trade: &TradeView) -> bool {
        let range = &filter.range;
        let in_range = |time: Timestamp| {
            range.from.is_none_or(|from| from <= time) && range.to.is_none_or(|to| time <= to)
        };
        let time = match filter.by {
            TimeBasis::Entry => Some(trade.entry_time),
            TimeBasis::Exit => trade
                .exit_time
                .filter(|_| trade.status == TradeStatus::Closed),
        };
        filter.status.is_none_or(|s| s == trade.status)
            && filter.symbol.is_none_or(|s| s == trade.symbol)
            && (filter.strategy).is_none_or(|s| Some(s) == trade.strategy_name.as_deref())
            && filter.magic.is_none_or(|m| m == trade.magic_number)
            && filter
                .account
                .is_none_or(|a| Some(a) == trade.account_number)
            && time.is_some_and(in_range)
    }

    /// The trades `filter` selects with an entry key after `after`, by entry key.
    fn trades_from(
        &self,
        filter: &TradeFilter,
        after: Option<TimeKey>,
    ) -> Result<Rows<'_, TradeView>, QueryError> {
        self.intact()?;
        let Some(cells) = self.cell_filter(filter.symbol, filter.account) else {
            return Ok(Rows::empty());
        };
        let Some(keys) = time_keys(filter.range.from, filter.range.to) else {
            return Ok(Rows::empty());
        };
        let Some(strategy) = self.name_filter(filter.strategy) else {
            return Ok(Rows::empty());
        };
        let magic = filter.magic;
        let status = filter.status;
        let found = if filter.by == TimeBasis::Exit {
            if status.is_some_and(|s| s != TradeStatus::Closed) {
                return Ok(Rows::empty());
            }
            self.closed_by_entry(keys, after)?
        } else {
            let keys = match after.map(key_after) {
                None => keys,
                Some(Some(start)) if start > *keys.start() => start..=*keys.end(),
                Some(Some(_)) => keys,
                Some(None) => return Ok(Rows::empty()),
            };
            if keys.start() > keys.end() {
                return Ok(Rows::empty());
            }
            // OPEN and PENDING trades are never in the base: it holds finished trades only.
            let (index, section) = match status {
                Some(TradeStatus::Open) => (&self.trades.open, None),
                Some(TradeStatus::Pending) => (&self.trades.pending, None),
                _ => (&self.trades.by_entry, Some(TRADE_BY_ENTRY)),
            };
            self.trade_walk(index, section, keys, status)?
        };
        let wanted = move |r: &Found| {
            status.is_none_or(|s| r.status == s)
                && cells.matches(r.account_number, r.symbol)
                && strategy.is_none_or(|s| r.strategy_name == Some(s))
                && magic.is_none_or(|m| r.magic_number == m)
        };
        Ok(Rows::new(found.filter_map(move |trade| match trade {
            Ok(trade) => wanted(&trade).then(|| Ok(self.trade_view(&trade))),
            Err(damage) => Some(Err(damage.into())),
        })))
    }

    /// `None` when a symbol is asked for that the journal has never seen: nothing matches.
    pub(super) fn cell_filter(
        &self,
        symbol: Option<&str>,
        account: Option<u64>,
    ) -> Option<CellFilter> {
        let symbol = self.name_filter(symbol)?;
        Some(CellFilter { symbol, account })
    }

    /// A name a query selects by, as this state's symbol: `Some(None)` when none is asked
    /// for, `None` when the journal has never seen it (nothing matches).
    pub(super) fn name_filter(&self, name: Option<&str>) -> Option<Option<Sym>> {
        match name {
            Some(name) => self.names.lookup(name).map(Some),
            None => Some(None),
        }
    }

    /// Statistics of CLOSED trades whose exit (or entry) time is in `range` (§4), of `symbol`
    /// and `account` if given: [`Projections::statistics`] with those two conditions.
    pub fn trade_statistics(
        &self,
        range: TimeRange,
        by: TimeBasis,
        symbol: Option<&str>,
        account: Option<u64>,
    ) -> Result<TradeStatistics, QueryError> {
        let select = TradeSelect {
            symbol,
            account,
            ..TradeSelect::default()
        };
        self.statistics(range, by, &select)
    }

    /// The keys of `range` and the cells of `account` (any symbol); `None` when the range
    /// holds no time.
    fn selection(
        &self,
        range: TimeRange,
        account: Option<u64>,
    ) -> Result<Option<(RangeInclusive<TimeKey>, CellFilter)>, QueryError> {
        self.intact()?;
        let cells = CellFilter {
            symbol: None,
            account,
        };
        Ok(time_keys(range.from, range.to).map(|keys| (keys, cells)))
    }

    /// The `limit` trades (any status) with the latest (entry_time, ticket) in `range` (of
    /// `account`, if given), newest first: the end of [`Projections::trades`] by entry time,
    /// decoding only the trades it returns (and those of other accounts passed over).
    pub fn latest_trades(
        &self,
        range: TimeRange,
        account: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TradeView>, QueryError> {
        let Some((keys, cells)) = self.selection(range, account)? else {
            return Ok(Vec::new());
        };
        let mut views = Vec::with_capacity(limit);
        for trade in self.trades_newest_first(keys)? {
            if views.len() == limit {
                break;
            }
            let trade = trade?;
            if cells.matches(trade.account_number, trade.symbol) {
                views.push(self.trade_view(&trade));
            }
        }
        Ok(views)
    }

    /// Calls `visit` with the head of each CLOSED trade with an exit key in `keys` and, if
    /// `entered` is given, an entry_time in it, in exit key order, one at a time, nothing
    /// collected.
    pub(super) fn for_each_closed_head(
        &self,
        keys: RangeInclusive<TimeKey>,
        entered: Option<RangeInclusive<Timestamp>>,
        mut visit: impl FnMut(TradeHead),
    ) -> Result<(), Damage> {
        for head in self.closed_heads(keys, entered)? {
            visit(head?);
        }
        Ok(())
    }

    /// The `limit` most recent signals, by timestamp descending, then seq descending.
    pub fn recent_signals(
        &self,
        symbol: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SignalView>, QueryError> {
        self.signal_rows(symbol, true)?.take(limit).collect()
    }

    /// Every signal (of `symbol`, if given) by timestamp, then seq, ascending, or descending
    /// with `newest_first` (the order of [`Projections::recent_signals`]), one at a time.
    pub fn signal_rows(
        &self,
        symbol: Option<&str>,
        newest_first: bool,
    ) -> Result<Rows<'_, SignalView>, QueryError> {
        self.intact()?;
        let symbols: Vec<Sym> = match symbol {
            Some(name) => match self.names.lookup(name) {
                Some(sym) => vec![sym],
                None => return Ok(Rows::empty()),
            },
            None => self.names.syms().collect(),
        };
        let found = self.signal_walk(&symbols, newest_first)?;
        Ok(Rows::new(found.map(|signal| {
            signal
                .map(|signal| self.signal_view(&signal))
                .map_err(QueryError::from)
        })))
    }

    /// Signals with timestamp ≥ `since` (all types, HOLD included) and how many were executed.
    pub fn signal_execution_rate(
        &self,
        since: Option<Timestamp>,
    ) -> Result<ExecutionRate, QueryError> {
        self.intact()?;
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
            let (Some(base), Some(keys)) = (&self.base, time_keys(Some(from), Some(to))) else {
                continue;
            };
            for sym in self.names.syms() {
                for stored in base.signals_between(sym.id(), &keys)?.into_iter().flatten() {
                    let entry = base.signal_entry(stored?.1)?;
                    let linked = self.base_links.contains_key(&entry.signal_id);
                    count.total += 1;
                    count.executed += u64::from(entry.executed || linked);
                }
            }
        }
        Ok(ExecutionRate {
            total_signals: count.total,
            executed_signals: count.executed,
            execution_rate: percent(count.executed, count.total),
        })
    }

    /// The snapshot of `account` with the greatest key in `keys`.
    fn last_snapshot(
        &self,
        account: u64,
        keys: RangeInclusive<TimeKey>,
    ) -> Result<Option<Held<'_, SnapshotRecord>>, Damage> {
        let hot = self.snapshots.between(account, keys.clone()).next_back();
        let hot = hot.map(Held::Memory);
        let Some(base) = &self.base else {
            return Ok(hot);
        };
        let mut last: Option<(TimeKey, u64)> = None;
        for mut span in base.snapshots_between(account, &keys)? {
            if let Some(found) = span.next_back().transpose()? {
                last = last.max(Some(found));
            }
        }
        let Some((key, index)) = last else {
            return Ok(hot);
        };
        if hot.as_ref().is_some_and(|h| h.key() > key) {
            return Ok(hot);
        }
        let latest = base.snapshot(&self.names, index)?;
        Ok(Some(Held::Stored(latest)))
    }

    /// The snapshot of `account` with the greatest (snapshot_time, seq).
    pub fn latest_snapshot(&self, account: u64) -> Result<Option<SnapshotView>, QueryError> {
        self.intact()?;
        let latest = self.last_snapshot(account, ALL_KEYS)?;
        Ok(latest.map(|record| self.snapshot_view(&record)))
    }

    /// The accounts that have snapshots, ascending.
    pub fn snapshot_accounts(&self) -> Result<Vec<u64>, QueryError> {
        self.intact()?;
        Ok(self.accounts())
    }

    /// The accounts of the CLOSED trades, ascending (trades without an account left out): those
    /// [`Projections::daily_performance`] has rows for.
    pub fn closed_trade_accounts(&self) -> Result<Vec<u64>, QueryError> {
        self.intact()?;
        Ok(self.exit_days.accounts())
    }

    pub(crate) fn accounts(&self) -> Vec<u64> {
        let mut accounts = self.base_accounts.clone();
        accounts.extend(self.snapshots.by_account.keys());
        accounts.sort_unstable();
        accounts.dedup();
        accounts
    }

    /// Snapshots of `account` with snapshot_time in `range`, by snapshot_time, then seq.
    pub fn snapshots_between(
        &self,
        account: u64,
        range: TimeRange,
    ) -> Result<Vec<SnapshotView>, QueryError> {
        self.snapshot_rows(account, range)?.collect()
    }

    /// Snapshots of `account` with snapshot_time in `range`, by snapshot_time, then seq, one
    /// at a time: the rows of [`Projections::snapshots_between`].
    pub fn snapshot_rows(
        &self,
        account: u64,
        range: TimeRange,
    ) -> Result<Rows<'_, SnapshotView>, QueryError> {
        self.intact()?;
        let Some(keys) = time_keys(range.from, range.to) else {
            return Ok(Rows::empty());
        };
        let found = self.snapshot_walk(account, keys)?;
        Ok(Rows::new(found.map(|snapshot| {
            snapshot
                .map(|snapshot| self.snapshot_view(&snapshot))
                .map_err(QueryError::from)
        })))
    }

    /// Time, balance and equity of each snapshot of `account` with snapshot_time in `range`,
    /// by snapshot_time, then seq: the rows of [`Projections::snapshots_between`], reduced
    /// to what an equity curve needs.
    pub fn equity_curve(
        &self,
        account: u64,
        range: TimeRange,
    ) -> Result<Vec<EquityPoint>, QueryError> {
        self.intact()?;
        let Some(keys) = time_keys(range.from, range.to) else {
            return Ok(Vec::new());
        };
        let mut points = Vec::new();
        for record in self.snapshot_walk(account, keys)? {
            let record = record?;
            points.push(EquityPoint {
                snapshot_time: record.snapshot_time,
                balance: record.balance,
                equity: record.equity,
            });
        }
        Ok(points)
    }

    /// One row per UTC day in `[from, to]` on which a trade (of `account`, if given) was closed.
    pub fn daily_performance(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        account: Option<u64>,
    ) -> Result<Vec<DayView>, QueryError> {
        let select = TradeSelect {
            account,
            ..TradeSelect::default()
        };
        self.daily_rows(from, to, &select)
    }

    /// One row per UTC day in `[from, to]` on which a trade selected by `select` was closed.
    pub fn daily_rows(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        select: &TradeSelect,
    ) -> Result<Vec<DayView>, QueryError> {
        daily_rows_across(&[self], from, to, select)
    }

    /// The summary of the daily rows in `[from, to]` (§4).
    pub fn performance_summary(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        account: Option<u64>,
    ) -> Result<PerformanceSummary, QueryError> {
        let select = TradeSelect {
            account,
            ..TradeSelect::default()
        };
        self.summary(from, to, &select)
    }

    /// The summary of the daily rows in `[from, to]` of the trades selected by `select` (§4).
    pub fn summary(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        select: &TradeSelect,
    ) -> Result<PerformanceSummary, QueryError> {
        summary_across(&[self], from, to, select)
    }

    /// The tally of each UTC exit day in `[from, to]` with a trade selected by `select`: the
    /// per-day tallies when they can answer (account and symbol), a walk otherwise.
    fn day_tallies(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        select: &TradeSelect,
    ) -> Result<Vec<(Day, Tally)>, QueryError> {
        self.intact()?;
        let bounds = day_bounds(from.map(day_of_date), to.map(day_of_date));
        let (Some(bounds), Some(cells)) = (bounds, self.cell_filter(select.symbol, select.account))
        else {
            return Ok(Vec::new());
        };
        if select.strategy.is_none() && select.magic.is_none() {
            return Ok(self.exit_days.rows(bounds, cells).collect());
        }
        let range = TimeRange::new(
            from.map(|d| clamp(day_start_nanos(day_of_date(d)))),
            to.map(|d| day_end(day_of_date(d))),
        );
        let mut days: Vec<(Day, Tally)> = Vec::new();
        self.for_each_closed_trade(range, TimeBasis::Exit, select, |trade| {
            let day = day_of(trade.exit_time);
            if days.last().is_none_or(|(last, _)| *last != day) {
                days.push((day, Tally::default()));
            }
            days.last_mut().expect("pushed").1.add(trade.outcome());
        })?;
        Ok(days)
    }
}

/// Several journals' states answered as one: the firm-wide view. A day's row counts the
/// trades of every state; its end balance is that of the latest snapshot of the row's account
/// (or of the only account with snapshots in all of them) in any state.
pub fn daily_rows_across(
    states: &[&Projections],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    select: &TradeSelect,
) -> Result<Vec<DayView>, QueryError> {
    let days = day_tallies_across(states, from, to, select)?;
    // "The journal's only account" is decided over the whole journal (§4).
    let mut accounts: Vec<u64> = states.iter().flat_map(|s| s.accounts()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let only_account = match accounts.as_slice() {
        [only] => Some(*only),
        _ => None,
    };
    let balance_account = select.account.or(only_account);
    let mut rows = Vec::with_capacity(days.len());
    for (day, tally) in days {
        let stats = tally.order_free_statistics()?;
        let mut end: Option<Held<'_, SnapshotRecord>> = None;
        for state in states {
            let Some(account) = balance_account else {
                break;
            };
            let keys = (Timestamp::MIN, 0)..=(day_end(day), u64::MAX);
            let last = state.last_snapshot(account, keys)?;
            if last.as_ref().map(|l| l.key()) >= end.as_ref().map(|e| e.key()) {
                end = last.or(end);
            }
        }
        rows.push(DayView {
            date: date_of_day(day),
            account_number: select.account,
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
            total_commission: stats.total_commission,
            total_swap: stats.total_swap,
            net_result: stats.net_result,
            end_balance: end.as_ref().map(|s| s.balance),
            end_equity: end.as_ref().map(|s| s.equity),
        });
    }
    Ok(rows)
}

/// The summary (§4) of [`daily_rows_across`]' rows.
pub fn summary_across(
    states: &[&Projections],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    select: &TradeSelect,
) -> Result<PerformanceSummary, QueryError> {
    let mut summary = PerformanceSummary {
        total_days: 0,
        winning_days: 0,
        losing_days: 0,
        breakeven_days: 0,
        total_trades: 0,
        total_profit: Decimal::ZERO,
        average_daily_profit: Decimal::ZERO,
        total_commission: Decimal::ZERO,
        total_swap: Decimal::ZERO,
        net_result: Decimal::ZERO,
    };
    let mut total = Tally::default();
    for tally in day_tallies_across(states, from, to, select)?.values() {
        let net_profit = tally.net_profit()?;
        summary.total_days += 1;
        match net_profit.cmp(&Decimal::ZERO) {
            std::cmp::Ordering::Greater => summary.winning_days += 1,
            std::cmp::Ordering::Less => summary.losing_days += 1,
            std::cmp::Ordering::Equal => summary.breakeven_days += 1,
        }
        total.merge(tally);
    }
    summary.total_trades = total.total();
    summary.total_profit = total.net_profit()?;
    summary.total_commission = total.commission;
    summary.total_swap = total.swap;
    summary.net_result = total.net_result()?;
    let average_daily = average(summary.total_profit, summary.total_days)?;
    summary.average_daily_profit = average_daily.unwrap_or(Decimal::ZERO);
    Ok(summary)
}

/// [`Projections::signal_execution_rate`] over several journals' states as one: their
/// signals counted together.
pub fn execution_rate_across(
    states: &[&Projections],
    since: Option<Timestamp>,
) -> Result<ExecutionRate, QueryError> {
    let (mut total, mut executed) = (0, 0);
    for state in states {
        let rate = state.signal_execution_rate(since)?;
        total += rate.total_signals;
        executed += rate.executed_signals;
    }
    Ok(ExecutionRate {
        total_signals: total,
        executed_signals: executed,
        execution_rate: percent(executed, total),
    })
}

/// The merged tallies of each UTC exit day, over `states`.
fn day_tallies_across(
    states: &[&Projections],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    select: &TradeSelect,
) -> Result<std::collections::BTreeMap<Day, Tally>, QueryError> {
    let mut days = std::collections::BTreeMap::<Day, Tally>::new();
    for state in states {
        for (day, tally) in state.day_tallies(from, to, select)? {
            days.entry(day).or_default().merge(&tally);
        }
    }
    Ok(days)
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
}
