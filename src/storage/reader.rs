//! Reading committed records: by the writer's process (sharing its mappings) or by a
//! read-only process (`verify`, `dump`, `tail`, queries) that may run while a writer appends.
//!
//! **Architecture invariant:** a reader never modifies anything on disk, and never returns a
//! record that is not part of a complete batch or that failed its checksum.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Corruption, Error};
use crate::model::codec;
use crate::model::event::{Event, Timestamp};
use crate::storage::folder::read_meta;
use crate::storage::format::{read_frame, Frame, JournalMeta, RecordHasher, SEGMENT_HEADER_SIZE};
use crate::storage::layout::Layout;
pub use crate::storage::layout::TornTail;
use crate::storage::mmap::{Behind, Map, RELEASE_EVERY};
use crate::storage::recovery::{self, TailDecision};
use crate::storage::scan::{Frames, StopReason};
use crate::storage::segment;
use crate::storage::writer::Shared;

/// One committed record: an event with the place and time the journal gave it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The record's sequence number: 1 for the first record, then consecutive, never reused.
    pub seq: u64,
    /// When the journal appended it (UTC, the writer's clock): not the event's business time
    /// ([`Event::time`]).
    pub recorded_at: Timestamp,
    /// The event.
    pub event: Event,
}

/// One committed record exactly as stored: its frame's bytes (`docs/FORMAT.md` §4, from the
/// length field to the end of the payload, without the padding), for a follower that copies
/// records elsewhere (`ship`) instead of decoding them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawRecord {
    /// The record's sequence number (also in its bytes).
    pub seq: u64,
    /// When the journal appended it (also in its bytes).
    pub recorded_at: Timestamp,
    /// The record ends its batch: the batch-end flag of its frame (also in its bytes).
    pub batch_end: bool,
    /// The frame, checksum included: it validates only with this journal's seed and at this
    /// seq.
    pub bytes: Vec<u8>,
}

/// What a [`Follower`] hands out per record: decoded ([`Record`]) or as stored
/// ([`RawRecord`]).
trait FromFrame: Sized {
    /// The record of the frame at `offset` of the segment file `path`, whose bytes (without
    /// padding) are `bytes`.
    fn from_frame(
        path: &Path,
        offset: usize,
        frame: Frame<'_>,
        bytes: &[u8],
    ) -> Result<Self, Error>;
}

impl FromFrame for Record {
    fn from_frame(path: &Path, offset: usize, frame: Frame<'_>, _: &[u8]) -> Result<Self, Error> {
        decode_record(path, offset, frame)
    }
}

impl FromFrame for RawRecord {
    fn from_frame(_: &Path, _: usize, frame: Frame<'_>, bytes: &[u8]) -> Result<Self, Error> {
        Ok(RawRecord {
            seq: frame.header.seq,
            recorded_at: frame.header.recorded_at,
            batch_end: frame.header.batch_end(),
            bytes: bytes.to_vec(),
        })
    }
}

/// A segment as a reader sees it: the bytes `[SEGMENT_HEADER_SIZE, end)` hold committed
/// frames.
#[derive(Clone)]
struct View {
    path: PathBuf,
    first_seq: u64,
    map: Arc<Map>,
    /// Committed end for read-only views; `None`: ask the writer's mapping (published end).
    end: Option<usize>,
}

impl View {
    /// The committed frames, from byte `SEGMENT_HEADER_SIZE` of the file on.
    fn records(&self) -> &[u8] {
        match self.end {
            Some(end) => &self.map.all_bytes()[SEGMENT_HEADER_SIZE..end],
            None => self.map.published_records(),
        }
    }
}

enum Source {
    Writer(Arc<Shared>),
    Files { views: Vec<View> },
}

/// Reads the committed records of a journal.
///
/// A reader takes no lock and writes nothing, so it may read while another process appends;
/// it returns only records of complete batches whose checksums pass.
///
/// ```
/// use tradeledger::{
///     AccountSnapshot, Decimal, Event, JournalOptions, JournalReader, Ledger, Timestamp,
///     TradeOpened, TradeType,
/// };
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let at = |text: &str| Timestamp::parse_rfc3339(text).unwrap();
/// let ledger = Ledger::create(dir.path(), &JournalOptions::default())?;
/// let balance = Decimal::new(1_000_000, 2); // 10000.00
/// let (morning, open) = (at("2024-01-02T09:00:00Z"), at("2024-01-02T10:00:00Z"));
/// let snapshot = AccountSnapshot::new(42, "Demo-1", "Broker", balance, balance, morning);
/// let price = Decimal::new(11045, 4); // 1.1045
/// let trade = TradeOpened::new(7, "EURUSD", TradeType::Sell, Decimal::ONE, price, open);
/// ledger.append(&[snapshot.into(), trade.into()])?;
/// ledger.close()?;
///
/// // Every record from sequence number 1 on, in order.
/// let reader = JournalReader::open(dir.path())?;
/// assert_eq!(reader.head_seq()?, 2);
/// let mut tickets = Vec::new();
/// for record in reader.records(1) {
///     let record = record?;
///     println!("#{} appended at {}: {}", record.seq, record.recorded_at, record.event.kind());
///     if let Event::TradeOpened(opened) = &record.event {
///         tickets.push(opened.ticket);
///     }
/// }
/// assert_eq!(tickets, [7]);
/// # Ok(())
/// # }
/// ```
pub struct JournalReader {
    meta: JournalMeta,
    source: Source,
    /// The torn tail a writer's recovery would cut (read-only opens only report it).
    torn_tail: Option<TornTail>,
    /// How far its walks get past the last release of a segment's pages ([`Behind`]);
    /// `None`: they never release ([`JournalReader::holding_pages`]).
    release_every: Option<usize>,
}

