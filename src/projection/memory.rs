//! A rough estimate of the memory the projections hold, for capacity planning and for the
//! per-trade budget in `docs/PROJECTIONS.md`. It is an estimate, not an allocator count: hash
//! tables are counted by capacity, B-tree entries with 50 % slack for partly filled nodes
//! (their nodes are between half and completely full), boxed strings by length. The history of
//! a loaded checkpoint is not counted: it is read in place from the mapped file (page cache).

use std::collections::BTreeMap;

use super::time_index::TimeIndex;
use super::Projections;

/// Estimated heap bytes, split by table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The trades in memory: records, free texts, and the indexes by ticket, status and time.
    pub trades_bytes: usize,
    /// The signals in memory: records, free texts, the indexes by id and symbol, the per-day
    /// counts.
    pub signals_bytes: usize,
    /// The account snapshots in memory and the daily tallies.
    pub other_bytes: usize,
}

impl MemoryEstimate {
    /// The sum of the three parts.
    pub fn total_bytes(&self) -> usize {
        self.trades_bytes + self.signals_bytes + self.other_bytes
    }
}

fn btree_bytes<K, V>(map: &BTreeMap<K, V>) -> usize {
    map.len() * size_of::<(K, V)>() * 3 / 2
}

fn text_bytes<'a>(texts: impl Iterator<Item = &'a Option<Box<str>>>) -> usize {
    texts.flatten().map(|text| text.len()).sum()
}

impl Projections {
    /// Walks every record (for the text lengths): meant for diagnostics, not hot paths.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        let trades = &self.trades;
        let trade_texts = trades.records.iter().flat_map(|r| {
            [
                &r.signal_reason,
                &r.ai_reasoning,
                &r.comment,
                &r.close_reason,
            ]
        });
        let trades_bytes = trades.records.reserved_bytes()
            + trades.slot_by_ticket.approximate_bytes()
            + trades.by_entry.approximate_bytes()
            + trades.open.approximate_bytes()
            + trades.pending.approximate_bytes()
            + trades.closed_by_exit.approximate_bytes()
            + text_bytes(trade_texts);
        let signals = &self.signals;
        let signal_texts = signals
            .records
            .iter()
            .flat_map(|r| [&r.reason, &r.execution_reason]);
        let signals_bytes = signals.records.reserved_bytes()
            + signals.slot_by_id.approximate_bytes()
            + signals
                .by_symbol
                .values()
                .map(TimeIndex::approximate_bytes)
                .sum::<usize>()
            + btree_bytes(&signals.per_day)
            + text_bytes(signal_texts);
        let snapshots = self
            .snapshots
            .by_account
            .values()
            .map(btree_bytes)
            .sum::<usize>();
        let tallies = self.exit_days.approximate_bytes() + self.exit_runs.approximate_bytes();
        let other_bytes = snapshots + tallies;
        MemoryEstimate {
            trades_bytes,
            signals_bytes,
            other_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixtures::{closed, journal, opened};
    use super::super::trades::TradeRecord;
    use crate::model::event::{Event, Timestamp};

    #[test]
    fn a_trade_record_stays_compact() {
        // Adding a field to the record must be a deliberate choice against the budget.
        assert!(
            size_of::<TradeRecord>() <= 352,
            "{}",
            size_of::<TradeRecord>()
        );
    }

    #[test]
    fn a_trade_costs_less_than_600_bytes_with_its_indexes() {
        let trades_count: u64 = 8192; // two full chunks: no partly used chunk in the figure
        let events = (1..=trades_count).flat_map(|ticket| {
            let minute = 1_704_067_200 + ticket as i64 * 60;
            let entry = Timestamp::from_nanos(minute * 1_000_000_000).to_string();
            let exit = Timestamp::from_nanos((minute + 30) * 1_000_000_000).to_string();
            let open = Event::TradeOpened(opened(ticket, "EURUSD", &entry));
            let close = (ticket % 4 != 0).then(|| Event::TradeClosed(closed(ticket, &exit, "1")));
            std::iter::once(open).chain(close)
        });
        let state = journal(events);
        let per_trade_bytes = state.memory_estimate().trades_bytes / trades_count as usize;
        assert!(per_trade_bytes < 600, "{per_trade_bytes} bytes per trade");
    }
}
