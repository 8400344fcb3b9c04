//! The query commands of `docs/INTERCHANGE.md` §5: `stats`, `trades`, `signals`,
//! `execution-rate`, `snapshots`, `daily`, `summary`. Read-only: they load the projections
//! without the writer lock and write nothing, so they work while another process appends.

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use tradeledger::model::event::{Timestamp, TradeStatus};

use tradeledger::projection::{
    daily_rows_across, execution_rate_across, for_each_closed_trade_across, statistics_across,
    summary_across, Projections, QueryError, SignalView, SnapshotView, StatisticsBuilder,
    TimeBasis, TimeRange, TradeFilter, TradeSelect, TradeStatistics, TradeView,
};

use super::firm;
use super::human;
use super::options::{
    parse_date, parse_from, parse_status, parse_to, print_json, write_stdout, MoreJournals, Source,
};
use super::stream::{print_rows, Shape};
use super::tables;

/// `--by`: which time of a trade `--from/--to` select on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    Exit,
    Entry,
}

impl From<By> for TimeBasis {
    fn from(by: By) -> TimeBasis {
        match by {
            By::Exit => TimeBasis::Exit,
            By::Entry => TimeBasis::Entry,
        }
    }
}

/// `--from T --to T`: inclusive; a date means its first (or last) nanosecond.
#[derive(Args)]
pub struct TimeBounds {
    /// Lower bound (inclusive): RFC 3339, or a date YYYY-MM-DD meaning its 00:00:00Z.
    #[arg(long, value_name = "T", value_parser = parse_from)]
    pub from: Option<Timestamp>,
    /// Upper bound (inclusive): RFC 3339, or a date meaning its 23:59:59.999999999Z.
    #[arg(long, value_name = "T", value_parser = parse_to)]
    pub to: Option<Timestamp>,
}

impl TimeBounds {
    pub fn range(&self) -> TimeRange {
        TimeRange::new(self.from, self.to)
    }
}

/// `--from D --to D`: inclusive calendar days (UTC).
#[derive(Args)]
pub struct DayBounds {
    /// First day (inclusive), YYYY-MM-DD.
    #[arg(long, value_name = "D", value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive), YYYY-MM-DD.
    #[arg(long, value_name = "D", value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// Only the trades (and snapshots) of this account.
    #[arg(long, value_name = "N")]
    pub account: Option<u64>,
}

/// `--strategy`, `--magic`: selections beyond symbol and account.
#[derive(Args)]
pub struct Selection {
    /// Only trades with this strategy_name (exact, case-sensitive).
    #[arg(long, value_name = "NAME")]
    pub strategy: Option<String>,
    /// Only trades with this magic number.
    #[arg(long, value_name = "N")]
    pub magic: Option<u64>,
}

/// `stats --group-by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    Strategy,
    Symbol,
    Account,
    Magic,
    Journal,
}

/// A group's key: borrowed from the journals' states, so that grouping allocates nothing per
/// trade. Ordered as printed (`None` first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey<'a> {
    Name(Option<&'a str>),
    Number(Option<u64>),
    Journal(usize),
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
    #[command(flatten)]
    pub selection: Selection,
    /// One row per strategy, symbol, account, magic number or journal.
    #[arg(long, value_enum, ignore_case = true, value_name = "KEY")]
    pub group_by: Option<GroupBy>,
    #[command(flatten)]
    pub bounds: TimeBounds,
    /// Select trades by exit_time (realized in the period) or entry_time.
    #[arg(long, value_enum, ignore_case = true, default_value = "exit")]
    pub by: By,
    /// Only this symbol (exact, case-sensitive).
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// Only this account.
    #[arg(long, value_name = "N")]
    pub account: Option<u64>,
}

#[derive(Args)]
pub struct TradesArgs {
    #[command(flatten)]
    pub source: Source,
    /// Only trades with this status (case-insensitive).
    #[arg(long, value_name = "S", value_parser = parse_status)]
    pub status: Option<TradeStatus>,
    /// Only OPEN trades (the same as --status OPEN).
    #[arg(long, conflicts_with = "status")]
    pub open: bool,
    /// Only this symbol (exact, case-sensitive).
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// Only this account.
    #[arg(long, value_name = "N")]
    pub account: Option<u64>,
    #[command(flatten)]
    pub bounds: TimeBounds,
    /// What --from/--to select on: entry_time (any status), or exit_time (CLOSED trades only).
    #[arg(long, value_enum, ignore_case = true, default_value = "entry")]
    pub by: By,
    /// The one trade with this ticket (an object, or null).
    #[arg(long, value_name = "N", conflicts_with_all = ["status", "open", "symbol", "account", "from", "to", "by"])]
    pub ticket: Option<u64>,
    /// Print JSON Lines, one trade object a line, as the trades are read.
    #[arg(long, conflicts_with_all = ["json", "ticket"])]
    pub jsonl: bool,
    /// At most N trades (the first N of the list).
    #[arg(long, value_name = "N", conflicts_with = "ticket")]
    pub limit: Option<usize>,
    /// Only the trades after the one with this ticket, in the list's order (entry_time,
    /// ticket): the next page after a page that ended with it. It must be a trade the other
    /// options select.
    #[arg(long, value_name = "TICKET", conflicts_with = "ticket")]
    pub after: Option<u64>,
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub more: MoreJournals,
}

