//! The segments of a journal folder as open finds them: loaded, checked as a chain, their
//! tail scanned, and the recovery decisions (`recovery.rs`) applied to them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{io_error, Error};
use crate::model::event::Timestamp;
use crate::storage::folder::{is_locked_by_writer, TORN_DIR_NAME};
use crate::storage::format::{ChainLink, JournalMeta, Watermark, SEGMENT_HEADER_SIZE};
use crate::storage::fs::Storage;
use crate::storage::recovery::{self, Cut, ScannedSegment, SegmentFacts, TailDecision};
use crate::storage::scan::{scan_segment, SegmentScan};
use crate::storage::segment::{self, SegmentFile};
use crate::storage::writer::{SegmentEntry, Start};

/// How many times a reader scans a live journal again before it believes in damage
/// ([`Layout::load_for_reading`]).
const LIVE_RESCANS: u64 = 5;

/// A torn tail that recovery cut when the journal was opened (`docs/RECOVERY.md`): the bytes
/// of a batch that never committed, which no append acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutReport {
    /// The segment file that was cut.
    pub segment: PathBuf,
    /// The byte offset in it where the cut starts: the end of the last complete batch.
    pub offset: u64,
    /// The sequence number of the last record kept (0 when none is).
    pub last_seq_kept: u64,
    /// How many bytes were cleared in `segment`.
    pub bytes_cut: u64,
    /// How many whole segment files after `segment` were removed.
    pub segments_removed: usize,
    /// Valid records lay beyond the damage (a power loss persisted unsynced writes out of
    /// order, or salvage cut real damage).
    pub later_records_discarded: bool,
    /// Where the cut bytes were saved.
    pub saved_to: PathBuf,
}

/// An incomplete batch at the end of a journal, as a read-only open finds it: the next
/// writer's open cuts it (`docs/RECOVERY.md`); no append acknowledged it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The segment file it is in.
    pub segment: PathBuf,
    /// The byte offset in it where it starts: the end of the last complete batch.
    pub offset: u64,
    /// The sequence number of the last complete record before it (0 when none is).
    pub last_seq_kept: u64,
    /// How many bytes of `segment` it covers.
    pub bytes: u64,
    /// Whole segment files after `segment` that the cut would remove.
    pub segments_after: usize,
    /// Valid records lie beyond it (a power loss persisted unsynced writes out of order).
    pub later_records: bool,
}

impl std::fmt::Display for CutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cut a torn tail of {} bytes after seq {} in {} at byte {}",
            self.bytes_cut,
            self.last_seq_kept,
            self.segment.display(),
            self.offset
        )?;
        if self.segments_removed > 0 {
            write!(f, ", removed {} later segment(s)", self.segments_removed)?;
        }
        if self.later_records_discarded {
            f.write_str(", discarding valid-looking records beyond it (never durable)")?;
        }
        write!(f, "; saved to {}", self.saved_to.display())
    }
}

/// The segments of a journal, their header facts, and scans of the tail region.
pub(crate) struct Layout {
    pub files: Vec<SegmentFile>,
    pub facts: Vec<SegmentFacts>,
    /// Index of the first segment not yet known to be sealed and synced.
    pub tail_start: usize,
    /// Scans of `files[tail_start..]` (or of all files after `scan_all`).
    pub scans: Vec<Option<SegmentScan>>,
}

impl Layout {
    /// The torn tail that recovery's `cut` would remove, as a read-only open reports it.
    /// What `cut` leaves out; `cut.segment` counts from `region_start`, the first segment of
    /// the region its decision looked at.
    pub fn torn_tail(&self, region_start: usize, cut: &Cut) -> TornTail {
        TornTail {
            segment: self.files[region_start + cut.segment].path.clone(),
            offset: cut.offset as u64,
            last_seq_kept: cut.last_seq_kept,
            bytes: cut.bytes_cut as u64,
            segments_after: cut.segments_removed,
            later_records: cut.later_records,
        }
    }