impl JournalReader {
    /// Opens `dir` read-only. Fails on damage before the tail, as the writer's open would;
    /// a torn tail is left in place and excluded (see [`JournalReader::torn_tail`]).
    pub fn open(dir: &Path) -> Result<JournalReader, Error> {
        let meta = read_meta(dir)?;
        let (layout, decision) = Layout::load_for_reading(dir, &meta, None)?;
        let (views, torn_tail) = read_only_views(&layout, layout.tail_start, decision);
        Ok(JournalReader {
            meta,
            source: Source::Files { views },
            torn_tail,
            release_every: Some(RELEASE_EVERY),
        })
    }

    /// Opens `dir` read-only as far as it is intact. Where [`JournalReader::open`] fails on
    /// damage, this reader holds the records before the first damaged one, the damage is
    /// returned beside it, and [`JournalReader::torn_tail`] says what lies beyond the intact
    /// part (from the damaged record on). Nothing is written: the journal stays as it is.
    /// Damage no reader can get past (a segment's header, the chain of segments) is an error
    /// still; and damage in a sealed segment, which an open does not scan, is met as an `Err`
    /// of [`JournalReader::records`] there, as with `open`.
    pub fn open_intact_prefix(
        dir: &Path,
    ) -> Result<(JournalReader, Option<Box<Corruption>>), Error> {
        let damage = match JournalReader::open(dir) {
            Err(Error::Corrupt(damage)) => damage,
            other => return other.map(|reader| (reader, None)),
        };
        let meta = read_meta(dir)?;
        let mut layout = Layout::load(dir, &meta, None)?;
        layout.scan_all(meta.frame_seed());
        // Salvage's decision: the first damaged record ends what is read.
        let decision = recovery::assess_tail(&layout.scanned_tail(0), true)?;
        let (views, torn_tail) = read_only_views(&layout, 0, decision);
        let reader = JournalReader {
            meta,
            source: Source::Files { views },
            torn_tail,
            release_every: Some(RELEASE_EVERY),
        };
        Ok((reader, Some(damage)))
    }

    pub(crate) fn from_writer(shared: Arc<Shared>) -> JournalReader {
        JournalReader {
            meta: shared.meta,
            source: Source::Writer(shared),
            torn_tail: None,
            release_every: Some(RELEASE_EVERY),
        }
    }

    /// This reader, its walks never releasing the pages they passed: for a walk under the
    /// append lock (a release can take a millisecond, `mmap.rs`).
    pub(crate) fn holding_pages(self) -> JournalReader {
        JournalReader {
            release_every: None,
            ..self
        }
    }

    /// This reader, its walks releasing the pages they passed every `every` bytes.
    #[cfg(test)]
    fn releasing_every(self, every: usize) -> JournalReader {
        JournalReader {
            release_every: Some(every),
            ..self
        }
    }

    /// The journal's settings and identity, as `journal.meta` holds them.
    pub fn meta(&self) -> &JournalMeta {
        &self.meta
    }

