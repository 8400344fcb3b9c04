//! Runs the traders side by side on one account and one sink, in lockstep cycles.
//!
//! Each cycle (one bar): every trader runs as its own tokio task, deciding and appending its
//! batches concurrently with the others; the orchestrator waits for all of them, combines
//! their positions and realized profit into the account, and appends one `account_snapshot`.
//! Only then does the next bar start. A failed append is counted and logged, never retried,
//! and never stops trading (the old system's rule: the journal must not take the trading
//! down with it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use super::account::{Account, ContractSpec};
use super::bars::Bar;
use super::config::{DemoConfig, ID_BLOCK};
use super::sink::EventSink;
use super::trader::{contract_spec, cycle_time, quote, CurrencyTrader, TraderStats};
use crate::model::event::{Event, EventKind};

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoSummary {
    pub bars_processed: usize,
    /// Events the sink accepted, by kind.
    pub events_appended: BTreeMap<EventKind, u64>,
    /// Batches the sink accepted.
    pub batches_appended: u64,
    /// Batches the sink refused; their events are lost (trading went on regardless).
    pub append_failures: u64,
    pub events_lost: u64,
    pub last_append_error: Option<String>,
    /// Positions opened (market fills and limit fills) and closed, by all traders.
    pub trades_opened: u64,
    pub trades_closed: u64,
    /// Closed trades with profit > 0, < 0, = 0.
    pub wins: u64,
    pub losses: u64,
    pub breakevens: u64,
    pub orders_failed: u64,
    /// Sum of `profit` of closed trades: what the journal's `stats` reports as total profit.
    pub total_profit_usd: Decimal,
    /// Sum of commissions of closed trades (negative).
    pub commission_usd: Decimal,
    /// `total_profit_usd + commission_usd` = final balance − initial balance.
    pub net_profit_usd: Decimal,
    pub initial_balance_usd: Decimal,
    pub final_balance_usd: Decimal,
    /// Balance plus the floating profit of positions still open at the last close.
    pub final_equity_usd: Decimal,
    /// Positions and limit orders still open after the last bar (never force-closed).
    pub open_positions: usize,
    pub pending_orders: usize,
    /// Per trader, in `DemoConfig::traders` order.
    pub traders: Vec<TraderStats>,
    /// Wall-clock time of every `append().await`, failed ones included, in nanoseconds.
    pub append_latencies_ns: Vec<u64>,
}

impl DemoSummary {
    pub fn events_appended_total(&self) -> u64 {
        self.events_appended.values().sum()
    }

    /// The nearest-rank percentile (`percentile` in [0, 100]) of the append latencies.
    pub fn latency_percentile_ns(&self, percentile: f64) -> Option<u64> {
        let mut sorted = self.append_latencies_ns.clone();
        sorted.sort_unstable();
        let rank = (percentile.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied()
    }
}

/// The trader (1-based index of `DemoConfig::traders`) that produced `event`, from its ids;
/// `None` for account snapshots, which the orchestrator writes.
pub fn event_trader(event: &Event) -> Option<u64> {
    let id = match event {
        Event::Signal(e) => e.signal_id,
        Event::SignalExecuted(e) => e.signal_id,
        Event::TradeOpened(e) => e.ticket,
        Event::OrderFilled(e) => e.ticket,
        Event::OrderCancelled(e) => e.ticket,
        Event::OrderFailed(e) => e.ticket,
        Event::TradeModified(e) => e.ticket,
        Event::TradeClosed(e) => e.ticket,
        Event::AccountSnapshot(_) => return None,
    };
    Some(id / ID_BLOCK)
}

/// Counts what a sink accepted and refused, and how long each append took.
#[derive(Debug, Default)]
struct AppendLog {
    events: BTreeMap<EventKind, u64>,
    batches: u64,
    failures: u64,
    events_lost: u64,
    last_error: Option<String>,
    latencies_ns: Vec<u64>,
}

impl AppendLog {
    async fn append<S: EventSink>(&mut self, sink: &S, batch: Vec<Event>) {
        let kinds: Vec<EventKind> = batch.iter().map(Event::kind).collect();
        let started = Instant::now();
        let result = sink.append(batch).await;
        let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.latencies_ns.push(elapsed_ns);
        match result {
            Ok(_) => {
                self.batches += 1;
                for kind in kinds {
                    *self.events.entry(kind).or_default() += 1;
                }
            }
            Err(error) => {
                self.failures += 1;
                self.events_lost += kinds.len() as u64;
                tracing::warn!(%error, events = kinds.len(), "append failed; trading goes on");
                self.last_error = Some(error.message);
            }
        }
    }

