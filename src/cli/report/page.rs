//! The page: `maud` templates (escaped by construction), with its style, scripts and charts
//! inline, so the file opens offline and asks no server for anything.
//!
//! Each key figure carries the exact value `stats --json` or `summary --json` prints in
//! `data-value` and shows it rounded as the tables of those commands do.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use tradeledger::projection::{TradeStatistics, TradeView};

use super::{Report, Selection};
use crate::cli::human;

const STYLE: &str = r#"
:root { --ink: #1a1a1a; --muted: #5f6368; --rule: #d9d9d9; --neg: #B04A00; --pos: #005A8C; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #fafafa; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
p.meta, p.note { color: var(--muted); margin: 2px 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
.figures dl { display: grid; grid-template-columns: auto auto; gap: 2px 16px; margin: 0;
              background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 10px 14px; }
.figures dl h3 { grid-column: 1 / -1; margin: 0 0 6px; font-size: 14px; }
dt { color: var(--muted); }
dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; }
figure.chart { margin: 0; background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 10px; }
figure.chart h3 { margin: 0 0 4px; font-size: 15px; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart p.empty { color: var(--muted); padding: 40px 0; text-align: center; }
table { border-collapse: collapse; background: #fff; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; white-space: nowrap; }
th { text-align: left; background: #f1f1f1; }
td.num, th.num { text-align: right; }
.neg { color: var(--neg); }
.pos { color: var(--pos); }
.scroll { overflow-x: auto; }
#live { font-size: 12px; color: var(--muted); }
"#;

/// Records any error of the page (a script error, a failed resource, `console.error`) in the
/// `data-errors` attribute of `<html>`, which tests read from the rendered DOM.
const ERROR_SCRIPT: &str = r#"(function () {
  var errors = [];
  function note(message) {
    errors.push(String(message));
    document.documentElement.setAttribute("data-errors", JSON.stringify(errors));
  }
  window.addEventListener("error", function (e) { note(e.message || "a resource failed to load"); }, true);
  window.addEventListener("unhandledrejection", function (e) { note(e.reason); });
  var original = console.error;
  console.error = function () { note(Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); };
})();"#;

/// Marks the page rendered, with the time it took (`data-render-ms`).
const READY_SCRIPT: &str = r#"window.addEventListener("load", function () {
  var html = document.documentElement;
  html.setAttribute("data-render-ms", String(Math.round(performance.now())));
  html.setAttribute("data-ready", "true");
});"#;

/// Live updates: the server says the journal's new head on `/events`; the page then fetches
/// the re-rendered report and swaps it in.
const LIVE_SCRIPT: &str = r#"(function () {
  var status = document.getElementById("live");
  var busy = false, wanted = null;
  function refresh() {
    var main = document.getElementById("report");
    if (busy || wanted === null || main.getAttribute("data-head-seq") === wanted) return;
    busy = true;
    fetch("body").then(function (r) {
      if (!r.ok) throw new Error("the server answered " + r.status);
      return r.text();
    }).then(function (text) {
      document.getElementById("report").outerHTML = text;
      status.textContent = "live: showing seq " + document.getElementById("report").getAttribute("data-head-seq");
    }).catch(function (e) {
      status.textContent = "live: update failed (" + e.message + ")";
    }).then(function () { busy = false; refresh(); });
  }
  var events = new EventSource("events");
  events.addEventListener("head", function (e) { wanted = e.data; refresh(); });
  events.onopen = function () { status.textContent = "live: connected"; };
  events.onerror = function () { status.textContent = "live: disconnected, retrying"; };
})();"#;

/// The whole page; `live` names the server's poll interval when it is served live.
pub fn document(report: &Report, live: Option<u64>) -> String {
    let title = format!("tradeledger report: {}", report.journal);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" href="data:,";
                title { (title) }
                script { (PreEscaped(ERROR_SCRIPT)) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(poll_ms) = live {
                    p #live data-poll-ms=(poll_ms) { "live: connecting" }
                }
                (body(report))
                script { (PreEscaped(READY_SCRIPT)) }
                @if live.is_some() {
                    script { (PreEscaped(LIVE_SCRIPT)) }
                }
            }
        }
    };
    page.into_string()
}

