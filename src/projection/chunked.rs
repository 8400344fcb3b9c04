//! An append-only vector stored in fixed-size chunks.
//!
//! A plain `Vec` of millions of trade records doubles by copying everything (a stall of
//! hundreds of milliseconds in the middle of live appends) and keeps up to half its capacity
//! unused. Chunks never move, and at most one chunk is partly empty.

use std::ops::{Index, IndexMut};

const CHUNK_LEN: usize = 1 << 12;

/// The position of a record; `u32` keeps index entries small.
pub(crate) type Slot = u32;

#[derive(Clone, Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub fn push(&mut self, value: T) -> Slot {
        // Four billion records of ~350 bytes would need terabytes of memory first.
        let slot = Slot::try_from(self.len).expect("fewer than 2^32 records");
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_LEN => chunk.push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_LEN);
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        slot
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
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
        let slot = slot as usize;
        &self.chunks[slot / CHUNK_LEN][slot % CHUNK_LEN]
    }
}

impl<T> IndexMut<Slot> for Chunked<T> {
    fn index_mut(&mut self, slot: Slot) -> &mut T {
        let slot = slot as usize;
        &mut self.chunks[slot / CHUNK_LEN][slot % CHUNK_LEN]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_address_records_across_chunk_boundaries() {
        let mut chunked = Chunked::default();
        for value in 0..(CHUNK_LEN as u64 * 2 + 5) {
            assert_eq!(chunked.push(value), value as Slot);
        }
        assert_eq!(chunked[CHUNK_LEN as Slot], CHUNK_LEN as u64);
        chunked[3] = 99;
        assert_eq!(chunked.iter().nth(3), Some(&99));
        assert_eq!(chunked.len(), CHUNK_LEN * 2 + 5);
    }
}
