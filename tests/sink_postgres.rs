//! `tradeledger sink postgres` against a real, throwaway PostgreSQL cluster, and
//! `export --sqlite`: the SQL of `docs/SQL.md` §5 gives the CLI's answers, exactly once,
//! whatever is killed or restarted.

mod cli_support;
mod pg_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::*;
use pg_support::PostgresServer;
use postgres::Client;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tradeledger::model::event::Timestamp;

const DEADLINE: Duration = Duration::from_secs(120);

/// A cluster in a temporary folder the `postgres` user can enter.
fn server() -> (tempfile::TempDir, PostgresServer) {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod temp dir");
    let server = PostgresServer::start(&temp.path().join("pg")).expect("start PostgreSQL");
    (temp, server)
}

fn connect(server: &PostgresServer, db: &str) -> Client {
    server.connect_to(db).expect("connect")
}

/// `sink postgres DIR --url URL --once`, which must succeed.
fn sink_once(dir: &str, url: &str) -> Value {
    let out = ok(&["sink", "postgres", dir, "--url", url, "--once", "--json"]);
    serde_json::from_str(out.lines().last().expect("a status line")).expect("status JSON")
}

/// The sink following the journal, its log (warnings) going to `log`.
fn spawn_sink(dir: &str, url: &str, extra: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("create the sink's log");
    Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["sink", "postgres", dir, "--url", url, "--poll-ms", "2"])
        .args(["--retry-ms", "50"])
        .args(extra)
        .env_remove("TRADELEDGER_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the sink")
}

/// The position row, or 0 before the tables exist.
fn position(client: &mut Client) -> u64 {
    let rows = client.query("SELECT last_seq FROM tradeledger_position", &[]);
    let last: i64 = match rows {
        Ok(rows) => rows.first().map_or(0, |r| r.get(0)),
        Err(_) => 0,
    };
    last as u64
}

fn head(dir: &str) -> u64 {
    json(&["status", dir])["head_seq"]
        .as_u64()
        .expect("head_seq")
}

/// Waits until `condition` holds, polling; panics after [`DEADLINE`].
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// For [`start_writer`]: more events than any step waits for. The step ends the writer with
/// [`interrupt_writer`] once the sink is where it wants it, so that no count of events can run
/// out first on a slow machine.
const UNTIL_INTERRUPTED: u64 = 100_000_000;

/// Ends the writer as an operator would (SIGINT): `load` closes the journal and exits with 130.
fn interrupt_writer(mut writer: Child) {
    let pid = writer.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status();
    assert!(sent.expect("kill -INT").success());
    let status = wait_with_deadline(&mut writer, "the writer", DEADLINE);
    assert_eq!(
        status.code(),
        Some(130),
        "the writer, interrupted: {status}"
    );
}

