//! A simulated disk: real files, and a record of what reached stable storage.
//!
//! Every operation is carried out on the real files under a root folder, so mappings, reads
//! and the page cache behave exactly as in production. Beside them the disk keeps:
//! - per file (inode), the bytes that are *durable*: what the last `fsync`/`fdatasync` saw, and
//!   the exact ranges `msync` was asked for since;
//! - the folder entries as they were when the disk was last rebuilt, and every change since
//!   (create, rename, remove), each marked durable once a sync of its folder followed it.
//!
//! A power failure ([`SimulatedDisk::power_loss`]) rebuilds the root as stable storage could
//! hold it. What was synced is kept. Each folder change not synced is independently kept or
//! lost (so a file created or renamed in a folder that was not synced may vanish), and every
//! 512-byte sector of a file that differs from its durable bytes is independently kept or lost
//! (a write torn at sectors, or persisted out of order). A file's size is its durable size or its
//! size in the page cache. [`CrashFate`] says how each of those is chosen.
//!
//! A crash is armed with [`SimulatedDisk::crash_after`]: the chosen call fails with `EIO` and has
//! no effect, and so does every call after it, as on a machine that lost power at that moment.
//! The process itself goes on until the test drops what it holds.
//!
//! The model is stricter than any real file system: an `msync` makes durable exactly the bytes
//! asked for (the kernel writes whole pages), and a folder sync makes durable only the changes
//! of that folder (ext4 commits every earlier change with it). What is correct on it is correct
//! on a POSIX file system.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Storage;
use crate::rng::SplitMix64 as Coin;

/// The unit a disk writes atomically.
const SECTOR: usize = 512;

/// How a power failure decides the fate of what was not synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashFate {
    /// Nothing that was not synced survives: the harshest outcome, and the one that shows a
    /// missing sync at once.
    LoseAll,
    /// Everything survives, as after a crash of the process alone.
    KeepAll,
    /// Each unsynced folder change, file size and sector is kept or lost by a coin toss.
    Random,
}

/// A simulated disk under a root folder (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct SimulatedDisk {
    disk: Arc<Disk>,
}

impl SimulatedDisk {
    /// A simulated disk whose root is `root`, an existing folder. Whatever the root holds now
    /// counts as durable.
    pub fn new(root: &Path) -> io::Result<SimulatedDisk> {
        let mut state = State::default();
        state.adopt_tree(root, Path::new(""))?;
        Ok(SimulatedDisk {
            disk: Arc::new(Disk {
                root: root.to_path_buf(),
                state: Mutex::new(state),
            }),
        })
    }

    /// The storage to hand to a journal (`JournalOptions::storage`, `OpenMode::storage`).
    pub fn storage(&self) -> Storage {
        Storage::simulated(&self.disk)
    }

    /// Storage calls made so far.
    pub fn calls(&self) -> u64 {
        self.disk.lock().calls
    }

    /// Arms a crash: the `n`-th storage call from now (1 = the next one) fails with `EIO`
    /// and has no effect, and so does every call after it.
    pub fn crash_after(&self, n: u64) {
        let mut state = self.disk.lock();
        state.crash_at = Some(state.calls + n.max(1));
    }

    /// Arms a crash at the next folder sync, whichever call number it is: that sync fails
    /// with `EIO` and has no effect, and so does every call after it. For a crash between a
    /// rename and the folder sync that makes it durable.
    pub fn crash_at_next_folder_sync(&self) {
        self.disk.lock().crash_at_folder_sync = true;
    }

    /// True once an armed crash has happened.
    pub fn is_down(&self) -> bool {
        self.disk.lock().down
    }

    /// The crash was of the process only: the page cache survives, and the disk takes calls
    /// again (for the next process).
    pub fn restart_process(&self) {
        let mut state = self.disk.lock();
        state.down = false;
        state.crash_at = None;
        state.crash_at_folder_sync = false;
    }

    /// A power failure: rebuilds the root folder as stable storage holds it, choosing the fate
    /// of everything unsynced by `fate` (with the coin tossed from `seed`). Whoever used the
    /// files must be gone (dropped) before. Afterwards everything in the root is durable and
    /// the disk takes calls again.
    pub fn power_loss(&self, fate: CrashFate, seed: u64) -> io::Result<()> {
        let mut state = self.disk.lock();
        let mut coin = Coin::new(seed);
        let entries = state.surviving_entries(fate, &mut coin);
        let mut contents = BTreeMap::new();
        for (path, node) in &entries {
            if let Node::File(ino) = node {
                let inode = &state.inodes[ino];
                contents.insert(path.clone(), inode.after_crash(fate, &mut coin)?);
            }
        }
        for entry in fs::read_dir(&self.disk.root)? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        for (path, node) in &entries {
            let real = self.disk.root.join(path);
            match node {
                Node::Dir => fs::create_dir(&real)?,
                Node::File(_) => fs::write(&real, &contents[path])?,
            }
        }
        let mut rebuilt = State::default();
        rebuilt.adopt_tree(&self.disk.root, Path::new(""))?;
        *state = rebuilt;
        Ok(())
    }

