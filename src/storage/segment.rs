//! Segment files on disk: preparing, activating, opening, chaining (`docs/FORMAT.md` §3).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{io_error, Error};
use crate::storage::format::{
    parse_segment_file_name, segment_file_name, ChainLink, SegmentHeader, Watermark, CHAIN_AT,
    CHAIN_SIZE, SEGMENT_HEADER_SIZE, WATERMARK_AT, WATERMARK_SIZE,
};
use crate::storage::mmap::Map;
use crate::storage::Storage;

/// The name of the zero-filled file prepared ahead of the next roll. It holds no records
/// until it is renamed to a segment name, so recovery deletes it.
pub const PREPARED_FILE_NAME: &str = "next.seg.prepared";

/// Zero-fill unit: 4 KiB writes leave the page cache in small pages, so a later msync of
/// one dirty page writes back 4 KiB, not a large folio (ARCHITECTURE.md, "Measured costs").
const ZERO_FILL_CHUNK: usize = 4096;

/// How much a large file written in one go (a checkpoint, a zero-filled segment) may have
/// written but not yet synced: [`SyncedAsWritten`] syncs it every this many bytes.
pub const SYNC_EVERY_BYTES: u64 = 1 << 20;

/// Writes through to a file and syncs it every [`SYNC_EVERY_BYTES`], so that the file never
/// has more than that waiting for write-back. Written whole and synced once at the end, a
/// 230 MB checkpoint went to the disk in one burst, and every journal sync queued behind it:
/// Sync appends at 10 000 events/s on a 2 M-event journal waited up to 84–133 ms (p99.9
/// 74–115 ms) while automatic checkpoints were written; synced as written, 19–34 ms in four
/// runs out of five (p99.9 7.6–15 ms), for ~3 % more time writing the checkpoint
/// (`docs/BENCHMARKS.md` §6.1).
pub struct SyncedAsWritten<'f> {
    file: &'f File,
    storage: &'f Storage,
    unsynced: u64,
}

impl<'f> SyncedAsWritten<'f> {
    pub fn new(file: &'f File, storage: &'f Storage) -> SyncedAsWritten<'f> {
        SyncedAsWritten {
            file,
            storage,
            unsynced: 0,
        }
    }
}

impl Write for SyncedAsWritten<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut file = self.file;
        let written = file.write(bytes)?;
        self.unsynced += written as u64;
        if self.unsynced >= SYNC_EVERY_BYTES {
            self.storage.sync_data(self.file)?;
            self.unsynced = 0;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Creates `path` (which must not exist) with `capacity_bytes` of written zeros, syncs it and
/// returns it, open for reading and writing.
///
/// Writing real zeros (not `fallocate`, not a sparse file) gives the file real, *written*
/// blocks: a store into the mapping can never hit SIGBUS on a full disk, and the first sync of
/// each block commits no extent conversion (~90 µs cheaper, measured on this project's
/// development machine).
pub fn create_zeroed(storage: &Storage, path: &Path, capacity_bytes: u64) -> Result<File, Error> {
    let file = storage
        .create_new(path)
        .map_err(io_error(path, "create segment file"))?;
    let mut out = SyncedAsWritten::new(&file, storage);
    let zeros = [0u8; ZERO_FILL_CHUNK];
    let mut left = capacity_bytes;
    while left > 0 {
        let n = left.min(ZERO_FILL_CHUNK as u64) as usize;
        out.write_all(&zeros[..n])
            .map_err(io_error(path, "zero-fill segment file"))?;
        left -= n as u64;
    }
    storage
        .sync_all(&file)
        .map_err(io_error(path, "sync segment file"))?;
    Ok(file)
}

/// Turns the prepared file into segment `header.first_seq`: writes its header and chain link,
/// syncs it, renames it into place and syncs the folder. After this returns, the segment
/// exists durably with no records.
///
/// With the file's `mapping` (a roll), only the header page is synced: the file was zero-filled
/// and synced when prepared, and `fdatasync` would also write back the pages pre-faulted for
/// the writer (pre-faulting for writing dirties them), write-protecting them under it.
pub fn activate(
    storage: &Storage,
    dir: &Path,
    prepared: &Path,
    header: &SegmentHeader,
    link: Option<&ChainLink>,
    mapping: Option<&Map>,
) -> Result<PathBuf, Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(prepared)
        .map_err(io_error(prepared, "open prepared segment"))?;
    file.write_all_at(&header.encode(), 0)
        .map_err(io_error(prepared, "write segment header"))?;
    if let Some(link) = link {
        file.write_all_at(&link.encode(), CHAIN_AT as u64)
            .map_err(io_error(prepared, "write chain link"))?;
    }
    match mapping {
        Some(map) => map.flush(0, SEGMENT_HEADER_SIZE),
        None => storage.sync_data(&file),
    }
    .map_err(io_error(prepared, "sync segment header"))?;
    let path = dir.join(segment_file_name(header.first_seq));
    storage
        .rename(prepared, &path)
        .map_err(io_error(&path, "rename prepared segment"))?;
    sync_dir(storage, dir)?;
    Ok(path)
}