    fn merge(&mut self, other: AppendLog) {
        for (kind, count) in other.events {
            *self.events.entry(kind).or_default() += count;
        }
        self.batches += other.batches;
        self.failures += other.failures;
        self.events_lost += other.events_lost;
        self.last_error = other.last_error.or(self.last_error.take());
        self.latencies_ns.extend(other.latencies_ns);
    }
}

/// A trader and its append log, moved into a task for each cycle and back out.
struct TraderTask {
    trader: CurrencyTrader,
    log: AppendLog,
}

async fn trader_cycle<S: EventSink>(
    mut task: TraderTask,
    bar: Bar,
    free_margin_usd: Decimal,
    sink: Arc<S>,
) -> TraderTask {
    for batch in task.trader.on_bar(&bar, free_margin_usd) {
        // One batch at a time: a trader's batches reach the sink in decision order.
        task.log.append(&*sink, batch).await;
    }
    task
}

/// Runs every trader on `bar` concurrently and waits for all of them.
async fn run_cycle<S: EventSink>(
    tasks: Vec<TraderTask>,
    bar: &Bar,
    free_margin_usd: Decimal,
    sink: &Arc<S>,
) -> Vec<TraderTask> {
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let cycle = trader_cycle(task, bar.clone(), free_margin_usd, Arc::clone(sink));
            tokio::spawn(cycle)
        })
        .collect();
    let mut done = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(task) => done.push(task),
            // A trader bug must not be hidden behind a silently shorter run.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a trader task was cancelled: {error}"),
        }
    }
    done
}

/// The shared account: initial balance plus every trader's realized profit, and all their
/// open positions (ordered by ticket, so the account does not depend on task order).
fn combined_account(config: &DemoConfig, spec: ContractSpec, tasks: &[TraderTask]) -> Account {
    let realized: Decimal = tasks.iter().map(|t| t.trader.stats().realized_usd()).sum();
    let mut positions: Vec<_> = tasks
        .iter()
        .flat_map(|t| t.trader.positions().iter().cloned())
        .collect();
    positions.sort_by_key(|p| p.ticket);
    Account::new(spec, config.initial_balance_usd + realized, positions)
}

/// Runs the paper trader over `bars`, appending to `sink`; calls `progress` with the number
/// of bars done after each cycle.
///
/// # Panics
/// If `config.validate()` fails (call it first to report the problem), or a trader panics.
pub async fn run<S: EventSink>(
    config: DemoConfig,
    bars: &[Bar],
    sink: Arc<S>,
    progress: impl Fn(usize) + Send + Sync,
) -> DemoSummary {
    if let Err(problem) = config.validate() {
        panic!("invalid demo configuration: {problem}");
    }
    let config = Arc::new(config);
    let spec = contract_spec(&config);
    let mut tasks: Vec<TraderTask> = (1..=config.traders.len())
        .map(|index| TraderTask {
            trader: CurrencyTrader::new(index, Arc::clone(&config)),
            log: AppendLog::default(),
        })
        .collect();
    let mut log = AppendLog::default();
    let mut account = combined_account(&config, spec, &tasks);
    let mut free_margin_usd = config.initial_balance_usd;
    let mut final_equity_usd = config.initial_balance_usd;
    for (done, bar) in bars.iter().enumerate() {
        tasks = run_cycle(tasks, bar, free_margin_usd, &sink).await;
        account = combined_account(&config, spec, &tasks);
        let quote = quote(bar, &config);
        free_margin_usd = account.free_margin_usd(&quote);
        final_equity_usd = account.equity_usd(&quote);
        let snapshot = account.snapshot(
            &quote,
            cycle_time(bar, &config),
            config.account_number,
            &config.server,
            &config.broker,
        );
        log.append(&*sink, vec![Event::AccountSnapshot(snapshot)])
            .await;
        progress(done + 1);
        if config.realtime_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(config.realtime_delay_ms)).await;
        }
    }
    summarize(&config, bars.len(), tasks, log, &account, final_equity_usd)
}

fn summarize(
    config: &DemoConfig,
    bars_processed: usize,
    tasks: Vec<TraderTask>,
    mut log: AppendLog,
    account: &Account,
    final_equity_usd: Decimal,
) -> DemoSummary {
    let traders: Vec<TraderStats> = tasks.iter().map(|t| t.trader.stats().clone()).collect();
    let sum = |field: fn(&TraderStats) -> u64| traders.iter().map(field).sum::<u64>();
    let total_profit_usd: Decimal = traders.iter().map(|t| t.profit_usd).sum();
    let commission_usd: Decimal = traders.iter().map(|t| t.commission_usd).sum();
    let pending_orders = tasks
        .iter()
        .filter(|t| t.trader.pending_order().is_some())
        .count();
    for task in tasks {
        log.merge(task.log);
    }
    DemoSummary {
        bars_processed,
        events_appended: log.events,
        batches_appended: log.batches,
        append_failures: log.failures,
        events_lost: log.events_lost,
        last_append_error: log.last_error,
        trades_opened: sum(TraderStats::trades_opened),
        trades_closed: sum(|t| t.trades_closed),
        wins: sum(|t| t.wins),
        losses: sum(|t| t.losses),
        breakevens: sum(|t| t.breakevens),
        orders_failed: sum(|t| t.orders_failed),
        total_profit_usd,
        commission_usd,
        net_profit_usd: total_profit_usd + commission_usd,
        initial_balance_usd: config.initial_balance_usd,
        final_balance_usd: account.balance_usd(),
        final_equity_usd,
        open_positions: account.positions().len(),
        pending_orders,
        traders,
        append_latencies_ns: log.latencies_ns,
    }
}
