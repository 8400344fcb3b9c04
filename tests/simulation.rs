//! Crash simulation on a simulated disk that knows exactly what reached stable storage
//! (`tradeledger::storage::SimulatedDisk`).
//!
//! Each seed drives a ledger through a random workload (batches of every size up to larger
//! than a segment, rolls, flushes, explicit and automatic checkpoints, clean reopens, settings
//! changes, under every durability mode) and crashes it at a random storage call, several
//! times over. A crash is either of the process (the page cache survives) or a power failure
//! (only what was synced survives; everything else is kept, lost or torn at sectors as the
//! seed decides). After every crash the journal must open, and:
//! - its records are a prefix 1..N of what was appended, batch by batch, byte for byte;
//! - every record acknowledged as durable is there (after a process crash: every record
//!   appended);
//! - the live state equals a replay of the records (checkpoints did not lie);
//! - `verify` passes, and bytes recovery cut earlier are still kept under `torn/`.
//!
//! `TRADELEDGER_SIM_SEEDS=N` runs seeds 0..N (default: a bounded number for CI);
//! `TRADELEDGER_SIM_SEED=S` runs seed S alone. A failure names its seed and the command that
//! replays it. The workload, the crash points and the fate of every unsynced byte follow from
//! the seed; the background threads' timing does not, so a replay usually, not always, takes
//! the same path.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tradeledger::ledger::{replay, Ledger, LedgerError};
use tradeledger::model::event::{Event, Timestamp};
use tradeledger::projection::Projections;
use tradeledger::rng::SplitMix64 as Rng;
use tradeledger::storage::format::Durability;
use tradeledger::storage::journal::{change_settings, JournalOptions, OpenMode, SettingsChange};
use tradeledger::storage::{CrashFate, SimulatedDisk};
use tradeledger::tools::sample;

/// Seeds run by default (CI).
const DEFAULT_SEEDS: u64 = 40;
/// Crashes per seed.
const EPOCHS: usize = 8;

#[test]
fn crashes_at_random_storage_calls_lose_nothing_acknowledged_and_return_nothing_corrupt() {
    let seeds: Vec<u64> = match std::env::var("TRADELEDGER_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("TRADELEDGER_SIM_SEED is a number")],
        Err(_) => {
            let count = std::env::var("TRADELEDGER_SIM_SEEDS")
                .map(|n| n.parse().expect("TRADELEDGER_SIM_SEEDS is a number"))
                .unwrap_or(DEFAULT_SEEDS);
            (0..count).collect()
        }
    };
    for seed in seeds {
        let outcome = catch_unwind(AssertUnwindSafe(|| run(seed)));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(failure)) => failure,
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
        };
        panic!(
            "seed {seed} failed: {failure}\nreplay: TRADELEDGER_SIM_SEED={seed} cargo test --test simulation"
        );
    }
}

/// What was appended, and what the journal promised about it.
#[derive(Default)]
struct Model {
    /// Every record that may be in the journal, in seq order (seq = index + 1): the records
    /// of the batches appended, the last one perhaps failed (it may be in the page cache).
    events: Vec<Event>,
    /// Record counts at batch ends (0 included): the only lengths a recovered journal may have.
    boundaries: Vec<usize>,
    /// Every record up to here must survive any crash.
    durable: usize,
    /// Every record up to here was appended successfully: it must survive a process crash.
    appended: usize,
    next_id: u64,
    clock: i64,
    open_tickets: Vec<u64>,
    /// Bytes recovery cut and saved: each file must keep them.
    saved_cuts: Vec<(PathBuf, Vec<u8>)>,
}

impl Model {
    fn new() -> Model {
        Model {
            boundaries: vec![0],
            next_id: 1,
            clock: 1_500_000_000_000_000_000,
            ..Model::default()
        }
    }

    fn time(&mut self) -> Timestamp {
        self.clock += 1_000_000;
        Timestamp::from_nanos(self.clock)
    }

