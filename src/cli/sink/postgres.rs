//! Writing rows to PostgreSQL: the tables, the position row, and one transaction per group
//! of whole batches, with the position updated in the same transaction as the rows.

use std::collections::HashSet;
use std::error::Error as StdError;

use anyhow::{anyhow, bail, Context};
use bytes::BytesMut;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Transaction};
use tradeledger::model::event::Timestamp;

use super::rows::{Cell, Rows};
use super::schema::{self, Dialect, Kind, Table, POSITION_TABLE, SCHEMA_VERSION, TABLES};

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Cell::BigInt(v) => v.to_sql(ty, out),
            // rust_decimal sends every zero with scale 0; "0.00" keeps its scale (§1).
            Cell::Numeric(Some(d)) if d.is_zero() => {
                let scale = u16::try_from(d.scale())?;
                out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // no digits, weight 0, positive
                out.extend_from_slice(&scale.to_be_bytes());
                Ok(IsNull::No)
            }
            Cell::Numeric(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Double(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::Time(v) => v.map(|t| t.to_datetime()).to_sql(ty, out),
            Cell::Date(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::BigInt => Type::INT8,
        Kind::Numeric => Type::NUMERIC,
        Kind::Text | Kind::Enum(_) => Type::TEXT,
        Kind::Varchar(_) => Type::VARCHAR,
        Kind::Double => Type::FLOAT8,
        Kind::Bool => Type::BOOL,
        Kind::Time => Type::TIMESTAMPTZ,
        Kind::Date => Type::DATE,
    }
}

/// Where the tables of a database stand.
pub enum Start {
    /// The tables hold the records up to `seq`, under [`SCHEMA_VERSION`]; the journal
    /// recorded that record at `recorded_at_ns` (`None` before the first).
    Resume {
        seq: u64,
        recorded_at_ns: Option<i64>,
    },
    /// The tables were written under another layout version: rebuild them.
    Rebuild { old_version: i32, last_seq: u64 },
}

/// A connection and what it created in its session.
pub struct Database {
    client: Client,
    journal_id: String,
    /// The temporary staging tables created in this session.
    staged: HashSet<String>,
}

const REBUILD_SUFFIX: &str = "__rebuild";

impl Database {
    pub fn connect(url: &str, journal_id: &str) -> anyhow::Result<Database> {
        let client = Client::connect(url, NoTls).context("cannot connect to PostgreSQL")?;
        Ok(Database {
            client,
            journal_id: journal_id.to_owned(),
            staged: HashSet::new(),
        })
    }

    /// Reads the position row; creates the tables on a database that has none.
    pub fn start(&mut self) -> anyhow::Result<Start> {
        let client = &mut self.client;
        client
            .batch_execute(&schema::position_statement(Dialect::Postgres))
            .with_context(|| format!("cannot create {POSITION_TABLE}"))?;
        let rows = client
            .query(
                &format!(
                    "SELECT journal_id, last_seq, schema_version, last_recorded_at_ns \
                     FROM {POSITION_TABLE}"
                ),
                &[],
            )
            .with_context(|| format!("cannot read {POSITION_TABLE}"))?;
        type Found = (String, i64, i32, Option<i64>);
        let (journal_id, last_seq, version, recorded_at_ns): Found = match rows.as_slice() {
            [] => return self.create(),
            [row] => (row.get(0), row.get(1), row.get(2), row.get(3)),
            _ => bail!(
                "{POSITION_TABLE} holds {} rows; it should hold one",
                rows.len()
            ),
        };
        if journal_id != self.journal_id {
            bail!(
                "the tables follow journal {journal_id}, not this one ({}): use another \
                 database or schema",
                self.journal_id
            );
        }
        let last_seq = u64::try_from(last_seq).context("negative last_seq")?;
        if version != SCHEMA_VERSION {
            return Ok(Start::Rebuild {
                old_version: version,
                last_seq,
            });
        }
        Ok(Start::Resume {
            seq: last_seq,
            recorded_at_ns,
        })
    }

    /// Creates the tables and the position row (seq 0) in one transaction. Tables of the
    /// same names that tradeledger did not make are left alone: an error says so.
    fn create(&mut self) -> anyhow::Result<Start> {
        let mut tx = self.client.transaction()?;
        for table in TABLES {
            let row = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.name])?;
            if row.get::<_, bool>(0) {
                bail!(
                    "table {} exists but {POSITION_TABLE} has no row: it was not made by \
                     tradeledger; use another database or schema, or drop it",
                    table.name
                );
            }
        }
        create_tables(&mut tx, "")?;
        tx.execute(
            &format!(
                "INSERT INTO {POSITION_TABLE} (journal_id, last_seq, schema_version, \
                 updated_at) VALUES ($1, 0, $2, now())"
            ),
            &[&self.journal_id, &SCHEMA_VERSION],
        )?;
        tx.commit().context("cannot create the tables")?;
        tracing::info!(version = SCHEMA_VERSION, "created the tables");
        Ok(Start::Resume {
            seq: 0,
            recorded_at_ns: None,
        })
    }

    /// Writes `rows` and moves the position from `from_seq` to `rows.last_seq`, in one
    /// transaction.
    pub fn commit(&mut self, rows: &Rows, from_seq: u64) -> anyhow::Result<()> {
        let mut tx = self.client.transaction()?;
        let place = || format!("writing the records after seq {from_seq}");
        write_rows(&mut tx, &mut self.staged, rows, "").with_context(place)?;
        let recorded_at_ns = rows.recorded_at.last().copied();
        set_position(
            &mut tx,
            &self.journal_id,
            from_seq,
            rows.last_seq,
            recorded_at_ns,
        )?;
        tx.commit()
            .with_context(|| format!("commit of the records up to seq {}", rows.last_seq))?;
        Ok(())
    }

    /// Starts a rebuild: new tables beside the live ones, filled by [`Rebuild::write`] in
    /// one transaction, swapped in by [`Rebuild::finish`].
    /// `from` is where [`Database::start`] found the position: its layout version and seq.
    pub fn rebuild(&mut self, from: (i32, u64)) -> anyhow::Result<Rebuild<'_>> {
        let mut tx = self.client.transaction()?;
        create_tables(&mut tx, REBUILD_SUFFIX)?;
        Ok(Rebuild {
            tx,
            staged: &mut self.staged,
            journal_id: &self.journal_id,
            from,
        })
    }
}

