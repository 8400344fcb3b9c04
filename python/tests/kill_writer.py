"""A writer for test_kill.py: appends batches of trades until it is killed, printing the last
ticket and seq of each batch once `append` has returned (acknowledged)."""

import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import tradeledger

BATCH = 10


def main() -> None:
    path, durability = sys.argv[1], sys.argv[2]
    start = datetime(2024, 1, 2, tzinfo=timezone.utc)
    ledger = tradeledger.Ledger.create(path, durability)
    ticket = 0
    while True:
        batch = []
        for _ in range(BATCH):
            ticket += 1
            batch.append(
                {
                    "event": "trade_opened",
                    "ticket": ticket,
                    "symbol": "EURUSD",
                    "trade_type": "BUY",
                    "volume": Decimal("0.10"),
                    "entry_price": Decimal("1.10460"),
                    "entry_time": start + timedelta(seconds=ticket),
                }
            )
        _, last_seq = ledger.append(batch)
        print(ticket, last_seq, flush=True)


if __name__ == "__main__":
    main()
