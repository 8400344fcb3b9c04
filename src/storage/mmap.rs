//! The memory mappings of segment files and checkpoint files. The only module with `unsafe`
//! code.
//!
//! A segment is mapped once, at its full preallocated size, and never truncated or resized
//! while mapped (the file lock keeps other writers away, and readers never truncate), so the
//! mapped range is always backed by real blocks: no SIGBUS on a full disk.
//!
//! Access is split by role, and so are the mappings:
//! - [`MapWriter`] is the single writer. It hands out `&mut [u8]` only for bytes at or beyond
//!   the published end, which no reader in this process reads. It writes through a writable
//!   mapping of its own ([`WritableMap`], shared only with the pre-faulting thread), which is
//!   unmapped when the writer moves on to the next segment.
//! - [`Map`] (shared through `Arc`) is a read-only mapping of the same file: it gives readers
//!   the bytes below the published end, and lets any thread flush (`msync`) ranges.
//!
//! Why two mappings: writing back a page that is mapped writable and dirty must write-protect
//! it in every such mapping, and on x86 that is an inter-processor interrupt (a TLB shootdown)
//! to every CPU running the process, per page. With one writable mapping per segment kept for
//! readers, sealing a rolled 32 MiB segment interrupted the appending thread thousands of
//! times (the flat-out p99 of a Buffered append was ~6 µs). Once the writer's mapping of a
//! rolled segment is gone, only read-only, clean entries map its pages, and writing them back
//! disturbs nobody.
//!
//! **Releasing pages behind a reader.** Every page a walk touches stays mapped into the
//! process, and counts in its resident memory, until the mapping goes: a walk of a 10 M-event
//! journal would hold a gigabyte of it. Readers therefore release the pages they have passed
//! ([`Map::release`], [`ReadOnlyMap::release_if_due`], [`Behind`]): `madvise(MADV_DONTNEED)` on
//! these shared, read-only file mappings only drops this process's page-table entries. The
//! pages stay in the page cache, and a later access maps the same page again, so every byte
//! reads as before.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{Advice, Mmap, MmapOptions, MmapRaw, UncheckedAdvice};

use crate::storage::format::SEGMENT_HEADER_SIZE;
use crate::storage::Storage;

/// A mapped segment file.
pub struct Map {
    raw: MmapRaw,
    len: usize,
    /// Bytes `[SEGMENT_HEADER_SIZE, published)` are complete records, never written again:
    /// readers in this process may read them. Only the writer advances it, with `Release`,
    /// after the bytes are written.
    published: AtomicUsize,
    /// True while a [`MapWriter`] of this mapping exists.
    writer_attached: AtomicBool,
    /// For the writer process: the file (opened for writing) and the storage its ranges are
    /// synced through.
    sync: Option<(File, Storage)>,
}

impl Map {
    /// Maps the whole of `file`, opened for reading and writing by the process holding the
    /// writer lock, read-only; its ranges are synced through `storage`. Nothing writes
    /// through it until [`Map::attach_writer`].
    pub fn map_for_writer(file: File, storage: &Storage) -> io::Result<Map> {
        let mut map = Map::new(MmapOptions::new().map_raw_read_only(&file)?);
        map.sync = Some((file, storage.clone()));
        Ok(map)
    }

    /// Maps the whole of `file` read-only (readers, `verify`, `dump`, `tail`).
    pub fn map_read_only(file: &File) -> io::Result<Arc<Map>> {
        Ok(Arc::new(Map::new(
            MmapOptions::new().map_raw_read_only(file)?,
        )))
    }

    fn new(raw: MmapRaw) -> Map {
        let len = raw.len();
        Map {
            raw,
            len,
            published: AtomicUsize::new(0),
            writer_attached: AtomicBool::new(false),
            sync: None,
        }
    }

