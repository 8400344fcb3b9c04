//! `tradeledger._native`: the extension module that `tradeledger/__init__.py` wraps.
//!
//! It binds the library's public API only. An appended event is a Python dict with the JSON
//! Lines field names (`docs/INTERCHANGE.md` §2): each dict is written as one JSON Lines line
//! (`convert.rs`) and read by the library's own parser, `model::interchange::parse_event`,
//! so the binding accepts and refuses exactly what `tradeledger import` does; the stateful
//! rules are the ledger's own check, run by `Ledger::append`. Queries run the library's query
//! methods and hand back their JSON views (the objects of `tradeledger … --json`), which the
//! Python layer turns into `Decimal`s and aware `datetime`s.

#![deny(unsafe_code)]

mod convert;
mod ledger;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    tradeledger,
    TradeledgerError,
    PyException,
    "A failure of the journal: I/O, damage, a closed ledger, a query that overflowed."
);
create_exception!(
    tradeledger,
    RefusedError,
    TradeledgerError,
    "An append refused by the contract: `rule`, `field`, `index` and `reason` say which event, \
     where and why. Nothing of the batch was appended."
);

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TradeledgerError", py.get_type::<TradeledgerError>())?;
    m.add("RefusedError", py.get_type::<RefusedError>())?;
    m.add_class::<ledger::NativeLedger>()?;
    Ok(())
}
