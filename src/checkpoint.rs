//! Checkpoint files: the projections' state at a sequence number (`docs/FORMAT.md` §6).
//!
//! Written atomically (temporary file, sync, rename, sync of the folder). A checkpoint that
//! is damaged, belongs to another journal, is ahead of the journal, or was written by another
//! projection version is ignored and reported; the state is then rebuilt by replay. That is
//! what replaces schema migrations.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{io_error, Error};
use crate::format::FORMAT_VERSION;
use crate::projection::{Projections, PROJECTION_VERSION};
use crate::segment::{sync_dir, FILE_MODE};

pub const CHECKPOINT_DIR_NAME: &str = "checkpoints";
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"TLCHKPNT";
pub const CHECKPOINT_HEADER_SIZE: usize = 64;
/// Checkpoints kept; older ones are deleted after a new one is written.
pub const CHECKPOINTS_KEPT: usize = 2;

const MAGIC_AT: usize = 0;
const FORMAT_AT: usize = MAGIC_AT + 8;
const PROJECTION_AT: usize = FORMAT_AT + 4;
const SEQ_AT: usize = PROJECTION_AT + 4;
const JOURNAL_ID_AT: usize = SEQ_AT + 8;
const PAYLOAD_LEN_AT: usize = JOURNAL_ID_AT + 16;
const PAYLOAD_CRC_AT: usize = PAYLOAD_LEN_AT + 8;
const RESERVED_AT: usize = PAYLOAD_CRC_AT + 4;
const HEADER_CRC_AT: usize = CHECKPOINT_HEADER_SIZE - 4;
const _: () = assert!(RESERVED_AT == 52 && RESERVED_AT <= HEADER_CRC_AT);

/// Facts about a checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub path: PathBuf,
    pub seq: u64,
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
    journal_dir: &Path,
    journal_id: &[u8; 16],
    projections: &Projections,
) -> Result<CheckpointInfo, Error> {
    write_encoded(
        journal_dir,
        journal_id,
        projections.head_seq(),
        &projections.encode_state(),
    )
}

/// Writes a state already encoded by [`Projections::encode_state`] at `seq`, atomically. Lets
/// a caller encode under its lock and do the file work (write, sync, rename) outside it.
pub fn write_encoded(
    journal_dir: &Path,
    journal_id: &[u8; 16],
    seq: u64,
    payload: &[u8],
) -> Result<CheckpointInfo, Error> {
    let image = image(journal_id, seq, payload);

    let dir = dir_of(journal_dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_error(&dir, "create checkpoint folder"))?;
    let path = dir.join(file_name(seq));
    let tmp = dir.join(format!("{}.tmp", file_name(seq)));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io_error(&tmp, "create checkpoint"))?;
    file.write_all(&image)
        .map_err(io_error(&tmp, "write checkpoint"))?;
    file.sync_all().map_err(io_error(&tmp, "sync checkpoint"))?;
    fs::rename(&tmp, &path).map_err(io_error(&path, "rename checkpoint"))?;
    sync_dir(&dir)?;
    prune(&dir)?;
    Ok(CheckpointInfo {
        path,
        seq,
        projection_version: PROJECTION_VERSION,
        bytes: image.len() as u64,
    })
}