/// A rebuild in progress: readers see the old tables until it commits.
pub struct Rebuild<'a> {
    tx: Transaction<'a>,
    staged: &'a mut HashSet<String>,
    journal_id: &'a str,
    /// The position's layout version and seq when the rebuild started: it swaps the tables
    /// in only if nobody moved the position meanwhile.
    from: (i32, u64),
}

impl Rebuild<'_> {
    pub fn write(&mut self, rows: &Rows) -> anyhow::Result<()> {
        write_rows(&mut self.tx, self.staged, rows, REBUILD_SUFFIX)
    }

    /// Replaces the live tables with the new ones and sets the position, atomically.
    pub fn finish(mut self, last_seq: u64, recorded_at_ns: Option<i64>) -> anyhow::Result<()> {
        for table in TABLES {
            let name = table.name;
            self.tx.batch_execute(&format!(
                "DROP TABLE IF EXISTS {name}; \
                 ALTER TABLE {name}{REBUILD_SUFFIX} RENAME TO {name}"
            ))?;
        }
        let (from_version, from_seq) = self.from;
        let moved = self.tx.execute(
            &format!(
                "UPDATE {POSITION_TABLE} SET last_seq = $1, schema_version = $2, \
                 last_recorded_at_ns = $3, updated_at = now() \
                 WHERE journal_id = $4 AND last_seq = $5 AND schema_version = $6"
            ),
            &[
                &sql_seq(last_seq)?,
                &SCHEMA_VERSION,
                &recorded_at_ns,
                &self.journal_id,
                &sql_seq(from_seq)?,
                &from_version,
            ],
        )?;
        if moved != 1 {
            bail!(
                "{POSITION_TABLE} is no longer at seq {from_seq} under layout {from_version}: \
                 another sink writes to these tables; the rebuild was not swapped in"
            );
        }
        // The staging tables were made like the tables of the rebuild's names.
        self.tx.batch_execute("DISCARD TEMP")?;
        self.tx.commit().context("commit of the rebuilt tables")?;
        self.staged.clear();
        Ok(())
    }
}

fn sql_seq(seq: u64) -> anyhow::Result<i64> {
    i64::try_from(seq).map_err(|_| anyhow!("seq {seq} does not fit a bigint"))
}

