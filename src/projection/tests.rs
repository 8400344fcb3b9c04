//! Unit tests of the §3 stateful rules, the §4 semantics, the §5 JSON shapes and checkpoints.

pub(super) mod fixtures;
mod json;
mod rules;
mod semantics;
mod worked_example;
