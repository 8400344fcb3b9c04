"""The contract's events as typed dicts (``docs/INTERCHANGE.md`` §2), for editors and type
checkers. At run time an event is a plain dict; ``Ledger.append`` checks it with the library's
own parser, whatever its static type.

Decimals may be ``Decimal`` or ``str`` (``"1.10450"``), times an aware ``datetime`` or an RFC 3339
``str`` with an offset. ``dump``'s ``seq`` and ``recorded_at`` are accepted and ignored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Optional, TypedDict, Union

Decimalish = Union[Decimal, str, int]
"""A decimal: exact, as ``Decimal``, a decimal string or an int."""
Time = Union[datetime, str]
"""A time: an aware ``datetime`` or an RFC 3339 string with an offset."""
Level = Union[Decimal, str, int]
"""A ``trade_modified`` level: a decimal, or the string ``"none"`` to remove it."""


class _SignalEventRequired(TypedDict):
    event: Literal["signal"]
    signal_id: int
    symbol: str
    signal_type: str
    timestamp: Time
    price: Decimalish
    confidence: float
    strategy_name: str
    timeframe: str


class SignalEvent(_SignalEventRequired, total=False):
    """``signal``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    stop_loss: Optional[Decimalish]
    take_profit: Optional[Decimalish]
    reason: Optional[str]
    ml_enhanced: Optional[bool]
    ml_confidence: Optional[float]
    ml_agreed: Optional[bool]


class _TradeOpenedEventRequired(TypedDict):
    event: Literal["trade_opened"]
    ticket: int
    symbol: str
    trade_type: str
    volume: Decimalish
    entry_price: Decimalish
    entry_time: Time


class TradeOpenedEvent(_TradeOpenedEventRequired, total=False):
    """``trade_opened``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    status: Optional[str]
    stop_loss: Optional[Decimalish]
    take_profit: Optional[Decimalish]
    magic_number: Optional[int]
    account_number: Optional[int]
    strategy_name: Optional[str]
    signal_id: Optional[int]
    execution_reason: Optional[str]
    signal_confidence: Optional[float]
    signal_reason: Optional[str]
    ml_enhanced: Optional[bool]
    ml_confidence: Optional[float]
    ai_approved: Optional[bool]
    ai_reasoning: Optional[str]
    commission: Optional[Decimalish]
    swap: Optional[Decimalish]
    comment: Optional[str]


class _OrderFilledEventRequired(TypedDict):
    event: Literal["order_filled"]
    ticket: int
    entry_price: Decimalish
    entry_time: Time


class OrderFilledEvent(_OrderFilledEventRequired, total=False):
    """``order_filled``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time


class _OrderCancelledEventRequired(TypedDict):
    event: Literal["order_cancelled"]
    ticket: int
    time: Time


class OrderCancelledEvent(_OrderCancelledEventRequired, total=False):
    """``order_cancelled``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    reason: Optional[str]


class _OrderFailedEventRequired(TypedDict):
    event: Literal["order_failed"]
    ticket: int
    symbol: str
    trade_type: str
    volume: Decimalish
    entry_price: Decimalish
    entry_time: Time


class OrderFailedEvent(_OrderFailedEventRequired, total=False):
    """``order_failed``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    reason: Optional[str]
    signal_id: Optional[int]
    account_number: Optional[int]
    strategy_name: Optional[str]
    magic_number: Optional[int]


class _TradeModifiedEventRequired(TypedDict):
    event: Literal["trade_modified"]
    ticket: int
    time: Time


class TradeModifiedEvent(_TradeModifiedEventRequired, total=False):
    """``trade_modified``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    stop_loss: Optional[Level]
    take_profit: Optional[Level]


class _TradeClosedEventRequired(TypedDict):
    event: Literal["trade_closed"]
    ticket: int
    exit_price: Decimalish
    exit_time: Time
    profit: Decimalish


class TradeClosedEvent(_TradeClosedEventRequired, total=False):
    """``trade_closed``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    pips: Optional[Decimalish]
    commission: Optional[Decimalish]
    swap: Optional[Decimalish]
    reason: Optional[str]


class _SignalExecutedEventRequired(TypedDict):
    event: Literal["signal_executed"]
    signal_id: int
    ticket: int


class SignalExecutedEvent(_SignalExecutedEventRequired, total=False):
    """``signal_executed``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    execution_reason: Optional[str]


class _AccountSnapshotEventRequired(TypedDict):
    event: Literal["account_snapshot"]
    account_number: int
    server: str
    broker: str
    balance: Decimalish
    equity: Decimalish
    snapshot_time: Time


class AccountSnapshotEvent(_AccountSnapshotEventRequired, total=False):
    """``account_snapshot``: the required fields, then the optional ones."""

    seq: int
    recorded_at: Time
    profit: Optional[Decimalish]
    margin: Optional[Decimalish]
    margin_free: Optional[Decimalish]
    total_volume: Optional[Decimalish]
    margin_level: Optional[Decimalish]
    open_positions: Optional[int]


EventDict = Union[
    SignalEvent,
    TradeOpenedEvent,
    OrderFilledEvent,
    OrderCancelledEvent,
    OrderFailedEvent,
    TradeModifiedEvent,
    TradeClosedEvent,
    SignalExecutedEvent,
    AccountSnapshotEvent,
]
"""Any event of the contract."""
