//! The JSON Lines interchange format (`docs/INTERCHANGE.md` §1, §2 and the stateless rules of
//! §3): reading events from `import` files and writing them as `dump` prints them.
//!
//! This module checks each line on its own. The stateless rules it applies to values are those
//! of `crate::model::contract`, which the library's appends apply too. Rules that need the journal's state (duplicate
//! ids, unknown references, status changes, exit before entry) are checked elsewhere, against
//! the journal, with the line numbers this reader returns.
//!
//! Choices where the contract is silent are listed at the end of `docs/INTERCHANGE.md`
//! ("Interpretations in tradeledger").

mod decimal;
mod lines;
mod object;
mod parse;
mod value;
mod write;

pub use lines::{read_events, EventReader, MAX_LINE_BYTES};
pub use parse::parse_event;
pub use write::{
    decimal_to_json, event_fields, price_update_to_json, ratio_to_json, timestamp_to_json,
    write_event, write_object,
};

use crate::model::contract::{self, Rule};
use crate::model::event::EventKind;

/// How many characters of a field name an error message quotes.
const SHOWN_NAME_CHARS: usize = 64;

/// Why one line was refused: the field (when the problem is in one), the reason, and the
/// stateless rule of §3 (`crate::model::contract`) when a well-typed value breaks one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}{}", field_prefix(.field), rule_suffix(.rule))]
pub struct FieldError {
    /// The field, or the key as written for an unknown field or duplicate key.
    pub field: Option<String>,
    /// What is wrong, for a person to read.
    pub reason: String,
    /// The stateless rule of §3 the value breaks; `None` for a value of the wrong type, a
    /// missing or unknown field, or malformed JSON, which break no named rule.
    pub rule: Option<Rule>,
}

/// A refused line of an input file: `line 7, field "entry_price": must be a positive decimal,
/// got "-1.2" (rule "non-positive price or volume")`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}{reason}{}", line_separator(.field), rule_suffix(.rule))]
pub struct InputError {
    /// 1-based line number.
    pub line: u64,
    /// The field to blame, or the key as written for an unknown field or duplicate key;
    /// `None` when the line as a whole is refused (malformed JSON, too long).
    pub field: Option<String>,
    /// What is wrong, for a person to read.
    pub reason: String,
    /// The stateless rule of §3 the value breaks; `None` when it breaks no named rule.
    pub rule: Option<Rule>,
}

impl FieldError {
    /// A problem in the field `name`.
    pub fn in_field(name: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: Some(name.into()),
            reason: reason.into(),
            rule: None,
        }
    }

    /// A problem with the line as a whole.
    pub fn whole_line(reason: impl Into<String>) -> FieldError {
        FieldError {
            field: None,
            reason: reason.into(),
            rule: None,
        }
    }

    /// This error, found on the 1-based line `line`.
    pub fn at_line(self, line: u64) -> InputError {
        InputError {
            line,
            field: self.field,
            reason: self.reason,
            rule: self.rule,
        }
    }
}

/// ` (rule "non-positive price or volume")`, as import names a rule of §3.
fn rule_suffix(rule: &Option<Rule>) -> String {
    rule.map_or(String::new(), |rule| format!(" (rule \"{rule}\")"))
}

/// `field "name": ` — the name quoted with escapes and shortened, since it may come from input.
fn field_prefix(field: &Option<String>) -> String {
    field.as_deref().map_or(String::new(), |name| {
        let name = contract::shorten(name, SHOWN_NAME_CHARS);
        format!("field \"{}\": ", name.escape_debug())
    })
}

fn line_separator(field: &Option<String>) -> String {
    match field {
        Some(_) => format!(", {}", field_prefix(field)),
        None => ": ".into(),
    }
}

/// The fields of an event kind, in the order `dump` writes them (after `event`, `seq` and
/// `recorded_at`). Any other key in an input line is an unknown field.
pub fn field_names(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Signal => &[
            "signal_id",
            "symbol",
            "signal_type",
            "timestamp",
            "price",
            "confidence",
            "strategy_name",
            "timeframe",
            "stop_loss",
            "take_profit",
            "reason",
            "ml_enhanced",
            "ml_confidence",
            "ml_agreed",
        ],
        EventKind::TradeOpened => &[
            "ticket",
            "symbol",
            "trade_type",
            "volume",
            "entry_price",
            "entry_time",
            "status",
            "stop_loss",
            "take_profit",
            "magic_number",
            "account_number",
            "strategy_name",
            "signal_id",
            "execution_reason",
            "signal_confidence",
            "signal_reason",
            "ml_enhanced",
            "ml_confidence",
            "ai_approved",
            "ai_reasoning",
            "commission",
            "swap",
            "comment",
        ],
        EventKind::OrderFilled => &["ticket", "entry_price", "entry_time"],
        EventKind::OrderCancelled => &["ticket", "time", "reason"],
        EventKind::OrderFailed => &[
            "ticket",
            "symbol",
            "trade_type",
            "volume",
            "entry_price",
            "entry_time",
            "reason",
            "signal_id",
            "account_number",
            "strategy_name",
            "magic_number",
        ],
        EventKind::TradeModified => &["ticket", "time", "stop_loss", "take_profit"],
        EventKind::TradeClosed => &[
            "ticket",
            "exit_price",
            "exit_time",
            "profit",
            "pips",
            "commission",
            "swap",
            "reason",
        ],
        EventKind::SignalExecuted => &["signal_id", "ticket", "execution_reason"],
        EventKind::AccountSnapshot => &[
            "account_number",
            "server",
            "broker",
            "balance",
            "equity",
            "snapshot_time",
            "profit",
            "margin",
            "margin_free",
            "total_volume",
            "margin_level",
            "open_positions",
        ],
    }
}

#[cfg(test)]
mod tests;