/// `load DIR`: `events` more events at 3,000 a second, appended while the sink follows.
fn start_writer(dir: &str, events: u64, seed: u64) -> Child {
    let (events, seed) = (events.to_string(), seed.to_string());
    Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args([
            "load", dir, "--events", &events, "--rate", "3000", "--seed", &seed,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writer")
}

fn still_running(child: &mut Child) -> bool {
    child.try_wait().expect("look at the writer").is_none()
}

fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL the sink");
    child.wait().expect("reap the sink");
}

// ---- SQL → the CLI's JSON objects -------------------------------------------------------

fn time_of(ns: Option<i64>) -> Value {
    ns.map_or(Value::Null, |ns| {
        json!(Timestamp::from_nanos(ns).to_string())
    })
}

const TRADE_SQL: &str = "SELECT ticket, symbol, trade_type, status, volume::text, \
     entry_price::text, entry_time_ns, exit_price::text, exit_time_ns, profit::text, pips::text, \
     commission::text, swap::text, duration_seconds, stop_loss::text, take_profit::text, \
     magic_number, account_number, strategy_name, signal_id, signal_confidence, signal_reason, \
     ml_enhanced, ml_confidence, ai_approved, ai_reasoning, comment, close_reason FROM trades";

fn trade_objects(client: &mut Client, rest: &str) -> Vec<Value> {
    let rows = client
        .query(&format!("{TRADE_SQL} {rest}"), &[])
        .expect("select trades");
    rows.iter()
        .map(|r| {
            json!({
                "ticket": r.get::<_, i64>(0), "symbol": r.get::<_, String>(1),
                "trade_type": r.get::<_, String>(2), "status": r.get::<_, String>(3),
                "volume": r.get::<_, String>(4), "entry_price": r.get::<_, String>(5),
                "entry_time": time_of(r.get(6)), "exit_price": r.get::<_, Option<String>>(7),
                "exit_time": time_of(r.get(8)), "profit": r.get::<_, Option<String>>(9),
                "pips": r.get::<_, Option<String>>(10), "commission": r.get::<_, String>(11),
                "swap": r.get::<_, String>(12), "duration_seconds": r.get::<_, Option<i64>>(13),
                "stop_loss": r.get::<_, Option<String>>(14),
                "take_profit": r.get::<_, Option<String>>(15),
                "magic_number": r.get::<_, i64>(16),
                "account_number": r.get::<_, Option<i64>>(17),
                "strategy_name": r.get::<_, Option<String>>(18),
                "signal_id": r.get::<_, Option<i64>>(19),
                "signal_confidence": r.get::<_, Option<f64>>(20),
                "signal_reason": r.get::<_, Option<String>>(21),
                "ml_enhanced": r.get::<_, bool>(22), "ml_confidence": r.get::<_, Option<f64>>(23),
                "ai_approved": r.get::<_, bool>(24),
                "ai_reasoning": r.get::<_, Option<String>>(25),
                "comment": r.get::<_, Option<String>>(26),
                "close_reason": r.get::<_, Option<String>>(27),
            })
        })
        .collect()
}

fn signal_objects(client: &mut Client) -> Vec<Value> {
    let rows = client
        .query(
            "SELECT id, symbol, signal_type, timestamp_ns, price::text, stop_loss::text, \
             take_profit::text, confidence, reason, strategy_name, timeframe, ml_enhanced, \
             ml_confidence, ml_agreed, executed, execution_reason, trade_id FROM signals \
             ORDER BY timestamp_ns DESC, seq DESC",
            &[],
        )
        .expect("select signals");
    rows.iter()
        .map(|r| {
            json!({
                "signal_id": r.get::<_, i64>(0), "symbol": r.get::<_, String>(1),
                "signal_type": r.get::<_, String>(2), "timestamp": time_of(r.get(3)),
                "price": r.get::<_, String>(4), "stop_loss": r.get::<_, Option<String>>(5),
                "take_profit": r.get::<_, Option<String>>(6), "confidence": r.get::<_, f64>(7),
                "reason": r.get::<_, Option<String>>(8),
                "strategy_name": r.get::<_, String>(9), "timeframe": r.get::<_, String>(10),
                "ml_enhanced": r.get::<_, bool>(11), "ml_confidence": r.get::<_, Option<f64>>(12),
                "ml_agreed": r.get::<_, Option<bool>>(13), "executed": r.get::<_, bool>(14),
                "execution_reason": r.get::<_, Option<String>>(15),
                "ticket": r.get::<_, Option<i64>>(16),
            })
        })
        .collect()
}

fn snapshot_objects(client: &mut Client, account: i64, latest: bool) -> Vec<Value> {
    let order = match latest {
        true => "ORDER BY snapshot_time_ns DESC, id DESC LIMIT 1",
        false => "ORDER BY snapshot_time_ns, id",
    };
    let sql = format!(
        "SELECT account_number, server, broker, balance::text, equity::text, profit::text, \
         margin::text, margin_free::text, margin_level::text, open_positions, \
         total_volume::text, snapshot_time_ns FROM account_snapshots \
         WHERE account_number = $1 {order}"
    );
    let rows = client.query(&sql, &[&account]).expect("select snapshots");
    rows.iter()
        .map(|r| {
            json!({
                "account_number": r.get::<_, i64>(0), "server": r.get::<_, String>(1),
                "broker": r.get::<_, String>(2), "balance": r.get::<_, String>(3),
                "equity": r.get::<_, String>(4), "profit": r.get::<_, Option<String>>(5),
                "margin": r.get::<_, Option<String>>(6),
                "margin_free": r.get::<_, Option<String>>(7),
                "margin_level": r.get::<_, Option<String>>(8),
                "open_positions": r.get::<_, i64>(9), "total_volume": r.get::<_, String>(10),
                "snapshot_time": time_of(r.get(11)),
            })
        })
        .collect()
}

fn day_objects(client: &mut Client, account: Option<i64>) -> Vec<Value> {
    let rows = client
        .query(
            "SELECT date::text, account_number, total_trades, winning_trades, losing_trades, \
             breakeven_trades, gross_profit::text, gross_loss::text, net_profit::text, \
             win_rate::text, profit_factor::text, average_win::text, average_loss::text, \
             largest_win::text, largest_loss::text, end_balance::text, end_equity::text, \
             total_commission::text, total_swap::text, net_result::text \
             FROM daily_performance d \
             WHERE d.account_number IS NOT DISTINCT FROM $1 ORDER BY d.date",
            &[&account],
        )
        .expect("select daily_performance");
    let text = |r: &postgres::Row, i| r.get::<_, Option<String>>(i);
    rows.iter()
        .map(|r| {
            json!({
                "date": r.get::<_, String>(0), "account_number": r.get::<_, Option<i64>>(1),
                "total_trades": r.get::<_, i64>(2), "winning_trades": r.get::<_, i64>(3),
                "losing_trades": r.get::<_, i64>(4), "breakeven_trades": r.get::<_, i64>(5),
                "gross_profit": text(r, 6), "gross_loss": text(r, 7), "net_profit": text(r, 8),
                "win_rate": text(r, 9), "profit_factor": text(r, 10), "average_win": text(r, 11),
                "average_loss": text(r, 12), "largest_win": text(r, 13),
                "largest_loss": text(r, 14), "end_balance": text(r, 15),
                "end_equity": text(r, 16), "total_commission": text(r, 17),
                "total_swap": text(r, 18), "net_result": text(r, 19),
            })
        })
        .collect()
}

/// `stats` in SQL (`docs/SQL.md` §5), ratios carried to 30 decimal places.
fn stats_object(client: &mut Client) -> Value {
    let r = client
        .query_one(
            "WITH c AS (SELECT profit FROM trades WHERE status = 'CLOSED'), \
             t AS (SELECT count(*) AS n, count(*) FILTER (WHERE profit > 0) AS w, \
               count(*) FILTER (WHERE profit < 0) AS l, count(*) FILTER (WHERE profit = 0) AS b, \
               coalesce(sum(profit), 0) AS total, \
               coalesce(sum(profit) FILTER (WHERE profit > 0), 0) AS gp, \
               coalesce(-sum(profit) FILTER (WHERE profit < 0), 0) AS gl, \
               max(profit) FILTER (WHERE profit > 0) AS lw, \
               min(profit) FILTER (WHERE profit < 0) AS ll FROM c) \
             SELECT n, w, l, b, total::text, gp::text, gl::text, lw::text, ll::text, \
               (CASE WHEN n = 0 THEN 0 ELSE round(w * 100.0, 30) / n END)::text, \
               (CASE WHEN n = 0 THEN 0 ELSE round(total, 30) / n END)::text, \
               (CASE WHEN l = 0 THEN NULL ELSE round(gp, 30) / gl END)::text, \
               (CASE WHEN w = 0 THEN NULL ELSE round(gp, 30) / w END)::text, \
               (CASE WHEN l = 0 THEN NULL ELSE round(gl, 30) / l END)::text FROM t",
            &[],
        )
        .expect("stats in SQL");
    let text = |i| r.get::<_, Option<String>>(i);
    let order = order_figures(client);
    json!({
        "total_trades": r.get::<_, i64>(0), "winning_trades": r.get::<_, i64>(1),
        "losing_trades": r.get::<_, i64>(2), "breakeven_trades": r.get::<_, i64>(3),
        "total_profit": text(4), "gross_profit": text(5), "gross_loss": text(6),
        "largest_win": text(7), "largest_loss": text(8), "win_rate": text(9),
        "average_profit": text(10), "profit_factor": text(11), "average_win": text(12),
        "average_loss": text(13), "total_commission": order.0, "total_swap": order.1,
        "net_result": order.2, "max_consecutive_wins": order.3,
        "max_consecutive_losses": order.4, "max_drawdown": order.5,
    })
}

/// The costs, and the figures that depend on the order of the closed trades (runs of wins and
/// losses, the largest fall of cumulative profit from 0 or a later high), in SQL: window
/// functions over (exit_time_ns, ticket).
fn order_figures(client: &mut Client) -> (String, String, String, i64, i64, String) {
    let r = client
        .query_one(
            "WITH o AS (SELECT profit, sign(profit) AS s, \
               sum(profit) OVER (ORDER BY exit_time_ns, ticket) AS cum, \
               row_number() OVER (ORDER BY exit_time_ns, ticket) AS i \
               FROM trades WHERE status = 'CLOSED'), \
             p AS (SELECT cum, greatest(0, max(cum) OVER (ORDER BY i)) AS peak FROM o), \
             g AS (SELECT s, count(*) AS n FROM \
               (SELECT s, i - row_number() OVER (PARTITION BY s ORDER BY i) AS run FROM o) x \
               GROUP BY s, run) \
             SELECT (SELECT coalesce(sum(commission), 0)::text FROM trades WHERE status = 'CLOSED'), \
               (SELECT coalesce(sum(swap), 0)::text FROM trades WHERE status = 'CLOSED'), \
               (SELECT coalesce(sum(profit + commission + swap), 0)::text FROM trades \
                 WHERE status = 'CLOSED'), \
               (SELECT coalesce(max(n), 0) FROM g WHERE s > 0), \
               (SELECT coalesce(max(n), 0) FROM g WHERE s < 0), \
               (SELECT greatest(0, coalesce(max(peak - cum), 0))::text FROM p)",
            &[],
        )
        .expect("order figures in SQL");
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
}

/// Where two JSON values first differ, numbers compared as numbers (a float printed two ways
/// is one value); `None` when they are the same.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    let differ = || Some(format!("at {at}: SQL {a}, CLI {b}"));
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (v, w) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                match (x.contains_key(k), y.contains_key(k)) {
                    (true, true) => difference(v, w, &format!("{at}.{k}")),
                    _ => Some(format!("at {at}: key {k} only on one side")),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| difference(v, w, &format!("{at}[{i}]"))),
        (Value::Array(x), Value::Array(y)) => Some(format!(
            "at {at}: {} rows in SQL, {} from the CLI",
            x.len(),
            y.len()
        )),
        _ if a == b => None,
        _ => differ(),
    }
}

