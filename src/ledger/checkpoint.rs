//! Checkpoint files: the projections' state at a sequence number (`docs/FORMAT.md` §6).
//!
//! Written atomically (temporary file, sync, rename, sync of the folder), never modified after.
//! A checkpoint is memory-mapped and its history used in place; its payload is checksummed
//! per 64 KiB block, and a block is checked before its first use, so a damaged block is an
//! error naming the file and byte offset, never data. A checkpoint whose header or block
//! table is damaged, that belongs to another journal, is ahead of the journal, or was written
//! by another projection version is ignored and reported; the state is then rebuilt by
//! replay. That is what replaces schema migrations.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{io_error, Corruption, Error};
use crate::progress::{ignore, Progress, Tracker};
use crate::projection::PROJECTION_VERSION;
use crate::projection::{Projections, StateBytes, StateSnapshot, WriteStateError};
use crate::storage::format::FORMAT_VERSION;
use crate::storage::mmap::{ReadOnlyMap, RELEASE_EVERY};
use crate::storage::segment::{sync_dir, SyncedAsWritten};
use crate::storage::Storage;

pub const CHECKPOINT_DIR_NAME: &str = "checkpoints";
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"TLCHKPNT";
pub const CHECKPOINT_HEADER_SIZE: usize = 64;
/// The payload is checksummed in blocks of this size, each checked when first read.
pub const CHECKPOINT_BLOCK_SIZE: usize = 64 * 1024;

const MAGIC_AT: usize = 0;
const FORMAT_AT: usize = MAGIC_AT + 8;
const PROJECTION_AT: usize = FORMAT_AT + 4;
const SEQ_AT: usize = PROJECTION_AT + 4;
const JOURNAL_ID_AT: usize = SEQ_AT + 8;
const PAYLOAD_LEN_AT: usize = JOURNAL_ID_AT + 16;
const TABLE_CRC_AT: usize = PAYLOAD_LEN_AT + 8;
const BLOCK_SIZE_AT: usize = TABLE_CRC_AT + 4;
const RESERVED_AT: usize = BLOCK_SIZE_AT + 4;
const HEADER_CRC_AT: usize = CHECKPOINT_HEADER_SIZE - 4;
const _: () = assert!(RESERVED_AT == 56 && RESERVED_AT + 4 == HEADER_CRC_AT);

/// Facts about a checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub path: PathBuf,
    pub seq: u64,
    /// The seq of the checkpoint this one is a layer on (`docs/FORMAT.md` §6.5); `None` for
    /// one written whole. Known once the state is read (`None` from the header alone).
    pub parent: Option<u64>,
    pub projection_version: u32,
    pub bytes: u64,
}

/// A checkpoint that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredCheckpoint {
    pub path: PathBuf,
    pub reason: String,
}

fn file_name(seq: u64) -> String {
    format!("checkpoint-{seq:020}.ckpt")
}

fn dir_of(journal_dir: &Path) -> PathBuf {
    journal_dir.join(CHECKPOINT_DIR_NAME)
}

/// Writes the state of `projections` (at its head seq) as a checkpoint, atomically.
pub fn write(
    storage: &Storage,
    journal_dir: &Path,
    journal_id: &[u8; 16],
    projections: &Projections,
) -> Result<CheckpointInfo, Error> {
    write_with_progress(storage, journal_dir, journal_id, projections, &mut ignore)
}

/// [`write`], telling `progress` how many records are written ([`write_snapshot_with_progress`]).
pub fn write_with_progress(
    storage: &Storage,
    journal_dir: &Path,
    journal_id: &[u8; 16],
    projections: &Projections,
    progress: Progress,
) -> Result<CheckpointInfo, Error> {
    let snapshot = projections.snapshot().map_err(Error::Corrupt)?;
    write_snapshot_with_progress(storage, journal_dir, journal_id, &snapshot, progress)
}

/// Writes a state taken by [`Projections::snapshot`], atomically. Lets a caller take the
/// snapshot under its lock and do the merge and the file work (write, sync, rename) outside.
pub fn write_snapshot(
    storage: &Storage,
    journal_dir: &Path,
    journal_id: &[u8; 16],
    snapshot: &StateSnapshot,
) -> Result<CheckpointInfo, Error> {
    write_snapshot_with_progress(storage, journal_dir, journal_id, snapshot, &mut ignore)
}

