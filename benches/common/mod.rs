//! Shared by the benches: where bench journals live, one sample event per kind, and a
//! generator of realistic event streams (valid lifecycles, so a ledger accepts every event).
//!
//! Each bench includes this module with `mod common;` and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use rust_decimal::Decimal;
use tradeledger::model::event::*;
use tradeledger::storage::journal::{Journal, JournalOptions};
use tradeledger::Durability;

/// Runs `tradeledger ARGS` (the bench build's binary) and returns its standard output;
/// panics with its standard error when it fails.
pub fn run_cli(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(args)
        .output()
        .expect("run tradeledger");
    assert!(
        out.status.success(),
        "tradeledger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Where bench journals live: the project's disk (never tmpfs), under `target/`.
pub fn bench_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-journals")
}

/// An empty folder `target/bench-journals/<name>` (removed first if it exists).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = bench_root().join(name);
    remove_dir(&dir);
    std::fs::create_dir_all(bench_root()).expect("create target/bench-journals");
    dir
}

/// Removes a bench folder; a folder that is already gone is fine.
pub fn remove_dir(dir: &std::path::Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", dir.display()),
    }
}

/// Journal options for benches: no automatic checkpoints unless a bench asks for them.
pub fn options(durability: Durability) -> JournalOptions {
    JournalOptions {
        durability,
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    }
}

pub const SYMBOLS: [&str; 3] = ["EURUSD", "GBPUSD", "USDJPY"];
pub const ACCOUNTS: [u64; 2] = [1001, 1002];
pub const MINUTE_NANOS: i64 = 60_000_000_000;
/// 2024-01-01T00:00:00Z: the generator's first cycle.
pub const START_NANOS: i64 = 1_704_067_200_000_000_000;
/// Tickets of rejected orders are counted from here, apart from the cycle tickets.
const FAILED_TICKET_BASE: u64 = 1 << 40;

/// The time of generator cycle `cycle` (one cycle per minute).
pub fn at(cycle: u64) -> Timestamp {
    Timestamp::from_nanos(START_NANOS + cycle as i64 * MINUTE_NANOS)
}

/// A small `signal`: short names, no optional fields (about 50 bytes encoded).
pub fn small_signal(signal_id: u64) -> Event {
    Event::Signal(Signal::new(
        signal_id,
        "EURUSD",
        SignalType::Hold,
        at(signal_id),
        Decimal::new(110_450, 5),
        0.5,
        "ma",
        "H1",
    ))
}

/// `sample::trade_opened` with 1 KiB of model reasoning text (about 1.2 KiB encoded).
pub fn large_trade_opened(ticket: u64) -> Event {
    let mut event = tradeledger::tools::sample::trade_opened(ticket, at(ticket));
    if let Event::TradeOpened(trade) = &mut event {
        let sentence = "The fast moving average crossed above the slow one on rising volume. ";
        let mut text = sentence.repeat(1024 / sentence.len() + 1);
        text.truncate(1024);
        trade.ai_reasoning = Some(text);
    }
    event
}

/// One event of every kind, in [`EventKind::ALL`] order, with the fields a live trader fills in.
pub fn one_of_each_kind() -> Vec<Event> {
    let time = at(1);
    let mut generator = Generator::new();
    let mut events = vec![];
    // Cycle 5 of the generator holds a signal_executed; earlier cycles hold the other kinds.
    while !EventKind::ALL
        .iter()
        .all(|kind| events.iter().any(|e: &Event| e.kind() == *kind))
    {
        generator.next_cycle(&mut events);
    }
    let mut one = vec![];
    for kind in EventKind::ALL {
        let mut event = events.iter().find(|e| e.kind() == kind).unwrap().clone();
        if let Event::TradeOpened(_) = event {
            event = tradeledger::tools::sample::trade_opened(1, time);
        }
        one.push(event);
    }
    one
}

/// An endless, valid trading history, one cycle per minute over 3 symbols and 2 accounts: a
/// signal; a trade (half linked to their signal, one in ten placed as a pending order that is
/// then filled or, one in twenty, cancelled); a stop-loss change on three in ten; a late link
/// of the signal on one in ten; a rejected order on one in fifty; the close of the trade
/// opened 20 trades earlier; and an account snapshot. About 5 events per trade, every kind.
pub struct Generator {
    cycle: u64,
    open: std::collections::VecDeque<u64>,
}

impl Default for Generator {
    fn default() -> Self {
        Generator::new()
    }
}

impl Generator {
    pub fn new() -> Generator {
        Generator {
            cycle: 0,
            open: std::collections::VecDeque::new(),
        }
    }

    /// The last cycle generated (its time is [`at`]`(cycle)`).
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Appends the events of the next cycle to `out`.
    pub fn next_cycle(&mut self, out: &mut Vec<Event>) {
        self.cycle += 1;
        let cycle = self.cycle;
        out.push(signal(cycle));
        let pending = cycle % 10 == 3;
        let cancelled = pending && cycle % 20 == 13;
        out.push(opened(cycle, pending));
        if cancelled {
            let mut cancel = OrderCancelled::new(cycle, at(cycle));
            cancel.reason = Some("expired".into());
            out.push(Event::OrderCancelled(cancel));
        } else {
            if pending {
                let fill = OrderFilled::new(cycle, Decimal::new(110_460, 5), at(cycle));
                out.push(Event::OrderFilled(fill));
            }
            self.open.push_back(cycle);
            if cycle % 10 < 3 {
                out.push(modified(cycle));
            }
        }
        if cycle % 10 == 5 {
            // Odd tickets are opened without a signal link: link it afterwards.
            let mut link = SignalExecuted::new(cycle, cycle);
            link.execution_reason = Some("linked after the fill".into());
            out.push(Event::SignalExecuted(link));
        }
        if cycle % 50 == 17 {
            out.push(failed(FAILED_TICKET_BASE + cycle, cycle));
        }
        if self.open.len() > 20 {
            let ticket = self.open.pop_front().expect("more than 20 open");
            out.push(closed(ticket, cycle));
        }
        out.push(snapshot(cycle));
    }

