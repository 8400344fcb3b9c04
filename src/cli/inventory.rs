//! `inventory`: what a journal holds — its accounts, symbols, strategies and magic numbers,
//! each with its counts and first and last time — as four tables, or one JSON object.

use std::process::ExitCode;

use clap::Args;
use tradeledger::model::event::Timestamp;
use tradeledger::projection::{inventory_across, Inventory, Projections, TradesAndSignals};

use super::human::{opt, Align, Table};
use super::options::{print_json, write_stdout, MoreJournals, Source};

#[derive(Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub more: MoreJournals,
}

pub fn run(args: &InventoryArgs) -> anyhow::Result<ExitCode> {
    let journals = args.source.load_all(&args.more)?;
    let states: Vec<&Projections> = journals.iter().map(|(_, state)| state).collect();
    let inventory = inventory_across(&states)?;
    if args.source.json {
        print_json(&inventory)?;
    } else {
        write_stdout(&tables(&inventory))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A group's counts, then its first and last time.
fn row(name: String, counts: &[u64], first: Timestamp, last: Timestamp) -> Vec<String> {
    let mut cells = vec![name];
    cells.extend(counts.iter().map(u64::to_string));
    cells.extend([first.to_string(), last.to_string()]);
    cells
}

fn table(title: &str, headers: &[(&'static str, Align)], rows: Vec<Vec<String>>) -> String {
    let mut columns = headers.to_vec();
    columns.extend([("first", Align::Left), ("last", Align::Left)]);
    let mut table = Table::new(&columns);
    rows.into_iter().for_each(|cells| table.row(cells));
    format!("{title}\n{}", table.render())
}

fn tables(inventory: &Inventory) -> String {
    if inventory.accounts.is_empty() && inventory.symbols.is_empty() {
        return "the journal holds no trades, signals or snapshots\n".into();
    }
    let (left, right) = (Align::Left, Align::Right);
    let accounts = inventory.accounts.iter().map(|a| {
        let counts = [a.trades, a.snapshots];
        row(opt(a.account_number), &counts, a.first, a.last)
    });
    let with_signals = |name: String, rows: &TradesAndSignals| {
        row(name, &[rows.trades, rows.signals], rows.first, rows.last)
    };
    let symbols = (inventory.symbols.iter()).map(|s| with_signals(s.symbol.clone(), &s.rows));
    let strategies =
        (inventory.strategies.iter()).map(|s| with_signals(opt(s.strategy_name.as_ref()), &s.rows));
    let magic_numbers = inventory
        .magic_numbers
        .iter()
        .map(|m| row(m.magic_number.to_string(), &[m.trades], m.first, m.last));
    let counted = [("trades", right), ("signals", right)];
    [
        table(
            "accounts",
            &[("account", right), ("trades", right), ("snapshots", right)],
            accounts.collect(),
        ),
        table(
            "symbols",
            &[[("symbol", left)].as_slice(), &counted].concat(),
            symbols.collect(),
        ),
        table(
            "strategies",
            &[[("strategy", left)].as_slice(), &counted].concat(),
            strategies.collect(),
        ),
        table(
            "magic numbers",
            &[("magic", right), ("trades", right)],
            magic_numbers.collect(),
        ),
    ]
    .join("\n")
}
