//! Timing loops: one producer or P producer threads, flat out or at a fixed rate, into
//! HDR histograms of nanoseconds.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies of one case and the throughput they came with.
pub struct Measured {
    pub histogram: Histogram<u64>,
    pub ops: u64,
    pub elapsed: Duration,
    /// Sync cases with producers: how the group commit went.
    pub groups: Option<Groups>,
}

/// Group commit over a whole case, warm-up included.
#[derive(Clone, Copy, Debug)]
pub struct Groups {
    /// Appends per flush: the size of the groups formed.
    pub appends_per_flush: f64,
    /// The median flush (the journal's flush latency histogram); over several rounds, the
    /// rounds' medians averaged, weighted by their flushes.
    pub flush_p50_ns: u64,
    appends: u64,
    flushes: u64,
}

impl Measured {
    pub fn new(histogram: Histogram<u64>, ops: u64, elapsed: Duration) -> Measured {
        Measured {
            histogram,
            ops,
            elapsed,
            groups: None,
        }
    }

    /// `appends` appends were made durable by `flushes` flushes of median `flush_p50_ns`.
    pub fn with_groups(self, appends: u64, flushes: u64, flush_p50_ns: u64) -> Measured {
        let groups = Groups {
            appends_per_flush: appends as f64 / flushes.max(1) as f64,
            flush_p50_ns,
            appends,
            flushes,
        };
        Measured {
            groups: Some(groups),
            ..self
        }
    }

    /// Adds another round of the same case: the latencies, operations and measured time add
    /// up (so ops/s is over all rounds), and so do the appends and flushes of group commit.
    pub fn merge(&mut self, other: Measured) {
        self.histogram
            .add(&other.histogram)
            .expect("same histogram bounds");
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.groups = match (self.groups, other.groups) {
            (Some(a), Some(b)) => {
                let (appends, flushes) = (a.appends + b.appends, a.flushes + b.flushes);
                let weighted = a.flush_p50_ns as u128 * a.flushes as u128
                    + b.flush_p50_ns as u128 * b.flushes as u128;
                Some(Groups {
                    appends_per_flush: appends as f64 / flushes.max(1) as f64,
                    flush_p50_ns: (weighted / flushes.max(1) as u128) as u64,
                    appends,
                    flushes,
                })
            }
            (a, b) => a.or(b),
        };
    }

    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// How much to run: `warmup_ops` unrecorded operations, then `ops` recorded ones, flat out
/// or at `rate_per_s` (all producers together).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub warmup_ops: u64,
    pub ops: u64,
    pub rate_per_s: Option<u64>,
}

/// For multi-producer cases: how long to warm up and to measure.
#[derive(Clone, Copy, Debug)]
pub struct TimedPlan {
    pub warmup: Duration,
    pub measure: Duration,
    pub rate_per_s: Option<u64>,
}

/// 1 ns to 100 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

fn nanos(elapsed: Duration) -> u64 {
    (elapsed.as_nanos() as u64).max(1)
}

/// Records one latency; at a fixed rate, also the samples a stalled producer failed to
/// issue meanwhile (coordinated omission correction with the expected interval).
fn record(histogram: &mut Histogram<u64>, latency_ns: u64, interval_ns: Option<u64>) {
    let result = match interval_ns {
        Some(interval) => histogram.record_correct(latency_ns, interval),
        None => histogram.record(latency_ns),
    };
    result.expect("latency within the histogram's bounds");
}

/// Issues operations at a fixed rate. A late operation starts at once and the schedule
/// moves on from there: the missed slots are accounted for by `record_correct`.
pub struct Pacer {
    interval: Duration,
    next: Instant,
    /// Spin the last millisecond before a slot (precise). Producer threads sharing the cores
    /// must not: a spinning producer takes the CPU that the others need to wake up, so they
    /// sleep the whole wait (the timer's slack delays the issue, never the measured latency).
    spin: bool,
}

