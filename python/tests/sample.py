"""Event dicts for the tests, with the contract's required fields filled in; keyword arguments
change or add fields (None removes nothing: it is sent as null)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

T0 = datetime(2024, 1, 2, 10, 0, tzinfo=timezone.utc)


def opened(ticket: int, **changes):
    event = {
        "event": "trade_opened",
        "ticket": ticket,
        "symbol": "EURUSD",
        "trade_type": "BUY",
        "volume": Decimal("0.10"),
        "entry_price": Decimal("1.10460"),
        "entry_time": T0,
    }
    event.update(changes)
    return event


def closed(ticket: int, **changes):
    event = {
        "event": "trade_closed",
        "ticket": ticket,
        "exit_price": Decimal("1.10850"),
        "exit_time": T0 + timedelta(hours=1),
        "profit": Decimal("39.00"),
    }
    event.update(changes)
    return event


def signal(signal_id: int, **changes):
    event = {
        "event": "signal",
        "signal_id": signal_id,
        "symbol": "EURUSD",
        "signal_type": "BUY",
        "timestamp": T0,
        "price": "1.10450",
        "confidence": 0.8,
        "strategy_name": "ma_crossover",
        "timeframe": "H1",
    }
    event.update(changes)
    return event