/// [`write_snapshot`], telling `progress` how many of the state's records (at most
/// [`StateSnapshot::records_at_most`]) are written, every
/// [`crate::progress::RECORDS_PER_REPORT`]; the end, `done == total`, once the file is in
/// place.
pub fn write_snapshot_with_progress(
    storage: &Storage,
    journal_dir: &Path,
    journal_id: &[u8; 16],
    snapshot: &StateSnapshot,
    progress: Progress,
) -> Result<CheckpointInfo, Error> {
    let mut tracker = Tracker::new(progress, snapshot.records_at_most());
    let seq = snapshot.seq();
    let dir = dir_of(journal_dir);
    if !dir.is_dir() {
        storage
            .create_dir_all(&dir)
            .map_err(io_error(&dir, "create checkpoint folder"))?;
        sync_dir(storage, journal_dir)?;
    }
    let path = dir.join(file_name(seq));
    let tmp = dir.join(format!("{}.tmp", file_name(seq)));
    let file = storage
        .create_truncate(&tmp)
        .map_err(io_error(&tmp, "create checkpoint"))?;
    let written = &mut |records| tracker.set(records);
    let bytes = write_file(&file, storage, journal_id, snapshot, written).map_err(|e| match e {
        WriteStateError::Io(e) => io_error(&tmp, "write checkpoint")(e),
        WriteStateError::Corrupt(damage) => Error::Corrupt(damage),
    })?;
    storage
        .sync_all(&file)
        .map_err(io_error(&tmp, "sync checkpoint"))?;
    storage
        .rename(&tmp, &path)
        .map_err(io_error(&path, "rename checkpoint"))?;
    sync_dir(storage, &dir)?;
    prune(storage, &dir, journal_id)?;
    tracker.finish();
    Ok(CheckpointInfo {
        path,
        seq,
        parent: snapshot.parent(),
        projection_version: PROJECTION_VERSION,
        bytes,
    })
}

/// Streams the payload after a blank header, then the block table, then the header.
fn write_file(
    file: &File,
    storage: &Storage,
    journal_id: &[u8; 16],
    snapshot: &StateSnapshot,
    written: &mut dyn FnMut(u64),
) -> Result<u64, WriteStateError> {
    let mut synced = SyncedAsWritten::new(file, storage);
    let mut out = BufWriter::with_capacity(1 << 20, &mut synced);
    out.write_all(&[0u8; CHECKPOINT_HEADER_SIZE])?;
    let mut blocks = BlockSums::new(&mut out);
    let payload_len = snapshot.write_telling(&mut blocks, written)?;
    let table = blocks.finish();
    out.write_all(&table)?;
    out.flush()?;
    let header = header(journal_id, snapshot.seq(), payload_len, &table);
    file.write_all_at(&header, 0)?;
    Ok((CHECKPOINT_HEADER_SIZE + table.len()) as u64 + payload_len)
}

/// Passes bytes through and computes the CRC-32 of every block of [`CHECKPOINT_BLOCK_SIZE`].
struct BlockSums<'a, W: Write> {
    out: &'a mut W,
    table: Vec<u8>,
    hasher: crc32fast::Hasher,
    in_block: usize,
}

