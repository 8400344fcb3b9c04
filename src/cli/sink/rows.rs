//! From records to table rows. The values come from the library's projections (the same
//! state, and so the same answers, as the query commands): the sink applies each record to a
//! [`Projections`], notes which rows the record changed, and reads those rows back from the
//! projections as `TradeView`, `SignalView`, `DayView`. Only what the projections do not keep
//! is tracked here: when the journal recorded a trade or signal, and when a pending order was
//! placed and cancelled.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, Context};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use tradeledger::model::event::{AccountSnapshot, Event, Timestamp};
use tradeledger::projection::{DayView, Projections, SignalView, TradeView};
use tradeledger::storage::reader::Record;

use super::schema::{Table, DAILY, SIGNALS, SNAPSHOTS, TRADES};

/// One value of a row, typed as its column.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    BigInt(Option<i64>),
    Numeric(Option<Decimal>),
    Text(Option<String>),
    Double(Option<f64>),
    Bool(Option<bool>),
    Time(Option<Timestamp>),
    Date(NaiveDate),
}

pub type Row = Vec<Cell>;

/// The rows of one table that one transaction writes.
pub struct TableRows {
    pub table: &'static Table,
    /// Rows of keys that the records before this transaction's never had: appended.
    pub new: Vec<Row>,
    /// Rows that replace the row with the same key, if there is one.
    pub changed: Vec<Row>,
}

impl TableRows {
    pub fn all(&self) -> impl Iterator<Item = &Row> {
        self.new.iter().chain(&self.changed)
    }
}

/// The rows one transaction writes, by table, and the records they cover.
#[derive(Default)]
pub struct Rows {
    pub tables: Vec<TableRows>,
    /// The sequence number of the last record covered.
    pub last_seq: u64,
    /// When the journal recorded each record covered (UTC nanoseconds), in order.
    pub recorded_at: Vec<i64>,
    /// How many records are covered.
    pub events: u64,
}

impl Rows {
    pub fn row_count(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.new.len() + t.changed.len())
            .sum()
    }
}

/// What the projections do not keep about a trade.
#[derive(Clone, Copy, Debug)]
pub struct TradeTimes {
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub placed: Timestamp,
    pub cancelled: Option<Timestamp>,
}

/// The projections, the few times they do not keep, and the rows changed since the last
/// [`Engine::take_rows`].
#[derive(Default)]
pub struct Engine {
    state: Projections,
    trades: FxHashMap<u64, TradeTimes>,
    /// The seq and recording time of each signal's record.
    signals_recorded: FxHashMap<u64, (u64, Timestamp)>,
    // Changed since the last take_rows:
    tickets: BTreeSet<u64>,
    signal_ids: BTreeSet<u64>,
    /// Of those, the trades and signals the changes began with.
    new_tickets: BTreeSet<u64>,
    new_signal_ids: BTreeSet<u64>,
    snapshots: Vec<(u64, Timestamp, AccountSnapshot)>,
    days: BTreeSet<(NaiveDate, Option<u64>)>,
    /// Per account, the earliest snapshot day: rows from that day on may end on it.
    snapshot_days: BTreeMap<u64, NaiveDate>,
    snapshot_accounts: usize,
    first_seq: Option<u64>,
    last_seq: u64,
    last_recorded_at: Option<Timestamp>,
    recorded_at: Vec<i64>,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// The sequence number of the last record applied (0 before the first).
    pub fn applied_seq(&self) -> u64 {
        self.state.head_seq()
    }

    /// When the journal recorded the last record applied.
    pub fn last_recorded_at(&self) -> Option<Timestamp> {
        self.last_recorded_at
    }

