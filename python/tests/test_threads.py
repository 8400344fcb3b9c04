"""Appends from several Python threads into one Ledger, while another thread queries."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import tradeledger

START = datetime(2024, 1, 2, tzinfo=timezone.utc)


def batch(ident: int):
    at = START + timedelta(seconds=ident)
    return [
        {
            "event": "signal",
            "signal_id": ident,
            "symbol": "EURUSD",
            "signal_type": "BUY",
            "timestamp": at,
            "price": Decimal("1.10450"),
            "confidence": 0.5,
            "strategy_name": "threads",
            "timeframe": "M1",
        },
        {
            "event": "trade_opened",
            "ticket": ident,
            "symbol": "EURUSD",
            "trade_type": "BUY",
            "volume": Decimal("0.01"),
            "entry_price": Decimal("1.10460"),
            "entry_time": at,
            "signal_id": ident,
        },
    ]


@pytest.mark.parametrize("durability,per_thread", [("buffered", 500), ("sync", 100)])
def test_appends_from_several_threads(journal, durability, per_thread):
    threads_count = 4
    ranges = [[] for _ in range(threads_count)]
    failures = []
    done = threading.Event()
    seen_heads = []

    with tradeledger.Ledger.create(journal, durability) as ledger:

        def write(n: int) -> None:
            try:
                for i in range(per_thread):
                    ranges[n].append(ledger.append(batch(n * 1_000_000 + i + 1)))
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        def read() -> None:
            try:
                while not done.is_set():
                    seen_heads.append(ledger.get_signal_execution_rate()["total_signals"])
                    ledger.get_open_trades()
            except BaseException as error:
                failures.append(error)

        writers = [threading.Thread(target=write, args=(n,)) for n in range(threads_count)]
        reader = threading.Thread(target=read)
        reader.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        reader.join()
        assert not failures, failures

        total = threads_count * per_thread * 2
        seqs = sorted(seq for rs in ranges for first, last in rs for seq in range(first, last + 1))
        assert seqs == list(range(1, total + 1))  # each batch its own seqs, none lost or shared
        for rs in ranges:
            assert all(last == first + 1 for first, last in rs)
            assert [first for first, _ in rs] == sorted(first for first, _ in rs)
        assert ledger.head_seq == total
        assert seen_heads == sorted(seen_heads)  # the reader saw whole batches, in order
        rate = ledger.get_signal_execution_rate()
        assert rate["total_signals"] == threads_count * per_thread
        assert rate["execution_rate"] == Decimal("100")  # each signal with its trade

    with tradeledger.Ledger.open(journal) as reopened:
        assert reopened.head_seq == total
        assert len(reopened.get_open_trades()) == threads_count * per_thread
