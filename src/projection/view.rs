//! The output rows of the queries: plain structs whose `serde::Serialize` produces exactly the
//! JSON objects of `docs/INTERCHANGE.md` §5 (field names and order, decimals as strings keeping
//! their scale, timestamps as RFC 3339 with `Z`, enums upper case, absent values as `null`).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::event::{SignalType, Timestamp, TradeStatus, TradeType};

/// A trade object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TradeView {
    /// The broker's ticket number, unique in the journal.
    pub ticket: u64,
    /// The instrument (`EURUSD`).
    pub symbol: String,
    /// The direction: long (BUY) or short (SELL).
    #[serde(serialize_with = "json::display")]
    pub trade_type: TradeType,
    /// Where the trade is in its lifecycle (§4).
    #[serde(serialize_with = "json::display")]
    pub status: TradeStatus,
    /// The size in lots, exact.
    #[serde(serialize_with = "json::decimal")]
    pub volume: Decimal,
    /// The fill price (the order price while PENDING, the requested price when FAILED),
    /// exact.
    #[serde(serialize_with = "json::decimal")]
    pub entry_price: Decimal,
    /// When the order was filled (placed while PENDING, attempted when FAILED), UTC.
    #[serde(serialize_with = "json::display")]
    pub entry_time: Timestamp,
    /// The price the position was closed at, exact; `None` unless CLOSED.
    #[serde(serialize_with = "json::option_decimal")]
    pub exit_price: Option<Decimal>,
    /// When the position was closed, UTC; `None` unless CLOSED (a cancelled order never was
    /// a position).
    #[serde(serialize_with = "json::option_display")]
    pub exit_time: Option<Timestamp>,
    /// The realized profit, exact, in the account currency; `None` unless CLOSED.
    #[serde(serialize_with = "json::option_decimal")]
    pub profit: Option<Decimal>,
    /// The result in pips, exact; `None` when `trade_closed` gave none.
    #[serde(serialize_with = "json::option_decimal")]
    pub pips: Option<Decimal>,
    /// The commission, exact, in the account currency: from `trade_opened`, replaced by
    /// `trade_closed` when it gives one (0 by default).
    #[serde(serialize_with = "json::decimal")]
    pub commission: Decimal,
    /// The swap, exact, in the account currency: from `trade_opened`, replaced by
    /// `trade_closed` when it gives one (0 by default).
    #[serde(serialize_with = "json::decimal")]
    pub swap: Decimal,
    /// Exit time minus entry time in whole seconds, rounded down; `None` unless CLOSED.
    pub duration_seconds: Option<i64>,
    /// The current stop-loss level (after any `trade_modified`), exact; `None`: none.
    #[serde(serialize_with = "json::option_decimal")]
    pub stop_loss: Option<Decimal>,
    /// The current take-profit level (after any `trade_modified`), exact; `None`: none.
    #[serde(serialize_with = "json::option_decimal")]
    pub take_profit: Option<Decimal>,
    /// The trading program's tag on the order (MetaTrader's magic number); 0 when none.
    pub magic_number: u64,
    /// The broker account; `None` when the events did not give it.
    pub account_number: Option<u64>,
    /// The strategy that opened the trade; `None` when not given.
    pub strategy_name: Option<String>,
    /// The signal the trade executes (or, for a FAILED order, was meant to); `None`: none.
    pub signal_id: Option<u64>,
    /// The linked signal's confidence as the trader saw it, in [0, 1]; `None`: not given.
    pub signal_confidence: Option<f64>,
    /// The linked signal's reason as the trader saw it; `None`: not given.
    pub signal_reason: Option<String>,
    /// Whether a machine-learning model was consulted on the trade.
    pub ml_enhanced: bool,
    /// The model's confidence, in [0, 1]; `None`: no model confidence.
    pub ml_confidence: Option<f64>,
    /// Whether an AI review approved the trade (`true` when none vetoed it).
    pub ai_approved: bool,
    /// The AI review's reasoning; `None`: not given.
    pub ai_reasoning: Option<String>,
    /// The order's comment at the broker; `None`: none.
    pub comment: Option<String>,
    /// Why the trade ended: the `reason` of `trade_closed`, `order_cancelled` or
    /// `order_failed`; `None` while it is PENDING or OPEN, or when none was given.
    pub close_reason: Option<String>,
}

