//! What the read-only commands share: the journal and point of history they read, option
//! parsers for the `T` and `D` bounds of `docs/INTERCHANGE.md` §5, and JSON output.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use serde::Serialize;
use tradeledger::ledger::AsOf;
use tradeledger::model::event::{Timestamp, TradeStatus};
use tradeledger::projection::Projections;
use tradeledger::storage::folder::META_FILE_NAME;

/// The journal a read-only command reads, and at which point of its history.
#[derive(Args)]
pub struct Source {
    /// The journal folder.
    pub dir: PathBuf,
    /// Read the state at a point of history: after sequence number SEQ, or after the records
    /// appended at or before TIME (RFC 3339, or a date meaning its last nanosecond).
    #[arg(long, value_name = "SEQ|TIME", value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
    /// Read the book as of trading time T (RFC 3339, or a date meaning its last nanosecond):
    /// the events whose own time (entry, exit, snapshot, signal time) is at or before T,
    /// whenever the journal recorded them. Replays the whole journal.
    #[arg(long, value_name = "T", value_parser = parse_to, conflicts_with = "as_of")]
    pub at_event_time: Option<Timestamp>,
    /// Print one JSON document (docs/INTERCHANGE.md §5) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--journal DIR`: more journals for a command that answers over several (a firm-wide view).
#[derive(Args)]
pub struct MoreJournals {
    /// Another journal, or folder of journals, to answer over as well (repeatable).
    #[arg(long = "journal", value_name = "DIR")]
    pub journals: Vec<PathBuf>,
}

/// The journals a folder stands for: itself when it holds a journal; otherwise, when some of
/// its subfolders do (a folder of mirrors), those, by name; otherwise itself (whose load then
/// says that it is no journal).
fn journals_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.join(META_FILE_NAME).exists() || !dir.is_dir() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let listing = std::fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))?;
    let mut journals = Vec::new();
    for entry in listing {
        let path = entry
            .with_context(|| format!("list {}", dir.display()))?
            .path();
        if path.join(META_FILE_NAME).exists() {
            journals.push(path);
        }
    }
    journals.sort();
    if journals.is_empty() {
        journals.push(dir.to_path_buf());
    }
    Ok(journals)
}

impl Source {
    /// Each journal of DIR and of `more` (a folder of mirrors stands for its journals) with
    /// its projections at the chosen point. A seq names a point of one journal only.
    pub fn load_all(&self, more: &MoreJournals) -> anyhow::Result<Vec<(PathBuf, Projections)>> {
        let mut dirs = journals_in(&self.dir)?;
        for dir in &more.journals {
            dirs.extend(journals_in(dir)?);
        }
        if dirs.len() > 1 && matches!(self.as_of, Some(AsOf::Seq(_))) {
            anyhow::bail!(
                "--as-of takes a TIME with several journals: a sequence number belongs to one"
            );
        }
        dirs.into_iter()
            .map(|dir| Ok((dir.clone(), self.load_dir(&dir)?)))
            .collect()
    }

    /// The projections at the chosen point, read without the writer lock and without writing.
    pub fn load(&self) -> anyhow::Result<Projections> {
        self.load_dir(&self.dir)
    }

    fn load_dir(&self, dir: &Path) -> anyhow::Result<Projections> {
        if let Some(time) = self.at_event_time {
            let (state, left_out) = super::progress::load_at_event_time(dir, time)?;
            eprintln!(
                "note: --at-event-time {time} reads the events whose own time is at or before \
                 it, whenever recorded; {left_out} records left out"
            );
            return Ok(state);
        }
        let (state, report) = super::progress::load_read_only(dir, self.as_of)?;
        for ignored in &report.ignored_checkpoints {
            tracing::info!(path = %ignored.path.display(), reason = %ignored.reason, "checkpoint not used");
        }
        if let Some(AsOf::Time(time)) = self.as_of {
            say_which_clock(dir, time)?;
        }
        if let Some(AsOf::Seq(seq)) = self.as_of {
            if state.head_seq() < seq {
                anyhow::bail!(
                    "--as-of {seq}: {} holds records up to seq {} only",
                    dir.display(),
                    state.head_seq()
                );
            }
        }
        if state.ignored_events() > 0 {
            tracing::warn!(
                count = state.ignored_events(),
                "the journal holds events that the current rules refuse; they were skipped"
            );
        }
        Ok(state)
    }
}

