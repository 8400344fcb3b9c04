//! Limits in one place, units last. Relationships between them are asserted at compile time.

use crate::storage::format::{FRAME_HEADER_SIZE, PAYLOAD_SIZE_MAX, SEGMENT_HEADER_SIZE};

/// Default segment size: large enough that rolls (two syncs and a rename) are rare, small
/// enough that the tail scan on open stays in the tens of milliseconds.
pub const SEGMENT_SIZE_DEFAULT_BYTES: u64 = 32 << 20;
pub const SEGMENT_SIZE_MIN_BYTES: u64 = 64 << 10;
pub const SEGMENT_SIZE_MAX_BYTES: u64 = 1 << 30;

/// How often `tail` polls a journal that another process is writing.
pub const TAIL_POLL_INTERVAL_MS: u64 = 50;
/// After how long without a new record a follower checks its files (`FollowOptions`).
pub const FOLLOW_RESYNC_AFTER_MS: u64 = 1000;

const _: () = assert!(SEGMENT_SIZE_MIN_BYTES as usize > SEGMENT_HEADER_SIZE + FRAME_HEADER_SIZE);
const _: () = assert!(PAYLOAD_SIZE_MAX as u64 <= SEGMENT_SIZE_MAX_BYTES);
const _: () = assert!(SEGMENT_SIZE_DEFAULT_BYTES.is_multiple_of(4096));
