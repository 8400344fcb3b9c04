//! One `CurrencyTrader` per strategy: turns bars into trading decisions and journal events.
//!
//! Pure and synchronous: [`CurrencyTrader::on_bar`] returns the batches to append, so the same
//! bars always give the same batches. Each cycle, in this order:
//!
//! 1. open positions are checked for a stop-loss or take-profit hit inside the bar, using its
//!    high and low (stop loss first when both are inside the range: see [`exit_in_bar`]);
//! 2. stops of positions that moved far enough in favour go to breakeven (`trade_modified`);
//! 3. the pending limit order, if any, is filled if the bar touched its price, or cancelled
//!    once it has waited `pending_expiry_bars`;
//! 4. the strategy's signal is recorded, HOLD included. A BUY or SELL first cancels a waiting
//!    limit order and closes opposite positions at market, then sends its own order. The
//!    signal and everything it caused are **one batch**, signal first, so a journal never
//!    holds a trade without its signal or a signal without its order's outcome.
//!
//! Every event of a cycle carries the bar's close time.

use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};

use super::account::{money_scale, ContractSpec, Position, Quote};
use super::bars::Bar;
use super::config::{DemoConfig, TraderConfig, ID_BLOCK};
use super::strategy::{MaCrossover, StrategySignal};
use crate::model::event::*;

/// `comment` on every trade, so paper trades are never mistaken for live ones.
const TRADE_COMMENT: &str = "paper";

/// What one trader did, counted when it decided (whether or not the journal took the event).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraderStats {
    pub strategy_name: String,
    pub signals: u64,
    /// BUY and SELL signals.
    pub entry_signals: u64,
    pub market_orders_filled: u64,
    pub limit_orders_placed: u64,
    pub limit_orders_filled: u64,
    pub limit_orders_cancelled: u64,
    pub orders_failed: u64,
    pub stops_moved_to_breakeven: u64,
    pub trades_closed: u64,
    /// Closed trades with profit > 0, < 0 and = 0 (`docs/INTERCHANGE.md` §4).
    pub wins: u64,
    pub losses: u64,
    pub breakevens: u64,
    /// Sum of `profit` of closed trades (price move only).
    pub profit_usd: Decimal,
    /// Sum of commissions of closed trades (negative).
    pub commission_usd: Decimal,
}

impl TraderStats {
    /// Positions opened: market fills plus limit fills.
    pub fn trades_opened(&self) -> u64 {
        self.market_orders_filled + self.limit_orders_filled
    }

    /// What closed trades added to the balance: profit plus commission.
    pub fn realized_usd(&self) -> Decimal {
        self.profit_usd + self.commission_usd
    }
}

/// A limit order waiting for the market to reach its price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOrder {
    pub ticket: u64,
    pub trade_type: TradeType,
    pub volume_lots: Decimal,
    pub limit_price: Decimal,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub placed_time: Timestamp,
    /// Bars checked since it was placed.
    pub bars_waited: u32,
}

/// Why and where a position left the market inside a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub price: Decimal,
    pub reason: &'static str,
}

/// The stop-loss or take-profit exit of `position` inside `bar`, if any.
///
/// Positions close on the other side of the spread: a BUY at the bid (the bar's prices), a
/// SELL at the ask (bar + `spread`). A bar only says which prices were reached, not in what
/// order, so when both levels are inside its range **the stop loss is assumed hit first**
/// (the conservative choice). A stop that the bar opened beyond (a gap) fills at the open,
/// the worse price; a take profit fills at its level, never better.
pub fn exit_in_bar(position: &Position, bar: &Bar, spread: Decimal) -> Option<Exit> {
    let shift = match position.trade_type {
        TradeType::Buy => Decimal::ZERO,
        TradeType::Sell => spread,
    };
    let (open, high, low) = (bar.open + shift, bar.high + shift, bar.low + shift);
    let (adverse, stop_reached, target_reached) = match position.trade_type {
        TradeType::Buy => (
            open.min(position.stop_loss.unwrap_or(open)),
            position.stop_loss.is_some_and(|stop| low <= stop),
            position.take_profit.is_some_and(|target| high >= target),
        ),
        TradeType::Sell => (
            open.max(position.stop_loss.unwrap_or(open)),
            position.stop_loss.is_some_and(|stop| high >= stop),
            position.take_profit.is_some_and(|target| low <= target),
        ),
    };
    if stop_reached {
        Some(Exit {
            price: adverse,
            reason: "stop loss",
        })
    } else {
        let target = position.take_profit.filter(|_| target_reached)?;
        Some(Exit {
            price: target,
            reason: "take profit",
        })
    }
}