fn assert_same(what: &str, sql: &Value, cli: &Value) {
    if let Some(difference) = difference(sql, cli, what) {
        panic!("SQL and CLI differ {difference}");
    }
}

fn ratio(value: &Value) -> Option<Decimal> {
    value.as_str().map(dec)
}

/// `stats`: counts and sums exactly, ratios to 20 significant digits (§1 "derived ratio").
fn assert_stats(sql: &Value, cli: &Value) {
    // Compared as numbers: ratios carried to different precision, and sums whose text may
    // carry another scale ("0" and "0.00").
    let ratios = [
        "win_rate",
        "average_profit",
        "profit_factor",
        "average_win",
        "average_loss",
        "total_commission",
        "total_swap",
        "net_result",
        "max_drawdown",
    ];
    for (key, cli_value) in cli.as_object().expect("stats object") {
        let sql_value = &sql[key];
        if !ratios.contains(&key.as_str()) {
            assert_same(&format!("stats.{key}"), sql_value, cli_value);
            continue;
        }
        match (ratio(sql_value), ratio(cli_value)) {
            (Some(s), Some(c)) => {
                let tolerance = c.abs().max(Decimal::ONE) * dec("0.00000000000000000001");
                assert!((s - c).abs() <= tolerance, "stats.{key}: SQL {s}, CLI {c}");
            }
            (s, c) => assert_eq!(s, c, "stats.{key}"),
        }
    }
}