    /// Gives the mapping its one writer: a second, writable mapping of the same file.
    ///
    /// Takes `&mut self`, so no slice of this mapping is borrowed when the writer appears;
    /// from then until the writer is dropped, [`Map::all_bytes`] refuses (the writer's
    /// bytes beyond the published end are not for reading).
    pub fn attach_writer(self: &mut Arc<Map>) -> io::Result<MapWriter> {
        let map = Arc::get_mut(self).expect("a mapping gets its writer before it is shared");
        let Some((file, _)) = &map.sync else {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "a read-only mapping cannot have a writer",
            ));
        };
        let writable = MmapOptions::new().map_raw(file)?;
        assert_eq!(
            writable.len(),
            map.len,
            "both mappings cover the whole file"
        );
        *map.writer_attached.get_mut() = true;
        Ok(MapWriter {
            map: Arc::clone(self),
            writable: Arc::new(WritableMap { raw: writable }),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The end of the bytes this process's writer has published.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Marks `[0, end)` as complete. Used by the writer after writing, and at open after
    /// recovery established which prefix is valid.
    pub fn publish(&self, end: usize) {
        assert!(end <= self.len, "publish past the end of the mapping");
        self.published.store(end, Ordering::Release);
    }

    /// The published records: bytes `[SEGMENT_HEADER_SIZE, published)` (empty before the
    /// first publication). The header page is left out: its chain link and watermark are
    /// rewritten in place while the segment is read.
    pub fn published_records(&self) -> &[u8] {
        let end = self.published().max(SEGMENT_HEADER_SIZE);
        assert!(end <= self.len, "a segment is longer than its header page");
        // SAFETY: `[SEGMENT_HEADER_SIZE, end)` lies inside the mapping, which stays mapped
        // and backed by file blocks while `self` lives (the file is never truncated while
        // mapped, module docs). These bytes were fully written before the `Release` store
        // that published them (paired with the `Acquire` load above), and nothing in this
        // process writes them again: the writer writes only at or beyond the published end
        // (`MapWriter::unpublished_mut` asserts it), recovery zeroes a torn tail before the
        // writer starts and before anything is published, and the in-place writes after
        // publication (chain link, watermark) go to the header page, which is not part of
        // the slice.
        unsafe {
            std::slice::from_raw_parts(
                self.raw.as_ptr().add(SEGMENT_HEADER_SIZE),
                end - SEGMENT_HEADER_SIZE,
            )
        }
    }

    /// All mapped bytes, including those nobody has published: for scanning a file at open
    /// (before the writer starts), in a read-only process, or once the writer has moved on to
    /// another segment. Panics while this mapping has a writer ([`Map::attach_writer`]).
    ///
    /// Another process (or another mapping of the file in this process: a reader opened
    /// beside a writer) may be appending at the same time; the scanner treats every byte as
    /// untrusted input (checksums decide what is a record), so a concurrently changing byte
    /// can at worst end the scan early.
    pub fn all_bytes(&self) -> &[u8] {
        assert!(
            !self.writer_attached.load(Ordering::Acquire),
            "all bytes of a mapping that has a writer"
        );
        // SAFETY: the whole `len` bytes stay mapped and backed by file blocks while `self`
        // lives (module docs). No `&mut` into this mapping exists: a writer, the only source
        // of one, is not attached (checked above), and attaching one takes `&mut self`, which
        // cannot happen while the returned slice borrows `self`. Writes through other
        // mappings of the file (another process, or a writer's mapping in this process) and
        // in-place writes by the kernel (`pwrite` of a chain link or watermark) do not go
        // through this mapping's memory as seen by this program; such bytes are untrusted
        // data that checksums judge.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), self.len) }
    }

    /// Writes `[offset, offset + len)` to stable storage (msync, through the storage seam).
    /// Only a mapping of the writer process flushes: a read-only one is never dirty.
    pub fn flush(&self, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let Some((file, storage)) = &self.sync else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "flush of a read-only mapping",
            ));
        };
        storage.sync_mapped(file, &self.raw, offset, len)
    }

    /// Drops this mapping's pages of `[offset, offset + len)` from the process's resident
    /// memory (module docs). Best effort: an error leaves them resident.
    pub fn release(&self, offset: usize, len: usize) {
        let end = offset.saturating_add(len).min(self.len);
        if offset >= end {
            return;
        }
        // SAFETY: the range lies inside this mapping (clamped above), which is a shared,
        // read-only mapping of a file (`map_raw_read_only`; the writer's writable mapping is
        // a separate one, untouched). For such a mapping MADV_DONTNEED only removes page-table
        // entries: the next access maps the file's page-cache page again, whose bytes are the
        // ones this mapping showed before (dirty data written through another mapping or by
        // `pwrite` lives in that same page-cache page, and is not discarded). So the bytes
        // behind any slice borrowed from `self` do not change, and no slice is invalidated.
        let _ = unsafe {
            self.raw
                .unchecked_advise_range(UncheckedAdvice::DontNeed, offset, end - offset)
        };
    }
}

