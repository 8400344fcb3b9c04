//! The smallest complete embedding: open a journal, record a signal and its fill as one
//! atomic batch, close the trade, query statistics. `cargo run --example embed`

use std::str::FromStr;

use tradeledger::{
    Decimal, Durability, FailurePolicy, JournalHandle, JournalOptions, Ledger, Signal, SignalType,
    TimeBasis, TimeRange, Timestamp, TradeClosed, TradeOpened, TradeType,
};

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
    // Each event is built from the fields the contract requires; optional ones are set after.
    let mut signal = Signal::new(
        1,
        "EURUSD",
        SignalType::Buy,
        now,
        price("1.10450"),
        0.8,
        "ma_crossover",
        "H1",
    );
    signal.stop_loss = Some(price("1.10250"));
    signal.take_profit = Some(price("1.10850"));
    signal.reason = Some("fast MA crossed above slow MA".into());

    let mut fill = TradeOpened::new(
        1001,
        "EURUSD",
        TradeType::Buy,
        price("0.10"),
        price("1.10460"),
        now,
    );
    fill.stop_loss = Some(price("1.10250"));
    fill.take_profit = Some(price("1.10850"));
    fill.magic_number = 234000;
    fill.account_number = Some(12345678);
    fill.strategy_name = Some("ma_crossover".into());
    fill.signal_id = Some(1);
    fill.execution_reason = Some("signal confidence above 0.7".into());
    fill.signal_confidence = Some(0.8);

    // The signal and its fill are one atomic batch: after a crash both or neither are there.
    let receipt = journal.append(vec![signal.into(), fill.into()]).await?;
    println!("signal and fill journaled: {receipt:?}");

    let exit_time = Timestamp::parse_rfc3339("2024-01-02T14:30:00Z")?;
    let mut close = TradeClosed::new(1001, price("1.10850"), exit_time, price("39.00"));
    close.pips = Some(price("39.0"));
    close.reason = Some("take profit".into());
    journal.append(vec![close.into()]).await?;

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
