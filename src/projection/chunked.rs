//! An append-only vector stored in fixed-size chunks, whose next chunk is prepared off the
//! append path.
//!
//! A plain `Vec` of millions of trade records doubles by copying everything (a stall of
//! hundreds of milliseconds in the middle of live appends) and keeps up to half its capacity
//! unused. Chunks never move, and at most one chunk is partly empty.
//!
//! Fresh memory costs a page fault on its first write (1–3 µs here, `../MEASURED.md`): left to
//! the append path, one trade in eleven would pay one. So the next chunk is allocated and
//! written once per page by a background thread ([`prepared_chunk`]), asked for when the first
//! chunk is half full and then whenever a chunk is started; `push` takes it when the current
//! chunk is full. If it is not ready yet, `push` allocates one itself, as it would without the
//! thread.

use std::mem::MaybeUninit;
use std::ops::{Index, IndexMut};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};

const CHUNK_LEN: usize = 1 << 12;
/// The first chunk's initial room, for entries of at most `SMALL_ENTRY_BYTES` (it grows to
/// `CHUNK_LEN`).
const FIRST_CHUNK_START: usize = 16;
const SMALL_ENTRY_BYTES: usize = 32;
const PAGE_BYTES: usize = 4096;

/// The position of a record; `u32` keeps index entries small.
pub(crate) type Slot = u32;

#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
    /// The next chunk, filled in by the background thread when it is ready.
    next: Option<Prepared<T>>,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked {
            chunks: Vec::new(),
            len: 0,
            next: None,
        }
    }
}

impl<T: Clone> Clone for Chunked<T> {
    fn clone(&self) -> Chunked<T> {
        Chunked {
            chunks: self.chunks.clone(),
            len: self.len,
            next: None,
        }
    }
}

impl<T: Send + 'static> Chunked<T> {
    pub fn push(&mut self, value: T) -> Slot {
        // Four billion records of ~350 bytes would need terabytes of memory first.
        let slot = Slot::try_from(self.len).expect("fewer than 2^32 records");
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_LEN => {
                chunk.push(value);
                if chunk.len() == CHUNK_LEN / 2 && self.next.is_none() {
                    self.next = Some(prepared_chunk());
                }
            }
            None => {
                // Many index tables stay small (one per symbol or account; OPEN): their first
                // chunk starts small and doubles as it fills (the last doubling copies 64 KiB
                // at most). Record tables, few and large, start with a whole chunk.
                let room = if size_of::<T>() <= SMALL_ENTRY_BYTES {
                    FIRST_CHUNK_START
                } else {
                    CHUNK_LEN
                };
                let mut chunk = Vec::with_capacity(room);
                chunk.push(value);
                self.chunks.push(chunk);
            }
            Some(_) => {
                let prepared = self
                    .next
                    .take()
                    .and_then(|next| next.try_lock().ok()?.take());
                let mut chunk = prepared.unwrap_or_else(|| Vec::with_capacity(CHUNK_LEN));
                chunk.push(value);
                self.chunks.push(chunk);
                // A table that grew past one chunk grows on: its next chunk gets a whole
                // chunk's time to be prepared (the thread prepares the chunks of every table).
                self.next = Some(prepared_chunk());
            }
        }
        self.len += 1;
        slot
    }
}

impl<T> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn last(&self) -> Option<&T> {
        self.chunks.last().and_then(|chunk| chunk.last())
    }

    /// The record at position `index` (`< len`).
    pub fn at(&self, index: usize) -> &T {
        &self.chunks[index / CHUNK_LEN][index % CHUNK_LEN]
    }

    pub fn at_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index / CHUNK_LEN][index % CHUNK_LEN]
    }

    /// The first position whose record does not satisfy `before`, for records partitioned by
    /// it (all that satisfy it first), as `slice::partition_point`.
    pub fn partition_point(&self, mut before: impl FnMut(&T) -> bool) -> usize {
        let whole = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(&mut before));
        match self.chunks.get(whole) {
            Some(chunk) => whole * CHUNK_LEN + chunk.partition_point(before),
            None => self.len,
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// Bytes reserved by the chunks (for memory estimates).
    pub fn reserved_bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * size_of::<T>()
    }
}

/// Slots come only from `push` (directly or through an index rebuilt from the records), so an
/// out-of-range slot is a bug in this module, not bad input.
impl<T> Index<Slot> for Chunked<T> {
    type Output = T;
    fn index(&self, slot: Slot) -> &T {
        self.at(slot as usize)
    }
}

impl<T> IndexMut<Slot> for Chunked<T> {
    fn index_mut(&mut self, slot: Slot) -> &mut T {
        self.at_mut(slot as usize)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Where the chunk thread leaves a chunk it prepared.
type Prepared<T> = Arc<Mutex<Option<Vec<T>>>>;

/// The chunk thread's queue: shared by every projection of the process, started on first use;
/// `None` if the thread could not be started.
fn jobs() -> Option<&'static Sender<Job>> {
    static JOBS: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        // Unbounded, so that no job is refused while the thread lives (a refused free would
        // run on the append path). It stays short: a table asks for one chunk ahead at most,
        // and frees are rare.
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tradeledger-chunks".into())
            .spawn(move || receiver.into_iter().for_each(|job| job()))
            .ok()
            .map(|_| sender)
    });
    jobs.as_ref()
}