/// How far a reader may get past the last release of a mapping's pages before it releases
/// them again: what a walk keeps resident, per mapping it reads.
pub const RELEASE_EVERY: usize = 16 << 20;

/// Releases the pages of a mapping that a sequential reader has passed, every `every` bytes
/// of progress ([`Map::release`]).
#[derive(Clone, Copy, Debug)]
pub struct Behind {
    released_to: usize,
    every: usize,
}

impl Behind {
    /// A reader starting at byte `start`, releasing each `every` bytes of its progress (what
    /// lies before `start` it has not read, and leaves alone).
    pub fn new(start: usize, every: usize) -> Behind {
        Behind {
            released_to: start,
            every,
        }
    }

    /// The reader is done with `map` and goes on into the next mapping, from its start:
    /// releases all of `map` behind it (with the pages mapped beside the last ones read).
    pub fn leave(&mut self, map: &Map) {
        self.release_to(map, map.len());
        self.released_to = 0;
    }

    /// The reader has read `map` up to byte `offset`: releases what lies behind it once that
    /// is `every` bytes or more.
    pub fn passed(&mut self, map: &Map, offset: usize) {
        if offset >= self.released_to.saturating_add(self.every) {
            self.release_to(map, offset);
        }
    }

    /// The reader is done with `map` up to byte `offset`: releases what lies behind it.
    pub fn release_to(&mut self, map: &Map, offset: usize) {
        if offset > self.released_to {
            map.release(self.released_to, offset - self.released_to);
            self.released_to = offset;
        }
    }
}

/// The writer's mapping of a segment file (see the module documentation).
pub struct WritableMap {
    raw: MmapRaw,
}

impl WritableMap {
    /// Pre-faults `[offset, offset + len)` for writing, so that the writer's first store to
    /// each page does not take a page fault on the append path. Best effort.
    pub fn prefault_for_write(&self, offset: usize, len: usize) -> io::Result<()> {
        let end = (offset + len).min(self.raw.len());
        if offset >= end {
            return Ok(());
        }
        self.raw
            .advise_range(Advice::PopulateWrite, offset, end - offset)
    }
}

/// The exclusive right to write a mapped segment. Not `Clone`: one per mapping.
pub struct MapWriter {
    map: Arc<Map>,
    writable: Arc<WritableMap>,
}

impl Drop for MapWriter {
    fn drop(&mut self) {
        self.map.writer_attached.store(false, Ordering::Release);
    }
}

impl MapWriter {
    /// The writable mapping, for pre-faulting ahead of the writer.
    pub fn writable(&self) -> &Arc<WritableMap> {
        &self.writable
    }

    /// Mutable access to `[offset, offset + len)`, which must lie at or beyond the published
    /// end and inside the mapping.
    pub fn unpublished_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        assert!(
            offset >= self.map.published().max(SEGMENT_HEADER_SIZE),
            "write below the published end or into the header page"
        );
        assert!(
            offset + len <= self.map.len,
            "write past the end of the mapping"
        );
        // SAFETY: the range is inside the writable mapping (it covers the whole file, as the
        // read-only one does), which stays mapped and backed by blocks while `self.writable`
        // lives. `MapWriter` is the only writer of this file in this process (it is not
        // `Clone`, one is attached per mapping, and `&mut self` is held), and the range lies
        // at or beyond `published` and beyond the header page. Readers of this process never
        // read there through the read-only mapping of the same pages: `published_records`
        // ends at `published`, and `all_bytes` refuses while this writer exists. So no other
        // reference to these bytes exists for the lifetime of the slice.
        unsafe { std::slice::from_raw_parts_mut(self.writable.raw.as_mut_ptr().add(offset), len) }
    }
}

