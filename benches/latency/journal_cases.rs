//! The floors (what the hardware allows) and tradeledger's own cases.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::os::unix::fs::FileExt;

use memmap2::MmapOptions;
use tradeledger::ledger::handle::{FailurePolicy, JournalHandle};
use tradeledger::ledger::Ledger;
use tradeledger::model::event::Event;
use tradeledger::storage::journal::Journal;
use tradeledger::{tools::sample, Durability};

use crate::common;
use crate::measure::{
    run_single, run_single_async, run_tasks, run_threads, Measured, Plan, TimedPlan,
};

/// Size of the floor files: the 128 B copies and the 4 KiB writes cycle through them.
const FLOOR_FILE_BYTES: usize = 64 << 20;
const PAGE_BYTES: usize = 4096;
const COPY_BYTES: usize = 128;

/// A file of `bytes` zeros, written (not fallocated) and synced, so its extents are written
/// and a later sync of one block commits no metadata change (ARCHITECTURE.md, "Measured costs").
fn zeroed_file(name: &str, bytes: usize) -> (File, std::path::PathBuf) {
    let dir = common::fresh_dir(name);
    std::fs::create_dir_all(&dir).expect("create floor folder");
    let path = dir.join("floor.bin");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("create floor file");
    let zeros = vec![0u8; 1 << 20];
    for at in (0..bytes).step_by(zeros.len()) {
        file.write_all_at(&zeros, at as u64).expect("zero-fill");
    }
    file.sync_all().expect("sync floor file");
    (file, dir)
}

/// A bare 128 B copy into a file mapping whose pages were all written once first.
pub fn floor_mmap_copy(plan: &Plan) -> Measured {
    let (file, dir) = zeroed_file("latency-floor-mmap", FLOOR_FILE_BYTES);
    // SAFETY: the file was created by this function in a private bench folder; nothing else
    // truncates or writes it while the mapping lives, so the mapped range stays backed.
    let mut map = unsafe { MmapOptions::new().map_mut(&file) }.expect("map floor file");
    for page in (0..FLOOR_FILE_BYTES).step_by(PAGE_BYTES) {
        map[page] = 1; // pre-fault: a write fault on every page before timing
    }
    let record = [0x5au8; COPY_BYTES];
    let slots = FLOOR_FILE_BYTES / COPY_BYTES;
    let measured = run_single(
        plan,
        |i| (i as usize % slots) * COPY_BYTES,
        |at| map[at..at + COPY_BYTES].copy_from_slice(black_box(&record)),
    );
    drop(map);
    common::remove_dir(&dir);
    measured
}

/// A bare 4 KiB pwrite + fdatasync into a pre-zeroed file, page after page.
pub fn floor_write_fdatasync(plan: &Plan) -> Measured {
    let (file, dir) = zeroed_file("latency-floor-fdatasync", FLOOR_FILE_BYTES);
    let block = [0x5au8; PAGE_BYTES];
    let pages = FLOOR_FILE_BYTES / PAGE_BYTES;
    let measured = run_single(
        plan,
        |i| (i as usize % pages * PAGE_BYTES) as u64,
        |at| {
            file.write_all_at(&block, at).expect("pwrite");
            file.sync_data().expect("fdatasync");
        },
    );
    common::remove_dir(&dir);
    measured
}

fn trade_opened() -> [Event; 1] {
    [sample::trade_opened(1, common::at(1))]
}

/// `Journal::append` of one `sample::trade_opened` per operation, single producer.
pub fn journal_append(plan: &Plan, name: &str, durability: Durability) -> Measured {
    let dir = common::fresh_dir(name);
    let journal = Journal::create(&dir, &common::options(durability)).expect("create journal");
    let event = trade_opened();
    let measured = run_single(
        plan,
        |_| (),
        |()| {
            black_box(journal.append(black_box(&event)).expect("append"));
        },
    );
    journal.close().expect("close journal");
    common::remove_dir(&dir);
    measured
}

/// `Journal::append` in Sync mode from `producers` threads, each waiting for its own append.
pub fn sync_producers(plan: &TimedPlan, producers: usize) -> Measured {
    let dir = common::fresh_dir(&format!("latency-sync-p{producers}"));
    let options = common::options(Durability::Sync);
    let journal = Journal::create(&dir, &options).expect("create journal");
    let event = trade_opened();
    let measured = run_threads(producers, plan, |_, _| {
        black_box(journal.append(&event).expect("append"));
    });
    let (flush_p50_ns, _, _, flushes) = journal.flush_latency_ns();
    let measured = measured.with_groups(journal.head_seq(), flushes, flush_p50_ns);
    journal.close().expect("close journal");
    common::remove_dir(&dir);
    measured
}