    /// A batch the ledger accepts in the model's state.
    fn batch(&mut self, rng: &mut Rng) -> Vec<Event> {
        let time = self.time();
        let pairs = match rng.below(100) {
            0..=49 => {
                let balance = format!("{}.00", rng.range(1_000, 99_999));
                return vec![sample::account_snapshot(12345678, time, &balance)];
            }
            50..=59 if !self.open_tickets.is_empty() => {
                let i = rng.next_u64() as usize % self.open_tickets.len();
                let ticket = self.open_tickets.swap_remove(i);
                return vec![sample::trade_closed(ticket, time, "12.50")];
            }
            50..=91 => rng.range(1, 8),
            92..=97 => rng.range(20, 100),
            // A batch larger than a 64 KiB segment.
            _ => rng.range(250, 300),
        };
        let mut events = Vec::with_capacity(2 * pairs as usize);
        for _ in 0..pairs {
            let id = self.next_id;
            self.next_id += 1;
            events.extend(sample::signal_and_trade(id, time));
            self.open_tickets.push(id);
        }
        events
    }

    fn push(&mut self, batch: Vec<Event>) {
        self.events.extend(batch);
        self.boundaries.push(self.events.len());
    }

    /// Keeps the first `len` records (what recovery kept): they are durable from now on.
    fn truncate(&mut self, len: usize) {
        self.events.truncate(len);
        self.boundaries.retain(|&b| b <= len);
        self.durable = len;
        self.appended = len;
        self.open_tickets.clear();
        for event in &self.events {
            match event {
                Event::TradeOpened(t) => self.open_tickets.push(t.ticket),
                Event::TradeClosed(t) => self.open_tickets.retain(|&x| x != t.ticket),
                _ => {}
            }
        }
    }
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

fn durability(rng: &mut Rng) -> Durability {
    match rng.next_u64() % 3 {
        0 => Durability::Sync,
        1 => Durability::Buffered,
        _ => Durability::Periodic {
            interval_ms: rng.range(1, 5) as u32,
        },
    }
}

fn run(seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let root = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(root.path()).unwrap();
    let dir = root.path().join("journal");
    let options = JournalOptions {
        durability: durability(&mut rng),
        segment_size_bytes: 64 << 10,
        checkpoint_every_records: [0, 40, 300][rng.next_u64() as usize % 3],
        storage: disk.storage(),
        ..JournalOptions::default()
    };
    let mode = mode_on(&disk);
    let mut model = Model::new();
    let mut process_crash = false;
    for epoch in 0..EPOCHS {
        disk.crash_after(rng.range(1, 250));
        let opened = if dir.join("journal.meta").exists() {
            Ledger::open(&dir, &mode).map(|ledger| {
                let report = ledger.open_report().clone();
                (ledger, Some(report))
            })
        } else {
            // Not created yet, or its creation never became durable.
            model = Model::new();
            Ledger::create(&dir, &options).map(|ledger| (ledger, None))
        };
        match opened {
            Ok((ledger, report)) => {
                check_recovered(&ledger, report.as_ref(), &dir, &mut model, process_crash)
                    .map_err(|why| format!("epoch {epoch}, after opening: {why}"))?;
                run_workload(ledger, &disk, &dir, &mode, &mut model, &mut rng)
                    .map_err(|why| format!("epoch {epoch}: {why}"))?;
            }
            Err(error) if disk.is_down() && !error.is_corruption() => {}
            Err(error) => return Err(format!("epoch {epoch}: the journal does not open: {error}")),
        }
        process_crash = crash(&disk, &mut rng, &mut model);
    }
    Ok(())
}

/// Random steps until the disk goes down or the steps run out; the ledger is gone after.
fn run_workload(
    mut ledger: Ledger,
    disk: &SimulatedDisk,
    dir: &Path,
    mode: &OpenMode,
    model: &mut Model,
    rng: &mut Rng,
) -> Result<(), String> {
    for _ in 0..rng.range(5, 60) {
        if disk.is_down() {
            break;
        }
        match rng.below(100) {
            0..=69 => {
                let batch = model.batch(rng);
                match ledger.append(&batch) {
                    Ok(appended) => {
                        model.push(batch);
                        model.appended = model.events.len();
                        ensure!(
                            appended.last_seq as usize == model.events.len(),
                            "a batch ends at seq {}, expected {}",
                            appended.last_seq,
                            model.events.len()
                        );
                        if ledger.journal().meta().durability == Durability::Sync {
                            model.durable = model.events.len();
                        }
                    }
                    Err(LedgerError::Storage(_)) if disk.is_down() => {
                        // Perhaps in the page cache: written before its flush failed.
                        model.push(batch);
                        break;
                    }
                    Err(error) => return Err(format!("append refused: {error}")),
                }
            }
            70..=77 => {
                let head = ledger.journal().head_seq() as usize;
                if ledger.journal().flush().is_ok() {
                    model.durable = model.durable.max(head);
                }
            }
            78..=83 => {
                let _ = ledger.checkpoint();
            }
            84..=91 => {
                let change = SettingsChange {
                    durability: Some(durability(rng)),
                    segment_size_bytes: Some([64 << 10, 128 << 10][rng.next_u64() as usize % 2]),
                    checkpoint_every_records: Some([0, 40, 300][rng.next_u64() as usize % 3]),
                };
                let change = (rng.below(100) < 50).then_some(change);
                match reopen(ledger, disk, dir, mode, change.as_ref(), model)? {
                    Some((reopened, report)) => {
                        check_recovered(&reopened, Some(&report), dir, model, true)
                            .map_err(|why| format!("after a clean reopen: {why}"))?;
                        ledger = reopened;
                    }
                    None => return Ok(()),
                }
            }
            _ => {
                let interval = match ledger.journal().meta().durability {
                    Durability::Periodic { interval_ms } => interval_ms as u64,
                    _ => 1,
                };
                std::thread::sleep(std::time::Duration::from_millis(2 * interval));
            }
        }
        model.durable = model.durable.max(ledger.journal().durable_seq() as usize);
    }
    Ok(())
}

/// Closes `ledger` cleanly (everything appended is durable after it) and opens it again,
/// changing its settings in between if asked. `Ok(None)`: the disk went down meanwhile.
fn reopen(
    ledger: Ledger,
    disk: &SimulatedDisk,
    dir: &Path,
    mode: &OpenMode,
    change: Option<&SettingsChange>,
    model: &mut Model,
) -> Result<Option<(Ledger, tradeledger::ledger::OpenReport)>, String> {
    let closed = ledger.close();
    if disk.is_down() {
        return Ok(None);
    }
    closed.map_err(|e| format!("close failed: {e}"))?;
    model.durable = model.events.len();
    if let Some(change) = change {
        if let Err(error) = change_settings(&mode.storage, dir, change) {
            if disk.is_down() {
                return Ok(None);
            }
            return Err(format!("settings change failed: {error}"));
        }
    }
    match Ledger::open(dir, mode) {
        Ok(ledger) => {
            let report = ledger.open_report().clone();
            Ok(Some((ledger, report)))
        }
        Err(error) if disk.is_down() && !error.is_corruption() => Ok(None),
        Err(error) => Err(format!("reopen failed: {error}")),
    }
}

/// Ends the run of a process that has just crashed (the disk is down, or goes down now):
/// either the process alone died, or the power failed. Returns whether it was the process.
fn crash(disk: &SimulatedDisk, rng: &mut Rng, model: &mut Model) -> bool {
    // Whatever still runs gets an error from now on, as on a dead machine.
    disk.crash_after(1);
    let fate = match rng.next_u64() % 3 {
        0 => {
            disk.restart_process();
            return true;
        }
        1 => CrashFate::LoseAll,
        _ => CrashFate::Random,
    };
    disk.power_loss(fate, rng.next_u64()).unwrap();
    // After a power failure only what was durable is promised.
    model.appended = model.durable;
    false
}

/// The checks after every open: see the module documentation.
fn check_recovered(
    ledger: &Ledger,
    report: Option<&tradeledger::ledger::OpenReport>,
    dir: &Path,
    model: &mut Model,
    after_process_crash: bool,
) -> Result<(), String> {
    let head = ledger.journal().head_seq() as usize;
    ensure!(
        model.boundaries.contains(&head),
        "recovered {head} records, not a batch boundary (batches end at {:?})",
        model.boundaries.iter().rev().take(5).collect::<Vec<_>>()
    );
    ensure!(
        head >= model.durable,
        "lost acknowledged records: recovered {head}, {} were durable",
        model.durable
    );
    if after_process_crash {
        ensure!(
            head >= model.appended,
            "a process crash lost appended records: recovered {head}, {} were appended",
            model.appended
        );
    }
    let reader = ledger.journal().reader();
    let mut count = 0;
    for (i, record) in reader.records(1).enumerate() {
        let record = record.map_err(|e| format!("reading back: {e}"))?;
        ensure!(
            record.seq as usize == i + 1,
            "record {} has seq {}",
            i + 1,
            record.seq
        );
        ensure!(
            i < head && record.event == model.events[i],
            "record seq {} differs from what was appended",
            record.seq
        );
        count += 1;
    }
    ensure!(count == head, "read {count} records, head is {head}");
    let mut replayed = Projections::new();
    replay(&reader, &mut replayed, 1, None).map_err(|e| format!("replay: {e}"))?;
    ensure!(
        *ledger.state() == replayed,
        "the opened state differs from a replay of the records (checkpoint {:?})",
        report.and_then(|r| r.checkpoint.as_ref()).map(|c| c.seq)
    );
    tradeledger::storage::verify::verify(dir).map_err(|e| format!("verify: {e}"))?;
    for (path, bytes) in &model.saved_cuts {
        let kept = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ensure!(&kept == bytes, "{} lost the bytes cut", path.display());
    }
    if let Some(cut) = report.and_then(|r| r.recovery.cut.as_ref()) {
        let saved = std::fs::read(&cut.saved_to).map_err(|e| format!("saved cut: {e}"))?;
        ensure!(
            saved.len() as u64 == cut.bytes_cut,
            "{} holds {} bytes, {} were cut",
            cut.saved_to.display(),
            saved.len(),
            cut.bytes_cut
        );
        model.saved_cuts.push((cut.saved_to.clone(), saved));
    }
    model.truncate(head);
    Ok(())
}

/// A journal in `root/journal` of a fresh simulated disk, with `batches` one-event batches
/// appended.
fn journal_on_disk(
    root: &Path,
    durability: Durability,
    batches: u64,
) -> (SimulatedDisk, PathBuf, Ledger) {
    let disk = SimulatedDisk::new(root).unwrap();
    let dir = root.join("journal");
    let options = JournalOptions {
        durability,
        segment_size_bytes: 64 << 10,
        checkpoint_every_records: 0,
        storage: disk.storage(),
        ..JournalOptions::default()
    };
    let ledger = Ledger::create(&dir, &options).unwrap();
    let mut model = Model::new();
    for _ in 0..batches {
        let snapshot = sample::account_snapshot(12345678, model.time(), "10000.00");
        ledger.append(&[snapshot]).unwrap();
    }
    (disk, dir, ledger)
}

/// Drops what the process held as the power fails, losing everything not synced.
fn power_failure(disk: &SimulatedDisk, held: impl FnOnce()) {
    disk.crash_after(1);
    held();
    disk.power_loss(CrashFate::LoseAll, 0).unwrap();
}

/// How to open a journal on `disk`.
fn mode_on(disk: &SimulatedDisk) -> OpenMode {
    OpenMode {
        storage: disk.storage(),
        ..OpenMode::default()
    }
}

fn open_on(disk: &SimulatedDisk, dir: &Path) -> (Ledger, tradeledger::ledger::OpenReport) {
    let ledger = Ledger::open(dir, &mode_on(disk)).unwrap();
    let report = ledger.open_report().clone();
    (ledger, report)
}

/// The end of the records of the journal's only segment, and that segment.
fn only_segment(dir: &Path) -> (PathBuf, u64) {
    let data_end = tradeledger::storage::verify::verify(dir)
        .unwrap()
        .data_bytes;
    let segments = tradeledger::storage::reader::segment_paths(dir).unwrap();
    (segments[0].clone(), data_end)
}

/// Changes the byte at `offset` of `segment` (XOR `mask`), in the page cache.
fn flip_byte(segment: &Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ mask], offset).unwrap();
}

