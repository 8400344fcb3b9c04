//! A trading bot starting again: it opens the journal it wrote before it stopped (or creates
//! one on its first start), reads what recovery found, picks up the trades it left open, and
//! numbers new tickets after the ones it already used.
//!
//! `cargo run --example restart -- DIR` (twice, on the same DIR, to see the restart).

use std::path::PathBuf;
use std::str::FromStr;

use tradeledger::{
    Decimal, Durability, Error, FailurePolicy, JournalHandle, JournalOptions, OpenMode, QueryError,
    Signal, SignalType, Timestamp, TradeClosed, TradeOpened, TradeType,
};

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
        let mut close = TradeClosed::new(trade.ticket, trade.entry_price, now, Decimal::ZERO);
        close.reason = Some("closed at restart".into());
        journal.append(vec![close.into()]).await?;
    }

    // This run's trade: a signal and its fill, one atomic batch, left open for the next run.
    let price = Decimal::from_str("1.10450")?;
    let signal = Signal::new(
        signal_id,
        "EURUSD",
        SignalType::Buy,
        now,
        price,
        0.8,
        "ma_crossover",
        "H1",
    );
    let volume = Decimal::from_str("0.10")?;
    let mut fill = TradeOpened::new(ticket, "EURUSD", TradeType::Buy, volume, price, now);
    fill.magic_number = 234000;
    fill.account_number = Some(12345678);
    fill.strategy_name = Some("ma_crossover".into());
    fill.signal_id = Some(signal_id);
    fill.signal_confidence = Some(0.8);
    let receipt = journal.append(vec![signal.into(), fill.into()]).await?;
    println!("opened trade {ticket} (signal {signal_id}): {receipt:?}");
    journal.close().await?;
    Ok(())
}