/// The report itself (`<main id="report">`), which the live page replaces as a whole.
pub fn body(report: &Report) -> Markup {
    html! {
        main #report data-head-seq=(report.head_seq) {
            h1 { "tradeledger report" }
            p.meta {
                "Journal " code { (report.journal) } ", up to seq " (report.head_seq) ". "
                (selection_text(&report.selection))
            }
            p.meta {
                "All times are UTC. Money is in the account currency, shown rounded to 2 places; "
                "each figure's exact value is in its data-value attribute."
            }
            h2 { "Key figures" }
            div.figures {
                (figures("Closed trades (tradeledger stats)", "stats", &report.stats, STATS_FIGURES))
                (figures("Days (tradeledger summary)", "summary", &report.summary, SUMMARY_FIGURES))
                @if let Some(account) = &report.account {
                    dl data-source="account" {
                        h3 { "Account " (account.number) " (tradeledger snapshots)" }
                        dt { "snapshots" } dd { (account.snapshots) }
                        @if let Some(last) = &account.last {
                            dt { "last balance" } dd data-value=(last.balance.to_string()) { (human::money(last.balance)) }
                            dt { "last equity" } dd data-value=(last.equity.to_string()) { (human::money(last.equity)) }
                            dt { "as of" } dd { (last.snapshot_time.to_string()) }
                        }
                        dt { "max drawdown" } dd data-value=(account.max_drawdown.to_string()) { (human::money(account.max_drawdown)) }
                        dt { "max drawdown %" }
                        dd { (account.max_drawdown_percent.map_or_else(|| "-".into(), human::percent)) }
                    }
                }
            }
            h2 { "Charts" }
            div.charts {
                @for chart in &report.charts {
                    figure.chart #(chart.id) data-chart=(chart.id) {
                        h3 { (chart.title) }
                        @match &chart.svg {
                            Some(svg) => (PreEscaped(svg)),
                            None => p.empty { "No data in the selection." },
                        }
                        figcaption { p.note { (chart.note) } }
                    }
                }
            }
            h2 { "Monthly returns" }
            p.note { "Net P&L of the trades closed in each UTC month, and that P&L in percent of the balance at the start of the month (the last snapshot before it)." }
            div.scroll {
                table #monthly {
                    tr { th { "Month" } th.num { "Closed trades" } th.num { "Net P&L" } th.num { "Return" } }
                    @for month in &report.months {
                        tr {
                            td { (month.month) }
                            td.num { (month.trades) }
                            (money_cell(month.net_profit))
                            td.num { (month.return_percent.map_or_else(|| "-".into(), human::percent)) }
                        }
                    }
                }
            }
            h2 { "By strategy" }
            (group_table("strategies", "Strategy", &report.strategies))
            h2 { "By symbol" }
            (group_table("symbols", "Symbol", &report.symbols))
            h2 { "Most recent trades" }
            p.note { "By entry time, newest first (tradeledger trades)." }
            (trades_table(&report.recent))
        }
    }
}

fn selection_text(selection: &Selection) -> String {
    let account = match selection.account {
        Some(n) => format!("Account {n}"),
        None => "All accounts".to_string(),
    };
    let days = match (selection.from, selection.to) {
        (None, None) => "all days".to_string(),
        (from, to) => format!(
            "days {} to {}",
            from.map_or("the start".into(), |d| d.to_string()),
            to.map_or("the end".into(), |d| d.to_string())
        ),
    };
    format!("{account}, {days}.")
}

/// How a figure is shown.
#[derive(Clone, Copy)]
enum Shown {
    Count,
    Money,
    Percent,
}

const STATS_FIGURES: &[(&str, &str, Shown)] = &[
    ("closed trades", "total_trades", Shown::Count),
    ("won", "winning_trades", Shown::Count),
    ("lost", "losing_trades", Shown::Count),
    ("breakeven", "breakeven_trades", Shown::Count),
    ("win rate", "win_rate", Shown::Percent),
    ("total profit", "total_profit", Shown::Money),
    ("average profit", "average_profit", Shown::Money),
    ("gross profit", "gross_profit", Shown::Money),
    ("gross loss", "gross_loss", Shown::Money),
    ("profit factor", "profit_factor", Shown::Money),
    ("average win", "average_win", Shown::Money),
    ("average loss", "average_loss", Shown::Money),
    ("largest win", "largest_win", Shown::Money),
    ("largest loss", "largest_loss", Shown::Money),
    ("total commission", "total_commission", Shown::Money),
    ("total swap", "total_swap", Shown::Money),
    ("net result", "net_result", Shown::Money),
    ("most wins in a row", "max_consecutive_wins", Shown::Count),
    (
        "most losses in a row",
        "max_consecutive_losses",
        Shown::Count,
    ),
    ("max drawdown of profit", "max_drawdown", Shown::Money),
];

