//! Property tests of the projections against a plain model.
//!
//! Random *valid* journals are built from abstract operations (signals, opens, pending orders
//! that fill or cancel, failures, modifications, closes, links, snapshots; 2 accounts plus
//! trades without one, 3 symbols, times clustered on UTC midnights). Checked:
//! - `trade_statistics` equals a naive computation over a plain `Vec` of closed trades;
//! - daily rows equal a naive grouping by exit date, end balances included;
//! - the live state (applied event by event, with two checkpoint round trips on the way, the
//!   second merging the first one's stored history with what came after) equals the state
//!   rebuilt from scratch, and `decode_state(encode_state())` equals it;
//! - a state read partly from checkpoints answers every query exactly as the replayed one, and
//!   both match the model;
//! - `check_batch` accepts the valid journal and reports the index of an invalid mutation.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::sample::Index;
use rust_decimal::Decimal;
use tradeledger::model::event::*;
use tradeledger::projection::*;

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;
/// 2024-03-01T00:00:00Z.
const BASE_NANOS: i64 = 1_709_251_200 * 1_000_000_000;
const DAYS: i64 = 6;
const SYMBOLS: [&str; 3] = ["EURUSD", "GBPUSD", "USDJPY"];
const ACCOUNTS: [Option<u64>; 3] = [Some(1001), Some(2002), None];

fn time(offset_nanos: i64) -> Timestamp {
    Timestamp::from_nanos(BASE_NANOS + offset_nanos)
}

/// Offsets that hit the interesting places: midnights, just before them, anywhere.
fn instant() -> impl Strategy<Value = i64> {
    let day = 0..DAYS;
    prop_oneof![
        3 => 0..DAYS * NANOS_PER_DAY,
        1 => day.clone().prop_map(|d| d * NANOS_PER_DAY),
        1 => day.clone().prop_map(|d| d * NANOS_PER_DAY - 1),
        1 => day.prop_map(|d| d * NANOS_PER_DAY - 500_000_000),
    ]
}

fn delay() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), 1..1_000_000_000i64, 0..2 * NANOS_PER_DAY]
}

fn profit() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        3 => (-5_000i64..5_000, 0u32..4).prop_map(|(units, scale)| Decimal::new(units, scale)),
        1 => (0u32..3).prop_map(|scale| Decimal::new(0, scale)),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Signal {
        symbol: usize,
        at: i64,
        hold: bool,
    },
    Open {
        symbol: usize,
        account: usize,
        at: i64,
        pending: bool,
        signal: Option<Index>,
    },
    Fail {
        symbol: usize,
        account: usize,
        at: i64,
        signal: Option<Index>,
    },
    Fill {
        pick: Index,
        delay: i64,
    },
    Cancel {
        pick: Index,
        delay: i64,
    },
    Modify {
        pick: Index,
        remove: bool,
    },
    Close {
        pick: Index,
        delay: i64,
        profit: Decimal,
        costs: (i64, i64),
    },
    Link {
        signal: Index,
        trade: Index,
    },
    Snapshot {
        account: usize,
        at: i64,
        balance: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let (symbol, account) = (0..SYMBOLS.len(), 0..ACCOUNTS.len());
    prop_oneof![
        2 => (symbol.clone(), instant(), any::<bool>()).prop_map(|(symbol, at, hold)| Op::Signal { symbol, at, hold }),
        4 => (symbol.clone(), account.clone(), instant(), any::<bool>(), any::<Option<Index>>())
            .prop_map(|(symbol, account, at, pending, signal)| Op::Open { symbol, account, at, pending, signal }),
        1 => (symbol, account.clone(), instant(), any::<Option<Index>>())
            .prop_map(|(symbol, account, at, signal)| Op::Fail { symbol, account, at, signal }),
        2 => (any::<Index>(), delay()).prop_map(|(pick, delay)| Op::Fill { pick, delay }),
        1 => (any::<Index>(), delay()).prop_map(|(pick, delay)| Op::Cancel { pick, delay }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(pick, remove)| Op::Modify { pick, remove }),
        5 => (any::<Index>(), delay(), profit(), (-300i64..=0, -200i64..200)).prop_map(|(pick, delay, profit, costs)| Op::Close { pick, delay, profit, costs }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(signal, trade)| Op::Link { signal, trade }),
        2 => (account, instant(), 0i64..100_000).prop_map(|(account, at, balance)| Op::Snapshot { account, at, balance }),
    ]
}

/// The strategy and magic number of a trade follow from its ticket: every combination occurs.
const STRATEGIES: [Option<&str>; 3] = [Some("trend"), Some("revert"), None];
const MAGICS: [u64; 2] = [1, 234_000];

fn strategy_of(ticket: u64) -> Option<&'static str> {
    STRATEGIES[ticket as usize % STRATEGIES.len()]
}

fn magic_of(ticket: u64) -> u64 {
    MAGICS[(ticket / 3) as usize % MAGICS.len()]
}

#[derive(Clone, Debug)]
struct SimTrade {
    ticket: u64,
    symbol: &'static str,
    account: Option<u64>,
    status: TradeStatus,
    entry: Timestamp,
}

#[derive(Clone, Debug)]
struct ClosedTrade {
    /// Which journal of a firm-wide view the trade is in (0 for one journal).
    journal: usize,
    ticket: u64,
    symbol: &'static str,
    account: Option<u64>,
    entry: Timestamp,
    exit: Timestamp,
    profit: Decimal,
    commission: Decimal,
    swap: Decimal,
}

