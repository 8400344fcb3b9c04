//! The writer's work off the append path: the background thread (preparing the next segment,
//! sealing rolled ones, the periodic flush) and the pre-fault thread, and the append path's
//! side of them (requests, and waiting for seals before replacing a segment).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Shared, WriterState, PREFAULT_WINDOW_BYTES};
use crate::error::Error;
use crate::storage::format::{ChainLink, Durability, SEGMENT_HEADER_SIZE};
use crate::storage::fs::Storage;
use crate::storage::limits::segment_capacity;
use crate::storage::mmap::{Map, MapWriter, WritableMap};
use crate::storage::segment::{self, PREPARED_FILE_NAME};
use crate::sync::lock;

/// Bound of the background thread's queue. Messages are small and rare (two per roll); a full
/// queue means the background thread is stuck, and the appender then skips the wake-up
/// rather than wait (seals are never lost: see `pending_seals`).
const BACKGROUND_QUEUE_MAX: usize = 64;

/// Bound of the pre-faulting thread's queue: one window is being pre-faulted and at most a
/// few more are asked for; when it is full the writer is faster than pre-faulting, and the
/// request is dropped (the writer then takes the page faults itself).
const PREFAULT_QUEUE_MAX: usize = 4;

/// A window to pre-fault: `PREFAULT_WINDOW_BYTES` of a mapping from an offset.
pub(super) type Window = (Arc<WritableMap>, usize);

/// A zero-filled, mapped, pre-faulted segment file ready to become the next segment.
pub(super) struct Prepared {
    pub(super) path: PathBuf,
    pub(super) map: Arc<Map>,
    pub(super) writer: MapWriter,
}

pub(super) enum Job {
    Prepare,
    /// Seal what `pending_seals` holds.
    Seal,
}

pub(super) struct Seal {
    pub(super) map: Arc<Map>,
    pub(super) data_end: usize,
    pub(super) last_seq: u64,
    pub(super) next_path: PathBuf,
    /// The mapping of the next segment, whose header page the link is synced through.
    pub(super) next_map: Arc<Map>,
}

impl Shared {
    /// Starts the background thread; returns its handle.
    /// Starts the background thread and the pre-faulting thread; returns the handle of the
    /// background thread, which joins the other when it stops.
    pub fn spawn_background(self: &Arc<Shared>) -> Result<JoinHandle<()>, Error> {
        let (prefault_sender, prefault_receiver) = mpsc::sync_channel(PREFAULT_QUEUE_MAX);
        let prefaulter = std::thread::Builder::new()
            .name("tradeledger-prefault".into())
            .spawn(move || prefault_loop(prefault_receiver))
            .map_err(crate::error::io_error(
                &self.dir,
                "start pre-faulting thread",
            ))?;
        *lock(&self.prefaulter) = Some(prefault_sender);
        let (sender, receiver) = mpsc::sync_channel(BACKGROUND_QUEUE_MAX);
        *lock(&self.background) = Some(sender);
        let shared = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("tradeledger-bg".into())
            .spawn(move || {
                shared.background_loop(receiver);
                let _ = prefaulter.join();
            })
            .map_err(crate::error::io_error(&self.dir, "start background thread"))?;
        self.send(Job::Prepare);
        let mut state = lock(&self.state);
        self.prefault_ahead(&mut state);
        Ok(handle)
    }

    /// Stops the background and pre-faulting threads (after they finish queued work).
    pub fn stop_background(&self) {
        lock(&self.prefaulter).take();
        lock(&self.background).take();
    }

    pub(super) fn prefault_ahead(&self, state: &mut WriterState) {
        let from = state.prefault_mark.max(state.write_offset);
        state.prefault_mark = from + PREFAULT_WINDOW_BYTES;
        if let Some(sender) = lock(&self.prefaulter).as_ref() {
            // A full queue: the writer outruns pre-faulting; never block it.
            let _ = sender.try_send((Arc::clone(state.writer.writable()), from));
        }
    }

    pub(super) fn send(&self, job: Job) {
        if let Some(sender) = lock(&self.background).as_ref() {
            // A full queue only delays pre-faulting or preparation, which the append path
            // handles itself; never block the appender on it.
            let _ = sender.try_send(job);
        }
    }

