"""The extension module that ``tradeledger`` wraps; use ``tradeledger.Ledger``."""

from typing import Any, Optional, Sequence, Tuple, final

__all__ = ["TradeledgerError", "RefusedError", "Ledger"]

class TradeledgerError(Exception):
    """A failure of the journal: I/O, damage, a closed ledger, a query that overflowed."""

class RefusedError(TradeledgerError):
    """An append refused by the contract; nothing of the batch was appended."""

    rule: Optional[str]
    """The rule of docs/INTERCHANGE.md §3 (``"duplicate ticket"``), ``None`` for a value of
    the wrong type, a missing or an unknown field."""
    field: Optional[str]
    """The field to blame (``"entry_price"``), ``None`` when the event as a whole is refused."""
    index: int
    """The position of the refused event in the list given to ``append``, from 0."""
    reason: str
    """What is wrong, for a person to read."""

@final
class Ledger:
    @staticmethod
    def create(
        path: str,
        durability: str = "buffered",
        segment_size_bytes: Optional[int] = None,
        checkpoint_every_records: Optional[int] = None,
    ) -> Ledger: ...
    @staticmethod
    def open(path: str) -> Ledger: ...
    @staticmethod
    def open_read_only(path: str) -> Ledger: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def durability(self) -> str: ...
    @property
    def head_seq(self) -> int: ...
    def append(self, events: Sequence[Any]) -> Tuple[int, int]: ...
    def close(self) -> None: ...
    def _convert_only(self, events: Sequence[Any]) -> int:
        """Converts ``events`` as ``append`` does and appends nothing (the benchmark's profile)."""
    def trade_by_ticket(self, ticket: int) -> str: ...
    def trades(
        self,
        status: Optional[str] = None,
        symbol: Optional[str] = None,
        account: Optional[int] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        by: str = "entry",
        strategy: Optional[str] = None,
        magic: Optional[int] = None,
    ) -> str: ...
    def trade_statistics(
        self,
        start: Optional[str] = None,
        end: Optional[str] = None,
        by: str = "exit",
        symbol: Optional[str] = None,
        account: Optional[int] = None,
        strategy: Optional[str] = None,
        magic: Optional[int] = None,
    ) -> str: ...
    def recent_signals(self, symbol: Optional[str] = None, limit: int = 100) -> str: ...
    def signal_execution_rate(self, since: Optional[str] = None) -> str: ...
    def latest_snapshot(self, account: int) -> str: ...
    def snapshots_between(self, account: int, start: Optional[str] = None, end: Optional[str] = None) -> str: ...
    def daily_performance(
        self,
        start: Optional[str] = None,
        end: Optional[str] = None,
        account: Optional[int] = None,
        strategy: Optional[str] = None,
        magic: Optional[int] = None,
    ) -> str: ...
    def performance_summary(
        self,
        start: Optional[str] = None,
        end: Optional[str] = None,
        account: Optional[int] = None,
        strategy: Optional[str] = None,
        magic: Optional[int] = None,
    ) -> str: ...