/// The opened state equals a replay of the journal's records.
fn assert_state_is_its_records(ledger: &Ledger, report: &tradeledger::ledger::OpenReport) {
    let mut replayed = Projections::new();
    replay(&ledger.journal().reader(), &mut replayed, 1, None).unwrap();
    assert!(
        *ledger.state() == replayed,
        "the state differs from its records (loaded from the checkpoint at {:?})",
        report.checkpoint.as_ref().map(|c| c.seq)
    );
}

#[test]
fn a_created_journal_survives_a_power_failure_right_after_create() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Buffered, 0);
    power_failure(&disk, || drop(ledger));
    let (ledger, _) = open_on(&disk, &dir);
    assert_eq!(ledger.journal().head_seq(), 0);
    assert_eq!(ledger.journal().meta().durability, Durability::Buffered);
}

#[test]
fn a_checkpoint_survives_a_power_failure_once_written() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Sync, 30);
    let written = ledger.checkpoint().unwrap();
    power_failure(&disk, || drop(ledger));
    let (_, report) = open_on(&disk, &dir);
    let loaded = report.checkpoint.expect("the checkpoint is there");
    assert_eq!(loaded.seq, written.seq);
}

#[test]
fn changed_settings_survive_a_power_failure_once_changed() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Buffered, 3);
    ledger.close().unwrap();
    let change = SettingsChange {
        durability: Some(Durability::Sync),
        ..SettingsChange::default()
    };
    change_settings(&disk.storage(), &dir, &change).unwrap();
    power_failure(&disk, || {});
    let (ledger, _) = open_on(&disk, &dir);
    assert_eq!(ledger.journal().meta().durability, Durability::Sync);
    assert_eq!(ledger.journal().head_seq(), 3);
}

