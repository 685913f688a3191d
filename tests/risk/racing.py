"""Two bot processes racing for the last of a daily loss budget (see budget_racer.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from tests.risk.children import python_module, reap

NAMES = ("bot-a", "bot-b")


def race(
    target: str, rounds: int, open_gate: Callable[[int, list[subprocess.Popen[str]]], object]
) -> list[dict[str, str]]:
    """Two racer processes (tests/risk/budget_racer.py) each want 60 of the last 60 of a budget of
    100, `rounds` times; open_gate(r, racers) releases both for round r. Returns each racer's
    {"round R": "won" | "lost"}. The racers are killed even when the test fails."""
    racers = [
        python_module(
            "tests.risk.budget_racer", target, name, str(rounds), "60", "100",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for name in NAMES
    ]
    results: list[dict[str, str]] = [{}, {}]
    try:
        for p in racers:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for r in range(rounds):
            open_gate(r, racers)
            for name, p, res in zip(NAMES, racers, results):  # both answer before the next gate opens
                assert p.stdout is not None
                line = p.stdout.readline()
                assert line.startswith(f"round {r} "), f"racer {name} said {line!r} (exit {p.poll()})"
                res[f"round {r}"] = line.split()[-1]
    finally:
        for p in racers:
            reap(p)
    return results
