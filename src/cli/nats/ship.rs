//! `ship`: follows a journal and publishes every committed record to its JetStream stream,
//! pipelined, exactly once (`docs/DISTRIBUTED.md`).
//!
//! The position is the stream's: at every start, and after every refusal or lost
//! connection, the shipper asks the server for the stream's last sequence, checks that the
//! message there is its own record (bytes and id), and goes on from the next one. It keeps
//! no position of its own; `shipped.json` beside the journal only reports progress to
//! `status`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream::context::{CreateStreamErrorKind, PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::{self, stream};
use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};
use tradeledger::model::event::Timestamp;
use tradeledger::storage::limits::FOLLOW_RESYNC_AFTER_MS;
use tradeledger::storage::reader::{FollowOptions, Follower, JournalReader, RawRecord};

use super::{hex_id, msg_id, same_record, stored_record, Connection, Unavailable};

/// The progress file `ship` keeps in the journal folder (`docs/FORMAT.md` §1).
pub const PROGRESS_FILE: &str = "shipped.json";

#[derive(clap::Args)]
pub struct ShipArgs {
    /// The journal folder (live or at rest).
    dir: PathBuf,
    #[command(flatten)]
    connection: Connection,
    /// The stream's name (default TRADELEDGER_<journal id>). Created when missing.
    #[arg(long)]
    stream: Option<String>,
    /// Replicas of a stream it creates (default: 3 when the cluster has 3 servers or more,
    /// else 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=5))]
    replicas: Option<u64>,
    /// Ship the records committed when it starts, then exit.
    #[arg(long)]
    once: bool,
    /// Publishes awaiting their acknowledgement, at most.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    in_flight: u64,
    /// How long to sleep between looks for new records, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: u64,
    /// The duplicate window of a stream it creates, in milliseconds (tests shorten it, so
    /// that only the expected last sequence fences a second shipper).
    #[arg(long, value_name = "MS", default_value_t = 120_000, hide = true,
          value_parser = clap::value_parser!(u64).range(100..))]
    duplicate_window_ms: u64,
    /// How often to rewrite shipped.json while records are shipped, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    progress_ms: u64,
}

/// What `shipped.json` holds: the last record the stream acknowledged, and when.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    pub stream: String,
    /// The last record the stream holds (acknowledged or found there), 0 for none.
    pub shipped_seq: u64,
    /// When the journal recorded it, ns since the epoch (UTC).
    pub shipped_recorded_at_ns: Option<i64>,
    /// When the shipper wrote this, ns since the epoch (UTC).
    pub updated_at_ns: i64,
}

