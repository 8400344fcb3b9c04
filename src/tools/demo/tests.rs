//! Whole runs over the EURUSD fixture: journal invariants, determinism, failing sinks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;

use super::*;
use crate::model::event::*;
use crate::model::interchange::{parse_event, write_event};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/eurusd_h1_2017_2018.csv"
);
const HOUR_NS: i64 = 3_600_000_000_000;

fn fixture_bars(limit: usize) -> Vec<Bar> {
    load_bars(Path::new(FIXTURE), Some(limit)).unwrap()
}

async fn run_into_memory(config: DemoConfig, bars: &[Bar]) -> (DemoSummary, Vec<Event>) {
    let sink = Arc::new(MemorySink::new());
    let summary = run(config, bars, Arc::clone(&sink), |_| {}).await;
    (summary, sink.events())
}

/// A trade as the journal's §3 rules see it.
struct TradeState {
    status: TradeStatus,
    entry_time: Timestamp,
}

/// Replays events under the rules of `docs/INTERCHANGE.md` §3, panicking on the first
/// violation, and returns the sum of profit plus commission of closed trades.
#[derive(Default)]
struct JournalCheck {
    signals_executed: HashMap<u64, bool>,
    trades: HashMap<u64, TradeState>,
    realized_usd: Decimal,
    snapshots: Vec<AccountSnapshot>,
}

impl JournalCheck {
    fn apply(&mut self, event: &Event) {
        assert_stateless_valid(event);
        match event {
            Event::Signal(e) => {
                assert!(e.price > Decimal::ZERO);
                assert!((0.0..=1.0).contains(&e.confidence), "{e:?}");
                assert!(self.signals_executed.insert(e.signal_id, false).is_none());
            }
            Event::TradeOpened(e) => {
                assert!(e.volume > Decimal::ZERO && e.entry_price > Decimal::ZERO);
                let signal = e.signal_id.expect("every trade comes from a signal");
                let executed = self
                    .signals_executed
                    .get_mut(&signal)
                    .expect("known signal");
                assert!(!*executed, "signal {signal} executed twice");
                *executed = true;
                self.new_trade(e.ticket, e.status.into(), e.entry_time);
            }
            Event::OrderFailed(e) => {
                assert!(e.volume > Decimal::ZERO && e.entry_price > Decimal::ZERO);
                let signal = e.signal_id.expect("every order comes from a signal");
                assert_eq!(self.signals_executed.get(&signal), Some(&false));
                self.new_trade(e.ticket, TradeStatus::Failed, e.entry_time);
            }
            Event::OrderFilled(e) => {
                assert!(e.entry_price > Decimal::ZERO);
                let trade = self.trade(e.ticket, &[TradeStatus::Pending]);
                assert!(e.entry_time >= trade.entry_time);
                trade.status = TradeStatus::Open;
                trade.entry_time = e.entry_time;
            }
            Event::OrderCancelled(e) => {
                let trade = self.trade(e.ticket, &[TradeStatus::Pending]);
                assert!(e.time >= trade.entry_time);
                trade.status = TradeStatus::Cancelled;
            }
            Event::TradeModified(e) => {
                self.trade(e.ticket, &[TradeStatus::Open, TradeStatus::Pending]);
            }
            Event::TradeClosed(e) => {
                assert!(e.exit_price > Decimal::ZERO);
                let trade = self.trade(e.ticket, &[TradeStatus::Open]);
                assert!(e.exit_time >= trade.entry_time, "{e:?}");
                trade.status = TradeStatus::Closed;
                self.realized_usd += e.profit + e.commission.unwrap_or_default();
            }
            Event::SignalExecuted(e) => panic!("the paper trader links at open: {e:?}"),
            Event::AccountSnapshot(e) => self.snapshots.push(e.clone()),
        }
    }

    fn new_trade(&mut self, ticket: u64, status: TradeStatus, entry_time: Timestamp) {
        let state = TradeState { status, entry_time };
        assert!(
            self.trades.insert(ticket, state).is_none(),
            "ticket {ticket} reused"
        );
    }