/// Recovery cuts a torn tail: the bytes cut stay saved under `torn/`, and the cut itself
/// holds, across a power failure right after the open.
#[test]
fn a_cut_torn_tail_stays_cut_and_saved_across_a_power_failure() {
    use std::os::unix::fs::FileExt;
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Buffered, 3);
    ledger.close().unwrap();
    let report = tradeledger::storage::verify::verify(&dir).unwrap();
    let segment = tradeledger::storage::reader::segment_paths(&dir).unwrap()[0].clone();
    let torn = [0xABu8; 100];
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .write_all_at(&torn, report.data_bytes)
        .unwrap();
    // The torn bytes reached the disk, as a crash in the middle of a write can leave them.
    disk.power_loss(CrashFate::KeepAll, 0).unwrap();

    let (ledger, opened) = open_on(&disk, &dir);
    let cut = opened.recovery.cut.expect("the torn tail is cut");
    assert!(cut.bytes_cut >= torn.len() as u64, "{cut}");
    let saved = std::fs::read(&cut.saved_to).unwrap();
    assert_eq!(&saved[..torn.len()], torn);
    power_failure(&disk, || drop(ledger));

    let (ledger, reopened) = open_on(&disk, &dir);
    assert_eq!(
        reopened.recovery.cut, None,
        "the cut was undone by the power failure"
    );
    assert_eq!(ledger.journal().head_seq(), 3);
    assert_eq!(std::fs::read(&cut.saved_to).unwrap(), saved);
}

