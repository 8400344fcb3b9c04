//! `verify`: every record, every checksum, the segment chain (`docs/RECOVERY.md` §Verify).
//!
//! Unlike open, verify reads everything: each sealed segment must end exactly where its
//! successor's link says, with the BLAKE3 hash the link records, and every payload must
//! decode. Every decoded event is also checked against the stateless rules of the contract
//! (`crate::model::contract`): a journal written before the library checked them may hold events
//! that break them. Those are reported as contract violations, an outcome apart from damage:
//! the bytes are intact, the event is what was appended. It never writes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::Error;
use crate::model::codec;
use crate::model::contract::{self, Violation};
use crate::model::event::{EventKind, Timestamp};
use crate::progress::{ignore, Progress, Tracker};
use crate::storage::folder::{is_locked_by_writer, read_meta};
use crate::storage::format::{
    ChainLink, JournalMeta, RecordHasher, CHAIN_AT, CHAIN_SIZE, SEGMENT_HEADER_SIZE, WATERMARK_AT,
    WATERMARK_SIZE,
};
use crate::storage::layout::Layout;
use crate::storage::layout::TornTail;
use crate::storage::mmap::{Behind, Map, RELEASE_EVERY};
use crate::storage::recovery::TailDecision;
use crate::storage::scan::{Frames, StopReason};
use crate::storage::segment::hash_prefix;

/// What `verify` found in a journal that is intact (or ends in a torn tail).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The journal's settings and identity.
    pub meta: JournalMeta,
    /// How many segment files hold the records.
    pub segments: usize,
    /// How many committed records there are (0 from `status`, which does not count them).
    pub records: u64,
    /// The sequence number of the first record; `None` for an empty journal (and from
    /// `status`).
    pub first_seq: Option<u64>,
    /// The sequence number of the last committed record: the head; `None` for an empty
    /// journal.
    pub last_seq: Option<u64>,
    /// When the first record was appended (UTC); `None` for an empty journal (and from
    /// `status`).
    pub first_recorded_at: Option<Timestamp>,
    /// When the last record was appended (UTC); `None` for an empty journal (and from
    /// `status`).
    pub last_recorded_at: Option<Timestamp>,
    /// Bytes of committed data (headers and frames) across segments.
    pub data_bytes: u64,
    /// Bytes the segment files occupy.
    pub file_bytes: u64,
    /// Links still pending at the end of the chain (a writer stopped before sealing).
    pub pending_links: usize,
    /// The incomplete batch at the end that the next writer's recovery will cut (not
    /// damage: it was never acknowledged); `None` when the journal ends cleanly.
    pub torn_tail: Option<TornTail>,
    /// A writer process holds the lock: the tail may be a batch being written.
    pub live: bool,
    /// `seq:hash` of the committed head ([`Anchor`]): record it, and `verify --anchor` proves
    /// later that the history up to `seq` was not rewritten.
    pub head_anchor: String,
    /// `r:seq:hash` of the committed head ([`RecordAnchor`]): like `head_anchor`, but
    /// independent of the segment layout, so a mirror of the journal verifies it too.
    pub record_anchor: String,
    /// Records whose event breaks a stateless rule of the contract, in seq order: the first
    /// [`CONTRACT_VIOLATIONS_LISTED_MAX`] of them (`contract_violation_count` counts all).
    /// Only `verify` looks for them; `status` leaves this empty.
    pub contract_violations: Vec<ContractViolation>,
    /// How many records break a stateless rule of the contract, all of them.
    pub contract_violation_count: u64,
}

/// How many contract violations a [`VerifyReport`] lists; more are only counted.
pub const CONTRACT_VIOLATIONS_LISTED_MAX: usize = 1000;

/// A record whose event breaks a stateless rule of the contract (`docs/INTERCHANGE.md` §3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContractViolation {
    /// The record's sequence number.
    pub seq: u64,
    /// The kind of its event.
    pub kind: EventKind,
    /// The rule broken, the field, and what is wrong with its value.
    pub violation: Violation,
}

/// A head anchor recorded earlier: `seq:hash` as `status` and `verify` print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Anchor {
    /// The sequence number of the head when the anchor was recorded.
    pub seq: u64,
    /// The BLAKE3 hash of the history up to the end of record `seq`.
    pub hash: [u8; 32],
}

