//! Group commit: one flush leader at a time, and the callers whose records its flush makes
//! durable.
//!
//! A caller that needs its records durable becomes the flush leader if nobody is flushing
//! ([`GroupCommit::try_lead`]); otherwise it waits for the running flush, which usually covers
//! its records too, and tries again. Blocking callers wait on a condition variable
//! ([`GroupCommit::wait`]); async callers await [`GroupCommit::leader_done_after`], a future
//! that any executor can drive. Both are woken when a leader is done.
//!
//! Followers do not queue on a mutex: a mutex hands over to one waiter at a time, so the
//! followers of one flush would wake one after another, each paying a thread wake-up (about
//! 30 µs here, ARCHITECTURE.md, "Measured costs"). A finished flush wakes them all at once.
//!
//! Producers that each wait for their own append come back one by one after a flush wakes
//! them; a leader that flushed at once would take only the first few. So a leader may first
//! gather its group ([`GroupCommit::gathered`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::lock;

/// The flush leadership and its waiters, and the sizes of the groups flushed.
#[derive(Default)]
pub struct GroupCommit {
    /// True while a flush leader exists ([`Leader`]): set by the one that becomes leader,
    /// cleared when it is done, then read by waiters under `waiters`.
    flushing: AtomicBool,
    waiters: Mutex<()>,
    done: Condvar,
    /// Leaders that have finished, and the wakers of the async waiters for the next one.
    leaders_done: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
    /// Batches published so far (counted by the writer under its state lock).
    published: AtomicU64,
    /// `published` as the last successful flush saw it: every batch up to there is durable.
    flushed: AtomicU64,
    /// Batches the last successful flush made durable.
    last_group: AtomicU64,
    last_flush_ns: AtomicU64,
}

/// The one flush leader ([`GroupCommit::try_lead`]). Dropping it — after its flush, or
/// without one (an async leader cancelled while it gathered) — ends its leadership and wakes
/// every waiter, so that one of them leads next if its records are not durable yet.
pub struct Leader<'a> {
    commit: &'a GroupCommit,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let commit = self.commit;
        commit.flushing.store(false, Ordering::Release);
        // Counted before the wakers are taken: see `LeaderDone::poll`.
        commit.leaders_done.fetch_add(1, Ordering::AcqRel);
        for waker in lock(&commit.wakers).drain(..) {
            waker.wake();
        }
        // Cleared `flushing` before taking `waiters`: a waiter that checked it under the lock
        // is already waiting when this broadcast comes.
        drop(lock(&commit.waiters));
        commit.done.notify_all();
    }
}

impl GroupCommit {
    /// Becomes the flush leader if nobody is flushing (never blocks).
    pub fn try_lead(&self) -> Option<Leader<'_>> {
        // Set at once, so that followers wait rather than spin while the leader starts.
        let won = self
            .flushing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire);
        // Built only when won (`then`, not `then_some`): a `Leader` dropped ends leadership.
        won.is_ok().then(|| Leader { commit: self })
    }

    /// Waits until the running flush ends; returns at once if none is running or `done()`
    /// already holds.
    pub fn wait(&self, done: impl Fn() -> bool) {
        let waiters = lock(&self.waiters);
        if done() || !self.flushing.load(Ordering::Acquire) {
            return;
        }
        // The timeout is only a safety net: the broadcast always comes.
        let _ = self.done.wait_timeout(waiters, Duration::from_millis(100));
    }

    /// Runs `flush` as the leader, after the running flush if there is one: for a flush that
    /// must happen whatever is durable already (a seal, an explicit flush).
    pub fn lead<R>(&self, flush: impl FnOnce() -> R) -> R {
        loop {
            if let Some(leader) = self.try_lead() {
                let result = flush();
                drop(leader);
                return result;
            }
            self.wait(|| false);
        }
    }

    /// How many flush leaders have finished so far.
    pub fn leaders_done(&self) -> u64 {
        self.leaders_done.load(Ordering::Acquire)
    }

    /// Resolves, with the new count, once more than `seen` flush leaders have finished
    /// ([`GroupCommit::leaders_done`]).
    pub fn leader_done_after(&self, seen: u64) -> LeaderDone<'_> {
        LeaderDone { commit: self, seen }
    }

    /// Counts a published batch. Only ever called by the writer under its state lock (so the
    /// count read at a flush's start is exactly the batches that flush covers): a plain load
    /// and store, no atomic read-modify-write on the append path.
    pub fn count_published(&self) {
        let published = self.published.load(Ordering::Relaxed);
        self.published.store(published + 1, Ordering::Relaxed);
    }

    /// Batches published so far.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// A flush made every batch up to `published` (a [`GroupCommit::published`] count)
    /// durable.
    pub fn flushed_through(&self, published: u64) {
        let flushed = self.flushed.swap(published, Ordering::Relaxed);
        self.last_group
            .store(published.saturating_sub(flushed), Ordering::Relaxed);
    }

    /// A flush took `elapsed`: the time a leader gathers its group for at most.
    pub fn flush_took(&self, elapsed: Duration) {
        self.last_flush_ns
            .store(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Starts a flush leader's wait for its group.
    pub fn start_gathering(&self) -> Gathering {
        let now = Instant::now();
        Gathering {
            published: self.published(),
            started: now,
            progress_at: now,
        }
    }

    /// Whether a flush leader should flush now: once as many batches are pending as the last
    /// flush made durable (each producer it acknowledged has appended again), or no batch
    /// arrived for a quarter of the last flush's duration, or a whole flush duration has
    /// passed. A lone producer never waits: its own batch is the group.
    pub fn gathered(&self, gathering: &mut Gathering) -> bool {
        let published = self.published();
        let pending = published.saturating_sub(self.flushed.load(Ordering::Relaxed));
        if pending >= self.last_group.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if published != gathering.published {
            gathering.published = published;
            gathering.progress_at = now;
        }
        let flush = Duration::from_nanos(self.last_flush_ns.load(Ordering::Relaxed));
        now - gathering.progress_at >= flush / 4 || now - gathering.started >= flush
    }
}

/// A flush leader's wait for its group ([`GroupCommit::gathered`]).
pub struct Gathering {
    /// [`GroupCommit::published`] when last seen to change.
    published: u64,
    started: Instant,
    progress_at: Instant,
}

/// The future of [`GroupCommit::leader_done_after`].
pub struct LeaderDone<'a> {
    commit: &'a GroupCommit,
    seen: u64,
}

impl Future for LeaderDone<'_> {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let commit = self.commit;
        // Looked at under the lock: a leader counts before it takes the lock, so either the
        // count is seen here or the waker pushed here is woken.
        let mut wakers = lock(&commit.wakers);
        let done = commit.leaders_done();
        if done != self.seen {
            return Poll::Ready(done);
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