    /// Applies one record, in log order, and notes the rows it changes.
    pub fn apply(&mut self, record: &Record) -> anyhow::Result<()> {
        let (seq, at) = (record.seq, record.recorded_at);
        let ignored = self.state.ignored_events();
        self.state.apply(seq, at, &record.event);
        self.last_recorded_at = Some(at);
        if let Some(damage) = self.state.damage() {
            return Err(anyhow!("seq {seq}: {damage}"));
        }
        self.first_seq.get_or_insert(seq);
        self.last_seq = seq;
        self.recorded_at.push(at.nanos());
        if self.state.ignored_events() != ignored {
            tracing::warn!(seq, "an event the contract's rules refuse was skipped");
            return Ok(());
        }
        let touch_trade = |engine: &mut Engine, ticket: u64| {
            if let Some(times) = engine.trades.get_mut(&ticket) {
                times.updated_at = at;
            }
            engine.tickets.insert(ticket);
        };
        match &record.event {
            Event::Signal(e) => {
                self.signals_recorded.insert(e.signal_id, (seq, at));
                self.signal_ids.insert(e.signal_id);
                self.new_signal_ids.insert(e.signal_id);
            }
            Event::TradeOpened(e) => {
                self.opened(e.ticket, at, e.entry_time);
                self.signal_ids.extend(e.signal_id);
            }
            Event::OrderFailed(e) => self.opened(e.ticket, at, e.entry_time),
            Event::OrderFilled(e) => touch_trade(self, e.ticket),
            Event::TradeModified(e) => touch_trade(self, e.ticket),
            Event::OrderCancelled(e) => {
                if let Some(times) = self.trades.get_mut(&e.ticket) {
                    times.cancelled = Some(e.time);
                }
                touch_trade(self, e.ticket);
            }
            Event::TradeClosed(e) => {
                touch_trade(self, e.ticket);
                let account = self.trade(e.ticket)?.and_then(|t| t.account_number);
                let day = e.exit_time.date();
                self.days.insert((day, None));
                if account.is_some() {
                    self.days.insert((day, account));
                }
            }
            Event::SignalExecuted(e) => {
                touch_trade(self, e.ticket);
                self.signal_ids.insert(e.signal_id);
            }
            Event::AccountSnapshot(e) => {
                let day = e.snapshot_time.date();
                let earliest = self.snapshot_days.entry(e.account_number).or_insert(day);
                *earliest = (*earliest).min(day);
                self.snapshots.push((seq, at, e.clone()));
            }
        }
        Ok(())
    }

    fn opened(&mut self, ticket: u64, at: Timestamp, placed: Timestamp) {
        let times = TradeTimes {
            created_at: at,
            updated_at: at,
            placed,
            cancelled: None,
        };
        self.trades.insert(ticket, times);
        self.tickets.insert(ticket);
        self.new_tickets.insert(ticket);
    }

    fn trade(&self, ticket: u64) -> anyhow::Result<Option<TradeView>> {
        Ok(self.state.trade_by_ticket(ticket)?)
    }

    /// Forgets the changes noted so far (the records before a database's position).
    pub fn discard_changes(&mut self) {
        self.tickets.clear();
        self.signal_ids.clear();
        self.new_tickets.clear();
        self.new_signal_ids.clear();
        self.snapshots.clear();
        self.days.clear();
        self.snapshot_days.clear();
        self.first_seq = None;
        self.recorded_at.clear();
        self.snapshot_accounts = self.state.snapshot_accounts().map_or(0, |a| a.len());
    }

    /// The rows changed since the last call, as they now stand.
    pub fn take_rows(&mut self) -> anyhow::Result<Rows> {
        let Some(first) = self.first_seq else {
            return Ok(Rows::default());
        };
        let last_seq = self.last_seq;
        let place = || format!("records {first}..={last_seq}");
        let rows = self.rows().with_context(place)?;
        let recorded_at = std::mem::take(&mut self.recorded_at);
        self.discard_changes();
        Ok(Rows {
            tables: rows,
            last_seq,
            events: recorded_at.len() as u64,
            recorded_at,
        })
    }

