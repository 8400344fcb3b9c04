//! The model: what a trading process records, independent of how it is stored.
//!
//! * [`event`]: the events and their value types.
//! * [`contract`]: the stateless rules every event obeys (`docs/INTERCHANGE.md` §3).
//! * `codec` (internal): an event to and from the payload bytes a frame carries.
//! * [`interchange`]: the JSON Lines form of the events (`docs/INTERCHANGE.md`).

#[doc(hidden)]
pub mod codec;
pub mod contract;
pub mod event;
pub mod interchange;
