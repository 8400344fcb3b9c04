"""kill -9 of a Python writer: every event it acknowledged survives, and no batch is torn."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tradeledger

WRITER = Path(__file__).with_name("kill_writer.py")
BATCH = 10


@pytest.mark.parametrize("durability", ["buffered", "sync"])
def test_every_acknowledged_event_survives_kill_9(cli, journal, durability):
    errors = journal.parent / "writer.stderr"
    with open(errors, "w") as stderr:
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), str(journal), durability],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    acknowledged = []
    try:
        for line in writer.stdout:
            acknowledged.append(line)
            if len(acknowledged) >= 200:
                break
        assert acknowledged, errors.read_text()
        time.sleep(random.uniform(0, 0.02))  # the kill lands anywhere in an append
        os.kill(writer.pid, signal.SIGKILL)
        # Every line printed before the kill was acknowledged: read them all, those already
        # buffered on this side included, up to the end of the pipe.
        acknowledged += writer.stdout.read().splitlines(keepends=True)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == -signal.SIGKILL
    complete = [line.split() for line in acknowledged if line.endswith("\n")]
    last_ticket, last_seq = (int(field) for field in complete[-1])
    assert last_ticket == len(complete) * BATCH

    with tradeledger.Ledger.open(journal) as ledger:
        assert ledger.head_seq >= last_seq
        trades = ledger.get_open_trades()
        tickets = [trade.ticket for trade in trades]
        # Every acknowledged ticket is there; what was in flight at the kill may be too, but
        # only as whole batches.
        assert tickets[:last_ticket] == list(range(1, last_ticket + 1))
        assert tickets == list(range(1, len(tickets) + 1))
        assert len(tickets) % BATCH == 0
        assert ledger.head_seq == len(tickets)
    cli.run("verify", str(journal))
