//! Stateful validation (`docs/INTERCHANGE.md` §3): the rules that need the journal's state.
//!
//! The rules are written once, against the [`Lookup`] trait, and used three ways:
//! [`Projections::check`] (one event against the state), `check_batch` (each event against the
//! state plus the earlier events of its batch, through an [`Overlay`] of the tickets and signal
//! ids the batch touched, without copying the state) and `apply` (which ignores an event these
//! rules reject, so that the indexes stay consistent).
//!
//! `check` and `check_batch` first run the stateless rules (`crate::model::contract`, the ones the
//! JSON parser runs too), so every append path refuses what import refuses. `apply` does not:
//! a journal written before those checks may hold events that break them, and replay applies
//! them as they were recorded (`verify` reports them).

use rustc_hash::FxHashMap;

use super::Projections;
use crate::error::Corruption;
use crate::model::contract::{self, Rule, Violation};
use crate::model::event::*;

/// Why `check` did not accept an event: a rule it breaks, or damage in the checkpoint the
/// state reads (which is not the event's fault, and is reported as corruption).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The event breaks a rule of §3: it must not be appended.
    #[error(transparent)]
    Violation(#[from] Violation),
    /// A block of the checkpoint the state reads failed its check: the event could not be
    /// checked.
    #[error("checkpoint damaged: {0}")]
    Corrupt(Box<Corruption>),
}

impl From<Box<Corruption>> for CheckError {
    fn from(damage: Box<Corruption>) -> CheckError {
        CheckError::Corrupt(damage)
    }
}

fn violation(rule: Rule, field: &'static str, detail: String) -> CheckError {
    CheckError::Violation(Violation {
        rule,
        field,
        detail,
    })
}

type Damage = Box<Corruption>;

/// What the rules need to know about a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TradeBrief {
    pub status: TradeStatus,
    pub entry_time: Timestamp,
}

/// The state the rules read: the projections, or the projections plus a batch so far.
pub(crate) trait Lookup {
    fn trade(&self, ticket: u64) -> Result<Option<TradeBrief>, Damage>;
    /// `Some(executed)` for a known signal.
    fn signal_executed(&self, signal_id: u64) -> Result<Option<bool>, Damage>;
}

impl Lookup for Projections {
    fn trade(&self, ticket: u64) -> Result<Option<TradeBrief>, Damage> {
        if let Some(r) = self.trades.get(ticket) {
            let brief = TradeBrief {
                status: r.status,
                entry_time: r.entry_time,
            };
            return Ok(Some(brief));
        }
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let found = base.find_trade(ticket)?;
        Ok(found.map(|(_, entry)| TradeBrief {
            status: entry.status,
            entry_time: entry.entry_time,
        }))
    }

    fn signal_executed(&self, signal_id: u64) -> Result<Option<bool>, Damage> {
        if let Some(slot) = self.signals.slot(signal_id) {
            return Ok(Some(self.signals.records[slot].executed));
        }
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let found = base.find_signal(signal_id)?;
        let linked = self.base_links.contains_key(&signal_id);
        Ok(found.map(|(_, entry)| entry.executed || linked))
    }
}

pub(crate) fn check_event(state: &impl Lookup, event: &Event) -> Result<(), CheckError> {
    match event {
        Event::Signal(e) => match state.signal_executed(e.signal_id)? {
            Some(_) => Err(violation(
                Rule::DuplicateSignalId,
                "signal_id",
                format!("signal_id {} already exists", e.signal_id),
            )),
            None => Ok(()),
        },
        Event::TradeOpened(e) => {
            new_ticket(state, e.ticket)?;
            match e.signal_id {
                Some(signal_id) => unexecuted_signal(state, signal_id),
                None => Ok(()),
            }
        }
        Event::OrderFailed(e) => {
            new_ticket(state, e.ticket)?;
            // The signal stays not executed, so an executed one is no contradiction: only an
            // unknown reference is refused.
            e.signal_id
                .map_or(Ok(()), |id| known_signal(state, id).map(drop))
        }
        Event::OrderFilled(e) => check_fill(state, e),
        Event::OrderCancelled(e) => check_cancel(state, e),
        Event::TradeModified(e) => check_modify(state, e),
        Event::TradeClosed(e) => check_close(state, e),
        Event::SignalExecuted(e) => check_link(state, e),
        Event::AccountSnapshot(_) => Ok(()),
    }
}

