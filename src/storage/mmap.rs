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

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{Advice, Mmap, MmapOptions, MmapRaw};

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
}

impl ReadOnlyMap {
    /// Maps the whole of `file`, which must not be empty.
    pub fn map(file: &File) -> io::Result<ReadOnlyMap> {
        // SAFETY: the file is a finished checkpoint, which nothing in this crate modifies or
        // truncates while it exists (type docs); unlinking it leaves the mapping valid. A
        // foreign process writing to it could only change bytes that are checksummed before
        // use, not make the mapping invalid (the file is not truncated by this crate).
        let map = unsafe { Mmap::map(file)? };
        Ok(ReadOnlyMap { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