/// A signal object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SignalView {
    /// The signal's id, unique in the journal.
    pub signal_id: u64,
    /// The instrument (`EURUSD`).
    pub symbol: String,
    /// What the signal says to do.
    #[serde(serialize_with = "json::display")]
    pub signal_type: SignalType,
    /// When the strategy produced the signal, UTC.
    #[serde(serialize_with = "json::display")]
    pub timestamp: Timestamp,
    /// The market price the signal was produced at, exact.
    #[serde(serialize_with = "json::decimal")]
    pub price: Decimal,
    /// The stop-loss level the signal suggests, exact; `None`: none suggested.
    #[serde(serialize_with = "json::option_decimal")]
    pub stop_loss: Option<Decimal>,
    /// The take-profit level the signal suggests, exact; `None`: none suggested.
    #[serde(serialize_with = "json::option_decimal")]
    pub take_profit: Option<Decimal>,
    /// The strategy's confidence, in [0, 1].
    pub confidence: f64,
    /// Why the strategy signalled; `None`: not given.
    pub reason: Option<String>,
    /// The strategy that produced the signal.
    pub strategy_name: String,
    /// The bar timeframe the strategy ran on (`H1`, …).
    pub timeframe: String,
    /// Whether a machine-learning model was consulted on the signal.
    pub ml_enhanced: bool,
    /// The model's confidence, in [0, 1]; `None`: no model confidence.
    pub ml_confidence: Option<f64>,
    /// Whether the model agreed with the strategy; `None`: not known.
    pub ml_agreed: Option<bool>,
    /// Whether a trade executes the signal (`trade_opened` naming it, or
    /// `signal_executed`). A FAILED order naming it does not.
    pub executed: bool,
    /// Why the signal was executed; `None` when not executed or no reason was given.
    pub execution_reason: Option<String>,
    /// The linked trade.
    pub ticket: Option<u64>,
}

/// A snapshot object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SnapshotView {
    /// The broker account.
    pub account_number: u64,
    /// The broker's trading server.
    pub server: String,
    /// The broker.
    pub broker: String,
    /// The balance, exact, in the account currency.
    #[serde(serialize_with = "json::decimal")]
    pub balance: Decimal,
    /// The equity (balance plus floating profit), exact, in the account currency.
    #[serde(serialize_with = "json::decimal")]
    pub equity: Decimal,
    /// The floating profit of the open positions, exact; `None`: not given.
    #[serde(serialize_with = "json::option_decimal")]
    pub profit: Option<Decimal>,
    /// The margin the open positions hold, exact; `None`: not given.
    #[serde(serialize_with = "json::option_decimal")]
    pub margin: Option<Decimal>,
    /// The free margin, exact; `None`: not given.
    #[serde(serialize_with = "json::option_decimal")]
    pub margin_free: Option<Decimal>,
    /// The margin level as the broker reports it (percent), exact; `None`: not given.
    #[serde(serialize_with = "json::option_decimal")]
    pub margin_level: Option<Decimal>,
    /// How many positions were open.
    pub open_positions: u32,
    /// The volume of the open positions in lots, exact.
    #[serde(serialize_with = "json::decimal")]
    pub total_volume: Decimal,
    /// When the account was read, UTC.
    #[serde(serialize_with = "json::display")]
    pub snapshot_time: Timestamp,
}

