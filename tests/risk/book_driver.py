"""Drives a real RiskBook actor over a deterministic stream of requests against a SQLite store.

Run as a process (`python -m tests.risk.book_driver DB STEPS`) it prints `ack N` after the
answer to request N, so a test can SIGKILL it mid-stream; called in-process, the same stream
replays step by step to give the state after each acknowledged request.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

from actors.risk_book import RiskBook
from persistence import audit_trail
from persistence.sqlite_store import SqliteRiskStore
from protocol.risk import (
    AssessTrade,
    RecordOutcome,
    ResetEmergencyStop,
    RiskAssessment,
    RiskLimits,
    TriggerEmergencyStop,
)
from protocol.trading import TradeStatus
from supervision import ChildSpec, Handle, start_tree, stop_tree, supervisor_spec
from tests.risk.factories import T0, calm_market, opportunity, outcome

LIMITS = RiskLimits(max_daily_loss=200.0, max_consecutive_losses=3, initial_capital=5_000.0, cooldown_period=30_000)
BOOK = "/risk-book"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def requests(seed: int, clock: Clock, answers: dict[int, Any]) -> Iterator[Any]:
    """The stream: mostly assessments and outcomes, a stop and a reset now and then, time passing
    (across a midnight too). Outcomes only for approved trades, so it depends on earlier answers."""
    rng = random.Random(seed)
    pending: list[str] = []
    step = 0
    while True:
        clock.now += rng.choice([0.5, 2.0, 10.0, 45.0]) + (7 * 3600 if step % 17 == 16 else 0)
        roll = rng.random()
        if pending and roll < 0.45:
            oid = pending.pop(rng.randrange(len(pending)))
            pnl = rng.choice([12.0, 7.5, 3.0, -1.5, -2.0, -40.0])
            yield RecordOutcome(outcome(oid, pnl, TradeStatus.REVERTED if pnl == -1.5 else TradeStatus.MINED))
        elif 0.45 <= roll < 0.48:
            yield TriggerEmergencyStop(reason=f"critical signal {step}", by="monitor")
        elif 0.48 <= roll < 0.53:
            yield ResetEmergencyStop(reason=f"checked at step {step}", by="operator")
        else:
            oid = f"s{seed}-{step}"
            size = rng.choice([100.0, 300.0, 800.0, 2_000.0])
            yield AssessTrade(opportunity(oid, size_value=size, detected_at=clock.now), calm_market())
            if isinstance(answers.get(step), RiskAssessment) and answers[step].approved:
                pending.append(oid)
        step += 1


def audit_dir(db_path: str) -> str:
    """Where the driven book's audit trail lives: beside its database."""
    return f"{db_path}.audit"


def drive(db_path: str, steps: int, on_ack: Callable[[int, Any], None], seed: int = 1) -> None:
    clock = Clock()
    trail = audit_trail.AuditTrail(audit_dir(db_path))
    previous = audit_trail.install(trail)
    spec = ChildSpec(
        id="risk-book",
        start=RiskBook,
        kwargs={"limits": LIMITS, "open_store": lambda: SqliteRiskStore(db_path), "clock": clock},
    )
    start_tree(supervisor_spec("root", [spec]))
    try:
        answers: dict[int, Any] = {}
        stream = requests(seed, clock, answers)
        for i in range(steps):
            msg = next(stream)
            answers[i] = Handle(BOOK).ask(msg, timeout=30.0)
            on_ack(i, answers[i])
    finally:
        stop_tree()
        audit_trail.install(previous)
        trail.close()


def main() -> None:
    db, steps = sys.argv[1], int(sys.argv[2])

    def ack(i: int, _answer: Any) -> None:
        sys.stdout.write(f"ack {i}\n")
        sys.stdout.flush()

    drive(db, steps, ack)


if __name__ == "__main__":
    main()
