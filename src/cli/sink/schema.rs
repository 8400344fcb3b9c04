//! The SQL tables (`docs/SQL.md`): the old system's `trades`, `signals`, `account_snapshots`
//! and `daily_performance`, with its column names, exact types and the indexes its
//! repositories queried. One description, written out as PostgreSQL or SQLite DDL.

/// The version of this layout. A database whose tables were written under another version is
/// rebuilt by replay (`docs/SQL.md` §4); bump it with any change to a table below. Version 2
/// added the cost columns of `daily_performance`.
pub const SCHEMA_VERSION: i32 = 2;

/// What a column holds, and so its type in each dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An id, count or nanosecond time: `bigint` / `INTEGER`.
    BigInt,
    /// An exact decimal at its own scale: `numeric` / `TEXT` (SQLite has no exact decimal).
    Numeric,
    /// Free text: `text` / `TEXT`.
    Text,
    /// Text of at most this many characters: `varchar(n)` / `TEXT`.
    Varchar(u16),
    /// An enum: `text` with a CHECK of the allowed values (both dialects).
    Enum(&'static [&'static str]),
    /// A ratio given as a binary float: `double precision` / `REAL`.
    Double,
    /// `boolean` / `INTEGER` 0 or 1.
    Bool,
    /// A UTC time to the microsecond: `timestamptz` / `TEXT` (RFC 3339, to the nanosecond).
    Time,
    /// A UTC calendar day: `date` / `TEXT` (`YYYY-MM-DD`).
    Date,
}

pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The primary key, or `None` (daily_performance: unique per date and account).
    pub primary_key: Option<&'static str>,
    /// Unique keys (each a list of columns); NULLs compare equal.
    pub unique: &'static [&'static [&'static str]],
    /// Plain indexes.
    pub indexes: &'static [&'static [&'static str]],
    /// The columns that identify a row: a newer row replaces the row with the same values.
    pub key: &'static [&'static str],
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: true,
    }
}

use Kind::*;

const TRADE_TYPES: &[&str] = &["BUY", "SELL"];
const SIGNAL_TYPES: &[&str] = &["BUY", "SELL", "HOLD"];
const STATUSES: &[&str] = &["PENDING", "OPEN", "CLOSED", "CANCELLED", "FAILED"];

pub const TRADES: Table = Table {
    name: "trades",
    columns: &[
        col("id", BigInt),
        col("ticket", BigInt),
        col("symbol", Varchar(12)),
        col("magic_number", BigInt),
        opt("account_number", BigInt),
        col("trade_type", Enum(TRADE_TYPES)),
        col("status", Enum(STATUSES)),
        col("entry_price", Numeric),
        col("entry_time", Time),
        col("entry_time_ns", BigInt),
        col("volume", Numeric),
        opt("stop_loss", Numeric),
        opt("take_profit", Numeric),
        opt("exit_price", Numeric),
        opt("exit_time", Time),
        opt("exit_time_ns", BigInt),
        opt("profit", Numeric),
        col("commission", Numeric),
        col("swap", Numeric),
        opt("pips", Numeric),
        opt("duration_seconds", BigInt),
        opt("strategy_name", Varchar(50)),
        opt("signal_confidence", Double),
        opt("signal_reason", Text),
        col("ml_enhanced", Bool),
        opt("ml_confidence", Double),
        col("ai_approved", Bool),
        opt("ai_reasoning", Text),
        col("created_at", Time),
        col("created_at_ns", BigInt),
        col("updated_at", Time),
        col("updated_at_ns", BigInt),
        opt("signal_id", BigInt),
        opt("comment", Text),
        opt("close_reason", Text),
        col("order_placed_time", Time),
        col("order_placed_time_ns", BigInt),
        opt("order_cancelled_time", Time),
        opt("order_cancelled_time_ns", BigInt),
    ],
    primary_key: Some("id"),
    unique: &[&["ticket"]],
    indexes: &[
        &["symbol"],
        &["status"],
        &["entry_time"],
        &["exit_time"],
        &["strategy_name"],
        &["account_number"],
    ],
    key: &["ticket"],
};

pub const SIGNALS: Table = Table {
    name: "signals",
    columns: &[
        col("id", BigInt),
        col("symbol", Varchar(12)),
        col("signal_type", Enum(SIGNAL_TYPES)),
        col("timestamp", Time),
        col("timestamp_ns", BigInt),
        col("price", Numeric),
        opt("stop_loss", Numeric),
        opt("take_profit", Numeric),
        col("confidence", Double),
        opt("reason", Text),
        col("strategy_name", Varchar(50)),
        col("timeframe", Varchar(10)),
        col("ml_enhanced", Bool),
        opt("ml_confidence", Double),
        opt("ml_agreed", Bool),
        col("executed", Bool),
        opt("execution_reason", Text),
        opt("trade_id", BigInt),
        col("created_at", Time),
        col("created_at_ns", BigInt),
        col("seq", BigInt),
    ],
    primary_key: Some("id"),
    unique: &[],
    indexes: &[
        &["symbol"],
        &["signal_type"],
        &["timestamp"],
        &["strategy_name"],
        &["executed"],
    ],
    key: &["id"],
};

pub const SNAPSHOTS: Table = Table {
    name: "account_snapshots",
    columns: &[
        col("id", BigInt),
        col("account_number", BigInt),
        col("server", Varchar(50)),
        col("broker", Varchar(50)),
        col("balance", Numeric),
        col("equity", Numeric),
        opt("profit", Numeric),
        opt("margin", Numeric),
        opt("margin_free", Numeric),
        opt("margin_level", Numeric),
        col("open_positions", BigInt),
        col("total_volume", Numeric),
        col("snapshot_time", Time),
        col("snapshot_time_ns", BigInt),
        col("created_at", Time),
        col("created_at_ns", BigInt),
    ],
    primary_key: Some("id"),
    unique: &[],
    indexes: &[
        &["account_number"],
        &["snapshot_time"],
        &["account_number", "snapshot_time"],
    ],
    key: &["id"],
};

