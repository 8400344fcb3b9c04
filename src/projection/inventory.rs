//! What a journal holds, grouped (`tradeledger inventory`): its accounts, symbols, strategies
//! and magic numbers, each with how many trades, signals and snapshots it has and the first
//! and last time among them. Snapshots per account come from the index (a range's length and
//! ends); trades and signals from one pass over the head of each (no text decoded).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::intern::Sym;
use super::signals::SignalHead;
use super::stored::{SIGNAL_BY_ID, TRADE_BY_TICKET};
use super::trades::TradeHead;
use super::walk::ALL_KEYS;
use super::{Projections, QueryError};
use crate::model::event::Timestamp;

/// The accounts, symbols, strategies and magic numbers of a journal's trades, signals and
/// snapshots (`docs/INTERCHANGE.md`, "Interpretations": `inventory --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Inventory {
    /// Every account of a trade or a snapshot, ascending; `None` (first) for the trades
    /// without an account.
    pub accounts: Vec<AccountInventory>,
    /// Every symbol of a trade or a signal, by name.
    pub symbols: Vec<SymbolInventory>,
    /// Every strategy name of a trade or a signal, by name; `None` (first) for the trades
    /// without one.
    pub strategies: Vec<StrategyInventory>,
    /// Every magic number of a trade, ascending.
    pub magic_numbers: Vec<MagicInventory>,
}

/// What one account holds. `first` and `last` (also in the other groups) are the earliest
/// and latest of its rows' times: a trade's entry_time and exit_time, a signal's timestamp,
/// a snapshot's snapshot_time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccountInventory {
    /// The account; `None` for the trades that name none.
    pub account_number: Option<u64>,
    /// Its trades, any status.
    pub trades: u64,
    /// Its account snapshots.
    pub snapshots: u64,
    /// The earliest time of its rows.
    #[serde(serialize_with = "text")]
    pub first: Timestamp,
    /// The latest time of its rows.
    #[serde(serialize_with = "text")]
    pub last: Timestamp,
}

/// What one symbol holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SymbolInventory {
    /// The instrument.
    pub symbol: String,
    /// Its trades and signals.
    #[serde(flatten)]
    pub rows: TradesAndSignals,
}

/// What one strategy holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StrategyInventory {
    /// The strategy name; `None` for the trades that name none.
    pub strategy_name: Option<String>,
    /// Its trades and signals.
    #[serde(flatten)]
    pub rows: TradesAndSignals,
}

/// The trades and signals of a symbol or a strategy (their fields follow its name in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TradesAndSignals {
    /// Its trades, any status.
    pub trades: u64,
    /// Its signals.
    pub signals: u64,
    /// The earliest time of its rows.
    #[serde(serialize_with = "text")]
    pub first: Timestamp,
    /// The latest time of its rows.
    #[serde(serialize_with = "text")]
    pub last: Timestamp,
}

/// What one magic number holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MagicInventory {
    /// The magic number (0 for trades opened without one).
    pub magic_number: u64,
    /// Its trades, any status.
    pub trades: u64,
    /// The earliest time of its trades.
    #[serde(serialize_with = "text")]
    pub first: Timestamp,
    /// The latest time of its trades.
    #[serde(serialize_with = "text")]
    pub last: Timestamp,
}

fn text<S: Serializer>(time: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(time)
}

/// The counts and time span of one group.
#[derive(Clone, Copy, Debug)]
struct Group {
    trades: u64,
    signals: u64,
    snapshots: u64,
    first: Timestamp,
    last: Timestamp,
}

impl Default for Group {
    fn default() -> Group {
        Group {
            trades: 0,
            signals: 0,
            snapshots: 0,
            first: Timestamp::MAX,
            last: Timestamp::MIN,
        }
    }
}

impl Group {
    fn trades_and_signals(&self) -> TradesAndSignals {
        TradesAndSignals {
            trades: self.trades,
            signals: self.signals,
            first: self.first,
            last: self.last,
        }
    }

    fn saw(&mut self, time: Timestamp) {
        self.first = self.first.min(time);
        self.last = self.last.max(time);
    }

    fn add_trade(&mut self, trade: &TradeHead) {
        self.trades += 1;
        self.saw(trade.entry_time);
        if let Some(exit) = trade.exit_time {
            self.saw(exit);
        }
    }

    fn add_signal(&mut self, signal: &SignalHead) {
        self.signals += 1;
        self.saw(signal.timestamp);
    }
}

/// The groups as they are counted, by interned name where there is one.
#[derive(Default)]
struct Groups {
    accounts: BTreeMap<Option<u64>, Group>,
    symbols: BTreeMap<Sym, Group>,
    strategies: BTreeMap<Option<Sym>, Group>,
    magic_numbers: BTreeMap<u64, Group>,
}

impl Groups {
    fn add_trade(&mut self, trade: &TradeHead) {
        let groups = [
            self.accounts.entry(trade.account_number).or_default(),
            self.symbols.entry(trade.symbol).or_default(),
            self.strategies.entry(trade.strategy_name).or_default(),
            self.magic_numbers.entry(trade.magic_number).or_default(),
        ];
        groups.into_iter().for_each(|group| group.add_trade(trade));
    }

    fn add_signal(&mut self, signal: &SignalHead) {
        self.symbols
            .entry(signal.symbol)
            .or_default()
            .add_signal(signal);
        let strategy = self.strategies.entry(Some(signal.strategy_name));
        strategy.or_default().add_signal(signal);
    }

