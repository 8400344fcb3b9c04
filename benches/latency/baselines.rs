//! What users would otherwise pick: one INSERT of a 15-column trades row per transaction,
//! from the same `sample::trade_opened` events, into SQLite (WAL) and PostgreSQL 15.

use std::hint::black_box;

use rust_decimal::Decimal;
use tradeledger::model::event::{Event, TradeOpened};
use tradeledger::tools::sample;

use crate::common;
use crate::measure::{run_single, Measured, Plan};
use crate::postgres_server::PostgresServer;

const CREATE_TABLE: &str = "CREATE TABLE trades (
    ticket BIGINT PRIMARY KEY, symbol TEXT NOT NULL, trade_type TEXT NOT NULL,
    volume NUMERIC NOT NULL, entry_price NUMERIC NOT NULL, entry_time BIGINT NOT NULL,
    status TEXT NOT NULL, stop_loss NUMERIC, take_profit NUMERIC, magic_number BIGINT NOT NULL,
    account_number BIGINT, strategy_name TEXT, signal_id BIGINT, commission NUMERIC NOT NULL,
    comment TEXT)";

const SQLITE_INSERT: &str = "INSERT INTO trades VALUES
    (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Decimals travel as text in both engines (exact; what a money column needs).
const POSTGRES_INSERT: &str = "INSERT INTO trades VALUES ($1, $2, $3, $4::text::numeric,
    $5::text::numeric, $6, $7, $8::text::numeric, $9::text::numeric, $10, $11, $12, $13,
    $14::text::numeric, $15)";

/// The event of operation `i`: `sample::trade_opened` with a new ticket.
fn trade(i: u64) -> TradeOpened {
    match sample::trade_opened(i + 1, common::at(1)) {
        Event::TradeOpened(trade) => trade,
        _ => unreachable!("trade_opened builds a TradeOpened"),
    }
}

/// The row's columns, converted as an application would (part of the timed operation).
struct Row {
    ticket: i64,
    trade_type: &'static str,
    volume: String,
    entry_price: String,
    entry_time: i64,
    status: &'static str,
    stop_loss: Option<String>,
    take_profit: Option<String>,
    magic_number: i64,
    account_number: Option<i64>,
    signal_id: Option<i64>,
    commission: String,
}

fn row(t: &TradeOpened) -> Row {
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    Row {
        ticket: t.ticket as i64,
        trade_type: t.trade_type.name(),
        volume: t.volume.to_string(),
        entry_price: t.entry_price.to_string(),
        entry_time: t.entry_time.nanos(),
        status: t.status.name(),
        stop_loss: text(t.stop_loss),
        take_profit: text(t.take_profit),
        magic_number: t.magic_number as i64,
        account_number: t.account_number.map(|n| n as i64),
        signal_id: t.signal_id.map(|n| n as i64),
        commission: t.commission.to_string(),
    }
}

/// SQLite in WAL mode with `synchronous` = `NORMAL` or `FULL`, one autocommit INSERT per
/// operation through a prepared statement.
pub fn sqlite(plan: &Plan, synchronous: &str) -> Result<Measured, String> {
    let dir = common::fresh_dir(&format!("latency-sqlite-{}", synchronous.to_lowercase()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = sqlite_in(&dir, plan, synchronous).map_err(|e| e.to_string());
    common::remove_dir(&dir);
    result
}

fn sqlite_in(dir: &std::path::Path, plan: &Plan, synchronous: &str) -> rusqlite::Result<Measured> {
    let connection = rusqlite::Connection::open(dir.join("trades.db"))?;
    let mode: String = connection.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    connection.execute_batch(&format!("PRAGMA synchronous={synchronous};"))?;
    connection.execute_batch(CREATE_TABLE)?;
    let mut insert = connection.prepare(SQLITE_INSERT)?;
    Ok(run_single(plan, trade, |t| {
        let r = row(&t);
        let params = rusqlite::params![
            r.ticket,
            t.symbol,
            r.trade_type,
            r.volume,
            r.entry_price,
            r.entry_time,
            r.status,
            r.stop_loss,
            r.take_profit,
            r.magic_number,
            r.account_number,
            t.strategy_name,
            r.signal_id,
            r.commission,
            t.comment
        ];
        black_box(insert.execute(params).expect("sqlite insert"));
    }))
}

/// PostgreSQL with `synchronous_commit` on or off, one autocommit INSERT per operation
/// through a prepared statement, over TCP on 127.0.0.1.
pub fn postgres(server: &PostgresServer, plan: &Plan, sync_on: bool) -> Result<Measured, String> {
    let mut client = server.connect()?;
    let table = if sync_on { "trades_on" } else { "trades_off" };
    let setting = if sync_on { "on" } else { "off" };
    let setup = format!(
        "SET synchronous_commit = {setting}; {};",
        CREATE_TABLE.replace("TABLE trades", &format!("TABLE {table}"))
    );
    client.batch_execute(&setup).map_err(|e| e.to_string())?;
    let sql = POSTGRES_INSERT.replace("INTO trades", &format!("INTO {table}"));
    let insert = client.prepare(&sql).map_err(|e| e.to_string())?;
    Ok(run_single(plan, trade, |t| {
        let r = row(&t);
        let rows = client.execute(
            &insert,
            &[
                &r.ticket,
                &t.symbol,
                &r.trade_type,
                &r.volume,
                &r.entry_price,
                &r.entry_time,
                &r.status,
                &r.stop_loss,
                &r.take_profit,
                &r.magic_number,
                &r.account_number,
                &t.strategy_name,
                &r.signal_id,
                &r.commission,
                &t.comment,
            ],
        );
        black_box(rows.expect("postgres insert"));
    }))
}
