//! `ship` and `mirror`: a journal copied, record for record, into a NATS JetStream stream of
//! its own, and a replica journal kept from that stream (`docs/DISTRIBUTED.md`).
//!
//! Each record travels exactly as stored (its frame's bytes: `docs/FORMAT.md` §4) as one
//! message, the stream's sequence number equal to the record's. The server enforces it:
//! every publish carries `Nats-Expected-Last-Sequence = seq - 1` (a gap or a second writer is
//! refused) and `Nats-Msg-Id = <journal id>:<seq>` (a retried publish is dropped as a
//! duplicate).

pub mod mirror;
pub mod ship;

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};
use tradeledger::storage::format::read_frame;
use tradeledger::storage::reader::{Follower, RawRecord};
use tradeledger::Error;

/// The header naming the last seq of the record's batch: a consumer applies a batch once it
/// holds the record with that seq (the frame's batch-end flag says the same, checksummed).
pub const BATCH_END_HEADER: &str = "Tradeledger-Batch-End";

/// The stream's description: it names the journal, so that neither command mixes journals.
const DESCRIPTION_PREFIX: &str = "tradeledger journal ";

/// NATS could not be reached or did not answer: an I/O failure (exit code 3), unlike a
/// refusal.
#[derive(Debug, thiserror::Error)]
#[error("NATS: {0}")]
pub struct Unavailable(pub String);

/// The stream holds another history than the journal at `seq`: refused (exit code 2).
pub fn other_history(dir: &std::path::Path, seq: u64, why: String) -> anyhow::Error {
    Error::corrupt(dir, 0, Some(seq), why).into()
}

/// Runs `future` on a runtime of two threads: the client's connection task (reading
/// acknowledgements, writing publishes) runs beside the command's loop.
pub fn block_on<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?
        .block_on(future)
}

/// The journal id as 32 hexadecimal digits.
pub fn hex_id(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 32 hexadecimal digits.
fn parse_hex_id(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

/// The default stream name and the subject of a journal's stream.
pub fn default_stream(id: &[u8; 16]) -> String {
    format!("TRADELEDGER_{}", hex_id(id))
}

pub fn subject(id: &[u8; 16]) -> String {
    format!("tradeledger.{}", hex_id(id))
}

/// The message id of record `seq`.
pub fn msg_id(id: &[u8; 16], seq: u64) -> String {
    format!("{}:{seq}", hex_id(id))
}

/// The journal a stream belongs to, from its description.
pub fn stream_journal(info: &stream::Info) -> anyhow::Result<[u8; 16]> {
    let description = info.config.description.as_deref().unwrap_or_default();
    description
        .strip_prefix(DESCRIPTION_PREFIX)
        .and_then(parse_hex_id)
        .with_context(|| {
            format!(
                "stream {} is not a tradeledger journal's (its description is {description:?})",
                info.config.name
            )
        })
}

/// Connection settings shared by `ship` and `mirror`.
#[derive(clap::Args, Clone, Debug)]
pub struct Connection {
    /// NATS server URLs, comma-separated (nats://host:port,…).
    #[arg(
        long,
        value_name = "URL[,URL…]",
        value_delimiter = ',',
        required = true
    )]
    pub nats: Vec<String>,
    /// How long to wait before starting again after NATS was lost, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub retry_ms: u64,
    /// How long to wait for an answer of the server (a publish acknowledgement, a request),
    /// in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
}

impl Connection {
    /// A client and a JetStream context, with at most `in_flight` publishes unacknowledged.
    pub async fn connect(
        &self,
        in_flight: usize,
    ) -> anyhow::Result<(async_nats::Client, jetstream::Context)> {
        let timeout = Duration::from_millis(self.timeout_ms.max(1));
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .connect(self.nats.as_slice())
            .await
            .map_err(|e| Unavailable(format!("cannot connect to {}: {e}", self.nats.join(","))))?;
        let context = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .ack_timeout(timeout)
            .max_ack_inflight(in_flight.max(1))
            .backpressure_on_inflight(true)
            .build(client.clone());
        Ok((client, context))
    }

    pub fn retry(&self) -> Duration {
        Duration::from_millis(self.retry_ms)
    }
}

/// Whether `error` is NATS being unreachable or slow (start again), not a refusal.
pub fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Unavailable>())
}

/// The record `seq` of the journal in `dir`, as stored; `None` when the journal ends before.
pub fn stored_record(dir: &std::path::Path, seq: u64) -> anyhow::Result<Option<RawRecord>> {
    let mut follower = Follower::open(dir, Some(seq))?;
    let records = follower.poll_raw_up_to(1)?;
    Ok(records.into_iter().find(|r| r.seq == seq))
}

/// Checks that message `seq` of the stream (its payload and message id) is the record `ours`
/// of the journal `id`: the stream and the journal share their history up to `seq`.
pub async fn same_record(
    stream: &stream::Stream,
    id: &[u8; 16],
    ours: &RawRecord,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let seq = ours.seq;
    let message = stream
        .get_raw_message(seq)
        .await
        .map_err(|e| Unavailable(format!("cannot read message {seq} of the stream: {e}")))?;
    let their_id = message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    if message.payload.as_ref() != ours.bytes.as_slice() || their_id != msg_id(id, seq) {
        return Err(other_history(
            dir,
            seq,
            format!(
                "message {seq} of the stream (id {their_id:?}) is not the journal's record {seq}: the stream holds another history; refusing to go on"
            ),
        ));
    }
    Ok(())
}

/// Checks a record received from the stream at `seq`: its frame validates with the
/// journal's seed at that seq (the frame's checksum covers its bytes and its seq), and its
/// payload decodes. Returns whether it ends its batch.
pub fn check_frame(bytes: &[u8], seed: u32, seq: u64) -> Result<bool, String> {
    let mut padded = bytes.to_vec();
    padded.resize(tradeledger::storage::format::align_up(bytes.len()), 0);
    let frame = read_frame(&padded, seed).map_err(|e| format!("message {seq}: {e}"))?;
    if frame.len() != bytes.len() || frame.header.seq != seq {
        return Err(format!(
            "message {seq} holds a frame of {} bytes with seq {} ({} bytes received)",
            frame.len(),
            frame.header.seq,
            bytes.len()
        ));
    }
    let h = frame.header;
    tradeledger::model::codec::decode(h.kind, h.codec, h.schema, frame.payload)
        .map_err(|e| format!("message {seq}: the record does not decode: {e}"))?;
    Ok(h.batch_end())
}
