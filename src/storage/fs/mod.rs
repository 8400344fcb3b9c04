//! The storage seam: every file-system call whose durability matters goes through a
//! [`Storage`].
//!
//! That is: creating, renaming and removing files and folders, `fsync`/`fdatasync` of files,
//! `msync` of mapped segment ranges, and the `fsync` of folders. Plain reads and writes (a
//! `pwrite`, a store into a mapping) do not: they only change what the page cache holds, and
//! the page cache is lost at a power failure. What reaches stable storage is decided by the
//! calls above, so they are all a test needs to see to know what a power failure would keep.
//!
//! Production uses [`Storage::real`] (the default): each call is the system call. Tests use a
//! [`SimulatedDisk`], which performs the same operations on real files (so mappings, reads and
//! the page cache behave as in production) and records, beside them, exactly which bytes and
//! which folder entries reached stable storage. A simulated crash then rebuilds the folder as a
//! power failure could leave it (`sim.rs`).

mod sim;

pub use sim::{CrashFate, SimulatedDisk};

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// Files are created readable and writable by their owner only; folders likewise.
pub(crate) const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Where durability-relevant file-system calls go. Cheap to clone.
#[derive(Clone, Default)]
pub struct Storage {
    backend: Backend,
}

#[derive(Clone, Default)]
enum Backend {
    #[default]
    Real,
    Simulated(Arc<sim::Disk>),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.backend {
            Backend::Real => "Storage::Real",
            Backend::Simulated(_) => "Storage::Simulated",
        })
    }
}

impl Storage {
    /// The file system, as it is.
    pub fn real() -> Storage {
        Storage::default()
    }

    fn simulated(disk: &Arc<sim::Disk>) -> Storage {
        Storage {
            backend: Backend::Simulated(Arc::clone(disk)),
        }
    }

    /// Creates `path`, which must not exist, for reading and writing.
    pub(crate) fn create_new(&self, path: &Path) -> io::Result<File> {
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(path)
        };
        match &self.backend {
            Backend::Real => open(),
            Backend::Simulated(disk) => disk.create_file(path, open),
        }
    }

    /// Creates `path`, or empties it if it exists, for writing (temporary files).
    pub(crate) fn create_truncate(&self, path: &Path) -> io::Result<File> {
        let open = || {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(FILE_MODE)
                .open(path)
        };
        match &self.backend {
            Backend::Real => open(),
            Backend::Simulated(disk) => disk.create_file(path, open),
        }
    }

    /// Creates the folder `path` and any missing parent.
    pub(crate) fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let create = || {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(path)
        };
        match &self.backend {
            Backend::Real => create(),
            Backend::Simulated(disk) => disk.create_dir_all(path, create),
        }
    }

    pub(crate) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Real => fs::rename(from, to),
            Backend::Simulated(disk) => disk.rename(from, to),
        }
    }

    pub(crate) fn remove_file(&self, path: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Real => fs::remove_file(path),
            Backend::Simulated(disk) => disk.remove_file(path),
        }
    }

    /// `fdatasync`: the file's bytes (and its size) reach stable storage.
    pub(crate) fn sync_data(&self, file: &File) -> io::Result<()> {
        match &self.backend {
            Backend::Real => file.sync_data(),
            Backend::Simulated(disk) => disk.sync_file(file),
        }
    }

    /// `fsync`: as [`Storage::sync_data`], with the file's metadata.
    pub(crate) fn sync_all(&self, file: &File) -> io::Result<()> {
        match &self.backend {
            Backend::Real => file.sync_all(),
            Backend::Simulated(disk) => disk.sync_file(file),
        }
    }

    /// `msync` of `[offset, offset + len)` of `file`, mapped as `map`. The simulated disk
    /// makes exactly these bytes durable, not the whole pages around them as the kernel does,
    /// so that a range synced too short is caught.
    pub(crate) fn sync_mapped(
        &self,
        file: &File,
        map: &memmap2::MmapRaw,
        offset: usize,
        len: usize,
    ) -> io::Result<()> {
        match &self.backend {
            Backend::Real => map.flush_range(offset, len),
            Backend::Simulated(disk) => disk.sync_range(file, offset, len),
        }
    }

    /// `fsync` of a folder: its entries (creations, renames, removals) reach stable storage.
    pub(crate) fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Real => File::open(dir).and_then(|d| d.sync_all()),
            Backend::Simulated(disk) => disk.sync_dir(dir),
        }
    }
}
