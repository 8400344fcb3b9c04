//! Account snapshots per account, by (snapshot_time, seq).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::chunked::{Chunked, Slot};
use super::intern::{Interner, Sym};
use super::trades::{sorted, TimeKey};
use crate::event::{compact, AccountSnapshot, Timestamp};

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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SnapshotBook {
    pub records: Chunked<SnapshotRecord>,
    /// account_number → (snapshot_time, seq) → slot. Ordered by account so that "the journal's
    /// only account" is a length check. Slots, not records, in the B-tree: ~150-byte values
    /// would make every node split move kilobytes.
    #[serde(skip)]
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

    pub fn rebuild_indexes(&mut self) -> Result<(), String> {
        let records = &self.records;
        let keyed = (0..records.len() as Slot).map(|slot| {
            let record = &records[slot];
            (
                (record.account_number, (record.snapshot_time, record.seq)),
                slot,
            )
        });
        let keyed = sorted(keyed);
        if let Some(twice) = keyed.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            let (account, (_, seq)) = twice[0].0;
            return Err(format!(
                "snapshot seq {seq} of account {account} stored twice"
            ));
        }
        for run in keyed.chunk_by(|a, b| a.0 .0 == b.0 .0) {
            let index = run.iter().map(|((_, key), slot)| (*key, *slot)).collect();
            self.by_account.insert(run[0].0 .0, index);
        }
        Ok(())
    }

    /// The account whose snapshots the daily rows show without `--account`: the journal's
    /// only account with snapshots, or none when there are several or none (§4).
    pub fn only_account(&self) -> Option<u64> {
        let mut accounts = self.by_account.keys();
        match (accounts.next(), accounts.next()) {
            (Some(&account), None) => Some(account),
            _ => None,
        }
    }

    /// Snapshots of `account` with snapshot_time in `[from, to]`, by (snapshot_time, seq).
    pub fn between(
        &self,
        account: u64,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> impl DoubleEndedIterator<Item = &SnapshotRecord> + '_ {
        let keys = super::trades::time_keys(from, to);
        let index = self.by_account.get(&account).zip(keys);
        let slots = index
            .into_iter()
            .flat_map(|(index, keys)| index.range(keys));
        slots.map(|(_, slot)| &self.records[*slot])
    }

    /// The last snapshot of `account` at or before `time` (ties by seq: the later record).
    pub fn last_at_or_before(&self, account: u64, time: Timestamp) -> Option<&SnapshotRecord> {
        self.between(account, None, Some(time)).next_back()
    }
}
