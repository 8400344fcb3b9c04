//! The paper-trading demo end to end: it journals everything through the async handle, the
//! journal verifies, and the statistics derived from the journal equal the trader's own
//! accounting of the same run.

mod cli_support;

use std::sync::Arc;

use cli_support::{json, run};
use tradeledger::tools::demo::{self, DemoConfig, MemorySink};

const BARS: usize = 600;

fn bundled_bars() -> Vec<demo::Bar> {
    let path = cli_support::fixture("eurusd_h1_2017_2018.csv");
    demo::load_bars(&path, Some(BARS)).unwrap()
}

#[test]
fn demo_journal_verifies_and_its_statistics_match_the_traders_accounting() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo-journal");
    let dir_text = dir.to_str().unwrap();
    let bars = BARS.to_string();
    let output = run(&["demo", dir_text, "--bars", &bars]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report.contains("tradeledger verify"),
        "the report lists commands to explore"
    );

    let verified = json(&["verify", dir_text]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sink = Arc::new(MemorySink::new());
    let expected = runtime.block_on(demo::run(
        DemoConfig::default(),
        &bundled_bars(),
        sink.clone(),
        |_| {},
    ));
    assert!(
        expected.trades_closed > 10,
        "the run trades: {}",
        expected.trades_closed
    );

    let stats = json(&["stats", dir_text]);
    assert_eq!(stats["total_trades"], expected.trades_closed);
    assert_eq!(stats["winning_trades"], expected.wins);
    assert_eq!(stats["losing_trades"], expected.losses);
    let total: rust_decimal::Decimal = stats["total_profit"].as_str().unwrap().parse().unwrap();
    assert_eq!(total, expected.total_profit_usd);
    assert_eq!(
        verified["records"],
        sink.len() as u64,
        "every event the trader produced is journaled"
    );
    let open = json(&["trades", dir_text, "--open"]);
    assert_eq!(open.as_array().unwrap().len(), expected.open_positions);
}

#[test]
fn a_second_demo_run_replaces_its_journal_but_never_a_real_one() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo-journal");
    let dir_text = dir.to_str().unwrap();
    assert!(run(&["demo", dir_text, "--bars", "50"]).status.success());
    let again = run(&["demo", dir_text, "--bars", "60"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("replacing the demo journal"));

    let real = scratch.path().join("real");
    let real_text = real.to_str().unwrap();
    assert!(run(&["init", real_text]).status.success());
    let before: Vec<_> = std::fs::read_dir(&real)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let refused = run(&["demo", real_text]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a demo journal"));
    let after: Vec<_> = std::fs::read_dir(&real)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);

    let other = scratch.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("mine.txt"), "keep me").unwrap();
    assert_eq!(
        run(&["demo", other.to_str().unwrap()]).status.code(),
        Some(1)
    );
    assert_eq!(
        std::fs::read_to_string(other.join("mine.txt")).unwrap(),
        "keep me"
    );
}
