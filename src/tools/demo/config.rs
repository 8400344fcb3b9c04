//! The paper trader's settings (`docs/DEMO.md` explains the model each one feeds).

use rust_decimal::Decimal;

use crate::model::contract::{
    SERVER_MAX_CHARS, STRATEGY_NAME_MAX_CHARS, SYMBOL_MAX_CHARS, TIMEFRAME_MAX_CHARS,
};

/// Ids of trader `k` are `k * ID_BLOCK + n` (n = 1, 2, ...), so traders never collide.
pub const ID_BLOCK: u64 = 1_000_000_000;
/// The most traders a run may have: ids must fit in `u64`.
pub const TRADERS_MAX: usize = 1_000;

/// One trader: a moving-average crossover with its own name and parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct TraderConfig {
    /// `strategy_name` on its signals and trades (at most 50 characters).
    pub strategy_name: String,
    /// Bars in the fast simple moving average of closes.
    pub fast_period_bars: usize,
    /// Bars in the slow simple moving average of closes, and in the volatility window.
    pub slow_period_bars: usize,
    /// `magic_number` on its trades (tells the traders apart at the broker).
    pub magic_number: u64,
}

impl TraderConfig {
    pub fn new(strategy_name: &str, fast_period_bars: usize, slow_period_bars: usize) -> Self {
        TraderConfig {
            strategy_name: strategy_name.into(),
            fast_period_bars,
            slow_period_bars,
            magic_number: 234_000 + (fast_period_bars * 100 + slow_period_bars) as u64,
        }
    }
}

/// Settings of a paper-trading run. `Default` is the documented baseline (`docs/DEMO.md`).
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// Instrument traded by every trader. The P&L formula assumes the quote currency is the
    /// account currency (USD), as for EURUSD.
    pub symbol: String,
    /// `timeframe` on signals.
    pub timeframe: String,
    /// Length of one bar; events of a cycle are stamped with the bar's close time, which is
    /// its open time plus this.
    pub bar_duration_secs: i64,
    /// The traders, run side by side on the same account; trader `k` (1-based) owns ids
    /// `k * 1_000_000_000 + n`.
    pub traders: Vec<TraderConfig>,
    /// Size of one pip in price units (0.0001 for EURUSD).
    pub pip_size: Decimal,
    /// Decimal places of a price (5 for EURUSD); slippage is rounded to this.
    pub price_decimals: u32,
    /// Units of the base currency in one lot.
    pub contract_size_units: Decimal,
    /// Size of every order, in lots.
    pub volume_lots: Decimal,
    /// Account leverage, as `N` in 1:N.
    pub leverage: u32,
    /// Stop-loss distance from the entry price.
    pub stop_loss_pips: Decimal,
    /// Take-profit distance from the entry price.
    pub take_profit_pips: Decimal,
    /// Once the close is this far in favour, the stop loss moves to the entry price
    /// (`None`: never).
    pub breakeven_trigger_pips: Option<Decimal>,
    /// Ask minus bid. Bars are bid prices; buys fill and sells close at bid + spread.
    pub spread_pips: Decimal,
    /// Market-order slippage as a fraction of the bar's high-low range, always against the
    /// trader, rounded down to `price_decimals`.
    pub slippage_range_ratio: Decimal,
    /// Upper bound of the slippage.
    pub max_slippage_pips: Decimal,
    /// Round-trip commission per lot, charged when a trade closes.
    pub commission_per_lot_usd: Decimal,
    /// Entries whose signal confidence is below this go through a pending limit order.
    pub limit_below_confidence: f64,
    /// How much better than the market a limit order is placed.
    pub limit_offset_pips: Decimal,
    /// A limit order still unfilled after this many bars is cancelled.
    pub pending_expiry_bars: u32,
    /// Every N-th order attempt of a trader is rejected with "requote" (0: never).
    pub requote_every_attempts: u64,
    /// Account balance before the first bar.
    pub initial_balance_usd: Decimal,
    /// `account_number` on snapshots and trades.
    pub account_number: u64,
    /// `server` on snapshots.
    pub server: String,
    /// `broker` on snapshots.
    pub broker: String,
    /// Pause between cycles, to watch a run live (0: as fast as the sink accepts).
    pub realtime_delay_ms: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            symbol: "EURUSD".into(),
            timeframe: "H1".into(),
            bar_duration_secs: 3600,
            traders: vec![
                TraderConfig::new("ma_crossover_10_30", 10, 30),
                TraderConfig::new("ma_crossover_5_20", 5, 20),
            ],
            pip_size: Decimal::new(1, 4),
            price_decimals: 5,
            contract_size_units: Decimal::from(100_000),
            volume_lots: Decimal::new(10, 2),
            leverage: 100,
            stop_loss_pips: Decimal::from(30),
            take_profit_pips: Decimal::from(60),
            breakeven_trigger_pips: Some(Decimal::from(20)),
            spread_pips: Decimal::new(15, 1),
            slippage_range_ratio: Decimal::new(2, 2),
            max_slippage_pips: Decimal::ONE,
            commission_per_lot_usd: Decimal::from(7),
            limit_below_confidence: 0.1,
            limit_offset_pips: Decimal::from(5),
            pending_expiry_bars: 5,
            requote_every_attempts: 97,
            initial_balance_usd: Decimal::from(10_000),
            account_number: 12_345_678,
            server: "Paper-Server".into(),
            broker: "tradeledger paper".into(),
            realtime_delay_ms: 0,
        }
    }
}

