//! Proptest strategies for domain events, shared by the integration tests.
//!
//! Every generated event is valid for the interchange format (`docs/INTERCHANGE.md` §1–§3,
//! stateless rules): positive prices and volumes, ratios in [0, 1], symbols and texts within
//! their limits. Values range over the extremes: decimals of every scale 0..=28 with mantissas
//! up to 96 bits, timestamps over the whole `i64` range, texts of any Unicode scalar values.

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tradeledger::model::contract::{
    FREE_TEXT_MAX_CHARS, SERVER_MAX_CHARS, STRATEGY_NAME_MAX_CHARS, SYMBOL_MAX_CHARS,
    TIMEFRAME_MAX_CHARS,
};
use tradeledger::model::event::*;

/// A mantissa of 0 to 96 bits, spread over magnitudes (as many small values as huge ones).
fn mantissa(min_bits: u32) -> impl Strategy<Value = u128> {
    (min_bits..=96u32, any::<u128>()).prop_map(|(bits, random)| {
        let mask = (1u128 << bits) - 1;
        let top = if bits == 0 { 0 } else { 1u128 << (bits - 1) };
        (random & mask) | top
    })
}

fn decimal_from(mantissa: u128, negative: bool, scale: u32) -> Decimal {
    let signed = if negative {
        -(mantissa as i128)
    } else {
        mantissa as i128
    };
    Decimal::from_i128_with_scale(signed, scale)
}

/// Any decimal: sign, scale 0..=28, mantissa up to 2^96 - 1.
pub fn any_decimal() -> impl Strategy<Value = Decimal> {
    (mantissa(0), any::<bool>(), 0..=Decimal::MAX_SCALE)
        .prop_map(|(m, negative, scale)| decimal_from(m, negative, scale))
}

/// A decimal greater than zero.
pub fn positive_decimal() -> impl Strategy<Value = Decimal> {
    (mantissa(1), 0..=Decimal::MAX_SCALE).prop_map(|(m, scale)| decimal_from(m, false, scale))
}

/// Any timestamp, from `Timestamp::MIN` to `Timestamp::MAX`.
pub fn any_timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        Just(Timestamp::MIN),
        Just(Timestamp::MAX),
        any::<i64>().prop_map(Timestamp::from_nanos),
        // Whole seconds and milliseconds, as real feeds send them.
        (-9_000_000_000i64..9_000_000_000).prop_map(|s| Timestamp::from_nanos(s * 1_000_000_000)),
        (-9_000_000_000_000i64..9_000_000_000_000)
            .prop_map(|ms| Timestamp::from_nanos(ms * 1_000_000)),
    ]
}

/// An input ratio: a finite number in [0, 1], including the bounds and tiny values.
pub fn ratio() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        0.0..=1.0f64,
    ]
}

/// A text of at most `max` characters, each any Unicode scalar value.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![vec(any::<char>(), 0..=max), vec(any::<char>(), max..=max),]
        .prop_map(String::from_iter)
}

pub fn free_text() -> impl Strategy<Value = String> {
    text(FREE_TEXT_MAX_CHARS)
}

/// A symbol: 1 to 12 characters, none of them whitespace or control.
pub fn symbol() -> impl Strategy<Value = String> {
    let visible = any::<char>().prop_filter("no whitespace or control", |c| {
        !c.is_whitespace() && !c.is_control()
    });
    vec(visible, 1..=SYMBOL_MAX_CHARS).prop_map(String::from_iter)
}

pub fn signal_type() -> impl Strategy<Value = SignalType> {
    proptest::sample::select(SignalType::ALL)
}

pub fn trade_type() -> impl Strategy<Value = TradeType> {
    proptest::sample::select(TradeType::ALL)
}

pub fn open_status() -> impl Strategy<Value = OpenStatus> {
    proptest::sample::select(OpenStatus::ALL)
}

pub fn price_update() -> impl Strategy<Value = PriceUpdate> {
    prop_oneof![
        Just(PriceUpdate::Unchanged),
        Just(PriceUpdate::Remove),
        any_decimal().prop_map(PriceUpdate::Set),
    ]
}

