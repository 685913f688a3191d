"""Supervision runtime benchmark.

1. Ask round trip: through a stable Handle (path lookup, Envelope with trace id and sent_at, our
   closable Mailbox, a concurrent.futures reply) versus a raw pykka ask (ActorRef.ask on a plain
   pykka.ThreadingActor). Interleaved in rounds so both see the same machine load.
2. Crash-to-serving restart latency: from the moment a crash is sent to the first successful answer
   of the new incarnation through Handle.ask(wait_s=...), with the default backoff (each sample is a
   child's first restart, as after a quiet period, so the backoff is min_s * (1 + U * random_factor))
   and with backoff disabled (supervision.spec.NO_BACKOFF).

Prints one JSON document (milliseconds). Runtime logging is disabled while measuring: a crash's
traceback printed to a terminal would dominate the figure and is not the runtime's cost.
Run: .venv/bin/python benchmarks/bench_supervision.py [--asks 5000] [--restarts 300]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec
import pykka
from loguru import logger

from protocol.supervision import Crash
from supervision import (
    ActorContext,
    ActorCrashed,
    ActorUnavailable,
    Backoff,
    ChildSpec,
    Handle,
    Intensity,
    SupervisedActor,
    start_tree,
    stop_tree,
    supervisor_spec,
)
from supervision.spec import NO_BACKOFF

ASK_TIMEOUT_S = 5.0
WAIT_S = 5.0


class Ping(msgspec.Struct, frozen=True):
    n: int


class Pong(msgspec.Struct, frozen=True):
    n: int
    incarnation: int


class RawEcho(pykka.ThreadingActor):
    """The baseline: a plain pykka actor doing the same work as Echo."""

    use_daemon_thread = True

    def on_receive(self, message: Any) -> Any:
        return Pong(message.n, 0)


class Echo(SupervisedActor):
    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)

    def receive(self, msg: Any) -> Any:
        match msg:
            case Ping(n=n):
                return Pong(n, self.ctx.incarnation)
        return super().receive(msg)


def summary(samples_ns: list[int]) -> dict[str, float | int]:
    ms = sorted(s / 1e6 for s in samples_ns)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 4),
        "p99_ms": round(p99, 4),
        "min_ms": round(ms[0], 4),
        "max_ms": round(ms[-1], 4),
    }


def bench_asks(n_asks: int, rounds: int = 10) -> dict[str, Any]:
    start_tree(supervisor_spec("root", [ChildSpec(id="echo", start=Echo)]))
    raw = RawEcho.start()
    handle = Handle("/echo")
    try:
        for k in range(500):  # warm-up: threads scheduled, caches hot
            raw.ask(Ping(k), timeout=ASK_TIMEOUT_S)
            handle.ask(Ping(k), timeout=ASK_TIMEOUT_S)
        raw_ns: list[int] = []
        handle_ns: list[int] = []
        per_round = max(1, n_asks // rounds)
        clock = time.perf_counter_ns
        for _ in range(rounds):
            for k in range(per_round):
                t = clock()
                raw.ask(Ping(k), timeout=ASK_TIMEOUT_S)
                raw_ns.append(clock() - t)
            for k in range(per_round):
                t = clock()
                handle.ask(Ping(k), timeout=ASK_TIMEOUT_S)
                handle_ns.append(clock() - t)
        raw_s, handle_s = summary(raw_ns), summary(handle_ns)
        return {
            "raw_pykka_ask": raw_s,
            "handle_ask": handle_s,
            "handle_over_raw_median": round(float(handle_s["median_ms"]) / float(raw_s["median_ms"]), 3),
            "handle_over_raw_p99": round(float(handle_s["p99_ms"]) / float(raw_s["p99_ms"]), 3),
        }
    finally:
        raw.stop(block=True, timeout=WAIT_S)
        stop_tree(timeout_s=WAIT_S)


def crash_to_serving_ns(path: str) -> int:
    """Crash the actor at `path`; return the ns until a new incarnation has answered an ask."""
    handle = Handle(path)
    old = handle.ask(Ping(0), timeout=ASK_TIMEOUT_S).incarnation
    t0 = time.perf_counter_ns()
    handle.tell(Crash(reason="benchmark"))
    deadline = t0 + int(30e9)
    while time.perf_counter_ns() < deadline:
        try:
            answer = handle.ask(Ping(1), timeout=ASK_TIMEOUT_S, wait_s=WAIT_S)
        except (ActorCrashed, ActorUnavailable):
            continue  # queued behind the crash, or asked in the gap before the new incarnation is bound
        if answer.incarnation != old:
            return time.perf_counter_ns() - t0
    raise RuntimeError(f"{path} did not serve again within 30 s of its crash")


def bench_restarts(backoff: Backoff, samples: int, children: int) -> dict[str, Any]:
    """`children` > 1: each sample crashes a different child once (its first restart, backoff attempt 0)."""
    specs = [ChildSpec(id=f"c{i}", start=Echo) for i in range(children)]
    intensity = Intensity(max_restarts=10 * samples, period_s=60.0)  # measure restarts, never escalate
    stop_tree(timeout_s=WAIT_S)
    start_tree(supervisor_spec("root", specs, intensity=intensity, backoff=backoff))
    try:
        ns = [crash_to_serving_ns(f"/c{i % children}") for i in range(samples)]
    finally:
        stop_tree(timeout_s=WAIT_S)
    return summary(ns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=5000, help="asks per kind (handle, raw pykka)")
    parser.add_argument("--restarts", type=int, default=300, help="restarts measured with NO_BACKOFF")
    parser.add_argument("--backoff-restarts", type=int, default=60, help="restarts measured with the default backoff")
    args = parser.parse_args()
    logger.disable("supervision")

    default = Backoff()
    result: dict[str, Any] = {
        "benchmark": "supervision",
        "python": platform.python_version(),
        "pykka": importlib.metadata.version("pykka"),
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        "ask_round_trip": bench_asks(args.asks),
        "restart_crash_to_serving": {
            "default_backoff": {
                "backoff": {"min_s": default.min_s, "max_s": default.max_s, "random_factor": default.random_factor},
                # What the backoff alone contributes to a first restart: min_s * [1, 1 + random_factor).
                "backoff_share_ms": [default.min_s * 1e3, round(default.min_s * (1 + default.random_factor) * 1e3, 3)],
                **bench_restarts(default, args.backoff_restarts, children=args.backoff_restarts),
            },
            "no_backoff": bench_restarts(NO_BACKOFF, args.restarts, children=1),
        },
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