    fn rows(&self) -> anyhow::Result<Vec<TableRows>> {
        let mut trades = TableRows::of(&TRADES);
        for &ticket in &self.tickets {
            let trade = self
                .trade(ticket)?
                .context("a trade the records name is missing")?;
            let times = self.trades.get(&ticket).context("a trade without times")?;
            let row = trade_row(&trade, times)?;
            trades.push(self.new_tickets.contains(&ticket), row);
        }
        let mut signals = TableRows::of(&SIGNALS);
        for &id in &self.signal_ids {
            let signal = self.state.signal_by_id(id)?;
            let signal = signal.context("a signal the records name is missing")?;
            let recorded = self.signals_recorded.get(&id).copied();
            let (seq, at) = recorded.context("a signal without its record")?;
            signals.push(
                self.new_signal_ids.contains(&id),
                signal_row(&signal, seq, at)?,
            );
        }
        let mut snapshots = TableRows::of(&SNAPSHOTS);
        for (seq, at, e) in &self.snapshots {
            snapshots.push(true, snapshot_row(*seq, *at, e)?);
        }
        let mut days = TableRows::of(&DAILY);
        days.changed = self.day_rows()?;
        Ok(vec![trades, signals, snapshots, days])
    }

    /// The daily rows of the days a close fell on, and those whose end balance a snapshot may
    /// have changed: from the snapshot's day on, for its account and for all accounts (every
    /// day, when the accounts with snapshots changed: "the journal's only account").
    fn day_rows(&self) -> anyhow::Result<Vec<Row>> {
        let mut days: BTreeMap<(NaiveDate, Option<u64>), DayView> = BTreeMap::new();
        let mut add = |views: Vec<DayView>| {
            for view in views {
                days.insert((view.date, view.account_number), view);
            }
        };
        for &(day, account) in &self.days {
            add(self
                .state
                .daily_performance(Some(day), Some(day), account)?);
        }
        let accounts = self.state.snapshot_accounts()?.len();
        if accounts != self.snapshot_accounts {
            add(self.state.daily_performance(None, None, None)?);
        }
        for (&account, &day) in &self.snapshot_days {
            add(self
                .state
                .daily_performance(Some(day), None, Some(account))?);
            add(self.state.daily_performance(Some(day), None, None)?);
        }
        days.values().map(day_row).collect()
    }
}

impl TableRows {
    fn of(table: &'static Table) -> TableRows {
        TableRows {
            table,
            new: Vec::new(),
            changed: Vec::new(),
        }
    }

    fn push(&mut self, new: bool, row: Row) {
        match new {
            true => self.new.push(row),
            false => self.changed.push(row),
        }
    }
}

/// A u64 id or count as a `bigint`, or an error naming the column.
fn int(value: u64, column: &str) -> anyhow::Result<Cell> {
    let value = i64::try_from(value)
        .map_err(|_| anyhow!("{column} {value} does not fit the SQL column (bigint)"))?;
    Ok(Cell::BigInt(Some(value)))
}

fn opt_int(value: Option<u64>, column: &str) -> anyhow::Result<Cell> {
    match value {
        Some(v) => int(v, column),
        None => Ok(Cell::BigInt(None)),
    }
}

fn time(value: Timestamp) -> [Cell; 2] {
    [Cell::Time(Some(value)), Cell::BigInt(Some(value.nanos()))]
}

fn opt_time(value: Option<Timestamp>) -> [Cell; 2] {
    [Cell::Time(value), Cell::BigInt(value.map(|t| t.nanos()))]
}

fn dec(value: Decimal) -> Cell {
    Cell::Numeric(Some(value))
}

fn text(value: &str) -> Cell {
    Cell::Text(Some(value.to_owned()))
}