impl Progress {
    /// The progress file of the journal in `dir`, if a shipper wrote one.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Progress>> {
        let path = dir.join(PROGRESS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not a progress file of `ship`", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Written whole (a temporary file renamed over it); not synced: it reports, it decides
    /// nothing.
    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(PROGRESS_FILE);
        let tmp = dir.join(format!("{PROGRESS_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("write {}", path.display()))
    }
}

pub fn run(args: &ShipArgs) -> anyhow::Result<ExitCode> {
    super::block_on(ship(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn ship(args: &ShipArgs) -> anyhow::Result<()> {
    let reader = JournalReader::open(&args.dir)?;
    let id = reader.meta().journal_id;
    // With --once: the records committed now.
    let target = reader.head_seq()?;
    drop(reader);
    let name = args
        .stream
        .clone()
        .unwrap_or_else(|| super::default_stream(&id));
    let mut fenced = 0u64;
    loop {
        let mut shipper = Shipper::new(args, id, name.clone(), target);
        let outcome = shipper.session(&mut fenced).await;
        match outcome {
            Ok(()) => return Ok(()),
            Err(error) if super::is_transient(&error) => {
                tracing::warn!(
                    error = %crate::cli::error_text(&error),
                    retry_ms = args.connection.retry_ms,
                    "lost NATS; starting again from the stream's last sequence"
                );
                tokio::time::sleep(args.connection.retry()).await;
            }
            Err(error) => return Err(error),
        }
    }
}

struct Shipper<'a> {
    args: &'a ShipArgs,
    id: [u8; 16],
    name: String,
    subject: String,
    target: u64,
    progress: Progress,
    progress_written: Instant,
    /// The shipped seq `shipped.json` says.
    written_seq: u64,
    /// The last write of `shipped.json`, if it may still run.
    progress_write: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl<'a> Shipper<'a> {
    fn new(args: &'a ShipArgs, id: [u8; 16], name: String, target: u64) -> Shipper<'a> {
        Shipper {
            args,
            id,
            subject: super::subject(&id),
            progress: Progress {
                stream: name.clone(),
                shipped_seq: 0,
                shipped_recorded_at_ns: None,
                updated_at_ns: 0,
            },
            name,
            target,
            progress_written: Instant::now(),
            written_seq: u64::MAX,
            progress_write: None,
        }
    }

    /// One connection: find where the stream ends, then publish from there until an error
    /// (or, with --once, the target). After a refusal (wrong last sequence) it reads where
    /// the stream ends again and goes on from there.
    async fn session(&mut self, fenced: &mut u64) -> anyhow::Result<()> {
        let in_flight = usize::try_from(self.args.in_flight).unwrap_or(1024);
        let (client, js) = self.args.connection.connect(in_flight).await?;
        let mut stream = self.open_stream(&client, &js).await?;
        loop {
            let next = self.resume_point(&mut stream).await?;
            match self.publish_from(&js, &stream, next, in_flight).await? {
                Some(seq) => {
                    *fenced += 1;
                    tracing::warn!(
                        seq,
                        fenced = *fenced,
                        "the stream refused record {seq} (wrong last sequence): another shipper wrote there; reading where the stream ends"
                    );
                }
                None => return Ok(()),
            }
        }
    }

    /// Publishes from record `next` on; `Ok(None)` when done (--once), `Ok(Some(seq))` when
    /// the stream refused record `seq` because it did not end where this shipper thought.
    async fn publish_from(
        &mut self,
        js: &jetstream::Context,
        stream: &stream::Stream,
        mut next: u64,
        in_flight: usize,
    ) -> anyhow::Result<Option<u64>> {
        let dir = &self.args.dir;
        let options = FollowOptions {
            poll_interval: Duration::from_millis(self.args.poll_ms),
            resync_after: Duration::from_millis(FOLLOW_RESYNC_AFTER_MS),
        };
        let mut follower = Follower::open_with(dir, Some(next), options)?;
        // Records read but not yet published, each with the last seq of its batch.
        let mut pending: VecDeque<(RawRecord, u64)> = VecDeque::new();
        let mut acks: VecDeque<(u64, i64, PublishAckFuture)> = VecDeque::new();
        loop {
            let wanted = !self.args.once || next <= self.target;
            if wanted && pending.is_empty() && acks.len() < in_flight {
                let records = follower.poll_raw_up_to(in_flight - acks.len())?;
                let mut batch_end = 0;
                let mut ends: Vec<u64> = records
                    .iter()
                    .rev()
                    .map(|r| {
                        if r.batch_end {
                            batch_end = r.seq;
                        }
                        batch_end
                    })
                    .collect();
                ends.reverse();
                pending.extend(records.into_iter().zip(ends));
            }
            // Publish while there is room: many in flight, acknowledged in order below.
            while acks.len() < in_flight {
                let Some((record, batch_end)) = pending.pop_front() else {
                    break;
                };
                let ack = self.publish(js, &record, batch_end).await?;
                acks.push_back((record.seq, record.recorded_at.nanos(), ack));
                next = record.seq + 1;
            }
            let Some((seq, recorded_at, ack)) = acks.pop_front() else {
                self.write_progress(true)?;
                if self.args.once && next > self.target {
                    self.finish_progress()?;
                    return Ok(None);
                }
                tokio::time::sleep(options.poll_interval).await;
                continue;
            };
            match ack.await {
                Ok(ack) if ack.sequence == seq && !ack.duplicate => {}
                Ok(ack) if ack.duplicate && ack.sequence == seq => {
                    // A retry of a publish the stream has: check that it holds our record.
                    let ours = stored_record(dir, seq)?.context("record vanished")?;
                    same_record(stream, &self.id, &ours, dir).await?;
                    tracing::info!(seq, "the stream already held record {seq}: a duplicate publish, dropped by the server; its stored bytes checked");
                }
                Ok(ack) => bail!(super::other_history(
                    dir,
                    seq,
                    format!(
                        "record {seq} was stored as message {} of stream {} (duplicate: {}): the stream's sequence no longer follows the journal",
                        ack.sequence, ack.stream, ack.duplicate
                    )
                )),
                Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                    return Ok(Some(seq));
                }
                Err(error) => {
                    return Err(Unavailable(format!(
                        "publish of record {seq} to stream {}: {error}",
                        self.name
                    ))
                    .into())
                }
            }
            self.progress.shipped_seq = seq;
            self.progress.shipped_recorded_at_ns = Some(recorded_at);
            self.write_progress(false)?;
        }
    }

    async fn publish(
        &self,
        js: &jetstream::Context,
        record: &RawRecord,
        batch_end: u64,
    ) -> anyhow::Result<PublishAckFuture> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id(&self.id, record.seq).as_str());
        headers.insert(
            "Nats-Expected-Last-Sequence",
            (record.seq - 1).to_string().as_str(),
        );
        headers.insert(super::BATCH_END_HEADER, batch_end.to_string().as_str());
        let payload = bytes::Bytes::copy_from_slice(&record.bytes);
        js.publish_with_headers(self.subject.clone(), headers, payload)
            .await
            .map_err(|e| Unavailable(format!("publish of record {}: {e}", record.seq)).into())
    }

    /// The journal's stream, created when missing (one subject, the journal id in its
    /// description); refused when it belongs to another journal.
    async fn open_stream(
        &self,
        client: &async_nats::Client,
        js: &jetstream::Context,
    ) -> anyhow::Result<stream::Stream> {
        let servers = client.server_info().connect_urls.len().max(1);
        let replicas = match self.args.replicas {
            Some(n) => n as usize,
            None if servers >= 3 => 3,
            None => 1,
        };
        let config = stream::Config {
            name: self.name.clone(),
            description: Some(format!("{}{}", super::DESCRIPTION_PREFIX, hex_id(&self.id))),
            subjects: vec![self.subject.clone()],
            num_replicas: replicas,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_millis(self.args.duplicate_window_ms),
            ..Default::default()
        };
        let mut stream = js.get_or_create_stream(config).await.map_err(|e| {
            let refused = match e.kind() {
                CreateStreamErrorKind::JetStream(api) => api.code() != 503,
                CreateStreamErrorKind::InvalidStreamName
                | CreateStreamErrorKind::EmptyStreamName => true,
                _ => false,
            };
            let text = format!("cannot open or create stream {}: {e}", self.name);
            match refused {
                true => anyhow::anyhow!("the server refused: {text}"),
                false => Unavailable(text).into(),
            }
        })?;
        let info = stream
            .info()
            .await
            .map_err(|e| Unavailable(format!("stream {}: {e}", self.name)))?;
        let owner = super::stream_journal(info)?;
        if owner != self.id {
            bail!(
                "stream {} belongs to journal {}, not to {} ({}): choose another --stream",
                self.name,
                hex_id(&owner),
                hex_id(&self.id),
                self.args.dir.display()
            );
        }
        Ok(stream)
    }

    /// Where to go on: after the stream's last message, once that message was found to be
    /// the journal's record (never assumed).
    async fn resume_point(&mut self, stream: &mut stream::Stream) -> anyhow::Result<u64> {
        let dir = &self.args.dir;
        let info =
            (stream.info().await).map_err(|e| Unavailable(format!("stream {}: {e}", self.name)))?;
        let state = info.state.clone();
        let last = state.last_sequence;
        if state.messages != last || (last > 0 && state.first_sequence != 1) {
            bail!(super::other_history(
                dir,
                state.first_sequence,
                format!(
                    "stream {} holds {} messages, seq {} to {}: not the journal's records from seq 1 on (were messages removed?)",
                    self.name, state.messages, state.first_sequence, last
                )
            ));
        }
        if last > 0 {
            let Some(ours) = stored_record(dir, last)? else {
                bail!(super::other_history(
                    dir,
                    last,
                    format!(
                        "stream {} holds records up to seq {last}, but the journal ends before: it lost records the stream holds (cut after a power loss?), or the stream is another journal's",
                        self.name
                    )
                ));
            };
            same_record(stream, &self.id, &ours, dir).await?;
            self.progress.shipped_recorded_at_ns = Some(ours.recorded_at.nanos());
        }
        self.progress.shipped_seq = last;
        self.write_progress(true)?;
        tracing::info!(stream = %self.name, last_seq = last, "shipping from the stream's last sequence");
        Ok(last + 1)
    }

    /// Waits for the running write of `shipped.json`, then writes it if it is behind.
    fn finish_progress(&mut self) -> anyhow::Result<()> {
        self.join_progress()?;
        if self.progress.shipped_seq != self.written_seq {
            self.written_seq = self.progress.shipped_seq;
            self.progress.updated_at_ns = Timestamp::now().nanos();
            self.progress.write(&self.args.dir)?;
        }
        Ok(())
    }

    /// Waits for the running write of `shipped.json`; reports its failure.
    fn join_progress(&mut self) -> anyhow::Result<()> {
        match self.progress_write.take() {
            Some(write) => write
                .join()
                .map_err(|_| anyhow::anyhow!("the progress writer panicked"))?,
            None => Ok(()),
        }
    }

    /// Rewrites `shipped.json` when `changed` and the position moved, or every
    /// `--progress-ms` (so that its time shows the shipper is alive).
    fn write_progress(&mut self, changed: bool) -> anyhow::Result<()> {
        let due = self.progress_written.elapsed() >= Duration::from_millis(self.args.progress_ms);
        let moved = self.progress.shipped_seq != self.written_seq;
        if (changed && moved) || due {
            // Written on a blocking thread, one write at a time: a rename that waits for a
            // busy file system must not hold the publishes back.
            if self
                .progress_write
                .as_ref()
                .is_some_and(|w| !w.is_finished())
            {
                return Ok(());
            }
            self.join_progress()?;
            self.written_seq = self.progress.shipped_seq;
            self.progress.updated_at_ns = Timestamp::now().nanos();
            let (progress, dir) = (self.progress.clone(), self.args.dir.clone());
            self.progress_write = Some(std::thread::spawn(move || progress.write(&dir)));
            self.progress_written = Instant::now();
        }
        Ok(())
    }
}

impl Drop for Shipper<'_> {
    /// The next session's shipper writes the same file: the last write ends first.
    fn drop(&mut self) {
        if let Err(error) = self.join_progress() {
            tracing::warn!(error = %crate::cli::error_text(&error), "writing shipped.json failed");
        }
    }
}

/// The shipping lag of the journal in `dir` whose head is `head`: `(progress, records not
/// yet in the stream, age in seconds of the oldest of them)`, from `shipped.json`.
pub fn lag(dir: &Path, head: u64) -> anyhow::Result<Option<(Progress, u64, f64)>> {
    let Some(progress) = Progress::read(dir)? else {
        return Ok(None);
    };
    let behind = head.saturating_sub(progress.shipped_seq);
    let seconds = if behind == 0 {
        0.0
    } else {
        match stored_record(dir, progress.shipped_seq + 1)? {
            Some(oldest) => {
                (Timestamp::now().nanos() - oldest.recorded_at.nanos()).max(0) as f64 / 1e9
            }
            None => 0.0,
        }
    };
    Ok(Some((progress, behind, seconds)))
}