pub const DAILY: Table = Table {
    name: "daily_performance",
    columns: &[
        col("date", Date),
        opt("account_number", BigInt),
        col("total_trades", BigInt),
        col("winning_trades", BigInt),
        col("losing_trades", BigInt),
        col("breakeven_trades", BigInt),
        col("gross_profit", Numeric),
        col("gross_loss", Numeric),
        col("net_profit", Numeric),
        col("win_rate", Numeric),
        opt("profit_factor", Numeric),
        opt("average_win", Numeric),
        opt("average_loss", Numeric),
        opt("largest_win", Numeric),
        opt("largest_loss", Numeric),
        opt("end_balance", Numeric),
        opt("end_equity", Numeric),
        col("total_commission", Numeric),
        col("total_swap", Numeric),
        col("net_result", Numeric),
    ],
    primary_key: None,
    unique: &[&["date", "account_number"]],
    indexes: &[&["account_number"]],
    key: &["date", "account_number"],
};

/// The four tables, in the order they are written.
pub const TABLES: [&Table; 4] = [&TRADES, &SIGNALS, &SNAPSHOTS, &DAILY];

/// The table that records what the tables hold: one row per journal.
pub const POSITION_TABLE: &str = "tradeledger_position";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

fn sql_type(kind: Kind, dialect: Dialect) -> String {
    match (dialect, kind) {
        (Dialect::Postgres, BigInt) => "bigint".into(),
        (Dialect::Postgres, Numeric) => "numeric".into(),
        (Dialect::Postgres, Text | Enum(_)) => "text".into(),
        (Dialect::Postgres, Varchar(n)) => format!("varchar({n})"),
        (Dialect::Postgres, Double) => "double precision".into(),
        (Dialect::Postgres, Bool) => "boolean".into(),
        (Dialect::Postgres, Time) => "timestamptz".into(),
        (Dialect::Postgres, Date) => "date".into(),
        (Dialect::Sqlite, BigInt | Bool) => "INTEGER".into(),
        (Dialect::Sqlite, Double) => "REAL".into(),
        (Dialect::Sqlite, _) => "TEXT".into(),
    }
}

/// `CREATE TABLE` and `CREATE INDEX` statements for `table` named `name`. Constraint and
/// index names carry `tag` (unique in the database), so that a table built beside the live
/// one under another name can take its place by a rename.
pub fn create_statements(table: &Table, name: &str, tag: &str, dialect: Dialect) -> Vec<String> {
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let mut line = format!("\"{}\" {}", c.name, sql_type(c.kind, dialect));
            if !c.nullable {
                line.push_str(" NOT NULL");
            }
            if let Enum(values) = c.kind {
                let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
                line.push_str(&format!(" CHECK (\"{}\" IN ({}))", c.name, list.join(", ")));
            }
            line
        })
        .collect();
    if let Some(key) = table.primary_key {
        lines.push(format!(
            "CONSTRAINT {}_pkey_{tag} PRIMARY KEY (\"{key}\")",
            table.name
        ));
    }
    let mut statements = vec![format!(
        "CREATE TABLE {name} (\n  {}\n)",
        lines.join(",\n  ")
    )];
    let quoted =
        |columns: &[&str]| -> Vec<String> { columns.iter().map(|c| format!("\"{c}\"")).collect() };
    for columns in table.unique {
        let index = format!("{}_{}_key_{tag}", table.name, columns.join("_"));
        let list = quoted(columns);
        statements.push(match dialect {
            Dialect::Postgres => format!(
                "CREATE UNIQUE INDEX {index} ON {name} ({}) NULLS NOT DISTINCT",
                list.join(", ")
            ),
            // SQLite has no NULLS NOT DISTINCT: NULL stands for -1 in the index (ids are
            // never negative).
            Dialect::Sqlite => {
                let list: Vec<String> = columns
                    .iter()
                    .map(|c| match table.columns.iter().find(|k| k.name == *c) {
                        Some(k) if k.nullable => format!("ifnull(\"{c}\", -1)"),
                        _ => format!("\"{c}\""),
                    })
                    .collect();
                format!(
                    "CREATE UNIQUE INDEX {index} ON {name} ({})",
                    list.join(", ")
                )
            }
        });
    }
    for columns in table.indexes {
        let index = format!("{}_{}_idx_{tag}", table.name, columns.join("_"));
        statements.push(format!(
            "CREATE INDEX {index} ON {name} ({})",
            quoted(columns).join(", ")
        ));
    }
    statements
}

/// The position table: which journal the tables follow, up to which record (its seq and the
/// time the journal recorded it, which tells that record from another one written at the
/// same seq after the journal lost its tail), under which layout.
pub fn position_statement(dialect: Dialect) -> String {
    let time = sql_type(Time, dialect);
    format!(
        "CREATE TABLE IF NOT EXISTS {POSITION_TABLE} (\n  journal_id text PRIMARY KEY,\n  \
         last_seq bigint NOT NULL,\n  last_recorded_at_ns bigint,\n  \
         schema_version integer NOT NULL,\n  updated_at {time} NOT NULL\n)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_index_names_a_column() {
        for table in TABLES {
            let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
            let listed = table.unique.iter().chain(table.indexes).copied();
            for column in listed.flatten().chain(table.key).chain(&table.primary_key) {
                assert!(names.contains(column), "{}.{column}", table.name);
            }
        }
    }
}
