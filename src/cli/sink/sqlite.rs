//! `export --sqlite FILE`: the same tables in a SQLite file, written in one transaction into
//! a new file that then replaces FILE (a reader never sees a half-written file).
//!
//! The rows are the sink's (`rows.rs`), written in two passes so that memory does not grow
//! with the journal:
//! 1. the records up to the state's head are read in order, and what the projections do not
//!    keep is noted in temporary tables: when the journal recorded each trade's first and last
//!    record and each signal's record, when a pending order was placed and cancelled. The
//!    snapshot rows, which are their events, are written as they come;
//! 2. the state's trades and signals (a checkpoint's read in place, the records after it in
//!    memory) are walked and written with those times, then the daily rows.
//!
//! The first pass cannot tell which records the rules skipped: a journal holding events they
//! refuse is exported by the sink's engine instead, record by record, in memory.

use std::path::Path;

use anyhow::{bail, Context};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::OptionalExtension;
use tradeledger::model::event::{
    Event, OrderFailed, OrderFilled, SignalExecuted, Timestamp, TradeClosed, TradeModified,
    TradeOpened,
};
use tradeledger::projection::{Projections, TradeFilter};
use tradeledger::storage::reader::{FollowOptions, Follower, JournalReader, Record};

use super::rows::{day_row, signal_row, snapshot_row, trade_row, Cell, Engine, Rows, TradeTimes};
use super::schema::{self, Dialect, Table, DAILY, POSITION_TABLE, SCHEMA_VERSION, SIGNALS};
use super::schema::{SNAPSHOTS, TABLES, TRADES};
use super::{journal_id, CATCH_UP_EVENTS};
use crate::cli::options::Source;
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
    /// Whether the records were replayed in memory by the sink's engine (the journal holds
    /// events the rules refuse), not read in two passes.
    pub replayed: bool,
}

/// Writes the tables of the state `source` chooses into `file`.
pub fn export(source: &Source, file: &Path) -> anyhow::Result<Written> {
    let dir = &source.dir;
    let state = source.load()?;
    let reader = JournalReader::open(dir)?;
    let name = file.file_name().context("--sqlite names no file")?;
    let partial = file.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&partial);
    let replay = state.ignored_events() > 0;
    let result = write_file(dir, &reader, &state, &partial, replay);
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

/// Writes `state`'s tables (of the journal in `dir`, read by `reader`) into the new file
/// `path`: by the sink's engine when `replay`, in two passes otherwise.
fn write_file(
    dir: &Path,
    reader: &JournalReader,
    state: &Projections,
    path: &Path,
    replay: bool,
) -> anyhow::Result<Written> {
    let failed = || format!("cannot write {}", path.display());
    let mut db = rusqlite::Connection::open(path).with_context(failed)?;
    // The file is new and private until it is renamed into place, which happens only once it
    // is complete and synced: no rollback journal, no sync per commit, and room in memory for
    // the pages the one transaction changes (16 MiB; by default they spill to disk every
    // 2 MiB), and for the temporary tables' (8 MiB): 55 MB in all at 10 M events.
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -16384; \
         PRAGMA temp_store = FILE; PRAGMA temp.cache_size = -8192;",
    )
    .with_context(failed)?;
    let tx = db.transaction().with_context(failed)?;
    // The two passes add the indexes once the rows are in (a sort each: 72 s → 59-68 s at
    // 10 M events); the engine's `INSERT OR REPLACE` needs the unique ones as it goes.
    let mut indexes = Vec::new();
    for table in TABLES {
        let mut statements = schema::create_statements(table, table.name, "v", Dialect::Sqlite);
        let later = statements.split_off(1);
        match replay {
            true => statements.extend(later),
            false => indexes.extend(later),
        }
        for statement in statements {
            tx.execute_batch(&statement).with_context(failed)?;
        }
    }
    tx.execute_batch(&schema::position_statement(Dialect::Sqlite))
        .with_context(failed)?;
    let head = state.head_seq();
    let last_recorded_at = if replay {
        tracing::warn!(
            count = state.ignored_events(),
            "the journal holds events the rules refuse: replaying it in memory"
        );
        let bar = Bar::new("replaying", Unit::Count("records"));
        let engine = replay_into(dir, head, (&tx, path), &bar);
        bar.finish();
        engine?.last_recorded_at()
    } else {
        let noted = note_records(reader, head, &tx).with_context(failed)?;
        write_state(state, &noted, &tx).with_context(failed)?;
        for statement in indexes {
            tx.execute_batch(&statement).with_context(failed)?;
        }
        noted.last_recorded_at
    };
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for table in TABLES {
        let count: i64 = tx
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })
            .with_context(failed)?;
        counts.push((table.name, usize::try_from(count).unwrap_or(0)));
    }
    tx.execute(
        &format!(
            "INSERT INTO {POSITION_TABLE} (journal_id, last_seq, last_recorded_at_ns, \
             schema_version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        ),
        rusqlite::params![
            journal_id(reader),
            i64::try_from(head)?,
            last_recorded_at.map(|t| t.nanos()),
            SCHEMA_VERSION,
            Timestamp::now().to_string()
        ],
    )
    .with_context(failed)?;
    tx.commit().with_context(failed)?;
    db.close().map_err(|(_, e)| e).with_context(failed)?;
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(failed)?;
    Ok(Written {
        last_seq: head,
        rows: counts,
        replayed: replay,
    })
}

