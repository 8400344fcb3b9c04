"""`strategy_name` and `magic_number` on the trade and performance queries select exactly as the
command line's `--strategy` and `--magic` do."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import combinations
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from conftest import cli_object, history

import tradeledger

SELECTION = ("strategy_name", "magic_number")


def closed_trade(
    ticket: int,
    strategy: Optional[str],
    magic: int,
    symbol: str,
    account: int,
    entry: str,
    exit_time: Optional[str],
    profit: str,
) -> List[Dict[str, Any]]:
    """A trade's events: opened, and closed at `exit_time` with `profit` unless it is None."""
    opened: Dict[str, Any] = {
        "event": "trade_opened",
        "ticket": ticket,
        "symbol": symbol,
        "trade_type": "BUY",
        "volume": Decimal("0.10"),
        "entry_price": Decimal("1.10000"),
        "entry_time": entry,
        "magic_number": magic,
        "account_number": account,
        "strategy_name": strategy,
        "commission": Decimal("-0.50"),
    }
    if exit_time is None:
        return [opened]
    closed = {
        "event": "trade_closed",
        "ticket": ticket,
        "exit_price": Decimal("1.10100"),
        "exit_time": exit_time,
        "profit": Decimal(profit),
        "swap": Decimal("-0.10"),
    }
    return [opened, closed]


def strategies() -> List[Dict[str, Any]]:
    """Trades of two strategies (and a name differing only in case) and two magic numbers,
    in two accounts, after `history()`, whose trades have magic number 0 and one strategy or
    none. Closed on 2024-01-05, 06 and 07; 2006 stays open."""
    return [
        *closed_trade(2001, "breakout", 7, "EURUSD", 12345, "2024-01-05T09:00:00Z", "2024-01-05T12:00:00Z", "25.00"),
        *closed_trade(2002, "breakout", 9, "GBPUSD", 12345, "2024-01-05T10:00:00Z", "2024-01-06T11:00:00Z", "-10.00"),
        *closed_trade(
            2003, "ma_crossover", 7, "EURUSD", 67890, "2024-01-05T11:00:00Z", "2024-01-05T15:00:00Z", "15.00"
        ),
        *closed_trade(2004, "Breakout", 7, "USDJPY", 12345, "2024-01-06T09:00:00Z", "2024-01-06T10:00:00Z", "5.00"),
        *closed_trade(
            2005, "ma_crossover", 9, "EURUSD", 12345, "2024-01-06T12:00:00Z", "2024-01-07T09:00:00Z", "-20.00"
        ),
        *closed_trade(2006, "breakout", 7, "EURUSD", 12345, "2024-01-07T10:00:00Z", None, "0"),
    ]


@pytest.fixture
def selected(journal: Path):
    with tradeledger.Ledger.create(journal) as ledger:
        for batch in history():
            ledger.append(batch)
        ledger.append(strategies())
    ledger = tradeledger.Ledger.open(journal)
    yield journal, ledger
    ledger.close()


def answer(ledger: tradeledger.Ledger, command: str, kwargs: Dict[str, Any]) -> Any:
    """The Python call that `tradeledger COMMAND` answers, in the form its `--json` prints."""
    if command == "stats":
        return cli_object(ledger.get_trade_statistics(**kwargs))
    if command == "trades":
        return [cli_object(trade) for trade in ledger.get_trades(**kwargs)]
    if command == "daily":
        return [cli_object(day) for day in ledger.get_daily_performance(**kwargs)]
    if command == "summary":
        return cli_object(ledger.get_performance_summary(**kwargs))
    raise AssertionError(command)


def counted(command: str, found: Any) -> int:
    """How many trades (or days) an answer holds."""
    if command in ("stats", "summary"):
        return int(found["total_trades"])
    return len(found)


CASES: List[Tuple[str, Dict[str, Any], List[str]]] = [
    ("stats", {"strategy_name": "breakout"}, ["--strategy", "breakout"]),
    ("stats", {"magic_number": 7}, ["--magic", "7"]),
    ("stats", {"strategy_name": "breakout", "magic_number": 7}, ["--strategy", "breakout", "--magic", "7"]),
    (
        "stats",
        {"strategy_name": "ma_crossover", "by": "entry", "start_date": date(2024, 1, 5)},
        ["--strategy", "ma_crossover", "--by", "entry", "--from", "2024-01-05"],
    ),
    ("trades", {"magic_number": 7}, ["--magic", "7"]),
    ("trades", {"strategy_name": "ma_crossover"}, ["--strategy", "ma_crossover"]),
    (
        "trades",
        {"strategy_name": "ma_crossover", "magic_number": 9},
        ["--strategy", "ma_crossover", "--magic", "9"],
    ),
    ("trades", {"strategy_name": "breakout", "status": "OPEN"}, ["--strategy", "breakout", "--status", "OPEN"]),
    ("daily", {"strategy_name": "breakout"}, ["--strategy", "breakout"]),
    ("daily", {"magic_number": 9}, ["--magic", "9"]),
    (
        "daily",
        {"strategy_name": "breakout", "magic_number": 7, "account_number": 12345},
        ["--strategy", "breakout", "--magic", "7", "--account", "12345"],
    ),
    ("summary", {"magic_number": 9}, ["--magic", "9"]),
    ("summary", {"strategy_name": "breakout"}, ["--strategy", "breakout"]),
    (
        "summary",
        {"strategy_name": "ma_crossover", "magic_number": 7, "start_date": "2024-01-05"},
        ["--strategy", "ma_crossover", "--magic", "7", "--from", "2024-01-05"],
    ),
]