/// How an order reaches the market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrderKind {
    Market,
    Limit,
}

/// An order the trader is about to send.
#[derive(Clone, Debug)]
struct OrderPlan {
    trade_type: TradeType,
    kind: OrderKind,
    price: Decimal,
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    execution_reason: String,
}

/// The state of one cycle while the trader works through it.
struct Cycle<'a> {
    bar: &'a Bar,
    time: Timestamp,
    quote: Quote,
    /// Free margin the trader may still use this cycle (see `on_bar`).
    free_margin_usd: Decimal,
    batches: Vec<Vec<Event>>,
}

/// A paper trader for one strategy on one symbol.
#[derive(Debug)]
pub struct CurrencyTrader {
    /// 1-based; ids are `index * ID_BLOCK + n`.
    index: u64,
    config: Arc<DemoConfig>,
    settings: TraderConfig,
    spec: ContractSpec,
    strategy: MaCrossover,
    positions: Vec<Position>,
    pending: Option<PendingOrder>,
    signals_issued: u64,
    tickets_issued: u64,
    order_attempts: u64,
    stats: TraderStats,
}

impl CurrencyTrader {
    /// Trader `index` (1-based) of `config.traders`.
    ///
    /// # Panics
    /// If `index` is 0 or beyond `config.traders` (the orchestrator numbers them).
    pub fn new(index: usize, config: Arc<DemoConfig>) -> Self {
        let settings = config.traders[index - 1].clone();
        let spec = contract_spec(&config);
        CurrencyTrader {
            index: index as u64,
            strategy: MaCrossover::new(settings.fast_period_bars, settings.slow_period_bars),
            stats: TraderStats {
                strategy_name: settings.strategy_name.clone(),
                ..TraderStats::default()
            },
            config,
            settings,
            spec,
            positions: Vec::new(),
            pending: None,
            signals_issued: 0,
            tickets_issued: 0,
            order_attempts: 0,
        }
    }

    pub fn strategy_name(&self) -> &str {
        &self.settings.strategy_name
    }

    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    pub fn pending_order(&self) -> Option<&PendingOrder> {
        self.pending.as_ref()
    }

    pub fn stats(&self) -> &TraderStats {
        &self.stats
    }

    /// Processes one bar and returns the batches to append, in order.
    ///
    /// `free_margin_usd` is the account's free margin at the end of the previous cycle. The
    /// trader adjusts it for its own closes and fills in this cycle but does not see other
    /// traders' changes in the same cycle, so its decisions do not depend on which trader
    /// runs first (`docs/DEMO.md`, "Concurrency, failures and determinism").
    pub fn on_bar(&mut self, bar: &Bar, free_margin_usd: Decimal) -> Vec<Vec<Event>> {
        let mut cycle = Cycle {
            bar,
            time: cycle_time(bar, &self.config),
            quote: quote(bar, &self.config),
            free_margin_usd,
            batches: Vec::new(),
        };
        self.check_exits(&mut cycle);
        self.move_stops_to_breakeven(&mut cycle);
        self.check_pending(&mut cycle);
        let signal = self.strategy.on_bar(bar);
        self.act_on_signal(signal, &mut cycle);
        cycle.batches
    }

    fn check_exits(&mut self, cycle: &mut Cycle) {
        let spread = self.config.spread();
        for position in std::mem::take(&mut self.positions) {
            match exit_in_bar(&position, cycle.bar, spread) {
                Some(exit) => {
                    let closed = self.close(&position, exit.price, exit.reason, cycle);
                    cycle.batches.push(vec![closed]);
                }
                None => self.positions.push(position),
            }
        }
    }

    /// Closes `position` at `price`: books profit and commission, releases its margin.
    fn close(
        &mut self,
        position: &Position,
        price: Decimal,
        reason: &str,
        cycle: &mut Cycle,
    ) -> Event {
        let (trade_type, entry) = (position.trade_type, position.entry_price);
        let profit = self
            .spec
            .profit_usd(trade_type, position.volume_lots, entry, price);
        let commission = money_scale(-(self.config.commission_per_lot_usd * position.volume_lots));
        let stats = &mut self.stats;
        stats.trades_closed += 1;
        match profit.cmp(&Decimal::ZERO) {
            std::cmp::Ordering::Greater => stats.wins += 1,
            std::cmp::Ordering::Less => stats.losses += 1,
            std::cmp::Ordering::Equal => stats.breakevens += 1,
        }
        stats.profit_usd += profit;
        stats.commission_usd += commission;
        cycle.free_margin_usd += position.margin_usd + profit + commission;
        Event::TradeClosed(TradeClosed {
            ticket: position.ticket,
            exit_price: price,
            exit_time: cycle.time,
            profit,
            pips: Some(self.spec.pips(trade_type, entry, price)),
            commission: Some(commission),
            swap: None,
            reason: Some(reason.into()),
        })
    }

