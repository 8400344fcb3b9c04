"""A writer for test_kill.py: appends batches of trades until it is killed, printing the last
ticket and seq of each batch once `append` has returned (acknowledged)."""

import sys
from datetime import datetime, timedelta, timezone

from sample import opened

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
            batch.append(opened(ticket, entry_time=start + timedelta(seconds=ticket)))
        _, last_seq = ledger.append(batch)
        print(ticket, last_seq, flush=True)


if __name__ == "__main__":
    main()