/// A read-only mapping of a checkpoint file, whose bytes are used in place.
///
/// A checkpoint is written once, to a temporary file that is synced and then renamed into
/// place; no code of this crate opens a finished checkpoint for writing or truncates it, and
/// a newer checkpoint is a new file (an old one is only ever unlinked, which keeps a mapping
/// of it valid). So the mapped bytes never change while mapped. They are still untrusted:
/// every block is checked against its checksum before use (`checkpoint.rs`).
pub struct ReadOnlyMap {
    map: Mmap,
    /// Bytes handed out ([`ReadOnlyMap::note_read`]) since the pages were last released.
    unreleased: AtomicUsize,
    release_every: usize,
    /// How many times the pages were released.
    releases: AtomicUsize,
}

impl ReadOnlyMap {
    /// Maps the whole of `file`, which must not be empty.
    pub fn map(file: &File) -> io::Result<ReadOnlyMap> {
        // SAFETY: the file is a finished checkpoint, which nothing in this crate modifies or
        // truncates while it exists (type docs); unlinking it leaves the mapping valid. A
        // foreign process writing to it could only change bytes that are checksummed before
        // use, not make the mapping invalid (the file is not truncated by this crate).
        let map = unsafe { Mmap::map(file)? };
        Ok(ReadOnlyMap {
            map,
            unreleased: AtomicUsize::new(0),
            release_every: RELEASE_EVERY,
            releases: AtomicUsize::new(0),
        })
    }

    /// The same mapping, releasing its pages every `every` bytes read instead of
    /// [`RELEASE_EVERY`].
    pub fn releasing_every(self, every: usize) -> ReadOnlyMap {
        ReadOnlyMap {
            release_every: every,
            ..self
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// How many times [`ReadOnlyMap::release_if_due`] released the pages.
    #[cfg(test)]
    pub fn releases(&self) -> usize {
        self.releases.load(Ordering::Relaxed)
    }

    /// Counts `len` bytes read from the mapping, for [`ReadOnlyMap::release_if_due`]. Cheap:
    /// point reads on the append path count, and never release.
    pub fn note_read(&self, len: usize) {
        self.unreleased.fetch_add(len, Ordering::Relaxed);
    }

    /// Once the bytes counted since the last release reach the release interval, releases
    /// every page of the mapping (module docs): the reads wander (an index here, records
    /// there), so the pages behind them are not one range. A release takes time in proportion
    /// to the pages resident (0.5–1 ms for 16 MiB), so only walks and background checks call
    /// it, never the append path.
    pub fn release_if_due(&self) {
        if self.unreleased.load(Ordering::Relaxed) < self.release_every {
            return;
        }
        self.unreleased.store(0, Ordering::Relaxed);
        self.releases.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the whole mapping, which is shared (`Mmap::map`) and read-only. As for
        // `Map::release`: MADV_DONTNEED only removes page-table entries, the next access maps
        // the file's page again, and the file is never modified while mapped (type docs), so
        // the bytes behind any slice borrowed from `self` do not change.
        let _ = unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) };
    }
}