    /// Moves the stop loss to the entry price once the close is `breakeven_trigger_pips` in
    /// favour. Judged on the close, not the high or low, so the new stop is always on the
    /// right side of the current price.
    fn move_stops_to_breakeven(&mut self, cycle: &mut Cycle) {
        let Some(trigger_pips) = self.config.breakeven_trigger_pips else {
            return;
        };
        for position in &mut self.positions {
            let (trade_type, entry) = (position.trade_type, position.entry_price);
            let moved_pips = self
                .spec
                .pips(trade_type, entry, cycle.quote.close_price(trade_type));
            let stop_behind_entry = match (trade_type, position.stop_loss) {
                (_, None) => true,
                (TradeType::Buy, Some(stop)) => stop < entry,
                (TradeType::Sell, Some(stop)) => stop > entry,
            };
            if moved_pips >= trigger_pips && stop_behind_entry {
                position.stop_loss = Some(entry);
                self.stats.stops_moved_to_breakeven += 1;
                cycle.batches.push(vec![Event::TradeModified(TradeModified {
                    ticket: position.ticket,
                    time: cycle.time,
                    stop_loss: PriceUpdate::Set(entry),
                    take_profit: PriceUpdate::Unchanged,
                })]);
            }
        }
    }

    /// Fills the limit order if the bar reached its price (at the limit price, never
    /// better), or cancels it once it has waited `pending_expiry_bars` bars.
    fn check_pending(&mut self, cycle: &mut Cycle) {
        let Some(mut order) = self.pending.take() else {
            return;
        };
        order.bars_waited += 1;
        let touched = match order.trade_type {
            TradeType::Buy => cycle.bar.low + self.config.spread() <= order.limit_price,
            TradeType::Sell => cycle.bar.high >= order.limit_price,
        };
        let margin = self.spec.margin_usd(order.volume_lots, order.limit_price);
        if touched && margin > cycle.free_margin_usd {
            let reason = format!("not enough free margin at fill: {margin} USD needed");
            let cancelled = self.cancel(&order, reason, cycle.time);
            cycle.batches.push(vec![cancelled]);
        } else if touched {
            cycle.free_margin_usd -= margin;
            self.stats.limit_orders_filled += 1;
            self.positions.push(Position {
                ticket: order.ticket,
                trade_type: order.trade_type,
                volume_lots: order.volume_lots,
                entry_price: order.limit_price,
                entry_time: cycle.time,
                stop_loss: order.stop_loss,
                take_profit: order.take_profit,
                margin_usd: margin,
            });
            cycle.batches.push(vec![Event::OrderFilled(OrderFilled {
                ticket: order.ticket,
                entry_price: order.limit_price,
                entry_time: cycle.time,
            })]);
        } else if order.bars_waited >= self.config.pending_expiry_bars {
            let reason = format!("expired after {} bars", order.bars_waited);
            let cancelled = self.cancel(&order, reason, cycle.time);
            cycle.batches.push(vec![cancelled]);
        } else {
            self.pending = Some(order);
        }
    }

    fn cancel(&mut self, order: &PendingOrder, reason: String, time: Timestamp) -> Event {
        self.stats.limit_orders_cancelled += 1;
        Event::OrderCancelled(OrderCancelled {
            ticket: order.ticket,
            time,
            reason: Some(reason),
        })
    }

