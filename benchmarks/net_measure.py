"""Load generation for the network benchmarks: N callers, latency percentiles, errors.

Standard library only, so the peer baseline (web3-multi-provider, in its own venv with web3<7)
measures with exactly the same code as ours. `run_load` drives callers in threads (web3, the
provider); `run_load_on_loop` drives them as coroutines on an event loop, as the bot's actors do.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def run_load(
    call: Callable[[], Any],
    *,
    callers: int,
    calls_per_caller: int,
    warmup: int = 30,
    check: Callable[[Any], bool] | None = None,
    on_call: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run `call` from `callers` threads, `calls_per_caller` times each; figures in ms and calls/s.

    `check` flags a wrong answer (counted apart from errors); `on_call` runs after each call (progress).
    """
    for _ in range(warmup):
        call()
    latencies: list[list[float]] = [[] for _ in range(callers)]
    errors: list[str] = []
    wrong = [0]
    lock = threading.Lock()
    start = threading.Barrier(callers + 1)

    def worker(out: list[float]) -> None:
        start.wait()
        for _ in range(calls_per_caller):
            t0 = time.perf_counter()
            try:
                answer = call()
                if check is not None and not check(answer):
                    with lock:
                        wrong[0] += 1
            except Exception as e:
                with lock:
                    errors.append(f"{type(e).__name__}: {e}"[:200])
            out.append(time.perf_counter() - t0)
            if on_call is not None:
                on_call()

    threads = [threading.Thread(target=worker, args=(latencies[i],), daemon=True) for i in range(callers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return summary(callers, latencies, elapsed, errors, wrong[0])


def run_load_on_loop(
    loop: asyncio.AbstractEventLoop,
    call: Callable[[], Awaitable[Any]],
    *,
    callers: int,
    calls_per_caller: int,
    warmup: int = 30,
    check: Callable[[Any], bool] | None = None,
    on_call: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`run_load` with each caller a coroutine on `loop` (a running loop in another thread): `callers`
    of them concurrently, each awaiting `call()` `calls_per_caller` times in turn."""

    async def measure() -> dict[str, Any]:
        for _ in range(warmup):
            await call()
        latencies: list[list[float]] = [[] for _ in range(callers)]
        errors: list[str] = []
        wrong = [0]

        async def worker(out: list[float]) -> None:
            for _ in range(calls_per_caller):
                t0 = time.perf_counter()
                try:
                    answer = await call()
                    if check is not None and not check(answer):
                        wrong[0] += 1
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {e}"[:200])
                out.append(time.perf_counter() - t0)
                if on_call is not None:
                    on_call()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(per) for per in latencies))
        return summary(callers, latencies, time.perf_counter() - t0, errors, wrong[0])

    return asyncio.run_coroutine_threadsafe(measure(), loop).result()


def summary(
    callers: int, latencies: list[list[float]], elapsed: float, errors: list[str], wrong: int
) -> dict[str, Any]:
    flat = sorted(x for per in latencies for x in per)
    return {
        "callers": callers,
        "calls": len(flat),
        "throughput_rps": round(len(flat) / elapsed, 1),
        "p50_ms": round(percentile(flat, 0.50) * 1000, 3),
        "p99_ms": round(percentile(flat, 0.99) * 1000, 3),
        "max_ms": round(flat[-1] * 1000, 3) if flat else None,
        "errors": len(errors),
        "wrong_answers": wrong,
        "first_error": errors[0] if errors else None,
    }
