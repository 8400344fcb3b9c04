//! `Projections::apply`: the §4 lifecycle, one small mutation per event kind.

use super::signals::SignalRecord;
use super::tally::Outcome;
use super::time::day_of;
use super::trades::{OpenedTexts, TradeRecord};
use super::validate::{check_event, CheckError};
use super::Projections;
use crate::error::Corruption;
use crate::model::event::*;

impl Projections {
    /// Applies one event of the log, in log order.
    ///
    /// The event should have passed [`Projections::check`] before it was appended. An event
    /// that the rules refuse anyway (a log written under looser rules) is skipped and counted
    /// in [`Projections::ignored_events`]: applying it could break the lifecycle invariants
    /// the indexes rely on. `recorded_at` is not used: every projection depends only on
    /// business times, so a replay gives the same state whenever it runs.
    ///
    /// A damaged block of the checkpoint the state reads (met while checking the event) makes
    /// the state incomplete: it is kept in [`Projections::damage`], later events are only
    /// counted, and every query reports the damage.
    pub fn apply(&mut self, seq: u64, recorded_at: Timestamp, event: &Event) {
        if self.damage.is_none() {
            match check_event(self, event) {
                Ok(()) => return self.apply_checked(seq, recorded_at, event),
                Err(CheckError::Violation(_)) => self.ignored_events += 1,
                Err(CheckError::Corrupt(damage)) => self.damage = Some(damage),
            }
        }
        self.head_seq = seq;
        self.applied_events += 1;
    }

    /// [`Projections::apply`] without checking the rules again, for an event that
    /// [`Projections::check_batch`] accepted against this very state (with the earlier events
    /// of its batch applied): the ledger's live append path, which would otherwise check every
    /// event twice.
    #[doc(hidden)]
    pub fn apply_checked(&mut self, seq: u64, _recorded_at: Timestamp, event: &Event) {
        self.apply_unchecked(seq, |state| state.apply_event(seq, event));
    }

    /// [`Projections::apply_checked`] of an event the caller gives up: a trade keeps the
    /// event's free text without copying it.
    #[doc(hidden)]
    pub fn apply_checked_owned(&mut self, seq: u64, _recorded_at: Timestamp, mut event: Event) {
        self.apply_unchecked(seq, |state| match &mut event {
            Event::TradeOpened(e) => {
                let texts = OpenedTexts::moved(e);
                state.open_trade(e, texts)
            }
            event => state.apply_event(seq, event),
        });
    }

    fn apply_unchecked(
        &mut self,
        seq: u64,
        apply: impl FnOnce(&mut Projections) -> Result<(), Box<Corruption>>,
    ) {
        self.head_seq = seq;
        self.applied_events += 1;
        if self.damage.is_some() {
            return;
        }
        if let Err(damage) = apply(self) {
            self.damage = Some(damage);
        }
    }

    fn apply_event(&mut self, seq: u64, event: &Event) -> Result<(), Box<Corruption>> {
        match event {
            Event::Signal(e) => {
                let record = SignalRecord::new(seq, e, &mut self.names);
                self.signals.insert(record);
            }
            Event::TradeOpened(e) => self.open_trade(e, OpenedTexts::copied(e))?,
            Event::OrderFilled(e) => self.fill_order(e),
            Event::OrderCancelled(e) => self.cancel_order(e),
            Event::OrderFailed(e) => {
                let record = TradeRecord::failed(e, &mut self.names);
                self.trades.insert(record);
            }
            Event::TradeModified(e) => self.modify_trade(e),
            Event::TradeClosed(e) => self.close_trade(e),
            Event::SignalExecuted(e) => self.link_signal(e)?,
            Event::AccountSnapshot(e) => self.snapshots.insert(seq, e, &mut self.names),
        }
        Ok(())
    }

    fn open_trade(&mut self, e: &TradeOpened, texts: OpenedTexts) -> Result<(), Box<Corruption>> {
        let record = TradeRecord::opened(e, texts, &mut self.names);
        self.trades.insert(record);
        if let Some(signal_id) = e.signal_id {
            let reason = e.execution_reason.as_deref();
            self.execute_signal(signal_id, e.ticket, reason)?;
        }
        Ok(())
    }

