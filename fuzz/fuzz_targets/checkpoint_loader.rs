#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tradeledger::tools::fuzzing::checkpoint_loader(data);
});