/// Turns operations into a valid journal, keeping the plain model the checks compare with.
#[derive(Default)]
struct Sim {
    events: Vec<Event>,
    signals: Vec<(u64, bool)>,
    /// (timestamp, seq, symbol, signal_id) of every signal, in journal order.
    signal_times: Vec<(Timestamp, u64, &'static str, u64)>,
    trades: Vec<SimTrade>,
    closed: Vec<ClosedTrade>,
    /// (account, snapshot_time, seq, balance).
    snapshots: Vec<(u64, Timestamp, u64, Decimal)>,
    next_id: u64,
}

impl Sim {
    fn run(ops: &[Op]) -> Sim {
        let mut sim = Sim {
            next_id: 1,
            ..Sim::default()
        };
        for op in ops {
            sim.step(op);
        }
        sim
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn pick(&self, pick: &Index, status: &[TradeStatus]) -> Option<usize> {
        let found: Vec<usize> = (0..self.trades.len())
            .filter(|i| status.contains(&self.trades[*i].status))
            .collect();
        (!found.is_empty()).then(|| found[pick.index(found.len())])
    }

    fn pick_signal(&self, pick: &Option<Index>, unexecuted: bool) -> Option<usize> {
        let found: Vec<usize> = (0..self.signals.len())
            .filter(|i| !unexecuted || !self.signals[*i].1)
            .collect();
        let pick = pick.as_ref()?;
        (!found.is_empty()).then(|| found[pick.index(found.len())])
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Signal { symbol, at, hold } => self.signal(*symbol, *at, *hold),
            Op::Open {
                symbol,
                account,
                at,
                pending,
                signal,
            } => self.open(*symbol, *account, *at, *pending, signal),
            Op::Fail {
                symbol,
                account,
                at,
                signal,
            } => self.fail(*symbol, *account, *at, signal),
            Op::Fill { pick, delay } => self.fill(pick, *delay),
            Op::Cancel { pick, delay } => self.cancel(pick, *delay),
            Op::Modify { pick, remove } => self.modify(pick, *remove),
            Op::Close {
                pick,
                delay,
                profit,
                costs,
            } => self.close(pick, *delay, *profit, *costs),
            Op::Link { signal, trade } => self.link(signal, trade),
            Op::Snapshot {
                account,
                at,
                balance,
            } => self.snapshot(*account, *at, *balance),
        }
    }

    fn signal(&mut self, symbol: usize, at: i64, hold: bool) {
        let signal_id = self.id();
        self.signals.push((signal_id, false));
        let seq = self.events.len() as u64 + 1;
        self.signal_times
            .push((time(at), seq, SYMBOLS[symbol], signal_id));
        self.events.push(Event::Signal(Signal::new(
            signal_id,
            SYMBOLS[symbol],
            if hold {
                SignalType::Hold
            } else {
                SignalType::Sell
            },
            time(at),
            Decimal::new(110450, 5),
            0.5,
            "s",
            "H1",
        )));
    }

    fn open(
        &mut self,
        symbol: usize,
        account: usize,
        at: i64,
        pending: bool,
        signal: &Option<Index>,
    ) {
        let ticket = self.id();
        let signal = self.pick_signal(signal, true).map(|i| {
            self.signals[i].1 = true;
            self.signals[i].0
        });
        let status = if pending {
            OpenStatus::Pending
        } else {
            OpenStatus::Open
        };
        let trade = SimTrade {
            ticket,
            symbol: SYMBOLS[symbol],
            account: ACCOUNTS[account],
            status: status.into(),
            entry: time(at),
        };
        self.events.push(Event::TradeOpened({
            let mut event = TradeOpened::new(
                ticket,
                trade.symbol,
                TradeType::Buy,
                Decimal::new(10, 2),
                Decimal::new(110450, 5),
                trade.entry,
            );
            event.status = status;
            event.take_profit = Some(Decimal::new(111, 2));
            event.magic_number = magic_of(ticket);
            event.account_number = trade.account;
            event.strategy_name = strategy_of(ticket).map(String::from);
            event.signal_id = signal;
            event.execution_reason = signal.map(|_| "linked".into());
            event
        }));
        self.trades.push(trade);
    }

    fn fail(&mut self, symbol: usize, account: usize, at: i64, signal: &Option<Index>) {
        let ticket = self.id();
        let signal_id = self.pick_signal(signal, false).map(|i| self.signals[i].0);
        let trade = SimTrade {
            ticket,
            symbol: SYMBOLS[symbol],
            account: ACCOUNTS[account],
            status: TradeStatus::Failed,
            entry: time(at),
        };
        self.events.push(Event::OrderFailed({
            let mut failed = OrderFailed::new(
                ticket,
                trade.symbol,
                TradeType::Sell,
                Decimal::new(10, 2),
                Decimal::new(110450, 5),
                trade.entry,
            );
            failed.reason = Some("rejected".into());
            failed.signal_id = signal_id;
            failed.account_number = trade.account;
            failed.strategy_name = strategy_of(ticket).map(String::from);
            failed.magic_number = magic_of(ticket);
            failed
        }));
        self.trades.push(trade);
    }