/// A checkpoint file's bytes: the header for `payload` (a projection state at `seq`), then
/// the payload.
pub fn image(journal_id: &[u8; 16], seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut header = [0u8; CHECKPOINT_HEADER_SIZE];
    header[MAGIC_AT..][..8].copy_from_slice(&CHECKPOINT_MAGIC);
    header[FORMAT_AT..][..4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[PROJECTION_AT..][..4].copy_from_slice(&PROJECTION_VERSION.to_le_bytes());
    header[SEQ_AT..][..8].copy_from_slice(&seq.to_le_bytes());
    header[JOURNAL_ID_AT..][..16].copy_from_slice(journal_id);
    header[PAYLOAD_LEN_AT..][..8].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[PAYLOAD_CRC_AT..][..4].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_crc = crc32fast::hash(&header[..HEADER_CRC_AT]);
    header[HEADER_CRC_AT..].copy_from_slice(&header_crc.to_le_bytes());
    let mut image = Vec::with_capacity(CHECKPOINT_HEADER_SIZE + payload.len());
    image.extend_from_slice(&header);
    image.extend_from_slice(payload);
    image
}

/// Deletes all but the newest [`CHECKPOINTS_KEPT`] checkpoints and stray temporary files.
fn prune(dir: &Path) -> Result<(), Error> {
    let mut found = list(dir)?;
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    for (_, path) in found.into_iter().skip(CHECKPOINTS_KEPT) {
        fs::remove_file(&path).map_err(io_error(&path, "remove old checkpoint"))?;
    }
    // A crash between create and rename leaves a temporary file; only the writer process
    // writes checkpoints, one at a time, so any other one is stale.
    for entry in fs::read_dir(dir).map_err(io_error(dir, "list checkpoints"))? {
        let path = entry.map_err(io_error(dir, "list checkpoints"))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            fs::remove_file(&path).map_err(io_error(&path, "remove stale temporary checkpoint"))?;
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
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
            .and_then(|rest| rest.strip_suffix(".ckpt"))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(seq) = seq {
            found.push((seq, entry.path()));
        }
    }
    Ok(found)
}

/// A loaded checkpoint (if any was usable) and the ones passed over.
pub type Loaded = (
    Option<(CheckpointInfo, Projections)>,
    Vec<IgnoredCheckpoint>,
);

/// The newest usable checkpoint at or below `max_seq`, with the ones passed over and why.
pub fn load_newest(
    journal_dir: &Path,
    journal_id: &[u8; 16],
    max_seq: u64,
) -> Result<Loaded, Error> {
    let mut found = list(&dir_of(journal_dir))?;
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    let mut ignored = vec![];
    for (seq, path) in found {
        if seq > max_seq {
            ignored.push(IgnoredCheckpoint {
                path,
                reason: format!("at seq {seq}, beyond the journal's head {max_seq}"),
            });
            continue;
        }
        match load(&path, journal_id) {
            Ok(loaded) => return Ok((Some(loaded), ignored)),
            Err(reason) => ignored.push(IgnoredCheckpoint { path, reason }),
        }
    }
    Ok((None, ignored))
}

/// Reads one checkpoint; `Err(reason)` when it cannot be used.
pub fn load(path: &Path, journal_id: &[u8; 16]) -> Result<(CheckpointInfo, Projections), String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let info = read_header(path, &bytes, journal_id)?;
    let payload = &bytes[CHECKPOINT_HEADER_SIZE..];
    let projections = Projections::decode_state(payload).map_err(|e| e.to_string())?;
    if projections.head_seq() != info.seq {
        return Err(format!(
            "state is at seq {}, header says {}",
            projections.head_seq(),
            info.seq
        ));
    }
    Ok((info, projections))
}

/// Checks the header and payload checksum of a checkpoint image.
pub fn read_header(
    path: &Path,
    bytes: &[u8],
    journal_id: &[u8; 16],
) -> Result<CheckpointInfo, String> {
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
    let payload = &bytes[CHECKPOINT_HEADER_SIZE..];
    if payload.len() as u64 != u64_at(PAYLOAD_LEN_AT) {
        return Err(format!(
            "payload is {} bytes, header says {}",
            payload.len(),
            u64_at(PAYLOAD_LEN_AT)
        ));
    }
    if crc32fast::hash(payload) != u32_at(PAYLOAD_CRC_AT) {
        return Err("payload checksum mismatch".into());
    }
    Ok(CheckpointInfo {
        path: path.to_path_buf(),
        seq: u64_at(SEQ_AT),
        projection_version,
        bytes: bytes.len() as u64,
    })
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
            let bytes = fs::read(&path).map_err(|e| IgnoredCheckpoint {
                path: path.clone(),
                reason: format!("cannot read: {e}"),
            })?;
            read_header(&path, &bytes, journal_id)
                .map_err(|reason| IgnoredCheckpoint { path, reason })
        })
        .collect())
}

/// Removes every checkpoint (used by `upgrade` before writing a fresh one).
pub fn remove_all(journal_dir: &Path) -> Result<usize, Error> {
    let dir = dir_of(journal_dir);
    let found = list(&dir)?;
    for (_, path) in &found {
        fs::remove_file(path).map_err(io_error(path, "remove checkpoint"))?;
    }
    Ok(found.len())
}