impl<'a, W: Write> BlockSums<'a, W> {
    fn new(out: &'a mut W) -> BlockSums<'a, W> {
        BlockSums {
            out,
            table: Vec::new(),
            hasher: crc32fast::Hasher::new(),
            in_block: 0,
        }
    }

    /// The block table: the CRC-32 of each block, the last one possibly short.
    fn finish(mut self) -> Vec<u8> {
        if self.in_block > 0 {
            let crc = std::mem::take(&mut self.hasher).finalize();
            self.table.extend_from_slice(&crc.to_le_bytes());
        }
        self.table
    }
}

impl<W: Write> Write for BlockSums<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let taken = bytes.len().min(CHECKPOINT_BLOCK_SIZE - self.in_block);
        let written = self.out.write(&bytes[..taken])?;
        self.hasher.update(&bytes[..written]);
        self.in_block += written;
        if self.in_block == CHECKPOINT_BLOCK_SIZE {
            let crc = std::mem::take(&mut self.hasher).finalize();
            self.table.extend_from_slice(&crc.to_le_bytes());
            self.in_block = 0;
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The block table of `payload` (for [`image`]).
fn block_table(payload: &[u8]) -> Vec<u8> {
    let sums = payload.chunks(CHECKPOINT_BLOCK_SIZE).map(crc32fast::hash);
    sums.flat_map(u32::to_le_bytes).collect()
}

fn header(journal_id: &[u8; 16], seq: u64, payload_len: u64, table: &[u8]) -> [u8; 64] {
    let mut header = [0u8; CHECKPOINT_HEADER_SIZE];
    header[MAGIC_AT..][..8].copy_from_slice(&CHECKPOINT_MAGIC);
    header[FORMAT_AT..][..4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[PROJECTION_AT..][..4].copy_from_slice(&PROJECTION_VERSION.to_le_bytes());
    header[SEQ_AT..][..8].copy_from_slice(&seq.to_le_bytes());
    header[JOURNAL_ID_AT..][..16].copy_from_slice(journal_id);
    header[PAYLOAD_LEN_AT..][..8].copy_from_slice(&payload_len.to_le_bytes());
    header[TABLE_CRC_AT..][..4].copy_from_slice(&crc32fast::hash(table).to_le_bytes());
    let block_size = CHECKPOINT_BLOCK_SIZE as u32;
    header[BLOCK_SIZE_AT..][..4].copy_from_slice(&block_size.to_le_bytes());
    let header_crc = crc32fast::hash(&header[..HEADER_CRC_AT]);
    header[HEADER_CRC_AT..].copy_from_slice(&header_crc.to_le_bytes());
    header
}

/// A checkpoint file's bytes: the header for `payload` (a projection state at `seq`), the
/// payload, and its block table.
pub fn image(journal_id: &[u8; 16], seq: u64, payload: &[u8]) -> Vec<u8> {
    let table = block_table(payload);
    let header = header(journal_id, seq, payload.len() as u64, &table);
    let mut image = Vec::with_capacity(CHECKPOINT_HEADER_SIZE + payload.len() + table.len());
    image.extend_from_slice(&header);
    image.extend_from_slice(payload);
    image.extend_from_slice(&table);
    image
}

/// Deletes every checkpoint but the newest, the layers it lies on, and the one before it if
/// the layers that one lies on are all kept (a fallback that costs one layer); and stray
/// temporary files. After a checkpoint that merged layers, the files it replaces are gone.
fn prune(storage: &Storage, dir: &Path, journal_id: &[u8; 16]) -> Result<(), Error> {
    let mut found = list(dir)?;
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    let mut kept = std::collections::BTreeSet::new();
    if let Some((seq, path)) = found.first() {
        kept.insert(*seq);
        kept.extend(under(dir, path, journal_id));
    }
    if let Some((seq, path)) = found.get(1) {
        if under(dir, path, journal_id)
            .iter()
            .all(|layer| kept.contains(layer))
        {
            kept.insert(*seq);
        }
    }
    for (_, path) in found.into_iter().filter(|(seq, _)| !kept.contains(seq)) {
        storage
            .remove_file(&path)
            .map_err(io_error(&path, "remove old checkpoint"))?;
    }
    // A crash between create and rename leaves a temporary file; only the writer process
    // writes checkpoints, one at a time, so any other one is stale.
    for entry in fs::read_dir(dir).map_err(io_error(dir, "list checkpoints"))? {
        let path = entry.map_err(io_error(dir, "list checkpoints"))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            storage
                .remove_file(&path)
                .map_err(io_error(&path, "remove stale temporary checkpoint"))?;
        }
    }
    Ok(())
}

/// The seqs of the layers the checkpoint at `path` lies on, top first, as far as they can be
/// read (a file that cannot be read ends the stack: what lies under it is no longer read).
fn under(dir: &Path, path: &Path, journal_id: &[u8; 16]) -> Vec<u64> {
    let mappings = Mappings::default();
    let mut seqs = Vec::new();
    let mut at = path.to_path_buf();
    let parent = |at: &Path| open_shared(at, journal_id, &mappings).and_then(|m| parent_of(&m));
    while let Ok(Some(parent)) = parent(&at) {
        seqs.push(parent);
        at = dir.join(file_name(parent));
    }
    seqs
}

/// The seq of the checkpoint `mapped` lies on, if it is a layer.
fn parent_of(mapped: &Arc<MappedCheckpoint>) -> Result<Option<u64>, String> {
    let bytes: Arc<dyn StateBytes> = mapped.clone();
    Projections::stored_parent(bytes).map_err(|e| e.to_string())
}

/// The checkpoint files a ledger has mapped, by file (device, inode) and journal id. A layer
/// is read by every state whose stack holds it (the live state, the state an automatic
/// checkpoint is built from, the state after it): mapped once, its blocks are checked once
/// (a checkpoint file never changes after its rename). A file's inode cannot be reused while
/// a mapping of it is alive, and only live mappings are found here.
#[derive(Default)]
pub struct Mappings(std::sync::Mutex<Registry>);

type Registry = Vec<(((u64, u64), [u8; 16]), std::sync::Weak<MappedCheckpoint>)>;

/// Maps the checkpoint at `path`, or finds the mapping `mappings` holds of it.
fn open_shared(
    path: &Path,
    journal_id: &[u8; 16],
    mappings: &Mappings,
) -> Result<Arc<MappedCheckpoint>, String> {
    use std::os::unix::fs::MetadataExt;
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    let key = ((meta.dev(), meta.ino()), *journal_id);
    let mut mapped = crate::sync::lock(&mappings.0);
    mapped.retain(|(_, weak)| weak.strong_count() > 0);
    let found = mapped.iter().find(|(k, _)| *k == key);
    if let Some(shared) = found.and_then(|(_, weak)| weak.upgrade()) {
        // Its header and block table are checked again (a few microseconds): its blocks were
        // checked against that table.
        extent(path, shared.map.bytes(), journal_id)?;
        return Ok(shared);
    }
    let opened = Arc::new(MappedCheckpoint::open_file(
        path,
        &file,
        meta.len(),
        journal_id,
        RELEASE_EVERY,
    )?);
    mapped.push((key, Arc::downgrade(&opened)));
    Ok(opened)
}

/// Appended to the name of a checkpoint a running writer found damaged and set aside (kept
/// for inspection; no open reads it, and deleting it is safe).
pub const SET_ASIDE_SUFFIX: &str = ".damaged";

/// The checkpoints set aside as damaged ([`SET_ASIDE_SUFFIX`]), newest first.
pub fn set_aside(journal_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut found = list_named(&dir_of(journal_dir), &format!(".ckpt{SET_ASIDE_SUFFIX}"))?;
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    list_named(dir, ".ckpt")
}

/// The files `checkpoint-<seq><suffix>` in `dir`, with their seq.
fn list_named(dir: &Path, suffix: &str) -> Result<Vec<(u64, PathBuf)>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_error(dir, "list checkpoints")(e)),
    };
    let mut found = vec![];
    for entry in entries {
        let entry = entry.map_err(io_error(dir, "list checkpoints"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let seq = name
            .strip_prefix("checkpoint-")
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(seq) = seq {
            found.push((seq, entry.path()));
        }
    }
    Ok(found)
}

/// A loaded checkpoint: its facts, the state reading it in place, and the mappings of its
/// layers, bottom first (for a background check of every block,
/// [`MappedCheckpoint::verify_all`]).
pub struct LoadedCheckpoint {
    pub info: CheckpointInfo,
    pub state: Projections,
    pub mapped: Vec<Arc<MappedCheckpoint>>,
}

/// A loaded checkpoint (if any was usable) and the ones passed over.
pub type Loaded = (Option<LoadedCheckpoint>, Vec<IgnoredCheckpoint>);

/// The newest usable checkpoint at or below `max_seq`, with the ones passed over and why.
pub fn load_newest(
    journal_dir: &Path,
    journal_id: &[u8; 16],
    max_seq: u64,
    mappings: &Mappings,
) -> Result<Loaded, Error> {
    // A writer may replace a stack by a merged checkpoint while it is read here, deleting
    // the files read: when none loaded and the files have changed meanwhile, the newest are
    // tried again (a few times; then the journal is replayed, which is always right).
    let mut tries = 3;
    loop {
        let mut found = list(&dir_of(journal_dir))?;
        found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        let (loaded, ignored) = load_first(&found, journal_id, max_seq, mappings);
        tries -= 1;
        if loaded.is_some() || tries == 0 {
            return Ok((loaded, ignored));
        }
        let mut now = list(&dir_of(journal_dir))?;
        now.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        if now == found {
            return Ok((loaded, ignored));
        }
    }
}

/// The first of `found` (newest first) that loads, with the ones passed over and why.
fn load_first(
    found: &[(u64, PathBuf)],
    journal_id: &[u8; 16],
    max_seq: u64,
    mappings: &Mappings,
) -> Loaded {
    let mut ignored = vec![];
    for (seq, path) in found {
        let path = path.clone();
        if *seq > max_seq {
            ignored.push(IgnoredCheckpoint {
                path,
                reason: format!("at seq {seq}, beyond the journal's head {max_seq}"),
            });
            continue;
        }
        match load(&path, journal_id, mappings) {
            Ok(loaded) => return (Some(loaded), ignored),
            Err(reason) => ignored.push(IgnoredCheckpoint { path, reason }),
        }
    }
    (None, ignored)
}

/// Maps one checkpoint and the layers under it, and loads its hot state; `Err(reason)` when
/// it cannot be used (one of its layers included). The history is verified block by block
/// when first read.
pub fn load(
    path: &Path,
    journal_id: &[u8; 16],
    mappings: &Mappings,
) -> Result<LoadedCheckpoint, String> {
    let mut chain = vec![open_shared(path, journal_id, mappings)?];
    let dir = path.parent().unwrap_or(Path::new("."));
    while let Some(parent) = parent_of(chain.last().expect("a layer"))? {
        let at = dir.join(file_name(parent));
        let layer = open_shared(&at, journal_id, mappings)
            .map_err(|reason| format!("the layer it lies on, {}: {reason}", at.display()))?;
        chain.push(layer);
    }
    chain.reverse();
    let layers = chain.iter().map(|m| m.clone() as Arc<dyn StateBytes>);
    let state = Projections::from_stored(layers.collect()).map_err(|e| e.to_string())?;
    let mut info = chain.last().expect("a layer").info.clone();
    if state.head_seq() != info.seq {
        return Err(format!(
            "state is at seq {}, header says {}",
            state.head_seq(),
            info.seq
        ));
    }
    info.parent = chain
        .len()
        .checked_sub(2)
        .map(|under| chain[under].info.seq);
    Ok(LoadedCheckpoint {
        info,
        state,
        mapped: chain,
    })
}

/// Where the payload and the block table of a checkpoint image lie.
struct Extent {
    info: CheckpointInfo,
    payload_len: u64,
    table_at: usize,
}

/// Checks the header and the block table of a checkpoint image (the whole file's bytes; the
/// payload is not read).
pub fn read_header(
    path: &Path,
    bytes: &[u8],
    journal_id: &[u8; 16],
) -> Result<CheckpointInfo, String> {
    extent(path, bytes, journal_id).map(|extent| extent.info)
}

fn extent(path: &Path, bytes: &[u8], journal_id: &[u8; 16]) -> Result<Extent, String> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    if bytes.len() < CHECKPOINT_HEADER_SIZE || bytes[..8] != CHECKPOINT_MAGIC {
        return Err("not a checkpoint (bad magic)".into());
    }
    if crc32fast::hash(&bytes[..HEADER_CRC_AT]) != u32_at(HEADER_CRC_AT) {
        return Err("header checksum mismatch".into());
    }
    if bytes[JOURNAL_ID_AT..JOURNAL_ID_AT + 16] != journal_id[..] {
        return Err("written for another journal".into());
    }
    let projection_version = u32_at(PROJECTION_AT);
    if projection_version != PROJECTION_VERSION {
        return Err(format!(
            "projection version {projection_version}, this build uses {PROJECTION_VERSION}: rebuilt by replay"
        ));
    }
    if u32_at(BLOCK_SIZE_AT) as usize != CHECKPOINT_BLOCK_SIZE {
        return Err(format!(
            "block size {}, expected {CHECKPOINT_BLOCK_SIZE}",
            u32_at(BLOCK_SIZE_AT)
        ));
    }
    let payload_len = u64_at(PAYLOAD_LEN_AT);
    let blocks = payload_len.div_ceil(CHECKPOINT_BLOCK_SIZE as u64);
    let expected = (CHECKPOINT_HEADER_SIZE as u64)
        .checked_add(payload_len)
        .and_then(|n| n.checked_add(blocks * 4));
    if expected != Some(bytes.len() as u64) {
        return Err(format!(
            "file is {} bytes, the header's payload of {payload_len} bytes needs {}",
            bytes.len(),
            expected.map_or_else(|| "more".into(), |n| n.to_string()),
        ));
    }
    let table_at = CHECKPOINT_HEADER_SIZE + payload_len as usize;
    if crc32fast::hash(&bytes[table_at..]) != u32_at(TABLE_CRC_AT) {
        return Err(format!(
            "block table checksum mismatch (at byte {table_at})"
        ));
    }
    let info = CheckpointInfo {
        path: path.to_path_buf(),
        seq: u64_at(SEQ_AT),
        parent: None,
        projection_version,
        bytes: bytes.len() as u64,
    };
    Ok(Extent {
        info,
        payload_len,
        table_at,
    })
}