    fn fill(&mut self, pick: &Index, delay: i64) {
        let Some(i) = self.pick(pick, &[TradeStatus::Pending]) else {
            return;
        };
        let trade = &mut self.trades[i];
        trade.status = TradeStatus::Open;
        trade.entry = Timestamp::from_nanos(trade.entry.nanos() + delay);
        let event = OrderFilled::new(trade.ticket, Decimal::new(110500, 5), trade.entry);
        self.events.push(Event::OrderFilled(event));
    }

    fn cancel(&mut self, pick: &Index, delay: i64) {
        let Some(i) = self.pick(pick, &[TradeStatus::Pending]) else {
            return;
        };
        let trade = &mut self.trades[i];
        trade.status = TradeStatus::Cancelled;
        let at = Timestamp::from_nanos(trade.entry.nanos() + delay);
        self.events
            .push(Event::OrderCancelled(OrderCancelled::new(trade.ticket, at)));
    }

    fn modify(&mut self, pick: &Index, remove: bool) {
        let Some(i) = self.pick(pick, &[TradeStatus::Open, TradeStatus::Pending]) else {
            return;
        };
        let update = if remove {
            PriceUpdate::Remove
        } else {
            PriceUpdate::Set(Decimal::new(109, 2))
        };
        let trade = &self.trades[i];
        let event = {
            let mut modify = TradeModified::new(trade.ticket, trade.entry);
            modify.stop_loss = update;
            modify
        };
        self.events.push(Event::TradeModified(event));
    }

    fn close(&mut self, pick: &Index, delay: i64, profit: Decimal, costs: (i64, i64)) {
        let Some(i) = self.pick(pick, &[TradeStatus::Open]) else {
            return;
        };
        let trade = &mut self.trades[i];
        trade.status = TradeStatus::Closed;
        let exit = Timestamp::from_nanos(trade.entry.nanos() + delay);
        let (commission, swap) = (Decimal::new(costs.0, 2), Decimal::new(costs.1, 2));
        self.closed.push(ClosedTrade {
            journal: 0,
            ticket: trade.ticket,
            symbol: trade.symbol,
            account: trade.account,
            entry: trade.entry,
            exit,
            profit,
            commission,
            swap,
        });
        let mut closed = TradeClosed::new(trade.ticket, Decimal::new(110550, 5), exit, profit);
        closed.commission = Some(commission);
        closed.swap = Some(swap);
        self.events.push(Event::TradeClosed(closed));
    }

    fn link(&mut self, signal: &Index, trade: &Index) {
        let live = [
            TradeStatus::Open,
            TradeStatus::Pending,
            TradeStatus::Closed,
            TradeStatus::Cancelled,
        ];
        let (Some(s), Some(t)) = (
            self.pick_signal(&Some(*signal), true),
            self.pick(trade, &live),
        ) else {
            return;
        };
        self.signals[s].1 = true;
        let event = SignalExecuted::new(self.signals[s].0, self.trades[t].ticket);
        self.events.push(Event::SignalExecuted(event));
    }

