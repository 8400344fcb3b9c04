//! How far a long piece of work got, for a caller that shows it (the command line's bars).
//!
//! The library's long operations (`verify`, `status`'s record anchor, replay on open and on
//! load, the replay at an event time, `upgrade`'s full replay, a checkpoint's writing) have a
//! `..._with_progress` variant taking a
//! [`Progress`]: a callback told `(done, total)` in the unit the function names (bytes or
//! records). It is called at a coarse granularity (per segment, per 64 KiB, every
//! [`RECORDS_PER_REPORT`] records), so that it costs nothing measurable; `done` never
//! decreases, never exceeds `total`, and the last call has `done == total`. One exception: a
//! replay that meets a damaged block of the checkpoint it started from starts over from the
//! first record (`docs/FORMAT.md` §6), and tells so by starting again at `(0, total)`.

/// Told `(done, total)` as a long piece of work goes on ([the module](self)).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// A replay reports its progress once per this many records.
pub const RECORDS_PER_REPORT: u64 = 1 << 16;

/// The calls of a [`Progress`] over one piece of work, kept to its promises: `done` clamped
/// to `[previous done, total]`, and a last call with `done == total`.
pub(crate) struct Tracker<'p> {
    progress: Progress<'p>,
    done: u64,
    total: u64,
}

impl<'p> Tracker<'p> {
    /// Starts the work of `total` units: tells `(0, total)`.
    pub(crate) fn new(progress: Progress<'p>, total: u64) -> Tracker<'p> {
        (progress)(0, total);
        Tracker {
            progress,
            done: 0,
            total,
        }
    }

    /// `done` units of the work are done.
    pub(crate) fn set(&mut self, done: u64) {
        let done = done.clamp(self.done, self.total);
        if done != self.done {
            self.done = done;
            (self.progress)(done, self.total);
        }
    }

    /// `more` units more are done.
    pub(crate) fn add(&mut self, more: u64) {
        self.set(self.done.saturating_add(more));
    }

    /// The work is done: tells `(total, total)` (also when it ended early, as a replay up to
    /// a time does).
    pub(crate) fn finish(self) {
        (self.progress)(self.total, self.total);
    }
}

/// A [`Progress`] that is told nothing: for the variants without one.
pub(crate) fn ignore(_done: u64, _total: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracker_keeps_done_within_bounds_and_ends_at_the_total() {
        let mut seen = Vec::new();
        let mut record = |done, total| seen.push((done, total));
        let mut tracker = Tracker::new(&mut record, 10);
        tracker.set(4);
        tracker.set(2);
        tracker.add(3);
        tracker.set(40);
        tracker.finish();
        assert_eq!(seen, [(0, 10), (4, 10), (7, 10), (10, 10), (10, 10)]);
    }
}
