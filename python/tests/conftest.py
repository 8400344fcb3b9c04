"""Shared fixtures: the command-line tool to compare against, and a small trading history."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc
T0 = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)


def _cli_path() -> Path:
    """The `tradeledger` binary: $TRADELEDGER_BIN, else the repository's debug or release build,
    else built now (`cargo build`)."""
    given = os.environ.get("TRADELEDGER_BIN")
    if given:
        return Path(given)
    for profile in ("debug", "release"):
        built = ROOT / "target" / profile / "tradeledger"
        if built.exists():
            return built
    subprocess.run(["cargo", "build", "--bin", "tradeledger"], cwd=ROOT, check=True)
    return ROOT / "target" / "debug" / "tradeledger"


class Cli:
    """Runs `tradeledger` and reads what it prints."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(self.path), *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"tradeledger {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def dump(self, journal: Path) -> List[Dict[str, Any]]:
        return [json.loads(line) for line in self.run("dump", str(journal)).stdout.splitlines()]


@pytest.fixture(scope="session")
def cli() -> Cli:
    path = _cli_path()
    assert path.exists(), f"no tradeledger binary at {path}"
    return Cli(path)


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal"


def history() -> List[List[Dict[str, Any]]]:
    """Batches of a small trading history touching every event kind and value form: Decimal,
    decimal strings, ints, aware datetimes in UTC and at other offsets, RFC 3339 strings,
    optional fields absent, null and set, lower-case enum names."""
    paris = timezone(timedelta(hours=1))
    return [
        [
            {
                "event": "signal",
                "signal_id": 1,
                "symbol": "EURUSD",
                "signal_type": "buy",
                "timestamp": T0,
                "price": Decimal("1.10450"),
                "confidence": 0.8,
                "strategy_name": "ma_crossover",
                "timeframe": "H1",
                "stop_loss": "1.10250",
                "reason": "fast MA crossed above slow MA",
                "ml_enhanced": True,
                "ml_confidence": 0.65,
                "ml_agreed": True,
            },
            {
                "event": "trade_opened",
                "ticket": 1001,
                "symbol": "EURUSD",
                "trade_type": "BUY",
                "volume": Decimal("0.10"),
                "entry_price": Decimal("1.10460"),
                "entry_time": T0 + timedelta(microseconds=250_000),
                "stop_loss": Decimal("1.10250"),
                "take_profit": None,
                "account_number": 12345,
                "strategy_name": "ma_crossover",
                "signal_id": 1,
                "execution_reason": "signal above threshold",
                "signal_confidence": 0.8,
                "commission": Decimal("-0.70"),
                "comment": 'quote " and \\ backslash, café',
            },
        ],
        [
            {
                "event": "account_snapshot",
                "account_number": 12345,
                "server": "Demo-Server",
                "broker": "Demo Broker",
                "balance": Decimal("10000.00"),
                "equity": Decimal("10001.25"),
                "snapshot_time": datetime(2024, 1, 2, 11, 0, tzinfo=paris),
                "profit": "1.25",
                "margin": Decimal("110.46"),
                "margin_free": Decimal("9890.79"),
                "total_volume": Decimal("0.10"),
                "margin_level": Decimal("9054.18"),
                "open_positions": 1,
            },
            {
                "event": "trade_modified",
                "ticket": 1001,
                "time": "2024-01-02T12:00:00+02:00",
                "stop_loss": Decimal("1.10460"),
                "take_profit": "none",
            },
        ],
        [
            {
                "event": "trade_closed",
                "ticket": 1001,
                "exit_price": Decimal("1.10850"),
                "exit_time": T0 + timedelta(hours=4, minutes=30),
                "profit": Decimal("39.00"),
                "pips": Decimal("39.0"),
                "reason": "take profit",
            },
            {
                "event": "signal",
                "signal_id": 2,
                "symbol": "GBPUSD",
                "signal_type": "SELL",
                "timestamp": T0 + timedelta(days=1),
                "price": "1.27000",
                "confidence": 0.55,
                "strategy_name": "ma_crossover",
                "timeframe": "H1",
            },
            {
                "event": "trade_opened",
                "ticket": 1002,
                "symbol": "GBPUSD",
                "trade_type": "SELL",
                "volume": "0.20",
                "entry_price": "1.27010",
                "entry_time": T0 + timedelta(days=1),
                "status": "PENDING",
                "account_number": 12345,
            },
            {
                "event": "order_filled",
                "ticket": 1002,
                "entry_price": Decimal("1.27000"),
                "entry_time": T0 + timedelta(days=1, minutes=5),
            },
            {"event": "signal_executed", "signal_id": 2, "ticket": 1002, "execution_reason": "filled late"},
        ],
        [
            {
                "event": "trade_closed",
                "ticket": 1002,
                "exit_price": Decimal("1.27300"),
                "exit_time": T0 + timedelta(days=1, hours=2),
                "profit": Decimal("-60.00"),
                "commission": Decimal("-1.40"),
                "swap": Decimal("0.00"),
            },
            {
                "event": "trade_opened",
                "ticket": 1003,
                "symbol": "EURUSD",
                "trade_type": "BUY",
                "volume": 1,
                "entry_price": Decimal("1.1"),
                "entry_time": T0 + timedelta(days=2),
                "status": "pending",
            },
            {
                "event": "order_cancelled",
                "ticket": 1003,
                "time": T0 + timedelta(days=2, hours=1),
                "reason": "expired",
            },
            {
                "event": "order_failed",
                "ticket": 1004,
                "symbol": "USDJPY",
                "trade_type": "BUY",
                "volume": Decimal("0.10"),
                "entry_price": Decimal("145.123"),
                "entry_time": T0 + timedelta(days=2, hours=2),
                "reason": "requote",
            },
            {
                "event": "trade_opened",
                "ticket": 1005,
                "symbol": "EURUSD",
                "trade_type": "SELL",
                "volume": Decimal("0.05"),
                "entry_price": Decimal("1.09000"),
                "entry_time": T0 + timedelta(days=2, hours=3),
                "account_number": 12345,
            },
            {
                "event": "account_snapshot",
                "account_number": 12345,
                "server": "Demo-Server",
                "broker": "Demo Broker",
                "balance": Decimal("9979.00"),
                "equity": Decimal("9980.00"),
                "snapshot_time": T0 + timedelta(days=2, hours=4),
            },
        ],
    ]


def json_line_value(value: Any) -> Any:
    """A Python value as a JSON Lines file gives it, written independently of the binding:
    Decimal as its string, datetime by Python's own isoformat (offset kept)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return "NaN"  # as dump writes it: JSON has no NaN
    return value


def json_lines(events: List[Dict[str, Any]]) -> str:
    return "".join(json.dumps({k: json_line_value(v) for k, v in e.items()}) + "\n" for e in events)


def cli_form(value: Any) -> Any:
    """A query result's Python value as `--json` prints it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        assert value.tzinfo is UTC, value
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        return text + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def cli_object(row: Any) -> Any:
    if row is None:
        return None
    items = row.to_dict() if hasattr(row, "to_dict") else row
    return {name: cli_form(value) for name, value in items.items()}
