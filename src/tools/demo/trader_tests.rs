//! The trader's rules, one bar at a time, with hand-made bars.

use std::str::FromStr;

use super::*;
use crate::tools::demo::config::TraderConfig;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

const HOUR_NS: i64 = 3_600_000_000_000;

/// Bar `hour` (open time `hour` hours after the epoch) with prices open, high, low, close.
fn bar(hour: i64, [open, high, low, close]: [&str; 4]) -> Bar {
    Bar {
        time: Timestamp::from_nanos(hour * HOUR_NS),
        open: dec(open),
        high: dec(high),
        low: dec(low),
        close: dec(close),
        volume: 100,
    }
}

/// The close time of bar `hour`: what every event of that cycle carries.
fn close_time(hour: i64) -> Timestamp {
    Timestamp::from_nanos((hour + 1) * HOUR_NS)
}

/// A trader whose strategy is still warming up for 50 bars, so it only says HOLD and the
/// rules under test act alone.
fn quiet_trader() -> CurrencyTrader {
    trader_with(50, DemoConfig::default())
}

/// Trader 1 of `config`, with a crossover of 1 and `slow` bars.
fn trader_with(slow: usize, mut config: DemoConfig) -> CurrencyTrader {
    config.traders = vec![TraderConfig::new("test_ma", 1, slow)];
    CurrencyTrader::new(1, Arc::new(config))
}

fn position(trade_type: TradeType, [entry, stop, target]: [&str; 3]) -> Position {
    Position {
        ticket: ID_BLOCK + 900,
        trade_type,
        volume_lots: dec("0.10"),
        entry_price: dec(entry),
        entry_time: Timestamp::from_nanos(0),
        stop_loss: Some(dec(stop)),
        take_profit: Some(dec(target)),
        margin_usd: dec("110.00"),
    }
}

const FREE_MARGIN_USD: i64 = 10_000;

fn run_bar(trader: &mut CurrencyTrader, bar: &Bar) -> Vec<Vec<Event>> {
    trader.on_bar(bar, Decimal::from(FREE_MARGIN_USD))
}

/// The batches of a cycle without its HOLD signal (always the last batch).
fn without_hold(mut batches: Vec<Vec<Event>>) -> Vec<Vec<Event>> {
    let last = batches.pop().expect("every cycle records a signal");
    assert!(matches!(&last[..], [Event::Signal(s)] if s.signal_type == SignalType::Hold));
    batches
}

#[test]
fn buy_exits_use_the_bid_range_and_stop_loss_wins_ties() {
    let spread = dec("0.00015");
    let buy = position(TradeType::Buy, ["1.10000", "1.09700", "1.10600"]);
    let exit = |prices| exit_in_bar(&buy, &bar(1, prices), spread);
    let stop = |price: &str| {
        Some(Exit {
            price: dec(price),
            reason: "stop loss",
        })
    };
    let target = |price: &str| {
        Some(Exit {
            price: dec(price),
            reason: "take profit",
        })
    };
    assert_eq!(exit(["1.0990", "1.1000", "1.09701", "1.0995"]), None);
    assert_eq!(
        exit(["1.0990", "1.1000", "1.09700", "1.0995"]),
        stop("1.09700")
    );
    assert_eq!(
        exit(["1.1050", "1.10600", "1.1040", "1.1055"]),
        target("1.10600")
    );
    // Both levels inside one bar: the stop is assumed first.
    assert_eq!(
        exit(["1.1000", "1.1070", "1.0960", "1.1000"]),
        stop("1.09700")
    );
    // Opened below the stop (a gap): filled at the open, the worse price.
    assert_eq!(
        exit(["1.09650", "1.0990", "1.0960", "1.0980"]),
        stop("1.09650")
    );
    // Opened above the target: filled at the target, never better.
    assert_eq!(
        exit(["1.10700", "1.1080", "1.1065", "1.1070"]),
        target("1.10600")
    );
}