pub fn trade_row(t: &TradeView, times: &TradeTimes) -> anyhow::Result<Row> {
    let [entry_time, entry_ns] = time(t.entry_time);
    let [exit_time, exit_ns] = opt_time(t.exit_time);
    let [placed, placed_ns] = time(times.placed);
    let [cancelled, cancelled_ns] = opt_time(times.cancelled);
    let [created_at, created_ns] = time(times.created_at);
    let [updated_at, updated_ns] = time(times.updated_at);
    Ok(vec![
        int(t.ticket, "trades.id")?,
        int(t.ticket, "trades.ticket")?,
        text(&t.symbol),
        int(t.magic_number, "trades.magic_number")?,
        opt_int(t.account_number, "trades.account_number")?,
        text(&t.trade_type.to_string()),
        text(&t.status.to_string()),
        dec(t.entry_price),
        entry_time,
        entry_ns,
        dec(t.volume),
        Cell::Numeric(t.stop_loss),
        Cell::Numeric(t.take_profit),
        Cell::Numeric(t.exit_price),
        exit_time,
        exit_ns,
        Cell::Numeric(t.profit),
        dec(t.commission),
        dec(t.swap),
        Cell::Numeric(t.pips),
        Cell::BigInt(t.duration_seconds),
        Cell::Text(t.strategy_name.clone()),
        Cell::Double(t.signal_confidence),
        Cell::Text(t.signal_reason.clone()),
        Cell::Bool(Some(t.ml_enhanced)),
        Cell::Double(t.ml_confidence),
        Cell::Bool(Some(t.ai_approved)),
        Cell::Text(t.ai_reasoning.clone()),
        created_at,
        created_ns,
        updated_at,
        updated_ns,
        opt_int(t.signal_id, "trades.signal_id")?,
        Cell::Text(t.comment.clone()),
        Cell::Text(t.close_reason.clone()),
        placed,
        placed_ns,
        cancelled,
        cancelled_ns,
    ])
}

pub fn signal_row(s: &SignalView, seq: u64, recorded_at: Timestamp) -> anyhow::Result<Row> {
    let [timestamp, timestamp_ns] = time(s.timestamp);
    let [recorded, recorded_ns] = time(recorded_at);
    Ok(vec![
        int(s.signal_id, "signals.id")?,
        text(&s.symbol),
        text(&s.signal_type.to_string()),
        timestamp,
        timestamp_ns,
        dec(s.price),
        Cell::Numeric(s.stop_loss),
        Cell::Numeric(s.take_profit),
        Cell::Double(Some(s.confidence)),
        Cell::Text(s.reason.clone()),
        text(&s.strategy_name),
        text(&s.timeframe),
        Cell::Bool(Some(s.ml_enhanced)),
        Cell::Double(s.ml_confidence),
        Cell::Bool(s.ml_agreed),
        Cell::Bool(Some(s.executed)),
        Cell::Text(s.execution_reason.clone()),
        opt_int(s.ticket, "signals.trade_id")?,
        recorded,
        recorded_ns,
        int(seq, "signals.seq")?,
    ])
}

/// A snapshot row from its event: the projections store a snapshot's fields as given.
pub fn snapshot_row(seq: u64, recorded_at: Timestamp, e: &AccountSnapshot) -> anyhow::Result<Row> {
    let [snapshot_time, snapshot_ns] = time(e.snapshot_time);
    let [recorded, recorded_ns] = time(recorded_at);
    Ok(vec![
        int(seq, "account_snapshots.id")?,
        int(e.account_number, "account_snapshots.account_number")?,
        text(&e.server),
        text(&e.broker),
        dec(e.balance),
        dec(e.equity),
        Cell::Numeric(e.profit),
        Cell::Numeric(e.margin),
        Cell::Numeric(e.margin_free),
        Cell::Numeric(e.margin_level),
        Cell::BigInt(Some(i64::from(e.open_positions))),
        dec(e.total_volume),
        snapshot_time,
        snapshot_ns,
        recorded,
        recorded_ns,
    ])
}

pub fn day_row(d: &DayView) -> anyhow::Result<Row> {
    Ok(vec![
        Cell::Date(d.date),
        opt_int(d.account_number, "daily_performance.account_number")?,
        int(d.total_trades, "daily_performance.total_trades")?,
        int(d.winning_trades, "daily_performance.winning_trades")?,
        int(d.losing_trades, "daily_performance.losing_trades")?,
        int(d.breakeven_trades, "daily_performance.breakeven_trades")?,
        dec(d.gross_profit),
        dec(d.gross_loss),
        dec(d.net_profit),
        dec(d.win_rate),
        Cell::Numeric(d.profit_factor),
        Cell::Numeric(d.average_win),
        Cell::Numeric(d.average_loss),
        Cell::Numeric(d.largest_win),
        Cell::Numeric(d.largest_loss),
        Cell::Numeric(d.end_balance),
        Cell::Numeric(d.end_equity),
        dec(d.total_commission),
        dec(d.total_swap),
        dec(d.net_result),
    ])
}
