//! Where the paper trader's events go. The journal's async handle implements [`EventSink`];
//! [`MemorySink`] keeps events in memory for tests.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use crate::ledger::handle::{JournalHandle, Receipt};
use crate::model::event::Event;

/// An append that did not happen. The trader counts it and goes on (`docs/DEMO.md`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
}

impl SinkError {
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
        }
    }
}

impl From<crate::Error> for SinkError {
    fn from(error: crate::Error) -> Self {
        SinkError::new(error.to_string())
    }
}

/// A destination for batches of events.
pub trait EventSink: Send + Sync + 'static {
    /// Appends `events` as one atomic batch; returns the last sequence number.
    fn append(&self, events: Vec<Event>) -> impl Future<Output = Result<u64, SinkError>> + Send;
}

/// Keeps every appended event in order; sequence numbers start at 1.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<Event>>,
}

impl MemorySink {
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// A copy of every event appended so far, in append order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        // The lock only guards `extend` and `clone`, which leave the Vec valid even if they
        // panic, so a poisoned lock still holds consistent data.
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl EventSink for MemorySink {
    fn append(&self, events: Vec<Event>) -> impl Future<Output = Result<u64, SinkError>> + Send {
        let result = if events.is_empty() {
            Err(SinkError::new("an append needs at least one event"))
        } else {
            let mut all = self.lock();
            all.extend(events);
            Ok(all.len() as u64)
        };
        std::future::ready(result)
    }
}

/// The paper trader (`demo`) journals through the handle. A batch that was held rather than
/// written (Continue policy) is reported to the trader as a failure: it is not in the journal.
impl EventSink for JournalHandle {
    async fn append(&self, events: Vec<Event>) -> Result<u64, SinkError> {
        match JournalHandle::append(self, events).await {
            Ok(Receipt::Written { last_seq, .. }) => Ok(last_seq),
            Ok(Receipt::Held { held_events }) => Err(SinkError::new(format!(
                "journal failed; batch held in memory ({held_events} events held)"
            ))),
            Err(error) => Err(SinkError::new(error.to_string())),
        }
    }
}
