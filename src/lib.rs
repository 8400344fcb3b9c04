//! tradeledger: an event-sourced, append-only journal for trading systems.
//!
//! See `ARCHITECTURE.md` for the map and `docs/FORMAT.md` for the bytes on disk.

pub mod codec;
pub mod event;
pub mod projection;
