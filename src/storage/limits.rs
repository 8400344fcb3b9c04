//! Limits in one place, units last. Relationships between them are asserted at compile time.

use crate::storage::format::{FRAME_HEADER_SIZE, PAYLOAD_SIZE_MAX, SEGMENT_HEADER_SIZE};

/// Default segment size: large enough that rolls (two syncs and a rename) are rare, small
/// enough that the tail scan on open stays in the tens of milliseconds.
pub const SEGMENT_SIZE_DEFAULT_BYTES: u64 = 32 << 20;
pub const SEGMENT_SIZE_MIN_BYTES: u64 = 64 << 10;
pub const SEGMENT_SIZE_MAX_BYTES: u64 = 1 << 30;
/// The size of a journal's first segment (or the configured size, if smaller): each next
/// one is twice the one before, up to the configured size ([`segment_capacity`]).
pub const SEGMENT_FIRST_BYTES: u64 = 1 << 20;

/// The capacity of segment number `index` (from 0) of a journal configured for segments of
/// `configured` bytes: [`SEGMENT_FIRST_BYTES`] doubled `index` times, at most `configured`.
/// A small journal takes little disk, and a large one soon has segments of the configured
/// size. (A batch larger than that gets a segment of its own size.)
pub fn segment_capacity(configured: u64, index: u64) -> u64 {
    let first = SEGMENT_FIRST_BYTES.min(configured);
    first.saturating_mul(1 << index.min(40)).min(configured)
}

/// How often `tail` polls a journal that another process is writing.
pub const TAIL_POLL_INTERVAL_MS: u64 = 50;
/// After how long without a new record a follower checks its files (`FollowOptions`).
pub const FOLLOW_RESYNC_AFTER_MS: u64 = 1000;

const _: () = assert!(SEGMENT_SIZE_MIN_BYTES as usize > SEGMENT_HEADER_SIZE + FRAME_HEADER_SIZE);
const _: () = assert!(PAYLOAD_SIZE_MAX as u64 <= SEGMENT_SIZE_MAX_BYTES);
const _: () = assert!(SEGMENT_SIZE_DEFAULT_BYTES.is_multiple_of(4096));
const _: () = assert!(SEGMENT_FIRST_BYTES.is_multiple_of(4096));
const _: () = assert!(SEGMENT_FIRST_BYTES >= SEGMENT_SIZE_MIN_BYTES);