    /// Records the signal; on BUY or SELL also acts on it, all in one batch.
    fn act_on_signal(&mut self, signal: StrategySignal, cycle: &mut Cycle) {
        self.signals_issued += 1;
        self.stats.signals += 1;
        let signal_id = self.index * ID_BLOCK + self.signals_issued;
        let trade_type = match signal.signal_type {
            SignalType::Buy => Some(TradeType::Buy),
            SignalType::Sell => Some(TradeType::Sell),
            SignalType::Hold => None,
        };
        let Some(trade_type) = trade_type else {
            let event = self.signal_event(signal_id, &signal, None, cycle);
            cycle.batches.push(vec![event]);
            return;
        };
        self.stats.entry_signals += 1;
        let mut consequences = Vec::new();
        if let Some(order) = self.pending.take() {
            let reason = "replaced by a new signal".to_string();
            consequences.push(self.cancel(&order, reason, cycle.time));
        }
        let (opposite, kept): (Vec<Position>, Vec<Position>) = std::mem::take(&mut self.positions)
            .into_iter()
            .partition(|p| p.trade_type != trade_type);
        self.positions = kept;
        for position in &opposite {
            let price = self.market_close_price(position.trade_type, cycle);
            consequences.push(self.close(position, price, "opposite signal", cycle));
        }
        let plan = self.plan_order(trade_type, signal.confidence, cycle);
        let mut batch = vec![self.signal_event(signal_id, &signal, Some(&plan), cycle)];
        batch.extend(consequences);
        batch.push(self.submit(&plan, signal_id, &signal, cycle));
        cycle.batches.push(batch);
    }

    fn signal_event(
        &self,
        signal_id: u64,
        signal: &StrategySignal,
        plan: Option<&OrderPlan>,
        cycle: &Cycle,
    ) -> Event {
        Event::Signal(Signal {
            signal_id,
            symbol: self.config.symbol.clone(),
            signal_type: signal.signal_type,
            timestamp: cycle.time,
            price: cycle.bar.close,
            confidence: signal.confidence,
            strategy_name: self.settings.strategy_name.clone(),
            timeframe: self.config.timeframe.clone(),
            stop_loss: plan.and_then(|p| p.stop_loss),
            take_profit: plan.and_then(|p| p.take_profit),
            reason: Some(signal.reason.clone()),
            ml_enhanced: false,
            ml_confidence: None,
            ml_agreed: None,
        })
    }

    /// Slippage of a market order in this bar: a fraction of the bar's range, capped, rounded
    /// down to the price precision. Derived from the bar, so it is reproducible.
    fn slippage(&self, bar: &Bar) -> Decimal {
        let config = &self.config;
        let cap = config.max_slippage_pips * config.pip_size;
        ((bar.high - bar.low) * config.slippage_range_ratio)
            .min(cap)
            .round_dp_with_strategy(config.price_decimals, RoundingStrategy::ToZero)
    }

    /// Where a market order closing a `trade_type` position fills: bid or ask, slipped
    /// against the trader.
    fn market_close_price(&self, trade_type: TradeType, cycle: &Cycle) -> Decimal {
        let slippage = self.slippage(cycle.bar);
        match trade_type {
            TradeType::Buy => cycle.quote.bid - slippage,
            TradeType::Sell => cycle.quote.ask + slippage,
        }
    }

    /// A market order, or a limit order `limit_offset_pips` better than the market when the
    /// signal's confidence is below `limit_below_confidence`.
    fn plan_order(&self, trade_type: TradeType, confidence: f64, cycle: &Cycle) -> OrderPlan {
        let config = &self.config;
        let market = cycle.quote.open_price(trade_type);
        let slippage = self.slippage(cycle.bar);
        let offset = config.limit_offset_pips * config.pip_size;
        let (kind, price, execution_reason) = if confidence < config.limit_below_confidence {
            let price = match trade_type {
                TradeType::Buy => market - offset,
                TradeType::Sell => market + offset,
            };
            let reason = format!(
                "limit order {} pips better than market: confidence {confidence} below {}",
                config.limit_offset_pips, config.limit_below_confidence
            );
            (OrderKind::Limit, price, reason)
        } else {
            let price = match trade_type {
                TradeType::Buy => market + slippage,
                TradeType::Sell => market - slippage,
            };
            let reason = format!("market order, confidence {confidence}");
            (OrderKind::Market, price, reason)
        };
        let stop = config.stop_loss_pips * config.pip_size;
        let target = config.take_profit_pips * config.pip_size;
        let (stop_loss, take_profit) = match trade_type {
            TradeType::Buy => (price - stop, price + target),
            TradeType::Sell => (price + stop, price - target),
        };
        let positive = |level: Decimal| (level > Decimal::ZERO).then_some(level);
        OrderPlan {
            trade_type,
            kind,
            price,
            stop_loss: positive(stop_loss),
            take_profit: positive(take_profit),
            execution_reason,
        }
    }
}

