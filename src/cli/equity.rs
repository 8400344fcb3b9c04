//! `equity DIR --account N`: an account's equity over its snapshots in a period: peak,
//! trough, the largest falls in money and in percent with their times, and the return.

use std::process::ExitCode;

use clap::Args;
use tradeledger::projection::{equity_summary_across, Drawdown, EquityAt, Projections};

use super::human;
use super::options::{print_json, write_stdout, MoreJournals, Source};
use super::query::TimeBounds;

#[derive(Args)]
pub struct EquityArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
    /// The account (required).
    #[arg(long, value_name = "N")]
    pub account: u64,
    #[command(flatten)]
    pub bounds: TimeBounds,
}

pub fn run(args: &EquityArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let states: Vec<&Projections> = journals.iter().map(|(_, state)| state).collect();
    let summary = equity_summary_across(&states, args.account, args.bounds.range())?;
    if args.source.json {
        print_json(&summary)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(s) = summary else {
        let account = args.account;
        write_stdout(&format!(
            "no snapshots of account {account} in the period\n"
        ))?;
        return Ok(ExitCode::SUCCESS);
    };
    let point = |p: &EquityAt| format!("{} at {}", human::money(p.equity), p.snapshot_time);
    let fall = |d: &Option<Drawdown>| match d {
        None => "-".to_string(),
        Some(d) => format!(
            "{} ({}) from {} to {}",
            human::money(d.amount),
            d.percent.map_or_else(|| "-".into(), human::percent),
            point(&d.peak),
            point(&d.trough)
        ),
    };
    write_stdout(&human::pairs(&[
        ("account", s.account_number.to_string()),
        ("snapshots", s.snapshots.to_string()),
        ("first equity", point(&s.first)),
        ("last equity", point(&s.last)),
        ("change", human::money(s.change)),
        (
            "return",
            s.return_percent.map_or_else(|| "-".into(), human::percent),
        ),
        ("peak", point(&s.peak)),
        ("trough", point(&s.trough)),
        ("max drawdown", fall(&s.max_drawdown)),
        ("max drawdown %", fall(&s.max_drawdown_percent)),
    ]))?;
    Ok(ExitCode::SUCCESS)
}