/// `--as-of TIME` selects by the time the journal recorded each event, not by the events'
/// own (trading) times: said on stderr, with a warning when that time is before the first
/// record, which leaves an empty state.
fn say_which_clock(dir: &Path, time: Timestamp) -> anyhow::Result<()> {
    let reader = tradeledger::JournalReader::open(dir)?;
    let first = reader.records(1).next().transpose()?;
    eprintln!(
        "note: --as-of {time} reads the records the journal recorded at or before it \
         (their recorded_at), whatever the events' own times"
    );
    if let Some(first) = first.filter(|first| first.recorded_at > time) {
        eprintln!(
            "warning: {time} is before the journal's first record (seq {}, recorded at {}): \
             the state is empty",
            first.seq, first.recorded_at
        );
    }
    Ok(())
}

/// `--as-of`: digits are a sequence number; anything else a time (a date means its end).
pub fn parse_as_of(text: &str) -> Result<AsOf, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(AsOf::Seq)
            .map_err(|e| format!("sequence number {text}: {e}"));
    }
    parse_to(text).map(AsOf::Time)
}

fn time_bound(text: &str, end_of_day: bool) -> Result<Timestamp, String> {
    parse_time_bound(text, end_of_day).map_err(|_| {
        format!(
            "{text:?} is neither an RFC 3339 time with an offset (Z or +hh:mm) nor a date YYYY-MM-DD"
        )
    })
}

/// A `T` lower bound: RFC 3339, or a date meaning its 00:00:00Z.
pub fn parse_from(text: &str) -> Result<Timestamp, String> {
    time_bound(text, false)
}

/// A `T` upper bound: RFC 3339, or a date meaning its 23:59:59.999999999Z.
pub fn parse_to(text: &str) -> Result<Timestamp, String> {
    time_bound(text, true)
}

/// A `D` bound: a calendar date `YYYY-MM-DD` (UTC).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let well_formed = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    well_formed
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not a date YYYY-MM-DD"))
}

/// `--status`, case-insensitive.
pub fn parse_status(text: &str) -> Result<TradeStatus, String> {
    TradeStatus::parse(text).ok_or_else(|| {
        format!("{text:?} is not a status: use PENDING, OPEN, CLOSED, CANCELLED or FAILED")
    })
}

/// Prints `value` as one JSON document on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string(value).context("serialize the result as JSON")?;
    text.push('\n');
    write_stdout(&text)
}

/// Writes `text` to stdout and flushes it.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("write to stdout")
}

/// A `--since/--until` bound: RFC 3339, or a date meaning its first (or last) nanosecond.
pub fn parse_time_bound(text: &str, end_of_day: bool) -> anyhow::Result<Timestamp> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = if end_of_day {
            date.and_hms_nano_opt(23, 59, 59, 999_999_999)
        } else {
            date.and_hms_opt(0, 0, 0)
        }
        .expect("valid time of day");
        return Timestamp::from_datetime(time.and_utc())
            .with_context(|| format!("date {text} is out of range"));
    }
    Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_is_a_seq_or_a_time() {
        assert_eq!(parse_as_of("42"), Ok(AsOf::Seq(42)));
        let end = Timestamp::parse_rfc3339("2024-01-02T23:59:59.999999999Z").unwrap();
        assert_eq!(parse_as_of("2024-01-02"), Ok(AsOf::Time(end)));
        assert!(parse_as_of("2024-01-02T10:00:00").is_err());
        assert!(parse_as_of("99999999999999999999999").is_err());
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2024-01-02").is_ok());
        assert!(parse_date("2024-1-2").is_err());
        assert!(parse_date("2024-01-02T00:00:00Z").is_err());
        assert!(parse_date("2024-02-30").is_err());
    }
}