/// What the first pass read.
struct Noted {
    /// When the journal recorded the last record read.
    last_recorded_at: Option<Timestamp>,
    /// The trades (`trade_opened`, `order_failed`) and signals met.
    trades: u64,
    signals: u64,
}

/// A u64 key (ticket, signal_id) as the integer key of a temporary table: its bits, since the
/// table is only looked up by it.
fn key(id: u64) -> i64 {
    id as i64
}

/// The first pass: records 1 to `head` read in order; the trades' and signals' record times
/// noted in the temporary tables `trade_times` and `signal_records`, the snapshots written.
fn note_records(
    reader: &JournalReader,
    head: u64,
    tx: &rusqlite::Transaction<'_>,
) -> anyhow::Result<Noted> {
    tx.execute_batch(
        "CREATE TEMP TABLE trade_times (ticket INTEGER PRIMARY KEY, created_ns INTEGER NOT NULL, \
         updated_ns INTEGER NOT NULL, placed_ns INTEGER NOT NULL, cancelled_ns INTEGER); \
         CREATE TEMP TABLE signal_records (signal_id INTEGER PRIMARY KEY, \
         seq INTEGER NOT NULL, recorded_ns INTEGER NOT NULL);",
    )?;
    let mut opened =
        tx.prepare("INSERT OR REPLACE INTO temp.trade_times VALUES (?1, ?2, ?2, ?3, NULL)")?;
    let mut touched =
        tx.prepare("UPDATE temp.trade_times SET updated_ns = ?2 WHERE ticket = ?1")?;
    let mut cancelled = tx.prepare(
        "UPDATE temp.trade_times SET updated_ns = ?2, cancelled_ns = ?3 WHERE ticket = ?1",
    )?;
    let mut signal =
        tx.prepare("INSERT OR REPLACE INTO temp.signal_records VALUES (?1, ?2, ?3)")?;
    let mut snapshot = tx.prepare(&insert_sql(&SNAPSHOTS, "INSERT"))?;
    let mut noted = Noted {
        last_recorded_at: None,
        trades: 0,
        signals: 0,
    };
    let bar = Bar::new("reading records", Unit::Count("records"));
    bar.set(0, head);
    let mut read = 0;
    for record in reader.records(1) {
        let Record {
            seq,
            recorded_at,
            event,
            ..
        } = record?;
        if seq > head {
            break;
        }
        let at = recorded_at.nanos();
        match &event {
            Event::Signal(e) => {
                signal.execute(rusqlite::params![key(e.signal_id), i64::try_from(seq)?, at])?;
                noted.signals += 1;
            }
            Event::TradeOpened(TradeOpened {
                ticket, entry_time, ..
            })
            | Event::OrderFailed(OrderFailed {
                ticket, entry_time, ..
            }) => {
                opened.execute(rusqlite::params![key(*ticket), at, entry_time.nanos()])?;
                noted.trades += 1;
            }
            Event::OrderFilled(OrderFilled { ticket, .. })
            | Event::TradeModified(TradeModified { ticket, .. })
            | Event::TradeClosed(TradeClosed { ticket, .. })
            | Event::SignalExecuted(SignalExecuted { ticket, .. }) => {
                touched.execute(rusqlite::params![key(*ticket), at])?;
            }
            Event::OrderCancelled(e) => {
                let cancel = rusqlite::params![key(e.ticket), at, e.time.nanos()];
                cancelled.execute(cancel)?;
            }
            Event::AccountSnapshot(e) => {
                let row = snapshot_row(seq, recorded_at, e)?;
                snapshot.execute(rusqlite::params_from_iter(row.iter()))?;
            }
        }
        noted.last_recorded_at = Some(recorded_at);
        read = seq;
        if seq % RECORDS_PER_STEP == 0 {
            bar.set(read, head);
        }
    }
    bar.set(read, head);
    bar.finish();
    if read != head {
        bail!("the records end at seq {read}, before the state's head, seq {head}");
    }
    Ok(noted)
}

