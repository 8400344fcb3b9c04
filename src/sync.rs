//! The one locking helper every layer shares.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, ignoring poisoning: the state behind these mutexes stays consistent
/// because every update is a plain store made after the fallible work succeeded.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