    /// The durable bytes of the file now at `path` (`None` if it is not a file of this disk).
    pub fn durable_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let ino = fs::metadata(path).ok()?.ino();
        self.disk.lock().inodes.get(&ino).map(|i| i.durable.clone())
    }
}

/// The shared state behind [`SimulatedDisk`] and its [`Storage`] handles.
pub(super) struct Disk {
    root: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    /// The folder entries at the last rebuild, by path relative to the root.
    base: BTreeMap<PathBuf, Node>,
    /// Every change of folder entries since, in order.
    changes: Vec<Change>,
    calls: u64,
    crash_at: Option<u64>,
    /// The next folder sync crashes ([`SimulatedDisk::crash_at_next_folder_sync`]).
    crash_at_folder_sync: bool,
    down: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
}

/// A change of folder entries. A rename across folders is recorded as a removal in one and
/// an addition in the other: each becomes durable with its own folder's sync.
struct Change {
    kind: ChangeKind,
    /// The folder whose sync makes the change durable.
    folder: PathBuf,
    durable: bool,
}

enum ChangeKind {
    Add(PathBuf, Node),
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
}

struct Inode {
    /// Reads the file's current bytes (the page cache), even after it is unlinked.
    handle: File,
    durable: Vec<u8>,
}

impl Inode {
    fn open(file: &File) -> io::Result<Inode> {
        Ok(Inode {
            handle: File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))?,
            durable: Vec::new(),
        })
    }

    fn current(&self) -> io::Result<Vec<u8>> {
        let len = self.handle.metadata()?.len() as usize;
        let mut bytes = vec![0u8; len];
        self.handle.read_exact_at(&mut bytes, 0)?;
        Ok(bytes)
    }

    /// The bytes a power failure leaves of this file.
    fn after_crash(&self, fate: CrashFate, coin: &mut Coin) -> io::Result<Vec<u8>> {
        let durable = &self.durable;
        let current = self.current()?;
        let len = match fate {
            CrashFate::LoseAll => durable.len(),
            CrashFate::KeepAll => current.len(),
            CrashFate::Random if coin.toss() => current.len(),
            CrashFate::Random => durable.len(),
        };
        let sector_of = |bytes: &[u8], at: usize| -> Vec<u8> {
            let end = (at + SECTOR).min(len);
            let mut sector = vec![0u8; end - at];
            if at < bytes.len() {
                let have = (end.min(bytes.len())) - at;
                sector[..have].copy_from_slice(&bytes[at..at + have]);
            }
            sector
        };
        let mut out = Vec::with_capacity(len);
        for at in (0..len).step_by(SECTOR) {
            let old = sector_of(durable, at);
            let new = sector_of(&current, at);
            let keep_new = old != new && fate.keeps(coin);
            out.extend_from_slice(if keep_new { &new } else { &old });
        }
        Ok(out)
    }
}

impl CrashFate {
    fn keeps(self, coin: &mut Coin) -> bool {
        match self {
            CrashFate::LoseAll => false,
            CrashFate::KeepAll => true,
            CrashFate::Random => coin.toss(),
        }
    }
}

impl State {
    /// Takes everything under `root/rel` as durable.
    fn adopt_tree(&mut self, root: &Path, rel: &Path) -> io::Result<()> {
        for entry in fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                self.base.insert(rel.clone(), Node::Dir);
                self.adopt_tree(root, &rel)?;
            } else {
                let file = File::open(entry.path())?;
                let ino = file.metadata()?.ino();
                let mut inode = Inode::open(&file)?;
                inode.durable = inode.current()?;
                self.inodes.insert(ino, inode);
                self.base.insert(rel, Node::File(ino));
            }
        }
        Ok(())
    }

    /// Counts a call; fails it if the disk is down or goes down with it.
    fn call(&mut self) -> io::Result<()> {
        if !self.down {
            self.calls += 1;
            self.down = self.crash_at == Some(self.calls);
        }
        if self.down {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }

    fn inode_of(&mut self, file: &File) -> io::Result<&mut Inode> {
        let ino = file.metadata()?.ino();
        Ok(match self.inodes.entry(ino) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => new.insert(Inode::open(file)?),
        })
    }

    fn record(&mut self, kind: ChangeKind, folder: &Path) {
        self.changes.push(Change {
            kind,
            folder: folder.to_path_buf(),
            durable: false,
        });
    }

    /// The folder entries a power failure leaves: the durable changes, and the others as
    /// `fate` decides, applied in order; entries whose folder did not survive are gone.
    fn surviving_entries(&self, fate: CrashFate, coin: &mut Coin) -> BTreeMap<PathBuf, Node> {
        let mut entries = self.base.clone();
        for change in &self.changes {
            if !change.durable && !fate.keeps(coin) {
                continue;
            }
            match &change.kind {
                ChangeKind::Add(path, node) => {
                    entries.insert(path.clone(), *node);
                }
                ChangeKind::Remove(path) => {
                    entries.remove(path);
                }
                ChangeKind::Rename(from, to) => {
                    if let Some(node) = entries.remove(from) {
                        entries.insert(to.clone(), node);
                    }
                }
            }
        }
        let folders: Vec<PathBuf> = entries
            .iter()
            .filter(|(_, node)| **node == Node::Dir)
            .map(|(path, _)| path.clone())
            .collect();
        entries.retain(|path, _| {
            path.ancestors()
                .skip(1)
                .all(|a| a.as_os_str().is_empty() || folders.iter().any(|f| f == a))
        });
        entries
    }
}

