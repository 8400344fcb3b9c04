//! The tables of the list commands (`trades`, `signals`, `snapshots`, `daily`) for humans.

use std::io::Write;

use anyhow::Context;
use tradeledger::projection::{
    DayView, QueryError, SignalView, SnapshotView, TradeStatistics, TradeView,
};

use super::human::{money, opt, opt_exact, opt_money, percent, Align, Table};

/// A column header and its alignment, for the tables below.
const fn left(name: &'static str) -> (&'static str, Align) {
    (name, Align::Left)
}

const fn right(name: &'static str) -> (&'static str, Align) {
    (name, Align::Right)
}

const TRADE_COLUMNS: [(&str, Align); 11] = [
    right("ticket"),
    left("status"),
    left("type"),
    left("symbol"),
    right("volume"),
    right("entry price"),
    left("entry time"),
    right("exit price"),
    left("exit time"),
    right("profit"),
    right("account"),
];

fn trade_cells(t: &TradeView) -> Vec<String> {
    vec![
        t.ticket.to_string(),
        t.status.to_string(),
        t.trade_type.to_string(),
        t.symbol.clone(),
        opt_exact(Some(t.volume)),
        opt_exact(Some(t.entry_price)),
        t.entry_time.to_string(),
        opt_exact(t.exit_price),
        opt(t.exit_time),
        opt_money(t.profit),
        opt(t.account_number),
    ]
}

pub fn trades(trades: &[TradeView]) -> String {
    if trades.is_empty() {
        return "no trades\n".into();
    }
    trades_table(trades).render()
}

/// The table of trades, to render or to extend (several journals' rows).
pub fn trades_table(trades: &[TradeView]) -> Table {
    let mut table = Table::new(&TRADE_COLUMNS);
    trades.iter().for_each(|t| table.row(trade_cells(t)));
    table
}

/// The table of [`trades`], written to stdout as the rows come ([`Table::write_streaming`]).
pub fn print_trades(
    rows: impl Iterator<Item = Result<TradeView, QueryError>>,
) -> anyhow::Result<()> {
    let cells = rows.map(|row| Ok(trade_cells(&row?)));
    print_streaming(Table::new(&TRADE_COLUMNS), cells, "no trades\n").map(|_| ())
}

/// Writes `table` with `rows` to stdout as they come, or `empty` when there are none;
/// returns how many rows there were.
fn print_streaming(
    table: Table,
    rows: impl Iterator<Item = anyhow::Result<Vec<String>>>,
    empty: &str,
) -> anyhow::Result<usize> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let count = table.write_streaming(rows, &mut out)?;
    if count == 0 {
        out.write_all(empty.as_bytes()).context("write to stdout")?;
    }
    out.flush().context("write to stdout")?;
    Ok(count)
}

pub fn signals(signals: &[SignalView]) -> String {
    if signals.is_empty() {
        return "no signals\n".into();
    }
    signals_table(signals).render()
}

/// The table of [`signals`], to render or to extend.
pub fn signals_table(signals: &[SignalView]) -> Table {
    let mut table = Table::new(&[
        right("signal"),
        left("time"),
        left("symbol"),
        left("type"),
        right("price"),
        right("confidence"),
        left("strategy"),
        left("timeframe"),
        left("executed"),
        right("ticket"),
    ]);
    for s in signals {
        table.row(vec![
            s.signal_id.to_string(),
            s.timestamp.to_string(),
            s.symbol.clone(),
            s.signal_type.to_string(),
            opt_exact(Some(s.price)),
            s.confidence.to_string(),
            s.strategy_name.clone(),
            s.timeframe.clone(),
            if s.executed { "yes" } else { "no" }.into(),
            opt(s.ticket),
        ]);
    }
    table
}

const SNAPSHOT_COLUMNS: [(&str, Align); 10] = [
    left("time"),
    right("account"),
    right("balance"),
    right("equity"),
    right("profit"),
    right("margin"),
    right("free margin"),
    right("margin level"),
    right("positions"),
    right("volume"),
];

fn snapshot_cells(s: &SnapshotView) -> Vec<String> {
    vec![
        s.snapshot_time.to_string(),
        s.account_number.to_string(),
        money(s.balance),
        money(s.equity),
        opt_money(s.profit),
        opt_money(s.margin),
        opt_money(s.margin_free),
        opt_money(s.margin_level),
        s.open_positions.to_string(),
        opt_exact(Some(s.total_volume)),
    ]
}

/// The snapshots of one account, written to stdout as they come, or `empty` when there
/// are none.
pub fn print_snapshots(
    rows: impl Iterator<Item = Result<SnapshotView, QueryError>>,
    empty: &str,
) -> anyhow::Result<()> {
    let cells = rows.map(|row| Ok(snapshot_cells(&row?)));
    print_streaming(Table::new(&SNAPSHOT_COLUMNS), cells, empty).map(|_| ())
}

/// The table of snapshots, to render or to extend (several journals' rows).
pub fn snapshots_table(snapshots: &[SnapshotView]) -> Table {
    let mut table = Table::new(&SNAPSHOT_COLUMNS);
    snapshots.iter().for_each(|s| table.row(snapshot_cells(s)));
    table
}

pub fn days(days: &[DayView]) -> String {
    if days.is_empty() {
        return "no closed trades in the range\n".into();
    }
    let mut table = Table::new(&[
        left("date"),
        right("trades"),
        right("won"),
        right("lost"),
        right("even"),
        right("gross profit"),
        right("gross loss"),
        right("net profit"),
        right("net result"),
        right("win rate"),
        right("profit factor"),
        right("end balance"),
        right("end equity"),
    ]);
    for d in days {
        table.row(vec![
            d.date.to_string(),
            d.total_trades.to_string(),
            d.winning_trades.to_string(),
            d.losing_trades.to_string(),
            d.breakeven_trades.to_string(),
            money(d.gross_profit),
            money(d.gross_loss),
            money(d.net_profit),
            money(d.net_result),
            percent(d.win_rate),
            opt_money(d.profit_factor),
            opt_money(d.end_balance),
            opt_money(d.end_equity),
        ]);
    }
    table.render()
}

/// `stats --group-by`: one row per group, its key first (`-` for none).
pub fn groups(field: &'static str, rows: &[(serde_json::Value, TradeStatistics)]) -> String {
    if rows.is_empty() {
        return "no closed trades\n".into();
    }
    let mut table = Table::new(&[
        left(field),
        right("trades"),
        right("win rate"),
        right("total profit"),
        right("net result"),
        right("profit factor"),
        right("max drawdown"),
        right("wins in a row"),
        right("losses in a row"),
    ]);
    for (key, s) in rows {
        let key = match key {
            serde_json::Value::Null => "-".to_string(),
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        table.row(vec![
            key,
            s.total_trades.to_string(),
            percent(s.win_rate),
            money(s.total_profit),
            money(s.net_result),
            opt_money(s.profit_factor),
            money(s.max_drawdown),
            s.max_consecutive_wins.to_string(),
            s.max_consecutive_losses.to_string(),
        ]);
    }
    table.render()
}
