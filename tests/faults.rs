//! Disk full and failed flushes: a clear error, a journal that stays consistent and reopens,
//! and a writer that refuses every later append until it is reopened (nothing is retried as
//! if it were safe).

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::*;
use tradeledger::model::event::Timestamp;
use tradeledger::storage::journal::{Journal, JournalOptions, OpenMode};
use tradeledger::storage::reader::JournalReader;
use tradeledger::{tools::sample, Durability, Error, Event};

fn options(durability: Durability) -> JournalOptions {
    JournalOptions {
        durability,
        segment_size_bytes: 64 << 10,
        ..JournalOptions::default()
    }
}

fn batch(n: u64) -> Vec<Event> {
    sample::signal_and_trade(n, Timestamp::from_nanos(n as i64))
}

fn records(dir: &Path) -> Vec<u64> {
    JournalReader::open(dir)
        .unwrap()
        .records(1)
        .map(|r| r.unwrap().seq)
        .collect()
}

#[test]
fn a_full_disk_at_a_segment_roll_fails_clearly_poisons_the_writer_and_loses_nothing() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path(), &options(durability)).unwrap();
        journal.inject_no_space();
        let mut acknowledged = 0;
        let error = loop {
            match journal.append(&batch(acknowledged / 2 + 1)) {
                Ok(appended) => acknowledged = appended.last_seq,
                Err(error) => break error,
            }
        };
        assert!(
            acknowledged > 100,
            "the first segment filled before the roll"
        );
        let Error::Io { path, source, .. } = &error else {
            panic!("{durability}: expected an I/O error, got {error}");
        };
        assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        assert!(path.starts_with(dir.path()), "{}", path.display());
        assert!(
            error.to_string().contains("No space left on device"),
            "{error}"
        );
        // Refused from now on, with the reason; nothing more is published.
        for n in 0..3 {
            let again = journal.append(&batch(10_000 + n));
            assert!(
                matches!(again, Err(Error::Poisoned { ref reason, kind: Some(std::io::ErrorKind::StorageFull) }) if reason.contains("No space")),
                "{again:?}"
            );
        }
        assert_eq!(journal.head_seq(), acknowledged);
        assert!(journal.poisoned().is_some());
        drop(journal);
        tradeledger::storage::verify::verify(dir.path()).unwrap();
        assert_eq!(records(dir.path()), (1..=acknowledged).collect::<Vec<_>>());
        // Reopened, it appends again.
        let journal = Journal::open(dir.path(), &OpenMode::default()).unwrap();
        let appended = journal.append(&batch(20_000)).unwrap();
        assert_eq!(appended.first_seq, acknowledged + 1);
        journal.close().unwrap();
        tradeledger::storage::verify::verify(dir.path()).unwrap();
    }
}

#[test]
fn a_failed_flush_poisons_the_journal_and_durable_seq_never_advances_past_it() {
    // Buffered: the failure comes from an explicit flush.
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &options(Durability::Buffered)).unwrap();
    journal.append(&batch(1)).unwrap();
    journal.flush().unwrap();
    let durable = journal.durable_seq();
    assert_eq!(durable, 2);
    journal.append(&batch(2)).unwrap();
    journal.inject_flush_failure();
    let error = journal.flush().unwrap_err();
    assert!(
        matches!(&error, Error::Io { source, .. } if source.raw_os_error() == Some(libc::EIO)),
        "{error}"
    );
    assert_eq!(
        journal.durable_seq(),
        durable,
        "a failed flush made nothing durable"
    );
    // No retry may report the unflushed records as safe: flushing again fails too.
    for _ in 0..3 {
        assert!(matches!(journal.flush(), Err(Error::Poisoned { .. })));
        assert!(matches!(
            journal.flush_through(4),
            Err(Error::Poisoned { .. })
        ));
        assert!(matches!(
            journal.append(&batch(3)),
            Err(Error::Poisoned { .. })
        ));
        assert_eq!(journal.durable_seq(), durable);
    }
    // What was durable stays acknowledged as durable.
    journal.flush_through(2).unwrap();
    drop(journal);
    tradeledger::storage::verify::verify(dir.path()).unwrap();

    // Sync: the append itself fails, and the next one is refused.
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &options(Durability::Sync)).unwrap();
    journal.append(&batch(1)).unwrap();
    journal.inject_flush_failure();
    let error = journal.append(&batch(2)).unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert_eq!(journal.durable_seq(), 2);
    assert!(matches!(
        journal.append(&batch(3)),
        Err(Error::Poisoned { .. })
    ));
    assert_eq!(journal.durable_seq(), 2);
    drop(journal);
    let journal = Journal::open(dir.path(), &OpenMode::default()).unwrap();
    // The batch whose flush failed may or may not be there (it was never acknowledged).
    assert!(journal.head_seq() == 2 || journal.head_seq() == 4);
    journal.append(&batch(4)).unwrap();
    journal.close().unwrap();
    tradeledger::storage::verify::verify(dir.path()).unwrap();
}

/// A tmpfs of 2 MiB mounted for the test (root and `mount` needed; skipped with a note
/// otherwise), unmounted when dropped.
struct SmallDisk {
    mount_point: PathBuf,
    _temp: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let temp = tempfile::tempdir().ok()?;
        let mount_point = temp.path().join("disk");
        std::fs::create_dir(&mount_point).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs"])
            .arg(&mount_point)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk {
                mount_point,
                _temp: temp,
            }),
            Ok(out) => {
                eprintln!(
                    "note: skipping the tmpfs disk-full test: mount refused ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("note: skipping the tmpfs disk-full test: cannot run mount ({error})");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

#[test]
fn a_journal_on_a_full_tmpfs_fails_clearly_stays_consistent_and_reopens() {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let ack = outside.path().join("ack.log");
    let dir = disk.mount_point.join("j");
    let args = [
        "load",
        path(&dir),
        "--events",
        "10000000",
        "--segment-size",
        "65536",
        "--ack-log",
        path(&ack),
        "--seed",
        "1",
    ];
    let error = fails(&args, 3);
    assert!(error.contains("No space left on device"), "{error}");
    assert!(
        error.contains(path(&disk.mount_point)),
        "the error names the file: {error}"
    );
    let acknowledged: Vec<u64> = std::fs::read_to_string(&ack)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 1000,
        "the disk held {} events",
        acknowledged.len()
    );
    let held = records(&dir);
    assert_eq!(held, (1..=held.len() as u64).collect::<Vec<_>>());
    assert!(acknowledged.iter().all(|&s| s <= held.len() as u64));
    ok(&["verify", path(&dir)]);
    // Reopening works (leftover prepared files are removed, which frees space); appends go on
    // until the next segment is needed, and fail the same clear way.
    let error = fails(&args, 3);
    assert!(error.contains("No space left on device"), "{error}");
    ok(&["verify", path(&dir)]);
    let again = records(&dir);
    assert!(again.len() >= held.len());
    // Reading needs no space.
    ok(&["stats", path(&dir)]);
    ok(&["dump", path(&dir), "--from-seq", "1", "--to-seq", "3"]);
}