/// Every table equals the CLI's answer at `--as-of seq`: the tables hold exactly that prefix.
fn assert_tables_are_the_cli(client: &mut Client, dir: &str, seq: u64) {
    let at = seq.to_string();
    let cli = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend([dir, "--as-of", &at]);
        json(&args)
    };
    assert_stats(&stats_object(client), &cli(&["stats"]));
    let open = trade_objects(
        client,
        "WHERE status = 'OPEN' ORDER BY entry_time_ns, ticket",
    );
    assert_same("open trades", &json!(open), &cli(&["trades", "--open"]));
    let all = trade_objects(client, "ORDER BY entry_time_ns, ticket");
    assert_same("trades", &json!(all), &cli(&["trades"]));
    let signals = signal_objects(client);
    let cli_signals = cli(&["signals", "--limit", "100000000"]);
    assert_same("signals", &json!(signals), &cli_signals);
    assert_same("daily", &json!(day_objects(client, None)), &cli(&["daily"]));
    // The day's cost columns are the sums over the trades closed that UTC day, and
    // net_result = net_profit + commission + swap.
    let differing: i64 = client
        .query_one(
            "SELECT count(*) FROM daily_performance d JOIN LATERAL ( \
               SELECT coalesce(sum(t.commission), 0) AS commission, \
                 coalesce(sum(t.swap), 0) AS swap FROM trades t WHERE t.status = 'CLOSED' \
                 AND (t.exit_time AT TIME ZONE 'UTC')::date = d.date \
                 AND (d.account_number IS NULL OR t.account_number = d.account_number)) c ON true \
             WHERE d.total_commission <> c.commission OR d.total_swap <> c.swap \
               OR d.net_result <> d.net_profit + c.commission + c.swap",
            &[],
        )
        .expect("check the daily cost columns")
        .get(0);
    assert_eq!(
        differing, 0,
        "days whose cost columns differ from their trades"
    );
    let accounts: Vec<i64> = client
        .query(
            "SELECT DISTINCT account_number FROM account_snapshots UNION \
             SELECT DISTINCT account_number FROM trades WHERE account_number IS NOT NULL",
            &[],
        )
        .expect("accounts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for account in accounts {
        let n = account.to_string();
        let days = day_objects(client, Some(account));
        assert_same(
            "daily --account",
            &json!(days),
            &cli(&["daily", "--account", &n]),
        );
        let latest = snapshot_objects(client, account, true);
        let cli_latest = cli(&["snapshots", "--account", &n, "--latest"]);
        assert_same(
            "latest snapshot",
            latest.first().unwrap_or(&Value::Null),
            &cli_latest,
        );
        let snapshots = snapshot_objects(client, account, false);
        let cli_snapshots = cli(&["snapshots", "--account", &n]);
        assert_same("snapshots", &json!(snapshots), &cli_snapshots);
    }
}