#[test]
fn sell_exits_use_the_ask_range_and_stop_loss_wins_ties() {
    let spread = dec("0.00015");
    let sell = position(TradeType::Sell, ["1.10000", "1.10300", "1.09400"]);
    let exit = |prices| exit_in_bar(&sell, &bar(1, prices), spread);
    let stop = |price: &str| {
        Some(Exit {
            price: dec(price),
            reason: "stop loss",
        })
    };
    let target = |price: &str| {
        Some(Exit {
            price: dec(price),
            reason: "take profit",
        })
    };
    // The bid high 1.10284 is below the stop, but the ask (bid + 1.5 pips) is not.
    assert_eq!(
        exit(["1.1010", "1.10285", "1.1000", "1.1010"]),
        stop("1.10300")
    );
    assert_eq!(exit(["1.1010", "1.10284", "1.1000", "1.1010"]), None);
    // The bid low 1.09385 puts the ask exactly on the target.
    assert_eq!(
        exit(["1.0950", "1.0960", "1.09385", "1.0950"]),
        target("1.09400")
    );
    assert_eq!(exit(["1.0950", "1.0960", "1.09386", "1.0950"]), None);
    assert_eq!(
        exit(["1.1000", "1.1040", "1.0930", "1.1000"]),
        stop("1.10300")
    );
    // Ask opened at 1.10415, beyond the stop.
    assert_eq!(
        exit(["1.10400", "1.1050", "1.1030", "1.1040"]),
        stop("1.10415")
    );
}