/// A checkpoint describes the records up to its seq: a power failure must not leave it
/// beside a journal that lost those records and then took others under the same seqs.
#[test]
fn a_checkpoint_never_outlives_the_records_it_describes() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Buffered, 10);
    let written = ledger.checkpoint().unwrap();
    assert_eq!(written.seq, 10);
    power_failure(&disk, || drop(ledger));

    let (ledger, _) = open_on(&disk, &dir);
    let head = ledger.journal().head_seq();
    for i in 0..12 {
        let time = Timestamp::from_nanos(1_600_000_000_000_000_000 + i);
        let other = sample::account_snapshot(87654321, time, "5.00");
        ledger.append(&[other]).unwrap();
    }
    ledger.journal().flush().unwrap();
    // The process dies before it writes a checkpoint of its own.
    disk.crash_after(1);
    drop(ledger);
    disk.restart_process();

    let (ledger, report) = open_on(&disk, &dir);
    assert_eq!(ledger.journal().head_seq(), head + 12);
    assert_state_is_its_records(&ledger, &report);
}

/// Salvage cuts durable records: the checkpoints beyond the cut are removed at once, so that
/// the records appended after it are never read through them.
#[test]
fn checkpoints_beyond_a_salvage_cut_are_removed() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Sync, 10);
    assert_eq!(ledger.checkpoint().unwrap().seq, 10);
    ledger.close().unwrap();
    let (segment, data_end) = only_segment(&dir);
    flip_byte(&segment, (4096 + data_end) / 2, 0xFF);

    let salvage = OpenMode {
        salvage: true,
        ..mode_on(&disk)
    };
    let ledger = Ledger::open(&dir, &salvage).unwrap();
    let report = ledger.open_report().clone();
    let head = ledger.journal().head_seq();
    assert!(head < 10, "salvage cut nothing: head {head}");
    assert!(report.checkpoint.is_none());
    assert!(report.ignored_checkpoints[0].reason.contains("removed"));
    for i in 0..12 {
        let time = Timestamp::from_nanos(1_600_000_000_000_000_000 + i);
        ledger
            .append(&[sample::account_snapshot(87654321, time, "5.00")])
            .unwrap();
    }
    ledger.journal().flush().unwrap();
    power_failure(&disk, || drop(ledger));

    let (ledger, report) = open_on(&disk, &dir);
    assert_state_is_its_records(&ledger, &report);
}