#[derive(Args)]
pub struct SignalsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
    /// Only this symbol (exact, case-sensitive).
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// At most this many signals.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Print JSON Lines, one signal object a line, as the signals are read.
    #[arg(long, conflicts_with = "json")]
    pub jsonl: bool,
}

#[derive(Args)]
pub struct ExecutionRateArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
    /// Only signals with timestamp at or after T (RFC 3339, or a date meaning its 00:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_from)]
    pub since: Option<Timestamp>,
}

#[derive(Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
    /// The account (required).
    #[arg(long, value_name = "N", required = true)]
    pub account: Option<u64>,
    #[command(flatten)]
    pub bounds: TimeBounds,
    /// Only the latest snapshot (an object, or null).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub latest: bool,
    /// Print JSON Lines, one snapshot object a line, as the snapshots are read.
    #[arg(long, conflicts_with_all = ["json", "latest"])]
    pub jsonl: bool,
}

#[derive(Args)]
pub struct DailyArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
    #[command(flatten)]
    pub days: DayBounds,
    #[command(flatten)]
    pub selection: Selection,
}

impl DailyArgs {
    fn select(&self) -> TradeSelect<'_> {
        TradeSelect {
            account: self.days.account,
            strategy: self.selection.strategy.as_deref(),
            magic: self.selection.magic,
            ..TradeSelect::default()
        }
    }
}