fn create_tables(tx: &mut Transaction, suffix: &str) -> anyhow::Result<()> {
    // Constraint and index names are unique in the schema: the tables a rebuild replaces
    // still hold theirs while the new ones are made.
    let tag = format!("v{SCHEMA_VERSION}_{:x}", Timestamp::now().nanos());
    for table in TABLES {
        let name = format!("{}{suffix}", table.name);
        for statement in schema::create_statements(table, &name, &tag, Dialect::Postgres) {
            tx.batch_execute(&statement)
                .with_context(|| format!("cannot create table {name}"))?;
        }
    }
    Ok(())
}

/// Moves the position from `from_seq` to `to_seq`; fails when the row is not at `from_seq`
/// (another sink wrote meanwhile), so that no record is ever applied twice.
fn set_position(
    tx: &mut Transaction,
    journal_id: &str,
    from_seq: u64,
    to_seq: u64,
    recorded_at_ns: Option<i64>,
) -> anyhow::Result<()> {
    let moved = tx.execute(
        &format!(
            "UPDATE {POSITION_TABLE} SET last_seq = $1, last_recorded_at_ns = $2, \
             updated_at = now() WHERE journal_id = $3 AND last_seq = $4 AND schema_version = $5"
        ),
        &[
            &sql_seq(to_seq)?,
            &recorded_at_ns,
            &journal_id,
            &sql_seq(from_seq)?,
            &SCHEMA_VERSION,
        ],
    )?;
    if moved != 1 {
        bail!(
            "{POSITION_TABLE} is no longer at seq {from_seq}: another sink writes to these \
             tables; nothing was written"
        );
    }
    Ok(())
}

/// New rows are appended with COPY (binary). Changed rows replace the rows with the same key:
/// COPY into a staging table, then a delete and an insert from it.
fn write_rows(
    tx: &mut Transaction,
    staged: &mut HashSet<String>,
    rows: &Rows,
    suffix: &str,
) -> anyhow::Result<()> {
    for rows in &rows.tables {
        let table = rows.table;
        let target = format!("{}{suffix}", table.name);
        let place = || format!("table {target}");
        if !rows.new.is_empty() {
            copy_in(tx, table, &target, &rows.new).with_context(place)?;
        }
        if rows.changed.is_empty() {
            continue;
        }
        let stage = format!("tradeledger_stage_{target}");
        if !staged.contains(&stage) {
            tx.batch_execute(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {target}) ON COMMIT DELETE ROWS"
            ))
            .with_context(place)?;
            staged.insert(stage.clone());
        }
        copy_in(tx, table, &stage, &rows.changed).with_context(place)?;
        tx.batch_execute(&format!(
            "DELETE FROM {target} t USING {stage} s WHERE {}; \
             INSERT INTO {target} SELECT * FROM {stage}; DELETE FROM {stage}",
            key_match(table)
        ))
        .with_context(place)?;
    }
    Ok(())
}

fn key_match(table: &Table) -> String {
    let nullable = |name: &str| table.columns.iter().any(|c| c.name == name && c.nullable);
    let terms: Vec<String> = table
        .key
        .iter()
        .map(|k| match nullable(k) {
            true => format!("t.\"{k}\" IS NOT DISTINCT FROM s.\"{k}\""),
            false => format!("t.\"{k}\" = s.\"{k}\""),
        })
        .collect();
    terms.join(" AND ")
}

fn copy_in(
    tx: &mut Transaction,
    table: &Table,
    target: &str,
    rows: &[Vec<Cell>],
) -> anyhow::Result<()> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let types: Vec<Type> = table.columns.iter().map(|c| pg_type(c.kind)).collect();
    let sink = tx.copy_in(&format!(
        "COPY {target} ({}) FROM STDIN (FORMAT binary)",
        columns.join(", ")
    ))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut values: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(types.len());
    for row in rows {
        values.clear();
        values.extend(row.iter().map(|cell| cell as &(dyn ToSql + Sync)));
        writer.write(&values)?;
    }
    writer.finish()?;
    Ok(())
}

/// True for a lost connection or a server going away or not up yet: worth a new session.
pub fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let Some(pg) = cause.downcast_ref::<postgres::Error>() else {
            return false;
        };
        let io = pg
            .source()
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
        let code = pg.code().map(|c| c.code()).unwrap_or("");
        pg.is_closed() || io || code.starts_with("08") || code.starts_with("57P")
    })
}