    fn add_snapshots(&mut self, account: u64, count: u64, first: Timestamp, last: Timestamp) {
        let group = self.accounts.entry(Some(account)).or_default();
        group.snapshots += count;
        group.saw(first);
        group.saw(last);
    }
}

impl Projections {
    /// The accounts, symbols, strategies and magic numbers the trades, signals and snapshots
    /// name, with their counts and first and last times. Reads the head of every trade and
    /// every signal once (stored ones included), and two index entries per account for the
    /// snapshots.
    pub fn inventory(&self) -> Result<Inventory, QueryError> {
        self.intact()?;
        let mut groups = Groups::default();
        for record in self.trades.records.iter() {
            groups.add_trade(&TradeHead::from(record));
        }
        for record in self.signals.records.iter() {
            groups.add_signal(&SignalHead::from(record));
        }
        for (account, index) in &self.snapshots.by_account {
            if let (Some(first), Some(last)) = (index.keys().next(), index.keys().next_back()) {
                groups.add_snapshots(*account, index.len() as u64, first.0, last.0);
            }
        }
        if let Some(base) = &self.base {
            for ordinal in 0..base.count(TRADE_BY_TICKET) {
                base.walked();
                groups.add_trade(&base.trade_head(&self.names, ordinal)?);
            }
            for ordinal in 0..base.count(SIGNAL_BY_ID) {
                base.walked();
                groups.add_signal(&base.signal_head(&self.names, ordinal)?);
            }
            for &account in &self.base_accounts {
                for mut span in base.snapshots_between(account, &ALL_KEYS)? {
                    let count = span.len();
                    let Some(first) = span.next().transpose()? else {
                        continue;
                    };
                    let last = span.next_back().transpose()?.unwrap_or(first);
                    groups.add_snapshots(account, count, first.0 .0, last.0 .0);
                }
            }
        }
        Ok(self.inventory_of(groups))
    }

    fn inventory_of(&self, groups: Groups) -> Inventory {
        let name = |sym: Sym| self.names.name(sym).to_owned();
        let symbols = groups.symbols.into_iter().map(|(s, g)| (name(s), g));
        let strategies = groups.strategies.into_iter().map(|(s, g)| (s.map(name), g));
        build(
            groups.accounts,
            symbols.collect(),
            strategies.collect(),
            groups.magic_numbers,
        )
    }
}

/// The inventory of groups counted by name.
fn build(
    accounts: BTreeMap<Option<u64>, Group>,
    symbols: BTreeMap<String, Group>,
    strategies: BTreeMap<Option<String>, Group>,
    magic_numbers: BTreeMap<u64, Group>,
) -> Inventory {
    Inventory {
        accounts: (accounts.into_iter())
            .map(|(account_number, g)| AccountInventory {
                account_number,
                trades: g.trades,
                snapshots: g.snapshots,
                first: g.first,
                last: g.last,
            })
            .collect(),
        symbols: (symbols.into_iter())
            .map(|(symbol, g)| SymbolInventory {
                symbol,
                rows: g.trades_and_signals(),
            })
            .collect(),
        strategies: (strategies.into_iter())
            .map(|(strategy_name, g)| StrategyInventory {
                strategy_name,
                rows: g.trades_and_signals(),
            })
            .collect(),
        magic_numbers: (magic_numbers.into_iter())
            .map(|(magic_number, g)| MagicInventory {
                magic_number,
                trades: g.trades,
                first: g.first,
                last: g.last,
            })
            .collect(),
    }
}

impl Group {
    /// Counts `other`'s rows too.
    fn merge(&mut self, other: Group) {
        self.trades += other.trades;
        self.signals += other.signals;
        self.snapshots += other.snapshots;
        self.saw(other.first);
        self.saw(other.last);
    }

    fn of(trades: u64, signals: u64, snapshots: u64, first: Timestamp, last: Timestamp) -> Group {
        Group {
            trades,
            signals,
            snapshots,
            first,
            last,
        }
    }
}

/// [`Projections::inventory`] over several journals' states as one: each group's counts
/// summed, its first and last times the earliest and latest of any journal.
pub fn inventory_across(states: &[&Projections]) -> Result<Inventory, QueryError> {
    let mut accounts = BTreeMap::<Option<u64>, Group>::new();
    let mut symbols = BTreeMap::<String, Group>::new();
    let mut strategies = BTreeMap::<Option<String>, Group>::new();
    let mut magic_numbers = BTreeMap::<u64, Group>::new();
    for state in states {
        let inventory = state.inventory()?;
        for a in inventory.accounts {
            let group = Group::of(a.trades, 0, a.snapshots, a.first, a.last);
            accounts.entry(a.account_number).or_default().merge(group);
        }
        let rows = |r: &TradesAndSignals| Group::of(r.trades, r.signals, 0, r.first, r.last);
        for s in inventory.symbols {
            symbols.entry(s.symbol).or_default().merge(rows(&s.rows));
        }
        for s in inventory.strategies {
            strategies
                .entry(s.strategy_name)
                .or_default()
                .merge(rows(&s.rows));
        }
        for m in inventory.magic_numbers {
            let group = Group::of(m.trades, 0, 0, m.first, m.last);
            magic_numbers
                .entry(m.magic_number)
                .or_default()
                .merge(group);
        }
    }
    Ok(build(accounts, symbols, strategies, magic_numbers))
}