impl Anchor {
    /// Parses `seq:hash` (64 hexadecimal digits).
    pub fn parse(text: &str) -> Result<Anchor, Error> {
        let invalid = |why: &str| {
            Error::InvalidSetting(format!(
                "anchor {text:?}: {why}; expected SEQ:HASH as printed by `status` (64 hex digits)"
            ))
        };
        let (seq, hash) = text.split_once(':').ok_or_else(|| invalid("no ':'"))?;
        let seq = seq
            .parse()
            .map_err(|_| invalid("the sequence number is not a number"))?;
        let hash =
            blake3::Hash::from_hex(hash).map_err(|_| invalid("the hash is not 64 hex digits"))?;
        Ok(Anchor {
            seq,
            hash: *hash.as_bytes(),
        })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, blake3::Hash::from(self.hash).to_hex())
    }
}

/// A head anchor over the records themselves, independent of the segment layout:
/// `r:seq:hash` ([`crate::storage::reader::JournalReader::record_hash`]). Unlike [`Anchor`],
/// it verifies on any journal that holds the same records: a mirror of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordAnchor {
    /// The sequence number of the head when the anchor was recorded.
    pub seq: u64,
    /// The record hash up to `seq`.
    pub hash: [u8; 32],
}

impl RecordAnchor {
    /// Parses `r:seq:hash` (64 hexadecimal digits); `None` when `text` does not start with
    /// `r:` (it may be an [`Anchor`]).
    pub fn parse(text: &str) -> Option<Result<RecordAnchor, Error>> {
        let rest = text.strip_prefix("r:")?;
        Some(Anchor::parse(rest).map(|a| RecordAnchor {
            seq: a.seq,
            hash: a.hash,
        }))
    }
}

impl std::fmt::Display for RecordAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "r:{}:{}",
            self.seq,
            blake3::Hash::from(self.hash).to_hex()
        )
    }
}

/// The record hashes of the journal in `dir` up to each of `seqs` (ascending;
/// [`RecordAnchor`]), in one walk, telling `hashed` of the bytes hashed as it goes.
fn record_hashes(
    dir: &Path,
    seqs: &[u64],
    hashed: &mut dyn FnMut(u64),
) -> Result<Vec<[u8; 32]>, Error> {
    let reader = crate::storage::reader::JournalReader::open(dir)?;
    reader.record_hashes_telling(seqs, hashed)
}

/// Verify's progress ([`crate::progress`]), in bytes of the segment files, once per pass over
/// them: the scan of every frame, the chain's hashes, the decoding, the record anchor's hash
/// (which, for a record anchor, also takes the hash at the anchor's seq on its way).
struct Passes<'p> {
    /// Until the segments' bytes are known.
    progress: Option<Progress<'p>>,
    tracker: Option<Tracker<'p>>,
    passes: u64,
    pass_bytes: u64,
    ended: u64,
}