    fn trade(&mut self, ticket: u64, allowed: &[TradeStatus]) -> &mut TradeState {
        let trade = self.trades.get_mut(&ticket).expect("known ticket");
        assert!(
            allowed.contains(&trade.status),
            "ticket {ticket} is {:?}",
            trade.status
        );
        trade
    }

    fn count(&self, status: TradeStatus) -> usize {
        self.trades.values().filter(|t| t.status == status).count()
    }
}

/// The event survives the JSON Lines writer and reader unchanged (lengths, ranges, names).
fn assert_stateless_valid(event: &Event) {
    let mut line = String::new();
    write_event(&mut line, event, None, None);
    let parsed = parse_event(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(&parsed, event);
}

fn count_kind(events: &[Event], kind: EventKind) -> u64 {
    events.iter().filter(|e| e.kind() == kind).count() as u64
}

#[tokio::test]
async fn run_over_500_bars_keeps_every_journal_invariant() {
    let bars = fixture_bars(500);
    let progress = Mutex::new(Vec::new());
    let sink = Arc::new(MemorySink::new());
    let record = |done| progress.lock().unwrap().push(done);
    let summary = run(DemoConfig::default(), &bars, Arc::clone(&sink), record).await;
    let events = sink.events();
    assert_eq!(
        progress.into_inner().unwrap(),
        (1..=500).collect::<Vec<_>>()
    );

    let mut check = JournalCheck::default();
    events.iter().for_each(|e| check.apply(e));
    // Every trader signals every bar; the account is snapshotted once per cycle.
    assert_eq!(count_kind(&events, EventKind::Signal), 2 * 500);
    assert_eq!(check.snapshots.len(), 500);
    // Realized profit is exactly what moved the balance.
    let last = check.snapshots.last().unwrap();
    assert_eq!(
        check.realized_usd,
        last.balance - summary.initial_balance_usd
    );
    assert_eq!(
        summary.net_profit_usd,
        last.balance - summary.initial_balance_usd
    );
    assert_eq!(
        (summary.final_balance_usd, summary.final_equity_usd),
        (last.balance, last.equity)
    );
    assert_eq!(summary.open_positions, check.count(TradeStatus::Open));
    assert_eq!(summary.open_positions as u32, last.open_positions);
    assert_eq!(summary.pending_orders, check.count(TradeStatus::Pending));

    // The summary counts what the sink holds.
    assert_eq!(summary.append_failures, 0);
    for kind in EventKind::ALL {
        let appended = summary.events_appended.get(&kind).copied().unwrap_or(0);
        assert_eq!(appended, count_kind(&events, kind), "{kind}");
    }
    assert_eq!(
        summary.trades_closed,
        count_kind(&events, EventKind::TradeClosed)
    );
    assert_eq!(
        summary.trades_closed as usize,
        check.count(TradeStatus::Closed)
    );
    assert_eq!(
        summary.wins + summary.losses + summary.breakevens,
        summary.trades_closed
    );
    assert_eq!(
        summary.append_latencies_ns.len() as u64,
        summary.batches_appended
    );
    // Long enough to exercise the rules the checks above are about.
    let exercised = [
        EventKind::TradeOpened,
        EventKind::OrderFilled,
        EventKind::OrderCancelled,
        EventKind::TradeModified,
        EventKind::TradeClosed,
    ];
    for kind in exercised {
        assert!(count_kind(&events, kind) > 0, "no {kind} in 500 bars");
    }
}

#[tokio::test]
async fn events_of_a_cycle_carry_its_bar_close_time_and_end_with_its_snapshot() {
    let bars = fixture_bars(300);
    let (_, events) = run_into_memory(DemoConfig::default(), &bars).await;
    let mut cycle = 0;
    for event in &events {
        let close_time = Timestamp::from_nanos(bars[cycle].time.nanos() + HOUR_NS);
        assert_eq!(event.time(), close_time, "{event:?}");
        if let Event::AccountSnapshot(snapshot) = event {
            assert_eq!(snapshot.account_number, 12_345_678);
            cycle += 1;
        }
    }
    assert_eq!(cycle, 300);
}

/// Each trader's events, in append order, and the snapshots.
fn streams(events: &[Event]) -> Vec<Vec<&Event>> {
    let mut streams = vec![Vec::new(); 3];
    for event in events {
        streams[event_trader(event).unwrap_or(0) as usize].push(event);
    }
    streams
}

/// Gives other tasks a chance to run before every append, so traders' batches interleave.
#[derive(Default)]
struct YieldingSink {
    memory: MemorySink,
}

impl EventSink for YieldingSink {
    async fn append(&self, events: Vec<Event>) -> Result<u64, SinkError> {
        tokio::task::yield_now().await;
        self.memory.append(events).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_give_identical_per_trader_streams() {
    let bars = fixture_bars(1000);
    let (first_summary, first) = run_into_memory(DemoConfig::default(), &bars).await;
    let sink = Arc::new(YieldingSink::default());
    let second_summary = run(DemoConfig::default(), &bars, Arc::clone(&sink), |_| {}).await;
    let second = sink.memory.events();
    let (first_streams, second_streams) = (streams(&first), streams(&second));
    assert!(first_streams.iter().all(|s| !s.is_empty()));
    assert_eq!(first_streams, second_streams);
    // Same events, cycle by cycle; only the order of the traders' batches may differ.
    let sorted_cycles = |events: &[Event]| {
        let mut cycles: Vec<Vec<String>> = vec![Vec::new()];
        for event in events {
            cycles.last_mut().unwrap().push(format!("{event:?}"));
            if event.kind() == EventKind::AccountSnapshot {
                cycles.last_mut().unwrap().sort();
                cycles.push(Vec::new());
            }
        }
        cycles
    };
    assert_eq!(sorted_cycles(&first), sorted_cycles(&second));
    let without_latencies = |summary: DemoSummary| DemoSummary {
        append_latencies_ns: Vec::new(),
        ..summary
    };
    assert_eq!(
        without_latencies(first_summary),
        without_latencies(second_summary)
    );
}

/// Refuses every `every`-th append, keeps the others.
struct FlakySink {
    memory: MemorySink,
    calls: AtomicU64,
    every: u64,
}

impl EventSink for FlakySink {
    async fn append(&self, events: Vec<Event>) -> Result<u64, SinkError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call.is_multiple_of(self.every) {
            return Err(SinkError::new(format!("disk full (call {call})")));
        }
        self.memory.append(events).await
    }
}

#[tokio::test]
async fn failed_appends_are_counted_and_trading_goes_on() {
    let bars = fixture_bars(400);
    let (clean, clean_events) = run_into_memory(DemoConfig::default(), &bars).await;
    let sink = Arc::new(FlakySink {
        memory: MemorySink::new(),
        calls: AtomicU64::new(0),
        every: 5,
    });
    let flaky = run(DemoConfig::default(), &bars, Arc::clone(&sink), |_| {}).await;
    let calls = sink.calls.load(Ordering::SeqCst);
    assert_eq!(flaky.append_failures, calls / 5);
    assert!(flaky.append_failures > 0);
    assert_eq!(flaky.batches_appended + flaky.append_failures, calls);
    assert_eq!(
        sink.memory.len() as u64 + flaky.events_lost,
        clean_events.len() as u64
    );
    assert!(flaky.last_append_error.unwrap().starts_with("disk full"));
    // The decisions did not change: every trade, profit and balance is the same.
    assert_eq!(flaky.traders, clean.traders);
    assert_eq!(flaky.final_balance_usd, clean.final_balance_usd);
    assert_eq!(flaky.bars_processed, 400);
}

#[test]
fn latency_percentiles_use_the_nearest_rank() {
    let summary = DemoSummary {
        append_latencies_ns: vec![50, 10, 40, 20, 30],
        ..empty_summary()
    };
    assert_eq!(summary.latency_percentile_ns(50.0), Some(30));
    assert_eq!(summary.latency_percentile_ns(100.0), Some(50));
    assert_eq!(summary.latency_percentile_ns(0.0), Some(10));
    assert_eq!(empty_summary().latency_percentile_ns(99.0), None);
}

fn empty_summary() -> DemoSummary {
    DemoSummary {
        bars_processed: 0,
        events_appended: Default::default(),
        batches_appended: 0,
        append_failures: 0,
        events_lost: 0,
        last_append_error: None,
        trades_opened: 0,
        trades_closed: 0,
        wins: 0,
        losses: 0,
        breakevens: 0,
        orders_failed: 0,
        total_profit_usd: Decimal::ZERO,
        commission_usd: Decimal::ZERO,
        net_profit_usd: Decimal::ZERO,
        initial_balance_usd: Decimal::ZERO,
        final_balance_usd: Decimal::ZERO,
        final_equity_usd: Decimal::ZERO,
        open_positions: 0,
        pending_orders: 0,
        traders: Vec::new(),
        append_latencies_ns: Vec::new(),
    }
}

/// The statistics of a full default run, which `docs/DEMO.md` quotes and the CLI's tests
/// check; a change here is a change of the model and must be explained there.
#[tokio::test]
async fn full_default_run_statistics() {
    let bars = fixture_bars(5000);
    let (summary, events) = run_into_memory(DemoConfig::default(), &bars).await;
    let mut check = JournalCheck::default();
    events.iter().for_each(|e| check.apply(e));
    let per_kind: Vec<(&str, u64)> = summary
        .events_appended
        .iter()
        .map(|(kind, count)| (kind.name(), *count))
        .collect();
    assert_eq!(
        per_kind,
        [
            ("signal", 10_000),
            ("trade_opened", 447),
            ("order_filled", 85),
            ("order_cancelled", 32),
            ("order_failed", 3),
            ("trade_modified", 172),
            ("trade_closed", 413),
            ("account_snapshot", 5_000),
        ]
    );
    assert_eq!(summary.events_appended_total(), 16_152);
    assert_eq!(summary.batches_appended, 15_577);
    let counts = (
        summary.trades_opened,
        summary.trades_closed,
        summary.orders_failed,
    );
    assert_eq!(counts, (415, 413, 3));
    let outcomes = (summary.wins, summary.losses, summary.breakevens);
    assert_eq!(outcomes, (109, 227, 77));
    let money = [
        summary.total_profit_usd,
        summary.commission_usd,
        summary.net_profit_usd,
        summary.final_balance_usd,
        summary.final_equity_usd,
    ]
    .map(|amount| amount.to_string());
    assert_eq!(
        money,
        ["-164.40", "-289.10", "-453.50", "9546.50", "9645.40"]
    );
    assert_eq!((summary.open_positions, summary.pending_orders), (2, 0));
    assert_eq!(check.realized_usd, summary.net_profit_usd);
    let per_trader: Vec<_> = summary
        .traders
        .iter()
        .map(|t| {
            let orders = (
                t.market_orders_filled,
                t.limit_orders_placed,
                t.limit_orders_filled,
            );
            let money = (t.profit_usd.to_string(), t.commission_usd.to_string());
            (t.strategy_name.as_str(), orders, t.trades_closed, money)
        })
        .collect();
    let money = |profit: &str, commission: &str| (profit.to_string(), commission.to_string());
    assert_eq!(
        per_trader,
        [
            (
                "ma_crossover_10_30",
                (122, 44, 36),
                157,
                money("124.10", "-109.90")
            ),
            (
                "ma_crossover_5_20",
                (208, 73, 49),
                256,
                money("-288.50", "-179.20")
            ),
        ]
    );
}

/// A caller may spawn the run or drive it from any runtime thread.
#[test]
fn run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let bars = Vec::new();
    let future = run(
        DemoConfig::default(),
        &bars,
        Arc::new(MemorySink::new()),
        |_| {},
    );
    assert_send(&future);
}