    /// Opens every segment, checks the chain structure and scans the tail region. With the
    /// `writable` storage the segments are mapped for writing (by the writer, under its lock).
    pub(crate) fn load(
        dir: &Path,
        meta: &JournalMeta,
        writable: Option<&Storage>,
    ) -> Result<Layout, Error> {
        let mut files = vec![];
        let mut facts = vec![];
        for (name_first_seq, path) in segment::list_segments(dir)? {
            let file = segment::open_segment(&path, writable)?;
            facts.push(SegmentFacts {
                path: path.clone(),
                name_first_seq,
                header: file.header,
                link: file.link,
                watermark_seq: file.watermark.map_or(0, |w| w.durable_seq),
            });
            files.push(file);
        }
        if files.is_empty() {
            return Err(Error::corrupt(
                dir,
                0,
                None,
                "the journal has no segment file",
            ));
        }
        let tail_start = recovery::check_structure(&facts, &meta.journal_id)?;
        let mut layout = Layout {
            scans: vec![None; files.len()],
            files,
            facts,
            tail_start,
        };
        layout.scan_range(tail_start, meta.frame_seed(), &mut |_, _| {});
        Ok(layout)
    }

    /// The layout as a reader sees it (no lock, nothing written), with the tail decision a
    /// writer's open would take. `scan_all` scans every segment (verify), telling the
    /// callback each segment's bytes and all segments' bytes as it goes.
    ///
    /// While a writer is appending, the bytes after the committed end change during the scan:
    /// batches appended after the in-order walk stopped look like valid records beyond a hole,
    /// claiming that the records of the hole are durable, which is what damage looks like.
    /// So when a writer holds the lock, damage is looked at again on a fresh scan, a few times;
    /// a race does not repeat, real damage does.
    pub fn load_for_reading(
        dir: &Path,
        meta: &JournalMeta,
        mut scan_all: Option<&mut dyn FnMut(u64, u64)>,
    ) -> Result<(Layout, TailDecision), Error> {
        let mut rescans = 0;
        loop {
            let attempt = Layout::load(dir, meta, None).and_then(|mut layout| {
                if let Some(scanned) = scan_all.as_deref_mut() {
                    layout.scan_range(0, meta.frame_seed(), scanned);
                }
                let tail = layout.scanned_tail(layout.tail_start);
                let decision = recovery::assess_tail(&tail, false)?;
                Ok((layout, decision))
            });
            match attempt {
                Err(error)
                    if error.is_corruption()
                        && rescans < LIVE_RESCANS
                        && is_locked_by_writer(dir) =>
                {
                    rescans += 1;
                    tracing::debug!(%error, rescans, "a writer is appending: scanning again");
                    std::thread::sleep(std::time::Duration::from_millis(rescans));
                }
                other => return other,
            }
        }
    }

    /// Scans the segments from `from` on that are not yet, telling `scanned` the bytes of
    /// each segment scanned and of all segments. Several segments (verify, salvage) are
    /// scanned on all cores at once, each thread taking the next segment not yet taken.
    fn scan_range(&mut self, from: usize, seed: u32, scanned: &mut dyn FnMut(u64, u64)) {
        let all: u64 = self.files.iter().map(|file| file.map.len() as u64).sum();
        let todo: Vec<usize> = (from..self.files.len())
            .filter(|&i| self.scans[i].is_none())
            .collect();
        let files = &self.files;
        let scan = |i: usize| {
            let file = &files[i];
            let found = scan_segment(file.map.all_bytes(), file.header.first_seq, seed);
            // What the scan found is kept; its pages need not be (`mmap.rs`).
            file.map.release(0, file.map.len());
            found
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let found: Vec<(usize, SegmentScan)> = if todo.len() < 2 || threads < 2 {
            let one = |&i: &usize| {
                let found = scan(i);
                scanned(files[i].map.len() as u64, all);
                (i, found)
            };
            todo.iter().map(one).collect()
        } else {
            let next = AtomicUsize::new(0);
            let (tell, told) = std::sync::mpsc::channel::<u64>();
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads.min(todo.len()))
                    .map(|_| {
                        let tell = tell.clone();
                        let (todo, next, scan) = (&todo, &next, &scan);
                        scope.spawn(move || {
                            let take = || todo.get(next.fetch_add(1, Ordering::Relaxed));
                            let one = |&i: &usize| {
                                let found = scan(i);
                                let _ = tell.send(files[i].map.len() as u64);
                                (i, found)
                            };
                            std::iter::from_fn(take).map(one).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                drop(tell);
                for bytes in told {
                    scanned(bytes, all);
                }
                let joined = workers.into_iter().map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                });
                joined.flatten().collect()
            })
        };
        for (i, scan) in found {
            self.scans[i] = Some(scan);
        }
    }