    /// The incomplete batch at the end that a writer would cut on open; `None` when the
    /// journal ends cleanly (and for a reader of the writer's own process).
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.as_ref()
    }

    fn views(&self) -> Vec<View> {
        match &self.source {
            Source::Writer(shared) => shared
                .segments()
                .into_iter()
                .map(|s| View {
                    path: s.path,
                    first_seq: s.first_seq,
                    map: s.map,
                    end: None,
                })
                .collect(),
            Source::Files { views, .. } => views.clone(),
        }
    }

    /// The last committed sequence number visible to this reader (0 when empty).
    pub fn head_seq(&self) -> Result<u64, Error> {
        match &self.source {
            Source::Writer(shared) => Ok(shared.committed_seq()),
            Source::Files { .. } => {
                let mut frames = self.frames_from(self.last_segment_first_seq());
                let mut last = self.last_segment_first_seq() - 1;
                while let Some(seq) = frames.next_with(|_, _, frame, _| Ok(frame.header.seq)) {
                    last = seq?;
                }
                Ok(last)
            }
        }
    }

    fn last_segment_first_seq(&self) -> u64 {
        self.views().last().map_or(1, |v| v.first_seq)
    }

    /// The hash of the records up to `seq` as stored, independent of how they are laid out
    /// in segments (`docs/FORMAT.md` §7): BLAKE3 of the domain tag
    /// [`crate::storage::format::RECORD_ANCHOR_TAG`] followed by the frames of records 1 to
    /// `seq`, each from its length field to the end of its payload. A journal and its mirror
    /// hash alike. Reads (but does not decode) every record up to `seq`; an error when the
    /// journal does not hold `seq` or a record before it fails its checks.
    pub fn record_hash(&self, seq: u64) -> Result<[u8; 32], Error> {
        Ok(self.record_hashes_telling(&[seq], &mut |_| {})?[0])
    }

    /// [`JournalReader::record_hash`] at each of `seqs` (ascending), in one walk up to the
    /// last, telling `hashed` the bytes of each block of frames hashed (about 64 KiB).
    #[doc(hidden)]
    pub fn record_hashes_telling(
        &self,
        seqs: &[u64],
        hashed: &mut dyn FnMut(u64),
    ) -> Result<Vec<[u8; 32]>, Error> {
        assert!(
            seqs.windows(2).all(|pair| pair[0] <= pair[1]),
            "seqs ascending"
        );
        let mut hasher = RecordHasher::new();
        let mut hashes = Vec::with_capacity(seqs.len());
        let mut frames = self.frames_from(1);
        let mut last = 0;
        for &seq in seqs {
            while last < seq {
                let read = frames.next_with(|_, _, frame, stored| {
                    hasher.add(stored, hashed);
                    Ok(frame.header.seq)
                });
                match read {
                    Some(result) => last = result?,
                    None => {
                        let (path, at) = frames
                            .views
                            .get(frames.segment)
                            .map_or((Path::new(""), 0), |v| (v.path.as_path(), frames.offset));
                        return Err(Error::corrupt(
                            path,
                            at as u64,
                            Some(seq),
                            format!("the journal ends at seq {last}, before seq {seq}"),
                        ));
                    }
                }
            }
            hashes.push(hasher.hash());
        }
        Ok(hashes)
    }

    /// The records from `from_seq` on, decoded. Stops at the committed end as of each step.
    pub fn records(&self, from_seq: u64) -> Records {
        Records {
            frames: self.frames_from(from_seq),
        }
    }

    /// The records from `from_seq` on as stored ([`RawRecord`]: each frame's bytes, checked,
    /// not decoded), for copying them into a journal with the same id
    /// ([`crate::Journal::append_stored`]: `salvage`).
    pub fn raw_records(&self, from_seq: u64) -> RawRecords {
        RawRecords {
            frames: self.frames_from(from_seq),
        }
    }

    /// The records from where `position` (from [`Records::position`] of this journal's
    /// records) left off: no rescan of the segment up to it.
    pub(crate) fn records_at(&self, position: Position) -> Records {
        let views = self.views();
        let Some(segment) = views
            .iter()
            .position(|v| v.first_seq == position.segment_first_seq)
        else {
            return self.records(position.next_seq);
        };
        let next = position.next_seq;
        Records {
            frames: self.frames_at(views, segment, position.offset, next, next),
        }
    }

    fn frames_from(&self, from_seq: u64) -> FrameIter {
        let views = self.views();
        let start = views
            .partition_point(|v| v.first_seq <= from_seq.max(1))
            .saturating_sub(1);
        let expected_seq = views.get(start).map_or(1, |v| v.first_seq);
        self.frames_at(views, start, SEGMENT_HEADER_SIZE, expected_seq, from_seq)
    }

    /// Frames from `offset` in `views[segment]`, whose frame there has `expected_seq`, handed
    /// out from `from_seq` on.
    fn frames_at(
        &self,
        views: Vec<View>,
        segment: usize,
        offset: usize,
        expected_seq: u64,
        from_seq: u64,
    ) -> FrameIter {
        FrameIter {
            views,
            segment,
            offset,
            expected_seq,
            from_seq,
            seed: self.meta.frame_seed(),
            failed: false,
            // A walk from a segment's first record releases all of it, header page included;
            // one resumed further on, only what it passed.
            behind: self.release_every.map(|every| {
                let start = if offset <= SEGMENT_HEADER_SIZE {
                    0
                } else {
                    offset
                };
                Behind::new(start, every)
            }),
        }
    }
}

/// How a [`Follower`] waits, and when it checks that what it reads is still the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowOptions {
    /// How long a caller that found nothing new (`tail`) sleeps before it polls again.
    /// Default [`crate::storage::limits::TAIL_POLL_INTERVAL_MS`].
    pub poll_interval: Duration,
    /// After this long without a new record the follower checks its files: that the segment
    /// it reads is still the file of that name, and, while bytes it cannot read yet block
    /// its way (a batch a killed writer left incomplete, damage, a successor segment it
    /// cannot open), it opens the journal afresh at its position, which reports damage as
    /// [`JournalReader::open`] does. Never a reason to hand a record out again. Default
    /// [`crate::storage::limits::FOLLOW_RESYNC_AFTER_MS`].
    pub resync_after: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            poll_interval: Duration::from_millis(crate::storage::limits::TAIL_POLL_INTERVAL_MS),
            resync_after: Duration::from_millis(crate::storage::limits::FOLLOW_RESYNC_AFTER_MS),
        }
    }
}

/// How often a [`Follower`] looked at its files and opened the journal afresh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowCounters {
    /// Checks after [`FollowOptions::resync_after`] without progress.
    pub idle_checks: u64,
    /// Fresh opens at the follower's position (a replaced segment file, or blocked bytes).
    pub reopens: u64,
}

