"""Refusals: the same as `tradeledger import`'s, raised as RefusedError with the rule, the field
and the index in the list; nothing of the batch is appended."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import T0, json_lines
from sample import closed, opened, signal

import tradeledger

# What the journal holds before each case: trade 1 open, trade 2 closed, signal 1 executed.
SETUP = [opened(1), opened(2, signal_id=1), closed(2)]
SETUP.insert(1, signal(1))

# (batch, index, field, rule): the contract's rules (docs/INTERCHANGE.md §3) and errors of type.
CASES = {
    "non-positive price": (
        [opened(10), opened(11, entry_price="-1.2")],
        1,
        "entry_price",
        "non-positive price or volume",
    ),
    "zero volume": ([opened(10, volume=Decimal("0"))], 0, "volume", "non-positive price or volume"),
    "ratio above 1": ([signal(5, confidence=1.5)], 0, "confidence", "ratio outside [0, 1]"),
    "NaN ratio": ([signal(5, ml_confidence=float("nan"))], 0, "ml_confidence", "ratio outside [0, 1]"),
    "invalid symbol": ([opened(10, symbol="EUR USD")], 0, "symbol", "invalid symbol"),
    "text over its limit": ([signal(5, strategy_name="x" * 51)], 0, "strategy_name", "text over its limit"),
    "duplicate ticket in the journal": ([opened(10), opened(1)], 1, "ticket", "duplicate ticket"),
    "duplicate ticket in the batch": ([opened(10), opened(11), opened(10)], 2, "ticket", "duplicate ticket"),
    "duplicate signal_id": ([signal(1)], 0, "signal_id", "duplicate signal_id"),
    "unknown ticket": ([closed(99)], 0, "ticket", "unknown ticket"),
    "unknown signal_id": ([opened(10, signal_id=77)], 0, "signal_id", "unknown signal_id"),
    "close of a closed trade": ([closed(1), closed(2)], 1, "ticket", "illegal status change"),
    "signal already executed": ([opened(10, signal_id=1)], 0, "signal_id", "signal already executed"),
    "exit before entry": (
        [closed(1, exit_time=T0 - timedelta(seconds=1))],
        0,
        "exit_time",
        "exit_time before entry_time",
    ),
    "missing field": ([closed(1, profit=None)], 0, "profit", None),
    "unknown field": ([opened(10, profitt="1")], 0, "profitt", None),
    "unknown event": ([{"event": "trade_deleted", "ticket": 1}], 0, "event", None),
    "wrong type": ([opened(10), opened(11, account_number="11")], 1, "account_number", None),
    "timestamp without offset": ([opened(10, entry_time="2024-01-02T10:00:00")], 0, "entry_time", None),
    "bad enum": ([opened(10, trade_type="HOLD")], 0, "trade_type", None),
}

# Only for Python: values that have no JSON Lines form.
PYTHON_CASES = {
    "naive datetime": (
        [opened(10), opened(11, entry_time=datetime(2024, 1, 2, 10, 0))],
        1,
        "entry_time",
        None,
    ),
    "a date": ([opened(10, entry_time=T0.date())], 0, "entry_time", None),
    "a list value": ([opened(10, volume=[1])], 0, "volume", None),
    "not a dict": ([opened(10), opened(11), "trade"], 2, None, None),
    "Decimal NaN": ([opened(10, entry_price=Decimal("NaN"))], 0, "entry_price", None),
}


@pytest.fixture
def ledger(journal):
    with tradeledger.Ledger.create(journal) as ledger:
        ledger.append(SETUP)
        yield ledger


def assert_refused(ledger, batch, index, field, rule):
    head = ledger.head_seq
    statistics, open_trades = ledger.get_trade_statistics(), ledger.get_open_trades()
    with pytest.raises(tradeledger.RefusedError) as raised:
        ledger.append(batch)
    error = raised.value
    assert (error.index, error.field, error.rule) == (index, field, rule), str(error)
    assert isinstance(error, tradeledger.TradeledgerError)
    assert str(error).startswith(f"event {index}") and "nothing was appended" in str(error)
    assert error.reason and error.reason in str(error)
    # Nothing of the batch was appended, or applied.
    assert ledger.head_seq == head
    assert ledger.get_trade_statistics() == statistics and ledger.get_open_trades() == open_trades
    return error


@pytest.mark.parametrize("name", sorted(CASES))
def test_refusal_names_rule_field_and_index(ledger, name):
    assert_refused(ledger, *CASES[name])


@pytest.mark.parametrize("name", sorted(PYTHON_CASES))
def test_python_values_without_a_json_form_are_refused(ledger, name):
    error = assert_refused(ledger, *PYTHON_CASES[name])
    if name == "naive datetime":
        assert "naive datetime" in error.reason


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_refuses_the_same_batch_the_same_way(cli, tmp_path, ledger, name):
    batch, index, field, rule = CASES[name]
    journal = tmp_path / "imported"
    setup, refused = tmp_path / "setup.jsonl", tmp_path / "batch.jsonl"
    setup.write_text(json_lines(SETUP))
    refused.write_text(json_lines(batch))
    cli.run("import", str(journal), str(setup))
    before = cli.run("dump", str(journal)).stdout
    done = cli.run("import", str(journal), str(refused), check=False)
    assert done.returncode != 0
    assert re.search(rf"line {index + 1}, field \"{re.escape(field)}\"", done.stderr), done.stderr
    if rule is None:
        assert "(rule " not in done.stderr, done.stderr
    else:
        assert f'(rule "{rule}")' in done.stderr, done.stderr
    assert cli.run("dump", str(journal)).stdout == before
    assert_refused(ledger, batch, index, field, rule)


def test_a_refused_batch_leaves_the_journal_as_it_was(cli, journal):
    with tradeledger.Ledger.create(journal) as ledger:
        ledger.append(SETUP)
    before = cli.run("dump", str(journal)).stdout
    with tradeledger.Ledger.open(journal) as ledger:
        for batch, *_ in list(CASES.values()) + list(PYTHON_CASES.values()):
            with pytest.raises(tradeledger.RefusedError):
                ledger.append(batch)
        assert ledger.head_seq == len(SETUP)
    assert cli.run("dump", str(journal)).stdout == before
    cli.run("verify", str(journal))


def test_misuse_is_a_python_error(ledger):
    with pytest.raises(TypeError, match="list of event dicts"):
        ledger.append(opened(10))
    with pytest.raises(ValueError, match="at least one event"):
        ledger.append([])
    with pytest.raises(ValueError, match="durability"):
        tradeledger.Ledger.create(ledger.path + "-other", durability="fast")


def test_a_closed_ledger_says_so(journal):
    ledger = tradeledger.Ledger.create(journal)
    ledger.close()
    ledger.close()  # twice does nothing
    assert ledger.closed
    with pytest.raises(tradeledger.TradeledgerError, match="closed"):
        ledger.append([opened(1)])
    with pytest.raises(tradeledger.TradeledgerError, match="closed"):
        ledger.get_open_trades()


def test_a_second_writer_is_refused_with_the_path(journal):
    with tradeledger.Ledger.create(journal):
        with pytest.raises(tradeledger.TradeledgerError, match=re.escape(str(journal))):
            tradeledger.Ledger.open(journal)
    with pytest.raises(tradeledger.TradeledgerError, match="cannot create"):
        tradeledger.Ledger.create(journal)
