//! The tools built on the library, for the command line: sample events, the paper-trading
//! demo, the load generator and the fuzz harnesses' entry points. They use the library as an
//! embedder would and are compiled only with the `cli` feature (on by default).

pub mod demo;
pub mod fuzzing;
pub mod load;
pub mod sample;