/// A checkpoint file mapped read-only: the payload, handed out block-verified.
pub struct MappedCheckpoint {
    info: CheckpointInfo,
    map: ReadOnlyMap,
    payload_len: u64,
    table_at: usize,
    /// One bit per block: set once the block matched its checksum (it cannot change after).
    verified: Vec<AtomicU64>,
}

impl MappedCheckpoint {
    /// Maps the checkpoint at `path`, releasing the mapped pages every `release_every` bytes
    /// read ([`ReadOnlyMap::note_read`]); [`open_shared`] releases them every [`RELEASE_EVERY`].
    #[cfg(test)]
    fn open_releasing_every(
        path: &Path,
        journal_id: &[u8; 16],
        release_every: usize,
    ) -> Result<MappedCheckpoint, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("cannot stat: {e}"))?
            .len();
        Self::open_file(path, &file, len, journal_id, release_every)
    }

    /// Maps the open checkpoint `file` (of `len` bytes, at `path`) and checks its header.
    fn open_file(
        path: &Path,
        file: &File,
        len: u64,
        journal_id: &[u8; 16],
        release_every: usize,
    ) -> Result<MappedCheckpoint, String> {
        if len < CHECKPOINT_HEADER_SIZE as u64 {
            return Err(format!("{len} bytes, shorter than a header"));
        }
        let map = ReadOnlyMap::map(file)
            .map_err(|e| format!("cannot map: {e}"))?
            .releasing_every(release_every);
        let extent = extent(path, map.bytes(), journal_id)?;
        let blocks = extent.payload_len.div_ceil(CHECKPOINT_BLOCK_SIZE as u64);
        let verified = (0..blocks.div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(MappedCheckpoint {
            info: extent.info,
            map,
            payload_len: extent.payload_len,
            table_at: extent.table_at,
            verified,
        })
    }

    pub fn info(&self) -> &CheckpointInfo {
        &self.info
    }

    /// Checks block `block` against its checksum once; later calls only test a bit.
    fn verify_block(&self, block: u64) -> Result<(), Box<Corruption>> {
        let (word, bit) = (&self.verified[(block / 64) as usize], 1u64 << (block % 64));
        if word.load(Ordering::Acquire) & bit != 0 {
            return Ok(());
        }
        let bytes = self.map.bytes();
        let start = CHECKPOINT_HEADER_SIZE + block as usize * CHECKPOINT_BLOCK_SIZE;
        let end = (start + CHECKPOINT_BLOCK_SIZE).min(self.table_at);
        let at = self.table_at + block as usize * 4;
        let stored = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        self.map.note_read(end - start);
        if crc32fast::hash(&bytes[start..end]) != stored {
            let reason = format!("checksum mismatch in block {block} ({} bytes)", end - start);
            return Err(self.damage(block * CHECKPOINT_BLOCK_SIZE as u64, reason));
        }
        word.fetch_or(bit, Ordering::AcqRel);
        Ok(())
    }

    /// Checks every block not checked yet (the background check after an open). Stops at
    /// the first damaged block, or when `keep_going` returns false.
    pub fn verify_all(&self, keep_going: impl Fn() -> bool) -> Result<(), Box<Corruption>> {
        let blocks = self.payload_len.div_ceil(CHECKPOINT_BLOCK_SIZE as u64);
        for block in 0..blocks {
            if !keep_going() {
                break;
            }
            self.verify_block(block)?;
            self.map.release_if_due();
        }
        Ok(())
    }
}