/// Follows a journal that another process is writing (`tail`): each [`Follower::poll`]
/// returns the records of the whole batches committed since the last one, in order, each
/// record once.
///
/// **Committed**, for a reader in another process, means what recovery keeps after the
/// writer process dies: a batch whose frames, from the end of the batch before it, are all
/// in the file with valid checksums and the expected sequence numbers, the last one carrying
/// the batch-end flag (`docs/FORMAT.md` §4.2). The follower hands out nothing else: not the
/// frames of a batch still being written, nor those of a batch a killed writer left
/// incomplete, which the next writer's recovery cuts. It may hand out a batch before the
/// writer's `append` returned (in `sync` mode, before the batch is durable): a crash of the
/// writer process keeps such a batch, but a power loss or kernel crash may lose the batches
/// not yet synced (`docs/RELIABILITY.md`).
///
/// Opening checks the journal as [`JournalReader::open`] does and walks the segment that
/// holds the start. After that the follower reads on in the mapped segment from the end of
/// the last batch it handed out, without rescanning: a frame that does not validate yet
/// (zero length, or a checksum that fails because the writer is still writing it) means
/// "nothing more yet". Before a batch is decoded and handed out, the length and checksum
/// fields of its frames are read again: a batch whose bytes changed meanwhile (a new
/// writer's recovery cleared an incomplete batch and appended in its place) is read again at
/// the next poll, so frames of a cut batch are never combined with a new batch-end frame,
/// nor a payload decoded from bytes other than those the checksum was checked on. When the segment
/// holds no more frames and the file of the next segment (named by the next sequence number)
/// exists, the follower moves on to it. See [`FollowOptions::resync_after`] for what it does
/// when no record comes.
pub struct Follower {
    dir: PathBuf,
    journal_id: [u8; 16],
    seed: u32,
    options: FollowOptions,
    segment: View,
    /// Where the next batch starts in `segment`, and its first sequence number.
    offset: usize,
    expected_seq: u64,
    /// The first sequence number handed out; records before it are walked over.
    start_seq: u64,
    /// Records before this one were handed out already (or come before `start_seq`).
    deliver_from: u64,
    /// The last progress or the last check of the files.
    checked_at: Instant,
    counters: FollowCounters,
    /// The records one poll hands out, at least (whole batches: it may hand out more).
    limit: usize,
}

impl Follower {
    /// Follows `dir` from `from_seq`, or from after its last committed record, with the
    /// default [`FollowOptions`].
    pub fn open(dir: &Path, from_seq: Option<u64>) -> Result<Follower, Error> {
        Follower::open_with(dir, from_seq, FollowOptions::default())
    }

    /// Follows `dir` from `from_seq`, or from after its last committed record, waiting and
    /// checking as `options` say.
    pub fn open_with(
        dir: &Path,
        from_seq: Option<u64>,
        options: FollowOptions,
    ) -> Result<Follower, Error> {
        let reader = JournalReader::open(dir)?;
        let start_seq = match from_seq {
            Some(seq) => seq.max(1),
            None => reader.head_seq()? + 1,
        };
        let segment = view_holding(reader.views(), start_seq, dir)?;
        Ok(Follower {
            dir: dir.to_path_buf(),
            journal_id: reader.meta.journal_id,
            seed: reader.meta.frame_seed(),
            options,
            expected_seq: segment.first_seq,
            offset: SEGMENT_HEADER_SIZE,
            segment,
            start_seq,
            deliver_from: start_seq,
            checked_at: Instant::now(),
            counters: FollowCounters::default(),
            limit: usize::MAX,
        })
    }

    /// The sequence number the follower starts at.
    pub fn from_seq(&self) -> u64 {
        self.start_seq
    }

    /// How the follower waits and checks its files.
    pub fn options(&self) -> &FollowOptions {
        &self.options
    }

    /// How often it checked its files and opened the journal afresh, so far.
    pub fn counters(&self) -> FollowCounters {
        self.counters
    }

    /// The records of the batches committed since the last call (possibly none).
    pub fn poll(&mut self) -> Result<Vec<Record>, Error> {
        self.poll_up_to(usize::MAX)
    }

    /// [`Follower::poll`], stopping after the batch that brings the records to `limit` or
    /// more: whole batches only, so a batch larger than `limit` is handed out whole (a
    /// consumer that commits each call's records, like the SQL sink, never splits a batch).
    pub fn poll_up_to(&mut self, limit: usize) -> Result<Vec<Record>, Error> {
        self.poll_records(limit)
    }

    /// [`Follower::poll_up_to`], handing out each record exactly as stored (its frame's
    /// bytes), not decoded: for a copy of the journal elsewhere (`ship`).
    pub fn poll_raw_up_to(&mut self, limit: usize) -> Result<Vec<RawRecord>, Error> {
        self.poll_records(limit)
    }