    /// At least `count` events (whole cycles).
    pub fn events(&mut self, count: usize) -> Vec<Event> {
        let mut events = Vec::with_capacity(count + 8);
        while events.len() < count {
            self.next_cycle(&mut events);
        }
        events
    }
}

fn signal(cycle: u64) -> Event {
    let mut signal = Signal::new(
        cycle,
        SYMBOLS[cycle as usize % 3],
        SignalType::Buy,
        at(cycle),
        Decimal::new(110_450 + (cycle % 100) as i64, 5),
        0.8,
        "ma_crossover",
        "H1",
    );
    signal.stop_loss = Some(Decimal::new(109_950, 5));
    signal.take_profit = Some(Decimal::new(111_450, 5));
    signal.reason = Some("fast MA crossed above slow MA".into());
    Event::Signal(signal)
}

fn opened(cycle: u64, pending: bool) -> Event {
    let mut trade = TradeOpened::new(
        cycle,
        SYMBOLS[cycle as usize % 3],
        if cycle.is_multiple_of(3) {
            TradeType::Sell
        } else {
            TradeType::Buy
        },
        Decimal::new(10, 2),
        Decimal::new(110_450 + (cycle % 100) as i64, 5),
        at(cycle),
    );
    trade.status = if pending {
        OpenStatus::Pending
    } else {
        OpenStatus::Open
    };
    trade.stop_loss = Some(Decimal::new(109_950, 5));
    trade.take_profit = Some(Decimal::new(111_450, 5));
    trade.magic_number = 234_000;
    trade.account_number = Some(ACCOUNTS[cycle as usize % 2]);
    trade.strategy_name = Some("ma_crossover".into());
    trade.signal_id = cycle.is_multiple_of(2).then_some(cycle);
    trade.execution_reason = Some("fast MA crossed above slow MA".into());
    trade.signal_confidence = Some(0.8);
    trade.signal_reason = Some("trend".into());
    trade.commission = Decimal::new(-70, 2);
    Event::TradeOpened(trade)
}

fn modified(ticket: u64) -> Event {
    let mut modify = TradeModified::new(ticket, at(ticket));
    modify.stop_loss = PriceUpdate::Set(Decimal::new(110_000, 5));
    Event::TradeModified(modify)
}

fn failed(ticket: u64, cycle: u64) -> Event {
    let mut failed = OrderFailed::new(
        ticket,
        SYMBOLS[cycle as usize % 3],
        TradeType::Buy,
        Decimal::new(10, 2),
        Decimal::new(110_450, 5),
        at(cycle),
    );
    failed.reason = Some("market closed".into());
    failed.account_number = Some(ACCOUNTS[cycle as usize % 2]);
    failed.strategy_name = Some("ma_crossover".into());
    failed.magic_number = 234_000;
    Event::OrderFailed(failed)
}

fn closed(ticket: u64, cycle: u64) -> Event {
    let mut close = TradeClosed::new(
        ticket,
        Decimal::new(110_500, 5),
        at(cycle),
        Decimal::new((ticket as i64 * 7919) % 5_000 - 2_000, 2),
    );
    close.pips = Some(Decimal::new(50, 1));
    close.reason = Some("take profit".into());
    Event::TradeClosed(close)
}

fn snapshot(cycle: u64) -> Event {
    let mut snapshot = AccountSnapshot::new(
        ACCOUNTS[cycle as usize % 2],
        "Demo-1",
        "Broker",
        Decimal::new(1_000_000 + cycle as i64, 2),
        Decimal::new(1_000_500 + cycle as i64, 2),
        at(cycle),
    );
    snapshot.profit = Some(Decimal::new(500, 2));
    snapshot.margin = Some(Decimal::new(22_000, 2));
    snapshot.margin_free = Some(Decimal::new(978_000, 2));
    snapshot.total_volume = Decimal::new(200, 2);
    snapshot.margin_level = Some(Decimal::new(454_545, 2));
    snapshot.open_positions = 20;
    Event::AccountSnapshot(snapshot)
}

/// Writes a journal of at least `count` generated events into `target/bench-journals/<name>`
/// (Buffered, appended in batches of about 1000), closes it and returns its folder.
pub fn write_journal(name: &str, count: usize) -> PathBuf {
    let dir = fresh_dir(name);
    let journal = Journal::create(&dir, &options(Durability::Buffered)).expect("create journal");
    let mut generator = Generator::new();
    let (mut written, mut batch) = (0, Vec::with_capacity(1100));
    while written < count {
        batch.clear();
        while batch.len() < 1000 {
            generator.next_cycle(&mut batch);
        }
        journal.append(&batch).expect("append");
        written += batch.len();
    }
    journal.close().expect("close journal");
    dir
}