impl StateBytes for MappedCheckpoint {
    fn len(&self) -> u64 {
        self.payload_len
    }

    fn read(&self, offset: u64, len: usize) -> Result<&[u8], Box<Corruption>> {
        let end = offset
            .checked_add(len as u64)
            .filter(|end| *end <= self.payload_len);
        let Some(end) = end else {
            let reason = format!("{len} bytes at payload offset {offset} lie beyond the payload");
            return Err(self.damage(offset, reason));
        };
        if len > 0 {
            let size = CHECKPOINT_BLOCK_SIZE as u64;
            for block in offset / size..=(end - 1) / size {
                self.verify_block(block)?;
            }
        }
        self.map.note_read(len);
        let start = CHECKPOINT_HEADER_SIZE + offset as usize;
        Ok(&self.map.bytes()[start..start + len])
    }

    fn release_if_due(&self) {
        self.map.release_if_due();
    }

    fn damage(&self, offset: u64, reason: String) -> Box<Corruption> {
        Box::new(Corruption {
            file: self.info.path.clone(),
            offset: CHECKPOINT_HEADER_SIZE as u64 + offset,
            seq: None,
            reason,
        })
    }
}

/// The checkpoints present, newest first, with whether each is usable (for `status`).
pub fn describe(
    journal_dir: &Path,
    journal_id: &[u8; 16],
) -> Result<Vec<Result<CheckpointInfo, IgnoredCheckpoint>>, Error> {
    let mut found = list(&dir_of(journal_dir))?;
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(found
        .into_iter()
        .map(|(_, path)| {
            let described =
                open_shared(&path, journal_id, &Mappings::default()).and_then(|mapped| {
                    let parent = parent_of(&mapped)?;
                    Ok(CheckpointInfo {
                        parent,
                        ..mapped.info.clone()
                    })
                });
            described.map_err(|reason| IgnoredCheckpoint { path, reason })
        })
        .collect())
}

