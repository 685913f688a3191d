"""One bot process racing for the daily loss budget.

`python -m tests.risk.budget_racer TARGET NAME ROUNDS AMOUNT LIMIT` where TARGET is a redis URL
or a SQLite path. Each round has its own ledger (a key prefix, or a file TARGET.R). The racer
waits at a gate, reserves AMOUNT from the round's budget and prints `round R won|lost`.
The gate: BLPOP on a start list for Redis; for SQLite a start instant on stdin (the system-wide
monotonic clock), spun on so that both racers leave within microseconds of each other.
"""

from __future__ import annotations

import sys
import time

import redis

from persistence.redis_store import RedisRiskStore
from persistence.sqlite_store import SqliteRiskStore
from persistence.store import RiskStore
from tests.risk.factories import T0

DAY = 86_400.0


def main() -> None:
    target, name = sys.argv[1], sys.argv[2]
    rounds, amount, limit = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    on_redis = target.startswith("redis://")
    stores: list[RiskStore] = [
        RedisRiskStore(target, book_id=name, prefix=f"race:{r}") if on_redis else SqliteRiskStore(f"{target}.{r}", name)
        for r in range(rounds)
    ]
    gate = redis.Redis.from_url(target) if on_redis else None
    print("ready", flush=True)
    for r, store in enumerate(stores):
        if gate is not None:
            gate.blpop([f"race:go:{r}"], timeout=30)
        else:
            start = float(sys.stdin.readline())
            while time.monotonic() < start:
                pass
        won = store.reserve_loss(DAY, f"{name}-{r}", amount, limit, expires_at=T0 + 600, now=T0)
        print(f"round {r} {'won' if won else 'lost'}", flush=True)
        store.close()


if __name__ == "__main__":
    main()
