"""tradeledger from Python: an event-sourced, append-only journal for trading systems.

Events are dicts with the JSON Lines field names of ``docs/INTERCHANGE.md`` (decimals as
``Decimal`` or ``str``, times as aware ``datetime`` or RFC 3339 ``str``). ``Ledger.append``
writes a list of them as one atomic batch, refusing exactly what ``tradeledger import``
refuses (``RefusedError``). The queries keep the names and shapes of the old repositories
(``TradeRepository.get_trade_statistics`` becomes ``Ledger.get_trade_statistics``) and give
the numbers ``tradeledger … --json`` prints, as ``Decimal`` and aware UTC ``datetime``.

See ``docs/PYTHON.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union, cast

from ._native import Ledger as _NativeLedger
from ._native import RefusedError, TradeledgerError
from .events import (
    AccountSnapshotEvent,
    EventDict,
    OrderCancelledEvent,
    OrderFailedEvent,
    OrderFilledEvent,
    SignalEvent,
    SignalExecutedEvent,
    TradeClosedEvent,
    TradeModifiedEvent,
    TradeOpenedEvent,
)

__all__ = [
    "AccountSnapshot",
    "AccountSnapshotEvent",
    "DailyPerformance",
    "EventDict",
    "Ledger",
    "OrderCancelledEvent",
    "OrderFailedEvent",
    "OrderFilledEvent",
    "RefusedError",
    "Signal",
    "SignalEvent",
    "SignalExecutedEvent",
    "Trade",
    "TradeClosedEvent",
    "TradeModifiedEvent",
    "TradeOpenedEvent",
    "TradeledgerError",
    "to_pandas",
]

UTC = _dt.timezone.utc

# How the JSON views' values become Python values (docs/INTERCHANGE.md §5): decimals and
# derived ratios are strings there and become Decimal; times become aware UTC datetimes;
# the day object's date becomes a date. Everything else (ids, counts, texts, booleans, input
# ratios as float) is already what json.loads gives.
_DECIMAL_FIELDS = frozenset(
    """volume entry_price exit_price profit pips commission swap stop_loss take_profit price
    balance equity margin margin_free margin_level total_volume win_rate total_profit
    average_profit gross_profit gross_loss profit_factor average_win average_loss largest_win
    largest_loss net_profit end_balance end_equity average_daily_profit execution_rate
    total_commission total_swap net_result max_drawdown""".split()
)
_TIME_FIELDS = frozenset(["entry_time", "exit_time", "timestamp", "snapshot_time"])
_DATE_FIELDS = frozenset(["date"])


def _utc(text: str) -> _dt.datetime:
    """``2024-01-02T10:00:00.123456789Z`` (as the views print times) as an aware datetime.

    Python's datetime holds microseconds: digits beyond them are dropped."""
    whole, _, fraction = text[:-1].partition(".")
    micros = int((fraction + "00000")[:6]) if fraction else 0
    return _dt.datetime(
        int(whole[0:4]),
        int(whole[5:7]),
        int(whole[8:10]),
        int(whole[11:13]),
        int(whole[14:16]),
        int(whole[17:19]),
        micros,
        tzinfo=UTC,
    )


def _python_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DECIMAL_FIELDS:
        return Decimal(value)
    if name in _TIME_FIELDS:
        return _utc(value)
    if name in _DATE_FIELDS:
        return _dt.date.fromisoformat(value)
    return value


def _python_object(view: Mapping[str, Any]) -> Dict[str, Any]:
    return {name: _python_value(name, value) for name, value in view.items()}


Row = TypeVar("Row", "Trade", "Signal", "AccountSnapshot", "DailyPerformance")


def _rows(cls: Type[Row], text: str) -> List[Row]:
    names = cls._field_names()
    return [cls(**{n: _python_value(n, v) for n, v in view.items() if n in names}) for view in json.loads(text)]