/// The broker side: rejection rules, then the fill or the placed order.
impl CurrencyTrader {
    fn submit(
        &mut self,
        plan: &OrderPlan,
        signal_id: u64,
        signal: &StrategySignal,
        cycle: &mut Cycle,
    ) -> Event {
        self.order_attempts += 1;
        self.tickets_issued += 1;
        let ticket = self.index * ID_BLOCK + self.tickets_issued;
        let volume_lots = self.config.volume_lots;
        let margin = self.spec.margin_usd(volume_lots, plan.price);
        let every = self.config.requote_every_attempts;
        let rejection = if every > 0 && self.order_attempts.is_multiple_of(every) {
            Some("requote".to_string())
        } else if margin > cycle.free_margin_usd {
            Some(format!(
                "not enough money: margin {margin} USD, free margin {} USD",
                cycle.free_margin_usd
            ))
        } else {
            None
        };
        if let Some(reason) = rejection {
            self.stats.orders_failed += 1;
            return self.order_failed(ticket, plan, signal_id, reason, cycle.time);
        }
        let status = match plan.kind {
            OrderKind::Market => {
                cycle.free_margin_usd -= margin;
                self.stats.market_orders_filled += 1;
                self.positions.push(Position {
                    ticket,
                    trade_type: plan.trade_type,
                    volume_lots,
                    entry_price: plan.price,
                    entry_time: cycle.time,
                    stop_loss: plan.stop_loss,
                    take_profit: plan.take_profit,
                    margin_usd: margin,
                });
                OpenStatus::Open
            }
            OrderKind::Limit => {
                self.stats.limit_orders_placed += 1;
                self.pending = Some(PendingOrder {
                    ticket,
                    trade_type: plan.trade_type,
                    volume_lots,
                    limit_price: plan.price,
                    stop_loss: plan.stop_loss,
                    take_profit: plan.take_profit,
                    placed_time: cycle.time,
                    bars_waited: 0,
                });
                OpenStatus::Pending
            }
        };
        self.trade_opened(ticket, plan, status, signal_id, signal, cycle.time)
    }

    fn trade_opened(
        &self,
        ticket: u64,
        plan: &OrderPlan,
        status: OpenStatus,
        signal_id: u64,
        signal: &StrategySignal,
        time: Timestamp,
    ) -> Event {
        Event::TradeOpened(TradeOpened {
            ticket,
            symbol: self.config.symbol.clone(),
            trade_type: plan.trade_type,
            volume: self.config.volume_lots,
            entry_price: plan.price,
            entry_time: time,
            status,
            stop_loss: plan.stop_loss,
            take_profit: plan.take_profit,
            magic_number: self.settings.magic_number,
            account_number: Some(self.config.account_number),
            strategy_name: Some(self.settings.strategy_name.clone()),
            signal_id: Some(signal_id),
            execution_reason: Some(plan.execution_reason.clone()),
            signal_confidence: Some(signal.confidence),
            signal_reason: Some(signal.reason.clone()),
            ml_enhanced: false,
            ml_confidence: None,
            ai_approved: true,
            ai_reasoning: None,
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
            comment: Some(TRADE_COMMENT.into()),
        })
    }

    fn order_failed(
        &self,
        ticket: u64,
        plan: &OrderPlan,
        signal_id: u64,
        reason: String,
        time: Timestamp,
    ) -> Event {
        Event::OrderFailed(OrderFailed {
            ticket,
            symbol: self.config.symbol.clone(),
            trade_type: plan.trade_type,
            volume: self.config.volume_lots,
            entry_price: plan.price,
            entry_time: time,
            reason: Some(reason),
            signal_id: Some(signal_id),
            account_number: Some(self.config.account_number),
            strategy_name: Some(self.settings.strategy_name.clone()),
            magic_number: self.settings.magic_number,
        })
    }
}

pub(crate) fn contract_spec(config: &DemoConfig) -> ContractSpec {
    ContractSpec {
        contract_size_units: config.contract_size_units,
        pip_size: config.pip_size,
        leverage: config.leverage,
    }
}

/// The time every event of the cycle carries: the bar's close (open time + duration),
/// when its close price is known and decisions are made.
pub fn cycle_time(bar: &Bar, config: &DemoConfig) -> Timestamp {
    let duration_ns = config.bar_duration_secs.saturating_mul(1_000_000_000);
    Timestamp::from_nanos(bar.time.nanos().saturating_add(duration_ns))
}

/// Bid and ask at the bar's close.
pub fn quote(bar: &Bar, config: &DemoConfig) -> Quote {
    Quote {
        bid: bar.close,
        ask: bar.close + config.spread(),
    }
}

#[cfg(test)]
#[path = "trader_tests.rs"]
mod tests;
