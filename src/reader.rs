//! Reading committed records: by the writer's process (sharing its mappings) or by a
//! read-only process (`verify`, `dump`, `tail`, queries) that may run while a writer appends.
//!
//! **Architecture invariant:** a reader never modifies anything on disk, and never returns a
//! record that is not part of a complete batch or that failed its checksum.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec;
use crate::error::Error;
use crate::event::{Event, Timestamp};
use crate::format::{read_frame, Frame, JournalMeta, SEGMENT_HEADER_SIZE};
use crate::journal::{read_meta, Layout};
use crate::mmap::Map;
use crate::recovery::{Cut, TailDecision};
use crate::segment;
use crate::writer::Shared;

/// One committed record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub event: Event,
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
pub struct JournalReader {
    meta: JournalMeta,
    source: Source,
    /// The torn tail a writer's recovery would cut (read-only opens only report it).
    torn_tail: Option<Cut>,
}

impl JournalReader {
    /// Opens `dir` read-only. Fails on damage before the tail, as the writer's open would;
    /// a torn tail is left in place and excluded (see [`JournalReader::torn_tail`]).
    pub fn open(dir: &Path) -> Result<JournalReader, Error> {
        let meta = read_meta(dir)?;
        let (layout, decision) = Layout::load_for_reading(dir, &meta, false)?;
        let (views, torn_tail) = read_only_views(&layout, decision);
        Ok(JournalReader {
            meta,
            source: Source::Files { views },
            torn_tail,
        })
    }

    pub(crate) fn from_writer(shared: Arc<Shared>) -> JournalReader {
        JournalReader {
            meta: shared.meta,
            source: Source::Writer(shared),
            torn_tail: None,
        }
    }

    pub fn meta(&self) -> &JournalMeta {
        &self.meta
    }

    /// The incomplete batch or damaged bytes at the end that a writer would cut on open.
    pub fn torn_tail(&self) -> Option<&Cut> {
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
                while let Some(seq) = frames.next_with(|_, _, frame| Ok(frame.header.seq)) {
                    last = seq?;
                }
                Ok(last)
            }
        }
    }

    fn last_segment_first_seq(&self) -> u64 {
        self.views().last().map_or(1, |v| v.first_seq)
    }

    /// The records from `from_seq` on, decoded. Stops at the committed end as of each step.
    pub fn records(&self, from_seq: u64) -> Records {
        Records {
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
        }
    }
}

/// Follows a journal that another process is writing (`tail`): each [`Follower::poll`]
/// returns the records of the whole batches committed since the last one, in order.
///
/// Opening checks the journal as [`JournalReader::open`] does. After that the follower reads
/// on in the mapped tail segment from where it stopped, without rescanning: a frame that does
/// not validate yet (zero length, or a checksum that fails because the writer is still
/// writing it) means "nothing more yet", and a batch's records are handed out only once its
/// last frame is in place, so a batch is seen whole or not at all. When the segment holds no
/// more frames and the file of the next segment (named by the next sequence number) exists,
/// the follower moves on to it. If it makes no progress for [`Follower::RESYNC_AFTER`], it
/// opens the journal afresh at its position: that reports damage the way `open` does, and
/// picks up an active segment the writer replaced by a bigger one.
pub struct Follower {
    dir: PathBuf,
    seed: u32,
    segment: View,
    offset: usize,
    expected_seq: u64,
    from_seq: u64,
    progress_at: std::time::Instant,
}

impl Follower {
    pub const RESYNC_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

    /// Follows `dir` from `from_seq`, or from after its last committed record.
    pub fn open(dir: &Path, from_seq: Option<u64>) -> Result<Follower, Error> {
        let reader = JournalReader::open(dir)?;
        let from_seq = match from_seq {
            Some(seq) => seq,
            None => reader.head_seq()? + 1,
        };
        let views = reader.views();
        let start = views
            .partition_point(|v| v.first_seq <= from_seq.max(1))
            .saturating_sub(1);
        let segment = (views.into_iter().nth(start))
            .ok_or_else(|| Error::corrupt(dir, 0, None, "journal folder holds no segment"))?;
        Ok(Follower {
            dir: dir.to_path_buf(),
            seed: reader.meta.frame_seed(),
            expected_seq: segment.first_seq,
            offset: SEGMENT_HEADER_SIZE,
            segment,
            from_seq,
            progress_at: std::time::Instant::now(),
        })
    }

    /// The sequence number the follower starts at.
    pub fn from_seq(&self) -> u64 {
        self.from_seq
    }