impl Pacer {
    pub fn new(rate_per_s: f64, start: Instant, spin: bool) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate_per_s),
            next: start,
            spin,
        }
    }

    pub fn interval_ns(&self) -> u64 {
        nanos(self.interval)
    }

    /// Waits for the next slot: sleeps while it is far, then spins if allowed (sleeping to
    /// the exact time would add the timer's wake-up latency to the schedule).
    pub fn wait(&mut self) {
        let now = Instant::now();
        if self.next > now {
            let left = self.next - now;
            if !self.spin {
                std::thread::sleep(left);
            } else if left > Duration::from_millis(2) {
                std::thread::sleep(left - Duration::from_millis(1));
            }
            while self.spin && Instant::now() < self.next {
                std::hint::spin_loop();
            }
        }
        self.next = (self.next + self.interval).max(Instant::now());
    }
}

/// One producer's timed operations: each waits for its slot when paced at a fixed rate, and
/// its latency is recorded (corrected for coordinated omission at a fixed rate).
struct Timed {
    histogram: Histogram<u64>,
    pacer: Option<Pacer>,
    interval_ns: Option<u64>,
}

impl Timed {
    fn new(pacer: Option<Pacer>) -> Timed {
        let interval_ns = pacer.as_ref().map(Pacer::interval_ns);
        Timed {
            histogram: histogram(),
            pacer,
            interval_ns,
        }
    }

    /// Waits for the next operation's slot; returns when the operation starts.
    fn start(&mut self) -> Instant {
        if let Some(pacer) = &mut self.pacer {
            pacer.wait();
        }
        Instant::now()
    }

    fn done(&mut self, op_started: Instant) {
        let latency_ns = nanos(op_started.elapsed());
        record(&mut self.histogram, latency_ns, self.interval_ns);
    }
}

/// The pacing of a single producer at the plan's fixed rate, if it has one.
fn single_pacer(plan: &Plan, started: Instant) -> Option<Pacer> {
    plan.rate_per_s
        .map(|rate| Pacer::new(rate as f64, started, true))
}

/// One producer: `prepare(i)` (untimed) builds the input of operation `i`, `op` runs it (timed).
pub fn run_single<T>(
    plan: &Plan,
    mut prepare: impl FnMut(u64) -> T,
    mut op: impl FnMut(T),
) -> Measured {
    for i in 0..plan.warmup_ops {
        op(prepare(i));
    }
    let started = Instant::now();
    let mut timed = Timed::new(single_pacer(plan, started));
    for i in plan.warmup_ops..plan.warmup_ops + plan.ops {
        let input = prepare(i);
        let op_started = timed.start();
        op(input);
        timed.done(op_started);
    }
    Measured::new(timed.histogram, plan.ops, started.elapsed())
}

/// One producer task, as [`run_single`], awaiting each operation.
pub async fn run_single_async<T, F: std::future::Future<Output = ()>>(
    plan: Plan,
    mut prepare: impl FnMut(u64) -> T,
    mut op: impl FnMut(T) -> F,
) -> Measured {
    for i in 0..plan.warmup_ops {
        op(prepare(i)).await;
    }
    let started = Instant::now();
    let mut timed = Timed::new(single_pacer(&plan, started));
    for i in plan.warmup_ops..plan.warmup_ops + plan.ops {
        let input = prepare(i);
        let op_started = timed.start();
        op(input).await;
        timed.done(op_started);
    }
    Measured::new(timed.histogram, plan.ops, started.elapsed())
}

/// `producers` threads each run `op(producer, i)` in a closed loop (each waits for its own
/// operation before it issues the next), warm up together, then measure together for
/// `plan.measure`. At a fixed rate each producer gets `rate / producers`, staggered.
pub fn run_threads(producers: usize, plan: &TimedPlan, op: impl Fn(usize, u64) + Sync) -> Measured {
    // Every producer measures over the same window; the margin covers spawning them.
    let measure_from = Instant::now() + Duration::from_millis(50) + plan.warmup;
    let barrier = Barrier::new(producers);
    let results: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let (barrier, op) = (&barrier, &op);
                scope.spawn(move || producer_loop(p, producers, plan, measure_from, barrier, op))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("producer thread"))
            .collect()
    });
    let mut histogram = histogram();
    let (mut ops, mut last_end) = (0, measure_from);
    for (h, n, end) in results {
        histogram.add(h).expect("same histogram bounds");
        ops += n;
        last_end = last_end.max(end);
    }
    Measured::new(histogram, ops, last_end - measure_from)
}