    fn poll_records<T: FromFrame>(&mut self, limit: usize) -> Result<Vec<T>, Error> {
        self.limit = limit.max(1);
        let mut records = vec![];
        self.read_on(&mut records)?;
        if !records.is_empty() {
            self.checked_at = Instant::now();
            return Ok(records);
        }
        let idle = self.checked_at.elapsed() >= self.options.resync_after;
        if idle {
            self.checked_at = Instant::now();
            self.counters.idle_checks += 1;
            tracing::debug!(
                next_seq = self.expected_seq,
                idle_checks = self.counters.idle_checks,
                "follower idle check"
            );
        }
        // A segment that holds no record yet may be replaced by a bigger one (an oversized
        // batch): checked at every poll, so that such a batch is not held back.
        let empty_segment = self.offset == SEGMENT_HEADER_SIZE;
        if (idle || empty_segment) && (!self.segment_is_current() || (idle && self.blocked())) {
            self.reopen()?;
            self.read_on(&mut records)?;
            if !records.is_empty() {
                self.checked_at = Instant::now();
            }
        }
        Ok(records)
    }

    /// Reads the complete batches from the current position on, moving on to the next
    /// segment when this one holds no more frames.
    fn read_on<T: FromFrame>(&mut self, records: &mut Vec<T>) -> Result<(), Error> {
        loop {
            self.read_batches(records)?;
            if !self.at_end_of_frames() {
                return Ok(()); // a batch is being written, or the poll's limit was reached
            }
            let Some(next) = self.next_segment()? else {
                return Ok(());
            };
            // Once the next file exists the writer has finished with this one: read what it
            // wrote here between the first look and the roll.
            self.read_batches(records)?;
            if !self.at_end_of_frames() {
                return Ok(());
            }
            self.segment = next;
            self.offset = SEGMENT_HEADER_SIZE;
        }
    }

    /// Reads the complete batches at the current offset into `records`; an incomplete
    /// batch at the end is left for a later call, once its last frame is written.
    fn read_batches<T: FromFrame>(&mut self, records: &mut Vec<T>) -> Result<(), Error> {
        self.read_batches_checked_by(records, |bytes, at| first_word(&bytes[at..]))
    }