fn new_ticket(state: &impl Lookup, ticket: u64) -> Result<(), CheckError> {
    match state.trade(ticket)? {
        Some(_) => Err(violation(
            Rule::DuplicateTicket,
            "ticket",
            format!("ticket {ticket} already exists"),
        )),
        None => Ok(()),
    }
}

fn known_trade(state: &impl Lookup, ticket: u64) -> Result<TradeBrief, CheckError> {
    state.trade(ticket)?.ok_or_else(|| {
        violation(
            Rule::UnknownTicket,
            "ticket",
            format!("no trade has ticket {ticket}"),
        )
    })
}

fn known_signal(state: &impl Lookup, signal_id: u64) -> Result<bool, CheckError> {
    state.signal_executed(signal_id)?.ok_or_else(|| {
        violation(
            Rule::UnknownSignalId,
            "signal_id",
            format!("no signal has signal_id {signal_id}"),
        )
    })
}

fn unexecuted_signal(state: &impl Lookup, signal_id: u64) -> Result<(), CheckError> {
    if known_signal(state, signal_id)? {
        return Err(violation(
            Rule::SignalAlreadyExecuted,
            "signal_id",
            format!("signal {signal_id} is already executed"),
        ));
    }
    Ok(())
}

fn status_is(
    event: &str,
    ticket: u64,
    trade: TradeBrief,
    allowed: &[TradeStatus],
) -> Result<(), CheckError> {
    if allowed.contains(&trade.status) {
        return Ok(());
    }
    let detail = format!("{event} of ticket {ticket}, which is {}", trade.status);
    Err(violation(Rule::IllegalStatusChange, "ticket", detail))
}

fn not_before(
    rule: Rule,
    field: &'static str,
    time: Timestamp,
    entry_time: Timestamp,
) -> Result<(), CheckError> {
    if time >= entry_time {
        return Ok(());
    }
    let detail = format!("{field} {time} is earlier than entry_time {entry_time}");
    Err(violation(rule, field, detail))
}

fn check_fill(state: &impl Lookup, e: &OrderFilled) -> Result<(), CheckError> {
    let trade = known_trade(state, e.ticket)?;
    status_is("order_filled", e.ticket, trade, &[TradeStatus::Pending])?;
    not_before(
        Rule::FillBeforeOrder,
        "entry_time",
        e.entry_time,
        trade.entry_time,
    )
}

fn check_cancel(state: &impl Lookup, e: &OrderCancelled) -> Result<(), CheckError> {
    let trade = known_trade(state, e.ticket)?;
    status_is("order_cancelled", e.ticket, trade, &[TradeStatus::Pending])?;
    not_before(Rule::CancelBeforeOrder, "time", e.time, trade.entry_time)
}

fn check_modify(state: &impl Lookup, e: &TradeModified) -> Result<(), CheckError> {
    let trade = known_trade(state, e.ticket)?;
    let live = [TradeStatus::Open, TradeStatus::Pending];
    status_is("trade_modified", e.ticket, trade, &live)
}

fn check_close(state: &impl Lookup, e: &TradeClosed) -> Result<(), CheckError> {
    let trade = known_trade(state, e.ticket)?;
    status_is("trade_closed", e.ticket, trade, &[TradeStatus::Open])?;
    not_before(
        Rule::ExitBeforeEntry,
        "exit_time",
        e.exit_time,
        trade.entry_time,
    )
}

fn check_link(state: &impl Lookup, e: &SignalExecuted) -> Result<(), CheckError> {
    unexecuted_signal(state, e.signal_id)?;
    let trade = known_trade(state, e.ticket)?;
    if trade.status == TradeStatus::Failed {
        let detail = format!("signal_executed of ticket {}, which is FAILED", e.ticket);
        return Err(violation(Rule::IllegalStatusChange, "ticket", detail));
    }
    Ok(())
}

