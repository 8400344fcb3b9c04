//! The single writer: appending batches, rolling segments, flushing; its background work is
//! in `background.rs`, the group commit in `storage/commit.rs`.
//!
//! Appends run on the caller's thread: encoding outside any lock, then one short critical
//! section that copies the frames into mapped memory and publishes them. Durability is the
//! caller's too: in `Sync` mode the appending thread joins a group and either leads its
//! flush or waits for it (group commit, `storage/commit.rs`), so no append pays a hand-off
//! to a writer thread on top of its flush (a wake-up costs ~30 µs each way here:
//! ARCHITECTURE.md, "Measured costs").
//!
//! A background thread does what must stay off the append path: preparing the next segment
//! (zero-filled, mapped, pre-faulted), sealing rolled segments (sync, hash, chain link) and,
//! in `Periodic` mode, flushing on a timer. A second thread pre-faults pages one window ahead
//! of the writer, so that this never waits behind the first one's disk work.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};

use crate::error::Error;
use crate::model::codec::{self, CODEC_POSTCARD};
use crate::model::event::{Event, Timestamp};
use crate::storage::commit::{Committed, GroupCommit};
use crate::storage::format::{
    complete_frame, frame_size, write_frame, Durability, FrameHeader, JournalMeta, SegmentHeader,
    Watermark, FLAG_BATCH_END, FORMAT_VERSION, FRAME_HEADER_SIZE, PAYLOAD_SIZE_MAX,
    SEGMENT_HEADER_SIZE,
};
use crate::storage::limits::segment_capacity;
use crate::storage::mmap::{Map, MapWriter};
use crate::storage::segment::{self};
use crate::storage::Storage;
use crate::sync::lock;

/// Pages are pre-faulted one window at a time, up to `PREFAULT_LEAD` windows ahead of the
/// write position. Flat out, pre-faulting a window (256 `page_mkwrite`s) took about as long as
/// the writer took to fill one, so with one window of lead the writer faulted ~2 k times per
/// million appends; with three, it stays ahead.
mod background;

use background::{Job, Prepared, Seal, Window};

const PREFAULT_WINDOW_BYTES: usize = 1 << 20;

const PREFAULT_LEAD: usize = 3;

/// Where the recorded_at times and segment creation times come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system's real-time clock.
    #[default]
    System,
    /// Every time is this one: for byte-exact fixtures and tests.
    Fixed(Timestamp),
}

impl Clock {
    /// The current time by this clock.
    pub fn now(self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(t) => t,
        }
    }
}

/// The sequence numbers an append was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The sequence number of the batch's first event.
    pub first_seq: u64,
    /// The sequence number of the batch's last event.
    pub last_seq: u64,
    /// When the journal received the batch (UTC), the same in each of its records.
    pub recorded_at: Timestamp,
    /// Bytes the batch's frames take in the segment.
    pub bytes: u64,
}

/// A segment of the journal as the writer process knows it.
#[derive(Clone)]
pub struct SegmentEntry {
    pub path: PathBuf,
    pub first_seq: u64,
    pub index: u64,
    pub map: Arc<Map>,
}

/// The active segment and everything only the writer touches.
struct WriterState {
    active: SegmentEntry,
    writer: MapWriter,
    write_offset: usize,
    /// `[SEGMENT_HEADER_SIZE, synced_offset)` of the active segment is on stable storage.
    synced_offset: usize,
    next_seq: u64,
    /// Rolled segments whose last bytes may not be synced yet, oldest first.
    unsynced: Vec<Unsynced>,
    segments: Vec<SegmentEntry>,
    prefault_mark: usize,
    seals_requested: u64,
}