def _row(cls: Type[Row], text: str) -> Optional[Row]:
    view = json.loads(text)
    if view is None:
        return None
    names = cls._field_names()
    return cls(**{n: _python_value(n, v) for n, v in view.items() if n in names})


class _View:
    """What the result rows share: ``to_dict()``, as the old models had."""

    @classmethod
    def _field_names(cls) -> frozenset:
        names = cls.__dict__.get("_names")
        if names is None:
            names = frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
            cls._names = names  # type: ignore[attr-defined]
        return names

    def to_dict(self) -> Dict[str, Any]:
        """The row as a dict, field names as in ``tradeledger … --json``."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Trade(_View):
    """A trade object (``docs/INTERCHANGE.md`` §5), as ``tradeledger trades --json`` prints it."""

    ticket: int
    symbol: str
    trade_type: str
    status: str
    volume: Decimal
    entry_price: Decimal
    entry_time: _dt.datetime
    exit_price: Optional[Decimal]
    exit_time: Optional[_dt.datetime]
    profit: Optional[Decimal]
    pips: Optional[Decimal]
    commission: Decimal
    swap: Decimal
    duration_seconds: Optional[int]
    stop_loss: Optional[Decimal]
    take_profit: Optional[Decimal]
    magic_number: int
    account_number: Optional[int]
    strategy_name: Optional[str]
    signal_id: Optional[int]
    signal_confidence: Optional[float]
    signal_reason: Optional[str]
    ml_enhanced: bool
    ml_confidence: Optional[float]
    ai_approved: bool
    ai_reasoning: Optional[str]
    comment: Optional[str]
    close_reason: Optional[str]


@dataclass(frozen=True)
class Signal(_View):
    """A signal object (§5), as ``tradeledger signals --json`` prints it."""

    signal_id: int
    symbol: str
    signal_type: str
    timestamp: _dt.datetime
    price: Decimal
    stop_loss: Optional[Decimal]
    take_profit: Optional[Decimal]
    confidence: float
    reason: Optional[str]
    strategy_name: str
    timeframe: str
    ml_enhanced: bool
    ml_confidence: Optional[float]
    ml_agreed: Optional[bool]
    executed: bool
    execution_reason: Optional[str]
    ticket: Optional[int]


@dataclass(frozen=True)
class AccountSnapshot(_View):
    """A snapshot object (§5), as ``tradeledger snapshots --json`` prints it."""

    account_number: int
    server: str
    broker: str
    balance: Decimal
    equity: Decimal
    profit: Optional[Decimal]
    margin: Optional[Decimal]
    margin_free: Optional[Decimal]
    margin_level: Optional[Decimal]
    open_positions: int
    total_volume: Decimal
    snapshot_time: _dt.datetime


@dataclass(frozen=True)
class DailyPerformance(_View):
    """A day object (§5), as ``tradeledger daily --json`` prints it."""

    date: _dt.date
    account_number: Optional[int]
    total_trades: int
    winning_trades: int
    losing_trades: int
    breakeven_trades: int
    gross_profit: Decimal
    gross_loss: Decimal
    net_profit: Decimal
    win_rate: Decimal
    profit_factor: Optional[Decimal]
    average_win: Optional[Decimal]
    average_loss: Optional[Decimal]
    largest_win: Optional[Decimal]
    largest_loss: Optional[Decimal]
    end_balance: Optional[Decimal]
    end_equity: Optional[Decimal]
    total_commission: Decimal
    total_swap: Decimal
    net_result: Decimal


TimeBound = Union[_dt.datetime, _dt.date, str, None]
DateBound = Union[_dt.date, str, None]


def _time_bound(name: str, value: TimeBound, end: bool) -> Optional[str]:
    """A query's time bound as RFC 3339 text. As on the command line, a date means its first
    nanosecond as a start and its last as an end (UTC). A naive datetime is refused."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name}: a naive datetime is refused (the old system mixed local and UTC "
                "times): give an aware datetime, e.g. with tzinfo=timezone.utc"
            )
        return value.astimezone(UTC).isoformat()
    if isinstance(value, _dt.date):
        value = value.isoformat()
    if isinstance(value, str):
        if len(value) == 10:  # YYYY-MM-DD
            return value + ("T23:59:59.999999999Z" if end else "T00:00:00Z")
        return value
    raise TypeError(f"{name}: expected an aware datetime, a date or a str, got {type(value).__name__}")


