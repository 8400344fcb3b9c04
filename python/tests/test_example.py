"""The example trading loop runs, and its journal holds one snapshot per cycle and a signal
for every trade."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tradeledger

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "trading_loop.py"


def test_trading_loop_journals_every_cycle(cli, journal):
    cycles = 400
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(journal), "--cycles", str(cycles)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"cycles {cycles}:" in done.stdout
    account = "5012345"
    snapshots = cli.json("snapshots", "--account", account, str(journal))
    assert len(snapshots) == cycles
    with tradeledger.Ledger.open(journal) as ledger:
        trades = ledger.get_trades()
        assert trades, done.stdout
        assert all(trade.signal_id is not None for trade in trades)
        signals = {s.signal_id: s for s in ledger.get_recent_signals(limit=100_000)}
        assert all(signals[trade.signal_id].executed for trade in trades)
        closed = [trade for trade in trades if trade.status == "CLOSED"]
        statistics = ledger.get_trade_statistics()
        assert statistics["total_trades"] == len(closed)
        assert statistics["total_profit"] == sum(trade.profit for trade in closed)
        assert ledger.get_latest_snapshot(int(account)).open_positions == len(ledger.get_open_trades())