/// Every storage call of a creation, crashed at in turn, then the power failing: the folder
/// holds no journal (and a journal can be created in it) or an empty one that opens.
#[test]
fn a_creation_crashed_at_any_call_leaves_no_journal_or_a_whole_one() {
    for fate in [CrashFate::LoseAll, CrashFate::Random, CrashFate::KeepAll] {
        for n in 1.. {
            let root = tempfile::tempdir().unwrap();
            let disk = SimulatedDisk::new(root.path()).unwrap();
            let dir = root.path().join("journal");
            let options = JournalOptions {
                segment_size_bytes: 64 << 10,
                storage: disk.storage(),
                ..JournalOptions::default()
            };
            disk.crash_after(n);
            let created = Ledger::create(&dir, &options);
            let crashed = disk.is_down();
            disk.crash_after(1);
            drop(created);
            disk.power_loss(fate, n).unwrap();
            let reopened = if dir.join("journal.meta").exists() {
                Ledger::open(&dir, &mode_on(&disk))
            } else {
                Ledger::create(&dir, &options)
            };
            let ledger =
                reopened.unwrap_or_else(|e| panic!("crashed at call {n} ({fate:?}), then: {e}"));
            assert_eq!(ledger.journal().head_seq(), 0);
            if !crashed {
                break;
            }
        }
    }
}

/// A fixed Sync workload that rolls through several segments, writes a checkpoint and closes,
/// crashed at each of its storage calls in turn. Then either the power fails at once, or the
/// process alone died: the next one recovers, appends until it rolls, closes, and then the
/// power fails. Either way every acknowledged batch is there and the journal is whole.
#[test]
fn a_sync_workload_crashed_at_any_call_keeps_every_acknowledged_batch() {
    for power_fails_at_once in [true, false] {
        for n in 1.. {
            let root = tempfile::tempdir().unwrap();
            let disk = SimulatedDisk::new(root.path()).unwrap();
            let dir = root.path().join("journal");
            let options = JournalOptions {
                durability: Durability::Sync,
                segment_size_bytes: 64 << 10,
                checkpoint_every_records: 0,
                storage: disk.storage(),
                ..JournalOptions::default()
            };
            let mode = mode_on(&disk);
            let mut model = Model::new();
            let ledger = Ledger::create(&dir, &options).unwrap();
            disk.crash_after(n);
            append_rounds(&ledger, &mut model, 0..24);
            let closed = ledger.close();
            let crashed = disk.is_down();
            if closed.is_ok() {
                model.durable = model.events.len();
            }
            disk.crash_after(1);
            let context =
                format!("crashed at call {n}, power failing at once: {power_fails_at_once}");
            if !power_fails_at_once {
                disk.restart_process();
                let ledger = Ledger::open(&dir, &mode)
                    .unwrap_or_else(|e| panic!("{context}; the next process: {e}"));
                check_recovered(&ledger, Some(ledger.open_report()), &dir, &mut model, true)
                    .unwrap_or_else(|why| panic!("{context}; the next process: {why}"));
                append_rounds(&ledger, &mut model, 1000..1010);
                ledger.close().unwrap();
                model.durable = model.events.len();
            }
            disk.power_loss(CrashFate::LoseAll, n).unwrap();
            let ledger = Ledger::open(&dir, &mode)
                .unwrap_or_else(|e| panic!("{context}; after the power failure: {e}"));
            check_recovered(&ledger, Some(ledger.open_report()), &dir, &mut model, false)
                .unwrap_or_else(|why| panic!("{context}; after the power failure: {why}"));
            if !crashed {
                break;
            }
        }
    }
}

/// Appends batches of 16 events, and one larger than a segment every eighth round; a
/// checkpoint after round 12. Stops at the first refused append (the disk went down).
fn append_rounds(ledger: &Ledger, model: &mut Model, rounds: std::ops::Range<u64>) {
    for round in rounds {
        let pairs = if round % 8 == 7 { 250 } else { 8 };
        let time = model.time();
        let batch: Vec<Event> = (0..pairs)
            .flat_map(|i| sample::signal_and_trade(round * 1000 + i, time))
            .collect();
        let appended = ledger.append(&batch);
        model.push(batch);
        if appended.is_err() {
            return;
        }
        model.appended = model.events.len();
        model.durable = model.events.len();
        if round == 12 {
            let _ = ledger.checkpoint();
        }
    }
}

