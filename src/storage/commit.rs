//! Group commit: the callers that need their records durable form groups, and one flush per
//! group makes all of them durable.
//!
//! This is raft-engine's write barrier. A caller joins the group now forming; the first to
//! join leads it. The leader waits until the flush before it is done, then closes its group
//! and flushes everything published so far, which covers every member: each published its
//! records before it joined. While that flush runs, the callers that arrive form the next
//! group, and its leader is woken the moment the flush ends. So the disk waits only for
//! that one wake-up between flushes, and nobody spins.
//!
//! Each caller sleeps once and is woken once: a member when its group's flush is done, a
//! leader when the flush before it is done. Members of consecutive groups wait on different
//! condition variables (by the group's number, even or odd), so a finished flush wakes its own
//! group and not the next one, which forms meanwhile; on this machine a wake-up costs about
//! 30 µs of CPU (ARCHITECTURE.md, "Measured costs"), and 64 needless ones per flush would
//! cost more than the flush. Blocking callers use [`GroupCommit::commit`]; async callers
//! await [`GroupCommit::commit_async`], which any executor can drive. A flush that must run
//! whatever is durable already (a seal, an explicit flush) takes its turn with
//! [`GroupCommit::exclusive`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::sync::lock;

/// The groups, their flushes and their waiters.
#[derive(Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    /// Would-be flushers (group leaders and exclusive flushes) wait here for the running
    /// flush to end.
    flush_ended: Condvar,
    /// `State::finished`, readable without the state lock.
    finished: AtomicU64,
    /// The members of group `n` wait on `groups[n % 2]`.
    groups: [Wakeups; 2],
    /// Blocking members that went to sleep so far (tests wait for them).
    #[cfg(test)]
    members_asleep: std::sync::atomic::AtomicUsize,
}

/// Where the blocking members of a group sleep. Not on the state lock's condition variable:
/// woken together, they would then queue for the state lock, which the next group's callers
/// take too, each handing it to the next with a wake-up (a convoy that, measured at 64
/// threads, halved throughput). Here each takes an uncontended lock for a moment and reads
/// `finished`.
#[derive(Default)]
struct Wakeups {
    /// Counts the wake-ups: a member sleeps while it is unchanged.
    epoch: AtomicU64,
    lock: Mutex<()>,
    woken: Condvar,
}

#[derive(Default)]
struct State {
    /// The number of the group now forming (the first is 0).
    forming: u64,
    /// Whether the forming group has a leader.
    forming_led: bool,
    /// Whether a flush is running.
    flushing: bool,
    /// Groups whose flush is done: every group numbered below.
    finished: u64,
    /// Async callers waiting for the running flush to end, and for groups even and odd.
    flush_wakers: Vec<Waker>,
    group_wakers: [Vec<Waker>; 2],
}

/// How a caller's records were made durable.
#[derive(Debug, PartialEq, Eq)]
pub enum Committed<R> {
    /// The caller led its group: the result of its flush.
    Led(R),
    /// Another caller led the group, and its flush is done. It may have failed: the caller
    /// checks that its records are durable.
    Followed,
}

impl State {
    fn group_finished(&self, group: u64) -> bool {
        self.finished > group
    }

    /// Claims the leadership of `group` if it is still forming without a leader.
    fn claim(&mut self, group: u64) -> bool {
        let free = self.forming == group && !self.forming_led;
        if free {
            self.forming_led = true;
        }
        free
    }

    /// Starts a flush if none is running; for a group leader, closes its group.
    fn start(&mut self, group: Option<u64>) -> bool {
        if self.flushing {
            return false;
        }
        self.flushing = true;
        if let Some(group) = group {
            debug_assert!(self.forming == group && self.forming_led);
            self.forming = group + 1;
            self.forming_led = false;
        }
        true
    }
}