    /// Scans every segment (salvage, verify).
    pub fn scan_all(&mut self, seed: u32) {
        self.scan_range(0, seed, &mut |_, _| {});
    }

    pub fn scanned_tail(&self, from: usize) -> Vec<ScannedSegment<'_>> {
        (from..self.files.len())
            .map(|i| ScannedSegment {
                facts: &self.facts[i],
                scan: self.scans[i].as_ref().expect("tail segments are scanned"),
            })
            .collect()
    }

    /// The offset up to which segment `i` holds committed records.
    pub fn committed_end(&self, i: usize) -> usize {
        match (&self.scans[i], self.facts.get(i + 1).and_then(|f| f.link)) {
            (Some(scan), _) => scan.committed_end,
            (None, Some(link)) => link.prev_data_end as usize,
            (None, None) => unreachable!("segments before the tail region have a sealed successor"),
        }
    }

    /// Cuts the tail as decided: saves the cut bytes under `torn/`, zeroes them, moves later
    /// segments to `torn/`, syncs. `cut.segment` counts from the scanned region's start.
    pub(crate) fn apply_cut(
        &mut self,
        storage: &Storage,
        dir: &Path,
        index: usize,
        cut: &Cut,
    ) -> Result<CutReport, Error> {
        let torn_dir = dir.join(TORN_DIR_NAME);
        storage
            .create_dir_all(&torn_dir)
            .map_err(io_error(&torn_dir, "create"))?;
        let file = &self.files[index];
        let saved_to = torn_dir.join(format!(
            "{}@{}.{}",
            file.file_name(),
            cut.offset,
            Timestamp::now().nanos()
        ));
        let bytes = &file.map.all_bytes()[cut.offset..cut.offset + cut.bytes_cut];
        storage
            .create_new(&saved_to)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| storage.sync_all(&f)))
            .map_err(io_error(&saved_to, "save torn bytes"))?;
        let handle = OpenOptions::new()
            .write(true)
            .open(&file.path)
            .map_err(io_error(&file.path, "open for cut"))?;
        handle
            .write_all_at(&vec![0u8; cut.bytes_cut], cut.offset as u64)
            .map_err(io_error(&file.path, "clear torn tail"))?;
        storage
            .sync_data(&handle)
            .map_err(io_error(&file.path, "sync cut"))?;
        for removed in self.files.drain(index + 1..) {
            let target = torn_dir.join(removed.file_name());
            storage
                .rename(&removed.path, &target)
                .map_err(io_error(&removed.path, "move aside"))?;
        }
        self.facts.truncate(index + 1);
        self.scans.truncate(index + 1);
        let scan = self.scans[index].as_mut().expect("cut segment was scanned");
        scan.dirty_end = scan.committed_end;
        self.tail_start = self.tail_start.min(index);
        segment::sync_dir(storage, &torn_dir)?;
        segment::sync_dir(storage, dir)?;
        Ok(CutReport {
            segment: self.files[index].path.clone(),
            offset: cut.offset as u64,
            last_seq_kept: cut.last_seq_kept,
            bytes_cut: cut.bytes_cut as u64,
            segments_removed: cut.segments_removed,
            later_records_discarded: cut.later_records,
            saved_to,
        })
    }

    /// Writes the chain links the previous writer left pending, each durable before the next
    /// is written (a sealed link after a pending one is damage).
    ///
    /// The link the previous writer wrote last may still be only in the page cache (it died
    /// between the write and its sync), yet it reads as sealed. It lies in segment
    /// `tail_start`: the predecessor of the first pending link, which is flushed whole below
    /// before that link is written, or the last segment, which `mark_durable` flushes whole.
    /// Every link before it was synced before it was written.
    pub(crate) fn complete_links(&mut self) -> Result<usize, Error> {
        let mut completed = 0;
        for i in 1..self.files.len() {
            if self.facts[i].link.is_some() {
                continue;
            }
            let prev = &self.files[i - 1];
            let data_end = self.committed_end(i - 1);
            let prev_last_seq = self.files[i].header.first_seq - 1;
            prev.map
                .flush(0, prev.map.len())
                .map_err(io_error(&prev.path, "sync sealed segment"))?;
            let link = ChainLink {
                prev_hash: segment::hash_prefix(prev.map.all_bytes(), data_end),
                prev_data_end: data_end as u64,
                prev_last_seq,
            };
            // Synced with the whole segment when it is the predecessor of the next pending
            // link (above), or with the recovered segment (`mark_durable`) when it is the
            // last: before the next link is written, and before anything is appended.
            segment::write_link_unsynced(&self.files[i].path, &link)?;
            self.facts[i].link = Some(link);
            completed += 1;
        }
        Ok(completed)
    }

    /// Syncs the last segment and records in its watermark that everything recovered is
    /// durable, so that later damage to it is never mistaken for a torn tail.
    ///
    /// The sync happens even when the watermark already says so: a writer that crashed may
    /// have left the records, and the watermark itself, in the page cache only. The range
    /// starts at byte 0, so the header page (links, watermark) is synced too: the seal hashes it.
    pub(crate) fn mark_durable(&self, storage: &Storage) -> Result<(), Error> {
        let last = self.files.len() - 1;
        let scan = self.scans[last].as_ref().expect("last segment is scanned");
        let file = &self.files[last];
        let watermark = Watermark {
            durable_seq: scan.last_seq,
            durable_end: scan.committed_end as u64,
        };
        file.map
            .flush(0, scan.committed_end)
            .map_err(io_error(&file.path, "sync recovered segment"))?;
        if file.watermark == Some(watermark) {
            return Ok(());
        }
        segment::write_watermark(storage, &file.path, &watermark)
    }

    pub(crate) fn into_start(mut self) -> Result<Start, Error> {
        let last = self.files.len() - 1;
        let scan = self.scans[last].clone().expect("last segment is scanned");
        let writer = self.files[last]
            .map
            .attach_writer()
            .map_err(io_error(&self.files[last].path, "map segment for writing"))?;
        let segments = self
            .files
            .into_iter()
            .map(|f| SegmentEntry {
                first_seq: f.header.first_seq,
                index: f.header.index,
                path: f.path,
                map: f.map,
            })
            .collect::<Vec<_>>();
        for (i, entry) in segments.iter().enumerate().take(last) {
            let end = match &self.scans[i] {
                Some(s) => s.committed_end,
                None => self.facts[i + 1]
                    .link
                    .map_or(SEGMENT_HEADER_SIZE as u64, |l| l.prev_data_end)
                    as usize,
            };
            entry.map.publish(end);
        }
        Ok(Start {
            segments,
            writer,
            write_offset: scan.committed_end,
            next_seq: scan.last_seq + 1,
        })
    }
}