/// Asks the chunk thread for an empty chunk whose pages are already written once. If the
/// thread cannot be started, or has not got to it when the chunk is needed, `push` allocates
/// the chunk on its own.
fn prepared_chunk<T: Send + 'static>() -> Prepared<T> {
    let prepared = Prepared::default();
    if let Some(jobs) = jobs() {
        let slot = Arc::clone(&prepared);
        let _ = jobs.send(Box::new(move || {
            // Nobody waits for it any more: the chunk would only be freed.
            if Arc::strong_count(&slot) > 1 {
                let chunk = touched_chunk::<T>();
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(chunk);
            }
        }));
    }
    prepared
}

/// Drops `value` on the chunk thread (a large one frees its chunks with a system call each),
/// or here if that thread could not be started.
pub(crate) fn drop_elsewhere<T: Send + 'static>(value: T) {
    match jobs() {
        Some(jobs) => {
            let _ = jobs.send(Box::new(move || drop(value)));
        }
        None => drop(value),
    }
}

/// An empty chunk with room for `CHUNK_LEN` records, each of its pages written once.
fn touched_chunk<T>() -> Vec<T> {
    let mut chunk = Vec::with_capacity(CHUNK_LEN);
    let stride = (PAGE_BYTES / size_of::<T>().max(1)).max(1);
    for spare in chunk.spare_capacity_mut().iter_mut().step_by(stride) {
        *spare = MaybeUninit::zeroed();
    }
    std::hint::black_box(chunk.as_mut_ptr());
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_address_records_across_chunk_boundaries() {
        let mut chunked = Chunked::default();
        for value in 0..(CHUNK_LEN as u64 * 3 + 5) {
            assert_eq!(chunked.push(value), value as Slot);
        }
        assert_eq!(chunked[CHUNK_LEN as Slot], CHUNK_LEN as u64);
        chunked[3] = 99;
        assert_eq!(chunked.iter().nth(3), Some(&99));
        assert_eq!(chunked.len(), CHUNK_LEN * 3 + 5);
        assert_eq!(chunked.last(), Some(&(CHUNK_LEN as u64 * 3 + 4)));
        assert!(chunked.iter().skip(4).zip(4..).all(|(v, i)| *v == i));
    }

    /// Once a table has grown past its first chunk, the chunk after the current one is
    /// prepared by the chunk thread, and `push` starts the next chunk with it.
    #[test]
    fn the_next_chunk_is_the_one_the_chunk_thread_prepared() {
        let mut chunked = Chunked::default();
        for value in 0..CHUNK_LEN as u64 + 1 {
            chunked.push(value);
        }
        let slot = Arc::clone(
            chunked
                .next
                .as_ref()
                .expect("asked for when the chunk started"),
        );
        let waiting_since = std::time::Instant::now();
        let prepared = loop {
            if let Some(chunk) = slot.lock().unwrap().as_ref() {
                assert_eq!((chunk.len(), chunk.capacity()), (0, CHUNK_LEN));
                break chunk.as_ptr();
            }
            assert!(waiting_since.elapsed() < std::time::Duration::from_secs(30));
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        for value in CHUNK_LEN as u64 + 1..2 * CHUNK_LEN as u64 + 1 {
            chunked.push(value);
        }
        assert_eq!(chunked.chunks.len(), 3);
        assert_eq!(chunked.chunks[2].as_ptr(), prepared);
        assert!(chunked.iter().zip(0..).all(|(v, i)| *v == i));
    }

    /// A table of small entries reserves room as it fills until its first chunk is whole;
    /// a table of large records reserves its first chunk at once.
    #[test]
    fn small_entries_start_with_a_small_first_chunk() {
        let mut small = Chunked::default();
        for value in 0..10u64 {
            small.push(value);
        }
        assert_eq!(small.reserved_bytes(), 16 * size_of::<u64>());
        for value in 10..CHUNK_LEN as u64 {
            small.push(value);
        }
        assert_eq!(small.reserved_bytes(), CHUNK_LEN * size_of::<u64>());
        assert!(small.iter().zip(0..).all(|(v, i)| *v == i));
        let mut large = Chunked::default();
        large.push([0u8; 64]);
        assert_eq!(large.reserved_bytes(), CHUNK_LEN * 64);
    }

    #[test]
    fn partition_point_matches_a_flat_slice() {
        let mut chunked = Chunked::default();
        let values: Vec<u64> = (0..(CHUNK_LEN as u64 * 2 + 7)).map(|v| v * 2).collect();
        for value in &values {
            chunked.push(*value);
        }
        for probe in [
            0,
            1,
            2,
            CHUNK_LEN as u64 * 2 - 1,
            CHUNK_LEN as u64 * 2,
            u64::MAX,
        ] {
            let expected = values.partition_point(|v| *v < probe);
            assert_eq!(chunked.partition_point(|v| *v < probe), expected, "{probe}");
        }
        let empty: Chunked<u64> = Chunked::default();
        assert_eq!(empty.partition_point(|_| true), 0);
    }
}
