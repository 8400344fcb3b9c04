//! What opening a journal decides about its segments (`docs/RECOVERY.md`).
//!
//! Two steps, both pure over what is on disk: [`check_structure`] validates the header pages
//! of every segment (cheap, no record is read), and [`assess_tail`] decides, from scans of
//! the segments that are not yet known to be sealed and synced, whether the journal ends
//! cleanly, ends in a torn tail to cut, or is damaged.
//!
//! **Architecture invariant:** this module decides; it never writes. The writer carries out
//! the decision (`journal.rs`), read-only opens only respect it.

use std::path::PathBuf;

use crate::error::Error;
use crate::storage::format::{segment_file_name, ChainLink, SegmentHeader};
use crate::storage::scan::SegmentScan;

/// Header facts of one segment, in chain order.
#[derive(Clone, Debug)]
pub struct SegmentFacts {
    pub path: PathBuf,
    pub name_first_seq: u64,
    pub header: SegmentHeader,
    pub link: Option<ChainLink>,
    /// Highest sequence number the watermark block says was durable.
    pub watermark_seq: u64,
}

/// Checks the header pages: names match, all from this journal, indexes consecutive from 0,
/// links continuous, pending links only at the end. Returns the index of the first segment
/// whose records are not yet known to be synced (the start of the tail region).
pub fn check_structure(segments: &[SegmentFacts], journal_id: &[u8; 16]) -> Result<usize, Error> {
    let mut first_pending_link = None;
    for (position, facts) in segments.iter().enumerate() {
        let damage = |reason: String| Err(Error::corrupt(&facts.path, 0, None, reason));
        let header = &facts.header;
        if header.journal_id != *journal_id {
            return damage("segment belongs to another journal (journal id differs)".into());
        }
        if header.first_seq > SEQ_MAX {
            return damage(format!(
                "first seq {} is beyond the range of sequence numbers (at most {SEQ_MAX})",
                header.first_seq
            ));
        }
        if header.first_seq != facts.name_first_seq {
            return damage(format!(
                "file name says first seq {}, header says {}",
                facts.name_first_seq, header.first_seq
            ));
        }
        if header.index != position as u64 {
            let expected = segments
                .get(position.wrapping_sub(1))
                .map(|p| format!("after {}", segment_file_name(p.header.first_seq)))
                .unwrap_or_else(|| "first".into());
            return damage(format!(
                "segment index {} found where index {position} ({expected}) belongs: a segment is missing or out of place",
                header.index
            ));
        }
        match (&facts.link, position) {
            (Some(link), 0) if *link != ChainLink::GENESIS => {
                return damage("first segment has a link to a predecessor".into())
            }
            (None, 0) => return damage("first segment has no genesis link".into()),
            (Some(link), _) if link.prev_last_seq.checked_add(1) != Some(header.first_seq) => {
                return damage(format!(
                    "chain link says the previous segment ends at seq {}, but this one starts at {}",
                    link.prev_last_seq, header.first_seq
                ))
            }
            (Some(link), p) if p > 0 && !link_end_fits(link, segments.get(p - 1)) => {
                return damage(format!(
                    "chain link says the previous segment's records end at byte {}, outside that segment",
                    link.prev_data_end
                ))
            }
            (Some(_), _) if first_pending_link.is_some() => {
                return damage("a sealed link follows a pending one".into())
            }
            (None, _) => {
                first_pending_link.get_or_insert(position);
            }
            _ => {}
        }
    }
    let last = segments.len().saturating_sub(1);
    Ok(first_pending_link.map_or(last, |p| p - 1))
}

/// The highest sequence number a journal may reach (2^62): far beyond any real journal (a
/// thousand years at ten million records a second), and far enough from `u64::MAX` that no
/// count or `seq + 1` derived from a damaged header can overflow.
pub const SEQ_MAX: u64 = 1 << 62;

/// A link's `prev_data_end` must lie inside the previous segment's records area, on a frame
/// boundary: readers use it as the end of that segment's committed bytes.
fn link_end_fits(link: &ChainLink, previous: Option<&SegmentFacts>) -> bool {
    let end = link.prev_data_end;
    previous.is_some_and(|p| {
        end >= crate::storage::format::SEGMENT_HEADER_SIZE as u64
            && end <= p.header.capacity_bytes
            && end.is_multiple_of(crate::storage::format::FRAME_ALIGN as u64)
    })
}

/// One tail-region segment with its scan.
pub struct ScannedSegment<'a> {
    pub facts: &'a SegmentFacts,
    pub scan: &'a SegmentScan,
}

/// The decision about the tail region (`docs/RECOVERY.md`, cases R1–R4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailDecision {
    /// R1: every segment ends at a complete batch and the chain of sequence numbers holds.
    Clean,
    /// R2 / R3: cut segment `segment` (index into the tail region) at `offset`; remove the
    /// segments after it. `later_records` tells whether valid records beyond the cut exist
    /// (R3: unsynced writes persisted out of order by a power loss).
    Cut(Cut),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub segment: usize,
    pub offset: usize,
    /// Last sequence number kept.
    pub last_seq_kept: u64,
    /// Bytes cleared in the cut segment.
    pub bytes_cut: usize,
    /// Whole segments removed after the cut segment.
    pub segments_removed: usize,
    pub later_records: bool,
}

/// Decides about the tail region. `salvage` turns damage (R4) into a cut.
pub fn assess_tail(tail: &[ScannedSegment<'_>], salvage: bool) -> Result<TailDecision, Error> {
    let Some(cut_at) = first_break(tail) else {
        return Ok(TailDecision::Clean);
    };
    let broken = &tail[cut_at];
    let first_lost_seq = broken.scan.last_seq + 1;
    let later_in_segment = broken.scan.later.is_some();
    let later_segments = &tail[cut_at + 1..];
    let later_records = later_in_segment || later_segments.iter().any(|s| s.scan.records > 0);
    let claim_max = tail[cut_at..]
        .iter()
        .flat_map(|s| [s.scan.durable_claim_max, s.facts.watermark_seq])
        .fold(0, u64::max);
    if (later_records || broken.facts.watermark_seq >= first_lost_seq)
        && claim_max >= first_lost_seq
        && !salvage
    {
        return Err(Error::corrupt(
            &broken.facts.path,
            broken.scan.stop_offset as u64,
            Some(broken.scan.stop_seq()),
            format!(
                "{} is damaged ({}) but later records say seq {claim_max} was already durable: this is damage, not a torn tail (open with salvage to cut here)",
                broken.scan.stop_record(),
                broken.scan.stop
            ),
        ));
    }
    Ok(TailDecision::Cut(Cut {
        segment: cut_at,
        offset: broken.scan.committed_end,
        last_seq_kept: broken.scan.last_seq,
        bytes_cut: broken.scan.dirty_end - broken.scan.committed_end,
        segments_removed: later_segments.len(),
        later_records,
    }))
}

/// The first tail segment that does not end cleanly or is not followed by the next seq.
fn first_break(tail: &[ScannedSegment<'_>]) -> Option<usize> {
    tail.iter().enumerate().position(|(i, s)| {
        let next_starts_right = tail
            .get(i + 1)
            .is_none_or(|next| next.facts.header.first_seq == s.scan.last_seq + 1);
        !s.scan.is_clean() || !next_starts_right
    })
}
