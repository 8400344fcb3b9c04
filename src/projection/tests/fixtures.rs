//! Event builders: a valid event with sensible defaults, adjusted with struct update syntax.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::model::event::*;
use crate::projection::Projections;

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub fn signal(signal_id: u64, symbol: &str, time: &str) -> Signal {
    Signal {
        signal_id,
        symbol: symbol.into(),
        signal_type: SignalType::Buy,
        timestamp: at(time),
        price: dec("1.10450"),
        confidence: 0.75,
        strategy_name: "ma_cross".into(),
        timeframe: "H1".into(),
        stop_loss: None,
        take_profit: None,
        reason: None,
        ml_enhanced: false,
        ml_confidence: None,
        ml_agreed: None,
    }
}

pub fn opened(ticket: u64, symbol: &str, time: &str) -> TradeOpened {
    TradeOpened {
        ticket,
        symbol: symbol.into(),
        trade_type: TradeType::Buy,
        volume: dec("0.10"),
        entry_price: dec("1.10450"),
        entry_time: at(time),
        status: OpenStatus::Open,
        stop_loss: None,
        take_profit: None,
        magic_number: 0,
        account_number: Some(1001),
        strategy_name: None,
        signal_id: None,
        execution_reason: None,
        signal_confidence: None,
        signal_reason: None,
        ml_enhanced: false,
        ml_confidence: None,
        ai_approved: true,
        ai_reasoning: None,
        commission: Decimal::ZERO,
        swap: Decimal::ZERO,
        comment: None,
    }
}

pub fn pending(ticket: u64, symbol: &str, time: &str) -> TradeOpened {
    TradeOpened {
        status: OpenStatus::Pending,
        ..opened(ticket, symbol, time)
    }
}

pub fn failed(ticket: u64, symbol: &str, time: &str) -> OrderFailed {
    OrderFailed {
        ticket,
        symbol: symbol.into(),
        trade_type: TradeType::Sell,
        volume: dec("0.20"),
        entry_price: dec("1.20000"),
        entry_time: at(time),
        reason: Some("no money".into()),
        signal_id: None,
        account_number: Some(1001),
        strategy_name: None,
        magic_number: 7,
    }
}

pub fn closed(ticket: u64, time: &str, profit: &str) -> TradeClosed {
    TradeClosed {
        ticket,
        exit_price: dec("1.10550"),
        exit_time: at(time),
        profit: dec(profit),
        pips: None,
        commission: None,
        swap: None,
        reason: None,
    }
}

pub fn filled(ticket: u64, price: &str, time: &str) -> OrderFilled {
    OrderFilled {
        ticket,
        entry_price: dec(price),
        entry_time: at(time),
    }
}

pub fn cancelled(ticket: u64, time: &str) -> OrderCancelled {
    OrderCancelled {
        ticket,
        time: at(time),
        reason: Some("expired".into()),
    }
}

pub fn modified(ticket: u64, stop_loss: PriceUpdate, take_profit: PriceUpdate) -> TradeModified {
    TradeModified {
        ticket,
        time: at("2024-03-04T12:00:00Z"),
        stop_loss,
        take_profit,
    }
}

pub fn linked(signal_id: u64, ticket: u64) -> SignalExecuted {
    SignalExecuted {
        signal_id,
        ticket,
        execution_reason: Some("late link".into()),
    }
}

pub fn snapshot(account_number: u64, time: &str, balance: &str, equity: &str) -> AccountSnapshot {
    AccountSnapshot {
        account_number,
        server: "Demo-1".into(),
        broker: "Broker".into(),
        balance: dec(balance),
        equity: dec(equity),
        snapshot_time: at(time),
        profit: None,
        margin: None,
        margin_free: None,
        total_volume: Decimal::ZERO,
        margin_level: None,
        open_positions: 0,
    }
}

/// Applies events with seq 1, 2, … after checking each one (a test that applies a refused
/// event by mistake fails here instead of passing silently).
pub fn journal(events: impl IntoIterator<Item = Event>) -> Projections {
    let mut projections = Projections::new();
    extend(&mut projections, events);
    projections
}

pub fn extend(projections: &mut Projections, events: impl IntoIterator<Item = Event>) {
    for event in events {
        if let Err(violation) = projections.check(&event) {
            panic!("fixture event refused: {violation}: {event:?}");
        }
        let seq = projections.applied_events() + 1;
        projections.apply(seq, at("2030-01-01T00:00:00Z"), &event);
    }
}