    /// The records of the batches committed since the last call (possibly none).
    pub fn poll(&mut self) -> Result<Vec<Record>, Error> {
        let mut records = vec![];
        loop {
            self.read_batches(&mut records)?;
            if !self.at_end_of_frames() {
                break; // a batch is being written
            }
            let Some(next) = self.next_segment()? else {
                break;
            };
            // Once the next file exists the writer has finished with this one: read what it
            // wrote here between the first look and the roll.
            self.read_batches(&mut records)?;
            if !self.at_end_of_frames() {
                break;
            }
            self.segment = next;
            self.offset = SEGMENT_HEADER_SIZE;
        }
        if !records.is_empty() {
            self.progress_at = std::time::Instant::now();
        } else if self.progress_at.elapsed() >= Follower::RESYNC_AFTER {
            let resumed = Follower::open(&self.dir, Some(self.expected_seq))?;
            *self = Follower {
                from_seq: self.from_seq,
                ..resumed
            };
            return self.poll();
        }
        Ok(records)
    }

    /// Reads the complete batches at the current offset into `records`; an incomplete
    /// batch at the end is left for a later call, once its last frame is written.
    fn read_batches(&mut self, records: &mut Vec<Record>) -> Result<(), Error> {
        let bytes = self.segment.map.all_bytes();
        let (mut offset, mut seq) = (self.offset, self.expected_seq);
        let mut batch_start = records.len();
        // Not written yet, being written, or left from before a cut: stop there.
        while let Ok(frame) = read_frame(&bytes[offset..], self.seed) {
            if frame.header.seq != seq {
                break;
            }
            if seq >= self.from_seq {
                records.push(decode_record(&self.segment.path, offset, frame)?);
            }
            offset += frame.size;
            seq += 1;
            if frame.header.batch_end() {
                (self.offset, self.expected_seq) = (offset, seq);
                batch_start = records.len();
            }
        }
        records.truncate(batch_start);
        Ok(())
    }

    /// No frame, complete or not, follows the current offset.
    fn at_end_of_frames(&self) -> bool {
        let bytes = self.segment.map.all_bytes();
        read_frame(&bytes[self.offset..], self.seed).is_err()
    }

    /// The segment after the current one, if its file exists: the one that starts at the
    /// next sequence number (none while the current segment holds no record).
    fn next_segment(&self) -> Result<Option<View>, Error> {
        let first_seq = self.expected_seq;
        if first_seq == self.segment.first_seq {
            return Ok(None);
        }
        let path = self.dir.join(crate::format::segment_file_name(first_seq));
        if !path.exists() {
            return Ok(None);
        }
        // A header page being written (the chain link is added after the rename) may not
        // check yet: look again at the next poll; lasting damage is reported by the resync.
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

/// Views for a read-only reader: sealed segments to their recorded end, tail segments to the
/// committed end, nothing after a cut.
fn read_only_views(layout: &Layout, decision: TailDecision) -> (Vec<View>, Option<Cut>) {
    let mut views = vec![];
    let (keep, torn) = match &decision {
        TailDecision::Clean => (layout.files.len(), None),
        TailDecision::Cut(cut) => (layout.tail_start + cut.segment + 1, Some(cut.clone())),
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
}

impl FrameIter {
    /// Hands the next frame at or after `from_seq` to `f` (with its file and offset).
    fn next_with<T>(
        &mut self,
        f: impl FnOnce(&Path, usize, Frame<'_>) -> Result<T, Error>,
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
            let frame = match read_frame(&records[self.offset - SEGMENT_HEADER_SIZE..], self.seed) {
                Ok(frame) if frame.header.seq == self.expected_seq => frame,
                Ok(frame) => {
                    let reason = format!(
                        "expected seq {}, found a frame with seq {}",
                        self.expected_seq, frame.header.seq
                    );
                    return Some(Err(self.fail(reason)));
                }
                Err(error) => return Some(Err(self.fail(error.to_string()))),
            };
            let at = self.offset;
            self.offset += frame.size;
            self.expected_seq += 1;
            if frame.header.seq >= self.from_seq {
                let result = f(&view.path, at, frame);
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

/// Decoded records, in order.
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
        self.frames.next_with(decode_record)
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
pub fn segment_paths(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(segment::list_segments(dir)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::event::Timestamp;
    use crate::journal::{Journal, JournalOptions};

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
                    .append(&[crate::sample::trade_opened(ticket, time)])
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
