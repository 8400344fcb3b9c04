//! Account arithmetic: profit, pips, margin, equity.
//!
//! The account currency is USD and the instrument's quote currency is USD (EURUSD), so a
//! price move converts to money without an exchange rate:
//!
//! * profit = (exit − entry) × volume_lots × contract_size for a BUY, (entry − exit) × … for
//!   a SELL; exact, never rounded.
//! * margin = volume_lots × contract_size × entry_price / leverage, rounded to cents, fixed
//!   when the position opens.
//! * equity = balance + floating profit of open positions (BUYs marked at the bid, SELLs at
//!   the ask, since that is where they would close).
//! * free margin = equity − margin; margin level = equity / margin × 100, rounded to 2 places,
//!   none without margin.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::model::event::{AccountSnapshot, Timestamp, TradeType};

/// Places of money amounts that are derived by division (margin, margin level).
const CENT_DECIMALS: u32 = 2;

/// What one lot and one pip are, and the leverage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContractSpec {
    pub contract_size_units: Decimal,
    pub pip_size: Decimal,
    pub leverage: u32,
}

impl ContractSpec {
    /// Realized profit in USD of moving `volume_lots` from `entry` to `exit`.
    pub fn profit_usd(
        &self,
        trade_type: TradeType,
        volume_lots: Decimal,
        entry: Decimal,
        exit: Decimal,
    ) -> Decimal {
        let profit =
            direction(trade_type) * (exit - entry) * volume_lots * self.contract_size_units;
        money_scale(profit)
    }

    /// The price move in pips, positive when in the trade's favour.
    pub fn pips(&self, trade_type: TradeType, entry: Decimal, exit: Decimal) -> Decimal {
        (direction(trade_type) * (exit - entry) / self.pip_size).normalize()
    }

    /// Margin in USD that a position of `volume_lots` opened at `price` ties up.
    pub fn margin_usd(&self, volume_lots: Decimal, price: Decimal) -> Decimal {
        let margin = volume_lots * self.contract_size_units * price / Decimal::from(self.leverage);
        margin.round_dp_with_strategy(CENT_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
    }
}

/// The same amount written with at least 2 decimal places and no trailing zeros beyond
/// them: `-164.4000000` becomes `-164.40`, `0.123` stays `0.123`. Only the scale changes,
/// never the value, so sums stay exact and the journal shows cents.
pub fn money_scale(amount: Decimal) -> Decimal {
    let mut amount = amount.normalize();
    if amount.scale() < CENT_DECIMALS {
        amount.rescale(CENT_DECIMALS);
    }
    amount
}

fn direction(trade_type: TradeType) -> Decimal {
    match trade_type {
        TradeType::Buy => Decimal::ONE,
        TradeType::Sell => Decimal::NEGATIVE_ONE,
    }
}

/// The market at one moment: bars are bids, the ask is the bid plus the spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub bid: Decimal,
    pub ask: Decimal,
}

impl Quote {
    /// The price a position of `trade_type` opens at (before slippage).
    pub fn open_price(&self, trade_type: TradeType) -> Decimal {
        match trade_type {
            TradeType::Buy => self.ask,
            TradeType::Sell => self.bid,
        }
    }

    /// The price a position of `trade_type` closes at (before slippage).
    pub fn close_price(&self, trade_type: TradeType) -> Decimal {
        match trade_type {
            TradeType::Buy => self.bid,
            TradeType::Sell => self.ask,
        }
    }
}

/// An open position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub ticket: u64,
    pub trade_type: TradeType,
    pub volume_lots: Decimal,
    pub entry_price: Decimal,
    pub entry_time: Timestamp,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    /// Fixed when the position opens.
    pub margin_usd: Decimal,
}

impl Position {
    /// Profit if the position were closed at `quote` now.
    pub fn floating_profit_usd(&self, spec: &ContractSpec, quote: &Quote) -> Decimal {
        let exit = quote.close_price(self.trade_type);
        spec.profit_usd(self.trade_type, self.volume_lots, self.entry_price, exit)
    }
}

/// The account all traders share: realized balance and the open positions.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    spec: ContractSpec,
    balance_usd: Decimal,
    positions: Vec<Position>,
}

impl Account {
    pub fn new(spec: ContractSpec, balance_usd: Decimal, positions: Vec<Position>) -> Self {
        Account {
            spec,
            balance_usd,
            positions,
        }
    }

    pub fn balance_usd(&self) -> Decimal {
        self.balance_usd
    }

    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    pub fn floating_profit_usd(&self, quote: &Quote) -> Decimal {
        let floating = |p: &Position| p.floating_profit_usd(&self.spec, quote);
        self.positions.iter().map(floating).sum()
    }

    pub fn equity_usd(&self, quote: &Quote) -> Decimal {
        self.balance_usd + self.floating_profit_usd(quote)
    }

    pub fn margin_usd(&self) -> Decimal {
        self.positions.iter().map(|p| p.margin_usd).sum()
    }