    /// Marks the signal executed by `ticket` (in memory, or as an override of a signal of the
    /// base); false if it is unknown or already executed.
    fn execute_signal(
        &mut self,
        signal_id: u64,
        ticket: u64,
        reason: Option<&str>,
    ) -> Result<bool, Box<Corruption>> {
        if self.signals.slot(signal_id).is_some() {
            return Ok(self.signals.execute(signal_id, ticket, reason));
        }
        let Some(base) = &self.base else {
            return Ok(false);
        };
        let Some((_, entry)) = base.find_signal(signal_id)? else {
            return Ok(false);
        };
        if entry.executed || self.base_links.contains_key(&signal_id) {
            return Ok(false);
        }
        self.base_links
            .insert(signal_id, (ticket, reason.map(Box::from)));
        let day = self.signals.per_day.entry(day_of(entry.timestamp));
        day.or_default().executed += 1;
        Ok(true)
    }

    fn fill_order(&mut self, e: &OrderFilled) {
        let Some(slot) = self.trades.slot(e.ticket) else {
            return;
        };
        let old_key = self.trades.records[slot].entry_key();
        self.trades.by_entry.remove(&old_key);
        self.trades.pending.remove(&old_key);
        let record = &mut self.trades.records[slot];
        record.entry_price = e.entry_price;
        record.entry_time = e.entry_time;
        record.status = TradeStatus::Open;
        let key = record.entry_key();
        self.trades.by_entry.insert(key, slot);
        self.trades.open.insert(key, slot);
    }

    fn cancel_order(&mut self, e: &OrderCancelled) {
        let Some(slot) = self.trades.slot(e.ticket) else {
            return;
        };
        let record = &mut self.trades.records[slot];
        let key = record.entry_key();
        // exit_time stays null: a cancelled order never was a position (docs/PROJECTIONS.md).
        record.status = TradeStatus::Cancelled;
        record.close_reason = e.reason.as_deref().map(Box::from);
        self.trades.pending.remove(&key);
    }

    fn modify_trade(&mut self, e: &TradeModified) {
        if let Some(slot) = self.trades.slot(e.ticket) {
            let record = &mut self.trades.records[slot];
            record.stop_loss = e.stop_loss.apply(record.stop_loss);
            record.take_profit = e.take_profit.apply(record.take_profit);
        }
    }

    fn close_trade(&mut self, e: &TradeClosed) {
        let Some(slot) = self.trades.slot(e.ticket) else {
            return;
        };
        let record = &mut self.trades.records[slot];
        record.status = TradeStatus::Closed;
        record.exit_price = Some(e.exit_price);
        record.exit_time = Some(e.exit_time);
        record.profit = Some(e.profit);
        record.pips = e.pips.or(record.pips);
        record.commission = e.commission.unwrap_or(record.commission);
        record.swap = e.swap.unwrap_or(record.swap);
        record.close_reason = e.reason.as_deref().map(Box::from);
        let (entry_key, account, symbol) =
            (record.entry_key(), record.account_number, record.symbol);
        let outcome = Outcome {
            profit: e.profit,
            commission: record.commission,
            swap: record.swap,
        };
        self.trades.open.remove(&entry_key);
        self.trades
            .closed_by_exit
            .insert((e.exit_time, e.ticket), slot);
        let exit_day = day_of(e.exit_time);
        self.exit_days.add(exit_day, account, symbol, outcome);
        let exit_key = (e.exit_time, e.ticket);
        (self.exit_runs).add(exit_day, exit_key, account, symbol, e.profit);
    }

    fn link_signal(&mut self, e: &SignalExecuted) -> Result<(), Box<Corruption>> {
        let reason = e.execution_reason.as_deref();
        if !self.execute_signal(e.signal_id, e.ticket, reason)? {
            return Ok(());
        }
        if let Some(slot) = self.trades.slot(e.ticket) {
            self.trades.records[slot].signal_id = Some(e.signal_id);
        } else if let Some(base) = &self.base {
            if base.find_trade(e.ticket)?.is_some() {
                self.base_relinks.insert(e.ticket, e.signal_id);
            }
        }
        Ok(())
    }
}