/// Links a writer left pending (it died before its seals ran) are completed by the next open,
/// and each is durable before the journal is used: a pending link followed by a sealed one
/// would make the journal unopenable.
#[test]
fn links_completed_at_open_survive_a_power_failure() {
    use std::os::unix::fs::FileExt;
    use tradeledger::storage::format::{CHAIN_AT, CHAIN_SIZE};
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Sync, 0);
    let mut model = Model::new();
    append_rounds(&ledger, &mut model, 0..24);
    ledger.close().unwrap();
    let segments = tradeledger::storage::reader::segment_paths(&dir).unwrap();
    assert!(segments.len() >= 4, "{} segments", segments.len());
    // The last two seals never ran: their links are still zeros.
    for segment in &segments[segments.len() - 2..] {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(segment)
            .unwrap();
        file.write_all_at(&[0u8; CHAIN_SIZE], CHAIN_AT as u64)
            .unwrap();
    }
    disk.power_loss(CrashFate::KeepAll, 0).unwrap();

    let (ledger, report) = open_on(&disk, &dir);
    assert_eq!(report.recovery.links_completed, 2);
    power_failure(&disk, || drop(ledger));
    let (ledger, _) = open_on(&disk, &dir);
    check_recovered(&ledger, None, &dir, &mut model, false).unwrap();
}

/// Records a clean close declared durable (in the watermark) are never cut as a torn tail
/// when they are damaged later: opening refuses, naming the damage.
#[test]
fn damage_to_records_a_close_declared_durable_is_refused_not_cut() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Buffered, 5);
    ledger.close().unwrap();
    // A byte of the last record rots on the disk itself.
    let (segment, data_end) = only_segment(&dir);
    flip_byte(&segment, data_end - 12, 0x5A);
    disk.power_loss(CrashFate::KeepAll, 0).unwrap();
    match Ledger::open(&dir, &mode_on(&disk)) {
        Err(error) => assert!(error.is_corruption(), "{error}"),
        Ok(ledger) => panic!(
            "opened with head {} after {:?}",
            ledger.journal().head_seq(),
            ledger.open_report().recovery.cut
        ),
    }
}

/// A writer dies between a segment's rename into place (a roll) and the folder sync that
/// makes the rename durable. The next process appends into that segment and acknowledges
/// its records as durable; a power failure then must not take the segment, and them, away:
/// open syncs the folder of the segments it found (found by the random workload, seed 16).
#[test]
fn records_acknowledged_in_a_segment_whose_rename_was_never_synced_survive_a_power_failure() {
    let root = tempfile::tempdir().unwrap();
    let (disk, dir, ledger) = journal_on_disk(root.path(), Durability::Sync, 10);
    // Auto-checkpoints are off, so the only folder sync left is the next roll's.
    disk.crash_at_next_folder_sync();
    let mut model = Model::new();
    let rolled = loop {
        let snapshot = sample::account_snapshot(12345678, model.time(), "10000.00");
        if let Err(error) = ledger.append(&[snapshot]) {
            break error;
        }
        assert!(ledger.journal().head_seq() < 10_000, "no roll happened");
    };
    assert!(
        disk.is_down(),
        "the append failed without the crash: {rolled}"
    );
    drop(ledger);
    disk.restart_process();

    let ledger = Ledger::open(&dir, &mode_on(&disk)).unwrap();
    let before = ledger.journal().head_seq();
    let snapshot = sample::account_snapshot(12345678, model.time(), "10000.00");
    let acknowledged = ledger.append(&[snapshot]).unwrap().last_seq;
    assert!(segment_count(&dir) >= 2, "the roll left no second segment");
    power_failure(&disk, || drop(ledger));

    let ledger = Ledger::open(&dir, &mode_on(&disk)).unwrap();
    let head = ledger.journal().head_seq();
    assert!(
        head >= acknowledged,
        "lost acknowledged records: recovered {head}, {acknowledged} were durable (head {before} at the reopen)"
    );
}

fn segment_count(dir: &Path) -> usize {
    tradeledger::storage::reader::segment_paths(dir)
        .unwrap()
        .len()
}