    pub fn free_margin_usd(&self, quote: &Quote) -> Decimal {
        self.equity_usd(quote) - self.margin_usd()
    }

    /// Equity / margin × 100, rounded to 2 places; `None` without open positions.
    pub fn margin_level_percent(&self, quote: &Quote) -> Option<Decimal> {
        let margin = self.margin_usd();
        (!margin.is_zero()).then(|| {
            (self.equity_usd(quote) / margin * Decimal::ONE_HUNDRED)
                .round_dp_with_strategy(CENT_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
        })
    }

    pub fn total_volume_lots(&self) -> Decimal {
        self.positions.iter().map(|p| p.volume_lots).sum()
    }

    /// The `account_snapshot` at `time`; `profit` is the floating profit. Money is written
    /// with cents ([`money_scale`]).
    pub fn snapshot(
        &self,
        quote: &Quote,
        time: Timestamp,
        account_number: u64,
        server: &str,
        broker: &str,
    ) -> AccountSnapshot {
        AccountSnapshot {
            account_number,
            server: server.into(),
            broker: broker.into(),
            balance: money_scale(self.balance_usd),
            equity: money_scale(self.equity_usd(quote)),
            snapshot_time: time,
            profit: Some(money_scale(self.floating_profit_usd(quote))),
            margin: Some(money_scale(self.margin_usd())),
            margin_free: Some(money_scale(self.free_margin_usd(quote))),
            total_volume: self.total_volume_lots(),
            margin_level: self.margin_level_percent(quote),
            open_positions: self.positions.len() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn spec() -> ContractSpec {
        ContractSpec {
            contract_size_units: dec("100000"),
            pip_size: dec("0.0001"),
            leverage: 100,
        }
    }

    #[test]
    fn profit_and_pips_are_exact_on_a_worked_example() {
        // 0.10 lot BUY at 1.07234, closed at 1.07567: 33.3 pips × $1 per pip = $33.30.
        let spec = spec();
        let (entry, exit) = (dec("1.07234"), dec("1.07567"));
        let volume = dec("0.10");
        let profit = spec.profit_usd(TradeType::Buy, volume, entry, exit);
        assert_eq!(profit.to_string(), "33.30");
        assert_eq!(spec.pips(TradeType::Buy, entry, exit).to_string(), "33.3");
        // The same prices as a SELL lose the same amount.
        assert_eq!(
            spec.profit_usd(TradeType::Sell, volume, entry, exit),
            dec("-33.30")
        );
        assert_eq!(spec.pips(TradeType::Sell, entry, exit), dec("-33.3"));
        assert_eq!(money_scale(dec("-7.0000")).to_string(), "-7.00");
        assert_eq!(money_scale(dec("0.1230")).to_string(), "0.123");
        // Floats would print 0.1 + 0.2 style noise; Decimal sums stay exact.
        let sum: Decimal = ["0.10", "0.20", "33.30"].iter().map(|t| dec(t)).sum();
        assert_eq!(sum.to_string(), "33.60");
    }

    #[test]
    fn margin_equity_and_margin_level() {
        let spec = spec();
        // 0.10 × 100000 × 1.07219 / 100 = 107.219 → 107.22.
        assert_eq!(spec.margin_usd(dec("0.10"), dec("1.07219")), dec("107.22"));
        let position = |ticket, trade_type, entry: &str| Position {
            ticket,
            trade_type,
            volume_lots: dec("0.10"),
            entry_price: dec(entry),
            entry_time: Timestamp::from_nanos(0),
            stop_loss: None,
            take_profit: None,
            margin_usd: spec.margin_usd(dec("0.10"), dec(entry)),
        };
        let account = Account::new(
            spec,
            dec("10000"),
            vec![
                position(1, TradeType::Buy, "1.10000"),
                position(2, TradeType::Sell, "1.10100"),
            ],
        );
        let quote = Quote {
            bid: dec("1.10050"),
            ask: dec("1.10065"),
        };
        // BUY +5 pips at the bid = +5.00; SELL 1.10100 → ask 1.10065 = +3.50.
        assert_eq!(account.floating_profit_usd(&quote), dec("8.50"));
        assert_eq!(account.equity_usd(&quote), dec("10008.50"));
        assert_eq!(account.margin_usd(), dec("110.00") + dec("110.10"));
        assert_eq!(account.free_margin_usd(&quote), dec("9788.40"));
        // 10008.50 / 220.10 × 100 = 4547.25…
        assert_eq!(account.margin_level_percent(&quote), Some(dec("4547.25")));
        assert_eq!(account.total_volume_lots(), dec("0.20"));
        let empty = Account::new(spec, dec("10000"), vec![]);
        assert_eq!(empty.margin_level_percent(&quote), None);
        let snapshot = empty.snapshot(&quote, Timestamp::from_nanos(5), 7, "s", "b");
        assert_eq!((snapshot.open_positions, snapshot.margin_level), (0, None));
        assert_eq!(snapshot.margin_free.unwrap().to_string(), "10000.00");
        assert_eq!(snapshot.balance.to_string(), "10000.00");
    }
}
