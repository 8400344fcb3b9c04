//! Walking and scanning the frames of one segment (`docs/RECOVERY.md`). Pure: bytes in, facts
//! out.
//!
//! [`Frames`] is the one walk over frames: every reader of records (the scan at open, the
//! reader, the follower, verify) goes through it. The scanner walks frames from the first record position while each is valid and carries
//! the next sequence number. It remembers the end of the last complete batch (the committed
//! end), and, when it stops early, looks at the rest of the segment for valid frames that lie
//! beyond the stop: their existence, and the durable sequence numbers they claim, are what
//! recovery needs to tell a torn tail from damage.

use crate::model::event::Timestamp;
use crate::storage::format::{
    parse_frame, read_frame, Frame, FrameError, FRAME_ALIGN, FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE,
};

/// Why the scan stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Zero length field: nothing was written here.
    Empty,
    /// The segment's capacity is used up.
    EndOfSegment,
    /// A frame failed its checks.
    Invalid(FrameError),
    /// A valid frame carries the wrong sequence number (stale or misplaced).
    WrongSeq { found: u64 },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Empty => f.write_str("no frame"),
            StopReason::EndOfSegment => f.write_str("end of segment"),
            StopReason::Invalid(error) => write!(f, "{error}"),
            StopReason::WrongSeq { found } => write!(f, "frame carries seq {found}"),
        }
    }
}

/// The walk over a segment's frames: from `offset`, each frame that is valid and carries the
/// next sequence number, with its offset. It ends at the first position where that is not so,
/// and [`Frames::stop`] says why.
pub struct Frames<'a> {
    bytes: &'a [u8],
    offset: usize,
    next_seq: u64,
    /// The checksum seed; `None`: the checksums were checked by an earlier scan.
    seed: Option<u32>,
    stop: Option<StopReason>,
}

