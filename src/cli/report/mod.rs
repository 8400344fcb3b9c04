//! `report` and `serve`: one self-contained HTML page of a journal (equity, drawdown, P&L,
//! monthly returns, win/loss distribution, per-strategy and per-symbol tables, recent trades,
//! and the key figures of `stats` and `summary`), written to a file or served live
//! (`docs/REPORT.md`).
//!
//! Every figure comes from the library's queries, exactly as `stats`, `summary`, `daily`,
//! `trades` and `snapshots` print them; money stays `Decimal` and becomes `f64` only as a
//! chart coordinate.

mod charts;
mod page;
mod serve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Datelike, NaiveDate};
use clap::Args;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tradeledger::model::event::Timestamp;
use tradeledger::projection::{
    EquityPoint, EquityTracker, PerformanceSummary, Projections, StatisticsBuilder, TimeBasis,
    TimeRange, TradeSelect, TradeStatistics, TradeView,
};

use super::options::Source;
use super::query::DayBounds;

pub use serve::ServeArgs;

/// How many trades the "most recent trades" table lists.
const RECENT_TRADES: usize = 20;
/// How many buckets the win/loss histogram has on each side of zero (at most).
const DISTRIBUTION_BUCKETS: f64 = 12.0;

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub days: DayBounds,
    /// Where to write the page.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
}

/// What a report covers: an account (or all), and a range of UTC days.
#[derive(Clone, Copy, Debug)]
pub struct Selection {
    pub account: Option<u64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Selection {
    pub fn of(days: &DayBounds) -> Selection {
        Selection {
            account: days.account,
            from: days.from,
            to: days.to,
        }
    }

    /// The days as times: `--from D` is D 00:00:00Z, `--to D` is D 23:59:59.999999999Z, as
    /// for `stats --from D --to D`.
    fn range(&self) -> anyhow::Result<TimeRange> {
        let start = |date: NaiveDate| {
            let time = date.and_hms_opt(0, 0, 0).expect("midnight exists");
            Timestamp::from_datetime(time.and_utc())
                .with_context(|| format!("date {date} is out of range"))
        };
        let end = |date: NaiveDate| {
            let time = date
                .and_hms_nano_opt(23, 59, 59, 999_999_999)
                .expect("the last nanosecond exists");
            Timestamp::from_datetime(time.and_utc())
                .with_context(|| format!("date {date} is out of range"))
        };
        Ok(TimeRange::new(
            self.from.map(start).transpose()?,
            self.to.map(end).transpose()?,
        ))
    }
}

/// One chart: its anchor, title, what it shows, and the SVG (`None`: no data to draw).
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub note: String,
    pub svg: Option<String>,
}

/// A row of the monthly returns table.
pub struct Month {
    pub month: String,
    pub trades: u64,
    pub net_profit: Decimal,
    /// Net profit / balance at the start of the month × 100; `None` without a balance.
    pub return_percent: Option<Decimal>,
}

/// The account the equity charts show, and what its snapshots say.
pub struct Account {
    pub number: u64,
    pub snapshots: usize,
    pub last: Option<EquityPoint>,
    /// The largest fall of equity below its running peak, in money and in percent of the peak.
    pub max_drawdown: Decimal,
    pub max_drawdown_percent: Option<Decimal>,
}

/// Everything the page shows.
pub struct Report {
    pub journal: String,
    pub head_seq: u64,
    pub selection: Selection,
    pub stats: TradeStatistics,
    pub summary: PerformanceSummary,
    pub account: Option<Account>,
    pub charts: Vec<Chart>,
    pub months: Vec<Month>,
    pub strategies: Vec<(String, TradeStatistics)>,
    pub symbols: Vec<(String, TradeStatistics)>,
    pub recent: Vec<TradeView>,
}

pub fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let state = args.source.load()?;
    let selection = Selection::of(&args.days);
    let report = gather(&state, &args.source.dir.display().to_string(), selection)?;
    let html = page::document(&report, None);
    std::fs::write(&args.output, html.as_bytes())
        .with_context(|| format!("write the report to {}", args.output.display()))?;
    eprintln!(
        "wrote {} ({} bytes) from {} up to seq {}",
        args.output.display(),
        html.len(),
        args.source.dir.display(),
        report.head_seq
    );
    Ok(ExitCode::SUCCESS)
}

pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    serve::run(args)
}

/// Seconds since the epoch, for a chart coordinate.
fn seconds(time: Timestamp) -> f64 {
    time.nanos() as f64 / 1e9
}