/// A day object (§5): the trades CLOSED on one UTC day.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DayView {
    /// The UTC calendar day on which the trades were closed.
    #[serde(serialize_with = "json::display")]
    pub date: NaiveDate,
    /// The account the row is restricted to (`daily --account N`); `None` for all
    /// accounts.
    pub account_number: Option<u64>,
    /// Trades closed that day: wins, losses and breakevens.
    pub total_trades: u64,
    /// Trades closed with a profit above zero.
    pub winning_trades: u64,
    /// Trades closed with a profit below zero.
    pub losing_trades: u64,
    /// Trades closed with a profit of exactly zero.
    pub breakeven_trades: u64,
    /// The sum of the winning profits, exact (0 when there is none).
    #[serde(serialize_with = "json::decimal")]
    pub gross_profit: Decimal,
    /// The sum of the losing profits as a positive magnitude, exact (0 when there is none).
    #[serde(serialize_with = "json::decimal")]
    pub gross_loss: Decimal,
    /// The sum of every profit of the day, exact, in the account currency.
    #[serde(serialize_with = "json::decimal")]
    pub net_profit: Decimal,
    /// Winning trades / total trades × 100, a percentage (exact decimal division).
    #[serde(serialize_with = "json::decimal")]
    pub win_rate: Decimal,
    /// Gross profit / gross loss; `None` when there is no losing trade.
    #[serde(serialize_with = "json::option_decimal")]
    pub profit_factor: Option<Decimal>,
    /// The average winning profit; `None` when there is no win.
    #[serde(serialize_with = "json::option_decimal")]
    pub average_win: Option<Decimal>,
    /// The average loss as a positive magnitude; `None` when there is no loss.
    #[serde(serialize_with = "json::option_decimal")]
    pub average_loss: Option<Decimal>,
    /// The largest profit above zero; `None` when there is no win.
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_win: Option<Decimal>,
    /// The most negative profit; `None` when there is no loss.
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_loss: Option<Decimal>,
    /// The balance of the last account snapshot at or before the end of the day (of the
    /// row's account, or of the journal's only account with snapshots); `None` when there is no
    /// such snapshot or account.
    #[serde(serialize_with = "json::option_decimal")]
    pub end_balance: Option<Decimal>,
    /// The equity of that same snapshot; `None` likewise.
    #[serde(serialize_with = "json::option_decimal")]
    pub end_equity: Option<Decimal>,
    /// The sum of the day's trades' commission, signed as the broker reports it (a cost is
    /// negative).
    #[serde(serialize_with = "json::decimal")]
    pub total_commission: Decimal,
    /// The sum of the day's trades' swap, signed likewise.
    #[serde(serialize_with = "json::decimal")]
    pub total_swap: Decimal,
    /// net_profit + total_commission + total_swap: what the day's trades did to the balance.
    #[serde(serialize_with = "json::decimal")]
    pub net_result: Decimal,
}

/// The `stats` object (§5) over CLOSED trades.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TradeStatistics {
    /// CLOSED trades selected: wins, losses and breakevens.
    pub total_trades: u64,
    /// Trades with a profit above zero.
    pub winning_trades: u64,
    /// Trades with a profit below zero.
    pub losing_trades: u64,
    /// Trades with a profit of exactly zero (counted in the total, neither won nor lost).
    pub breakeven_trades: u64,
    /// Winning trades / total trades × 100, a percentage; 0 when there are no trades.
    #[serde(serialize_with = "json::decimal")]
    pub win_rate: Decimal,
    /// The sum of the profits, exact, in the account currency.
    #[serde(serialize_with = "json::decimal")]
    pub total_profit: Decimal,
    /// Total profit / total trades; 0 when there are no trades.
    #[serde(serialize_with = "json::decimal")]
    pub average_profit: Decimal,
    /// The sum of the winning profits (0 when there is none).
    #[serde(serialize_with = "json::decimal")]
    pub gross_profit: Decimal,
    /// The sum of the losing profits as a positive magnitude (0 when there is none).
    #[serde(serialize_with = "json::decimal")]
    pub gross_loss: Decimal,
    /// Gross profit / gross loss; `None` when there is no losing trade.
    #[serde(serialize_with = "json::option_decimal")]
    pub profit_factor: Option<Decimal>,
    /// The average winning profit; `None` when there is no win.
    #[serde(serialize_with = "json::option_decimal")]
    pub average_win: Option<Decimal>,
    /// The average loss as a positive magnitude; `None` when there is no loss.
    #[serde(serialize_with = "json::option_decimal")]
    pub average_loss: Option<Decimal>,
    /// The largest profit above zero; `None` when there is no win.
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_win: Option<Decimal>,
    /// The most negative profit; `None` when there is no loss.
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_loss: Option<Decimal>,
    /// The sum of the trades' commission, signed as the broker reports it (a cost is
    /// negative).
    #[serde(serialize_with = "json::decimal")]
    pub total_commission: Decimal,
    /// The sum of the trades' swap, signed likewise.
    #[serde(serialize_with = "json::decimal")]
    pub total_swap: Decimal,
    /// total_profit + total_commission + total_swap: what the trades did to the balance.
    #[serde(serialize_with = "json::decimal")]
    pub net_result: Decimal,
    /// The longest run of consecutive winning trades in (exit_time, ticket) order; a
    /// breakeven trade ends a run.
    pub max_consecutive_wins: u64,
    /// The longest run of consecutive losing trades, likewise.
    pub max_consecutive_losses: u64,
    /// The largest fall of cumulative profit (starting from 0 before the first trade) from
    /// a high to a later low, in (exit_time, ticket) order: a positive magnitude, 0 if it
    /// never falls.
    #[serde(serialize_with = "json::decimal")]
    pub max_drawdown: Decimal,
}

