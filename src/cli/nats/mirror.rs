//! `mirror`: keeps a replica journal from a journal's stream (`docs/DISTRIBUTED.md`).
//!
//! The replica has the origin's journal id, and each record is appended exactly as the
//! origin stored it (`Journal::append_stored`), so it holds the same records with the same
//! seqs, bytes and recorded_at times; only the segment files differ. Each message is checked
//! as it arrives: the stream's sequence is the next seq, the message id names it, the frame
//! validates with the journal's seed at that seq and its payload decodes. Records are
//! appended a whole batch at a time, when the record with the batch-end flag arrives.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream::consumer::{push, DeliverPolicy};
use futures_util::StreamExt;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};

use super::{hex_id, msg_id, same_record, stored_record, Connection, Unavailable};

#[derive(clap::Args)]
pub struct MirrorArgs {
    #[command(flatten)]
    connection: Connection,
    /// The stream `ship` writes the journal to.
    #[arg(long)]
    stream: String,
    /// The replica journal's folder (created on the first run).
    dir: PathBuf,
    /// Copy the messages the stream holds when it starts, then exit.
    #[arg(long)]
    once: bool,
    /// After this long without a message while the stream holds records the replica lacks,
    /// in milliseconds: with --once, give up; otherwise the consumer is stuck (its server
    /// lost, the stream's leader moved), and a new one starts from the replica's head.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    idle_ms: u64,
    /// How often the replica is flushed while records arrive, at most, in milliseconds (on a
    /// thread of its own: copying goes on meanwhile); also once no message came for that
    /// long.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    flush_ms: u64,
}