/// Removes the checkpoints beyond `head` and syncs their folder; returns their seqs and paths.
/// Their records are gone (a torn tail cut, a salvage), and records appended later would take
/// the same seqs: read through such a checkpoint they would be wrong.
pub fn remove_beyond(
    storage: &Storage,
    journal_dir: &Path,
    head: u64,
) -> Result<Vec<(u64, PathBuf)>, Error> {
    let dir = dir_of(journal_dir);
    let beyond: Vec<(u64, PathBuf)> = list(&dir)?
        .into_iter()
        .filter(|(seq, _)| *seq > head)
        .collect();
    for (_, path) in &beyond {
        storage
            .remove_file(path)
            .map_err(io_error(path, "remove checkpoint beyond the head"))?;
    }
    if !beyond.is_empty() {
        sync_dir(storage, &dir)?;
    }
    Ok(beyond)
}

/// Removes the checkpoints set aside as damaged ([`set_aside`]); returns how many.
pub fn remove_set_aside(storage: &Storage, journal_dir: &Path) -> Result<usize, Error> {
    let found = set_aside(journal_dir)?;
    for path in &found {
        storage
            .remove_file(path)
            .map_err(io_error(path, "remove damaged checkpoint"))?;
    }
    Ok(found.len())
}

/// Removes every checkpoint.
pub fn remove_all(storage: &Storage, journal_dir: &Path) -> Result<usize, Error> {
    remove_all_except(storage, journal_dir, None)
}