/// Every row of every table, as text, in key order: two databases hold the same tables.
fn dump(client: &mut Client) -> Vec<String> {
    let mut all = Vec::new();
    for (table, key) in [
        ("trades", "ticket"),
        ("signals", "id"),
        ("account_snapshots", "id"),
        ("daily_performance", "date, account_number"),
    ] {
        let sql = format!("SELECT t::text FROM {table} t ORDER BY {key}");
        let rows = client.query(&sql, &[]).expect("dump");
        all.push(format!("{table}: {} rows", rows.len()));
        all.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    all
}

fn demo_journal(temp: &Path) -> String {
    let dir = temp.join("demo");
    ok(&["demo", path(&dir), "--bars", "600"]);
    path(&dir).to_string()
}

fn worked_example(temp: &Path) -> String {
    let dir = temp.join("worked");
    ok(&["import", path(&dir), path(&fixture("worked-example.jsonl"))]);
    path(&dir).to_string()
}

#[test]
fn sql_gives_the_cli_answers_on_the_demo_and_the_worked_example() {
    let (temp, server) = server();
    for (name, dir) in [
        ("worked", worked_example(temp.path())),
        ("demo", demo_journal(temp.path())),
    ] {
        let url = server.create_database(name).expect("create database");
        let status = sink_once(&dir, &url);
        let head = head(&dir);
        assert_eq!(status["position"], head, "{status}");
        assert_eq!(status["events"], head, "{status}");
        let mut client = connect(&server, name);
        assert_eq!(position(&mut client), head);
        assert_tables_are_the_cli(&mut client, &dir, head);
        // Again: nothing new, nothing written twice.
        let again = sink_once(&dir, &url);
        assert_eq!(again["events"], 0, "{again}");
        assert_tables_are_the_cli(&mut client, &dir, head);
    }
    // The worked example's hand-computed figures, read in SQL.
    let mut client = connect(&server, "worked");
    let row = client
        .query_one(
            "SELECT sum(net_profit)::text, count(*) FROM daily_performance \
             WHERE account_number IS NULL",
            &[],
        )
        .expect("daily sum");
    assert_eq!(row.get::<_, String>(0), "14.10");
    assert_eq!(row.get::<_, i64>(1), 3);
    let row = client
        .query_one(
            "SELECT exit_time_ns - entry_time_ns, exit_time::text FROM trades \
             WHERE ticket = 1003",
            &[],
        )
        .expect("ticket 1003");
    // 20:00:00 → 23:59:59.5: the nanoseconds are exact, timestamptz is in UTC.
    assert_eq!(row.get::<_, i64>(0), 14_399_500_000_000);
    assert_eq!(row.get::<_, String>(1), "2024-01-02 23:59:59.5+00");
}

/// A database that cannot be reached is an I/O failure (exit code 3), not bad input, and
/// the journal is left as it was.
#[test]
fn an_unreachable_database_is_an_io_error() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = worked_example(temp.path());
    let before = journal_files(Path::new(&dir));
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("host=127.0.0.1 port={port} user=nobody dbname=none connect_timeout=5");
    let err = fails(&["sink", "postgres", &dir, "--url", &url, "--once"], 3);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(journal_files(Path::new(&dir)) == before);
}