    /// A batch too big for an *empty* active segment replaces that segment (same name and
    /// place) by a bigger one, which must carry the segment's chain link: so every seal
    /// requested so far must be done first. Sealing flushes, which takes the state lock, so
    /// the wait happens with the lock released; the caller checks again after it.
    pub(super) fn settle_seals_before_replacing<'a>(
        &'a self,
        mut state: MutexGuard<'a, WriterState>,
    ) -> MutexGuard<'a, WriterState> {
        // Seals are requested only under the state lock, so once this holds with the lock
        // held it stays true until the roll is done.
        loop {
            let requested = state.seals_requested;
            if state.write_offset != SEGMENT_HEADER_SIZE || *lock(&self.seals_done) >= requested {
                return state;
            }
            drop(state);
            self.wait_for_seals(requested);
            state = lock(&self.state);
        }
    }

    /// Queues the seal of a rolled segment for the background thread. Runs under the state
    /// lock, so it must not seal here: sealing flushes, and a flush takes the state lock. If
    /// the wake-up does not fit in the queue, the background thread still seals the pending
    /// segments after the job it is busy with; if the thread is gone (shutdown), the links
    /// stay pending and the next open completes them (`docs/RECOVERY.md`).
    pub(super) fn request_seal(&self, seal: Seal) {
        lock(&self.pending_seals).push_back(seal);
        self.send(Job::Seal);
    }

    /// Seals every pending segment, oldest first (background thread only).
    pub(super) fn seal_pending(&self) {
        loop {
            let next = lock(&self.pending_seals).pop_front();
            match next {
                Some(seal) => self.seal(seal),
                None => return,
            }
        }
    }

    pub(super) fn take_prepared(&self, capacity: u64) -> Result<Prepared, Error> {
        let ready = lock(&self.prepared).take();
        match ready {
            Some(p) if p.map.len() as u64 == capacity => Ok(p),
            other => {
                if let Some(p) = other {
                    // Wrong size (an oversized batch): keep it for the next roll.
                    *lock(&self.prepared) = Some(p);
                }
                prepare_file(&self.storage, &self.next_prepared_path(), capacity)
            }
        }
    }

    /// Removes the segment prepared for the next roll, at close: a closed journal keeps only
    /// its segments (the next open prepares one again). Failing to remove it only costs disk
    /// (the next open removes it), so the failure is logged, not returned.
    pub fn discard_prepared(&self) {
        let Some(prepared) = lock(&self.prepared).take() else {
            return;
        };
        let path = prepared.path.clone();
        drop(prepared);
        if let Err(error) = self.storage.remove_file(&path) {
            tracing::warn!(%error, path = %path.display(), "could not remove the prepared segment");
        }
    }

    pub(super) fn wait_for_seals(&self, requested: u64) {
        let mut done = lock(&self.seals_done);
        while *done < requested {
            done = self
                .seals_done_changed
                .wait(done)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(super) fn background_loop(self: Arc<Shared>, jobs: Receiver<Job>) {
        let period = match self.meta.durability {
            Durability::Periodic { interval_ms } => Duration::from_millis(interval_ms as u64),
            _ => Duration::from_secs(3600),
        };
        loop {
            match jobs.recv_timeout(period) {
                // A roll queues the old segment's seal before the next segment's preparation,
                // but the writer needs the next segment first: a seal syncs a whole segment
                // (~100 ms for 32 MiB here), and a writer that reaches the end of the active
                // segment before the next is prepared must prepare it itself, on the append
                // path. So any job prepares first.
                Ok(Job::Prepare | Job::Seal) => self.prepare_next(),
                Err(RecvTimeoutError::Timeout) => {
                    if matches!(self.meta.durability, Durability::Periodic { .. }) {
                        let _ = self.flush();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.seal_pending();
                    return;
                }
            }
            // After every job, not only after `Job::Seal`: a seal's wake-up may not have fit
            // in the queue.
            self.seal_pending();
        }
    }

    /// A new name for a prepared file. Every prepared file has its own: a roll may be
    /// activating (renaming) the one it took while the background thread prepares the next,
    /// so a shared name would let one replace or delete the other's file (`next.seg.prepared*`
    /// leftovers are deleted on open).
    pub(super) fn next_prepared_path(&self) -> PathBuf {
        let n = self.prepared_files.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{PREPARED_FILE_NAME}.{n}"))
    }

    pub(super) fn prepare_next(&self) {
        if lock(&self.prepared).is_some() {
            return;
        }
        let path = self.next_prepared_path();
        let index = self.active_index.load(Ordering::Relaxed) + 1;
        let capacity = segment_capacity(self.meta.segment_size_bytes, index);
        match prepare_file(&self.storage, &path, capacity) {
            Ok(prepared) => {
                let mut slot = lock(&self.prepared);
                if slot.is_none() {
                    *slot = Some(prepared);
                } else {
                    drop(slot);
                    drop(prepared);
                    let _ = self.storage.remove_file(&path);
                }
            }
            Err(error) => {
                let _ = self.storage.remove_file(&path);
                tracing::warn!(%error, "could not prepare the next segment; the next roll will create it")
            }
        }
    }

    /// Makes a rolled segment durable, hashes it, and writes the link into its successor.
    pub(super) fn seal(&self, seal: Seal) {
        let result = self
            .commit
            .exclusive(|| self.flush_rolled())
            .and_then(|()| {
                let hash = segment::hash_prefix(seal.map.all_bytes(), seal.data_end);
                let link = ChainLink {
                    prev_hash: hash,
                    prev_data_end: seal.data_end as u64,
                    prev_last_seq: seal.last_seq,
                };
                segment::write_link_in_place(&seal.next_path, &seal.next_map, &link)
            });
        if let Err(error) = result {
            self.poison(&error);
        }
        let mut done = lock(&self.seals_done);
        *done += 1;
        self.seals_done_changed.notify_all();
    }
}

/// Pre-faults the windows asked for until the sender is dropped.
pub(super) fn prefault_loop(windows: Receiver<Window>) {
    for (map, from) in windows {
        let _ = map.prefault_for_write(from, PREFAULT_WINDOW_BYTES);
    }
}

/// Creates a zero-filled segment file at `path`, maps it and pre-faults its first window.
pub(super) fn prepare_file(
    storage: &Storage,
    path: &Path,
    capacity: u64,
) -> Result<Prepared, Error> {
    let file = segment::create_zeroed(storage, path, capacity)?;
    let mut map = Arc::new(
        Map::map_for_writer(file, storage)
            .map_err(crate::error::io_error(path, "map prepared segment"))?,
    );
    let writer = map
        .attach_writer()
        .map_err(crate::error::io_error(path, "map prepared segment"))?;
    let _ = writer
        .writable()
        .prefault_for_write(SEGMENT_HEADER_SIZE, PREFAULT_WINDOW_BYTES);
    Ok(Prepared {
        path: path.to_path_buf(),
        map,
        writer,
    })
}