pub fn stats(args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let states: Vec<&Projections> = journals.iter().map(|(_, state)| state).collect();
    let select = TradeSelect {
        account: args.account,
        symbol: args.symbol.as_deref(),
        strategy: args.selection.strategy.as_deref(),
        magic: args.selection.magic,
    };
    let (range, by) = (args.bounds.range(), args.by.into());
    if let Some(group_by) = args.group_by {
        let mut groups: BTreeMap<GroupKey, StatisticsBuilder> = BTreeMap::new();
        for_each_closed_trade_across(&states, range, by, &select, |journal, trade| {
            let key = match group_by {
                GroupBy::Strategy => GroupKey::Name(trade.strategy_name),
                GroupBy::Symbol => GroupKey::Name(Some(trade.symbol)),
                GroupBy::Account => GroupKey::Number(trade.account_number),
                GroupBy::Magic => GroupKey::Number(Some(trade.magic_number)),
                GroupBy::Journal => GroupKey::Journal(journal),
            };
            groups.entry(key).or_default().add(trade);
        })?;
        let mut rows = Vec::with_capacity(groups.len());
        for (key, group) in groups {
            let value = match key {
                GroupKey::Name(name) => serde_json::json!(name),
                GroupKey::Number(number) => serde_json::json!(number),
                GroupKey::Journal(index) => {
                    serde_json::json!(journals[index].0.display().to_string())
                }
            };
            rows.push((value, group.statistics()?));
        }
        return print_groups(group_by, &rows, args.source.json);
    }
    let stats = statistics_across(&states, range, by, &select)?;
    if args.source.json {
        print_json(&stats)?;
    } else {
        let trades = format!(
            "{} ({} won, {} lost, {} breakeven)",
            stats.total_trades, stats.winning_trades, stats.losing_trades, stats.breakeven_trades
        );
        write_stdout(&human::pairs(&[
            ("closed trades", trades),
            ("win rate", human::percent(stats.win_rate)),
            ("total profit", human::money(stats.total_profit)),
            ("average profit", human::money(stats.average_profit)),
            ("gross profit", human::money(stats.gross_profit)),
            ("gross loss", human::money(stats.gross_loss)),
            ("profit factor", human::opt_money(stats.profit_factor)),
            ("average win", human::opt_money(stats.average_win)),
            ("average loss", human::opt_money(stats.average_loss)),
            ("largest win", human::opt_money(stats.largest_win)),
            ("largest loss", human::opt_money(stats.largest_loss)),
            ("total commission", human::money(stats.total_commission)),
            ("total swap", human::money(stats.total_swap)),
            ("net result", human::money(stats.net_result)),
            ("most wins in a row", stats.max_consecutive_wins.to_string()),
            (
                "most losses in a row",
                stats.max_consecutive_losses.to_string(),
            ),
            ("max drawdown", human::money(stats.max_drawdown)),
        ]))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `stats --group-by`: a JSON array of the group's key under its field name followed by the
/// `stats` fields, or a table.
fn print_groups(
    group_by: GroupBy,
    rows: &[(serde_json::Value, TradeStatistics)],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let field = match group_by {
        GroupBy::Strategy => "strategy_name",
        GroupBy::Symbol => "symbol",
        GroupBy::Account => "account_number",
        GroupBy::Magic => "magic_number",
        GroupBy::Journal => "journal",
    };
    if json {
        let mut text = String::from("[");
        for (n, (key, stats)) in rows.iter().enumerate() {
            let stats = serde_json::to_string(stats)?;
            let fields = stats.strip_prefix('{').expect("an object");
            let separator = if n == 0 { "" } else { "," };
            text.push_str(&format!(
                "{separator}{{{}:{key},{fields}",
                serde_json::json!(field)
            ));
        }
        text.push_str("]\n");
        write_stdout(&text)?;
    } else {
        write_stdout(&tables::groups(field, rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn trades(args: &TradesArgs) -> anyhow::Result<ExitCode> {
    let status = if args.open {
        Some(TradeStatus::Open)
    } else {
        args.status
    };
    if args.by == By::Exit && status.is_some_and(|s| s != TradeStatus::Closed) {
        anyhow::bail!("--by exit selects CLOSED trades by exit_time; it cannot be combined with --status {} or --open", status.map_or("", |s| s.name()));
    }
    let journals = args.source.load_all(&args.more)?;
    let filter = TradeFilter {
        status,
        symbol: args.symbol.as_deref(),
        account: args.account,
        range: args.bounds.range(),
        by: args.by.into(),
        strategy: args.selection.strategy.as_deref(),
        magic: args.selection.magic,
    };
    if let [(_, state)] = journals.as_slice() {
        return trades_of_one(args, state, &filter);
    }
    if args.ticket.is_some() || args.after.is_some() {
        anyhow::bail!(
            "--ticket and --after name a ticket of one journal; with several journals, ask that journal"
        );
    }
    let mut sources = Vec::with_capacity(journals.len());
    for (_, state) in &journals {
        sources.push(state.trade_rows(&filter)?);
    }
    let rows = firm::merged(sources, |t: &TradeView| t.entry_time);
    print_from_journals(
        &journals,
        rows,
        args.limit,
        args.source.json,
        args.jsonl,
        tables::trades_table,
    )
}

/// `trades` over one journal.
fn trades_of_one(
    args: &TradesArgs,
    state: &Projections,
    filter: &TradeFilter,
) -> anyhow::Result<ExitCode> {
    if let Some(ticket) = args.ticket {
        let trade = state.trade_by_ticket(ticket)?;
        return match (args.source.json, trade) {
            (true, trade) => print_json(&trade),
            (false, Some(trade)) => write_stdout(&human::object(&trade)?),
            (false, None) => write_stdout(&format!("no trade has ticket {ticket}\n")),
        }
        .map(|()| ExitCode::SUCCESS);
    }
    let rows = match args.after {
        Some(after) => match state.trade_rows_after(filter, after)? {
            Some(rows) => rows,
            None => return Err(not_a_row(state, after)),
        },
        None => state.trade_rows(filter)?,
    };
    let rows = rows.take(args.limit.unwrap_or(usize::MAX));
    match Shape::chosen(args.source.json, args.jsonl) {
        Some(shape) => print_rows(rows, shape)?,
        None => tables::print_trades(rows)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows of several journals, merged (`firm::merged`), at most `limit`: each JSON object
/// with its `"journal"`, or a table whose first column names it.
fn print_from_journals<T: serde::Serialize>(
    journals: &[(std::path::PathBuf, Projections)],
    rows: impl Iterator<Item = Result<(usize, T), QueryError>>,
    limit: Option<usize>,
    json: bool,
    jsonl: bool,
    table: fn(&[T]) -> human::Table,
) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = journals
        .iter()
        .map(|(dir, _)| dir.display().to_string())
        .collect();
    let rows = rows.take(limit.unwrap_or(usize::MAX));
    if let Some(shape) = Shape::chosen(json, jsonl) {
        let rows = rows.map(|row| {
            row.map(|(index, row)| firm::InJournal {
                row,
                journal: names[index].as_str(),
            })
        });
        print_rows(rows, shape)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (sources, rows): (Vec<usize>, Vec<T>) =
        rows.collect::<Result<Vec<_>, _>>()?.into_iter().unzip();
    if rows.is_empty() {
        write_stdout("no rows\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut shown = table(&rows);
    shown.prepend_column(
        "journal",
        sources.iter().map(|i| names[*i].clone()).collect(),
    );
    write_stdout(&shown.render())?;
    Ok(ExitCode::SUCCESS)
}

/// Why `--after TICKET` names no row of the list.
fn not_a_row(state: &Projections, ticket: u64) -> anyhow::Error {
    match state.trade_by_ticket(ticket) {
        Ok(Some(_)) => anyhow::anyhow!(
            "--after {ticket}: trade {ticket} is not one of the trades these options select \
             (--status, --open, --symbol, --account, --from, --to, --by); --after takes the \
             ticket of a row of the same list, usually the last row of the page before"
        ),
        Ok(None) => anyhow::anyhow!("--after {ticket}: no trade has ticket {ticket}"),
        Err(error) => error.into(),
    }
}

pub fn signals(args: &SignalsArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let mut sources = Vec::with_capacity(journals.len());
    for (_, state) in &journals {
        sources.push(state.signal_rows(args.symbol.as_deref(), true)?);
    }
    if journals.len() > 1 {
        // Most recent first: by timestamp descending.
        let rows = firm::merged(sources, |s: &SignalView| std::cmp::Reverse(s.timestamp));
        let limit = Some(args.limit);
        return print_from_journals(
            &journals,
            rows,
            limit,
            args.source.json,
            args.jsonl,
            tables::signals_table,
        );
    }
    let rows = sources.pop().expect("one journal").take(args.limit);
    match Shape::chosen(args.source.json, args.jsonl) {
        Some(shape) => print_rows(rows, shape)?,
        None => write_stdout(&tables::signals(&rows.collect::<Result<Vec<_>, _>>()?))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn execution_rate(args: &ExecutionRateArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let states: Vec<&Projections> = journals.iter().map(|(_, state)| state).collect();
    let rate = execution_rate_across(&states, args.since)?;
    if args.source.json {
        print_json(&rate)?;
    } else {
        write_stdout(&human::pairs(&[
            ("signals", rate.total_signals.to_string()),
            ("executed", rate.executed_signals.to_string()),
            ("execution rate", human::percent(rate.execution_rate)),
        ]))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn snapshots(args: &SnapshotsArgs) -> anyhow::Result<ExitCode> {
    let account = args
        .account
        .ok_or_else(|| anyhow::anyhow!("snapshots needs --account N"))?;
    let journals = args.source.load_all(&args.more)?;
    let empty = format!("no snapshots of account {account}\n");
    if args.latest {
        // With several journals, the latest of them all (on a tie, the journal named last).
        let mut latest: Option<SnapshotView> = None;
        for (_, state) in &journals {
            if let Some(found) = state.latest_snapshot(account)? {
                if (latest.as_ref()).is_none_or(|l| l.snapshot_time <= found.snapshot_time) {
                    latest = Some(found);
                }
            }
        }
        if args.source.json {
            print_json(&latest)?;
        } else {
            tables::print_snapshots(latest.into_iter().map(Ok), &empty)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut sources = Vec::with_capacity(journals.len());
    for (_, state) in &journals {
        sources.push(state.snapshot_rows(account, args.bounds.range())?);
    }
    if journals.len() > 1 {
        let rows = firm::merged(sources, |s: &SnapshotView| s.snapshot_time);
        let (json, jsonl) = (args.source.json, args.jsonl);
        return print_from_journals(&journals, rows, None, json, jsonl, tables::snapshots_table);
    }
    let rows = sources.pop().expect("one journal");
    match Shape::chosen(args.source.json, args.jsonl) {
        Some(shape) => print_rows(rows, shape)?,
        None => tables::print_snapshots(rows, &empty)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn daily(args: &DailyArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let states: Vec<&Projections> = journals.iter().map(|(_, state)| state).collect();
    let d = &args.days;
    let days = daily_rows_across(&states, d.from, d.to, &args.select())?;
    if args.source.json {
        print_json(&days)?;
    } else {
        write_stdout(&tables::days(&days))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn summary(args: &DailyArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let states: Vec<&Projections> = journals.iter().map(|(_, state)| state).collect();
    let d = &args.days;
    let summary = summary_across(&states, d.from, d.to, &args.select())?;
    if args.source.json {
        print_json(&summary)?;
    } else {
        write_stdout(&human::pairs(&[
            ("days", summary.total_days.to_string()),
            ("winning days", summary.winning_days.to_string()),
            ("losing days", summary.losing_days.to_string()),
            ("breakeven days", summary.breakeven_days.to_string()),
            ("closed trades", summary.total_trades.to_string()),
            ("total profit", human::money(summary.total_profit)),
            (
                "average daily profit",
                human::money(summary.average_daily_profit),
            ),
            ("total commission", human::money(summary.total_commission)),
            ("total swap", human::money(summary.total_swap)),
            ("net result", human::money(summary.net_result)),
        ]))?;
    }
    Ok(ExitCode::SUCCESS)
}
