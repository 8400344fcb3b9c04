//! `verify`: every record, every checksum, the segment chain (`docs/RECOVERY.md` §Verify).
//!
//! Unlike open, verify reads everything: each sealed segment must end exactly where its
//! successor's link says, with the BLAKE3 hash the link records, and every payload must
//! decode. It never writes.

use std::path::Path;

use crate::codec;
use crate::error::Error;
use crate::event::Timestamp;
use crate::format::{read_frame, JournalMeta, SEGMENT_HEADER_SIZE};
use crate::journal::{is_locked_by_writer, read_meta, Layout};
use crate::recovery::{self, Cut, TailDecision};
use crate::segment::hash_prefix;

/// What `verify` found in a journal that is intact (or ends in a torn tail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub meta: JournalMeta,
    pub segments: usize,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Recorded-at times of the first and last record.
    pub first_recorded_at: Option<Timestamp>,
    pub last_recorded_at: Option<Timestamp>,
    /// Bytes of committed data (headers and frames) across segments.
    pub data_bytes: u64,
    /// Bytes the segment files occupy.
    pub file_bytes: u64,
    /// Links still pending at the end of the chain (a writer stopped before sealing).
    pub pending_links: usize,
    pub torn_tail: Option<Cut>,
    /// A writer process holds the lock: the tail may be a batch being written.
    pub live: bool,
    /// `seq:hash` of the committed head: BLAKE3 of the last segment's committed bytes.
    pub head_anchor: String,
}

/// Verifies the journal in `dir`. `Err(Error::Corrupt)` / `Err(Error::Decode)` on damage.
pub fn verify(dir: &Path) -> Result<VerifyReport, Error> {
    let meta = read_meta(dir)?;
    let live = is_locked_by_writer(dir);
    let mut layout = Layout::load(dir, &meta, false)?;
    layout.scan_all(meta.frame_seed());
    let decision = recovery::assess_tail(&layout.scanned_tail(layout.tail_start), false)?;
    check_sealed_segments(&layout)?;
    let torn_tail = match decision {
        TailDecision::Clean => None,
        TailDecision::Cut(cut) => Some(cut),
    };
    let mut report = VerifyReport {
        meta,
        segments: layout.files.len(),
        records: 0,
        first_seq: None,
        last_seq: None,
        first_recorded_at: None,
        last_recorded_at: None,
        data_bytes: 0,
        file_bytes: 0,
        pending_links: layout.facts.iter().filter(|f| f.link.is_none()).count(),
        torn_tail: torn_tail.clone(),
        live,
        head_anchor: String::new(),
    };
    let keep = torn_tail.as_ref().map_or(layout.files.len(), |cut| {
        layout.tail_start + cut.segment + 1
    });
    for i in 0..keep {
        decode_segment(&layout, i, &mut report)?;
    }
    let last = keep - 1;
    let end = layout.committed_end(last);
    report.head_anchor = format!(
        "{}:{}",
        report.last_seq.unwrap_or(0),
        blake3::Hash::from(hash_prefix(layout.files[last].map.all_bytes(), end)).to_hex()
    );
    Ok(report)
}

/// Every segment but the tail region's end must be clean and match its successor's link.
fn check_sealed_segments(layout: &Layout) -> Result<(), Error> {
    for i in 0..layout.files.len() {
        let file = &layout.files[i];
        let scan = layout.scans[i].as_ref().expect("verify scans all segments");
        let Some(next) = layout.facts.get(i + 1) else {
            continue;
        };
        if i < layout.tail_start && !scan.is_clean() {
            return Err(Error::corrupt(
                &file.path,
                scan.stop_offset as u64,
                Some(scan.last_seq + 1),
                format!("damaged record in a sealed segment: {}", scan.stop),
            ));
        }
        let Some(link) = next.link else { continue };
        let expected = (link.prev_data_end as usize, link.prev_last_seq);
        if (scan.committed_end, scan.last_seq) != expected {
            return Err(Error::corrupt(
                &file.path,
                scan.committed_end as u64,
                Some(scan.last_seq),
                format!(
                    "segment ends at byte {} after seq {}, but the next segment's link says byte {} after seq {}",
                    scan.committed_end, scan.last_seq, expected.0, expected.1
                ),
            ));
        }
        if hash_prefix(file.map.all_bytes(), scan.committed_end) != link.prev_hash {
            return Err(Error::corrupt(
                &file.path,
                0,
                None,
                format!(
                    "contents differ from the hash recorded in {} (edited or replaced segment)",
                    next.path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Decodes every committed payload of segment `i` and adds it to the report.
fn decode_segment(layout: &Layout, i: usize, report: &mut VerifyReport) -> Result<(), Error> {
    let file = &layout.files[i];
    let end = layout.committed_end(i);
    let bytes = &file.map.all_bytes()[..end];
    let seed = report.meta.frame_seed();
    let mut offset = SEGMENT_HEADER_SIZE;
    while offset < end {
        let frame = read_frame(&bytes[offset..], seed)
            .map_err(|e| Error::corrupt(&file.path, offset as u64, None, e.to_string()))?;
        let h = frame.header;
        codec::decode(h.kind, h.codec, h.schema, frame.payload).map_err(|e| Error::Decode {
            file: file.path.clone(),
            offset: offset as u64,
            seq: h.seq,
            reason: e.to_string(),
        })?;
        report.records += 1;
        report.first_seq.get_or_insert(h.seq);
        report.last_seq = Some(h.seq);
        report.first_recorded_at.get_or_insert(h.recorded_at);
        report.last_recorded_at = Some(h.recorded_at);
        offset += frame.size;
    }
    report.data_bytes += end as u64;
    report.file_bytes += file.map.len() as u64;
    Ok(())
}
