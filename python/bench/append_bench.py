"""Appends from Python: events/s in batches of 100 and one event per append.

Writes a table on stdout and the figures as JSON to target/python-append-bench.json (the
repository's target/ folder). The events are built before the clock starts: what is timed is
Ledger.append (the conversion of the dicts, the contract's checks, the write, the projections),
and, for the profile, the conversion alone. Run from the repository's root:

    python python/bench/append_bench.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import tradeledger

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START = datetime(2024, 1, 2, tzinfo=timezone.utc)


def events(count: int, first_id: int = 1) -> list:
    """A trading loop's events, `count` of them: per cycle a signal, a fill linked to it, its
    close and an account snapshot (the mix of the old bot's cycle)."""
    out: list = []
    ident = first_id
    while len(out) < count:
        at = START + timedelta(minutes=ident)
        price = Decimal("1.10000") + Decimal(ident % 500) / Decimal("100000")
        cycle = [
            {
                "event": "signal",
                "signal_id": ident,
                "symbol": "EURUSD",
                "signal_type": "BUY",
                "timestamp": at,
                "price": price,
                "confidence": 0.75,
                "strategy_name": "ma_crossover",
                "timeframe": "H1",
            },
            {
                "event": "trade_opened",
                "ticket": ident,
                "symbol": "EURUSD",
                "trade_type": "BUY",
                "volume": Decimal("0.10"),
                "entry_price": price,
                "entry_time": at,
                "stop_loss": price - Decimal("0.00200"),
                "take_profit": price + Decimal("0.00400"),
                "account_number": 12345,
                "strategy_name": "ma_crossover",
                "signal_id": ident,
            },
            {
                "event": "trade_closed",
                "ticket": ident,
                "exit_price": price + Decimal("0.00100"),
                "exit_time": at + timedelta(seconds=30),
                "profit": Decimal("10.00"),
                "pips": Decimal("10.0"),
            },
            {
                "event": "account_snapshot",
                "account_number": 12345,
                "server": "Demo-Server",
                "broker": "Demo Broker",
                "balance": Decimal("10000.00") + ident,
                "equity": Decimal("10000.00") + ident,
                "snapshot_time": at + timedelta(seconds=31),
                "open_positions": 0,
            },
        ]
        out.extend(cycle)
        ident += 1
    return out[:count]


def batches(items: list, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]


def timed(folder: str, groups: list, conversion_only: bool) -> tuple:
    """(wall seconds, CPU seconds of the whole process) to append `groups` (one append call
    each) to a new Buffered journal; or, with `conversion_only`, to convert them as append
    does, appending nothing. The CPU time counts the ledger's own threads too; on a machine
    shared with other jobs it is the steadier figure."""
    ledger = tradeledger.Ledger.create(folder, "buffered")
    try:
        call = ledger._native._convert_only if conversion_only else ledger.append
        started, cpu = time.perf_counter(), time.process_time()
        for group in groups:
            call(group)
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        ledger.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per round (default 200,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per case (default 5); the median is reported")
    args = parser.parse_args()

    data = events(args.events)
    cases = {
        "batches of 100": batches(data, 100),
        "single events": [[event] for event in data],
    }
    goals = {"batches of 100": 200_000, "single events": 50_000}
    scratch = tempfile.mkdtemp(prefix="append-bench-", dir=os.path.join(ROOT, "target"))
    results: list = []
    try:
        for name, groups in cases.items():
            for what, conversion_only in (("append", False), ("conversion only", True)):
                rates, cpu_rates = [], []
                for round_ in range(args.rounds):
                    folder = os.path.join(scratch, f"{len(results)}-{round_}")
                    seconds, cpu_seconds = timed(folder, groups, conversion_only)
                    rates.append(len(data) / seconds)
                    cpu_rates.append(len(data) / cpu_seconds)
                    shutil.rmtree(folder)
                results.append(
                    {
                        "case": name,
                        "timed": what,
                        "events": len(data),
                        "calls": len(groups),
                        "events_per_s_median": statistics.median(rates),
                        "events_per_s_min": min(rates),
                        "events_per_s_max": max(rates),
                        "us_per_event_median": 1e6 / statistics.median(rates),
                        "events_per_cpu_s_median": statistics.median(cpu_rates),
                        "cpu_us_per_event_median": 1e6 / statistics.median(cpu_rates),
                        "goal_events_per_s": goals[name] if what == "append" else None,
                    }
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"{'case':<16} {'timed':<16} {'events/s median':>16} {'min':>9} {'max':>9} {'us/event':>9}"
        f" {'CPU us/event':>13} {'goal':>9}"
    )
    for r in results:
        goal = f"{r['goal_events_per_s']:,}" if r["goal_events_per_s"] else ""
        print(
            f"{r['case']:<16} {r['timed']:<16} {r['events_per_s_median']:>16,.0f} {r['events_per_s_min']:>9,.0f}"
            f" {r['events_per_s_max']:>9,.0f} {r['us_per_event_median']:>9.2f} {r['cpu_us_per_event_median']:>13.2f}"
            f" {goal:>9}"
        )
    machine = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
        "load_average": os.getloadavg(),
    }
    out = os.path.join(ROOT, "target", "python-append-bench.json")
    with open(out, "w") as file:
        json.dump({"machine": machine, "rounds": args.rounds, "results": results}, file, indent=2)
    print(f"machine: {machine['processor']}, {machine['cpus']} CPUs, load average {machine['load_average']}")
    print(f"written: {out}")
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