impl GroupCommit {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Makes the caller's records durable: they were published before the call, and
    /// `durable()` tells whether they are durable already. Joins the group now forming; its
    /// leader runs `flush`, which must make everything published so far durable.
    pub fn commit<R>(&self, durable: impl Fn() -> bool, flush: impl FnOnce() -> R) -> Committed<R> {
        let mut state = self.state();
        if durable() {
            return Committed::Followed;
        }
        let group = state.forming;
        while !state.claim(group) {
            if state.group_finished(group) {
                return Committed::Followed;
            }
            let wakeups = &self.groups[parity(group)];
            // Read under the state lock, under which every wake-up is marked.
            let epoch = wakeups.epoch.load(Ordering::Acquire);
            drop(state);
            let mut asleep = lock(&wakeups.lock);
            #[cfg(test)]
            self.members_asleep.fetch_add(1, Ordering::SeqCst);
            while wakeups.epoch.load(Ordering::Acquire) == epoch {
                asleep = wakeups
                    .woken
                    .wait(asleep)
                    .unwrap_or_else(|p| p.into_inner());
            }
            drop(asleep);
            // Woken once the group's flush is done, or to take its leadership over from an
            // async leader that was cancelled (then the state lock tells).
            if self.finished.load(Ordering::Acquire) > group {
                return Committed::Followed;
            }
            state = self.state();
        }
        while !state.start(Some(group)) {
            state = wait(&self.flush_ended, state);
        }
        drop(state);
        let flushing = Flushing {
            commit: self,
            group: Some(group),
        };
        let result = flush();
        drop(flushing);
        Committed::Led(result)
    }

    /// [`GroupCommit::commit`] for async callers. Cancel-safe: a leader dropped before its
    /// flush starts hands the leadership of its group to a member. `flush` runs on the
    /// polling thread (wrap it to move blocking work off an executor's thread).
    pub async fn commit_async<R>(
        &self,
        durable: impl Fn() -> bool,
        flush: impl FnOnce() -> R,
    ) -> Committed<R> {
        let group = {
            let state = self.state();
            if durable() {
                return Committed::Followed;
            }
            state.forming
        };
        if !(LeadOrFinished {
            commit: self,
            group,
        })
        .await
        {
            return Committed::Followed;
        }
        let claim = Claim {
            commit: self,
            group: Some(group),
        };
        let flushing = (FlushStarted {
            commit: self,
            claim,
        })
        .await;
        let result = flush();
        drop(flushing);
        Committed::Led(result)
    }

    /// Runs `flush` after the running flush, if any: for a flush that must happen whatever
    /// is durable already (a seal, an explicit flush). It finishes no group.
    pub fn exclusive<R>(&self, flush: impl FnOnce() -> R) -> R {
        let mut state = self.state();
        while !state.start(None) {
            state = wait(&self.flush_ended, state);
        }
        drop(state);
        let flushing = Flushing {
            commit: self,
            group: None,
        };
        let result = flush();
        drop(flushing);
        result
    }

    /// Marks the members of `group` woken, under the state lock: they wait for what the
    /// caller changed under it. Returns the async ones, for [`GroupCommit::wake_group`].
    fn mark_group_woken(&self, state: &mut State, group: u64) -> Vec<Waker> {
        self.groups[parity(group)]
            .epoch
            .fetch_add(1, Ordering::AcqRel);
        std::mem::take(&mut state.group_wakers[parity(group)])
    }

    /// Wakes the members of `group` marked woken, blocking and async, with the state lock
    /// released (so that none of them queues for it behind the caller).
    fn wake_group(&self, group: u64, wakers: Vec<Waker>) {
        for waker in wakers {
            waker.wake();
        }
        let wakeups = &self.groups[parity(group)];
        // A member that read the old epoch either has not checked it yet, or already sleeps:
        // taking its lock waits for it to be asleep.
        drop(lock(&wakeups.lock));
        wakeups.woken.notify_all();
    }
}

fn parity(group: u64) -> usize {
    (group % 2) as usize
}

fn wait<'a>(condvar: &Condvar, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    condvar.wait(state).unwrap_or_else(|p| p.into_inner())
}

/// A running flush. Dropped after the flush, or while unwinding from a panic in it: ends the
/// flush, finishes its group and wakes whoever waits for either.
struct Flushing<'a> {
    commit: &'a GroupCommit,
    group: Option<u64>,
}

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        let commit = self.commit;
        let mut state = commit.state();
        state.flushing = false;
        let flush_wakers = std::mem::take(&mut state.flush_wakers);
        let members = self.group.map(|group| {
            state.finished = state.finished.max(group + 1);
            commit.finished.store(state.finished, Ordering::Release);
            (group, commit.mark_group_woken(&mut state, group))
        });
        drop(state);
        // The next flush's leader first: the records waiting for it wait for its wake-up,
        // while this group's members only return.
        commit.flush_ended.notify_all();
        for waker in flush_wakers {
            waker.wake();
        }
        if let Some((group, wakers)) = members {
            commit.wake_group(group, wakers);
        }
    }
}

/// An async caller's leadership of a group whose flush has not started. Dropped unused (the
/// caller's future was cancelled), it frees the leadership and wakes the group's members, so
/// that one of them leads.
struct Claim<'a> {
    commit: &'a GroupCommit,
    group: Option<u64>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            let mut state = self.commit.state();
            state.forming_led = false;
            let wakers = self.commit.mark_group_woken(&mut state, group);
            drop(state);
            self.commit.wake_group(group, wakers);
        }
    }
}

