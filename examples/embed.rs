//! The smallest complete embedding: open a journal, record a signal and its fill as one
//! atomic batch, close the trade, query statistics. `cargo run --example embed`

use std::str::FromStr;

use rust_decimal::Decimal;
use tradeledger::ledger::handle::{FailurePolicy, JournalHandle};
use tradeledger::ledger::Ledger;
use tradeledger::model::event::*;
use tradeledger::projection::{TimeBasis, TimeRange};
use tradeledger::storage::journal::JournalOptions;
use tradeledger::Durability;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = JournalOptions {
        durability: Durability::Sync,
        ..JournalOptions::default()
    };
    let journal = JournalHandle::new(Ledger::create(dir.path(), &options)?, FailurePolicy::Halt);

    let now = Timestamp::parse_rfc3339("2024-01-02T10:00:00Z")?;
    let price = |text| Decimal::from_str(text).expect("a decimal");
    let signal = Event::Signal(Signal {
        signal_id: 1,
        symbol: "EURUSD".into(),
        signal_type: SignalType::Buy,
        timestamp: now,
        price: price("1.10450"),
        confidence: 0.8,
        strategy_name: "ma_crossover".into(),
        timeframe: "H1".into(),
        stop_loss: Some(price("1.10250")),
        take_profit: Some(price("1.10850")),
        reason: Some("fast MA crossed above slow MA".into()),
        ml_enhanced: false,
        ml_confidence: None,
        ml_agreed: None,
    });
    let fill = Event::TradeOpened(TradeOpened {
        ticket: 1001,
        symbol: "EURUSD".into(),
        trade_type: TradeType::Buy,
        volume: price("0.10"),
        entry_price: price("1.10460"),
        entry_time: now,
        status: OpenStatus::Open,
        stop_loss: Some(price("1.10250")),
        take_profit: Some(price("1.10850")),
        magic_number: 234000,
        account_number: Some(12345678),
        strategy_name: Some("ma_crossover".into()),
        signal_id: Some(1),
        execution_reason: Some("signal confidence above 0.7".into()),
        signal_confidence: Some(0.8),
        signal_reason: None,
        ml_enhanced: false,
        ml_confidence: None,
        ai_approved: true,
        ai_reasoning: None,
        commission: Decimal::ZERO,
        swap: Decimal::ZERO,
        comment: None,
    });
    // The signal and its fill are one atomic batch: after a crash both or neither are there.
    let receipt = journal.append(vec![signal, fill]).await?;
    println!("signal and fill journaled: {receipt:?}");

    let close = Event::TradeClosed(TradeClosed {
        ticket: 1001,
        exit_price: price("1.10850"),
        exit_time: Timestamp::parse_rfc3339("2024-01-02T14:30:00Z")?,
        profit: price("39.00"),
        pips: Some(price("39.0")),
        commission: None,
        swap: None,
        reason: Some("take profit".into()),
    });
    journal.append(vec![close]).await?;

    let stats =
        journal.query(|s| s.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None))?;
    println!(
        "closed trades: {}, total profit: {}",
        stats.total_trades, stats.total_profit
    );
    println!("health: {:?}", journal.health());
    journal.close().await?;
    Ok(())
}