#[test]
fn stop_loss_close_books_exact_profit_and_commission() {
    let mut trader = quiet_trader();
    trader.positions = vec![position(TradeType::Buy, ["1.10000", "1.09700", "1.10600"])];
    let batches = without_hold(run_bar(
        &mut trader,
        &bar(7, ["1.0990", "1.0995", "1.0969", "1.0980"]),
    ));
    let expected = Event::TradeClosed(TradeClosed {
        ticket: ID_BLOCK + 900,
        exit_price: dec("1.09700"),
        exit_time: close_time(7),
        // −30 pips × 0.10 lot × 100,000 = −30.00 USD; $7 per lot round trip = −0.70.
        profit: dec("-30.00"),
        pips: Some(dec("-30")),
        commission: Some(dec("-0.70")),
        swap: None,
        reason: Some("stop loss".into()),
    });
    assert_eq!(batches, vec![vec![expected.clone()]]);
    // Money is written in cents, pips without trailing zeros.
    let mut line = String::new();
    crate::model::interchange::write_event(&mut line, &batches[0][0], None, None);
    assert!(
        line.contains(r#""profit":"-30.00","pips":"-30","commission":"-0.70""#),
        "{line}"
    );
    assert!(trader.positions().is_empty());
    let stats = trader.stats();
    assert_eq!((stats.trades_closed, stats.losses, stats.wins), (1, 1, 0));
    assert_eq!(stats.realized_usd(), dec("-30.70"));
}

#[test]
fn sell_take_profit_close_is_exact() {
    let mut trader = quiet_trader();
    trader.positions = vec![position(TradeType::Sell, ["1.10000", "1.10300", "1.09400"])];
    let batches = without_hold(run_bar(
        &mut trader,
        &bar(3, ["1.0950", "1.0960", "1.0938", "1.0945"]),
    ));
    let [Event::TradeClosed(closed)] = &batches[0][..] else {
        panic!("expected one close, got {batches:?}");
    };
    assert_eq!(closed.exit_price, dec("1.09400"));
    assert_eq!(closed.profit, dec("60.00"));
    assert_eq!(closed.pips, Some(dec("60")));
    assert_eq!(closed.reason.as_deref(), Some("take profit"));
    assert_eq!(trader.stats().wins, 1);
}

#[test]
fn stop_moves_to_breakeven_once_the_close_is_far_enough_in_favour() {
    let mut trader = quiet_trader();
    trader.positions = vec![position(TradeType::Buy, ["1.10000", "1.09700", "1.10600"])];
    // 19 pips at the close (the high was 25 pips up): not yet.
    let batches = run_bar(
        &mut trader,
        &bar(1, ["1.1010", "1.1025", "1.1005", "1.10190"]),
    );
    assert!(without_hold(batches).is_empty());
    // 20 pips at the close.
    let batches = run_bar(
        &mut trader,
        &bar(2, ["1.1019", "1.1021", "1.1015", "1.10200"]),
    );
    let modified = Event::TradeModified(TradeModified {
        ticket: ID_BLOCK + 900,
        time: close_time(2),
        stop_loss: PriceUpdate::Set(dec("1.10000")),
        take_profit: PriceUpdate::Unchanged,
    });
    assert_eq!(without_hold(batches), vec![vec![modified]]);
    assert_eq!(trader.positions()[0].stop_loss, Some(dec("1.10000")));
    // Only once.
    let batches = run_bar(
        &mut trader,
        &bar(3, ["1.1020", "1.1040", "1.1018", "1.10300"]),
    );
    assert!(without_hold(batches).is_empty());
    // Back to the entry price: closed at breakeven, profit 0, commission still paid.
    let batches = run_bar(
        &mut trader,
        &bar(4, ["1.1010", "1.1012", "1.0999", "1.1005"]),
    );
    let [Event::TradeClosed(closed)] = &without_hold(batches)[0][..] else {
        panic!("expected a close");
    };
    assert_eq!(
        (closed.exit_price, closed.profit),
        (dec("1.10000"), Decimal::ZERO)
    );
    let stats = trader.stats();
    assert_eq!((stats.breakevens, stats.stops_moved_to_breakeven), (1, 1));
    assert_eq!(stats.realized_usd(), dec("-0.70"));
}

#[test]
fn sell_breakeven_is_judged_at_the_ask() {
    let mut trader = quiet_trader();
    trader.positions = vec![position(TradeType::Sell, ["1.10000", "1.10300", "1.09400"])];
    // Bid 1.09800 is 20 pips down, but the ask 1.09815 is only 18.5.
    let batches = run_bar(
        &mut trader,
        &bar(1, ["1.0990", "1.0992", "1.0978", "1.09800"]),
    );
    assert!(without_hold(batches).is_empty());
    let batches = run_bar(
        &mut trader,
        &bar(2, ["1.0980", "1.0982", "1.0976", "1.09785"]),
    );
    assert_eq!(without_hold(batches).len(), 1);
    assert_eq!(trader.positions()[0].stop_loss, Some(dec("1.10000")));
}

fn pending(trade_type: TradeType, limit: &str) -> PendingOrder {
    PendingOrder {
        ticket: ID_BLOCK + 901,
        trade_type,
        volume_lots: dec("0.10"),
        limit_price: dec(limit),
        stop_loss: None,
        take_profit: None,
        placed_time: close_time(0),
        bars_waited: 0,
    }
}

#[test]
fn pending_buy_limit_fills_when_the_ask_touches_it() {
    let mut trader = quiet_trader();
    trader.pending = Some(pending(TradeType::Buy, "1.09950"));
    // Bid low 1.09936 → ask low 1.09951: one point short.
    let batches = run_bar(
        &mut trader,
        &bar(1, ["1.1000", "1.1005", "1.09936", "1.1000"]),
    );
    assert!(without_hold(batches).is_empty());
    let batches = run_bar(
        &mut trader,
        &bar(2, ["1.1000", "1.1005", "1.09935", "1.1000"]),
    );
    let filled = Event::OrderFilled(OrderFilled {
        ticket: ID_BLOCK + 901,
        entry_price: dec("1.09950"),
        entry_time: close_time(2),
    });
    assert_eq!(without_hold(batches), vec![vec![filled]]);
    assert!(trader.pending_order().is_none());
    let open = &trader.positions()[0];
    assert_eq!(
        (open.entry_price, open.entry_time),
        (dec("1.09950"), close_time(2))
    );
    // 0.10 × 100,000 × 1.09950 / 100.
    assert_eq!(open.margin_usd, dec("109.95"));
    assert_eq!(trader.stats().limit_orders_filled, 1);
}

#[test]
fn pending_sell_limit_is_cancelled_after_the_expiry() {
    let mut trader = quiet_trader();
    trader.pending = Some(pending(TradeType::Sell, "1.10050"));
    for hour in 1..5 {
        let batches = run_bar(
            &mut trader,
            &bar(hour, ["1.1000", "1.10049", "1.0990", "1.1000"]),
        );
        assert!(without_hold(batches).is_empty(), "bar {hour}");
    }
    let batches = run_bar(
        &mut trader,
        &bar(5, ["1.1000", "1.10049", "1.0990", "1.1000"]),
    );
    let cancelled = Event::OrderCancelled(OrderCancelled {
        ticket: ID_BLOCK + 901,
        time: close_time(5),
        reason: Some("expired after 5 bars".into()),
    });
    assert_eq!(without_hold(batches), vec![vec![cancelled]]);
    assert!(trader.pending_order().is_none() && trader.positions().is_empty());
}

/// Closes 1.1, 1.1, 1.101, 1.1005 with a 10-pip range: with SMAs of 1 and 2 bars, BUY on
/// bar 2 (confidence 1) and SELL on bar 3 (confidence 0.5).
fn crossing_bars() -> Vec<Bar> {
    vec![
        bar(0, ["1.1000", "1.1005", "1.0995", "1.10000"]),
        bar(1, ["1.1000", "1.1005", "1.0995", "1.10000"]),
        bar(2, ["1.1000", "1.1010", "1.1000", "1.10100"]),
        bar(3, ["1.1010", "1.1010", "1.1000", "1.10050"]),
    ]
}

#[test]
fn signals_and_their_orders_are_one_batch() {
    let config = DemoConfig {
        limit_below_confidence: 0.6,
        ..DemoConfig::default()
    };
    let mut trader = trader_with(2, config);
    let bars = crossing_bars();
    for bar in &bars[..2] {
        assert_eq!(run_bar(&mut trader, bar).len(), 1, "HOLD only");
    }
    let batches = run_bar(&mut trader, &bars[2]);
    let [batch] = &batches[..] else {
        panic!("{batches:?}")
    };
    let [Event::Signal(signal), Event::TradeOpened(opened)] = &batch[..] else {
        panic!("{batch:?}");
    };
    assert_eq!(
        (signal.signal_id, signal.signal_type),
        (ID_BLOCK + 3, SignalType::Buy)
    );
    assert_eq!(signal.confidence, 1.0);
    // Ask 1.10115 plus slippage of 2% of the 10-pip range (0.2 pip).
    assert_eq!(
        (opened.ticket, opened.signal_id),
        (ID_BLOCK + 1, Some(ID_BLOCK + 3))
    );
    assert_eq!(
        (opened.status, opened.entry_price),
        (OpenStatus::Open, dec("1.10117"))
    );
    assert_eq!(opened.stop_loss, Some(dec("1.09817")));
    assert_eq!(opened.take_profit, Some(dec("1.10717")));
    assert_eq!(
        (signal.stop_loss, signal.take_profit),
        (opened.stop_loss, opened.take_profit)
    );
    assert_eq!(opened.entry_time, close_time(2));

    // SELL with confidence 0.5 < 0.6: close the BUY at the bid minus slippage, then a
    // sell limit 5 pips above the bid.
    let batches = run_bar(&mut trader, &bars[3]);
    let [batch] = &batches[..] else {
        panic!("{batches:?}")
    };
    let [Event::Signal(signal), Event::TradeClosed(closed), Event::TradeOpened(limit)] = &batch[..]
    else {
        panic!("{batch:?}");
    };
    assert_eq!(
        (signal.signal_type, signal.confidence),
        (SignalType::Sell, 0.5)
    );
    assert_eq!(
        (closed.ticket, closed.exit_price),
        (ID_BLOCK + 1, dec("1.10048"))
    );
    assert_eq!(closed.profit, dec("-6.90"));
    assert_eq!(closed.reason.as_deref(), Some("opposite signal"));
    assert_eq!(
        (limit.ticket, limit.status),
        (ID_BLOCK + 2, OpenStatus::Pending)
    );
    assert_eq!(limit.entry_price, dec("1.10100"));
    assert_eq!(limit.signal_id, Some(ID_BLOCK + 4));
    assert!(trader.positions().is_empty());
    assert_eq!(trader.pending_order().map(|o| o.ticket), Some(ID_BLOCK + 2));
}

fn rejection_after_crossing(config: DemoConfig, free_margin_usd: Decimal) -> OrderFailed {
    let mut trader = trader_with(2, config);
    let bars = crossing_bars();
    for bar in &bars[..2] {
        run_bar(&mut trader, bar);
    }
    let batches = trader.on_bar(&bars[2], free_margin_usd);
    let [Event::Signal(signal), Event::OrderFailed(failed)] = &batches[0][..] else {
        panic!("{batches:?}");
    };
    assert_eq!(failed.signal_id, Some(signal.signal_id));
    assert_eq!(failed.entry_price, dec("1.10117"));
    assert!(trader.positions().is_empty() && trader.pending_order().is_none());
    assert_eq!(trader.stats().orders_failed, 1);
    failed.clone()
}

#[test]
fn broker_rejects_requotes_and_orders_beyond_free_margin() {
    let config = DemoConfig {
        requote_every_attempts: 1,
        ..DemoConfig::default()
    };
    let failed = rejection_after_crossing(config, Decimal::from(FREE_MARGIN_USD));
    assert_eq!(failed.reason.as_deref(), Some("requote"));
    assert_eq!(failed.ticket, ID_BLOCK + 1);

    // 0.10 lot at 1.10117 needs 110.12 USD of margin.
    let failed = rejection_after_crossing(DemoConfig::default(), dec("110.11"));
    assert_eq!(
        failed.reason.as_deref(),
        Some("not enough money: margin 110.12 USD, free margin 110.11 USD")
    );
}
