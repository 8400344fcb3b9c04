//! Account snapshots per account, by (snapshot_time, seq).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::intern::{Interner, Sym};
use super::trades::TimeKey;
use crate::event::{compact, AccountSnapshot, Timestamp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
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
    pub fn new(event: &AccountSnapshot, names: &mut Interner) -> SnapshotRecord {
        SnapshotRecord {
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
    /// account_number → (snapshot_time, seq) → snapshot. Ordered by account so that
    /// "the journal's only account" is a length check.
    pub by_account: BTreeMap<u64, BTreeMap<TimeKey, SnapshotRecord>>,
}

impl SnapshotBook {
    pub fn insert(&mut self, seq: u64, event: &AccountSnapshot, names: &mut Interner) {
        let record = SnapshotRecord::new(event, names);
        let account = self.by_account.entry(event.account_number).or_default();
        account.insert((event.snapshot_time, seq), record);
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

    /// The last snapshot of `account` at or before `time` (ties by seq: the later record).
    pub fn last_at_or_before(&self, account: u64, time: Timestamp) -> Option<&SnapshotRecord> {
        let snapshots = self.by_account.get(&account)?;
        snapshots
            .range(..=(time, u64::MAX))
            .next_back()
            .map(|(_, s)| s)
    }
}
