//! `tradeledger settings` changes an existing journal's settings for the next open: the
//! next writer uses them, existing segments keep their size, and a running writer, an invalid
//! value or a folder that is no journal changes nothing.

mod cli_support;

use cli_support::*;
use tradeledger::storage::journal::{Journal, OpenMode};

#[test]
fn settings_apply_from_the_next_open() {
    let (_temp, dir) = journal_dir();
    let dir = path(&dir);
    ok(&["init", dir, "--segment-size", "65536"]);
    ok(&["load", dir, "--events", "2000"]);
    let old_segments = journal_files(dir.as_ref());
    let changed = ok(&[
        "settings",
        dir,
        "--durability",
        "sync",
        "--segment-size",
        "131072",
        "--checkpoint-every",
        "500",
    ]);
    assert!(changed.contains("buffered -> sync"), "{changed}");
    assert!(changed.contains("65536 bytes -> 131072 bytes"), "{changed}");
    assert!(
        changed.contains("100000 records -> 500 records"),
        "{changed}"
    );

    let status = json(&["status", dir]);
    assert_eq!(status["durability"], "sync");
    assert_eq!(status["segment_size_bytes"], 131072);
    assert_eq!(status["checkpoint_every_records"], 500);

    let loaded = ok(&["load", dir, "--events", "2000"]);
    assert!(loaded.contains("durability sync"), "{loaded}");
    assert_eq!(json(&["status", dir])["head_seq"], 4000);
    let segments = tradeledger::storage::reader::segment_paths(dir.as_ref()).unwrap();
    for segment in &segments {
        let size = std::fs::metadata(segment).unwrap().len();
        let expected = if old_segments.contains_key(segment) {
            65536
        } else {
            131072
        };
        assert_eq!(size, expected, "{}", segment.display());
    }
    assert!(
        segments.iter().any(|s| !old_segments.contains_key(s)),
        "the second load created segments"
    );
    ok(&["verify", dir]);

    // Setting a value it already has rewrites nothing.
    let before = journal_files(dir.as_ref());
    let same = ok(&["settings", dir, "--checkpoint-every", "500"]);
    assert!(same.contains("500 records (unchanged)"), "{same}");
    assert_eq!(journal_files(dir.as_ref()), before);
}

#[test]
fn settings_refused_change_nothing() {
    let (temp, dir) = journal_dir();
    let dir = path(&dir);
    ok(&["init", dir]);
    ok(&["load", dir, "--events", "100"]);
    let before = journal_files(dir.as_ref());

    fails(&["settings", dir], 1);
    fails(&["settings", dir, "--segment-size", "1000"], 1);
    fails(&["settings", dir, "--durability", "fast"], 1);
    assert_eq!(journal_files(dir.as_ref()), before);
    let meta = std::path::Path::new(dir).join("journal.meta");
    {
        let _writer = Journal::open(dir.as_ref(), &OpenMode::default()).unwrap();
        let refused = fails(&["settings", dir, "--durability", "sync"], 4);
        assert!(refused.contains("locked"), "{refused}");
    }
    assert_eq!(
        std::fs::read(&meta).unwrap(),
        before[&meta],
        "journal.meta unchanged"
    );

    let elsewhere = temp.path().join("not-a-journal");
    std::fs::create_dir(&elsewhere).unwrap();
    fails(&["settings", path(&elsewhere), "--durability", "sync"], 1);
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "no lock file left in a folder that is no journal"
    );
}