/// A `trade_opened` the ledger accepts: a new ticket, no signal link.
fn ledger_trade(ticket: u64) -> Vec<Event> {
    let mut event = sample::trade_opened(ticket, common::at(1));
    if let Event::TradeOpened(trade) = &mut event {
        trade.signal_id = None;
    }
    vec![event]
}

/// `Ledger::append` of a trade with a new ticket in Buffered mode, one thread.
pub fn ledger_append(plan: &Plan) -> Measured {
    let dir = common::fresh_dir("latency-ledger-buffered");
    let ledger = Ledger::create(&dir, &common::options(Durability::Buffered)).expect("ledger");
    let measured = run_single(
        plan,
        |i| ledger_trade(i + 1),
        |batch| {
            black_box(ledger.append(&batch).expect("append"));
        },
    );
    ledger.close().expect("close ledger");
    common::remove_dir(&dir);
    measured
}

/// `Ledger::append` in Sync mode from `producers` threads, each waiting for its own append:
/// validation against the projections, the append, apply to the projections, then the group
/// commit of `sync_append_*` (`Ledger::append` flushes through its last record).
pub fn ledger_sync_producers(plan: &TimedPlan, producers: usize) -> Measured {
    let dir = common::fresh_dir(&format!("latency-ledger-sync-p{producers}"));
    let options = common::options(Durability::Sync);
    let ledger = Ledger::create(&dir, &options).expect("create ledger");
    let measured = run_threads(producers, plan, |producer, i| {
        // Tickets never collide between producers.
        let batch = ledger_trade(((producer as u64) << 40) + i + 1);
        black_box(ledger.append(&batch).expect("append"));
    });
    let journal = ledger.journal();
    let (flush_p50_ns, _, _, flushes) = journal.flush_latency_ns();
    let measured = measured.with_groups(journal.head_seq(), flushes, flush_p50_ns);
    ledger.close().expect("close ledger");
    common::remove_dir(&dir);
    measured
}

/// A handle on a fresh ledger in `durability` mode, and the multi-thread runtime (2 workers)
/// the async cases drive it from.
fn handle_on_runtime(
    dir_name: &str,
    durability: Durability,
) -> (std::path::PathBuf, JournalHandle, tokio::runtime::Runtime) {
    let dir = common::fresh_dir(dir_name);
    let ledger = Ledger::create(&dir, &common::options(durability)).expect("ledger");
    let handle = JournalHandle::new(ledger, FailurePolicy::Halt);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    (dir, handle, runtime)
}

/// Closes the handle on its runtime and removes the journal.
fn close_on_runtime(
    dir: &std::path::Path,
    handle: JournalHandle,
    runtime: tokio::runtime::Runtime,
) {
    runtime.block_on(handle.close()).expect("close ledger");
    drop(runtime);
    common::remove_dir(dir);
}

/// `JournalHandle::append(..).await` in Buffered mode, from one task on a multi-thread runtime.
pub fn handle_append(plan: &Plan) -> Measured {
    let (dir, handle, runtime) = handle_on_runtime("latency-buffered-async", Durability::Buffered);
    let task_handle = handle.clone();
    let plan = *plan;
    let task = runtime.spawn(async move {
        let handle = &task_handle;
        let append = move |batch| async move {
            black_box(handle.append(batch).await.expect("append"));
        };
        run_single_async(plan, |i| ledger_trade(i + 1), append).await
    });
    let measured = runtime.block_on(task).expect("bench task");
    close_on_runtime(&dir, handle, runtime);
    measured
}

/// `JournalHandle::append(..).await` in Sync mode from `producers` tasks on a multi-thread
/// runtime (2 workers), each awaiting its own acknowledgement: group commit through the
/// handle (leader flushes on its worker with `block_in_place`, followers await a watch).
pub fn handle_sync_producers(plan: &TimedPlan, producers: usize) -> Measured {
    let dir_name = format!("latency-sync-async-p{producers}");
    let (dir, handle, runtime) = handle_on_runtime(&dir_name, Durability::Sync);
    let task_handle = handle.clone();
    let op = move |producer: usize, i: u64| {
        let handle = task_handle.clone();
        // Tickets never collide between producers.
        let batch = ledger_trade(((producer as u64) << 40) + i + 1);
        async move {
            black_box(handle.append(batch).await.expect("append"));
        }
    };
    let measured = runtime.block_on(async { run_tasks(producers, *plan, op).await });
    let health = handle.health();
    let measured =
        measured.with_groups(health.head_seq, health.flushes, health.flush_latency_p50_ns);
    close_on_runtime(&dir, handle, runtime);
    measured
}
