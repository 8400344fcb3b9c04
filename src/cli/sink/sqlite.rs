//! `export --sqlite FILE`: the same tables in a SQLite file, written in one transaction into
//! a new file that then replaces FILE (a reader never sees a half-written file).

use std::path::Path;

use anyhow::{bail, Context};
use rusqlite::types::{ToSqlOutput, Value};
use tradeledger::ledger::AsOf;
use tradeledger::storage::reader::{FollowOptions, Follower, JournalReader};

use super::rows::{Cell, Engine, Rows};
use super::schema::{self, Dialect, POSITION_TABLE, SCHEMA_VERSION, TABLES};
use super::{journal_id, CATCH_UP_EVENTS};
use crate::cli::progress::{Bar, Unit};

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match self {
            Cell::BigInt(v) => v.map(Value::Integer),
            Cell::Numeric(v) => v.map(|d| Value::Text(d.to_string())),
            Cell::Text(v) => v.clone().map(Value::Text),
            Cell::Double(v) => v.map(Value::Real),
            Cell::Bool(v) => v.map(|b| Value::Integer(i64::from(b))),
            Cell::Time(v) => v.map(|t| Value::Text(t.to_string())),
            Cell::Date(d) => Some(Value::Text(d.to_string())),
        };
        Ok(ToSqlOutput::Owned(value.unwrap_or(Value::Null)))
    }
}

/// What the file holds: the last record applied and the rows per table.
pub struct Written {
    pub last_seq: u64,
    pub rows: Vec<(&'static str, usize)>,
}

/// Writes the tables of `dir`'s journal, up to `as_of`, into `file`.
pub fn export(dir: &Path, as_of: Option<AsOf>, file: &Path) -> anyhow::Result<Written> {
    let reader = JournalReader::open(dir)?;
    let id = journal_id(&reader);
    let head = reader.head_seq()?;
    if let Some(AsOf::Seq(seq)) = as_of {
        if seq > head {
            bail!(
                "--as-of {seq}: {} holds records up to seq {head} only",
                dir.display()
            );
        }
    }
    let name = file.file_name().context("--sqlite names no file")?;
    let partial = file.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&partial);
    let result = write_file(dir, as_of, head, &id, &partial);
    match result {
        Ok(written) => {
            std::fs::rename(&partial, file)
                .with_context(|| format!("cannot replace {}", file.display()))?;
            // The rename lasts once the folder is synced.
            let folder = match file.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            std::fs::File::open(folder)
                .and_then(|folder| folder.sync_all())
                .with_context(|| format!("cannot sync {}", folder.display()))?;
            Ok(written)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn write_file(
    dir: &Path,
    as_of: Option<AsOf>,
    head: u64,
    journal_id: &str,
    path: &Path,
) -> anyhow::Result<Written> {
    let failed = || format!("cannot write {}", path.display());
    let mut db = rusqlite::Connection::open(path).with_context(failed)?;
    // The file is new and private until it is renamed into place, which happens only once it
    // is complete and synced: no rollback journal, no sync per commit, and room in memory for
    // the pages the one transaction changes (64 MiB; by default they spill to disk every
    // 2 MiB).
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;",
    )
    .with_context(failed)?;
    let tx = db.transaction().with_context(failed)?;
    for table in TABLES {
        for statement in schema::create_statements(table, table.name, "v", Dialect::Sqlite) {
            tx.execute_batch(&statement).with_context(failed)?;
        }
    }
    tx.execute_batch(&schema::position_statement(Dialect::Sqlite))
        .with_context(failed)?;
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    let bar = Bar::new("replaying", Unit::Count("records"));
    bar.set(0, head);
    let replayed = replay_into(dir, as_of, head, (&tx, path), &bar);
    bar.finish();
    let engine = replayed?;
    for table in TABLES {
        let count: i64 = tx
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })
            .with_context(failed)?;
        counts.push((table.name, usize::try_from(count).unwrap_or(0)));
    }
    let last_seq = engine.applied_seq();
    tx.execute(
        &format!(
            "INSERT INTO {POSITION_TABLE} (journal_id, last_seq, last_recorded_at_ns, \
             schema_version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        ),
        rusqlite::params![
            journal_id,
            i64::try_from(last_seq)?,
            engine.last_recorded_at().map(|t| t.nanos()),
            SCHEMA_VERSION,
            tradeledger::model::event::Timestamp::now().to_string()
        ],
    )
    .with_context(failed)?;
    tx.commit().with_context(failed)?;
    db.close().map_err(|(_, e)| e).with_context(failed)?;
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(failed)?;
    Ok(Written {
        last_seq,
        rows: counts,
    })
}

/// The records up to `head` (or `as_of`) applied to a new engine, its rows written into
/// `tx` (of the file `path`) batch by batch, `bar` moved by the records read.
fn replay_into(
    dir: &Path,
    as_of: Option<AsOf>,
    head: u64,
    (tx, path): (&rusqlite::Transaction<'_>, &Path),
    bar: &Bar,
) -> anyhow::Result<Engine> {
    let failed = || format!("cannot write {}", path.display());
    let mut engine = Engine::new();
    let mut follower = Follower::open_with(dir, Some(1), FollowOptions::default())?;
    'read: while engine.applied_seq() < head {
        let records = follower.poll_up_to(CATCH_UP_EVENTS)?;
        if records.is_empty() {
            break;
        }
        for record in &records {
            let past = match as_of {
                Some(AsOf::Seq(seq)) => record.seq > seq,
                Some(AsOf::Time(time)) => record.recorded_at > time,
                None => record.seq > head,
            };
            if past {
                write_rows(tx, &engine.take_rows()?).with_context(failed)?;
                break 'read;
            }
            engine.apply(record)?;
        }
        write_rows(tx, &engine.take_rows()?).with_context(failed)?;
        bar.set(engine.applied_seq(), head);
    }
    bar.set(head, head);
    Ok(engine)
}

/// Each row replaces the row with the same key (`INSERT OR REPLACE`).
fn write_rows(tx: &rusqlite::Transaction, rows: &Rows) -> anyhow::Result<()> {
    for rows in &rows.tables {
        let table = rows.table;
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
            table.name,
            columns.join(", "),
            marks.join(", ")
        );
        let mut statement = tx.prepare_cached(&sql)?;
        for row in rows.all() {
            statement
                .execute(rusqlite::params_from_iter(row.iter()))
                .with_context(|| format!("table {}", table.name))?;
        }
    }
    Ok(())
}