@pytest.mark.parametrize("command,kwargs,args", CASES)
def test_selection_equals_the_command_and_filters(cli, selected, command, kwargs, args):
    journal, ledger = selected
    found = answer(ledger, command, kwargs)
    assert found == cli.json(command, str(journal), *args)
    assert counted(command, found) > 0
    # Each of the selection's arguments, and both together, change the answer: without them
    # it is the command's without their flags, and another one.
    given = [name for name in SELECTION if name in kwargs]
    for n in range(1, len(given) + 1):
        for dropped in combinations(given, n):
            without = {k: v for k, v in kwargs.items() if k not in dropped}
            assert answer(ledger, command, without) != found, f"{command} {kwargs} without {dropped}"


def tickets(trades: List[tradeledger.Trade]) -> List[int]:
    return [trade.ticket for trade in trades]


def test_strategy_is_exact_and_case_sensitive(cli, selected):
    journal, ledger = selected
    d = str(journal)
    assert tickets(ledger.get_trades(strategy_name="breakout")) == [2001, 2002, 2006]
    assert tickets(ledger.get_trades(strategy_name="Breakout")) == [2004]
    assert ledger.get_trades(strategy_name="BREAKOUT") == [] == cli.json("trades", "--strategy", "BREAKOUT", d)
    assert ledger.get_trades(strategy_name="break") == []
    # Trades without a strategy (1002 and the others of history()) are excluded.
    assert tickets(ledger.get_trades(strategy_name="ma_crossover")) == [1001, 2003, 2005]
    assert any(trade.strategy_name is None for trade in ledger.get_trades())
    statistics = ledger.get_trade_statistics(strategy_name="Breakout")
    assert statistics["total_trades"] == 1 and statistics["total_profit"] == Decimal("5.00")
    assert cli_object(statistics) == cli.json("stats", "--strategy", "Breakout", d)
    nothing = ledger.get_performance_summary(strategy_name="BREAKOUT")
    assert nothing["total_trades"] == 0 and nothing["total_days"] == 0
    assert cli_object(nothing) == cli.json("summary", "--strategy", "BREAKOUT", d)


def test_magic_number_selects_the_trades_that_carry_it(cli, selected):
    journal, ledger = selected
    d = str(journal)
    assert tickets(ledger.get_trades(magic_number=7)) == [2001, 2003, 2004, 2006]
    assert tickets(ledger.get_trades(magic_number=9)) == [2002, 2005]
    # history()'s trades leave magic_number out: it is 0.
    assert tickets(ledger.get_trades(magic_number=0)) == [1001, 1002, 1003, 1004, 1005]
    assert [cli_object(t) for t in ledger.get_trades(magic_number=0)] == cli.json("trades", "--magic", "0", d)
    assert ledger.get_trades(magic_number=8) == []
    statistics = ledger.get_trade_statistics(magic_number=9)
    assert statistics["total_trades"] == 2 and statistics["total_profit"] == Decimal("-30.00")
    both = ledger.get_trade_statistics(strategy_name="breakout", magic_number=9)
    assert both["total_trades"] == 1 and both["total_profit"] == Decimal("-10.00")


def test_daily_performance_by_date_selects(cli, selected):
    journal, ledger = selected
    d = str(journal)
    every = ledger.get_daily_performance_by_date("2024-01-05")
    assert every is not None and every.total_trades == 2 and every.net_profit == Decimal("40.00")
    day = ledger.get_daily_performance_by_date(date(2024, 1, 5), strategy_name="breakout")
    assert day is not None and day.total_trades == 1 and day.net_profit == Decimal("25.00")
    assert [cli_object(day)] == cli.json(
        "daily", "--from", "2024-01-05", "--to", "2024-01-05", "--strategy", "breakout", d
    )
    day = ledger.get_daily_performance_by_date("2024-01-05", magic_number=7, account_number=67890)
    assert day is not None and day.total_trades == 1 and day.net_profit == Decimal("15.00")
    assert [cli_object(day)] == cli.json(
        "daily", "--from", "2024-01-05", "--to", "2024-01-05", "--magic", "7", "--account", "67890", d
    )
    assert ledger.get_daily_performance_by_date("2024-01-05", magic_number=9) is None
    assert ledger.get_daily_performance_by_date("2024-01-05", strategy_name="Breakout") is None