/// Resolves to `true` once the caller leads `group`, or to `false` once the group's flush is
/// done under another leader.
struct LeadOrFinished<'a> {
    commit: &'a GroupCommit,
    group: u64,
}

impl Future for LeadOrFinished<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut state = self.commit.state();
        if state.claim(self.group) {
            return Poll::Ready(true);
        }
        if state.group_finished(self.group) {
            return Poll::Ready(false);
        }
        register(&mut state.group_wakers[parity(self.group)], cx.waker());
        Poll::Pending
    }
}

/// Resolves once the claimed group's flush has started (the flush before it ended).
struct FlushStarted<'a> {
    commit: &'a GroupCommit,
    claim: Claim<'a>,
}

impl<'a> Future for FlushStarted<'a> {
    type Output = Flushing<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Flushing<'a>> {
        let commit = self.commit;
        let mut state = commit.state();
        if state.start(self.claim.group) {
            // The flush owns the group from here: the claim must not free it.
            let group = self.claim.group.take();
            return Poll::Ready(Flushing { commit, group });
        }
        register(&mut state.flush_wakers, cx.waker());
        Poll::Pending
    }
}

fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::task::{Context, Poll, Wake, Waker};

    use super::{Committed, GroupCommit};

    /// A journal reduced to what group commit sees: records are published by number, and a
    /// flush makes every record published so far durable.
    #[derive(Default)]
    struct Model {
        commit: GroupCommit,
        published: AtomicU64,
        durable: AtomicU64,
        flushes: AtomicU64,
        flushing: AtomicBool,
    }

    impl Model {
        fn publish(&self) -> u64 {
            self.published.fetch_add(1, Ordering::SeqCst) + 1
        }

        fn durable(&self, seq: u64) -> bool {
            self.durable.load(Ordering::SeqCst) >= seq
        }

        fn flush(&self) {
            self.flush_upto(self.published.load(Ordering::SeqCst));
        }

        /// A flush that took its snapshot of what was published at `upto`.
        fn flush_upto(&self, upto: u64) {
            assert!(
                !self.flushing.swap(true, Ordering::SeqCst),
                "two flushes at once"
            );
            std::thread::yield_now();
            self.durable.fetch_max(upto, Ordering::SeqCst);
            self.flushes.fetch_add(1, Ordering::SeqCst);
            self.flushing.store(false, Ordering::SeqCst);
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes::default());
        (Arc::clone(&wakes), Waker::from(wakes))
    }

    fn poll<F: Future>(future: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(waker))
    }

    /// Every caller returns with its record durable, flushes never overlap (blocking and
    /// async callers, and exclusive flushes, mixed), and callers share flushes.
    #[test]
    fn every_caller_returns_durable_and_flushes_never_overlap() {
        let model = Arc::new(Model::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let model = Arc::clone(&model);
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let seq = model.publish();
                        if t == 0 && i % 50 == 0 {
                            model.commit.exclusive(|| model.flush());
                        } else if t % 2 == 0 {
                            let commit =
                                model.commit.commit(|| model.durable(seq), || model.flush());
                            assert!(matches!(commit, Committed::Led(()) | Committed::Followed));
                        } else {
                            let commit = model
                                .commit
                                .commit_async(|| model.durable(seq), || model.flush());
                            futures_lite_block_on(commit);
                        }
                        assert!(
                            model.durable(seq),
                            "seq {seq} returned before it was durable"
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let flushes = model.flushes.load(Ordering::SeqCst);
        assert!(flushes <= 4000, "{flushes} flushes for 4000 records");
    }

    /// Blocks on a future, parking the thread between polls.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = poll(future.as_mut(), &waker) {
                return output;
            }
            std::thread::park();
        }
    }

    /// While a flush runs, the callers that arrive form the next group: its first caller
    /// leads it and waits for the running flush, the others wait for their group's flush
    /// and are not woken by the running one's end. The next flush starts when the running
    /// one ends, and covers the whole group: two flushes for three callers.
    #[test]
    fn the_next_group_forms_while_a_flush_runs_and_one_flush_covers_it() {
        let model = Arc::new(Model::default());
        let (started, is_started) = mpsc::channel();
        let (release, is_released) = mpsc::channel::<()>();
        let first = {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let seq = model.publish();
                model.commit.commit(
                    || model.durable(seq),
                    || {
                        let upto = model.published.load(Ordering::SeqCst);
                        started.send(()).unwrap();
                        is_released.recv().unwrap();
                        model.flush_upto(upto)
                    },
                )
            })
        };
        is_started.recv().unwrap();
        let (leader_seq, member_seq) = (model.publish(), model.publish());
        let leader = model
            .commit
            .commit_async(|| model.durable(leader_seq), || model.flush());
        let member = model
            .commit
            .commit_async(|| model.durable(member_seq), || model.flush());
        let (mut leader, mut member) = (pin!(leader), pin!(member));
        let (leader_wakes, leader_waker) = waker();
        let (member_wakes, member_waker) = waker();
        assert!(poll(leader.as_mut(), &leader_waker).is_pending());
        assert!(poll(member.as_mut(), &member_waker).is_pending());

        release.send(()).unwrap();
        assert_eq!(first.join().unwrap(), Committed::Led(()));
        assert_eq!(leader_wakes.0.load(Ordering::SeqCst), 1, "leader not woken");
        assert_eq!(
            member_wakes.0.load(Ordering::SeqCst),
            0,
            "the end of another group's flush woke a member"
        );
        assert!(!model.durable(member_seq));
        assert!(poll(member.as_mut(), &member_waker).is_pending());
        assert_eq!(
            poll(leader.as_mut(), &leader_waker),
            Poll::Ready(Committed::Led(()))
        );
        assert_eq!(member_wakes.0.load(Ordering::SeqCst), 1, "member not woken");
        assert_eq!(
            poll(member.as_mut(), &member_waker),
            Poll::Ready(Committed::Followed)
        );
        assert!(model.durable(member_seq));
        assert_eq!(model.flushes.load(Ordering::SeqCst), 2);
    }

    /// An async leader cancelled before its flush starts hands its group over: a member is
    /// woken, leads, and flushes.
    #[test]
    fn a_cancelled_leader_hands_its_group_to_a_member() {
        let model = &Model::default();
        let running = model.commit.exclusive(|| {
            let seqs = (model.publish(), model.publish());
            let leader = model
                .commit
                .commit_async(move || model.durable(seqs.0), || model.flush());
            let mut leader = Box::pin(leader);
            let member = model
                .commit
                .commit_async(move || model.durable(seqs.1), || model.flush());
            let mut member = Box::pin(member);
            let (_, leader_waker) = waker();
            let (member_wakes, member_waker) = waker();
            assert!(poll(leader.as_mut(), &leader_waker).is_pending());
            assert!(poll(member.as_mut(), &member_waker).is_pending());
            drop(leader);
            assert_eq!(member_wakes.0.load(Ordering::SeqCst), 1, "member not woken");
            (member, member_waker, seqs.1)
        });
        let (mut member, member_waker, seq) = running;
        assert_eq!(
            poll(member.as_mut(), &member_waker),
            Poll::Ready(Committed::Led(()))
        );
        assert!(model.durable(seq));
    }

    /// A blocking member woken because its group's async leader was cancelled takes the
    /// leadership over and flushes, once the running flush ends: it does not return as if
    /// its group's flush were done.
    #[test]
    fn a_blocking_member_takes_over_from_a_cancelled_leader() {
        let model = Arc::new(Model::default());
        let (started, is_started) = mpsc::channel();
        let (release, is_released) = mpsc::channel::<()>();
        let running = {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                model.commit.exclusive(|| {
                    started.send(()).unwrap();
                    is_released.recv().unwrap();
                })
            })
        };
        is_started.recv().unwrap();
        let leader_seq = model.publish();
        let leader = model
            .commit
            .commit_async(|| model.durable(leader_seq), || model.flush());
        let mut leader = Box::pin(leader);
        let (_, leader_waker) = waker();
        assert!(poll(leader.as_mut(), &leader_waker).is_pending());
        let member = {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let seq = model.publish();
                let committed = model.commit.commit(|| model.durable(seq), || model.flush());
                (committed, model.durable(seq))
            })
        };
        while model.commit.members_asleep.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        drop(leader);
        release.send(()).unwrap();
        running.join().unwrap();
        assert_eq!(member.join().unwrap(), (Committed::Led(()), true));
        assert_eq!(model.flushes.load(Ordering::SeqCst), 1);
    }

    /// A caller whose record is durable already neither leads nor waits.
    #[test]
    fn a_durable_caller_returns_at_once() {
        let model = Model::default();
        let outcome = model
            .commit
            .exclusive(|| model.commit.commit(|| true, || model.flush()));
        assert_eq!(outcome, Committed::Followed);
        assert_eq!(model.flushes.load(Ordering::SeqCst), 0);
    }
}