fn producer_loop(
    producer: usize,
    producers: usize,
    plan: &TimedPlan,
    measure_from: Instant,
    barrier: &Barrier,
    op: &(impl Fn(usize, u64) + Sync),
) -> (Histogram<u64>, u64, Instant) {
    barrier.wait();
    let measure_until = measure_from + plan.measure;
    let mut i = 0;
    while Instant::now() < measure_from {
        op(producer, i);
        i += 1;
    }
    let mut timed = Timed::new(plan.rate_per_s.map(|rate| {
        let per_producer = rate as f64 / producers as f64;
        let offset = Duration::from_secs_f64(producer as f64 / rate as f64);
        Pacer::new(per_producer, Instant::now() + offset, producers == 1)
    }));
    let mut ops = 0;
    while Instant::now() < measure_until {
        let op_started = timed.start();
        op(producer, i);
        timed.done(op_started);
        (i, ops) = (i + 1, ops + 1);
    }
    (timed.histogram, ops, Instant::now())
}

/// The cost of the two clock reads around every timed operation (median of 100k pairs):
/// included in every figure.
pub fn timer_overhead_ns() -> u64 {
    let mut histogram = histogram();
    for _ in 0..100_000 {
        let started = Instant::now();
        record(&mut histogram, nanos(started.elapsed()), None);
    }
    histogram.value_at_quantile(0.5)
}

/// `producers` tasks on the current tokio runtime, as [`run_threads`]: each awaits its own
/// operation `op(producer, i)` before it issues the next. At a fixed rate, a task sleeps on
/// the runtime's timer (millisecond resolution) until its next slot.
pub async fn run_tasks<F, Fut>(producers: usize, plan: TimedPlan, op: F) -> Measured
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = std::sync::Arc::new(op);
    let measure_from = Instant::now() + Duration::from_millis(50) + plan.warmup;
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let op = std::sync::Arc::clone(&op);
            tokio::spawn(async move { task_loop(p, producers, plan, measure_from, &*op).await })
        })
        .collect();
    let mut histogram = histogram();
    let (mut ops, mut last_end) = (0, measure_from);
    for task in tasks {
        let (h, n, end) = task.await.expect("producer task");
        histogram.add(h).expect("same histogram bounds");
        ops += n;
        last_end = last_end.max(end);
    }
    Measured::new(histogram, ops, last_end - measure_from)
}

async fn task_loop<F, Fut>(
    producer: usize,
    producers: usize,
    plan: TimedPlan,
    measure_from: Instant,
    op: &F,
) -> (Histogram<u64>, u64, Instant)
where
    F: Fn(usize, u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let measure_until = measure_from + plan.measure;
    let mut i = 0;
    while Instant::now() < measure_from {
        op(producer, i).await;
        i += 1;
    }
    let interval = plan
        .rate_per_s
        .map(|rate| Duration::from_secs_f64(producers as f64 / rate as f64));
    let mut next = Instant::now() + Duration::from_secs_f64(producer as f64 / 1e6);
    let (mut histogram, mut ops) = (histogram(), 0);
    while Instant::now() < measure_until {
        if let Some(interval) = interval {
            tokio::time::sleep_until(next.into()).await;
            next = (next + interval).max(Instant::now());
        }
        let op_started = Instant::now();
        op(producer, i).await;
        let interval_ns = interval.map(nanos);
        record(&mut histogram, nanos(op_started.elapsed()), interval_ns);
        (i, ops) = (i + 1, ops + 1);
    }
    (histogram, ops, Instant::now())
}