impl Disk {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `path` relative to the root; an error for a path outside it.
    fn relative(&self, path: &Path) -> io::Result<PathBuf> {
        path.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is outside the simulated disk at {}",
                        path.display(),
                        self.root.display()
                    ),
                )
            })
    }

    pub(super) fn create_file(
        &self,
        path: &Path,
        open: impl FnOnce() -> io::Result<File>,
    ) -> io::Result<File> {
        let rel = self.relative(path)?;
        let mut state = self.lock();
        state.call()?;
        let before = fs::metadata(path).ok().map(|m| m.ino());
        let file = open()?;
        let ino = file.metadata()?.ino();
        state.inode_of(&file)?;
        if before != Some(ino) {
            let folder = parent(&rel);
            state.record(ChangeKind::Add(rel, Node::File(ino)), &folder);
        }
        Ok(file)
    }

    pub(super) fn create_dir_all(
        &self,
        path: &Path,
        create: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let rel = self.relative(path)?;
        let mut state = self.lock();
        state.call()?;
        let missing: Vec<PathBuf> = rel
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty() && !self.root.join(a).exists())
            .map(Path::to_path_buf)
            .collect();
        create()?;
        for folder in missing.into_iter().rev() {
            let parent_folder = parent(&folder);
            state.record(ChangeKind::Add(folder, Node::Dir), &parent_folder);
        }
        Ok(())
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (rel_from, rel_to) = (self.relative(from)?, self.relative(to)?);
        let mut state = self.lock();
        state.call()?;
        let meta = fs::symlink_metadata(from)?;
        fs::rename(from, to)?;
        let (from_folder, to_folder) = (parent(&rel_from), parent(&rel_to));
        if from_folder == to_folder {
            state.record(ChangeKind::Rename(rel_from, rel_to), &from_folder);
        } else {
            let node = if meta.is_dir() {
                Node::Dir
            } else {
                Node::File(meta.ino())
            };
            state.record(ChangeKind::Remove(rel_from), &from_folder);
            state.record(ChangeKind::Add(rel_to, node), &to_folder);
        }
        Ok(())
    }

    pub(super) fn remove_file(&self, path: &Path) -> io::Result<()> {
        let rel = self.relative(path)?;
        let mut state = self.lock();
        state.call()?;
        fs::remove_file(path)?;
        let folder = parent(&rel);
        state.record(ChangeKind::Remove(rel), &folder);
        Ok(())
    }

    pub(super) fn sync_file(&self, file: &File) -> io::Result<()> {
        let mut state = self.lock();
        state.call()?;
        let inode = state.inode_of(file)?;
        inode.durable = inode.current()?;
        Ok(())
    }

    pub(super) fn sync_range(&self, file: &File, offset: usize, len: usize) -> io::Result<()> {
        let mut state = self.lock();
        state.call()?;
        let inode = state.inode_of(file)?;
        // msync does not make a new file size durable: only bytes inside the durable size.
        let end = (offset + len).min(inode.durable.len());
        if offset < end {
            let mut bytes = vec![0u8; end - offset];
            inode.handle.read_exact_at(&mut bytes, offset as u64)?;
            inode.durable[offset..end].copy_from_slice(&bytes);
        }
        Ok(())
    }

    pub(super) fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if std::mem::take(&mut state.crash_at_folder_sync) {
            state.down = true;
        }
        state.call()?;
        if !dir.is_dir() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        // A folder above the root (the parent of a journal created at the root) holds
        // nothing of this disk.
        let Ok(rel) = self.relative(dir) else {
            return Ok(());
        };
        for change in state.changes.iter_mut().filter(|c| c.folder == rel) {
            change.durable = true;
        }
        Ok(())
    }
}

fn parent(rel: &Path) -> PathBuf {
    rel.parent().map(Path::to_path_buf).unwrap_or_default()
}