pub fn signal() -> impl Strategy<Value = Signal> {
    let required = (
        any::<u64>(),
        symbol(),
        signal_type(),
        any_timestamp(),
        positive_decimal(),
        ratio(),
        text(STRATEGY_NAME_MAX_CHARS),
        text(TIMEFRAME_MAX_CHARS),
    );
    let optional = (
        option::of(any_decimal()),
        option::of(any_decimal()),
        option::of(free_text()),
        any::<bool>(),
        option::of(ratio()),
        option::of(any::<bool>()),
    );
    (required, optional).prop_map(|(r, o)| {
        let mut signal = Signal::new(r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7);
        signal.stop_loss = o.0;
        signal.take_profit = o.1;
        signal.reason = o.2;
        signal.ml_enhanced = o.3;
        signal.ml_confidence = o.4;
        signal.ml_agreed = o.5;
        signal
    })
}

pub fn trade_opened() -> impl Strategy<Value = TradeOpened> {
    let required = (
        any::<u64>(),
        symbol(),
        trade_type(),
        positive_decimal(),
        positive_decimal(),
        any_timestamp(),
    );
    let order = (
        open_status(),
        option::of(any_decimal()),
        option::of(any_decimal()),
        any::<u64>(),
        option::of(any::<u64>()),
        option::of(text(STRATEGY_NAME_MAX_CHARS)),
        option::of(any::<u64>()),
    );
    let analysis = (
        option::of(free_text()),
        option::of(ratio()),
        option::of(free_text()),
        any::<bool>(),
        option::of(ratio()),
        any::<bool>(),
        option::of(free_text()),
    );
    let costs = (any_decimal(), any_decimal(), option::of(free_text()));
    (required, order, analysis, costs).prop_map(|(r, o, a, c)| {
        let mut trade = TradeOpened::new(r.0, r.1, r.2, r.3, r.4, r.5);
        trade.status = o.0;
        trade.stop_loss = o.1;
        trade.take_profit = o.2;
        trade.magic_number = o.3;
        trade.account_number = o.4;
        trade.strategy_name = o.5;
        trade.signal_id = o.6;
        trade.execution_reason = a.0;
        trade.signal_confidence = a.1;
        trade.signal_reason = a.2;
        trade.ml_enhanced = a.3;
        trade.ml_confidence = a.4;
        trade.ai_approved = a.5;
        trade.ai_reasoning = a.6;
        trade.commission = c.0;
        trade.swap = c.1;
        trade.comment = c.2;
        trade
    })
}

pub fn order_filled() -> impl Strategy<Value = OrderFilled> {
    (any::<u64>(), positive_decimal(), any_timestamp())
        .prop_map(|(ticket, price, time)| OrderFilled::new(ticket, price, time))
}

pub fn order_cancelled() -> impl Strategy<Value = OrderCancelled> {
    (any::<u64>(), any_timestamp(), option::of(free_text())).prop_map(|(ticket, time, reason)| {
        let mut cancel = OrderCancelled::new(ticket, time);
        cancel.reason = reason;
        cancel
    })
}

pub fn order_failed() -> impl Strategy<Value = OrderFailed> {
    let required = (
        any::<u64>(),
        symbol(),
        trade_type(),
        positive_decimal(),
        positive_decimal(),
        any_timestamp(),
    );
    let optional = (
        option::of(free_text()),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
        option::of(text(STRATEGY_NAME_MAX_CHARS)),
        any::<u64>(),
    );
    (required, optional).prop_map(|(r, o)| {
        let mut failed = OrderFailed::new(r.0, r.1, r.2, r.3, r.4, r.5);
        failed.reason = o.0;
        failed.signal_id = o.1;
        failed.account_number = o.2;
        failed.strategy_name = o.3;
        failed.magic_number = o.4;
        failed
    })
}

pub fn trade_modified() -> impl Strategy<Value = TradeModified> {
    (
        any::<u64>(),
        any_timestamp(),
        price_update(),
        price_update(),
    )
        .prop_map(|(ticket, time, stop_loss, take_profit)| {
            let mut modify = TradeModified::new(ticket, time);
            modify.stop_loss = stop_loss;
            modify.take_profit = take_profit;
            modify
        })
}

pub fn trade_closed() -> impl Strategy<Value = TradeClosed> {
    let required = (
        any::<u64>(),
        positive_decimal(),
        any_timestamp(),
        any_decimal(),
    );
    let optional = (
        option::of(any_decimal()),
        option::of(any_decimal()),
        option::of(any_decimal()),
        option::of(free_text()),
    );
    (required, optional).prop_map(|(r, o)| {
        let mut close = TradeClosed::new(r.0, r.1, r.2, r.3);
        close.pips = o.0;
        close.commission = o.1;
        close.swap = o.2;
        close.reason = o.3;
        close
    })
}

