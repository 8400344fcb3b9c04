//! Subcommands. Every command prints its result on stdout and diagnostics on stderr.

/// `println!` into a `String`, which the command writes to stdout at once with
/// [`options::write_stdout`]: a closed pipe (`tradeledger verify DIR | head -1`) is then an
/// error the command returns, not a panic.
macro_rules! out {
    ($text:expr) => {
        $text.push('\n')
    };
    ($text:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($text, $($arg)*);
    }};
}

mod demo_cmd;
mod equity;
mod export;
mod firm;
mod human;
mod import;
mod interrupt;
mod inventory;
mod journal_cmds;
mod load_cmd;
mod maintenance;
mod nats;
mod options;
mod progress;
mod query;
mod report;
mod salvage;
mod sink;
mod stream;
mod tables;
mod tail_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tradeledger::Error;

/// Exit codes (also in `--help`).
pub const EXIT_INPUT: u8 = 1;
pub const EXIT_DAMAGED: u8 = 2;
pub const EXIT_IO: u8 = 3;
pub const EXIT_LOCKED: u8 = 4;
/// `verify` found no damage, but events that break a stateless rule of the contract (written
/// before the library checked them).
pub const EXIT_CONTRACT_VIOLATION: u8 = 5;

#[derive(Parser)]
#[command(
    name = "tradeledger",
    version,
    about = "An append-only, checksummed journal for trading systems",
    after_help = "Exit codes: 0 success; 1 usage or input error; 2 the journal is damaged \
(not a torn tail); 3 I/O error; 4 the journal is locked by another writer; 5 `verify` \
found events that break the contract's rules but no damage; 130 interrupted (tail and serve \
end with 0).\n\
Logs go to stderr; set TRADELEDGER_LOG=info (or debug) for more."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Paper-trade the bundled EURUSD bars, journaling every signal, fill, close and snapshot.
    Demo(demo_cmd::DemoArgs),
    /// Create a journal in DIR (created if missing, must be empty).
    Init {
        dir: PathBuf,
        /// Segment file size in bytes (multiple of 4096, 64 KiB to 1 GiB); a new journal's
        /// segments start at 1 MiB and double up to it.
        #[arg(long, default_value_t = tradeledger::storage::limits::SEGMENT_SIZE_DEFAULT_BYTES)]
        segment_size: u64,
        /// buffered | sync | periodic:<ms>
        #[arg(long, default_value = "buffered", value_parser = parse_durability)]
        durability: tradeledger::Durability,
        /// Write a checkpoint of the projections automatically every N records (0: never).
        #[arg(long, default_value_t = 100_000)]
        checkpoint_every: u64,
    },
    /// Change the settings of an existing journal (no writer may be running); they apply
    /// from the next open on.
    Settings {
        dir: PathBuf,
        /// buffered | sync | periodic:<ms>
        #[arg(long, value_parser = parse_durability)]
        durability: Option<tradeledger::Durability>,
        /// Size in bytes of the segments created from now on (existing ones keep theirs).
        #[arg(long)]
        segment_size: Option<u64>,
        /// Write a checkpoint of the projections automatically every N records (0: never).
        #[arg(long)]
        checkpoint_every: Option<u64>,
    },
    /// Check every record, checksum and the segment chain; print a summary.
    ///
    /// With --anchor SEQ:HASH (a head anchor printed earlier by `status` or `verify`), also
    /// check that the journal still holds SEQ and that its history up to SEQ is unchanged;
    /// exit 2 when it is not. Events that break the contract's rules (written before the
    /// library checked them) are listed by seq, and exit 5 when there is no damage.
    Verify {
        dir: PathBuf,
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print events as JSON Lines (the interchange format, with seq and recorded_at).
    Dump {
        dir: PathBuf,
        #[arg(long)]
        from_seq: Option<u64>,
        #[arg(long)]
        to_seq: Option<u64>,
        /// Only records recorded at or after this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only records recorded at or before this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// Accepted for symmetry with the query commands; dump always prints JSON Lines.
        #[arg(long)]
        json: bool,
        /// Accepted for symmetry with the list commands; dump always prints JSON Lines.
        #[arg(long)]
        jsonl: bool,
    },
    /// Head sequence, segments, format version, durability, last hash.
    Status {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Follow a journal another process is writing, printing each new event as JSON Lines.
    ///
    /// Each committed event is printed once, in order; ends with exit code 0 on an interrupt
    /// (SIGINT, SIGTERM) or when the reader of its output goes away.
    Tail(tail_cmd::TailArgs),
    /// Append a JSON Lines file of events as one atomic batch.
    ///
    /// Creates the journal if DIR has none. The whole file is checked against the journal
    /// first; on any error nothing is appended.
    Import(import::ImportArgs),
    /// Generate trading load (signals, fills, closes, snapshots) and report throughput and
    /// latency.
    ///
    /// Creates the journal if DIR has none (with --durability), otherwise continues from its
    /// state: new tickets and signal ids, closing the trades an earlier run left open.
    Load(load_cmd::LoadArgs),
    /// Statistics of CLOSED trades (by exit time unless --by entry).
    Stats(query::StatsArgs),
    /// Trades by (entry_time, ticket), or one trade with --ticket.
    Trades(query::TradesArgs),
    /// Signals, most recent first.
    Signals(query::SignalsArgs),
    /// How many signals were executed.
    ExecutionRate(query::ExecutionRateArgs),
    /// Account snapshots of one account, by snapshot time.
    Snapshots(query::SnapshotsArgs),
    /// What the journal holds: its accounts, symbols, strategies and magic numbers, each with
    /// its counts of trades, signals or snapshots and its first and last time.
    Inventory(inventory::InventoryArgs),
    /// One row per UTC day on which trades were closed.
    Daily(query::DailyArgs),
    /// Winning, losing and breakeven days and the total over a range of days.
    Summary(query::DailyArgs),
    /// An account's equity over its snapshots: peak, trough, drawdowns, return.
    Equity(equity::EquityArgs),
    /// Write trades.csv, signals.csv, snapshots.csv and daily.csv into a folder, or the SQL
    /// tables into a SQLite file (--sqlite).
    Export(export::ExportArgs),
    /// Write one self-contained HTML page: equity, drawdown, P&L charts, monthly returns,
    /// per-strategy and per-symbol tables, recent trades, the figures of stats and summary.
    Report(report::ReportArgs),
    /// Serve the report page on 127.0.0.1 and update it live as the journal grows.
    Serve(report::ServeArgs),
    /// Summarize the state of the journal at a point of its history.
    Replay(maintenance::ReplayArgs),
    /// Write a checkpoint of the projections now (takes the writer lock).
    Checkpoint(maintenance::CheckpointArgs),
    /// Rebuild the projections by full replay and write a fresh checkpoint.
    ///
    /// The state is rebuilt under this build's projection version; the other checkpoints are
    /// removed once the fresh one is written (takes the writer lock).
    Upgrade(maintenance::CheckpointArgs),
    /// Copy the intact records of a damaged journal into a new journal (never in place), and
    /// say what was left behind.
    ///
    /// The records before the first damaged one are copied as stored (bytes, seqs, recording
    /// times), whole batches only, into NEW_DIR, a journal with the same id and settings.
    /// DIR is only read.
    Salvage(salvage::SalvageArgs),
    /// Keep SQL tables (the old system's layout) up to date with a journal: `sink postgres`.
    Sink(sink::SinkArgs),
    /// Publish every committed record of a journal to a NATS JetStream stream of its own,
    /// exactly once, and keep following it (docs/DISTRIBUTED.md).
    ///
    /// Each record travels as stored, as message number seq of the stream; the server
    /// refuses a gap or a second shipper (expected last sequence) and drops a retried
    /// publish (message id). Goes on from the stream's last message after any restart.
    Ship(nats::ship::ShipArgs),
    /// Keep a replica journal (same records, seqs and bytes) from a stream `ship` writes;
    /// every query command and `verify` work on it (docs/DISTRIBUTED.md).
    Mirror(nats::mirror::MirrorArgs),
}

fn parse_durability(text: &str) -> Result<tradeledger::Durability, String> {
    tradeledger::Durability::parse(text)
        .ok_or_else(|| format!("unknown durability {text:?}: use buffered, sync or periodic:<ms>"))
}

/// Parses the command line. A usage error exits with 1 (clap's own default, 2, means "damaged"
/// here); `--help` and `--version` print and exit with 0.
pub fn parse_args() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|error| {
        // Nothing more can be said if even this print fails.
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(EXIT_INPUT)
        } else {
            ExitCode::SUCCESS
        }
    })
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init {
            dir,
            segment_size,
            durability,
            checkpoint_every,
        } => journal_cmds::init(&dir, segment_size, durability, checkpoint_every),
        Command::Settings {
            dir,
            durability,
            segment_size,
            checkpoint_every,
        } => journal_cmds::settings(
            &dir,
            &tradeledger::storage::journal::SettingsChange {
                durability,
                segment_size_bytes: segment_size,
                checkpoint_every_records: checkpoint_every,
            },
        ),
        Command::Verify { dir, anchor, json } => {
            journal_cmds::verify(&dir, anchor.as_deref(), json)
        }
        Command::Dump {
            dir,
            from_seq,
            to_seq,
            since,
            until,
            json: _,
            jsonl: _,
        } => journal_cmds::dump(&dir, from_seq, to_seq, since.as_deref(), until.as_deref()),
        Command::Status { dir, json } => journal_cmds::status(&dir, json),
        Command::Tail(args) => tail_cmd::run(&args),
        Command::Demo(args) => demo_cmd::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Load(args) => load_cmd::run(&args),
        Command::Stats(args) => query::stats(&args),
        Command::Trades(args) => query::trades(&args),
        Command::Signals(args) => query::signals(&args),
        Command::ExecutionRate(args) => query::execution_rate(&args),
        Command::Snapshots(args) => query::snapshots(&args),
        Command::Inventory(args) => inventory::run(&args),
        Command::Daily(args) => query::daily(&args),
        Command::Summary(args) => query::summary(&args),
        Command::Equity(args) => equity::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Report(args) => report::report(&args),
        Command::Serve(args) => report::serve(&args),
        Command::Replay(args) => maintenance::replay(&args),
        Command::Checkpoint(args) => maintenance::checkpoint(&args),
        Command::Upgrade(args) => maintenance::upgrade(&args),
        Command::Sink(args) => sink::run(&args),
        Command::Salvage(args) => salvage::run(&args),
        Command::Ship(args) => nats::ship::run(&args),
        Command::Mirror(args) => nats::mirror::run(&args),
    }
}

/// The error and its causes, each cause once: the storage errors already print their cause
/// (`cannot create X: No space left on device`), so a cause whose text is already in the
/// message is not repeated.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// True when writing to stdout failed because its reader is gone (a closed pipe).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Maps an error to the documented exit code.
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    // A query that met a damaged checkpoint block is damage on disk, like a damaged journal.
    let query_damage = matches!(
        error.downcast_ref::<tradeledger::projection::QueryError>(),
        Some(tradeledger::projection::QueryError::Corrupt(_))
    );
    let code = match error.downcast_ref::<Error>() {
        _ if query_damage => EXIT_DAMAGED,
        Some(e) if e.is_corruption() => EXIT_DAMAGED,
        Some(Error::Io { .. }) => EXIT_IO,
        _ if sink::database_unreachable(error) => EXIT_IO,
        Some(Error::Locked { .. }) => EXIT_LOCKED,
        _ if nats::is_transient(error) => EXIT_IO,
        _ => EXIT_INPUT,
    };
    ExitCode::from(code)
}