/// A money amount as a chart coordinate.
fn coordinate(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// Queries the state for everything the page shows.
pub fn gather(state: &Projections, journal: &str, selection: Selection) -> anyhow::Result<Report> {
    let range = selection.range()?;
    let account = selection.account;
    let stats = state.trade_statistics(range, TimeBasis::Exit, None, account)?;
    let summary = state.performance_summary(selection.from, selection.to, account)?;
    let days = state.daily_performance(selection.from, selection.to, account)?;

    let recent = state.latest_trades(range, account, RECENT_TRADES)?;
    let shown = shown_account(state, journal, account)?;
    let (strategies, symbols, distribution) = closed_trades(state, range, account)?;
    let snapshots = match shown {
        Some(number) => state.equity_curve(number, range)?,
        None => Vec::new(),
    };

    let mut charts = Vec::new();
    let (account_figures, equity_chart, drawdown_chart) = equity(shown, &snapshots)?;
    charts.push(equity_chart);
    charts.push(drawdown_chart);
    charts.extend(pnl_charts(&days)?);
    charts.push(distribution);

    let months = monthly(&days, &snapshots)?;
    Ok(Report {
        journal: journal.to_string(),
        head_seq: state.head_seq(),
        selection,
        stats,
        summary,
        account: account_figures,
        charts,
        months,
        strategies,
        symbols,
        recent,
    })
}

/// The account whose snapshots the page shows: the one asked for, or the journal's only
/// account with snapshots.
fn shown_account(
    state: &Projections,
    journal: &str,
    account: Option<u64>,
) -> anyhow::Result<Option<u64>> {
    if account.is_some() {
        return Ok(account);
    }
    Ok(match state.snapshot_accounts()?.as_slice() {
        [] => None,
        [only] => Some(*only),
        several => anyhow::bail!(
            "{journal} holds snapshots of {} accounts ({}): choose one with --account N",
            several.len(),
            several
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Statistics of each strategy's and each symbol's closed trades, and their profits'
/// histogram.
type ClosedTrades = (
    Vec<(String, TradeStatistics)>,
    Vec<(String, TradeStatistics)>,
    Chart,
);

fn closed_trades(
    state: &Projections,
    range: TimeRange,
    account: Option<u64>,
) -> anyhow::Result<ClosedTrades> {
    let select = TradeSelect {
        account,
        ..TradeSelect::default()
    };
    let mut strategies: BTreeMap<&str, StatisticsBuilder> = BTreeMap::new();
    let mut symbols: BTreeMap<&str, StatisticsBuilder> = BTreeMap::new();
    let mut profits = Vec::new();
    state.for_each_closed_trade(range, TimeBasis::Exit, &select, |trade| {
        let strategy = trade.strategy_name.unwrap_or("-");
        strategies.entry(strategy).or_default().add(trade);
        symbols.entry(trade.symbol).or_default().add(trade);
        profits.push(trade.profit);
    })?;
    let table = |groups: BTreeMap<&str, StatisticsBuilder>| {
        let rows = groups.into_iter();
        let rows = rows.map(|(name, group)| Ok((name.to_string(), group.statistics()?)));
        rows.collect::<anyhow::Result<Vec<_>>>()
    };
    Ok((
        table(strategies)?,
        table(symbols)?,
        distribution_chart(&profits)?,
    ))
}

/// The equity and balance chart, the drawdown chart and the account's figures.
fn equity(
    account: Option<u64>,
    snapshots: &[EquityPoint],
) -> anyhow::Result<(Option<Account>, Chart, Chart)> {
    let mut equity = Vec::with_capacity(snapshots.len());
    let mut balance = Vec::with_capacity(snapshots.len());
    let mut drawdown = Vec::with_capacity(snapshots.len());
    let mut tracker = EquityTracker::new();
    for snapshot in snapshots {
        let x = seconds(snapshot.snapshot_time);
        equity.push((x, coordinate(snapshot.equity)));
        balance.push((x, coordinate(snapshot.balance)));
        let percent = tracker.add(snapshot)?;
        drawdown.push((x, -coordinate(percent.unwrap_or_default())));
    }
    let figures = match account {
        Some(number) => tracker.summary(number)?.map(|summary| Account {
            number,
            snapshots: snapshots.len(),
            last: snapshots.last().copied(),
            max_drawdown: summary.max_drawdown.map_or(Decimal::ZERO, |d| d.amount),
            max_drawdown_percent: summary.max_drawdown_percent.and_then(|d| d.percent),
        }),
        None => None,
    };
    let shown = |what: &str| match account {
        Some(number) => format!(
            "{what} of account {number}, from {} snapshots (at most {} points per line: the \
             first, lowest, highest and last of each stretch).",
            snapshots.len(),
            4 * charts::BUCKETS
        ),
        None => "No account snapshots in the journal.".to_string(),
    };
    let equity_svg = (!snapshots.is_empty())
        .then(|| {
            charts::lines(
                "Money (account currency)",
                &[
                    (
                        "Equity",
                        charts::BLUE,
                        charts::downsample(&equity, charts::BUCKETS),
                    ),
                    (
                        "Balance",
                        charts::ORANGE,
                        charts::downsample(&balance, charts::BUCKETS),
                    ),
                ],
            )
        })
        .transpose()?;
    let drawdown_svg = (!snapshots.is_empty())
        .then(|| charts::drawdown(&charts::downsample(&drawdown, charts::BUCKETS)))
        .transpose()?;
    Ok((
        figures,
        Chart {
            id: "equity",
            title: "Equity and balance",
            note: shown("Equity (blue) and balance (orange)"),
            svg: equity_svg,
        },
        Chart {
            id: "drawdown",
            title: "Drawdown",
            note: shown("How far equity is below its running peak, in percent of the peak,"),
            svg: drawdown_svg,
        },
    ))
}

/// Cumulative realized P&L and daily net P&L bars, from the `daily` rows.
fn pnl_charts(days: &[tradeledger::projection::DayView]) -> anyhow::Result<[Chart; 2]> {
    let day_start = |date: NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp() as f64
    };
    let mut total = Decimal::ZERO;
    let mut cumulative = Vec::with_capacity(days.len() + 1);
    let mut bars = Vec::with_capacity(days.len());
    for day in days {
        if cumulative.is_empty() {
            cumulative.push((day_start(day.date), 0.0));
        }
        total = total
            .checked_add(day.net_profit)
            .context("cumulative P&L exceeds the decimal range")?;
        cumulative.push((day_start(day.date) + 86_400.0, coordinate(total)));
        bars.push((day_start(day.date), coordinate(day.net_profit)));
    }
    let none = days.is_empty();
    let cumulative_svg = (!none)
        .then(|| {
            charts::lines(
                "Realized P&L (account currency)",
                &[("Cumulative realized P&L", charts::GREEN, cumulative)],
            )
        })
        .transpose()?;
    let bars_svg = (!none).then(|| charts::daily_bars(&bars)).transpose()?;
    let days_note = format!(
        "{} days with closed trades (the rows of `daily`), by exit day.",
        days.len()
    );
    Ok([
        Chart {
            id: "cumulative",
            title: "Cumulative realized P&L",
            note: format!(
                "The running sum of each day's net profit at the end of the day. {days_note}"
            ),
            svg: cumulative_svg,
        },
        Chart {
            id: "daily",
            title: "Daily net P&L",
            note: format!("Blue: a winning day; vermillion: a losing day. {days_note}"),
            svg: bars_svg,
        },
    ])
}

/// The histogram of closed trades' profits, with zero as a bucket edge.
fn distribution_chart(closed: &[Decimal]) -> anyhow::Result<Chart> {
    let trades = closed.len();
    let profits: Vec<f64> = (closed.iter())
        .filter(|p| !p.is_zero())
        .map(|p| coordinate(*p))
        .collect();
    let breakevens = trades - profits.len();
    let reach = profits.iter().fold(0.0_f64, |m, p| m.max(p.abs()));
    let width = if reach > 0.0 {
        reach / DISTRIBUTION_BUCKETS
    } else {
        1.0
    };
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for p in &profits {
        let mut index = (p / width).floor() as i64;
        if *p > 0.0 && index as f64 * width >= *p {
            index -= 1;
        }
        *counts.entry(index).or_default() += 1;
    }
    let buckets: Vec<(f64, f64, u64)> = counts
        .into_iter()
        .map(|(i, n)| (i as f64 * width, (i + 1) as f64 * width, n))
        .collect();
    let svg = (!buckets.is_empty())
        .then(|| charts::distribution(&buckets))
        .transpose()?;
    Ok(Chart {
        id: "distribution",
        title: "Win/loss distribution",
        note: format!(
            "Closed trades by profit: blue bars are wins, vermillion bars losses ({trades} trades; \
             {breakevens} breakeven not drawn)."
        ),
        svg,
    })
}

/// Net P&L per calendar month (UTC), summed from the `daily` rows, and the return on the
/// balance of the last snapshot before the month (or the month's first snapshot).
fn monthly(
    days: &[tradeledger::projection::DayView],
    snapshots: &[EquityPoint],
) -> anyhow::Result<Vec<Month>> {
    let mut months: BTreeMap<(i32, u32), (u64, Decimal)> = BTreeMap::new();
    for day in days {
        let entry = months
            .entry((day.date.year(), day.date.month()))
            .or_default();
        entry.0 += day.total_trades;
        entry.1 = entry
            .1
            .checked_add(day.net_profit)
            .context("a month's P&L exceeds the decimal range")?;
    }
    let mut rows = Vec::with_capacity(months.len());
    for ((year, month), (trades, net_profit)) in months {
        let start = NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| Timestamp::from_datetime(t.and_utc()))
            .context("month out of range")?;
        let before = snapshots.partition_point(|s| s.snapshot_time < start);
        let opening = match before {
            0 => snapshots.first(),
            n => snapshots.get(n - 1),
        }
        .map(|s| s.balance);
        let return_percent = opening.filter(|b| *b > Decimal::ZERO).and_then(|b| {
            net_profit
                .checked_mul(Decimal::ONE_HUNDRED)
                .and_then(|n| n.checked_div(b))
        });
        rows.push(Month {
            month: format!("{year}-{month:02}"),
            trades,
            net_profit,
            return_percent,
        });
    }
    Ok(rows)
}