/// State shared by the writer, the flush leader and the background thread.
pub struct Shared {
    pub dir: PathBuf,
    pub meta: JournalMeta,
    pub(crate) storage: Storage,
    seed: u32,
    clock: Clock,
    state: Mutex<WriterState>,
    /// Highest sequence number on stable storage.
    durable_seq: AtomicU64,
    /// Highest sequence number published (readable).
    committed_seq: AtomicU64,
    poisoned: AtomicBool,
    /// The failure that stopped the writer: its message and I/O error kind.
    poison_reason: Mutex<Option<(String, Option<std::io::ErrorKind>)>>,
    prepared: Mutex<Option<Prepared>>,
    /// Prepared files created so far: numbers their names.
    prepared_files: AtomicU64,
    /// The index of the active segment: the size of the next one depends on it
    /// ([`segment_capacity`]), and the background thread prepares that one.
    active_index: AtomicU64,
    /// Rolled segments waiting to be sealed by the background thread, oldest first (seals
    /// complete in roll order: only the last links may be pending). Never dropped, never
    /// sealed on the appending thread, which holds the state lock that sealing needs. One
    /// entry per roll, so it stays as short as the background thread's lag in segments.
    pending_seals: Mutex<VecDeque<Seal>>,
    seals_done: Mutex<u64>,
    seals_done_changed: Condvar,
    background: Mutex<Option<SyncSender<Job>>>,
    /// Windows `(map, from)` to pre-fault. A thread of its own, so that pre-faulting (CPU
    /// work, about 0.3 ms per window) never waits behind the background thread's disk work
    /// (zero-filling and syncing 32 MiB segments takes it hundreds of milliseconds, during
    /// which a fast writer would otherwise fault on every page).
    prefaulter: Mutex<Option<SyncSender<Window>>>,
    /// Flush durations, nanoseconds.
    flush_latency_ns: Mutex<hdrhistogram::Histogram<u64>>,
    /// The flush leadership and its waiters (group commit).
    commit: GroupCommit,
    /// Test hook: the next flush fails as if the device returned EIO.
    inject_flush_failure: AtomicBool,
    /// Bytes left in the active segment, updated after each append and roll, so that async
    /// callers can tell cheaply whether their batch may trigger a roll (which does I/O).
    remaining_bytes: AtomicU64,
    /// Test hook: the next segment creation fails as if the disk were full (ENOSPC).
    inject_no_space: AtomicBool,
}

/// A range of a segment not synced yet, and the last record it holds.
#[derive(Clone)]
struct Unsynced {
    map: Arc<Map>,
    from: usize,
    to: usize,
    last_seq: u64,
}

/// Encoded payloads of a batch, and per event `(kind, schema, payload length)`.
type Scratch = (Vec<u8>, Vec<(u16, u8, usize)>);