/// Removes every checkpoint but `keep` (a path, and the journal id) and the layers it lies on: `upgrade` calls it once the
/// fresh one is written, so that an interrupted upgrade leaves the old ones in place. Returns
/// how many it removed.
pub fn remove_all_except(
    storage: &Storage,
    journal_dir: &Path,
    keep: Option<(&Path, &[u8; 16])>,
) -> Result<usize, Error> {
    let dir = dir_of(journal_dir);
    let mut kept: Vec<PathBuf> = Vec::new();
    if let Some((keep, journal_id)) = keep {
        kept.push(keep.to_path_buf());
        let layers = under(&dir, keep, journal_id).into_iter();
        kept.extend(layers.map(|seq| dir.join(file_name(seq))));
    }
    let found = list(&dir)?;
    let mut removed = 0;
    for (_, path) in found.iter().filter(|(_, path)| !kept.contains(path)) {
        storage
            .remove_file(path)
            .map_err(io_error(path, "remove checkpoint"))?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use crate::model::event::{Event, Timestamp};
    use crate::storage::mmap::resident_bytes;
    use crate::tools::sample;
    use crate::{Durability, JournalOptions};

    /// A checkpoint of 40,000 signals, closed trades and snapshots (over 8 MiB), copied to
    /// `dir/copy` and mapped, releasing its pages every `every` bytes read. No other mapping
    /// in this process shares the copy (the ledger's own mapping of its checkpoint, and its
    /// background check of it, would count in `resident_bytes`).
    fn mapped_copy(dir: &std::path::Path, every: usize) -> (PathBuf, MappedCheckpoint) {
        let options = JournalOptions {
            durability: Durability::Buffered,
            checkpoint_every_records: 0,
            ..JournalOptions::default()
        };
        let ledger = Ledger::create(dir, &options).unwrap();
        let at = Timestamp::from_nanos(1_700_000_000_000_000_000);
        for first in (1..=40_000u64).step_by(500) {
            let batch: Vec<Event> = (first..first + 500)
                .flat_map(|n| sample::signal_and_trade(n, at))
                .collect();
            ledger.append(&batch).unwrap();
            let closes: Vec<Event> = (first..first + 500)
                .map(|n| sample::trade_closed(n, at, "1.5"))
                .collect();
            ledger.append(&closes).unwrap();
            let snapshots: Vec<Event> = (first..first + 500)
                .map(|n| {
                    sample::account_snapshot(
                        7,
                        Timestamp::from_nanos(at.nanos() + n as i64),
                        "1000",
                    )
                })
                .collect();
            ledger.append(&snapshots).unwrap();
        }
        let id = ledger.journal().meta().journal_id;
        let written = ledger.checkpoint().unwrap();
        assert!(written.bytes > 8 << 20, "{} bytes", written.bytes);
        let copy = dir.join("copy");
        std::fs::copy(&written.path, &copy).unwrap();
        let mapped = MappedCheckpoint::open_releasing_every(&copy, &id, every).unwrap();
        (copy, mapped)
    }

    /// What a release interval of 1 MiB may leave resident: a fault may map a whole 2 MiB
    /// folio, and releasing part of one releases it whole.
    const RESIDENT_BOUND: usize = (1 << 20) + (4 << 20);

    /// Checks every block of a checkpoint several mebibytes long, then walks its payload: the
    /// mapping never holds much more than the release interval resident. Point reads alone
    /// release nothing.
    #[test]
    fn reading_a_checkpoint_keeps_about_the_release_interval_resident() {
        let dir = tempfile::tempdir().unwrap();
        let every = 1 << 20;
        let (copy, mapped) = mapped_copy(dir.path(), every);
        let bound = RESIDENT_BOUND;
        let checking = std::cell::Cell::new(0);
        mapped
            .verify_all(|| {
                checking.set(checking.get().max(resident_bytes(&copy)));
                true
            })
            .unwrap();
        let mut most = checking.get();
        assert!(most <= bound, "checking every block: {most} bytes resident");
        // Reads every page of the payload, 64 KiB at a time (a slice alone maps nothing).
        let read_all = |walk: bool, most: &mut usize| {
            let mut offset = 0;
            while offset < mapped.payload_len {
                let len = (mapped.payload_len - offset).min(1 << 16) as usize;
                let bytes = mapped.read(offset, len).unwrap();
                std::hint::black_box(bytes.iter().step_by(4096).map(|&b| b as u64).sum::<u64>());
                if walk {
                    mapped.release_if_due();
                }
                offset += len as u64;
                *most = (*most).max(resident_bytes(&copy));
            }
        };
        read_all(true, &mut most);
        assert!(most <= bound, "walking the payload: {most} bytes resident");
        let read = "what is read is resident until released";
        assert!(most >= every / 2, "{read}: {most}");
        // Point reads (the append path's lookups) never release: that is left to walks.
        let mut most = 0;
        read_all(false, &mut most);
        assert!(
            most as u64 > mapped.payload_len / 2,
            "{most} bytes resident"
        );
    }

    /// The walks of a state read from a checkpoint (the list queries, the inventory) release
    /// the pages they pass: what stays resident does not grow with the history.
    #[test]
    fn walks_of_a_checkpoint_state_release_what_they_read() {
        let dir = tempfile::tempdir().unwrap();
        let (copy, mapped) = mapped_copy(dir.path(), 256 << 10);
        let mapped = Arc::new(mapped);
        let state = Projections::from_stored(vec![mapped.clone()]).unwrap();
        let mut releases = mapped.map.releases();
        let mut released_by = |walk: &str| {
            let resident = resident_bytes(&copy);
            assert!(
                resident <= RESIDENT_BOUND,
                "after {walk}: {resident} resident"
            );
            let before = std::mem::replace(&mut releases, mapped.map.releases());
            // Each walk reads a few MiB: several intervals.
            assert!(
                releases >= before + 4,
                "{walk}: {before} → {releases} releases"
            );
        };
        let trades = state.trades(&crate::TradeFilter::default()).unwrap();
        assert_eq!(trades.len(), 40_000);
        released_by("the trades");
        let closed = crate::TradeFilter {
            status: Some(crate::model::event::TradeStatus::Cancelled),
            ..crate::TradeFilter::default()
        };
        assert!(state.trades(&closed).unwrap().is_empty());
        released_by("a walk of the trades that decodes none");
        let signals = state.recent_signals(None, usize::MAX).unwrap();
        assert_eq!(signals.len(), 40_000);
        released_by("the signals");
        let snapshots = state.snapshots_between(7, crate::TimeRange::ALL).unwrap();
        assert_eq!(snapshots.len(), 40_000);
        released_by("the snapshots");
        state.inventory().unwrap();
        released_by("the inventory");
    }
}