    fn snapshot(&mut self, account: usize, at: i64, balance: i64) {
        // Snapshots only for the two real accounts; trades without an account never have any.
        let account = ACCOUNTS[account % 2].unwrap_or(1001);
        let balance = Decimal::new(balance, 2);
        let seq = self.events.len() as u64 + 1;
        self.snapshots.push((account, time(at), seq, balance));
        self.events
            .push(Event::AccountSnapshot(AccountSnapshot::new(
                account,
                "srv",
                "brk",
                balance,
                balance,
                time(at),
            )));
    }
}

/// Replays `events` with seq 1, 2, … from an empty state.
fn replay(events: &[Event]) -> Projections {
    replay_through_checkpoints(events, &[])
}

/// Writes `state` as a checkpoint and loads it back: its history is then read in place.
fn round_trip(state: &Projections) -> Projections {
    let bytes = state.encode_state().expect("an intact state encodes");
    Projections::decode_state(bytes).expect("an encoded state decodes")
}

/// A state stored as checkpoints store it: each save writes a layer on the layers before,
/// merging the top ones into it as the writer's rule says, and loads the state back from the
/// whole stack.
#[derive(Default)]
struct Stack {
    /// (seq, bytes) of each layer, bottom first.
    layers: Vec<(u64, Vec<u8>)>,
}

impl Stack {
    fn save(&mut self, state: &Projections) -> Projections {
        let bytes = state.encode_layer().expect("an intact state encodes");
        let parent = Projections::stored_parent(std::sync::Arc::new(bytes.clone()))
            .expect("a layer names its parent");
        self.layers
            .retain(|(seq, _)| parent.is_some_and(|p| *seq <= p));
        assert_eq!(
            self.layers.last().map(|(seq, _)| *seq),
            parent,
            "the parent is a layer"
        );
        self.layers.push((state.head_seq(), bytes));
        let layers = self.layers.iter().map(|(_, bytes)| bytes.clone()).collect();
        Projections::decode_layers(layers).expect("a stack of layers decodes")
    }
}

/// Replays `events`, going through a checkpoint (a layer on the ones before) before event
/// `cut` for each cut.
fn replay_through_checkpoints(events: &[Event], cuts: &[usize]) -> Projections {
    let mut state = Projections::new();
    let mut stack = Stack::default();
    for (index, event) in events.iter().enumerate() {
        for _ in cuts.iter().filter(|cut| **cut == index) {
            state = stack.save(&state);
        }
        state.apply(index as u64 + 1, Timestamp::from_nanos(0), event);
    }
    for _ in cuts.iter().filter(|cut| **cut == events.len()) {
        state = stack.save(&state);
    }
    state
}

/// Checkpoint positions in `0..=len`, ascending.
fn cuts(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|pick| pick.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// Up to six checkpoint positions.
fn picks() -> impl Strategy<Value = Vec<Index>> {
    proptest::collection::vec(any::<Index>(), 0..7)
}

/// Every query answers the same on both states (one replayed, one read from checkpoints).
fn same_answers(
    a: &Projections,
    b: &Projections,
    sim: &Sim,
    q: &Query,
) -> Result<(), TestCaseError> {
    let range = TimeRange::new(q.from.map(time), q.to.map(time));
    for by in [TimeBasis::Entry, TimeBasis::Exit] {
        for status in [
            None,
            Some(TradeStatus::Closed),
            Some(TradeStatus::Cancelled),
            Some(TradeStatus::Open),
        ] {
            let filter = TradeFilter {
                status,
                symbol: q.symbol,
                account: q.account,
                range,
                by,
                strategy: q.strategy,
                magic: q.magic,
            };
            prop_assert_eq!(a.trades(&filter).unwrap(), b.trades(&filter).unwrap());
        }
        prop_assert_eq!(
            a.trade_statistics(range, by, q.symbol, q.account),
            b.trade_statistics(range, by, q.symbol, q.account)
        );
    }
    for trade in &sim.trades {
        prop_assert_eq!(
            a.trade_by_ticket(trade.ticket).unwrap(),
            b.trade_by_ticket(trade.ticket).unwrap()
        );
    }
    prop_assert_eq!(
        a.recent_signals(q.symbol, 1000).unwrap(),
        b.recent_signals(q.symbol, 1000).unwrap()
    );
    // Each signal by its id, from memory or from the checkpoint, as the list shows it.
    for signal in a.recent_signals(None, usize::MAX).unwrap() {
        let id = signal.signal_id;
        prop_assert_eq!(a.signal_by_id(id).unwrap(), Some(signal.clone()));
        prop_assert_eq!(b.signal_by_id(id).unwrap(), Some(signal));
    }
    prop_assert_eq!(b.signal_by_id(u64::MAX).unwrap(), None);
    prop_assert_eq!(
        a.signal_execution_rate(q.from.map(time)).unwrap(),
        b.signal_execution_rate(q.from.map(time)).unwrap()
    );
    prop_assert_eq!(
        a.snapshot_accounts().unwrap(),
        b.snapshot_accounts().unwrap()
    );
    for account in [1001, 2002, 7] {
        prop_assert_eq!(
            a.latest_snapshot(account).unwrap(),
            b.latest_snapshot(account).unwrap()
        );
        prop_assert_eq!(
            a.snapshots_between(account, range).unwrap(),
            b.snapshots_between(account, range).unwrap()
        );
    }
    for account in [None, Some(1001), Some(2002)] {
        prop_assert_eq!(
            a.daily_performance(None, None, account),
            b.daily_performance(None, None, account)
        );
        prop_assert_eq!(
            a.performance_summary(None, None, account),
            b.performance_summary(None, None, account)
        );
    }
    prop_assert_eq!(a.max_ticket().unwrap(), b.max_ticket().unwrap());
    prop_assert_eq!(a.max_signal_id().unwrap(), b.max_signal_id().unwrap());
    Ok(())
}

/// `TradeStatistics`' fields, as the model computes them (the view itself is
/// `#[non_exhaustive]`: only the crate builds it).
#[derive(Debug, PartialEq)]
struct Stats {
    total_trades: u64,
    winning_trades: u64,
    losing_trades: u64,
    breakeven_trades: u64,
    win_rate: Decimal,
    total_profit: Decimal,
    average_profit: Decimal,
    gross_profit: Decimal,
    gross_loss: Decimal,
    profit_factor: Option<Decimal>,
    average_win: Option<Decimal>,
    average_loss: Option<Decimal>,
    largest_win: Option<Decimal>,
    largest_loss: Option<Decimal>,
    total_commission: Decimal,
    total_swap: Decimal,
    net_result: Decimal,
    max_consecutive_wins: u64,
    max_consecutive_losses: u64,
    max_drawdown: Decimal,
}

impl From<&TradeStatistics> for Stats {
    fn from(s: &TradeStatistics) -> Stats {
        Stats {
            total_trades: s.total_trades,
            winning_trades: s.winning_trades,
            losing_trades: s.losing_trades,
            breakeven_trades: s.breakeven_trades,
            win_rate: s.win_rate,
            total_profit: s.total_profit,
            average_profit: s.average_profit,
            gross_profit: s.gross_profit,
            gross_loss: s.gross_loss,
            profit_factor: s.profit_factor,
            average_win: s.average_win,
            average_loss: s.average_loss,
            largest_win: s.largest_win,
            largest_loss: s.largest_loss,
            total_commission: s.total_commission,
            total_swap: s.total_swap,
            net_result: s.net_result,
            max_consecutive_wins: s.max_consecutive_wins,
            max_consecutive_losses: s.max_consecutive_losses,
            max_drawdown: s.max_drawdown,
        }
    }
}

/// The longest runs of wins and of losses, and the largest fall of cumulative profit from
/// any earlier high (0 before the first trade counts), the obvious way.
fn naive_order_figures(profits: &[Decimal]) -> (u64, u64, Decimal) {
    let mut best = (0, 0, Decimal::ZERO);
    for (i, _) in profits.iter().enumerate() {
        let run =
            |won: fn(&Decimal) -> bool| profits[i..].iter().take_while(|p| won(p)).count() as u64;
        best.0 = best.0.max(run(|p| *p > Decimal::ZERO));
        best.1 = best.1.max(run(|p| *p < Decimal::ZERO));
    }
    let cumulative: Vec<Decimal> = std::iter::once(Decimal::ZERO)
        .chain(profits.iter().scan(Decimal::ZERO, |sum, p| {
            *sum += p;
            Some(*sum)
        }))
        .collect();
    for (i, high) in cumulative.iter().enumerate() {
        for low in &cumulative[i..] {
            best.2 = best.2.max(high - low);
        }
    }
    best
}

/// The §4 statistics computed the obvious way, over a plain list.
fn naive_statistics(trades: &[&ClosedTrade]) -> Stats {
    let mut in_exit_order = trades.to_vec();
    in_exit_order.sort_by_key(|t| (t.exit, t.journal, t.ticket));
    let profits: Vec<Decimal> = in_exit_order.iter().map(|t| t.profit).collect();
    let (max_consecutive_wins, max_consecutive_losses, max_drawdown) =
        naive_order_figures(&profits);
    let total_commission: Decimal = trades.iter().map(|t| t.commission).sum();
    let total_swap: Decimal = trades.iter().map(|t| t.swap).sum();
    let wins: Vec<Decimal> = profits
        .iter()
        .copied()
        .filter(|p| *p > Decimal::ZERO)
        .collect();
    let losses: Vec<Decimal> = profits
        .iter()
        .copied()
        .filter(|p| *p < Decimal::ZERO)
        .collect();
    let total = profits.len() as u64;
    let total_profit: Decimal = profits.iter().sum();
    let gross_profit: Decimal = wins.iter().sum();
    let gross_loss: Decimal = -losses.iter().sum::<Decimal>();
    let average = |sum: Decimal, n: usize| (n > 0).then(|| sum / Decimal::from(n));
    Stats {
        total_trades: total,
        winning_trades: wins.len() as u64,
        losing_trades: losses.len() as u64,
        breakeven_trades: total - wins.len() as u64 - losses.len() as u64,
        win_rate: if total == 0 {
            Decimal::ZERO
        } else {
            Decimal::from(wins.len()) * Decimal::ONE_HUNDRED / Decimal::from(total)
        },
        total_profit,
        average_profit: average(total_profit, profits.len()).unwrap_or_default(),
        gross_profit,
        gross_loss,
        profit_factor: (!losses.is_empty()).then(|| gross_profit / gross_loss),
        average_win: average(gross_profit, wins.len()),
        average_loss: average(gross_loss, losses.len()),
        largest_win: wins.iter().copied().max(),
        largest_loss: losses.iter().copied().min(),
        total_commission,
        total_swap,
        net_result: total_profit + total_commission + total_swap,
        max_consecutive_wins,
        max_consecutive_losses,
        max_drawdown,
    }
}

#[derive(Clone, Debug)]
struct Query {
    from: Option<i64>,
    to: Option<i64>,
    by: TimeBasis,
    symbol: Option<&'static str>,
    account: Option<u64>,
    strategy: Option<&'static str>,
    magic: Option<u64>,
}

impl Query {
    fn select(&self) -> TradeSelect<'static> {
        TradeSelect {
            account: self.account,
            symbol: self.symbol,
            strategy: self.strategy,
            magic: self.magic,
        }
    }
}

fn query() -> impl Strategy<Value = Query> {
    let symbol = prop_oneof![
        Just(None),
        Just(Some("EURUSD")),
        Just(Some("GBPUSD")),
        Just(Some("XAUUSD"))
    ];
    let account = prop_oneof![
        Just(None),
        Just(Some(1001)),
        Just(Some(2002)),
        Just(Some(7))
    ];
    let by = prop_oneof![Just(TimeBasis::Exit), Just(TimeBasis::Entry)];
    let strategy = prop_oneof![
        3 => Just(None),
        1 => Just(Some("trend")),
        1 => Just(Some("revert")),
        1 => Just(Some("unknown")),
    ];
    let magic = prop_oneof![3 => Just(None), 1 => Just(Some(1)), 1 => Just(Some(234_000)), 1 => Just(Some(5))];
    (
        proptest::option::of(instant()),
        proptest::option::of(instant()),
        by,
        symbol,
        account,
        (strategy, magic),
    )
        .prop_map(|(from, to, by, symbol, account, (strategy, magic))| Query {
            from,
            to,
            by,
            symbol,
            account,
            strategy,
            magic,
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 0..160)
}

fn naive_query(closed: &[ClosedTrade], q: &Query) -> Stats {
    let in_range =
        |t: Timestamp| q.from.is_none_or(|f| t >= time(f)) && q.to.is_none_or(|to| t <= time(to));
    let chosen: Vec<&ClosedTrade> = closed
        .iter()
        .filter(|t| {
            in_range(if q.by == TimeBasis::Exit {
                t.exit
            } else {
                t.entry
            })
        })
        .filter(|t| {
            q.symbol.is_none_or(|s| s == t.symbol)
                && q.account.is_none_or(|a| t.account == Some(a))
                && q.strategy.is_none_or(|s| strategy_of(t.ticket) == Some(s))
                && q.magic.is_none_or(|m| magic_of(t.ticket) == m)
        })
        .collect();
    naive_statistics(&chosen)
}

/// A daily row as (date, trades, net profit, commission, swap, net result, end balance).
type NaiveDay = (
    NaiveDate,
    u64,
    Decimal,
    Decimal,
    Decimal,
    Decimal,
    Option<Decimal>,
);

/// Daily rows of the selected trades, grouped the obvious way.
fn naive_daily(sim: &Sim, select: &TradeSelect) -> Vec<NaiveDay> {
    let account = select.account;
    let mut days: BTreeMap<NaiveDate, (u64, Decimal, Decimal, Decimal)> = BTreeMap::new();
    for trade in sim.closed.iter().filter(|t| {
        account.is_none_or(|a| t.account == Some(a))
            && select.symbol.is_none_or(|s| s == t.symbol)
            && select
                .strategy
                .is_none_or(|s| strategy_of(t.ticket) == Some(s))
            && select.magic.is_none_or(|m| magic_of(t.ticket) == m)
    }) {
        let day = days.entry(trade.exit.date()).or_default();
        day.0 += 1;
        day.1 += trade.profit;
        day.2 += trade.commission;
        day.3 += trade.swap;
    }
    let mut with_snapshots: Vec<u64> = sim.snapshots.iter().map(|s| s.0).collect();
    with_snapshots.sort_unstable();
    with_snapshots.dedup();
    let balance_account = account.or(if with_snapshots.len() == 1 {
        Some(with_snapshots[0])
    } else {
        None
    });
    let end_balance = |date: NaiveDate| {
        let end =
            Timestamp::from_datetime(date.and_hms_nano_opt(23, 59, 59, 999_999_999)?.and_utc())?;
        let candidates = sim
            .snapshots
            .iter()
            .filter(|s| Some(s.0) == balance_account && s.1 <= end);
        candidates.max_by_key(|s| (s.1, s.2)).map(|s| s.3)
    };
    days.into_iter()
        .map(|(date, (n, net, commission, swap))| {
            let result = net + commission + swap;
            (date, n, net, commission, swap, result, end_balance(date))
        })
        .collect()
}

/// `trades(filter)` against a filter over the model's trades, sorted by (entry_time, ticket).
fn check_trades(
    state: &Projections,
    sim: &Sim,
    q: &Query,
    status: Option<TradeStatus>,
) -> Result<(), TestCaseError> {
    let range = TimeRange::new(q.from.map(time), q.to.map(time));
    let filter = TradeFilter {
        status,
        symbol: q.symbol,
        account: q.account,
        range,
        by: TimeBasis::Entry,
        strategy: q.strategy,
        magic: q.magic,
    };
    let found: Vec<u64> = state
        .trades(&filter)
        .unwrap()
        .iter()
        .map(|t| t.ticket)
        .collect();
    let in_range =
        |t: Timestamp| q.from.is_none_or(|f| t >= time(f)) && q.to.is_none_or(|to| t <= time(to));
    let mut expected: Vec<(Timestamp, u64)> = sim
        .trades
        .iter()
        .filter(|t| in_range(t.entry) && status.is_none_or(|s| t.status == s))
        .filter(|t| {
            q.symbol.is_none_or(|s| s == t.symbol)
                && q.account.is_none_or(|a| t.account == Some(a))
                && q.strategy.is_none_or(|s| strategy_of(t.ticket) == Some(s))
                && q.magic.is_none_or(|m| magic_of(t.ticket) == m)
        })
        .map(|t| (t.entry, t.ticket))
        .collect();
    expected.sort_unstable();
    prop_assert_eq!(
        found,
        expected
            .into_iter()
            .map(|(_, ticket)| ticket)
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// `recent_signals` and `signal_execution_rate` against the model's signal list.
fn check_signals(
    state: &Projections,
    sim: &Sim,
    q: &Query,
    limit: usize,
) -> Result<(), TestCaseError> {
    let found: Vec<u64> = state
        .recent_signals(q.symbol, limit)
        .unwrap()
        .iter()
        .map(|s| s.signal_id)
        .collect();
    let mut expected: Vec<_> = sim
        .signal_times
        .iter()
        .filter(|s| q.symbol.is_none_or(|want| want == s.2))
        .collect();
    expected.sort_unstable_by_key(|s| std::cmp::Reverse((s.0, s.1)));
    let expected: Vec<u64> = expected.iter().take(limit).map(|s| s.3).collect();
    prop_assert_eq!(found, expected);
    let since = q.from.map(time);
    let rate = state.signal_execution_rate(since).unwrap();
    let chosen: Vec<usize> = (0..sim.signal_times.len())
        .filter(|i| since.is_none_or(|t| sim.signal_times[*i].0 >= t))
        .collect();
    let executed = chosen.iter().filter(|i| sim.signals[**i].1).count() as u64;
    prop_assert_eq!(
        (rate.total_signals, rate.executed_signals),
        (chosen.len() as u64, executed)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn listings_equal_a_naive_model(ops in ops(), queries in proptest::collection::vec(query(), 1..6), limit in 0usize..40, picks in picks()) {
        let sim = Sim::run(&ops);
        let state = replay(&sim.events);
        let stored = replay_through_checkpoints(&sim.events, &cuts(sim.events.len(), &picks));
        let statuses = [None, Some(TradeStatus::Open), Some(TradeStatus::Pending), Some(TradeStatus::Closed), Some(TradeStatus::Failed)];
        for (n, q) in queries.iter().enumerate() {
            for state in [&state, &stored] {
                check_trades(state, &sim, q, statuses[n % statuses.len()])?;
                check_signals(state, &sim, q, limit)?;
            }
            same_answers(&state, &stored, &sim, q)?;
        }
    }

    #[test]
    fn statistics_equal_a_naive_model(ops in ops(), queries in proptest::collection::vec(query(), 1..10), picks in picks()) {
        let sim = Sim::run(&ops);
        let replayed = replay(&sim.events);
        let stored = replay_through_checkpoints(&sim.events, &cuts(sim.events.len(), &picks));
        for state in [&replayed, &stored] {
        prop_assert_eq!(state.ignored_events(), 0);
        for q in &queries {
            let range = TimeRange::new(q.from.map(time), q.to.map(time));
            let found = state.statistics(range, q.by, &q.select()).unwrap();
            prop_assert_eq!(Stats::from(&found), naive_query(&sim.closed, q), "query {:?}", q);
            if q.strategy.is_none() && q.magic.is_none() {
                let old = state.trade_statistics(range, q.by, q.symbol, q.account).unwrap();
                prop_assert_eq!(old, found);
            }
        }
        for q in &queries {
            let select = TradeSelect { symbol: None, ..q.select() };
            let rows = state.daily_rows(None, None, &select).unwrap();
            let rows: Vec<_> = rows.iter().map(|d| (d.date, d.total_trades, d.net_profit, d.total_commission, d.total_swap, d.net_result, d.end_balance)).collect();
            prop_assert_eq!(rows, naive_daily(&sim, &select), "select {:?}", select);
            let summary = state.summary(None, None, &select).unwrap();
            let days = naive_daily(&sim, &select);
            let sum = |field: fn(&NaiveDay) -> Decimal| days.iter().map(field).sum::<Decimal>();
            prop_assert_eq!(summary.total_days, days.len() as u64);
            prop_assert_eq!(summary.total_profit, sum(|d| d.2));
            prop_assert_eq!(summary.total_commission, sum(|d| d.3));
            prop_assert_eq!(summary.total_swap, sum(|d| d.4));
            prop_assert_eq!(summary.net_result, sum(|d| d.5));
        }
        }
    }

    /// Two journals answered as one (the firm-wide view) give the statistics, daily rows and
    /// summary of the union of their trades, ordered by (exit_time, journal, ticket), though
    /// their tickets collide.
    #[test]
    fn several_journals_answer_as_their_union(ops_a in ops(), ops_b in ops(), queries in proptest::collection::vec(query(), 1..6), picks in picks()) {
        let (sim_a, sim_b) = (Sim::run(&ops_a), Sim::run(&ops_b));
        let first = replay_through_checkpoints(&sim_a.events, &cuts(sim_a.events.len(), &picks));
        let second = replay(&sim_b.events);
        let states = [&first, &second];
        let mut union = Sim { closed: sim_a.closed.clone(), snapshots: sim_a.snapshots.clone(), ..Sim::default() };
        union.closed.extend(sim_b.closed.iter().map(|t| ClosedTrade { journal: 1, ..t.clone() }));
        union.snapshots.extend(sim_b.snapshots.iter().cloned());
        for q in &queries {
            let range = TimeRange::new(q.from.map(time), q.to.map(time));
            let found = statistics_across(&states, range, q.by, &q.select()).unwrap();
            prop_assert_eq!(Stats::from(&found), naive_query(&union.closed, q), "query {:?}", q);
            let mut walked = Vec::new();
            for_each_closed_trade_across(&states, range, q.by, &q.select(), |journal, t| walked.push((t.exit_time, journal, t.ticket))).unwrap();
            prop_assert!(walked.windows(2).all(|w| w[0] < w[1]), "in (exit_time, journal, ticket) order");
            let select = TradeSelect { symbol: None, ..q.select() };
            let rows = daily_rows_across(&states, None, None, &select).unwrap();
            let rows: Vec<_> = rows.iter().map(|d| (d.date, d.total_trades, d.net_profit, d.total_commission, d.total_swap, d.net_result, d.end_balance)).collect();
            prop_assert_eq!(rows, naive_daily(&union, &select), "select {:?}", select);
            let summary = summary_across(&states, None, None, &select).unwrap();
            prop_assert_eq!(summary.total_days, naive_daily(&union, &select).len() as u64);
        }
    }

    #[test]
    fn live_state_equals_replay_and_its_checkpoint(ops in ops(), picks in picks()) {
        let sim = Sim::run(&ops);
        let events = &sim.events;
        let cuts = cuts(events.len(), &picks);
        prop_assert_eq!(Projections::new().check_batch(events), Ok(()));
        // Live: checked and applied one by one, through checkpoints at the cuts (each a layer
        // on the ones before, or a merge of them with the events since).
        let mut live = Projections::new();
        let mut stack = Stack::default();
        for (index, event) in events.iter().enumerate() {
            if cuts.contains(&index) {
                live = stack.save(&live);
                prop_assert_eq!(live.check_batch(&events[index..]), Ok(()));
            }
            prop_assert_eq!(live.check(event), Ok(()));
            live.apply(index as u64 + 1, Timestamp::from_nanos(0), event);
        }
        let rebuilt = replay(events);
        prop_assert_eq!(&live, &rebuilt);
        prop_assert_eq!(live.head_seq(), events.len() as u64);
        prop_assert_eq!(round_trip(&rebuilt), rebuilt.clone());
        prop_assert_eq!(round_trip(&live), rebuilt.clone());
        // Equality is a real check: one event less is a different state.
        if let Some((last, before)) = events.split_last() {
            let mut shorter = replay(before);
            prop_assert_ne!(&shorter, &rebuilt);
            shorter.apply(events.len() as u64, Timestamp::from_nanos(0), last);
            prop_assert_eq!(&shorter, &rebuilt);
        }
        let open: Vec<u64> = rebuilt.open_trades(None, None).unwrap().iter().map(|t| t.ticket).collect();
        let mut expected: Vec<(Timestamp, u64)> = sim.trades.iter().filter(|t| t.status == TradeStatus::Open).map(|t| (t.entry, t.ticket)).collect();
        expected.sort_unstable();
        prop_assert_eq!(open, expected.into_iter().map(|(_, ticket)| ticket).collect::<Vec<_>>());
    }

    #[test]
    fn check_batch_reports_the_index_of_an_invalid_event(ops in ops(), at in any::<Index>(), kind in 0usize..7) {
        let sim = Sim::run(&ops);
        let mut events = sim.events.clone();
        let index = at.index(events.len() + 1);
        let (bad, rule) = invalid_event(&replay(&events[..index]), &events[..index], kind);
        events.insert(index, bad);
        let (found, error) = Projections::new().check_batch(&events).unwrap_err();
        let CheckError::Violation(violation) = error else {
            return Err(TestCaseError::fail(format!("refused for damage: {error}")));
        };
        prop_assert_eq!((found, violation.rule), (index, rule), "{}", violation);
    }
}

/// An event that is invalid right after `prefix`, and the rule it breaks. Falls back to an
/// unknown ticket when the prefix has nothing the chosen kind needs.
fn invalid_event(state: &Projections, prefix: &[Event], kind: usize) -> (Event, Rule) {
    let first_open = state.open_trades(None, None).unwrap().into_iter().next();
    let first_finished = finished_trades(state).into_iter().next();
    match kind {
        0 => match first_opened(prefix) {
            Some(opened) => (Event::TradeOpened(opened), Rule::DuplicateTicket),
            None => unknown_ticket(),
        },
        1 => match first_signal(prefix) {
            Some(signal) => (Event::Signal(signal), Rule::DuplicateSignalId),
            None => unknown_ticket(),
        },
        2 => match first_open {
            Some(open) => {
                let early = Timestamp::from_nanos(open.entry_time.nanos() - 1);
                (close(open.ticket, early), Rule::ExitBeforeEntry)
            }
            None => unknown_ticket(),
        },
        3 | 4 => match first_finished {
            Some(done) if kind == 3 => (
                close(done.ticket, Timestamp::MAX),
                Rule::IllegalStatusChange,
            ),
            Some(done) => {
                let (stop_loss, take_profit) = (PriceUpdate::Remove, PriceUpdate::Unchanged);
                let modify = {
                    let mut modify = TradeModified::new(done.ticket, Timestamp::MAX);
                    modify.stop_loss = stop_loss;
                    modify.take_profit = take_profit;
                    modify
                };
                (Event::TradeModified(modify), Rule::IllegalStatusChange)
            }
            None => unknown_ticket(),
        },
        5 => {
            let link = SignalExecuted::new(u64::MAX, 1);
            (Event::SignalExecuted(link), Rule::UnknownSignalId)
        }
        _ => unknown_ticket(),
    }
}

/// Trades finished inside the prefix: the batch overlay must remember their status.
fn finished_trades(state: &Projections) -> Vec<TradeView> {
    let finished = [
        TradeStatus::Closed,
        TradeStatus::Cancelled,
        TradeStatus::Failed,
    ];
    let filter = |status| TradeFilter {
        status: Some(status),
        ..TradeFilter::default()
    };
    finished
        .into_iter()
        .flat_map(|status| state.trades(&filter(status)).unwrap())
        .collect()
}

fn first_opened(prefix: &[Event]) -> Option<TradeOpened> {
    let mut opened = prefix.iter().find_map(|e| match e {
        Event::TradeOpened(t) => Some(t.clone()),
        _ => None,
    })?;
    opened.status = OpenStatus::Open;
    opened.signal_id = None;
    Some(opened)
}

fn first_signal(prefix: &[Event]) -> Option<Signal> {
    prefix.iter().find_map(|e| match e {
        Event::Signal(s) => Some(s.clone()),
        _ => None,
    })
}

fn close(ticket: u64, exit_time: Timestamp) -> Event {
    let one = Decimal::ONE;
    Event::TradeClosed(TradeClosed::new(ticket, one, exit_time, one))
}

fn unknown_ticket() -> (Event, Rule) {
    let fill = OrderFilled::new(u64::MAX, Decimal::ONE, Timestamp::from_nanos(0));
    (Event::OrderFilled(fill), Rule::UnknownTicket)
}