/// The bytes of `path`'s mappings resident in this process (`Rss` in `/proc/self/smaps`).
#[cfg(test)]
pub(crate) fn resident_bytes(path: &std::path::Path) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let path = path.to_str().expect("a UTF-8 path");
    let mut ours = false;
    let mut total = 0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping's first line: range, perms, offset, device, inode, path.
            ours = line.ends_with(path);
        } else if ours && first == "Rss:" {
            let kib: usize = fields
                .next()
                .and_then(|n| n.parse().ok())
                .expect("Rss in kB");
            total += kib * 1024;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit of these tests: a fault may map a whole large folio of the page cache (up to
    /// 2 MiB, one PMD), and releasing part of one PMD mapping releases all of it, so the
    /// tests read and release whole, aligned 2 MiB units.
    const UNIT: usize = 2 << 20;

    /// A file of `units` units, every byte its offset's low bits.
    fn patterned(units: usize) -> (tempfile::TempDir, std::path::PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mapped");
        let bytes: Vec<u8> = (0..units * UNIT).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        (dir, path, file)
    }

    /// Reads every page of the units `units` of `bytes` and checks its pattern.
    fn touch(bytes: &[u8], units: std::ops::Range<usize>) {
        for at in (units.start * UNIT..units.end * UNIT).step_by(4096) {
            assert_eq!(bytes[at], (at % 251) as u8, "byte {at}");
        }
    }

    /// Resident units, to the nearest: a fault may also map up to 64 KiB of neighbouring
    /// cached pages (fault-around).
    fn resident_units(path: &std::path::Path) -> usize {
        (resident_bytes(path) + UNIT / 2) / UNIT
    }

    #[test]
    fn a_reader_behind_keeps_at_most_its_interval_resident_and_reads_the_same_bytes() {
        let (_dir, path, file) = patterned(12);
        let map = Map::map_read_only(&file).unwrap();
        let bytes = map.all_bytes();
        let mut behind = Behind::new(0, 3 * UNIT);
        let mut most = 0;
        for unit in 0..12 {
            touch(bytes, unit..unit + 1);
            most = most.max(resident_units(&path));
            behind.passed(&map, (unit + 1) * UNIT);
        }
        assert_eq!(most, 3, "at most the interval resident");
        assert_eq!(
            resident_units(&path),
            0,
            "12 units in steps of 3: all released"
        );
        // The bytes read again are those of the file: the released pages map again.
        touch(bytes, 0..12);
        assert_eq!(resident_units(&path), 12);
    }

    #[test]
    fn a_reader_behind_releases_only_what_it_has_passed() {
        let (_dir, path, file) = patterned(8);
        let map = Map::map_read_only(&file).unwrap();
        touch(map.all_bytes(), 0..8);
        let mut behind = Behind::new(0, 4 * UNIT);
        behind.passed(&map, 4 * UNIT - 4096);
        assert_eq!(resident_units(&path), 8, "less than an interval: kept");
        behind.passed(&map, 4 * UNIT);
        assert_eq!(resident_units(&path), 4, "an interval: released behind");
        behind.passed(&map, 6 * UNIT);
        assert_eq!(resident_units(&path), 4, "counted from the last release");
        behind.release_to(&map, 2 * UNIT);
        assert_eq!(resident_units(&path), 4, "behind the last release: nothing");
        behind.release_to(&map, 6 * UNIT);
        assert_eq!(
            resident_units(&path),
            2,
            "done up to 6 units: released to there"
        );
        map.release(7 * UNIT, 8 * UNIT);
        assert_eq!(
            resident_units(&path),
            1,
            "a range past the end is cut at it"
        );
        map.release(9 * UNIT, UNIT);
        assert_eq!(resident_units(&path), 1, "a range beyond the end: nothing");
    }

    #[test]
    fn a_reader_started_further_on_leaves_what_lies_before_its_start() {
        let (_dir, path, file) = patterned(4);
        let map = Map::map_read_only(&file).unwrap();
        touch(map.all_bytes(), 0..4);
        let mut behind = Behind::new(2 * UNIT, UNIT);
        behind.passed(&map, 3 * UNIT - 4096);
        assert_eq!(
            resident_units(&path),
            4,
            "less than an interval from its start: kept"
        );
        behind.release_to(&map, 4 * UNIT);
        assert_eq!(
            resident_units(&path),
            2,
            "the two units before its start stay"
        );
    }

    #[test]
    fn a_checkpoint_mapping_releases_its_pages_once_an_interval_was_read() {
        let (_dir, path, file) = patterned(6);
        let map = ReadOnlyMap::map(&file).unwrap().releasing_every(2 * UNIT);
        let bytes = map.bytes();
        touch(bytes, 0..1);
        map.note_read(UNIT);
        touch(bytes, 1..2);
        map.note_read(UNIT - 1);
        map.release_if_due();
        let short = "a byte short of the interval: kept";
        assert_eq!(resident_units(&path), 2, "{short}");
        map.note_read(1);
        assert_eq!(resident_units(&path), 2, "counting alone releases nothing");
        map.release_if_due();
        assert_eq!(resident_units(&path), 0, "the interval read: all released");
        touch(bytes, 0..6);
        map.note_read(2 * UNIT - 1);
        map.release_if_due();
        assert_eq!(resident_units(&path), 6, "counted again from the release");
    }
}