impl<'p> Passes<'p> {
    fn new(progress: Progress<'p>, passes: u64) -> Passes<'p> {
        Passes {
            progress: Some(progress),
            tracker: None,
            passes,
            pass_bytes: 0,
            ended: 0,
        }
    }

    /// The passes are over `pass_bytes` bytes each: starts telling the progress.
    fn start(&mut self, pass_bytes: u64) {
        if let Some(progress) = self.progress.take() {
            self.pass_bytes = pass_bytes;
            self.tracker = Some(Tracker::new(progress, self.passes * pass_bytes));
        }
    }

    fn add(&mut self, bytes: u64) {
        if let Some(tracker) = &mut self.tracker {
            tracker.add(bytes);
        }
    }

    fn end_pass(&mut self) {
        self.ended += 1;
        if let Some(tracker) = &mut self.tracker {
            tracker.set(self.ended * self.pass_bytes);
        }
    }

    fn finish(self) {
        if let Some(tracker) = self.tracker {
            tracker.finish();
        }
    }
}

/// Verifies the journal in `dir`, then that it holds `anchor.seq` and that its records up to
/// there hash to `anchor.hash`, whatever its segment layout: a mirror proves with it that it
/// holds the history of the journal whose `status` printed the anchor.
pub fn verify_record_anchor(dir: &Path, anchor: &RecordAnchor) -> Result<VerifyReport, Error> {
    verify_record_anchor_with_progress(dir, anchor, &mut ignore)
}

/// [`verify_record_anchor`], telling `progress` how far it got ([`verify_with_progress`]).
pub fn verify_record_anchor_with_progress(
    dir: &Path,
    anchor: &RecordAnchor,
    progress: Progress,
) -> Result<VerifyReport, Error> {
    let mut passes = Passes::new(progress, VERIFY_PASSES);
    let (report, verified) = verify_layout(dir, &mut passes, Some(anchor.seq))?;
    holds_anchor_seq(dir, &report, anchor.seq)?;
    passes.finish();
    let hash = verified
        .hash_at_anchor
        .expect("the record hash is taken at every seq up to the head");
    if hash != anchor.hash {
        return Err(Error::corrupt(
            dir,
            0,
            Some(anchor.seq),
            format!(
                "the records up to seq {} hash to {}, the anchor says {}: another history",
                anchor.seq,
                blake3::Hash::from(hash).to_hex(),
                blake3::Hash::from(anchor.hash).to_hex()
            ),
        ));
    }
    Ok(report)
}

/// Verifies the journal in `dir`. `Err(Error::Corrupt)` / `Err(Error::Decode)` on damage.
pub fn verify(dir: &Path) -> Result<VerifyReport, Error> {
    verify_with_progress(dir, &mut ignore)
}

/// [`verify`], telling `progress` how far it got ([`crate::progress`]): in bytes of the
/// segment files, counted once for each pass over them (the scan of every frame, the chain's
/// hashes, the decoding of every payload, the record anchor's hash), per segment and per
/// 64 KiB hashed.
pub fn verify_with_progress(dir: &Path, progress: Progress) -> Result<VerifyReport, Error> {
    let mut passes = Passes::new(progress, VERIFY_PASSES);
    let (report, _) = verify_layout(dir, &mut passes, None)?;
    passes.finish();
    Ok(report)
}

/// The passes of [`verify_with_progress`] over the segments' bytes.
const VERIFY_PASSES: u64 = 4;

/// Verifies the journal in `dir`, then that it holds `anchor.seq` and that its history up to
/// there hashes to `anchor.hash`: together with the hash chain of the segments before (which
/// the verification checks), this proves that nothing up to `anchor.seq` was rewritten since
/// the anchor was recorded. A mismatch is `Err(Error::Corrupt)` saying what differs.
pub fn verify_anchor(dir: &Path, anchor: &Anchor) -> Result<VerifyReport, Error> {
    verify_anchor_with_progress(dir, anchor, &mut ignore)
}

/// [`verify_anchor`], telling `progress` how far it got ([`verify_with_progress`]).
pub fn verify_anchor_with_progress(
    dir: &Path,
    anchor: &Anchor,
    progress: Progress,
) -> Result<VerifyReport, Error> {
    let mut passes = Passes::new(progress, VERIFY_PASSES);
    let (report, Verified { layout, keep, .. }) = verify_layout(dir, &mut passes, None)?;
    holds_anchor_seq(dir, &report, anchor.seq)?;
    let (segment, end, hash) = anchor_at(&layout, keep, anchor.seq)?;
    if hash != anchor.hash {
        let path = &layout.files[segment].path;
        return Err(Error::corrupt(
            path,
            end as u64,
            Some(anchor.seq),
            format!(
                "history differs from the anchor: bytes [0, {end}) of this segment, up to the end of seq {}, hash to {}, the anchor says {}",
                anchor.seq,
                blake3::Hash::from(hash).to_hex(),
                blake3::Hash::from(anchor.hash).to_hex()
            ),
        ));
    }
    passes.finish();
    Ok(report)
}

/// The journal reaches the anchor's `seq`.
fn holds_anchor_seq(dir: &Path, report: &VerifyReport, seq: u64) -> Result<(), Error> {
    let head = report.last_seq.unwrap_or(0);
    if seq > head {
        return Err(Error::corrupt(
            dir,
            0,
            Some(seq),
            format!(
                "the anchor is at seq {seq}, but the journal ends at seq {head}: records the anchor covers were removed, or never held"
            ),
        ));
    }
    Ok(())
}

/// What `status` reports: the figures of [`VerifyReport`] that need no walk through the
/// records. It opens the journal as a reader does (headers, chain links, a scan of the tail
/// region), so damage there is reported, but it neither checks nor decodes the sealed
/// segments' records (`verify` does); `records`, `first_seq` and the recorded-at times are
/// left out.
pub fn status(dir: &Path) -> Result<VerifyReport, Error> {
    status_with_progress(dir, &mut ignore)
}

/// [`status`], telling `progress` how many bytes of the records the record anchor's hash has
/// read ([`crate::progress`]): the one pass over the history that `status` makes.
pub fn status_with_progress(dir: &Path, progress: Progress) -> Result<VerifyReport, Error> {
    let (mut report, layout, keep) = open_report(dir, None)?;
    let scan = layout.scans[keep - 1].as_ref();
    let head = scan
        .expect("the last segment holding records is in the scanned tail region")
        .last_seq;
    report.last_seq = (head > 0).then_some(head);
    set_head_anchor(&mut report, &layout, keep, head)?;
    let mut passes = Passes::new(progress, 1);
    passes.start(report.data_bytes);
    let hash = record_hashes(dir, &[head], &mut |bytes| passes.add(bytes))?[0];
    passes.end_pass();
    report.record_anchor = RecordAnchor { seq: head, hash }.to_string();
    passes.finish();
    Ok(report)
}

/// What `verify` and `status` both read first: the layout as a reader opens it (with
/// `scan_all`: every segment scanned, as one of verify's passes), how many segments from the
/// first hold committed records (all, or up to the one a torn tail is cut in), and the
/// report's figures that need no record.
fn open_report(
    dir: &Path,
    scan_all: Option<&mut Passes>,
) -> Result<(VerifyReport, Layout, usize), Error> {
    let meta = read_meta(dir)?;
    let live = is_locked_by_writer(dir);
    let (layout, decision) = match scan_all {
        Some(passes) => {
            let mut scanned = |bytes, all| {
                passes.start(all);
                passes.add(bytes);
            };
            let loaded = Layout::load_for_reading(dir, &meta, Some(&mut scanned))?;
            passes.end_pass();
            loaded
        }
        None => Layout::load_for_reading(dir, &meta, None)?,
    };
    let cut = match decision {
        TailDecision::Clean => None,
        TailDecision::Cut(cut) => Some(cut),
    };
    let keep = cut.as_ref().map_or(layout.files.len(), |cut| {
        layout.tail_start + cut.segment + 1
    });
    let torn_tail = cut.map(|cut| layout.torn_tail(layout.tail_start, &cut));
    let report = VerifyReport {
        meta,
        segments: layout.files.len(),
        records: 0,
        first_seq: None,
        last_seq: None,
        first_recorded_at: None,
        last_recorded_at: None,
        data_bytes: (0..keep).map(|i| layout.committed_end(i) as u64).sum(),
        file_bytes: layout.files[..keep]
            .iter()
            .map(|f| f.map.len() as u64)
            .sum(),
        pending_links: layout.facts.iter().filter(|f| f.link.is_none()).count(),
        torn_tail,
        live,
        head_anchor: String::new(),
        record_anchor: String::new(),
        contract_violations: Vec::new(),
        contract_violation_count: 0,
    };
    Ok((report, layout, keep))
}

fn set_head_anchor(
    report: &mut VerifyReport,
    layout: &Layout,
    keep: usize,
    head: u64,
) -> Result<(), Error> {
    let (_, _, hash) = anchor_at(layout, keep, head)?;
    report.head_anchor = Anchor { seq: head, hash }.to_string();
    Ok(())
}

/// What [`verify_layout`] hands back beside its report.
struct Verified {
    layout: Layout,
    /// How many segments hold committed records.
    keep: usize,
    /// The record hash at the seq asked for, when the journal holds it.
    hash_at_anchor: Option<[u8; 32]>,
}

/// Verifies the journal in `dir` (every pass of [`verify`]). With `anchor_seq`, the record
/// anchor's walk also takes the record hash at that seq, when the head is at or past it.
///
/// After the scan at open, the work runs on the machine's cores at once: the record anchor's
/// hash (one walk in seq order) on a thread of its own, the chain check on this one, then the
/// decoding on one thread per core, each taking the next segment not yet taken. This thread
/// tells `passes` of every segment decoded and every 64 KiB hashed as they are done. Each
/// segment's findings are merged in segment order, so the report and the error returned (the
/// chain's, else the first segment's that has one, else the anchor's) are those of the passes
/// run one after the other.
fn verify_layout(
    dir: &Path,
    passes: &mut Passes,
    anchor_seq: Option<u64>,
) -> Result<(VerifyReport, Verified), Error> {
    let (mut report, layout, keep) = open_report(dir, Some(passes))?;
    // The committed head as the scan at open found it: where the decoding ends too.
    let head = layout.scans[keep - 1]
        .as_ref()
        .expect("verify scans all segments")
        .last_seq;
    // Bytes done by the other threads, for `passes`.
    let (tell, told) = std::sync::mpsc::channel::<u64>();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let take = || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        (i < keep && !failed.load(Ordering::Relaxed)).then_some(i)
    };
    // The record hash at the anchor's seq (if the journal holds it), then at the head.
    let seqs: Vec<u64> = anchor_seq
        .filter(|&seq| seq <= head)
        .into_iter()
        .chain([head])
        .collect();
    let (checked, decoded, anchor) = std::thread::scope(|scope| {
        let anchor = scope.spawn({
            let tell = tell.clone();
            let seqs = &seqs;
            let layout = &layout;
            move || {
                scanned_record_hashes(layout, keep, seqs, &mut |bytes| {
                    let _ = tell.send(bytes);
                })
            }
        });
        let checked = check_sealed_segments(&layout, passes);
        let decoders = if checked.is_ok() { decoders() } else { 0 };
        let (layout, failed) = (&layout, &failed);
        let decoders: Vec<_> = (0..decoders)
            .map(|_| {
                let tell = tell.clone();
                let decode = move |i| {
                    let decoded = decode_segment(layout, i);
                    failed.fetch_or(decoded.is_err(), Ordering::Relaxed);
                    let _ = tell.send(layout.files[i].map.len() as u64);
                    (i, decoded)
                };
                scope.spawn(move || std::iter::from_fn(take).map(decode).collect::<Vec<_>>())
            })
            .collect();
        drop(tell);
        for bytes in told {
            passes.add(bytes);
        }
        let mut decoded: Vec<(usize, Result<Decoded, Error>)> = Vec::new();
        for decoder in decoders {
            decoded.extend(
                decoder
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        decoded.sort_by_key(|(i, _)| *i);
        let anchor = anchor
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (checked, decoded, anchor)
    });
    checked?;
    for (_, segment) in decoded {
        segment?.add_to(&mut report);
    }
    debug_assert_eq!(report.last_seq.unwrap_or(0), head);
    passes.end_pass();
    passes.end_pass();
    set_head_anchor(&mut report, &layout, keep, head)?;
    let mut hashes = anchor?;
    let hash = hashes.pop().expect("the hash at the head");
    report.record_anchor = RecordAnchor { seq: head, hash }.to_string();
    let verified = Verified {
        layout,
        keep,
        hash_at_anchor: hashes.pop(),
    };
    Ok((report, verified))
}

/// Threads that decode the segments: one per core.
fn decoders() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the decoding of one segment found ([`decode_segment`]).
#[derive(Default)]
struct Decoded {
    records: u64,
    first: Option<(u64, Timestamp)>,
    last: Option<(u64, Timestamp)>,
    /// The first [`CONTRACT_VIOLATIONS_LISTED_MAX`] of the segment's.
    violations: Vec<ContractViolation>,
    violation_count: u64,
}

impl Decoded {
    /// Adds a segment's findings, segment after segment, to `report`.
    fn add_to(self, report: &mut VerifyReport) {
        report.records += self.records;
        if let Some((seq, at)) = self.first {
            report.first_seq.get_or_insert(seq);
            report.first_recorded_at.get_or_insert(at);
        }
        if let Some((seq, at)) = self.last {
            report.last_seq = Some(seq);
            report.last_recorded_at = Some(at);
        }
        report.contract_violation_count += self.violation_count;
        let room = CONTRACT_VIOLATIONS_LISTED_MAX - report.contract_violations.len();
        report
            .contract_violations
            .extend(self.violations.into_iter().take(room));
    }
}

/// The anchor hash of the history up to `seq`: BLAKE3 of the bytes `[0, end of record seq)`
/// of the segment holding `seq` (for seq 0, the first segment's header page), where
///
/// - the watermark field counts as zeros: the writer rewrites it at every open and close, and
///   it records what was durable, not history;
/// - a chain link still pending counts as the link the seal will write (the hash of the
///   predecessor's committed bytes, its end and last seq), so the anchor is the same before
///   and after the seal, and still binds all earlier segments through the chain.
///
/// Returns the segment's index, the end offset and the hash. Only the first `keep` segments
/// hold committed records.
fn anchor_at(layout: &Layout, keep: usize, seq: u64) -> Result<(usize, usize, [u8; 32]), Error> {
    let i = (0..keep)
        .rev()
        .find(|&i| layout.files[i].header.first_seq <= seq)
        .unwrap_or(0);
    let file = &layout.files[i];
    let bytes = file.map.all_bytes();
    let seed = layout_seed(layout);
    let mut end = SEGMENT_HEADER_SIZE;
    if seq >= file.header.first_seq {
        let committed = layout.committed_end(i);
        let mut frames = Frames::new(&bytes[..committed], end, file.header.first_seq, seed);
        end = loop {
            match frames.next() {
                Some((at, frame)) if frame.header.seq == seq => break at + frame.size,
                Some(_) => {}
                None => {
                    let at = frames.offset() as u64;
                    let reason = match frames.stop() {
                        Some(StopReason::EndOfSegment) => {
                            "no record with the anchor's seq in the segment that should hold it"
                                .to_string()
                        }
                        stop => stop.expect("the walk ended").to_string(),
                    };
                    return Err(Error::corrupt(&file.path, at, Some(seq), reason));
                }
            }
        };
    }
    let link = match layout.facts[i].link {
        Some(link) => link,
        None => {
            let prev = i
                .checked_sub(1)
                .expect("the first segment has its genesis link");
            let prev_end = layout.committed_end(prev);
            ChainLink {
                prev_hash: hash_prefix(layout.files[prev].map.all_bytes(), prev_end),
                prev_data_end: prev_end as u64,
                prev_last_seq: file.header.first_seq - 1,
            }
        }
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update(&bytes[..CHAIN_AT]);
    hasher.update(&link.encode());
    hasher.update(&bytes[CHAIN_AT + CHAIN_SIZE..WATERMARK_AT]);
    hasher.update(&[0u8; WATERMARK_SIZE]);
    hasher.update(&bytes[WATERMARK_AT + WATERMARK_SIZE..end]);
    Ok((i, end, *hasher.finalize().as_bytes()))
}

fn layout_seed(layout: &Layout) -> u32 {
    crate::storage::format::frame_seed(&layout.files[0].header.journal_id)
}

/// Every segment but the tail region's end must be clean and match its successor's link.
fn check_sealed_segments(layout: &Layout, passes: &mut Passes) -> Result<(), Error> {
    for i in 0..layout.files.len() {
        let file = &layout.files[i];
        passes.add(file.map.len() as u64);
        let scan = layout.scans[i].as_ref().expect("verify scans all segments");
        let Some(next) = layout.facts.get(i + 1) else {
            continue;
        };
        if i < layout.tail_start && !scan.is_clean() {
            return Err(Error::corrupt(
                &file.path,
                scan.stop_offset as u64,
                Some(scan.stop_seq()),
                format!(
                    "damaged record in a sealed segment: {} ({})",
                    scan.stop_record(),
                    scan.stop
                ),
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
        let hash = hash_prefix_releasing(&file.map, scan.committed_end);
        if hash != link.prev_hash {
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
    passes.end_pass();
    Ok(())
}

/// The record anchor's hashes (`docs/FORMAT.md` §7) at each of `seqs` (ascending), over the
/// first `keep` segments of `layout`, whose frames the scan at open checked: walked without
/// computing their checksums again. Tells `hashed` of each block of frames hashed.
fn scanned_record_hashes(
    layout: &Layout,
    keep: usize,
    seqs: &[u64],
    hashed: &mut dyn FnMut(u64),
) -> Result<Vec<[u8; 32]>, Error> {
    let mut hasher = RecordHasher::new();
    let mut hashes = Vec::with_capacity(seqs.len());
    let mut wanted = seqs.iter().copied().peekable();
    let mut last = 0;
    while wanted.next_if_eq(&0).is_some() {
        hashes.push(hasher.hash());
    }
    for (file, i) in layout.files[..keep].iter().zip(0..) {
        if wanted.peek().is_none() {
            break;
        }
        let end = layout.committed_end(i);
        let bytes = &file.map.all_bytes()[..end];
        let mut frames = Frames::scanned(bytes, SEGMENT_HEADER_SIZE, file.header.first_seq);
        // Hashed: its pages need not stay resident (`mmap.rs`).
        let mut behind = Behind::new(0, RELEASE_EVERY);
        for (at, frame) in frames.by_ref() {
            hasher.add(&bytes[at..at + frame.len()], hashed);
            behind.passed(&file.map, at);
            last = frame.header.seq;
            while wanted.next_if_eq(&last).is_some() {
                hashes.push(hasher.hash());
            }
        }
        behind.leave(&file.map);
        if frames.offset() < end {
            let stop = frames.stop().expect("the walk ended");
            let (at, seq) = (frames.offset() as u64, frames.next_seq());
            return Err(Error::corrupt(&file.path, at, Some(seq), stop.to_string()));
        }
    }
    match wanted.peek() {
        None => Ok(hashes),
        Some(&seq) => Err(Error::corrupt(
            &layout.files[keep - 1].path,
            layout.committed_end(keep - 1) as u64,
            Some(seq),
            format!("the journal ends at seq {last}, before seq {seq}"),
        )),
    }
}

/// [`hash_prefix`] of `map`'s bytes, releasing the pages hashed as it goes (`mmap.rs`).
fn hash_prefix_releasing(map: &Map, data_end: usize) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    let mut behind = Behind::new(0, RELEASE_EVERY);
    for start in (0..data_end).step_by(RELEASE_EVERY) {
        let end = (start + RELEASE_EVERY).min(data_end);
        hasher.update(&map.all_bytes()[start..end]);
        behind.passed(map, end);
    }
    behind.leave(map);
    *hasher.finalize().as_bytes()
}

/// Decodes every committed payload of segment `i`, and checks each event against the
/// contract's stateless rules.
fn decode_segment(layout: &Layout, i: usize) -> Result<Decoded, Error> {
    let file = &layout.files[i];
    let end = layout.committed_end(i);
    let bytes = &file.map.all_bytes()[..end];
    let mut found = Decoded::default();
    // The scan at open checked every frame up to the committed end.
    let mut frames = Frames::scanned(bytes, SEGMENT_HEADER_SIZE, file.header.first_seq);
    // Decoded: its pages need not stay resident (`mmap.rs`).
    let mut behind = Behind::new(0, RELEASE_EVERY);
    for (offset, frame) in frames.by_ref() {
        behind.passed(&file.map, offset);
        let h = frame.header;
        let event =
            codec::decode(h.kind, h.codec, h.schema, frame.payload).map_err(|e| Error::Decode {
                file: file.path.clone(),
                offset: offset as u64,
                seq: h.seq,
                reason: e.to_string(),
            })?;
        if let Err(violation) = contract::validate(&event) {
            found.violation_count += 1;
            if found.violations.len() < CONTRACT_VIOLATIONS_LISTED_MAX {
                found.violations.push(ContractViolation {
                    seq: h.seq,
                    kind: event.kind(),
                    violation,
                });
            }
        }
        found.records += 1;
        found.first.get_or_insert((h.seq, h.recorded_at));
        found.last = Some((h.seq, h.recorded_at));
    }
    behind.leave(&file.map);
    if frames.offset() < end {
        let stop = frames.stop().expect("the walk ended");
        let (at, seq) = (frames.offset() as u64, frames.next_seq());
        return Err(Error::corrupt(&file.path, at, Some(seq), stop.to_string()));
    }
    Ok(found)
}