/// Writes the chain link of the segment at `path`, which is mapped as `map` (the active
/// segment, or one rolled since), and syncs only the header page it lies in: `fdatasync` would
/// also write back the pages the writer is filling, write-protecting them under it (a TLB
/// shootdown per page to the appending CPU, and a fault at its next store to each).
pub fn write_link_in_place(path: &Path, map: &Map, link: &ChainLink) -> Result<(), Error> {
    write_link_unsynced(path, link)?;
    map.flush(CHAIN_AT, CHAIN_SIZE)
        .map_err(io_error(path, "sync chain link"))
}

/// Writes the chain link of the segment at `path`, without syncing it: the caller syncs the
/// header page before anything depends on the link.
pub fn write_link_unsynced(path: &Path, link: &ChainLink) -> Result<File, Error> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path, "open segment for chain link"))?;
    file.write_all_at(&link.encode(), CHAIN_AT as u64)
        .map_err(io_error(path, "write chain link"))?;
    Ok(file)
}

/// Writes the watermark of the segment at `path` and syncs it.
pub fn write_watermark(storage: &Storage, path: &Path, watermark: &Watermark) -> Result<(), Error> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path, "open segment for watermark"))?;
    file.write_all_at(&watermark.encode(), WATERMARK_AT as u64)
        .map_err(io_error(path, "write watermark"))?;
    storage
        .sync_data(&file)
        .map_err(io_error(path, "sync watermark"))
}

/// Makes the folder's entries (creations, renames, removals) durable.
pub fn sync_dir(storage: &Storage, dir: &Path) -> Result<(), Error> {
    storage
        .sync_dir(dir)
        .map_err(io_error(dir, "sync journal folder"))
}

/// BLAKE3 of `bytes[0..data_end)` of a sealed segment: the link its successor stores.
pub fn hash_prefix(bytes: &[u8], data_end: usize) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&bytes[..data_end]);
    *hasher.finalize().as_bytes()
}

/// A segment file as found on disk, header decoded, mapped.
pub struct SegmentFile {
    pub path: PathBuf,
    pub header: SegmentHeader,
    /// `None` while the link to the predecessor is not yet written.
    pub link: Option<ChainLink>,
    pub watermark: Option<Watermark>,
    pub map: Arc<Map>,
}

impl SegmentFile {
    pub fn file_name(&self) -> String {
        segment_file_name(self.header.first_seq)
    }
}