    /// [`Follower::read_batches`], reading a frame's first word again with `read_again` (a
    /// test stands in a writer that rewrote the frame meanwhile).
    ///
    /// The bytes after the last committed batch may change while they are read: a new
    /// writer's recovery clears the frames of a batch a killed writer left incomplete, and
    /// the next batch is written in their place. So a batch is walked first (each frame's
    /// first word, its length and checksum, taken before the frame is checked), its words
    /// are read again once its batch end was seen, and only a batch whose words did not
    /// change, a committed batch whose bytes no longer change, is decoded and handed out.
    fn read_batches_checked_by<T: FromFrame>(
        &mut self,
        records: &mut Vec<T>,
        read_again: impl Fn(&[u8], usize) -> [u8; 8],
    ) -> Result<(), Error> {
        let bytes = self.segment.map.all_bytes();
        let mut walk = Frames::new(bytes, self.offset, self.expected_seq, self.seed);
        // Offset and first word of each frame of the batch walked.
        let mut frames: Vec<(usize, [u8; 8])> = vec![];
        loop {
            if frames.is_empty() && records.len() >= self.limit {
                return Ok(());
            }
            let Some(word) = bytes.get(walk.offset()..walk.offset() + 8).map(first_word) else {
                return Ok(());
            };
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            // Not written yet, being written, or left from before a cut: stop there.
            let Some((offset, frame)) = walk.next() else {
                return Ok(());
            };
            frames.push((offset, word));
            if !frame.header.batch_end() {
                continue;
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            if frames
                .iter()
                .any(|(at, word)| read_again(bytes, *at) != *word)
            {
                return Ok(()); // rewritten meanwhile: read again at the next poll
            }
            let (offset, seq) = (walk.offset(), walk.next_seq());
            let batch_first_seq = seq - frames.len() as u64;
            let mut batch = Vec::with_capacity(frames.len());
            for (i, &(at, _)) in frames.iter().enumerate() {
                let record_seq = batch_first_seq + i as u64;
                if record_seq < self.deliver_from {
                    continue;
                }
                match Frames::new(bytes, at, record_seq, self.seed).next() {
                    Some((_, frame)) => {
                        let stored = &bytes[at..at + frame.len()];
                        batch.push(T::from_frame(&self.segment.path, at, frame, stored)?);
                    }
                    None => return Ok(()), // changed after all: read again at the next poll
                }
            }
            records.append(&mut batch);
            (self.offset, self.expected_seq) = (offset, seq);
            self.deliver_from = self.deliver_from.max(seq);
            frames.clear();
        }
    }

    /// No frame, complete or not, follows the current offset.
    fn at_end_of_frames(&self) -> bool {
        let bytes = self.segment.map.all_bytes();
        read_frame(&bytes[self.offset..], self.seed).is_err()
    }

    /// Bytes the follower cannot read yet lie at its position, or the next segment's file
    /// exists although the follower did not move on to it.
    fn blocked(&self) -> bool {
        let bytes = self.segment.map.all_bytes();
        let word = bytes.get(self.offset..self.offset + 8);
        word.is_some_and(|w| w.iter().any(|&b| b != 0))
            || (self.expected_seq != self.segment.first_seq
                && (self.dir)
                    .join(crate::storage::format::segment_file_name(self.expected_seq))
                    .exists())
    }

    /// The file named like the current segment is the one mapped: its header (written once,
    /// when the segment became active) is the same.
    fn segment_is_current(&self) -> bool {
        let mut header = [0u8; SEGMENT_HEADER_FIELDS_SIZE];
        let read = std::fs::File::open(&self.segment.path)
            .and_then(|file| file.read_exact_at(&mut header, 0));
        read.is_ok() && header[..] == self.segment.map.all_bytes()[..SEGMENT_HEADER_FIELDS_SIZE]
    }

    /// Opens the journal afresh and goes on at the same sequence number: in the same file at
    /// the same offset when the segment's file is still the one mapped, else from the start
    /// of the file that now holds that sequence number, walking over what was handed out.
    fn reopen(&mut self) -> Result<(), Error> {
        self.counters.reopens += 1;
        tracing::debug!(dir = %self.dir.display(), next_seq = self.expected_seq, "follower opens the journal afresh");
        let reader = JournalReader::open(&self.dir)?;
        if reader.meta.journal_id != self.journal_id {
            return Err(Error::corrupt(
                &self.dir.join(crate::storage::folder::META_FILE_NAME),
                0,
                None,
                "the journal was replaced by another one (its id changed) while it was followed",
            ));
        }
        let handed_out = self.deliver_from - 1;
        let head = reader.head_seq()?;
        if head < handed_out && handed_out >= self.start_seq {
            return Err(Error::corrupt(
                &self.segment.path,
                self.offset as u64,
                Some(head + 1),
                format!(
                    "records up to seq {handed_out} were handed out, but the journal now ends at seq {head} (cut after a power loss, or changed by hand)"
                ),
            ));
        }
        let view = view_holding(reader.views(), self.expected_seq, &self.dir)?;
        if view.first_seq > self.expected_seq {
            let reason = format!(
                "the journal's first segment starts at seq {}, after seq {} that the follower reads next",
                view.first_seq, self.expected_seq
            );
            return Err(Error::corrupt(
                &view.path,
                0,
                Some(self.expected_seq),
                reason,
            ));
        }
        let same_file = view.first_seq == self.segment.first_seq
            && view.map.all_bytes()[..SEGMENT_HEADER_FIELDS_SIZE]
                == self.segment.map.all_bytes()[..SEGMENT_HEADER_FIELDS_SIZE];
        if !same_file {
            self.expected_seq = view.first_seq;
            self.offset = SEGMENT_HEADER_SIZE;
            self.segment = view;
        }
        Ok(())
    }

    /// The segment after the current one, if its file exists: the one that starts at the
    /// next sequence number (none while the current segment holds no record).
    fn next_segment(&self) -> Result<Option<View>, Error> {
        let first_seq = self.expected_seq;
        if first_seq == self.segment.first_seq {
            return Ok(None);
        }
        let path = self
            .dir
            .join(crate::storage::format::segment_file_name(first_seq));
        if !path.exists() {
            return Ok(None);
        }
        // A header page being written (the chain link is added after the rename) may not
        // check yet: look again at the next poll; lasting damage is reported by the reopen
        // after `resync_after`.
        let Ok(file) = segment::open_segment(&path, None) else {
            return Ok(None);
        };
        if file.header.first_seq != first_seq {
            let reason = format!("segment header says first seq {}", file.header.first_seq);
            return Err(Error::corrupt(&path, 0, Some(first_seq), reason));
        }
        Ok(Some(View {
            path,
            first_seq,
            map: file.map,
            end: None,
        }))
    }
}

/// The segment header proper (`docs/FORMAT.md` §3.1), written once when the segment becomes
/// active: the chain link and the watermark after it are written later.
const SEGMENT_HEADER_FIELDS_SIZE: usize = crate::storage::format::CHAIN_AT;

/// The first 8 bytes of a frame: its length and checksum.
fn first_word(bytes: &[u8]) -> [u8; 8] {
    bytes[..8]
        .try_into()
        .expect("a valid frame is longer than 8 bytes")
}

/// The view of the segment that holds `seq` (the last one when `seq` lies beyond).
fn view_holding(views: Vec<View>, seq: u64, dir: &Path) -> Result<View, Error> {
    let index = views
        .partition_point(|v| v.first_seq <= seq)
        .saturating_sub(1);
    (views.into_iter().nth(index))
        .ok_or_else(|| Error::corrupt(dir, 0, None, "journal folder holds no segment"))
}

/// Views for a read-only reader: sealed segments to their recorded end, tail segments to the
/// committed end, nothing after a cut.
/// The views of the segments a read-only open keeps, and what `decision` (about the segments
/// from `region_start` on) leaves out.
fn read_only_views(
    layout: &Layout,
    region_start: usize,
    decision: TailDecision,
) -> (Vec<View>, Option<TornTail>) {
    let mut views = vec![];
    let (keep, torn) = match &decision {
        TailDecision::Clean => (layout.files.len(), None),
        TailDecision::Cut(cut) => (
            region_start + cut.segment + 1,
            Some(layout.torn_tail(region_start, cut)),
        ),
    };
    for (i, file) in layout.files.iter().enumerate().take(keep) {
        views.push(View {
            path: file.path.clone(),
            first_seq: file.header.first_seq,
            map: Arc::clone(&file.map),
            end: Some(layout.committed_end(i)),
        });
    }
    (views, torn)
}

/// Walks frames across segments, checking each frame and the sequence chain.
struct FrameIter {
    views: Vec<View>,
    segment: usize,
    offset: usize,
    expected_seq: u64,
    from_seq: u64,
    seed: u32,
    failed: bool,
    /// Releases the pages of the segment being read once they are passed, so that a walk of
    /// the whole journal keeps about [`RELEASE_EVERY`] of it resident; `None`: never.
    behind: Option<Behind>,
}

impl FrameIter {
    /// Hands the next frame at or after `from_seq` to `f` (with its file and offset).
    fn next_with<T>(
        &mut self,
        f: impl FnOnce(&Path, usize, Frame<'_>, &[u8]) -> Result<T, Error>,
    ) -> Option<Result<T, Error>> {
        loop {
            if self.failed {
                return None;
            }
            let view = self.views.get(self.segment)?;
            let records = view.records();
            if self.offset >= SEGMENT_HEADER_SIZE + records.len() {
                if let Err(error) = self.enter_next_segment()? {
                    return Some(Err(error));
                }
                continue;
            }
            let mut frames = Frames::new(
                records,
                self.offset - SEGMENT_HEADER_SIZE,
                self.expected_seq,
                self.seed,
            );
            let Some((_, frame)) = frames.next() else {
                let reason = match frames.stop().expect("the walk ended") {
                    StopReason::WrongSeq { found } => format!(
                        "expected seq {}, found a frame with seq {found}",
                        self.expected_seq
                    ),
                    stop => stop.to_string(),
                };
                return Some(Err(self.fail(reason)));
            };
            let at = self.offset;
            self.offset += frame.size;
            self.expected_seq += 1;
            if let Some(behind) = &mut self.behind {
                behind.passed(&view.map, at);
            }
            if frame.header.seq >= self.from_seq {
                let stored = &records[at - SEGMENT_HEADER_SIZE..][..frame.len()];
                let result = f(&view.path, at, frame, stored);
                self.failed = result.is_err();
                return Some(result);
            }
        }
    }

    /// `None`: no next segment. `Some(Err)`: the next segment does not continue the chain.
    fn enter_next_segment(&mut self) -> Option<Result<(), Error>> {
        let next = self.views.get(self.segment + 1)?;
        if next.first_seq != self.expected_seq {
            self.failed = true;
            return Some(Err(Error::corrupt(
                &next.path,
                0,
                Some(self.expected_seq),
                format!(
                    "segment starts at seq {}, but the previous one ended before seq {}",
                    next.first_seq, self.expected_seq
                ),
            )));
        }
        if let Some(behind) = &mut self.behind {
            behind.leave(&self.views[self.segment].map);
        }
        self.segment += 1;
        self.offset = SEGMENT_HEADER_SIZE;
        Some(Ok(()))
    }

    fn fail(&mut self, reason: String) -> Error {
        self.failed = true;
        let view = &self.views[self.segment];
        Error::corrupt(
            &view.path,
            self.offset as u64,
            Some(self.expected_seq),
            reason,
        )
    }
}

/// The decoded records of [`JournalReader::records`], in sequence order; an `Err` for damage
/// or an undecodable record, after which the iteration ends.
pub struct Records {
    frames: FrameIter,
}

/// Where a [`Records`] iteration stands: just before the record `next_seq`, at `offset` in
/// the segment that starts at `segment_first_seq` (or at its end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    segment_first_seq: u64,
    offset: usize,
    pub next_seq: u64,
}

impl Records {
    /// Where the next record would be read from ([`JournalReader::records_at`]).
    pub(crate) fn position(&self) -> Position {
        let frames = &self.frames;
        let segment_first_seq = frames
            .views
            .get(frames.segment)
            .map_or(frames.expected_seq, |v| v.first_seq);
        Position {
            segment_first_seq,
            offset: frames.offset,
            next_seq: frames.expected_seq,
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Result<Record, Error>> {
        self.frames.next_with(Record::from_frame)
    }
}

/// The records of [`JournalReader::raw_records`], as stored, in sequence order; an `Err` for
/// damage, after which the iteration ends.
pub struct RawRecords {
    frames: FrameIter,
}

impl Iterator for RawRecords {
    type Item = Result<RawRecord, Error>;

    fn next(&mut self) -> Option<Result<RawRecord, Error>> {
        self.frames.next_with(RawRecord::from_frame)
    }
}

/// Decodes one frame's payload into a [`Record`].
fn decode_record(path: &Path, offset: usize, frame: Frame<'_>) -> Result<Record, Error> {
    let header = frame.header;
    let event =
        codec::decode(header.kind, header.codec, header.schema, frame.payload).map_err(|e| {
            Error::Decode {
                file: path.to_path_buf(),
                offset: offset as u64,
                seq: header.seq,
                reason: e.to_string(),
            }
        })?;
    Ok(Record {
        seq: header.seq,
        recorded_at: header.recorded_at,
        event,
    })
}

/// Lists segment files without opening them (for `status` on a damaged journal).
#[doc(hidden)]
pub fn segment_paths(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(segment::list_segments(dir)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::model::event::Timestamp;
    use crate::storage::journal::{Journal, JournalOptions};
    use crate::storage::mmap::resident_bytes;

    /// A walk of every record keeps about the release interval of the segments resident: the
    /// pages of a segment are released as the walk passes them, and the rest when it leaves
    /// the segment.
    #[test]
    fn a_walk_of_the_whole_journal_keeps_about_the_release_interval_resident() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            durability: crate::Durability::Buffered,
            segment_size_bytes: 8 << 20,
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = Journal::create(dir.path(), &options).unwrap();
        for first in (1..=50_000u64).step_by(500) {
            let batch: Vec<_> = (first..first + 500)
                .flat_map(|n| crate::tools::sample::signal_and_trade(n, Timestamp::from_nanos(1)))
                .collect();
            journal.append(&batch).unwrap();
        }
        journal.close().unwrap();
        let segments = super::segment_paths(dir.path()).unwrap();
        let on_disk: u64 = segments.iter().map(|p| p.metadata().unwrap().len()).sum();
        assert!(segments.len() >= 4 && on_disk > 12 << 20, "{segments:?}");
        let resident = || segments.iter().map(|p| resident_bytes(p)).sum::<usize>();

        let every = 1 << 20;
        let reader = super::JournalReader::open(dir.path())
            .unwrap()
            .releasing_every(every);
        let mut most = 0;
        let mut count = 0;
        for record in reader.records(1) {
            record.unwrap();
            count += 1;
            if count % 1_000 == 0 {
                most = most.max(resident());
            }
        }
        assert_eq!(count, 100_000);
        // A fault may map a whole 2 MiB folio, and releasing part of one releases it whole.
        assert!(
            most <= every + (4 << 20),
            "{most} bytes of segments resident"
        );
        assert!(
            most >= every / 2,
            "what is read is resident until released: {most}"
        );
        let (last, left) = segments.split_last().unwrap();
        for segment in left {
            assert_eq!(resident_bytes(segment), 0, "{segment:?}: left, so released");
        }
        assert!(resident_bytes(last) > 0, "the walk ended in {last:?}");

        // A reader holding its pages (the catch-up under the append lock) releases nothing.
        let holding = super::JournalReader::open(dir.path())
            .unwrap()
            .holding_pages();
        let read = holding
            .records(1)
            .map(|r| r.map(|_| 1))
            .sum::<Result<u64, _>>();
        assert_eq!(read.unwrap(), 100_000);
        let resident = resident() as u64;
        assert!(
            resident > on_disk / 2,
            "{resident} of {on_disk} bytes resident"
        );
    }

    /// A batch whose frames changed between the first read and the batch end (a new
    /// writer's recovery cleared an incomplete batch and appended in its place, while the
    /// follower read) is not handed out: the next poll reads the batch as it is then.
    #[test]
    fn a_batch_whose_frames_changed_while_it_was_read_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = Journal::create(dir.path(), &options).unwrap();
        let mut follower = super::Follower::open(dir.path(), Some(1)).unwrap();
        let events = crate::tools::sample::signal_and_trade(1, Timestamp::from_nanos(1));
        journal.append(&events).unwrap();
        let first_frame = crate::storage::format::SEGMENT_HEADER_SIZE;
        let rewritten = |bytes: &[u8], at: usize| {
            let mut word = super::first_word(&bytes[at..]);
            if at == first_frame {
                word[4] ^= 0xff; // another checksum: another frame is there now
            }
            word
        };
        let mut records: Vec<super::Record> = vec![];
        follower
            .read_batches_checked_by(&mut records, rewritten)
            .unwrap();
        assert!(
            records.is_empty(),
            "a batch read across a rewrite was handed out"
        );
        assert_eq!(follower.expected_seq, 1, "the position did not move");
        let records = follower.poll().unwrap();
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    /// Records read on from a position are those a read from its seq returns, across the
    /// segments rolled since, and from the end of a segment as well as from its middle.
    #[test]
    fn records_at_a_position_go_on_where_the_last_read_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_size_bytes: 64 << 10,
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let journal = Journal::create(dir.path(), &options).unwrap();
        let append = |from: u64, count: u64| {
            for ticket in from..from + count {
                let time = Timestamp::from_nanos(ticket as i64);
                journal
                    .append(&[crate::tools::sample::trade_opened(ticket, time)])
                    .unwrap();
            }
        };
        let seqs =
            |records: super::Records| -> Vec<u64> { records.map(|r| r.unwrap().seq).collect() };
        append(1, 700);
        let reader = journal.reader();
        let mut positions = Vec::new();
        // Stop in the middle of a segment, and at the end of everything written so far.
        for stop in [150, 700] {
            let mut records = reader.records(1);
            records.by_ref().take(stop).for_each(drop);
            let position = records.position();
            assert_eq!(position.next_seq, stop as u64 + 1);
            positions.push(position);
        }
        append(701, 900);
        assert!(journal.shared().segments().len() > 3, "spans segments");
        for position in positions {
            let resumed = seqs(reader.records_at(position));
            assert_eq!(resumed, seqs(reader.records(position.next_seq)));
            assert_eq!(resumed, (position.next_seq..=1600).collect::<Vec<_>>());
        }
    }
}