impl<'a> Frames<'a> {
    /// Walks `bytes` (which extend to the end of what may be read) from `offset`, expecting
    /// the record `next_seq` there, with the journal's frame checksum `seed`.
    pub fn new(bytes: &'a [u8], offset: usize, next_seq: u64, seed: u32) -> Frames<'a> {
        Frames {
            bytes,
            offset,
            next_seq,
            seed: Some(seed),
            stop: None,
        }
    }

    /// [`Frames::new`] over bytes that a scan in this process found valid up to their end
    /// (a segment's committed end): everything is checked again but the checksums, the
    /// costliest part of the check (`verify` walks each frame three times).
    pub fn scanned(bytes: &'a [u8], offset: usize, next_seq: u64) -> Frames<'a> {
        Frames {
            bytes,
            offset,
            next_seq,
            seed: None,
            stop: None,
        }
    }

    /// Where the next frame starts: just past the last frame handed out.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The sequence number the next frame must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Why the walk ended, once it has.
    pub fn stop(&self) -> Option<StopReason> {
        self.stop
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = (usize, Frame<'a>);

    fn next(&mut self) -> Option<(usize, Frame<'a>)> {
        if self.stop.is_some() {
            return None;
        }
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let stop = if rest.len() < FRAME_HEADER_SIZE {
            StopReason::EndOfSegment
        } else {
            match parse_frame(rest, self.seed) {
                Ok(frame) if frame.header.seq == self.next_seq => {
                    let at = self.offset;
                    self.offset += frame.size;
                    self.next_seq += 1;
                    return Some((at, frame));
                }
                Ok(frame) => StopReason::WrongSeq {
                    found: frame.header.seq,
                },
                Err(FrameError::Empty) => StopReason::Empty,
                Err(error) => StopReason::Invalid(error),
            }
        };
        self.stop = Some(stop);
        None
    }
}

/// A valid frame found after the point where the scan stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaterFrame {
    pub offset: usize,
    pub seq: u64,
}

/// What a scan of one segment found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentScan {
    /// Offset just past the last frame of the last complete batch.
    pub committed_end: usize,
    /// Sequence number of the last committed record (`first_seq - 1` when there is none).
    pub last_seq: u64,
    /// Committed records.
    pub records: u64,
    /// Where the in-order walk stopped, and why.
    pub stop_offset: usize,
    pub stop: StopReason,
    /// Valid frames of an incomplete batch between `committed_end` and `stop_offset`.
    pub uncommitted_records: u64,
    /// The first valid frame beyond `stop_offset`, if any.
    pub later: Option<LaterFrame>,
    /// The largest `durable_seq` claimed by any valid frame of this segment.
    pub durable_claim_max: u64,
    /// Offset just past the last non-zero byte at or after `committed_end` (equal to
    /// `committed_end` when the rest of the segment is zero): what a cut must clear.
    pub dirty_end: usize,
    /// The last seq of the batch the walk stopped in, when valid frames beyond the stop carry
    /// that batch (same `recorded_at` and `durable_seq` as its frames before the stop) on to
    /// its batch-end frame. `None` when unknown: no such frames, or the stop is at the
    /// batch's first frame.
    pub stopped_batch_last_seq: Option<u64>,
}

impl SegmentScan {
    /// True when the segment ends cleanly: no partial batch, nothing written after the end.
    pub fn is_clean(&self) -> bool {
        self.dirty_end == self.committed_end
    }

    /// The seq of the record at `stop_offset`: the first one the walk could not read (the
    /// damaged or missing record), counted from the start of its batch.
    pub fn stop_seq(&self) -> u64 {
        self.last_seq + 1 + self.uncommitted_records
    }

    /// Names the record at the stop with its batch, for messages: `record 57 (batch 1..400)`,
    /// or `record 57 (batch from seq 1)` when the batch's end is unknown.
    pub fn stop_record(&self) -> String {
        let (record, batch_first) = (self.stop_seq(), self.last_seq + 1);
        match self.stopped_batch_last_seq {
            Some(last) => format!("record {record} (batch {batch_first}..{last})"),
            None => format!("record {record} (batch from seq {batch_first})"),
        }
    }
}

/// Scans `bytes` (a whole segment file, header page included) whose first record is
/// `first_seq`, with the journal's frame checksum `seed`.
pub fn scan_segment(bytes: &[u8], first_seq: u64, seed: u32) -> SegmentScan {
    let mut frames = Frames::new(bytes, SEGMENT_HEADER_SIZE.min(bytes.len()), first_seq, seed);
    let mut committed = (frames.offset(), first_seq - 1, 0u64);
    let mut pending_records = 0u64;
    // `recorded_at` and `durable_seq` of the incomplete batch's frames: the same in each.
    let mut pending_batch: Option<(Timestamp, u64)> = None;
    let mut durable_claim_max = 0u64;
    for (at, frame) in frames.by_ref() {
        durable_claim_max = durable_claim_max.max(frame.header.durable_seq);
        pending_records += 1;
        pending_batch.get_or_insert((frame.header.recorded_at, frame.header.durable_seq));
        if frame.header.batch_end() {
            committed = (
                at + frame.size,
                frame.header.seq,
                committed.2 + pending_records,
            );
            pending_records = 0;
            pending_batch = None;
        }
    }
    let (offset, stop) = (frames.offset(), frames.stop().expect("the walk ended"));
    let (committed_end, last_seq, records) = committed;
    let beyond = scan_beyond(bytes, offset, committed_end, last_seq, seed);
    let stopped_batch_last_seq = pending_batch
        .zip(beyond.later)
        .and_then(|(batch, later)| batch_end_beyond(bytes, later, batch, seed));
    SegmentScan {
        committed_end,
        last_seq,
        records,
        stop_offset: offset,
        stop,
        uncommitted_records: pending_records,
        later: beyond.later,
        durable_claim_max: durable_claim_max.max(beyond.durable_claim_max),
        dirty_end: beyond.dirty_end,
        stopped_batch_last_seq,
    }
}

/// The seq of the batch-end frame reached by walking on from `later` through consecutive
/// valid frames of the batch `(recorded_at, durable_seq)`; `None` if the walk leaves it.
fn batch_end_beyond(
    bytes: &[u8],
    later: LaterFrame,
    (recorded_at, durable_seq): (Timestamp, u64),
    seed: u32,
) -> Option<u64> {
    // Each step moves past a whole frame, so the walk ends within the segment.
    for (_, frame) in Frames::new(bytes, later.offset, later.seq, seed) {
        let header = frame.header;
        if header.recorded_at != recorded_at || header.durable_seq != durable_seq {
            return None;
        }
        if header.batch_end() {
            return Some(header.seq);
        }
    }
    None
}

struct Beyond {
    later: Option<LaterFrame>,
    durable_claim_max: u64,
    dirty_end: usize,
}

/// Looks at every aligned position after `stop_offset` for non-zero bytes and valid frames
/// with a sequence number after `last_seq`. Runs once per open on the tail segment only.
fn scan_beyond(
    bytes: &[u8],
    stop_offset: usize,
    committed_end: usize,
    last_seq: u64,
    seed: u32,
) -> Beyond {
    let mut beyond = Beyond {
        later: None,
        durable_claim_max: 0,
        dirty_end: committed_end,
    };
    if stop_offset > committed_end {
        beyond.dirty_end = stop_offset;
    }
    let mut offset = stop_offset;
    while offset + FRAME_ALIGN <= bytes.len() {
        let word = &bytes[offset..offset + FRAME_ALIGN];
        if word.iter().all(|&b| b == 0) {
            offset += FRAME_ALIGN;
            continue;
        }
        beyond.dirty_end = offset + FRAME_ALIGN;
        match read_frame(&bytes[offset..], seed) {
            Ok(frame) if frame.header.seq > last_seq => {
                beyond.later.get_or_insert(LaterFrame {
                    offset,
                    seq: frame.header.seq,
                });
                beyond.durable_claim_max = beyond.durable_claim_max.max(frame.header.durable_seq);
                beyond.dirty_end = offset + frame.size;
                offset += frame.size;
            }
            _ => offset += FRAME_ALIGN,
        }
    }
    beyond
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Timestamp;
    use crate::storage::format::{frame_size, write_frame, FrameHeader, FLAG_BATCH_END};

    const SEED: u32 = 77;

    /// A segment image with batches of the given sizes, payload "x" * 10.
    fn image(batches: &[usize]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = vec![0u8; SEGMENT_HEADER_SIZE + 4096];
        let mut offset = SEGMENT_HEADER_SIZE;
        let mut seq = 1;
        let mut starts = vec![];
        for (b, &n) in batches.iter().enumerate() {
            // As the writer does: one recorded_at and one durable_seq per batch.
            let durable_seq = seq - 1;
            for i in 0..n {
                starts.push(offset);
                let header = FrameHeader {
                    seq,
                    recorded_at: Timestamp::from_nanos(b as i64),
                    durable_seq,
                    kind: 1,
                    codec: 1,
                    schema: 1,
                    flags: if i + 1 == n { FLAG_BATCH_END } else { 0 },
                };
                let size = frame_size(10);
                write_frame(
                    &mut bytes[offset..offset + size],
                    &header,
                    &[b'x'; 10],
                    SEED,
                );
                offset += size;
                seq += 1;
            }
        }
        (bytes, starts)
    }

    #[test]
    fn clean_segment_ends_at_last_batch() {
        let (bytes, starts) = image(&[1, 3, 2]);
        let scan = scan_segment(&bytes, 1, SEED);
        assert_eq!(scan.records, 6);
        assert_eq!(scan.last_seq, 6);
        assert_eq!(scan.stop, StopReason::Empty);
        assert_eq!(scan.committed_end, starts[5] + frame_size(10));
        assert!(scan.is_clean());
        assert_eq!(scan.later, None);
    }

    #[test]
    fn incomplete_batch_is_not_committed() {
        let (mut bytes, starts) = image(&[2, 3]);
        // Lose the last frame of the second batch.
        bytes[starts[4]..starts[4] + frame_size(10)].fill(0);
        let scan = scan_segment(&bytes, 1, SEED);
        assert_eq!(scan.last_seq, 2);
        assert_eq!(scan.committed_end, starts[2]);
        assert_eq!(scan.uncommitted_records, 2);
        assert_eq!(scan.dirty_end, starts[4]);
        assert!(!scan.is_clean());
    }

    #[test]
    fn valid_frames_after_a_hole_are_found_with_their_claims() {
        let (mut bytes, starts) = image(&[1, 1, 1, 1]);
        bytes[starts[1] + 20] ^= 0xff;
        let scan = scan_segment(&bytes, 1, SEED);
        assert_eq!(scan.last_seq, 1);
        assert_eq!(scan.stop, StopReason::Invalid(FrameError::Checksum));
        assert_eq!(
            scan.later,
            Some(LaterFrame {
                offset: starts[2],
                seq: 3
            })
        );
        assert_eq!(scan.durable_claim_max, 3);
        assert_eq!(scan.dirty_end, starts[3] + frame_size(10));
    }

    #[test]
    fn a_damaged_record_is_named_by_its_own_seq_and_its_batch() {
        let (clean, starts) = image(&[2, 5, 1]);
        // The fourth record of the batch 3..7.
        let mut bytes = clean.clone();
        bytes[starts[5] + 44] ^= 0x01;
        let scan = scan_segment(&bytes, 1, SEED);
        assert_eq!((scan.last_seq, scan.stop_offset), (2, starts[5]));
        assert_eq!(scan.stop_seq(), 6);
        assert_eq!(scan.stop_record(), "record 6 (batch 3..7)");
        // Its last record: nothing after it tells where the batch ends.
        let mut bytes = clean.clone();
        bytes[starts[6] + 44] ^= 0x01;
        let scan = scan_segment(&bytes, 1, SEED);
        assert_eq!(scan.stop_record(), "record 7 (batch from seq 3)");
        // Its first record: the records after it may belong to another batch.
        let mut bytes = clean;
        bytes[starts[2] + 44] ^= 0x01;
        let scan = scan_segment(&bytes, 1, SEED);
        assert_eq!(scan.stop_record(), "record 3 (batch from seq 3)");
    }

    /// A walk over scanned bytes hands out the frames a checked walk does, and checks all but
    /// the checksum: a frame whose checksum no longer matches passes, a misplaced one does not.
    #[test]
    fn a_walk_over_scanned_bytes_skips_only_the_checksum() {
        let (clean, starts) = image(&[2, 3]);
        let offsets = |frames: Frames| frames.map(|(at, f)| (at, f.header.seq)).collect::<Vec<_>>();
        let checked = offsets(Frames::new(&clean, SEGMENT_HEADER_SIZE, 1, SEED));
        assert_eq!(checked.len(), 5);
        assert_eq!(
            offsets(Frames::scanned(&clean, SEGMENT_HEADER_SIZE, 1)),
            checked
        );
        let mut bytes = clean.clone();
        bytes[starts[3] + 44] ^= 0x01;
        assert_eq!(
            offsets(Frames::new(&bytes, SEGMENT_HEADER_SIZE, 1, SEED)).len(),
            3
        );
        assert_eq!(
            offsets(Frames::scanned(&bytes, SEGMENT_HEADER_SIZE, 1)),
            checked
        );
        let mut misplaced = Frames::scanned(&clean, SEGMENT_HEADER_SIZE, 5);
        assert!(misplaced.next().is_none());
        assert_eq!(misplaced.stop(), Some(StopReason::WrongSeq { found: 1 }));
    }

    #[test]
    fn misplaced_frame_stops_the_walk() {
        let (bytes, _) = image(&[2]);
        let scan = scan_segment(&bytes, 5, SEED);
        assert_eq!(scan.stop, StopReason::WrongSeq { found: 1 });
        assert_eq!(scan.records, 0);
    }
}
