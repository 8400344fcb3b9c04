"""A paper-trading loop in the shape of the old bot's CurrencyTrader and Orchestrator, journaling
through tradeledger instead of SQLAlchemy repositories.

Each cycle the Orchestrator asks every CurrencyTrader to analyse its market (a moving-average
crossover on a seeded random walk): a signal is recorded (HOLD included: the execution rate
counts every signal), a BUY or SELL is filled with the signal as one atomic batch (the old bot
saved them separately and could lose the link), an open position is closed at its stop loss or
take profit, and an account snapshot is recorded after the cycle (the old
`_save_account_snapshot`).

    python python/examples/trading_loop.py [JOURNAL] [--cycles N]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Deque, Dict, List, Optional

import tradeledger

PIP = Decimal("0.0001")
LOT = Decimal("100000")  # units of the base currency in one lot
ACCOUNT = 5_012_345
FAST, SLOW = 5, 20  # moving-average periods, in cycles


@dataclass
class Position:
    ticket: int
    direction: str  # BUY or SELL
    volume: Decimal
    entry_price: Decimal
    stop_loss: Decimal
    take_profit: Decimal


class Ids:
    """Signal ids and tickets, unique in the journal (the broker's, in a live bot)."""

    def __init__(self, ledger: tradeledger.Ledger) -> None:
        self.signal_id = max((s.signal_id for s in ledger.get_recent_signals(limit=1_000_000)), default=0)
        self.ticket = max((t.ticket for t in ledger.get_trades()), default=0)

    def next_signal(self) -> int:
        self.signal_id += 1
        return self.signal_id

    def next_ticket(self) -> int:
        self.ticket += 1
        return self.ticket


class CurrencyTrader:
    """One symbol, one strategy: analyse, signal, execute, manage the open position."""

    def __init__(self, ledger: tradeledger.Ledger, ids: Ids, symbol: str, price: Decimal, seed: int) -> None:
        self.ledger, self.ids, self.symbol, self.price = ledger, ids, symbol, price
        self.random = random.Random(seed)
        self.closes: Deque[Decimal] = deque(maxlen=SLOW)
        self.position: Optional[Position] = None
        self.realized = Decimal("0")

    def tick(self) -> None:
        step = Decimal(self.random.randint(-12, 12)) * PIP
        self.price = max(self.price + step, Decimal("0.5"))
        self.closes.append(self.price)

    def analyze_market(self, now: datetime) -> Optional[Dict]:
        """A signal event from a 5/20 moving-average crossover; None while warming up."""
        if len(self.closes) < SLOW:
            return None
        closes = list(self.closes)
        fast = sum(closes[-FAST:], Decimal(0)) / FAST
        slow = sum(closes, Decimal(0)) / SLOW
        spread = abs(fast - slow) / PIP
        kind = "HOLD" if spread < 3 else ("BUY" if fast > slow else "SELL")
        stop = Decimal(30) * PIP
        return {
            "event": "signal",
            "signal_id": self.ids.next_signal(),
            "symbol": self.symbol,
            "signal_type": kind,
            "timestamp": now,
            "price": self.price,
            "confidence": min(float(spread) / 20, 1.0),
            "strategy_name": "ma_crossover_5_20",
            "timeframe": "M5",
            "stop_loss": self.price - stop if kind == "BUY" else self.price + stop,
            "take_profit": self.price + 2 * stop if kind == "BUY" else self.price - 2 * stop,
            "reason": f"fast MA {fast:.5f} vs slow MA {slow:.5f}",
        }

    def execute_trade(self, signal: Dict, now: datetime) -> List[Dict]:
        """The fill of a BUY or SELL signal, linked to it; nothing for HOLD or while a position
        is open."""
        if signal["signal_type"] == "HOLD" or self.position is not None:
            return []
        position = Position(
            ticket=self.ids.next_ticket(),
            direction=signal["signal_type"],
            volume=Decimal("0.10"),
            entry_price=self.price,
            stop_loss=signal["stop_loss"],
            take_profit=signal["take_profit"],
        )
        self.position = position
        return [
            {
                "event": "trade_opened",
                "ticket": position.ticket,
                "symbol": self.symbol,
                "trade_type": position.direction,
                "volume": position.volume,
                "entry_price": position.entry_price,
                "entry_time": now,
                "stop_loss": position.stop_loss,
                "take_profit": position.take_profit,
                "account_number": ACCOUNT,
                "strategy_name": signal["strategy_name"],
                "signal_id": signal["signal_id"],
                "execution_reason": "crossover",
                "signal_confidence": signal["confidence"],
            }
        ]

    def manage_position(self, now: datetime) -> List[Dict]:
        """The close of the open position when its stop loss or take profit is reached."""
        p = self.position
        if p is None:
            return []
        sign = 1 if p.direction == "BUY" else -1
        hit_stop = sign * (self.price - p.stop_loss) <= 0
        hit_target = sign * (self.price - p.take_profit) >= 0
        if not (hit_stop or hit_target):
            return []
        pips = sign * (self.price - p.entry_price) / PIP
        profit = (sign * (self.price - p.entry_price) * p.volume * LOT).quantize(Decimal("0.01"))
        self.realized += profit
        self.position = None
        return [
            {
                "event": "trade_closed",
                "ticket": p.ticket,
                "exit_price": self.price,
                "exit_time": now,
                "profit": profit,
                "pips": pips.quantize(Decimal("0.1")),
                "reason": "stop loss" if hit_stop else "take profit",
            }
        ]

    def floating(self) -> Decimal:
        p = self.position
        if p is None:
            return Decimal("0")
        sign = 1 if p.direction == "BUY" else -1
        return (sign * (self.price - p.entry_price) * p.volume * LOT).quantize(Decimal("0.01"))


class Orchestrator:
    """Runs the traders' cycles and records the account after each one."""

    def __init__(self, ledger: tradeledger.Ledger, symbols: Dict[str, Decimal], start: datetime) -> None:
        self.ledger, self.now = ledger, start
        ids = Ids(ledger)
        self.traders = [CurrencyTrader(ledger, ids, s, p, seed) for seed, (s, p) in enumerate(symbols.items())]
        self.balance = Decimal("10000.00")

    def process_single_cycle(self) -> Dict[str, int]:
        """One cycle: each trader's events as one batch, then the account snapshot."""
        self.now += timedelta(minutes=5)
        counts = {"signals": 0, "fills": 0, "closes": 0}
        for trader in self.traders:
            trader.tick()
            events = trader.manage_position(self.now)
            counts["closes"] += len(events)
            signal = trader.analyze_market(self.now)
            if signal is not None:
                fills = trader.execute_trade(signal, self.now)
                events += [signal, *fills]
                counts["signals"] += 1
                counts["fills"] += len(fills)
            if events:
                self.ledger.append(events)  # one atomic batch: a fill never without its signal
        self._save_account_snapshot()
        return counts

    def _save_account_snapshot(self) -> None:
        realized = sum((t.realized for t in self.traders), Decimal("0"))
        floating = sum((t.floating() for t in self.traders), Decimal("0"))
        open_positions = [t.position for t in self.traders if t.position is not None]
        self.ledger.append(
            [
                {
                    "event": "account_snapshot",
                    "account_number": ACCOUNT,
                    "server": "Paper-Server",
                    "broker": "Paper Broker",
                    "balance": self.balance + realized,
                    "equity": self.balance + realized + floating,
                    "profit": floating,
                    "open_positions": len(open_positions),
                    "total_volume": sum((p.volume for p in open_positions), Decimal("0")),
                    "snapshot_time": self.now,
                }
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal", nargs="?", help="journal folder (default: a new temporary one)")
    parser.add_argument("--cycles", type=int, default=2_000)
    args = parser.parse_args()
    folder = args.journal or tempfile.mkdtemp(prefix="trading-loop-")

    start = datetime(2024, 1, 2, tzinfo=timezone.utc)
    with tradeledger.Ledger.create(folder) as ledger:
        orchestrator = Orchestrator(ledger, {"EURUSD": Decimal("1.10000"), "GBPUSD": Decimal("1.27000")}, start)
        totals = {"signals": 0, "fills": 0, "closes": 0}
        for _ in range(args.cycles):
            for name, count in orchestrator.process_single_cycle().items():
                totals[name] += count

        stats = ledger.get_trade_statistics()
        rate = ledger.get_signal_execution_rate()
        summary = ledger.get_performance_summary()
        latest = ledger.get_latest_snapshot(ACCOUNT)
        print(f"journal: {folder}")
        print(f"cycles {args.cycles}: {totals['signals']} signals, {totals['fills']} fills, {totals['closes']} closes")
        print(
            f"closed trades {stats['total_trades']} (won {stats['winning_trades']}, lost {stats['losing_trades']}), "
            f"win rate {stats['win_rate']:.2f}%, net profit {stats['total_profit']}"
        )
        print(f"signals executed: {rate['execution_rate']:.2f}% of {rate['total_signals']}")
        print(f"days {summary['total_days']}, winning days {summary['winning_days']}")
        print(f"open trades {len(ledger.get_open_trades())}, last equity {latest.equity if latest else None}")


if __name__ == "__main__":
    main()
