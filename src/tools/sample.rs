//! Realistic sample events for benchmarks, the load generator and tests.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::model::event::*;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("sample decimals are valid")
}

/// A market `trade_opened` with the fields a live trader fills in (~150 bytes encoded).
pub fn trade_opened(ticket: u64, time: Timestamp) -> Event {
    Event::TradeOpened(TradeOpened {
        ticket,
        symbol: "EURUSD".into(),
        trade_type: if ticket.is_multiple_of(2) {
            TradeType::Buy
        } else {
            TradeType::Sell
        },
        volume: dec("0.10"),
        entry_price: dec("1.10450"),
        entry_time: time,
        status: OpenStatus::Open,
        stop_loss: Some(dec("1.10250")),
        take_profit: Some(dec("1.10850")),
        magic_number: 234000,
        account_number: Some(12345678),
        strategy_name: Some("ma_crossover".into()),
        signal_id: Some(ticket),
        execution_reason: Some("fast MA crossed above slow MA".into()),
        signal_confidence: Some(0.72),
        signal_reason: Some("trend".into()),
        ml_enhanced: false,
        ml_confidence: None,
        ai_approved: true,
        ai_reasoning: None,
        commission: dec("-0.70"),
        swap: dec("0"),
        comment: Some("paper".into()),
    })
}

/// A `signal` with the given id.
pub fn signal(signal_id: u64, time: Timestamp) -> Event {
    Event::Signal(Signal {
        signal_id,
        symbol: "EURUSD".into(),
        signal_type: SignalType::Buy,
        timestamp: time,
        price: dec("1.10450"),
        confidence: 0.72,
        strategy_name: "ma_crossover".into(),
        timeframe: "H1".into(),
        stop_loss: Some(dec("1.10250")),
        take_profit: Some(dec("1.10850")),
        reason: Some("fast MA crossed above slow MA".into()),
        ml_enhanced: false,
        ml_confidence: None,
        ml_agreed: None,
    })
}

/// Signal `n` and the trade `n` opened on it: a batch the ledger accepts on its own (once).
pub fn signal_and_trade(n: u64, time: Timestamp) -> Vec<Event> {
    vec![signal(n, time), trade_opened(n, time)]
}

/// A `trade_closed` of `ticket` with the given profit.
pub fn trade_closed(ticket: u64, time: Timestamp, profit: &str) -> Event {
    Event::TradeClosed(TradeClosed {
        ticket,
        exit_price: dec("1.10650"),
        exit_time: time,
        profit: dec(profit),
        pips: Some(dec("20.0")),
        commission: None,
        swap: None,
        reason: Some("take profit".into()),
    })
}

/// An `account_snapshot`.
pub fn account_snapshot(account_number: u64, time: Timestamp, balance: &str) -> Event {
    Event::AccountSnapshot(AccountSnapshot {
        account_number,
        server: "Paper-Server".into(),
        broker: "tradeledger paper".into(),
        balance: dec(balance),
        equity: dec(balance),
        snapshot_time: time,
        profit: Some(dec("0")),
        margin: Some(dec("0")),
        margin_free: Some(dec(balance)),
        total_volume: dec("0"),
        margin_level: None,
        open_positions: 0,
    })
}
