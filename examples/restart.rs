//! A trading bot starting again: it opens the journal it wrote before it stopped (or creates
//! one on its first start), reads what recovery found, picks up the trades it left open, and
//! numbers new tickets after the ones it already used.
//!
//! `cargo run --example restart -- DIR` (twice, on the same DIR, to see the restart).

use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;
use tradeledger::ledger::handle::FailurePolicy;
use tradeledger::model::event::*;
use tradeledger::projection::QueryError;
use tradeledger::storage::journal::{JournalOptions, OpenMode};
use tradeledger::{Durability, Error, JournalHandle};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("tradeledger-restart-example"),
    };
    let journal = match JournalHandle::open(&dir, OpenMode::default(), FailurePolicy::Halt).await {
        Ok(journal) => journal,
        Err(Error::NotAJournal { .. }) => {
            println!("first start: creating {}", dir.display());
            let options = JournalOptions {
                durability: Durability::Sync,
                ..JournalOptions::default()
            };
            JournalHandle::create(&dir, options, FailurePolicy::Halt).await?
        }
        // Damage, or another process writing this journal: stop and say why, never guess.
        Err(error) => return Err(error.into()),
    };

    let report = journal.ledger().open_report();
    let head = journal.ledger().journal().head_seq();
    println!(
        "journal at seq {head}: checkpoint {:?}, {} records replayed after it",
        report.checkpoint.as_ref().map(|c| c.seq),
        report.replayed_records
    );
    if let Some(cut) = &report.recovery.cut {
        // The last run died in the middle of a batch: that batch was never acknowledged.
        println!("recovery cut a torn tail: {cut}");
    }

    // Where the last run stopped: the trades still open, and the numbers already used.
    let (open, ticket, signal_id) = journal.query(|state| -> Result<_, QueryError> {
        let open = state.open_trades(None, None)?;
        Ok((open, state.max_ticket()? + 1, state.max_signal_id()? + 1))
    })?;
    let now = Timestamp::now();
    for trade in &open {
        println!("closing trade {} left open by the last run", trade.ticket);
        journal
            .append(vec![Event::TradeClosed(TradeClosed {
                ticket: trade.ticket,
                exit_price: trade.entry_price,
                exit_time: now,
                profit: Decimal::ZERO,
                pips: None,
                commission: None,
                swap: None,
                reason: Some("closed at restart".into()),
            })])
            .await?;
    }

    // This run's trade: a signal and its fill, one atomic batch, left open for the next run.
    let price = Decimal::from_str("1.10450")?;
    let receipt = journal
        .append(vec![
            Event::Signal(Signal {
                signal_id,
                symbol: "EURUSD".into(),
                signal_type: SignalType::Buy,
                timestamp: now,
                price,
                confidence: 0.8,
                strategy_name: "ma_crossover".into(),
                timeframe: "H1".into(),
                stop_loss: None,
                take_profit: None,
                reason: None,
                ml_enhanced: false,
                ml_confidence: None,
                ml_agreed: None,
            }),
            Event::TradeOpened(TradeOpened {
                ticket,
                symbol: "EURUSD".into(),
                trade_type: TradeType::Buy,
                volume: Decimal::from_str("0.10")?,
                entry_price: price,
                entry_time: now,
                status: OpenStatus::Open,
                stop_loss: None,
                take_profit: None,
                magic_number: 234000,
                account_number: Some(12345678),
                strategy_name: Some("ma_crossover".into()),
                signal_id: Some(signal_id),
                execution_reason: None,
                signal_confidence: Some(0.8),
                signal_reason: None,
                ml_enhanced: false,
                ml_confidence: None,
                ai_approved: true,
                ai_reasoning: None,
                commission: Decimal::ZERO,
                swap: Decimal::ZERO,
                comment: None,
            }),
        ])
        .await?;
    println!("opened trade {ticket} (signal {signal_id}): {receipt:?}");
    journal.close().await?;
    Ok(())
}
