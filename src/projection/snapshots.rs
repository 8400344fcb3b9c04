//! Account snapshots per account, by (snapshot_time, seq).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::chunked::{Chunked, Slot};
use super::intern::{Interner, Sym};
use std::ops::RangeInclusive;

use super::time_index::TimeKey;
use crate::model::event::{compact, AccountSnapshot, Timestamp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    pub account_number: u64,
    pub snapshot_time: Timestamp,
    /// The journal sequence number: the tie-break between equal snapshot times (§4).
    pub seq: u64,
    pub server: Sym,
    pub broker: Sym,
    #[serde(with = "compact::decimal")]
    pub balance: Decimal,
    #[serde(with = "compact::decimal")]
    pub equity: Decimal,
    #[serde(with = "compact::option_decimal")]
    pub profit: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub margin: Option<Decimal>,
    #[serde(with = "compact::option_decimal")]
    pub margin_free: Option<Decimal>,
    #[serde(with = "compact::decimal")]
    pub total_volume: Decimal,
    #[serde(with = "compact::option_decimal")]
    pub margin_level: Option<Decimal>,
    pub open_positions: u32,
}

impl SnapshotRecord {
    /// (snapshot_time, seq): the order of an account's snapshots.
    pub fn key(&self) -> TimeKey {
        (self.snapshot_time, self.seq)
    }

    pub fn new(seq: u64, event: &AccountSnapshot, names: &mut Interner) -> SnapshotRecord {
        SnapshotRecord {
            account_number: event.account_number,
            snapshot_time: event.snapshot_time,
            seq,
            server: names.intern(&event.server),
            broker: names.intern(&event.broker),
            balance: event.balance,
            equity: event.equity,
            profit: event.profit,
            margin: event.margin,
            margin_free: event.margin_free,
            total_volume: event.total_volume,
            margin_level: event.margin_level,
            open_positions: event.open_positions,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SnapshotBook {
    pub records: Chunked<SnapshotRecord>,
    /// account_number → (snapshot_time, seq) → slot. Ordered by account so that "the journal's
    /// only account" is a length check. Slots, not records, in the B-tree: ~150-byte values
    /// would make every node split move kilobytes.
    pub by_account: BTreeMap<u64, BTreeMap<TimeKey, Slot>>,
}

impl SnapshotBook {
    pub fn insert(&mut self, seq: u64, event: &AccountSnapshot, names: &mut Interner) {
        let record = SnapshotRecord::new(seq, event, names);
        let slot = self.records.push(record);
        let index = self.by_account.entry(event.account_number).or_default();
        // Sequence numbers are unique in a log, so the key is always free.
        index.insert((event.snapshot_time, seq), slot);
    }

    /// Snapshots of `account` with a key in `keys`, by (snapshot_time, seq).
    pub fn between(
        &self,
        account: u64,
        keys: RangeInclusive<TimeKey>,
    ) -> impl DoubleEndedIterator<Item = &SnapshotRecord> + '_ {
        let slots = self.by_account.get(&account).into_iter();
        let slots = slots.flat_map(move |index| index.range(keys.clone()));
        slots.map(|(_, slot)| &self.records[*slot])
    }
}
