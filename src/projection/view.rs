//! The output rows of the queries: plain structs whose `serde::Serialize` produces exactly the
//! JSON objects of `docs/INTERCHANGE.md` §5 (field names and order, decimals as strings keeping
//! their scale, timestamps as RFC 3339 with `Z`, enums upper case, absent values as `null`).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::event::{SignalType, Timestamp, TradeStatus, TradeType};

/// A trade object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TradeView {
    pub ticket: u64,
    pub symbol: String,
    #[serde(serialize_with = "json::display")]
    pub trade_type: TradeType,
    #[serde(serialize_with = "json::display")]
    pub status: TradeStatus,
    #[serde(serialize_with = "json::decimal")]
    pub volume: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub entry_price: Decimal,
    #[serde(serialize_with = "json::display")]
    pub entry_time: Timestamp,
    #[serde(serialize_with = "json::option_decimal")]
    pub exit_price: Option<Decimal>,
    #[serde(serialize_with = "json::option_display")]
    pub exit_time: Option<Timestamp>,
    #[serde(serialize_with = "json::option_decimal")]
    pub profit: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub pips: Option<Decimal>,
    #[serde(serialize_with = "json::decimal")]
    pub commission: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub swap: Decimal,
    pub duration_seconds: Option<i64>,
    #[serde(serialize_with = "json::option_decimal")]
    pub stop_loss: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub take_profit: Option<Decimal>,
    pub magic_number: u64,
    pub account_number: Option<u64>,
    pub strategy_name: Option<String>,
    pub signal_id: Option<u64>,
    pub signal_confidence: Option<f64>,
    pub signal_reason: Option<String>,
    pub ml_enhanced: bool,
    pub ml_confidence: Option<f64>,
    pub ai_approved: bool,
    pub ai_reasoning: Option<String>,
    pub comment: Option<String>,
    pub close_reason: Option<String>,
}

/// A signal object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalView {
    pub signal_id: u64,
    pub symbol: String,
    #[serde(serialize_with = "json::display")]
    pub signal_type: SignalType,
    #[serde(serialize_with = "json::display")]
    pub timestamp: Timestamp,
    #[serde(serialize_with = "json::decimal")]
    pub price: Decimal,
    #[serde(serialize_with = "json::option_decimal")]
    pub stop_loss: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub take_profit: Option<Decimal>,
    pub confidence: f64,
    pub reason: Option<String>,
    pub strategy_name: String,
    pub timeframe: String,
    pub ml_enhanced: bool,
    pub ml_confidence: Option<f64>,
    pub ml_agreed: Option<bool>,
    pub executed: bool,
    pub execution_reason: Option<String>,
    /// The linked trade.
    pub ticket: Option<u64>,
}

/// A snapshot object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SnapshotView {
    pub account_number: u64,
    pub server: String,
    pub broker: String,
    #[serde(serialize_with = "json::decimal")]
    pub balance: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub equity: Decimal,
    #[serde(serialize_with = "json::option_decimal")]
    pub profit: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub margin: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub margin_free: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub margin_level: Option<Decimal>,
    pub open_positions: u32,
    #[serde(serialize_with = "json::decimal")]
    pub total_volume: Decimal,
    #[serde(serialize_with = "json::display")]
    pub snapshot_time: Timestamp,
}

/// A day object (§5): the trades CLOSED on one UTC day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayView {
    #[serde(serialize_with = "json::display")]
    pub date: NaiveDate,
    pub account_number: Option<u64>,
    pub total_trades: u64,
    pub winning_trades: u64,
    pub losing_trades: u64,
    pub breakeven_trades: u64,
    #[serde(serialize_with = "json::decimal")]
    pub gross_profit: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub gross_loss: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub net_profit: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub win_rate: Decimal,
    #[serde(serialize_with = "json::option_decimal")]
    pub profit_factor: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub average_win: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub average_loss: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_win: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_loss: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub end_balance: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub end_equity: Option<Decimal>,
}

/// The `stats` object (§5) over CLOSED trades.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TradeStatistics {
    pub total_trades: u64,
    pub winning_trades: u64,
    pub losing_trades: u64,
    pub breakeven_trades: u64,
    #[serde(serialize_with = "json::decimal")]
    pub win_rate: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub total_profit: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub average_profit: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub gross_profit: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub gross_loss: Decimal,
    #[serde(serialize_with = "json::option_decimal")]
    pub profit_factor: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub average_win: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub average_loss: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_win: Option<Decimal>,
    #[serde(serialize_with = "json::option_decimal")]
    pub largest_loss: Option<Decimal>,
}

/// The `summary` object (§4, §5) over daily rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerformanceSummary {
    pub total_days: u64,
    pub winning_days: u64,
    pub losing_days: u64,
    pub breakeven_days: u64,
    pub total_trades: u64,
    #[serde(serialize_with = "json::decimal")]
    pub total_profit: Decimal,
    #[serde(serialize_with = "json::decimal")]
    pub average_daily_profit: Decimal,
}

/// The `execution-rate` object (§5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionRate {
    pub total_signals: u64,
    pub executed_signals: u64,
    #[serde(serialize_with = "json::decimal")]
    pub execution_rate: Decimal,
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