impl DemoConfig {
    /// Checks every setting; the message names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_texts()?;
        self.validate_traders()?;
        let positive = [
            ("pip_size", self.pip_size),
            ("contract_size_units", self.contract_size_units),
            ("volume_lots", self.volume_lots),
            ("stop_loss_pips", self.stop_loss_pips),
            ("take_profit_pips", self.take_profit_pips),
            ("initial_balance_usd", self.initial_balance_usd),
        ];
        let not_negative = [
            ("spread_pips", self.spread_pips),
            ("slippage_range_ratio", self.slippage_range_ratio),
            ("max_slippage_pips", self.max_slippage_pips),
            ("commission_per_lot_usd", self.commission_per_lot_usd),
            ("limit_offset_pips", self.limit_offset_pips),
        ];
        for (name, value) in positive {
            check(value > Decimal::ZERO, name, "must be positive")?;
        }
        for (name, value) in not_negative {
            check(value >= Decimal::ZERO, name, "must not be negative")?;
        }
        if let Some(trigger) = self.breakeven_trigger_pips {
            check(
                trigger > Decimal::ZERO,
                "breakeven_trigger_pips",
                "must be positive",
            )?;
        }
        check(
            self.bar_duration_secs > 0,
            "bar_duration_secs",
            "must be positive",
        )?;
        check(
            self.price_decimals <= 10,
            "price_decimals",
            "must be at most 10",
        )?;
        check(self.leverage >= 1, "leverage", "must be at least 1")?;
        check(
            self.pending_expiry_bars >= 1,
            "pending_expiry_bars",
            "must be at least 1",
        )?;
        let ratio = self.limit_below_confidence;
        check(
            (0.0..=1.0).contains(&ratio),
            "limit_below_confidence",
            "must be in [0, 1]",
        )
    }

    fn validate_texts(&self) -> Result<(), String> {
        let symbol_ok = (1..=SYMBOL_MAX_CHARS).contains(&self.symbol.chars().count())
            && !self
                .symbol
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        check(symbol_ok, "symbol", "must be 1 to 12 characters, no spaces")?;
        let texts = [
            ("timeframe", &self.timeframe, TIMEFRAME_MAX_CHARS),
            ("server", &self.server, SERVER_MAX_CHARS),
            ("broker", &self.broker, SERVER_MAX_CHARS),
        ];
        for (name, text, max_chars) in texts {
            let fits = text.chars().count() <= max_chars;
            check(
                fits,
                name,
                &format!("must be at most {max_chars} characters"),
            )?;
        }
        Ok(())
    }

    fn validate_traders(&self) -> Result<(), String> {
        let count = self.traders.len();
        check(count >= 1, "traders", "needs at least one trader")?;
        check(count <= TRADERS_MAX, "traders", "too many traders")?;
        for (i, trader) in self.traders.iter().enumerate() {
            let name_chars = trader.strategy_name.chars().count();
            let name_ok = (1..=STRATEGY_NAME_MAX_CHARS).contains(&name_chars);
            let periods_ok =
                trader.fast_period_bars >= 1 && trader.fast_period_bars < trader.slow_period_bars;
            let unique = self.traders[..i]
                .iter()
                .all(|other| other.strategy_name != trader.strategy_name);
            let field = format!("traders[{i}]");
            check(name_ok, &field, "strategy_name must be 1 to 50 characters")?;
            check(
                periods_ok,
                &field,
                "needs 1 <= fast_period_bars < slow_period_bars",
            )?;
            check(unique, &field, "strategy_name is used by an earlier trader")?;
        }
        Ok(())
    }

    /// The spread in price units.
    pub fn spread(&self) -> Decimal {
        self.spread_pips * self.pip_size
    }
}

fn check(ok: bool, field: &str, reason: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_settings_are_named() {
        assert_eq!(DemoConfig::default().validate(), Ok(()));
        let mut config = DemoConfig::default();
        config.traders[1].slow_period_bars = 5;
        assert_eq!(
            config.validate(),
            Err("traders[1]: needs 1 <= fast_period_bars < slow_period_bars".into())
        );
        let config = DemoConfig {
            volume_lots: Decimal::ZERO,
            ..DemoConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err("volume_lots: must be positive".into())
        );
        let mut config = DemoConfig::default();
        config.traders[1].strategy_name = config.traders[0].strategy_name.clone();
        assert!(config
            .validate()
            .unwrap_err()
            .contains("used by an earlier"));
    }
}
