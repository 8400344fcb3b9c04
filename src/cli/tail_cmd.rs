//! `tail`: follows a journal another process is writing and prints each committed event
//! once, until interrupted or until the reader of its output goes away.
//!
//! Waiting costs no CPU: between polls the command sleeps on the async runtime's timer,
//! woken early by SIGINT or SIGTERM (which end it with exit code 0). A closed standard
//! output is noticed even while the journal is idle: before each sleep, `poll(2)` asks the
//! kernel whether stdout reports an error or a hang-up (the read end of a pipe closed), so
//! `tradeledger tail DIR | head -3` ends soon after `head` does, without waiting for a
//! record to write.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rustix::event::{PollFd, PollFlags};
use tokio::signal::unix::{signal, SignalKind};
use tradeledger::storage::limits::{FOLLOW_RESYNC_AFTER_MS, TAIL_POLL_INTERVAL_MS};
use tradeledger::storage::reader::{FollowOptions, Follower};

use super::journal_cmds::write_record;

#[derive(Args)]
pub struct TailArgs {
    dir: PathBuf,
    /// Start at this sequence number instead of the end.
    #[arg(long)]
    from_seq: Option<u64>,
    /// Accepted; tail always prints JSON Lines.
    #[arg(long)]
    json: bool,
    /// How long to sleep between looks for new records, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = TAIL_POLL_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: u64,
    /// After this many milliseconds without a new record, check that the files read are
    /// still the journal's (and open it afresh if bytes that cannot be read yet block the way).
    #[arg(long, value_name = "MS", default_value_t = FOLLOW_RESYNC_AFTER_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    resync_ms: u64,
}

pub fn run(args: &TailArgs) -> anyhow::Result<ExitCode> {
    let _ = args.json; // accepted for symmetry with the other commands
    let options = FollowOptions {
        poll_interval: Duration::from_millis(args.poll_ms),
        resync_after: Duration::from_millis(args.resync_ms),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(follow(args, options))
}

async fn follow(args: &TailArgs, options: FollowOptions) -> anyhow::Result<ExitCode> {
    // Listening before anything is printed: an interrupt from then on ends the loop cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let mut follower = Follower::open_with(&args.dir, args.from_seq, options)?;
    eprintln!(
        "following {} from seq {} (interrupt to stop)",
        args.dir.display(),
        follower.from_seq()
    );
    let stdout = std::io::stdout();
    let mut line = String::new();
    loop {
        let records = follower.poll()?;
        if !records.is_empty() {
            let mut out = stdout.lock();
            for record in &records {
                write_record(&mut out, &mut line, record)?;
            }
            out.flush().context("write to stdout")?;
        }
        if output_closed(&stdout)? {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = interrupt.recv() => return Ok(ExitCode::SUCCESS),
            _ = terminate.recv() => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(options.poll_interval) => {}
        }
    }
}

/// True when standard output reports an error or a hang-up: the reader of the pipe (or
/// socket) is gone, so nothing more can be written. Asks for no event, so a file or a
/// terminal, always writable, reports nothing and this does not block.
fn output_closed(stdout: &std::io::Stdout) -> anyhow::Result<bool> {
    let mut fds = [PollFd::new(stdout, PollFlags::empty())];
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(false),
        Err(error) => return Err(std::io::Error::from(error)).context("poll stdout"),
    }
    let revents = fds[0].revents();
    if revents.contains(PollFlags::NVAL) {
        anyhow::bail!("standard output is not open");
    }
    Ok(revents.intersects(PollFlags::ERR | PollFlags::HUP))
}