/// How often the first pass moves its bar, in records.
const RECORDS_PER_STEP: u64 = 65_536;

/// The second pass: the state's trades and signals written with the times noted, then the
/// daily rows.
fn write_state(
    state: &Projections,
    noted: &Noted,
    tx: &rusqlite::Transaction<'_>,
) -> anyhow::Result<()> {
    let bar = Bar::new("writing rows", Unit::Count("rows"));
    let total = noted.trades + noted.signals;
    bar.set(0, total);
    let mut written = 0;
    let mut step = |bar: &Bar| {
        written += 1;
        if written % RECORDS_PER_STEP == 0 {
            bar.set(written, total);
        }
    };
    let mut times = tx.prepare(
        "SELECT created_ns, updated_ns, placed_ns, cancelled_ns FROM temp.trade_times \
         WHERE ticket = ?1",
    )?;
    let mut insert = tx.prepare(&insert_sql(&TRADES, "INSERT"))?;
    for trade in state.trade_rows(&TradeFilter::default())? {
        let trade = trade?;
        let found = times.query_row([key(trade.ticket)], |r| {
            let time = |i| r.get(i).map(Timestamp::from_nanos);
            Ok(TradeTimes {
                created_at: time(0)?,
                updated_at: time(1)?,
                placed: time(2)?,
                cancelled: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_nanos),
            })
        });
        let found = found.optional()?;
        let times =
            found.with_context(|| format!("trade {}: no record opened it", trade.ticket))?;
        insert.execute(rusqlite::params_from_iter(
            trade_row(&trade, &times)?.iter(),
        ))?;
        step(&bar);
    }
    let mut recorded =
        tx.prepare("SELECT seq, recorded_ns FROM temp.signal_records WHERE signal_id = ?1")?;
    let mut insert = tx.prepare(&insert_sql(&SIGNALS, "INSERT"))?;
    for signal in state.signal_rows(None, false)? {
        let signal = signal?;
        let found = recorded.query_row([key(signal.signal_id)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1).map(Timestamp::from_nanos)?))
        });
        let (seq, at) = (found.optional()?)
            .with_context(|| format!("signal {}: no record holds it", signal.signal_id))?;
        let row = signal_row(&signal, u64::try_from(seq)?, at)?;
        insert.execute(rusqlite::params_from_iter(row.iter()))?;
        step(&bar);
    }
    bar.set(written, total);
    bar.finish();
    let mut days = state.daily_performance(None, None, None)?;
    for account in state.closed_trade_accounts()? {
        days.extend(state.daily_performance(None, None, Some(account))?);
    }
    let mut insert = tx.prepare(&insert_sql(&DAILY, "INSERT"))?;
    for day in &days {
        insert.execute(rusqlite::params_from_iter(day_row(day)?.iter()))?;
    }
    Ok(())
}