/// The projections plus the effects of the events of a batch checked so far. Only what the
/// rules read is kept (status and entry time per ticket, executed per signal), for the
/// tickets and signal ids the batch touched.
pub(crate) struct Overlay<'a, L: Lookup> {
    base: &'a L,
    trades: FxHashMap<u64, TradeBrief>,
    signals: FxHashMap<u64, bool>,
}

impl<L: Lookup> Lookup for Overlay<'_, L> {
    fn trade(&self, ticket: u64) -> Result<Option<TradeBrief>, Damage> {
        match self.trades.get(&ticket) {
            Some(trade) => Ok(Some(*trade)),
            None => self.base.trade(ticket),
        }
    }

    fn signal_executed(&self, signal_id: u64) -> Result<Option<bool>, Damage> {
        match self.signals.get(&signal_id) {
            Some(executed) => Ok(Some(*executed)),
            None => self.base.signal_executed(signal_id),
        }
    }
}

impl<'a, L: Lookup> Overlay<'a, L> {
    pub fn new(base: &'a L) -> Overlay<'a, L> {
        Overlay {
            base,
            trades: FxHashMap::default(),
            signals: FxHashMap::default(),
        }
    }

    /// Records the effect of an event that passed `check_event` (the §4 lifecycle).
    pub fn record(&mut self, event: &Event) -> Result<(), Damage> {
        match event {
            Event::Signal(e) => self.set_signal(e.signal_id, false),
            Event::TradeOpened(e) => {
                self.set_trade(e.ticket, e.status.into(), e.entry_time);
                if let Some(signal_id) = e.signal_id {
                    self.set_signal(signal_id, true);
                }
            }
            Event::OrderFailed(e) => self.set_trade(e.ticket, TradeStatus::Failed, e.entry_time),
            Event::OrderFilled(e) => self.set_trade(e.ticket, TradeStatus::Open, e.entry_time),
            Event::OrderCancelled(e) => self.set_status(e.ticket, TradeStatus::Cancelled)?,
            Event::TradeClosed(e) => self.set_status(e.ticket, TradeStatus::Closed)?,
            Event::SignalExecuted(e) => self.set_signal(e.signal_id, true),
            Event::TradeModified(_) | Event::AccountSnapshot(_) => {}
        }
        Ok(())
    }

    fn set_signal(&mut self, signal_id: u64, executed: bool) {
        self.signals.insert(signal_id, executed);
    }

    fn set_trade(&mut self, ticket: u64, status: TradeStatus, entry_time: Timestamp) {
        self.trades
            .insert(ticket, TradeBrief { status, entry_time });
    }

    fn set_status(&mut self, ticket: u64, status: TradeStatus) -> Result<(), Damage> {
        if let Some(trade) = self.trade(ticket)? {
            self.set_trade(ticket, status, trade.entry_time);
        }
        Ok(())
    }
}

impl Projections {
    /// Checks one event against the stateless rules, then the current state (§3).
    pub fn check(&self, event: &Event) -> Result<(), CheckError> {
        contract::validate(event)?;
        self.intact()?;
        check_event(self, event)
    }

    /// Checks every event of `events` against the stateless rules, then each in order against
    /// the state plus the earlier events of the batch, without changing `self`. Reports the
    /// index of the first refused event: the first that breaks a stateless rule if any does
    /// (as import reports the first refused line of a file before it looks at the state).
    pub fn check_batch(&self, events: &[Event]) -> Result<(), (usize, CheckError)> {
        for (index, event) in events.iter().enumerate() {
            contract::validate(event).map_err(|violation| (index, violation.into()))?;
        }
        self.intact().map_err(|damage| (0, damage.into()))?;
        let mut overlay = Overlay::new(self);
        for (index, event) in events.iter().enumerate() {
            check_event(&overlay, event).map_err(|v| (index, v))?;
            // No later event reads the last one's effect (recording it would allocate the
            // overlay's tables for a batch of one event). Its check read the same state.
            if index + 1 < events.len() {
                overlay.record(event).map_err(|d| (index, d.into()))?;
            }
        }
        Ok(())
    }
}