const SUMMARY_FIGURES: &[(&str, &str, Shown)] = &[
    ("days", "total_days", Shown::Count),
    ("winning days", "winning_days", Shown::Count),
    ("losing days", "losing_days", Shown::Count),
    ("breakeven days", "breakeven_days", Shown::Count),
    ("closed trades", "total_trades", Shown::Count),
    ("total profit", "total_profit", Shown::Money),
    ("average daily profit", "average_daily_profit", Shown::Money),
    ("total commission", "total_commission", Shown::Money),
    ("total swap", "total_swap", Shown::Money),
    ("net result", "net_result", Shown::Money),
];

/// A list of figures taken from the JSON object the command prints, so that `data-value` is
/// exactly its text there.
fn figures<T: Serialize>(
    heading: &str,
    source: &str,
    value: &T,
    fields: &[(&str, &str, Shown)],
) -> Markup {
    let object = serde_json::to_value(value).unwrap_or(Value::Null);
    html! {
        dl data-source=(source) {
            h3 { (heading) }
            @for (label, key, shown) in fields {
                @let field = object.get(*key).unwrap_or(&Value::Null);
                @let exact = match field {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                dt { (label) }
                dd data-figure=(format!("{source}.{key}")) data-value=(exact) { (figure_text(field, *shown)) }
            }
        }
    }
}

fn figure_text(value: &Value, shown: Shown) -> String {
    let decimal = value.as_str().and_then(|s| s.parse::<Decimal>().ok());
    match (shown, decimal) {
        (_, None) if value.is_null() => "-".into(),
        (Shown::Money, Some(d)) => human::money(d),
        (Shown::Percent, Some(d)) => human::percent(d),
        _ => match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        },
    }
}

fn money_cell(value: Decimal) -> Markup {
    html! { td.num.neg[value < Decimal::ZERO] { (human::money(value)) } }
}

fn opt_money_cell(value: Option<Decimal>) -> Markup {
    match value {
        Some(value) => money_cell(value),
        None => html! { td.num { "-" } },
    }
}

fn group_table(id: &str, name: &str, rows: &[(String, TradeStatistics)]) -> Markup {
    html! {
        div.scroll {
            table #(id) {
                tr {
                    th { (name) } th.num { "Closed trades" } th.num { "Won" } th.num { "Lost" }
                    th.num { "Win rate" } th.num { "Net P&L" } th.num { "Profit factor" }
                    th.num { "Average win" } th.num { "Average loss" } th.num { "Largest loss" }
                }
                @for (label, stats) in rows {
                    tr {
                        td { (label) }
                        td.num { (stats.total_trades) }
                        td.num { (stats.winning_trades) }
                        td.num { (stats.losing_trades) }
                        td.num { (human::percent(stats.win_rate)) }
                        (money_cell(stats.total_profit))
                        td.num { (human::opt_money(stats.profit_factor)) }
                        (opt_money_cell(stats.average_win))
                        (opt_money_cell(stats.average_loss))
                        (opt_money_cell(stats.largest_loss))
                    }
                }
            }
        }
    }
}

fn trades_table(trades: &[TradeView]) -> Markup {
    html! {
        div.scroll {
            table #recent {
                tr {
                    th.num { "Ticket" } th { "Symbol" } th { "Type" } th { "Status" }
                    th { "Entry time" } th { "Exit time" } th.num { "Volume" }
                    th.num { "Entry" } th.num { "Exit" } th.num { "Profit" } th { "Strategy" }
                }
                @for trade in trades {
                    tr data-ticket=(trade.ticket) {
                        td.num { (trade.ticket) }
                        td { (trade.symbol) }
                        td { (trade.trade_type.to_string()) }
                        td { (trade.status.to_string()) }
                        td { (trade.entry_time.to_string()) }
                        td { (human::opt(trade.exit_time)) }
                        td.num { (human::exact(trade.volume)) }
                        td.num { (human::exact(trade.entry_price)) }
                        td.num { (human::opt_exact(trade.exit_price)) }
                        (opt_money_cell(trade.profit))
                        td { (trade.strategy_name.as_deref().unwrap_or("-")) }
                    }
                }
            }
        }
    }
}