thread_local! {
    /// Reused by every append on this thread, so encoding allocates nothing once warm.
    static SCRATCH: RefCell<Scratch> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// What the writer starts from after recovery.
pub struct Start {
    pub segments: Vec<SegmentEntry>,
    pub writer: MapWriter,
    pub write_offset: usize,
    pub next_seq: u64,
}

impl Shared {
    pub fn start(
        meta: JournalMeta,
        dir: &Path,
        clock: Clock,
        storage: Storage,
        start: Start,
    ) -> Arc<Shared> {
        let active = start
            .segments
            .last()
            .expect("a journal has a segment")
            .clone();
        let last_seq = start.next_seq - 1;
        active.map.publish(start.write_offset);
        let remaining_bytes = (active.map.len() - start.write_offset) as u64;
        let active_index = active.index;
        Arc::new(Shared {
            dir: dir.to_path_buf(),
            storage,
            seed: meta.frame_seed(),
            meta,
            clock,
            state: Mutex::new(WriterState {
                active,
                writer: start.writer,
                write_offset: start.write_offset,
                synced_offset: start.write_offset,
                next_seq: start.next_seq,
                unsynced: vec![],
                segments: start.segments,
                prefault_mark: start.write_offset,
                seals_requested: 0,
            }),
            durable_seq: AtomicU64::new(last_seq),
            committed_seq: AtomicU64::new(last_seq),
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(None),
            prepared: Mutex::new(None),
            prepared_files: AtomicU64::new(0),
            active_index: AtomicU64::new(active_index),
            pending_seals: Mutex::new(VecDeque::new()),
            seals_done: Mutex::new(0),
            seals_done_changed: Condvar::new(),
            background: Mutex::new(None),
            prefaulter: Mutex::new(None),
            flush_latency_ns: Mutex::new(
                hdrhistogram::Histogram::new(3).expect("3 significant digits is valid"),
            ),
            commit: GroupCommit::default(),
            inject_flush_failure: AtomicBool::new(false),
            remaining_bytes: AtomicU64::new(remaining_bytes),
            inject_no_space: AtomicBool::new(false),
        })
    }

    /// Whether appending `events` may need a new segment (and so file-system calls): unless
    /// their largest possible frames, plus `margin` bytes, fit in what the active segment had
    /// left after the last append. Appends by others between this look and the caller's own
    /// may take the room meanwhile; `margin` is for them.
    pub fn may_roll(&self, events: &[Event], margin: u64) -> bool {
        let left = self.remaining_bytes.load(Ordering::Relaxed);
        frames_bound(events).is_none_or(|bound| bound as u64 + margin > left)
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Acquire)
    }

    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// The segments as the writer knows them (for in-process readers).
    pub fn segments(&self) -> Vec<SegmentEntry> {
        lock(&self.state).segments.clone()
    }

    /// Appends `events` as one atomic batch and, in `Sync` mode, waits until it is durable.
    pub fn append(&self, events: &[Event]) -> Result<Appended, Error> {
        let appended = self.write_batch(events, self.clock.now())?;
        if self.meta.durability == Durability::Sync {
            self.flush_through(appended.last_seq)?;
        }
        Ok(appended)
    }

    /// Encodes and writes one batch into mapped memory and publishes it. No syscalls unless
    /// the batch needs a new segment.
    ///
    /// When the largest size the batch could take fits in the active segment, the events
    /// are encoded straight into the mapping. Otherwise their exact sizes decide the roll:
    /// they are encoded into a scratch buffer first, then copied.
    pub fn write_batch(&self, events: &[Event], recorded_at: Timestamp) -> Result<Appended, Error> {
        if events.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let Some(bound) = frames_bound(events) else {
            return self.write_through_scratch(events, recorded_at);
        };
        let mut state = lock(&self.state);
        self.check_poisoned()?;
        if state.write_offset + bound > state.active.map.len() {
            drop(state);
            return self.write_through_scratch(events, recorded_at);
        }
        let batch = self.batch_frames(&state, events.len(), recorded_at);
        let offset = state.write_offset;
        let region = state.writer.unpublished_mut(offset, bound);
        let mut at = 0;
        for (i, event) in events.iter().enumerate() {
            let payload = &mut region[at + FRAME_HEADER_SIZE..];
            let (kind, schema, len) = codec::encode_into(event, payload);
            let size = frame_size(len);
            let header = batch.header(i, kind as u16, schema);
            complete_frame(&mut region[at..at + size], &header, len, self.seed);
            at += size;
        }
        Ok(self.publish(&mut state, &batch, at))
    }

    fn write_through_scratch(
        &self,
        events: &[Event],
        recorded_at: Timestamp,
    ) -> Result<Appended, Error> {
        SCRATCH.with(|scratch| {
            let (payloads, parts) = &mut *scratch.borrow_mut();
            payloads.clear();
            parts.clear();
            let mut batch_bytes = 0;
            for (index, event) in events.iter().enumerate() {
                let start = payloads.len();
                let (kind, schema) = codec::encode(event, payloads);
                let len = payloads.len() - start;
                if len > PAYLOAD_SIZE_MAX {
                    return Err(Error::EventTooLarge {
                        index,
                        bytes: len,
                        limit: PAYLOAD_SIZE_MAX,
                    });
                }
                parts.push((kind as u16, schema, len));
                batch_bytes += frame_size(len);
            }
            self.copy_batch(payloads, parts, batch_bytes, recorded_at)
        })
    }

    fn copy_batch(
        &self,
        payloads: &[u8],
        parts: &[(u16, u8, usize)],
        batch_bytes: usize,
        recorded_at: Timestamp,
    ) -> Result<Appended, Error> {
        self.place_batch(
            parts.len(),
            batch_bytes,
            recorded_at,
            None,
            |region, batch| {
                let (mut at, mut payload_at) = (0, 0);
                for (i, &(kind, schema, len)) in parts.iter().enumerate() {
                    let size = frame_size(len);
                    let payload = &payloads[payload_at..payload_at + len];
                    let header = batch.header(i, kind, schema);
                    write_frame(&mut region[at..at + size], &header, payload, self.seed);
                    at += size;
                    payload_at += len;
                }
            },
        )
    }

    /// Appends one batch of records exactly as a journal with the same id stored them (a
    /// mirror's copy): each frame is checked (checksum with this journal's seed, consecutive
    /// seqs from the next one, the batch-end flag on the last frame only, one recorded_at
    /// and durable_seq for the batch) and copied verbatim, so the records keep their bytes,
    /// seqs and recorded_at times. Nothing is appended when a check fails.
    pub fn write_stored_batch(&self, frames: &[&[u8]]) -> Result<Appended, Error> {
        let first = stored_frame_header(frames.first().ok_or(Error::EmptyBatch)?, self.seed)?;
        let mut batch_bytes = 0;
        for (i, bytes) in frames.iter().enumerate() {
            let header = stored_frame_header(bytes, self.seed)?;
            let seq = first.seq + i as u64;
            let refuse = |reason: String| Err(Error::StoredBatch { seq, reason });
            if header.seq != seq {
                return refuse(format!("frame {i} of the batch carries seq {}", header.seq));
            }
            if header.batch_end() != (i + 1 == frames.len()) {
                return refuse("the batch-end flag is not on the batch's last record only".into());
            }
            if (header.recorded_at, header.durable_seq) != (first.recorded_at, first.durable_seq) {
                return refuse(
                    "the records of one batch differ in recorded_at or durable_seq".into(),
                );
            }
            batch_bytes += crate::storage::format::align_up(bytes.len());
        }
        let first_seq = Some(first.seq);
        self.place_batch(
            frames.len(),
            batch_bytes,
            first.recorded_at,
            first_seq,
            |region, _| {
                let mut at = 0;
                for bytes in frames {
                    let size = crate::storage::format::align_up(bytes.len());
                    region[at..at + bytes.len()].copy_from_slice(bytes);
                    region[at + bytes.len()..at + size].fill(0);
                    at += size;
                }
            },
        )
    }

    /// Reserves `batch_bytes` for a batch of `count` records at the write position (rolling
    /// to a new segment when they do not fit), lets `fill` write its frames there, and
    /// publishes them. `first_seq`: the seq the batch must start at, for stored records.
    fn place_batch(
        &self,
        count: usize,
        batch_bytes: usize,
        recorded_at: Timestamp,
        first_seq: Option<u64>,
        fill: impl FnOnce(&mut [u8], &BatchFrames),
    ) -> Result<Appended, Error> {
        let mut state = lock(&self.state);
        self.check_poisoned()?;
        if let Some(seq) = first_seq.filter(|&seq| seq != state.next_seq) {
            let reason = format!("the journal's next seq is {}", state.next_seq);
            return Err(Error::StoredBatch { seq, reason });
        }
        if state.write_offset + batch_bytes > state.active.map.len() {
            state = self.settle_seals_before_replacing(state);
            self.check_poisoned()?;
        }
        if state.write_offset + batch_bytes > state.active.map.len() {
            self.roll(&mut state, batch_bytes)
                .inspect_err(|e| self.poison(e))?;
        }
        let batch = self.batch_frames(&state, count, recorded_at);
        let offset = state.write_offset;
        let region = state.writer.unpublished_mut(offset, batch_bytes);
        fill(region, &batch);
        Ok(self.publish(&mut state, &batch, batch_bytes))
    }

    /// The next batch of `count` events, as written now.
    fn batch_frames(
        &self,
        state: &WriterState,
        count: usize,
        recorded_at: Timestamp,
    ) -> BatchFrames {
        BatchFrames {
            first_seq: state.next_seq,
            count,
            recorded_at,
            durable_seq: self.durable_seq(),
        }
    }

    /// Makes the batch just written (`batch_bytes` at the write offset) visible.
    fn publish(
        &self,
        state: &mut WriterState,
        batch: &BatchFrames,
        batch_bytes: usize,
    ) -> Appended {
        let (first_seq, recorded_at) = (batch.first_seq, batch.recorded_at);
        let last_seq = first_seq + batch.count as u64 - 1;
        state.write_offset += batch_bytes;
        state.next_seq = last_seq + 1;
        state.active.map.publish(state.write_offset);
        self.committed_seq.store(last_seq, Ordering::Release);
        let remaining = state.active.map.len() - state.write_offset;
        self.remaining_bytes
            .store(remaining as u64, Ordering::Relaxed);
        // Ask for the next window as soon as the writer comes within `PREFAULT_LEAD` windows
        // of the end of those asked for, so the pre-faulting thread stays ahead of it.
        if state.write_offset + PREFAULT_LEAD * PREFAULT_WINDOW_BYTES > state.prefault_mark {
            self.prefault_ahead(state);
        }
        Appended {
            first_seq,
            last_seq,
            recorded_at,
            bytes: batch_bytes as u64,
        }
    }

    /// Starts a new segment big enough for `batch_bytes`. The old one is sealed in the
    /// background. Runs under the state lock, on the append path (once per segment).
    fn roll(&self, state: &mut WriterState, batch_bytes: usize) -> Result<(), Error> {
        let active_empty = state.write_offset == SEGMENT_HEADER_SIZE;
        let (index, link) = if active_empty {
            // Replace the empty active segment by a bigger one with the same name and place
            // (`settle_seals_before_replacing` made sure its link is final).
            let link = segment::open_segment(&state.active.path, None)?.link;
            (state.active.index, link)
        } else {
            (state.active.index + 1, None)
        };
        let capacity = segment_capacity(self.meta.segment_size_bytes, index)
            .max(round_to_page(SEGMENT_HEADER_SIZE + batch_bytes) as u64);
        if self.inject_no_space.swap(false, Ordering::AcqRel) {
            return Err(Error::Io {
                path: self.next_prepared_path(),
                op: "create segment file",
                source: std::io::Error::from_raw_os_error(libc::ENOSPC),
            });
        }
        let prepared = self.take_prepared(capacity)?;
        let header = SegmentHeader {
            format_version: FORMAT_VERSION,
            journal_id: self.meta.journal_id,
            first_seq: state.next_seq,
            index,
            capacity_bytes: capacity,
            created_at: self.clock.now(),
        };
        let path = segment::activate(
            &self.storage,
            &self.dir,
            &prepared.path,
            &header,
            link.as_ref(),
            Some(&prepared.map),
        )?;
        let entry = SegmentEntry {
            path: path.clone(),
            first_seq: header.first_seq,
            index,
            map: Arc::clone(&prepared.map),
        };
        entry.map.publish(SEGMENT_HEADER_SIZE);
        let old = std::mem::replace(&mut state.active, entry.clone());
        self.active_index.store(index, Ordering::Relaxed);
        state.writer = prepared.writer;
        if active_empty {
            *state.segments.last_mut().expect("active segment is listed") = entry;
        } else {
            state.unsynced.push(Unsynced {
                map: Arc::clone(&old.map),
                from: state.synced_offset,
                to: state.write_offset,
                last_seq: state.next_seq - 1,
            });
            state.segments.push(entry);
            state.seals_requested += 1;
            self.request_seal(Seal {
                map: old.map,
                data_end: state.write_offset,
                last_seq: state.next_seq - 1,
                next_path: path,
                next_map: Arc::clone(&state.active.map),
            });
        }
        state.write_offset = SEGMENT_HEADER_SIZE;
        state.synced_offset = SEGMENT_HEADER_SIZE;
        state.prefault_mark = SEGMENT_HEADER_SIZE + PREFAULT_WINDOW_BYTES;
        self.send(Job::Prepare);
        tracing::info!(segment = %state.active.path.display(), first_seq = state.next_seq, "rolled to a new segment");
        Ok(())
    }

    /// Returns once `seq` is on stable storage (group commit: `storage/commit.rs`).
    pub fn flush_through(&self, seq: u64) -> Result<(), Error> {
        loop {
            let committed = self
                .commit
                .commit(|| self.durable_seq() >= seq, || self.flush_all());
            self.after_commit(committed, seq)?;
            if self.durable_seq() >= seq {
                return Ok(());
            }
        }
    }

    /// The outcome of a group commit for the caller that waited for `seq`: the leader's
    /// flush error, or, for a member whose group's flush failed, the error that stopped the
    /// writer.
    pub fn after_commit(
        &self,
        committed: Committed<Result<(), Error>>,
        seq: u64,
    ) -> Result<(), Error> {
        match committed {
            Committed::Led(result) => result,
            Committed::Followed if self.durable_seq() >= seq => Ok(()),
            Committed::Followed => self.check_poisoned(),
        }
    }

    /// The group commit, for callers that wait their own way (the async handle).
    pub fn commit(&self) -> &GroupCommit {
        &self.commit
    }

    /// Flush latency percentiles so far: `(p50, p99, max, count)` in nanoseconds.
    pub fn flush_latency_ns(&self) -> (u64, u64, u64, u64) {
        let h = lock(&self.flush_latency_ns);
        (
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max(),
            h.len(),
        )
    }

    /// Makes the next flush fail as if the device reported an I/O error (tests of failure
    /// policies; `docs/RECOVERY.md`). The writer is poisoned by it, as by a real failure.
    #[doc(hidden)]
    pub fn inject_flush_failure(&self) {
        self.inject_flush_failure.store(true, Ordering::Release);
    }

    /// Makes the next segment creation (the next roll) fail as if the disk were full
    /// (ENOSPC). The writer is poisoned by it, as by a real failure.
    #[doc(hidden)]
    pub fn inject_no_space(&self) {
        self.inject_no_space.store(true, Ordering::Release);
    }

    /// Flushes everything published so far (after a running flush, a flush of its own).
    pub fn flush(&self) -> Result<(), Error> {
        self.commit.exclusive(|| self.flush_all())
    }

    /// The flush itself: everything published so far. The caller is the flush leader
    /// ([`GroupCommit`]). A failed flush poisons the writer:
    /// after an fsync error the kernel may have dropped the dirty pages, so the data must
    /// never be treated as safe by retrying.
    pub fn flush_all(&self) -> Result<(), Error> {
        let started = std::time::Instant::now();
        let result = self.flush_ranges();
        let elapsed_ns = started.elapsed().as_nanos() as u64;
        let _ = lock(&self.flush_latency_ns).record(elapsed_ns.max(1));
        tracing::trace!(elapsed_ns, ok = result.is_ok(), "flush");
        result
    }

    fn flush_ranges(&self) -> Result<(), Error> {
        let (rolled, active, from, to, upto) = {
            let state = lock(&self.state);
            self.check_poisoned()?;
            (
                state.unsynced.clone(),
                Arc::clone(&state.active.map),
                state.synced_offset,
                state.write_offset,
                self.committed_seq(),
            )
        };
        self.flush_each(&rolled)?;
        let active_range = Unsynced {
            map: Arc::clone(&active),
            from,
            to,
            last_seq: upto,
        };
        self.flush_each(std::slice::from_ref(&active_range))?;
        let mut state = lock(&self.state);
        state.unsynced.drain(..rolled.len());
        if Arc::ptr_eq(&state.active.map, &active) {
            state.synced_offset = state.synced_offset.max(to);
        }
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// Flushes the rolled segments not synced yet, and not the active one: what a seal needs
    /// before it links the next segment to its predecessor. The active segment's pages are
    /// the ones the writer is filling; writing them back would write-protect them under it
    /// (a fault at its next store to each) for no one's benefit in Buffered mode. The caller
    /// is the flush leader.
    fn flush_rolled(&self) -> Result<(), Error> {
        let rolled = {
            let state = lock(&self.state);
            self.check_poisoned()?;
            state.unsynced.clone()
        };
        self.flush_each(&rolled)?;
        lock(&self.state).unsynced.drain(..rolled.len());
        if let Some(last) = rolled.last() {
            // Every record before it is durable: earlier segments were flushed before (the
            // flush leader takes them in order), and the active one starts after it.
            self.durable_seq.fetch_max(last.last_seq, Ordering::AcqRel);
        }
        Ok(())
    }

    /// msync of each range; the first failure poisons the writer.
    fn flush_each(&self, ranges: &[Unsynced]) -> Result<(), Error> {
        for Unsynced {
            map,
            from: start,
            to: end,
            ..
        } in ranges
        {
            let injected = self.inject_flush_failure.swap(false, Ordering::AcqRel);
            let flushed = if injected {
                Err(std::io::Error::from_raw_os_error(libc::EIO))
            } else {
                map.flush(*start, end - start)
            };
            if let Err(source) = flushed {
                let error = Error::Io {
                    path: self.dir.clone(),
                    op: "flush journal segment",
                    source,
                };
                self.poison(&error);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Records in the active segment's watermark that everything published is durable.
    /// The caller has just flushed.
    pub fn write_watermark(&self) -> Result<(), Error> {
        let state = lock(&self.state);
        let watermark = Watermark {
            durable_seq: self.durable_seq(),
            durable_end: state.synced_offset as u64,
        };
        segment::write_watermark(&self.storage, &state.active.path, &watermark)
    }

    fn check_poisoned(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error().unwrap_or(Error::Poisoned {
                reason: String::new(),
                kind: None,
            }));
        }
        Ok(())
    }

    fn poison(&self, error: &Error) {
        lock(&self.poison_reason).get_or_insert_with(|| (error.to_string(), error.io_kind()));
        self.poisoned.store(true, Ordering::Release);
        tracing::error!(%error, "journal writer stopped");
    }

    /// The error every call returns once the writer has stopped, if it has.
    pub fn poisoned_error(&self) -> Option<Error> {
        let (reason, kind) = lock(&self.poison_reason).clone()?;
        Some(Error::Poisoned { reason, kind })
    }
}

/// What every frame header of one batch shares.
/// The header of a stored frame (`bytes`: its length field's worth, without padding), after
/// its checks.
fn stored_frame_header(bytes: &[u8], seed: u32) -> Result<FrameHeader, Error> {
    let mut padded = bytes.to_vec();
    padded.resize(crate::storage::format::align_up(bytes.len()), 0);
    let seq = |bytes: &[u8]| {
        bytes
            .get(8..16)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    match crate::storage::format::read_frame(&padded, seed) {
        Ok(frame) if frame.len() == bytes.len() => Ok(frame.header),
        Ok(frame) => Err(Error::StoredBatch {
            seq: frame.header.seq,
            reason: format!("{} bytes given for a frame of {}", bytes.len(), frame.len()),
        }),
        Err(error) => Err(Error::StoredBatch {
            seq: seq(bytes),
            reason: format!("{error} (with this journal's seed)"),
        }),
    }
}

struct BatchFrames {
    first_seq: u64,
    count: usize,
    recorded_at: Timestamp,
    durable_seq: u64,
}

impl BatchFrames {
    /// The header of event `index` of the batch: the last one ends the batch.
    fn header(&self, index: usize, kind: u16, schema: u8) -> FrameHeader {
        FrameHeader {
            seq: self.first_seq + index as u64,
            recorded_at: self.recorded_at,
            durable_seq: self.durable_seq,
            kind,
            codec: CODEC_POSTCARD,
            schema,
            flags: if index + 1 == self.count {
                FLAG_BATCH_END
            } else {
                0
            },
        }
    }
}

/// The most bytes `events` can take as frames, before they are encoded; `None` when an event
/// may exceed the payload limit (its exact size decides).
fn frames_bound(events: &[Event]) -> Option<usize> {
    events.iter().try_fold(0, |bound, event| {
        let max = codec::max_payload_len(event);
        (max <= PAYLOAD_SIZE_MAX).then(|| bound + frame_size(max))
    })
}

fn round_to_page(n: usize) -> usize {
    n.div_ceil(4096) * 4096
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::frames_bound;
    use crate::model::event::{Event, Timestamp};
    use crate::storage::format::read_frame;
    use crate::storage::journal::{Journal, JournalOptions, OpenMode};

    /// The two ways a batch reaches the mapping (encoded in place, or through the scratch
    /// buffer when its exact size decides a roll) write the same frames: the same payload
    /// bytes, headers that differ only in their sequence numbers, zero padding, valid CRCs.
    #[test]
    fn in_place_and_scratch_writes_give_identical_frames() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            clock: crate::storage::writer::Clock::Fixed(Timestamp::from_nanos(7)),
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = Journal::create(dir.path(), &options).unwrap();
        let shared = journal.shared();
        let at = Timestamp::from_nanos(1_500_000_000_123_456_789);
        let batch = [
            crate::tools::sample::trade_opened(1, at),
            crate::tools::sample::signal(2, at),
            crate::tools::sample::account_snapshot(3, at, "10000.25"),
        ];
        let direct = shared.write_batch(&batch, at).unwrap();
        let scratch = shared.write_through_scratch(&batch, at).unwrap();
        assert_eq!(direct.bytes, scratch.bytes);
        let segment = &shared.segments()[0];
        let bytes = segment.map.published_records();
        let frames = |from: usize| {
            let mut offset = from;
            (0..batch.len())
                .map(|_| {
                    let frame = read_frame(&bytes[offset..], shared.seed).unwrap();
                    offset += frame.size;
                    (frame.header, frame.payload.to_vec(), frame.size)
                })
                .collect::<Vec<_>>()
        };
        let first = frames(0);
        let second = frames(direct.bytes as usize);
        for ((h1, p1, s1), (h2, p2, s2)) in first.iter().zip(&second) {
            assert_eq!(p1, p2);
            assert_eq!(s1, s2);
            assert_eq!(h2.seq, h1.seq + batch.len() as u64);
            assert_eq!(
                (h1.kind, h1.schema, h1.flags),
                (h2.kind, h2.schema, h2.flags)
            );
        }
        assert!(first.last().unwrap().0.batch_end());
        assert_eq!(bytes.len(), 2 * direct.bytes as usize);
        let decoded: Vec<_> = first
            .iter()
            .map(|(h, p, _)| crate::model::codec::decode(h.kind, h.codec, h.schema, p).unwrap())
            .collect();
        assert_eq!(decoded, batch);
    }

    /// `may_roll` compares a batch's largest possible frames, plus the margin, with the room
    /// the active segment has left: events with long texts may roll where as many short ones
    /// do not, and a new segment is only expected where the room may run out.
    #[test]
    fn may_roll_exactly_when_the_largest_frames_and_margin_exceed_the_room_left() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_size_bytes: 64 << 10,
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = Journal::create(dir.path(), &options).unwrap();
        let shared = journal.shared();
        let at = Timestamp::from_nanos(0);
        let short = crate::tools::sample::trade_opened(1, at);
        let mut long = short.clone();
        if let Event::TradeOpened(trade) = &mut long {
            trade.comment = Some("é".repeat(4096));
        }
        shared
            .write_batch(std::slice::from_ref(&short), at)
            .unwrap();
        let left = shared.remaining_bytes.load(Ordering::Relaxed);
        let bound = |events: &[Event]| frames_bound(events).unwrap() as u64;
        let shorts = vec![short.clone(); 10];
        let longs = vec![long.clone(); 10];
        assert!(
            bound(&shorts) < left && bound(&longs) > left,
            "{} {} {left}",
            bound(&shorts),
            bound(&longs)
        );
        assert!(!shared.may_roll(&shorts, 0));
        assert!(shared.may_roll(&longs, 0));
        let room = left - bound(&shorts);
        assert!(!shared.may_roll(&shorts, room));
        assert!(shared.may_roll(&shorts, room + 1));
    }

    /// A roll hands the rolled segment to the background thread for sealing. When it cannot
    /// (its queue full, or the thread gone), the appender must not seal it itself: it holds
    /// the state lock, which sealing (a flush) takes too.
    #[test]
    fn roll_when_the_background_thread_cannot_take_the_seal_does_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_size_bytes: 64 << 10,
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = std::sync::Arc::new(Journal::create(dir.path(), &options).unwrap());
        // Gone before the first roll: a thread still running would seal what is pending as
        // it exits.
        journal.stop_background_and_wait();
        let (done, finished) = mpsc::channel();
        let appender = std::sync::Arc::clone(&journal);
        let thread = std::thread::spawn(move || {
            let event = [crate::tools::sample::trade_opened(
                1,
                Timestamp::from_nanos(0),
            )];
            for _ in 0..2000 {
                appender.append(&event).unwrap();
            }
            done.send(()).unwrap();
        });
        let outcome = finished.recv_timeout(Duration::from_secs(10));
        assert!(outcome.is_ok(), "appends across segment rolls deadlocked");
        thread.join().unwrap();
        drop(std::sync::Arc::into_inner(journal).expect("appender finished"));
        let reopened = Journal::open(dir.path(), &OpenMode::default()).unwrap();
        assert_eq!(reopened.head_seq(), 2000);
        assert!(reopened.recovery_report().links_completed > 0);
    }

    /// Segments fill faster than the background thread prepares the next one: rolls then
    /// activate prepared files while the background thread creates more. None of them may
    /// replace or delete a file a roll is activating (which would send appends to an
    /// unlinked file).
    #[test]
    fn fast_rolls_while_segments_are_prepared_keep_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_size_bytes: 64 << 10,
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = Journal::create(dir.path(), &options).unwrap();
        let event = [crate::tools::sample::trade_opened(
            1,
            Timestamp::from_nanos(0),
        )];
        for _ in 0..20_000 {
            journal.append(&event).unwrap();
        }
        journal.close().unwrap();
        let reader = crate::storage::reader::JournalReader::open(dir.path()).unwrap();
        assert_eq!(reader.records(1).count(), 20_000);
        let segments = crate::storage::reader::segment_paths(dir.path()).unwrap();
        assert!(segments.len() > 40, "{} segments", segments.len());
    }
}