/// The `summary` object (§4, §5) over daily rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PerformanceSummary {
    /// Days with at least one closed trade in the range.
    pub total_days: u64,
    /// Days whose net profit is above zero.
    pub winning_days: u64,
    /// Days whose net profit is below zero.
    pub losing_days: u64,
    /// Days whose net profit is exactly zero.
    pub breakeven_days: u64,
    /// Trades closed on those days.
    pub total_trades: u64,
    /// The sum of the days' net profit, exact, in the account currency.
    #[serde(serialize_with = "json::decimal")]
    pub total_profit: Decimal,
    /// Total profit / total days; 0 when there are no days.
    #[serde(serialize_with = "json::decimal")]
    pub average_daily_profit: Decimal,
    /// The sum of the days' commission, signed as the broker reports it.
    #[serde(serialize_with = "json::decimal")]
    pub total_commission: Decimal,
    /// The sum of the days' swap, signed likewise.
    #[serde(serialize_with = "json::decimal")]
    pub total_swap: Decimal,
    /// total_profit + total_commission + total_swap.
    #[serde(serialize_with = "json::decimal")]
    pub net_result: Decimal,
}

/// The `execution-rate` object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExecutionRate {
    /// Signals with a timestamp at or after the start, every type (HOLD included).
    pub total_signals: u64,
    /// Those of them that a trade executes.
    pub executed_signals: u64,
    /// Executed / total × 100, a percentage; 0 when there are no signals.
    #[serde(serialize_with = "json::decimal")]
    pub execution_rate: Decimal,
}

/// The time, balance and equity of one snapshot ([`super::Projections::equity_curve`]); not a
/// §5 object.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct EquityPoint {
    /// When the snapshot was taken (UTC).
    pub snapshot_time: Timestamp,
    /// The account's balance then.
    pub balance: Decimal,
    /// Its equity then.
    pub equity: Decimal,
}

/// One snapshot's equity and balance, and when it was taken (part of [`EquitySummary`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EquityAt {
    /// When the snapshot was taken, UTC.
    #[serde(serialize_with = "json::display")]
    pub snapshot_time: Timestamp,
    /// The equity then.
    #[serde(serialize_with = "json::decimal")]
    pub equity: Decimal,
    /// The balance then.
    #[serde(serialize_with = "json::decimal")]
    pub balance: Decimal,
}

/// A fall of equity from a peak to a later snapshot (part of [`EquitySummary`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Drawdown {
    /// Peak equity − the later equity: a positive magnitude.
    #[serde(serialize_with = "json::decimal")]
    pub amount: Decimal,
    /// amount / peak equity × 100; `None` when the peak is not above zero.
    #[serde(serialize_with = "json::option_decimal")]
    pub percent: Option<Decimal>,
    /// The peak: the first snapshot with the highest equity before the fall.
    pub peak: EquityAt,
    /// The lowest point of the fall.
    pub trough: EquityAt,
}

/// The `equity` object: an account's equity over its snapshots in a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EquitySummary {
    /// The account.
    pub account_number: u64,
    /// Snapshots in the period.
    pub snapshots: u64,
    /// The first and the last snapshot of the period.
    pub first: EquityAt,
    /// See `first`.
    pub last: EquityAt,
    /// The highest equity (its first snapshot), and the lowest.
    pub peak: EquityAt,
    /// See `peak`.
    pub trough: EquityAt,
    /// last equity − first equity.
    #[serde(serialize_with = "json::decimal")]
    pub change: Decimal,
    /// change / first equity × 100; `None` when the first equity is not above zero.
    #[serde(serialize_with = "json::option_decimal")]
    pub return_percent: Option<Decimal>,
    /// The largest fall in money from a running peak; `None` when equity never falls.
    pub max_drawdown: Option<Drawdown>,
    /// The largest fall in percent of its peak (peaks above zero only); `None` when there is
    /// none. It may be another fall than `max_drawdown`'s.
    pub max_drawdown_percent: Option<Drawdown>,
}

/// Serializers for the §1 value forms.
mod json {
    use std::fmt::Display;

    use rust_decimal::Decimal;
    use serde::Serializer;

    /// A decimal as a string with its scale kept; a negative zero prints as zero (§1: `-0.00`
    /// is zero), so no query ever prints `"-0.00"`.
    pub fn decimal<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = *value;
        if value.is_zero() {
            value.set_sign_positive(true);
        }
        serializer.collect_str(&value)
    }

    pub fn option_decimal<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => decimal(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Timestamps (RFC 3339 with `Z`), dates (`YYYY-MM-DD`) and enums (upper-case names).
    pub fn display<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn option_display<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }
}