/// The records up to `head` applied to a new engine, its rows written into `tx` (of the file
/// `path`) batch by batch, `bar` moved by the records read.
fn replay_into(
    dir: &Path,
    head: u64,
    (tx, path): (&rusqlite::Transaction<'_>, &Path),
    bar: &Bar,
) -> anyhow::Result<Engine> {
    let failed = || format!("cannot write {}", path.display());
    let mut engine = Engine::new();
    bar.set(0, head);
    let mut follower = Follower::open_with(dir, Some(1), FollowOptions::default())?;
    'read: while engine.applied_seq() < head {
        let records = follower.poll_up_to(CATCH_UP_EVENTS)?;
        if records.is_empty() {
            break;
        }
        for record in &records {
            if record.seq > head {
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

/// `VERB INTO table (columns...) VALUES (?1, ...)`.
fn insert_sql(table: &Table, verb: &str) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "{verb} INTO {} ({}) VALUES ({})",
        table.name,
        columns.join(", "),
        marks.join(", ")
    )
}

/// Each row replaces the row with the same key (`INSERT OR REPLACE`).
fn write_rows(tx: &rusqlite::Transaction, rows: &Rows) -> anyhow::Result<()> {
    for rows in &rows.tables {
        let table = rows.table;
        let mut statement = tx.prepare_cached(&insert_sql(table, "INSERT OR REPLACE"))?;
        for row in rows.all() {
            statement
                .execute(rusqlite::params_from_iter(row.iter()))
                .with_context(|| format!("table {}", table.name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use tradeledger::ledger::AsOf;
    use tradeledger::tools::load::{self, LoadConfig};
    use tradeledger::tools::sample;
    use tradeledger::{FailurePolicy, Journal, JournalHandle, JournalOptions, Ledger, OpenMode};

    use super::*;

    /// A journal of `events` from the load generator (every kind of event), checkpointed every
    /// `every` records.
    fn loaded(dir: &Path, seed: u64, events: u64, every: u64) {
        let options = JournalOptions {
            segment_size_bytes: 1 << 20,
            checkpoint_every_records: every,
            ..JournalOptions::default()
        };
        let handle =
            JournalHandle::new(Ledger::create(dir, &options).unwrap(), FailurePolicy::Halt);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = LoadConfig {
            events: Some(events),
            producers: 2,
            seed,
            ..LoadConfig::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        runtime.block_on(load::run(&handle, &config, stop)).unwrap();
        runtime.block_on(handle.close()).unwrap();
    }

    fn source(dir: &Path, as_of: Option<AsOf>) -> Source {
        Source {
            dir: dir.to_path_buf(),
            as_of,
            at_event_time: None,
            json: false,
        }
    }

    /// The export of `source`'s state into `file`, by the engine or in two passes.
    fn exported(source: &Source, file: &Path, replay: bool) -> Written {
        let state = source.load().unwrap();
        let reader = JournalReader::open(&source.dir).unwrap();
        write_file(&source.dir, &reader, &state, file, replay).unwrap()
    }

    /// Every row of every table, in key order, as text; the position without its wall-clock
    /// `updated_at`.
    fn rows_of(file: &Path) -> Vec<String> {
        let db = rusqlite::Connection::open(file).unwrap();
        let mut all = vec![];
        let position = format!(
            "SELECT journal_id, last_seq, last_recorded_at_ns, schema_version FROM {POSITION_TABLE}"
        );
        let tables = TABLES
            .iter()
            .map(|t| format!("SELECT * FROM {} ORDER BY 1, 2", t.name));
        for query in tables.chain([position]) {
            let mut statement = db.prepare(&query).unwrap();
            let columns = statement.column_count();
            let mut rows = statement.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let cells: Vec<String> = (0..columns)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect();
                all.push(format!("{query}: {}", cells.join(" | ")));
            }
        }
        all
    }

    /// The two passes write exactly the engine's rows: from a checkpoint alone, from a
    /// checkpoint and the records after it, and from a replay without one.
    #[test]
    fn two_passes_write_the_rows_of_the_engine() {
        let temp = tempfile::tempdir().unwrap();
        for seed in [3, 4] {
            let dir = temp.path().join(format!("j{seed}"));
            loaded(&dir, seed, 5_000, 1_000);
            for as_of in [None, Some(AsOf::Seq(4_550)), Some(AsOf::Seq(1_700))] {
                let source = source(&dir, as_of);
                let (two, engine) = (temp.path().join("two"), temp.path().join("engine"));
                let written = exported(&source, &two, false);
                exported(&source, &engine, true);
                let rows = rows_of(&two);
                assert_eq!(rows, rows_of(&engine), "seed {seed}, --as-of {as_of:?}");
                let tables = |name: &str| rows.iter().filter(|r| r.contains(name)).count();
                for table in ["FROM trades", "FROM signals", "FROM account_snapshots"] {
                    assert!(tables(table) > 100, "{table}: {}", tables(table));
                }
                assert!(tables("FROM daily_performance") > 1);
                let head = match as_of {
                    Some(AsOf::Seq(seq)) => seq,
                    _ => 5_000,
                };
                assert_eq!(written.last_seq, head);
                let file = temp.path().join("exported");
                let written = export(&source, &file).unwrap();
                assert!(!written.replayed, "no event is refused: two passes");
                assert_eq!(rows_of(&file), rows);
                for file in [two, engine, file] {
                    std::fs::remove_file(file).unwrap();
                }
            }
        }
    }

    /// A journal holding an event the rules refuse (a second close of a trade, appended below
    /// the ledger) is exported by the engine, which skips it: the trade's `updated_at` is
    /// that of its first close. The two passes would take the refused record's time.
    #[test]
    fn a_journal_with_refused_events_is_replayed_by_the_engine() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("j");
        let t = Timestamp::from_nanos(1_700_000_000_000_000_000);
        let ledger = Ledger::create(&dir, &JournalOptions::default()).unwrap();
        (ledger.append(&[sample::signal(1, t), sample::trade_opened(1, t)])).unwrap();
        let closed = ledger.append(&[sample::trade_closed(1, t, "2")]).unwrap();
        drop(ledger);
        let journal = Journal::open(&dir, &OpenMode::default()).unwrap();
        let refused = journal.write(&[sample::trade_closed(1, t, "3")]).unwrap();
        assert!(refused.recorded_at > closed.recorded_at);
        drop(journal);
        let file = temp.path().join("out.sqlite");
        let written = export(&source(&dir, None), &file).unwrap();
        assert!(written.replayed);
        assert_eq!(written.last_seq, 4);
        let updated = |file: &Path| -> i64 {
            let db = rusqlite::Connection::open(file).unwrap();
            let sql = "SELECT updated_at_ns FROM trades WHERE ticket = 1";
            db.query_row(sql, [], |r| r.get(0)).unwrap()
        };
        assert_eq!(updated(&file), closed.recorded_at.nanos());
        let two = temp.path().join("two.sqlite");
        exported(&source(&dir, None), &two, false);
        assert_eq!(updated(&two), refused.recorded_at.nanos());
    }
}
