#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One folder per fuzzing process, in memory when /dev/shm exists.
fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("tradeledger-fuzz-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    tradeledger::tools::fuzzing::journal_folder(data, folder());
});