pub fn signal_executed() -> impl Strategy<Value = SignalExecuted> {
    (any::<u64>(), any::<u64>(), option::of(free_text())).prop_map(
        |(signal_id, ticket, execution_reason)| {
            let mut link = SignalExecuted::new(signal_id, ticket);
            link.execution_reason = execution_reason;
            link
        },
    )
}

pub fn account_snapshot() -> impl Strategy<Value = AccountSnapshot> {
    let required = (
        any::<u64>(),
        text(SERVER_MAX_CHARS),
        text(SERVER_MAX_CHARS),
        any_decimal(),
        any_decimal(),
        any_timestamp(),
    );
    let optional = (
        option::of(any_decimal()),
        option::of(any_decimal()),
        option::of(any_decimal()),
        any_decimal(),
        option::of(any_decimal()),
        any::<u32>(),
    );
    (required, optional).prop_map(|(r, o)| {
        let mut snapshot = AccountSnapshot::new(r.0, r.1, r.2, r.3, r.4, r.5);
        snapshot.profit = o.0;
        snapshot.margin = o.1;
        snapshot.margin_free = o.2;
        snapshot.total_volume = o.3;
        snapshot.margin_level = o.4;
        snapshot.open_positions = o.5;
        snapshot
    })
}

/// Any valid event of any of the nine kinds.
pub fn any_event() -> impl Strategy<Value = Event> {
    // Boxed: the unboxed value trees of nine large structs overflow a test thread's stack.
    prop_oneof![
        signal().prop_map(Event::Signal).boxed(),
        trade_opened().prop_map(Event::TradeOpened).boxed(),
        order_filled().prop_map(Event::OrderFilled).boxed(),
        order_cancelled().prop_map(Event::OrderCancelled).boxed(),
        order_failed().prop_map(Event::OrderFailed).boxed(),
        trade_modified().prop_map(Event::TradeModified).boxed(),
        trade_closed().prop_map(Event::TradeClosed).boxed(),
        signal_executed().prop_map(Event::SignalExecuted).boxed(),
        account_snapshot().prop_map(Event::AccountSnapshot).boxed(),
    ]
}

/// `a == b`, and every decimal has the same scale in both: `Decimal`'s `==` ignores the scale
/// (`1.10 == 1.1`), its `Debug` text does not.
pub fn identical(a: &Event, b: &Event) -> bool {
    a == b && format!("{a:?}") == format!("{b:?}")
}

/// `len` market `trade_opened`s with tickets from `first_ticket` (entry time: the ticket, in
/// nanoseconds).
pub fn trades(first_ticket: u64, len: usize) -> Vec<Event> {
    (first_ticket..first_ticket + len as u64)
        .map(|n| tradeledger::tools::sample::trade_opened(n, Timestamp::from_nanos(n as i64)))
        .collect()
}

/// Appends one batch of [`trades`] per entry of `sizes` (tickets counting up from 1), flushing
/// after batch `i` when `flush_after(i)`; returns the batches appended.
pub fn append_trade_batches(
    journal: &tradeledger::storage::journal::Journal,
    sizes: &[usize],
    flush_after: impl Fn(usize) -> bool,
) -> Vec<Vec<Event>> {
    let mut batches = vec![];
    let mut ticket = 1;
    for (i, &len) in sizes.iter().enumerate() {
        let events = trades(ticket, len);
        ticket += len as u64;
        journal.append(&events).unwrap();
        batches.push(events);
        if flush_after(i) {
            journal.flush().unwrap();
        }
    }
    batches
}

/// Copies the page cache of the journal at `live` (its segments and `journal.meta`) into
/// `to`, as a power loss would find it.
///
/// Appends must be over, but the background seal may still be syncing rolled segments and
/// writing each successor's chain link, in roll order, while the files are read one by one.
/// Reading the newest segment first keeps the copy a state that existed on disk: if a
/// segment was read with its link, its predecessor's link was written before, so it is in
/// the predecessor's later read too. Oldest first could read a predecessor before its link
/// and its successor after, a "sealed link after a pending one" no power loss can leave.
pub fn copy_page_cache(live: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(live)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".seg") || name == "journal.meta")
        .collect();
    // Segment names are zero-padded first seqs: descending name order is newest first.
    names.sort_unstable_by(|a, b| b.cmp(a));
    for name in names {
        std::fs::write(to.join(&name), std::fs::read(live.join(&name)).unwrap()).unwrap();
    }
}