#[test]
fn foreign_tables_and_other_journals_are_refused_and_left_alone() {
    let (temp, server) = server();
    let dir = worked_example(temp.path());
    let url = server.create_database("alien").expect("create database");
    let mut client = connect(&server, "alien");
    client
        .batch_execute("CREATE TABLE trades (id integer); INSERT INTO trades VALUES (7)")
        .expect("a table of the old system");
    let err = fails(&["sink", "postgres", &dir, "--url", &url, "--once"], 1);
    assert!(err.contains("table trades exists"), "{err}");
    let kept: i64 = client
        .query_one("SELECT count(*) FROM trades", &[])
        .expect("count")
        .get(0);
    assert_eq!(kept, 1);
    // A database following one journal refuses another.
    let url = server.create_database("other").expect("create database");
    sink_once(&dir, &url);
    // ... and a journal whose record at the position is not the one the tables end with (a
    // journal that lost its tail and was written again).
    let mut other = connect(&server, "other");
    let shift = "UPDATE tradeledger_position SET last_recorded_at_ns = last_recorded_at_ns + $1";
    other.execute(shift, &[&1i64]).expect("shift");
    let err = fails(&["sink", "postgres", &dir, "--url", &url, "--once"], 1);
    assert!(err.contains("is not the one the tables end with"), "{err}");
    other.execute(shift, &[&-1i64]).expect("shift back");
    sink_once(&dir, &url);
    let other = demo_journal(temp.path());
    let err = fails(&["sink", "postgres", &other, "--url", &url, "--once"], 1);
    assert!(err.contains("follow journal"), "{err}");
    // An id beyond bigint stops the sink, naming the records and the column; nothing is
    // written.
    let huge = temp.path().join("huge");
    let lines = [
        r#"{"event":"trade_opened","ticket":18446744073709551615,"symbol":"EURUSD","trade_type":"BUY","volume":"0.1","entry_price":"1.1","entry_time":"2024-01-02T08:00:00Z"}"#,
    ];
    let file = write_file(temp.path(), "huge.jsonl", &lines);
    ok(&["import", path(&huge), path(&file)]);
    let url = server.create_database("huge").expect("create database");
    let err = fails(
        &["sink", "postgres", path(&huge), "--url", &url, "--once"],
        1,
    );
    let expected = "records 1..=1: trades.id 18446744073709551615 does not fit";
    assert!(err.contains(expected), "{err}");
    assert_eq!(position(&mut connect(&server, "huge")), 0);
}