def _date_bound(name: str, value: DateBound) -> Optional[str]:
    """A query's day bound as ``YYYY-MM-DD``; an aware datetime counts as its UTC day."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name}: a naive datetime is refused: give a date or an aware datetime")
        return value.astimezone(UTC).date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"{name}: expected a date or a str YYYY-MM-DD, got {type(value).__name__}")


class Ledger:
    """A journal open for writing, with its live projections (trades, signals, snapshots,
    daily performance).

    Create one with ``Ledger.create(path)`` or ``Ledger.open(path)``; use it in a ``with``
    block, or call ``close()``, which flushes and writes a checkpoint. One process writes a
    journal at a time; threads of that process share one ``Ledger``.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _NativeLedger) -> None:
        self._native = native

    @classmethod
    def create(
        cls,
        path: Union[str, "os.PathLike[str]"],
        durability: str = "buffered",
        *,
        segment_size_bytes: Optional[int] = None,
        checkpoint_every_records: Optional[int] = None,
    ) -> "Ledger":
        """Creates a journal in ``path`` (a folder, empty or missing).

        ``durability``: ``"buffered"`` (appends survive a crash of the process, a machine
        crash loses what was not yet synced), ``"sync"`` (each append returns once on stable
        storage; concurrent appends share a flush) or ``"periodic:<ms>"``."""
        return cls(
            _NativeLedger.create(
                os.fspath(path),
                durability,
                segment_size_bytes=segment_size_bytes,
                checkpoint_every_records=checkpoint_every_records,
            )
        )

    @classmethod
    def open(cls, path: Union[str, "os.PathLike[str]"], *, read_only: bool = False) -> "Ledger":
        """Opens the journal in ``path`` for writing (recovery, checkpoint, replay).

        With ``read_only=True``: loads its state without its lock and writes nothing, as the
        command line's queries do, so a journal another process is writing can be read (a
        dashboard, a report). The queries then answer as of the open: open it again to see
        what was appended since. ``append`` raises ``TradeledgerError``."""
        if read_only:
            return cls(_NativeLedger.open_read_only(os.fspath(path)))
        return cls(_NativeLedger.open(os.fspath(path)))

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"head_seq={self.head_seq}" + (" read-only" if self.read_only else "")
        return f"<tradeledger.Ledger {self.path!r} {state}>"

    @property
    def path(self) -> str:
        """The journal's folder."""
        return os.fspath(self._native.path)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._native.closed

    @property
    def read_only(self) -> bool:
        """Whether it was opened with ``read_only=True``."""
        return self._native.read_only

    @property
    def durability(self) -> str:
        """``"buffered"``, ``"sync"`` or ``"periodic:<ms>"``, as the journal was created."""
        return self._native.durability

    @property
    def head_seq(self) -> int:
        """The seq of the last record appended (0 for an empty journal)."""
        return self._native.head_seq

    def append(self, events: Sequence[Union[EventDict, Dict[str, Any]]]) -> Tuple[int, int]:
        """Appends ``events`` as one atomic batch and returns ``(first_seq, last_seq)``.

        Each event is a dict with the JSON Lines field names, ``"event"`` naming its kind.
        A refused event raises ``RefusedError`` (``rule``, ``field``, ``index``, ``reason``)
        and nothing of the batch is appended. The GIL is released while the batch is checked
        and written."""
        return self._native.append(events)

    def close(self) -> None:
        """Flushes, writes a checkpoint and releases the journal. Closing twice does nothing."""
        self._native.close()

    # TradeRepository

    def get_by_ticket(self, ticket: int) -> Optional[Trade]:
        """The trade with this ticket, or ``None``."""
        return _row(Trade, self._native.trade_by_ticket(ticket))

    def get_open_trades(self, symbol: Optional[str] = None) -> List[Trade]:
        """OPEN trades, by (entry_time, ticket); of ``symbol`` only when given (exact)."""
        return _rows(Trade, self._native.trades(status="OPEN", symbol=symbol))

    def get_trades_by_date_range(self, start_date: TimeBound, end_date: TimeBound) -> List[Trade]:
        """Trades of any status whose entry_time is in ``[start_date, end_date]``, by
        (entry_time, ticket); either bound may be ``None``."""
        return self.get_trades(start=start_date, end=end_date)

    def get_trades(
        self,
        *,
        status: Optional[str] = None,
        symbol: Optional[str] = None,
        account_number: Optional[int] = None,
        start: TimeBound = None,
        end: TimeBound = None,
        by: str = "entry",
        strategy_name: Optional[str] = None,
        magic_number: Optional[int] = None,
    ) -> List[Trade]:
        """``tradeledger trades``: ``by="entry"`` selects any status by entry_time,
        ``by="exit"`` CLOSED trades by exit_time.

        ``strategy_name`` and ``magic_number`` select like the command line's ``--strategy``
        and ``--magic``: only trades with exactly this strategy name (case-sensitive; trades
        without a strategy are excluded when one is given) and this magic number."""
        return _rows(
            Trade,
            self._native.trades(
                status=status,
                symbol=symbol,
                account=account_number,
                start=_time_bound("start", start, end=False),
                end=_time_bound("end", end, end=True),
                by=by,
                strategy=strategy_name,
                magic=magic_number,
            ),
        )

    def get_trade_statistics(
        self,
        start_date: TimeBound = None,
        end_date: TimeBound = None,
        *,
        by: str = "exit",
        symbol: Optional[str] = None,
        account_number: Optional[int] = None,
        strategy_name: Optional[str] = None,
        magic_number: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Statistics of CLOSED trades (``tradeledger stats``): those realized in the range
        (``by="exit"``, the default) or entered in it (``by="entry"``, the old behaviour).

        ``strategy_name`` and ``magic_number`` select like the command line's ``--strategy``
        and ``--magic``: only trades with exactly this strategy name (case-sensitive; trades
        without a strategy are excluded when one is given) and this magic number."""
        text = self._native.trade_statistics(
            start=_time_bound("start_date", start_date, end=False),
            end=_time_bound("end_date", end_date, end=True),
            by=by,
            symbol=symbol,
            account=account_number,
            strategy=strategy_name,
            magic=magic_number,
        )
        return _python_object(json.loads(text))

    # SignalRepository

    def get_recent_signals(self, symbol: Optional[str] = None, limit: int = 100) -> List[Signal]:
        """The ``limit`` most recent signals, newest first (timestamp, then seq)."""
        return _rows(Signal, self._native.recent_signals(symbol=symbol, limit=limit))

    def get_signal_execution_rate(self, start_date: TimeBound = None) -> Dict[str, Any]:
        """``{"total_signals", "executed_signals", "execution_rate"}`` over signals with
        timestamp at or after ``start_date``."""
        since = _time_bound("start_date", start_date, end=False)
        return _python_object(json.loads(self._native.signal_execution_rate(since=since)))

    # AccountSnapshotRepository

    def get_latest_snapshot(self, account_number: int) -> Optional[AccountSnapshot]:
        """The snapshot of the account with the latest snapshot_time, or ``None``."""
        return _row(AccountSnapshot, self._native.latest_snapshot(account_number))

    def get_snapshots_by_date_range(
        self, account_number: int, start_date: TimeBound = None, end_date: TimeBound = None
    ) -> List[AccountSnapshot]:
        """Snapshots of the account with snapshot_time in ``[start_date, end_date]``."""
        text = self._native.snapshots_between(
            account_number,
            start=_time_bound("start_date", start_date, end=False),
            end=_time_bound("end_date", end_date, end=True),
        )
        return _rows(AccountSnapshot, text)

    # DailyPerformanceRepository

    def get_daily_performance(
        self,
        start_date: DateBound = None,
        end_date: DateBound = None,
        *,
        account_number: Optional[int] = None,
        strategy_name: Optional[str] = None,
        magic_number: Optional[int] = None,
    ) -> List[DailyPerformance]:
        """One row per UTC day on which a selected trade was closed (``tradeledger daily``),
        counting the selected trades only.

        ``strategy_name`` and ``magic_number`` select like the command line's ``--strategy``
        and ``--magic``: only trades with exactly this strategy name (case-sensitive; trades
        without a strategy are excluded when one is given) and this magic number."""
        text = self._native.daily_performance(
            start=_date_bound("start_date", start_date),
            end=_date_bound("end_date", end_date),
            account=account_number,
            strategy=strategy_name,
            magic=magic_number,
        )
        return _rows(DailyPerformance, text)

    def get_daily_performance_by_date(
        self,
        target_date: DateBound,
        *,
        account_number: Optional[int] = None,
        strategy_name: Optional[str] = None,
        magic_number: Optional[int] = None,
    ) -> Optional[DailyPerformance]:
        """The row of one day (``DailyPerformanceRepository.get_by_date``), or ``None``.

        ``strategy_name`` and ``magic_number`` select like the command line's ``--strategy``
        and ``--magic``: only trades with exactly this strategy name (case-sensitive; trades
        without a strategy are excluded when one is given) and this magic number."""
        rows = self.get_daily_performance(
            target_date,
            target_date,
            account_number=account_number,
            strategy_name=strategy_name,
            magic_number=magic_number,
        )
        return rows[0] if rows else None

    def get_performance_summary(
        self,
        start_date: DateBound = None,
        end_date: DateBound = None,
        *,
        account_number: Optional[int] = None,
        strategy_name: Optional[str] = None,
        magic_number: Optional[int] = None,
    ) -> Dict[str, Any]:
        """``tradeledger summary``: days, winning/losing/breakeven days, trades, profit.

        ``strategy_name`` and ``magic_number`` select like the command line's ``--strategy``
        and ``--magic``: only trades with exactly this strategy name (case-sensitive; trades
        without a strategy are excluded when one is given) and this magic number."""
        text = self._native.performance_summary(
            start=_date_bound("start_date", start_date),
            end=_date_bound("end_date", end_date),
            account=account_number,
            strategy=strategy_name,
            magic=magic_number,
        )
        return _python_object(json.loads(text))


def to_pandas(rows: Union[Iterable[Any], Mapping[str, Any]], *, decimals: str = "decimal") -> Any:
    """A ``pandas.DataFrame`` of query results: a list of rows (``Trade``, ``Signal``,
    ``AccountSnapshot``, ``DailyPerformance``) or one result dict (one row).

    Times become ``datetime64[ns, UTC]`` columns. Decimals stay exact ``Decimal`` objects
    (``decimals="decimal"``) or become ``float64`` (``decimals="float"``). Needs pandas
    (``pip install pandas``), which the package does not require."""
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas needs pandas: pip install pandas") from error
    if decimals not in ("decimal", "float"):
        raise ValueError(f'decimals must be "decimal" or "float", got {decimals!r}')
    records: List[Dict[str, Any]] = []
    if isinstance(rows, Mapping):
        records.append(dict(rows))
    else:
        for row in cast(Iterable[Any], rows):
            records.append(row.to_dict() if isinstance(row, _View) else dict(row))
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:
        if column in _TIME_FIELDS:
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
        elif column in _DECIMAL_FIELDS and decimals == "float":
            frame[column] = frame[column].map(lambda value: None if value is None else float(value)).astype("float64")
    return frame