/// Opens and maps a segment file, checking its header page. With the `writable` storage (the
/// writer process, under the writer lock) it is opened for writing and synced through that
/// storage; a [`crate::storage::mmap::MapWriter`] can then be attached to its mapping.
pub fn open_segment(path: &Path, writable: Option<&Storage>) -> Result<SegmentFile, Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(writable.is_some())
        .open(path)
        .map_err(io_error(path, "open segment"))?;
    let len = file
        .metadata()
        .map_err(io_error(path, "stat segment"))?
        .len();
    if len < SEGMENT_HEADER_SIZE as u64 {
        return Err(Error::corrupt(
            path,
            0,
            None,
            "segment shorter than its header page",
        ));
    }
    let map = match writable {
        Some(storage) => Map::map_for_writer(file, storage).map(Arc::new),
        None => Map::map_read_only(&file),
    }
    .map_err(io_error(path, "map segment"))?;
    let page = &map.all_bytes()[..SEGMENT_HEADER_SIZE];
    let header = SegmentHeader::decode(page)
        .map_err(|e| Error::corrupt(path, 0, None, format!("segment header: {e}")))?;
    let link = ChainLink::decode(&page[CHAIN_AT..CHAIN_AT + CHAIN_SIZE])
        .map_err(|e| Error::corrupt(path, CHAIN_AT as u64, None, format!("chain link: {e}")))?;
    let watermark = Watermark::decode(&page[WATERMARK_AT..WATERMARK_AT + WATERMARK_SIZE])
        .map_err(|e| Error::corrupt(path, WATERMARK_AT as u64, None, format!("watermark: {e}")))?;
    if header.capacity_bytes != len {
        return Err(Error::corrupt(
            path,
            0,
            None,
            format!(
                "segment header says {} bytes, file has {len}",
                header.capacity_bytes
            ),
        ));
    }
    let segment = SegmentFile {
        path: path.to_path_buf(),
        header,
        link,
        watermark,
        map,
    };
    Ok(segment)
}

/// The segment files of `dir`, sorted by the first sequence number in their names.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let mut found = vec![];
    for entry in fs::read_dir(dir).map_err(io_error(dir, "list journal folder"))? {
        let entry = entry.map_err(io_error(dir, "list journal folder"))?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_file_name) {
            found.push((first_seq, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Checks that `err` is "file not found" (used when removing leftovers is best effort).
pub fn is_not_found(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte goes through, in order, across the sync points.
    #[test]
    fn synced_as_written_passes_every_byte_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let storage = Storage::real();
        let mut out =
            std::io::BufWriter::with_capacity(1000, SyncedAsWritten::new(&file, &storage));
        let mut expected = Vec::new();
        let mut n = 0u32;
        while expected.len() < (SYNC_EVERY_BYTES * 3 + 12_345) as usize {
            let piece: Vec<u8> = (0..(n % 3001)).map(|i| (i ^ n) as u8).collect();
            out.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
            n += 1;
        }
        out.flush().unwrap();
        drop(out);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    /// What a power failure can take is bounded: the file never has more than
    /// `SYNC_EVERY_BYTES` written but not durable. And it is synced once per that many bytes,
    /// not more often: each sync competes with the journal's own.
    #[test]
    fn synced_as_written_never_leaves_more_than_its_bound_unsynced() {
        let root = tempfile::tempdir().unwrap();
        let disk = crate::storage::SimulatedDisk::new(root.path()).unwrap();
        let storage = disk.storage();
        let path = root.path().join("f");
        let file = storage.create_new(&path).unwrap();
        let calls_before = disk.calls();
        let mut out = SyncedAsWritten::new(&file, &storage);
        let piece = [7u8; 4096];
        let bound = SYNC_EVERY_BYTES as usize;
        for pieces in 1..=3 * bound / piece.len() {
            out.write_all(&piece).unwrap();
            if pieces % 16 == 0 {
                let durable = disk.durable_bytes(&path).unwrap().len();
                assert!(
                    pieces * piece.len() - durable <= bound,
                    "{} bytes written, {durable} durable",
                    pieces * piece.len()
                );
            }
        }
        assert_eq!(
            disk.calls() - calls_before,
            3,
            "3 MiB written, one sync per MiB"
        );
    }
}