pub fn run(args: &MirrorArgs) -> anyhow::Result<ExitCode> {
    super::block_on(mirror(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn mirror(args: &MirrorArgs) -> anyhow::Result<()> {
    let mut journal: Option<Arc<Journal>> = None;
    loop {
        match session(args, &mut journal).await {
            Ok(()) => break,
            Err(error) if super::is_transient(&error) => {
                tracing::warn!(
                    error = %crate::cli::error_text(&error),
                    retry_ms = args.connection.retry_ms,
                    "lost NATS; starting again from the replica's head"
                );
                tokio::time::sleep(args.connection.retry()).await;
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(journal) = journal.and_then(|j| Arc::try_unwrap(j).ok()) {
        journal.close()?;
    }
    Ok(())
}

/// The replica journal: opened, or created with the origin's id on the first run.
fn open_replica(args: &MirrorArgs, id: &[u8; 16]) -> anyhow::Result<Journal> {
    let dir = &args.dir;
    if dir
        .join(tradeledger::storage::folder::META_FILE_NAME)
        .exists()
    {
        let journal = Journal::open(dir, &OpenMode::default())?;
        if journal.meta().journal_id != *id {
            bail!(
                "{} is a replica of journal {}, not of {} (stream {})",
                dir.display(),
                hex_id(&journal.meta().journal_id),
                hex_id(id),
                args.stream
            );
        }
        return Ok(journal);
    }
    let options = JournalOptions {
        journal_id: Some(*id),
        checkpoint_every_records: 0,
        ..JournalOptions::default()
    };
    Ok(Journal::create(dir, &options)?)
}

/// One connection: check that the replica's head is the stream's record, then copy on.
async fn session(args: &MirrorArgs, replica: &mut Option<Arc<Journal>>) -> anyhow::Result<()> {
    let (client, js) = args.connection.connect(1).await?;
    let mut stream = js
        .get_stream(&args.stream)
        .await
        .map_err(|e| Unavailable(format!("stream {}: {e}", args.stream)))?;
    let info =
        (stream.info().await).map_err(|e| Unavailable(format!("stream {}: {e}", args.stream)))?;
    let id = super::stream_journal(info)?;
    let last = info.state.last_sequence;
    if replica.is_none() {
        *replica = Some(Arc::new(open_replica(args, &id)?));
    }
    let journal = replica.as_ref().expect("opened above");
    let seed = journal.meta().frame_seed();
    let dir = &args.dir;
    let head = journal.head_seq();
    if head > last {
        bail!(super::other_history(
            dir,
            head,
            format!(
                "the replica holds records up to seq {head}, but stream {} ends at seq {last}: it is not this replica's stream (recreated?)",
                args.stream
            )
        ));
    }
    if head > 0 {
        let ours = stored_record(dir, head)?.context("the replica's head vanished")?;
        same_record(&stream, &id, &ours, dir).await?;
    }
    if args.once && head >= last {
        return Ok(());
    }
    let consumer = stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: super::subject(&id),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: head + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| Unavailable(format!("consumer on stream {}: {e}", args.stream)))?;
    let mut messages = (consumer.messages().await)
        .map_err(|e| Unavailable(format!("messages of stream {}: {e}", args.stream)))?;
    tracing::info!(
        stream = args.stream,
        from_seq = head + 1,
        "mirroring from the replica's head"
    );
    let mut batch: Vec<bytes::Bytes> = Vec::new();
    let mut expected = head + 1;
    let idle = Duration::from_millis(args.idle_ms.max(1));
    let mut flusher = Flusher::new(Duration::from_millis(args.flush_ms.max(1)));
    loop {
        let wait = if flusher.unflushed {
            flusher.every
        } else {
            idle
        };
        let message = match tokio::time::timeout(wait, messages.next()).await {
            Ok(Some(message)) => {
                message.map_err(|e| Unavailable(format!("stream {}: {e}", args.stream)))?
            }
            Ok(None) => return Err(Unavailable(format!("stream {} ended", args.stream)).into()),
            Err(_) if flusher.unflushed => {
                flusher.start(journal).await?;
                continue;
            }
            Err(_) => {
                if args.once && expected > last {
                    // Every message the stream held at the start arrived; the last ones
                    // wait for their batch's end, which a shipper has not published yet.
                    flusher.finish().await?;
                    journal.flush()?;
                    tracing::warn!(
                        replica_head = journal.head_seq(),
                        stream_last = last,
                        "the stream ends inside a batch: its last records wait for the batch's end"
                    );
                    return Ok(());
                }
                if args.once {
                    bail!(
                        "stream {} sent nothing for {} ms with records up to seq {last} still to copy (the replica is at seq {})",
                        args.stream,
                        args.idle_ms,
                        journal.head_seq()
                    );
                }
                // The client recreates a consumer it lost by itself, but with retries up to
                // 10 s apart, and from the stream's start when it had delivered nothing yet:
                // a quiet consumer is compared with the stream instead of trusted.
                let info = (stream.info().await)
                    .map_err(|e| Unavailable(format!("stream {}: {e}", args.stream)))?;
                let now_last = info.state.last_sequence;
                if now_last >= expected {
                    return Err(Unavailable(format!(
                        "stream {} holds records up to seq {now_last} but sent nothing after seq {} for {} ms",
                        args.stream,
                        expected - 1,
                        args.idle_ms
                    ))
                    .into());
                }
                continue;
            }
        };
        let info = message
            .info()
            .map_err(|e| Unavailable(format!("message of stream {}: {e}", args.stream)))?;
        let seq = info.stream_sequence;
        let refuse = |why: String| super::other_history(dir, seq, why);
        if seq != expected {
            return Err(refuse(format!(
                "stream {} delivered message {seq} where seq {expected} was next",
                args.stream
            )));
        }
        let headers = message.headers.as_ref();
        let header = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_string())
        };
        if header("Nats-Msg-Id").as_deref() != Some(msg_id(&id, seq).as_str()) {
            return Err(refuse(format!(
                "message {seq} has id {:?}, not {:?}",
                header("Nats-Msg-Id"),
                msg_id(&id, seq)
            )));
        }
        let ends_batch = super::check_frame(&message.payload, seed, seq).map_err(refuse)?;
        let batch_end: Option<u64> = header(super::BATCH_END_HEADER).and_then(|v| v.parse().ok());
        if batch_end.is_some_and(|end| (end == seq) != ends_batch) {
            return Err(refuse(format!(
                "message {seq} says its batch ends at seq {batch_end:?}, its frame says {}",
                if ends_batch { "here" } else { "later" }
            )));
        }
        batch.push(message.payload.clone());
        expected += 1;
        if ends_batch {
            let frames: Vec<&[u8]> = batch.iter().map(|b| b.as_ref()).collect();
            let appended = journal.append_stored(&frames)?;
            batch.clear();
            let lag_ms = (Timestamp::now().nanos() - appended.recorded_at.nanos()) as f64 / 1e6;
            tracing::debug!(seq, lag_ms, "mirrored a batch");
        }
        flusher.unflushed |= ends_batch;
        if flusher.unflushed && flusher.due() {
            flusher.start(journal).await?;
        }
        if args.once && batch.is_empty() && journal.head_seq() >= last {
            flusher.finish().await?;
            journal.flush()?;
            return Ok(());
        }
    }
}

/// Flushes the replica on a blocking thread, one flush at a time, at most every `every`:
/// a flush (an msync and fdatasync that a loaded disk may hold for long) never stops the
/// copying, and the records appended meanwhile are covered by the next one.
struct Flusher {
    every: Duration,
    last: Instant,
    /// Records were appended since the last flush started.
    unflushed: bool,
    running: Option<tokio::task::JoinHandle<Result<(), tradeledger::Error>>>,
}

impl Flusher {
    fn new(every: Duration) -> Flusher {
        Flusher {
            every,
            last: Instant::now(),
            unflushed: false,
            running: None,
        }
    }

    fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Starts a flush unless one is running; reports the failure of the last one.
    async fn start(&mut self, journal: &Arc<Journal>) -> anyhow::Result<()> {
        if self.running.as_ref().is_some_and(|f| !f.is_finished()) {
            return Ok(());
        }
        self.finish().await?;
        let journal = Arc::clone(journal);
        self.running = Some(tokio::task::spawn_blocking(move || journal.flush()));
        (self.unflushed, self.last) = (false, Instant::now());
        Ok(())
    }

    /// Waits for the running flush and reports its failure.
    async fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(flush) = self.running.take() {
            flush.await.context("the flush thread")??;
        }
        Ok(())
    }
}