/// Status lines: the catch-up's line has no lag while following; once records arrive while
/// it follows, the whole-run figures count them (p50 ≤ p99 ≤ max), and each window's figures
/// cover only the records since the line before.
#[test]
fn status_lines_report_the_lag_while_following() {
    use std::io::BufRead;
    let (temp, server) = server();
    let dir = temp.path().join("lagged");
    let dir = path(&dir).to_string();
    ok(&["load", &dir, "--events", "2000", "--seed", "3"]);
    let url = server.create_database("lagged").expect("create database");
    let mut sink = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(["sink", "postgres", &dir, "--url", &url, "--json"])
        .args(["--poll-ms", "2", "--status-ms", "50"])
        .env_remove("TRADELEDGER_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sink");
    let stdout = std::io::BufReader::new(sink.stdout.take().expect("stdout"));
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = received.recv_timeout(DEADLINE).expect("a status line");
        serde_json::from_str(&line).expect("status JSON")
    };
    let caught_up = next();
    assert_eq!(caught_up["position"], 2000, "{caught_up}");
    assert_eq!(caught_up["tail_lag_p99_ms"], Value::Null, "{caught_up}");

    let mut writer = start_writer(&dir, 600, 4);
    let status = wait_with_deadline(&mut writer, "the writer", DEADLINE);
    assert!(status.success(), "the writer failed: {status}");
    let head = head(&dir);
    let mut windows = 0;
    let last = loop {
        let status = next();
        windows += u64::from(!status["lag_p99_ms"].is_null());
        if status["position"].as_u64() == Some(head) {
            break status;
        }
    };
    kill9(sink);
    let figure = |name: &str| {
        last[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {last}"))
    };
    let (p50, p99, max) = (
        figure("tail_lag_p50_ms"),
        figure("tail_lag_p99_ms"),
        figure("tail_lag_max_ms"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{last}");
    assert!(windows >= 1, "no window wrote records: {last}");
    // A window after the catch-up holds some of the records counted since the start.
    assert!(figure("lag_max_ms") <= max, "{last}");
}

#[test]
fn killed_sink_and_restarted_server_leave_exact_tables() {
    let (temp, mut server) = server();
    let dir = temp.path().join("live");
    let dir = path(&dir).to_string();
    ok(&["load", &dir, "--events", "40000", "--seed", "7"]);
    let first_head = head(&dir);
    let url = server.create_database("crashy").expect("create database");
    let mut client = connect(&server, "crashy");
    let log = temp.path().join("sink.log");

    // 1. SIGKILL in the middle of catch-up (small transactions, so that many commit).
    let sink = spawn_sink(&dir, &url, &["--batch-events", "300"], &log);
    wait_for("a first catch-up commit", || position(&mut client) > 0);
    kill9(sink);
    let at = position(&mut client);
    assert!(at < first_head, "the catch-up ended before the kill");
    assert_tables_are_the_cli(&mut client, &dir, at);

    // 2. SIGKILL while tailing a journal another process appends to.
    let mut writer = start_writer(&dir, UNTIL_INTERRUPTED, 8);
    let sink = spawn_sink(&dir, &url, &[], &log);
    wait_for("the sink tailing", || {
        position(&mut client) > first_head + 500
    });
    assert!(
        still_running(&mut writer),
        "the writer ended before the kill"
    );
    kill9(sink);
    let at = position(&mut client);
    assert_tables_are_the_cli(&mut client, &dir, at);
    interrupt_writer(writer);

    // 3. PostgreSQL restarted in the middle of the stream.
    let mut writer = start_writer(&dir, UNTIL_INTERRUPTED, 9);
    let sink = spawn_sink(&dir, &url, &[], &log);
    let before = head(&dir);
    wait_for("the sink moving on", || {
        position(&mut client) > before + 500
    });
    assert!(
        still_running(&mut writer),
        "the writer ended before the restart"
    );
    drop(client);
    server.restart().expect("restart PostgreSQL");
    // The writer goes on while PostgreSQL is away and back.
    let restarted_at = head(&dir);
    wait_for("the writer going on after the restart", || {
        head(&dir) > restarted_at + 1000
    });
    interrupt_writer(writer);
    let final_head = head(&dir);
    let mut client = connect(&server, "crashy");
    wait_for("the sink at the head", || {
        position(&mut client) == final_head
    });
    kill9(sink);
    let logged = std::fs::read_to_string(&log).expect("the sink's log");
    assert!(
        logged.contains("lost the database"),
        "no reconnection: {logged}"
    );
    assert_tables_are_the_cli(&mut client, &dir, final_head);

    // The same tables as a sink that never stopped.
    let clean_url = server.create_database("clean").expect("create database");
    sink_once(&dir, &clean_url);
    let mut clean = connect(&server, "clean");
    assert_eq!(dump(&mut client), dump(&mut clean));

    // 4. Tables written under another layout version are rebuilt by replay, and swapped in.
    client
        .batch_execute(
            "UPDATE tradeledger_position SET schema_version = 0; \
             UPDATE trades SET profit = profit + 1 WHERE status = 'CLOSED'",
        )
        .expect("an older layout");
    sink_once(&dir, &url);
    let version: i32 = client
        .query_one("SELECT schema_version FROM tradeledger_position", &[])
        .expect("version")
        .get(0);
    assert_eq!(version, 2, "the current layout (docs/SQL.md §4)");
    assert_eq!(dump(&mut client), dump(&mut clean));
}

/// Every row of `table` as JSON values, in both databases: the PostgreSQL columns' types say
/// how to read each one; a `timestamptz` is compared through its `*_ns` twin, and the
/// SQLite text of a time must be that time printed as the CLI prints it.
fn table_in_both(
    pg: &mut Client,
    lite: &rusqlite::Connection,
    table: &str,
    key: &str,
) -> (Vec<Value>, Vec<Value>) {
    let columns: Vec<(String, String)> = pg
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .expect("columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let list: Vec<String> = columns.iter().map(|(c, _)| format!("\"{c}\"")).collect();
    let order = format!("ORDER BY {key}");
    let pg_sql = columns
        .iter()
        .map(|(c, t)| match t.as_str() {
            "numeric" | "date" | "timestamp with time zone" => format!("\"{c}\"::text"),
            _ => format!("\"{c}\""),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let pg_rows = pg
        .query(&format!("SELECT {pg_sql} FROM {table} {order}"), &[])
        .expect("select in PostgreSQL");
    let mut in_pg = vec![];
    for row in &pg_rows {
        let mut object = serde_json::Map::new();
        for (i, (c, t)) in columns.iter().enumerate() {
            let value = match t.as_str() {
                "bigint" => json!(row.get::<_, Option<i64>>(i)),
                "double precision" => json!(row.get::<_, Option<f64>>(i)),
                "boolean" => json!(row.get::<_, Option<bool>>(i)),
                "timestamp with time zone" => continue,
                _ => json!(row.get::<_, Option<String>>(i)),
            };
            object.insert(c.clone(), value);
        }
        in_pg.push(Value::Object(object));
    }
    let mut statement = lite
        .prepare(&format!("SELECT {} FROM {table} {order}", list.join(", ")))
        .expect("select in SQLite");
    let mut rows = statement.query([]).expect("query SQLite");
    let mut in_lite = vec![];
    while let Some(row) = rows.next().expect("SQLite row") {
        let mut object = serde_json::Map::new();
        for (i, (c, t)) in columns.iter().enumerate() {
            let value = match t.as_str() {
                "bigint" => json!(row.get::<_, Option<i64>>(i).unwrap()),
                "double precision" => json!(row.get::<_, Option<f64>>(i).unwrap()),
                "boolean" => json!(row.get::<_, Option<i64>>(i).unwrap().map(|b| b != 0)),
                "timestamp with time zone" => {
                    let ns: Option<i64> = row.get(format!("{c}_ns").as_str()).unwrap();
                    let text: Option<String> = row.get(i).unwrap();
                    assert_eq!(Some(json!(text)), Some(time_of(ns)), "{table}.{c}");
                    continue;
                }
                _ => json!(row.get::<_, Option<String>>(i).unwrap()),
            };
            object.insert(c.clone(), value);
        }
        in_lite.push(Value::Object(object));
    }
    (in_pg, in_lite)
}

#[test]
fn export_sqlite_holds_the_rows_of_the_postgres_sink() {
    let (temp, server) = server();
    let dir = demo_journal(temp.path());
    let url = server.create_database("demo").expect("create database");
    sink_once(&dir, &url);
    let file = temp.path().join("demo.sqlite");
    json(&["export", &dir, "--sqlite", path(&file)]);
    let mut pg = connect(&server, "demo");
    let lite = rusqlite::Connection::open(&file).expect("open the export");
    for (table, key) in [
        ("trades", "ticket"),
        ("signals", "id"),
        ("account_snapshots", "id"),
        ("daily_performance", "date, account_number NULLS FIRST"),
    ] {
        let (in_pg, in_lite) = table_in_both(&mut pg, &lite, table, key);
        assert!(!in_pg.is_empty(), "{table} is empty");
        let what = format!("{table} (SQL: PostgreSQL, CLI: SQLite)");
        assert_same(&what, &json!(in_pg), &json!(in_lite));
    }
    let position = "SELECT journal_id, last_seq FROM tradeledger_position";
    let row = pg.query_one(position, &[]).expect("position");
    let in_pg: (String, i64) = (row.get(0), row.get(1));
    let in_lite: (String, i64) = lite
        .query_row(position, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("position");
    assert_eq!(in_pg, in_lite);
}

#[test]
fn export_sqlite_writes_the_same_tables() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = worked_example(temp.path());
    let file = temp.path().join("ledger.sqlite");
    let out = json(&["export", &dir, "--sqlite", path(&file)]);
    assert_eq!(out["last_seq"], 24, "{out}");
    assert_eq!(out["rows"]["trades"], 7, "{out}");
    let db = rusqlite::Connection::open(&file).expect("open the export");
    let cli_trades = json(&["trades", &dir]);
    let mut statement = db
        .prepare(
            "SELECT ticket, status, profit, entry_time FROM trades ORDER BY entry_time_ns, ticket",
        )
        .expect("select");
    let rows: Vec<Value> = statement
        .query_map([], |r| {
            Ok(json!({
                "ticket": r.get::<_, i64>(0)?, "status": r.get::<_, String>(1)?,
                "profit": r.get::<_, Option<String>>(2)?, "entry_time": r.get::<_, String>(3)?,
            }))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let cli_rows: Vec<Value> = cli_trades
        .as_array()
        .expect("trades")
        .iter()
        .map(|t| {
            json!({"ticket": t["ticket"], "status": t["status"], "profit": t["profit"],
                   "entry_time": t["entry_time"]})
        })
        .collect();
    assert_same("sqlite trades", &json!(rows), &json!(cli_rows));
    let (net, days): (String, i64) = db
        .query_row(
            "SELECT group_concat(net_profit, ' '), count(*) FROM (SELECT net_profit \
             FROM daily_performance WHERE account_number IS NULL ORDER BY date)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("daily");
    assert_eq!(days, 3);
    assert_eq!(net, "16.25 0 -2.15"); // as `daily --json` prints them
                                      // --as-of: the state at a point of history; the file is replaced.
    let out = json(&["export", &dir, "--sqlite", path(&file), "--as-of", "10"]);
    assert_eq!(out["last_seq"], 10, "{out}");
    let db = rusqlite::Connection::open(&file).expect("open the export");
    let last: i64 = db
        .query_row("SELECT last_seq FROM tradeledger_position", [], |r| {
            r.get(0)
        })
        .expect("position");
    assert_eq!(last, 10);
}
