"""A hostile workload for the sampling profiler, run as its own process (a crash is an exit code, not a dead pytest).

`python -m tests.performance.profiler_stress SECONDS [HZ]` runs back-to-back `probes.profiler.profile` calls for
SECONDS while many short-lived threads churn through what makes CPython's frames change under a sampler:
deep recursion that unwinds (frames popped in bulk, each one's frame object handed its data), generators and
`yield from` chains suspended in one thread and resumed or closed in another, coroutines driven by hand,
exceptions raised through deep stacks with their tracebacks kept, and threads that end while being sampled.
faulthandler is on, so a fatal signal prints every thread's Python stack to stderr before the process dies.
On success it prints one JSON line: the profiles run, their ticks, and the stress threads they saw.
"""

from __future__ import annotations

import faulthandler
import json
import queue
import random
import sys
import threading
import time
from collections.abc import Generator, Iterator

from probes.profiler import profile

#: Stress threads alive at once, and how deep each one recurses.
WORKERS = 12
DEPTH = 120
#: Short-lived threads each worker starts and joins per round (threads ending while the profiler samples).
SPAWNS = 3


def recurse(n: int) -> int:
    """Deep stack, then unwind: every frame object the sampler made for it is handed its data as it returns."""
    if n <= 0:
        return sum(i * i for i in range(50))  # a genexpr: a generator frame at the top of a deep stack
    return recurse(n - 1) + 1


def raise_deep(n: int) -> None:
    if n <= 0:
        raise ValueError("bottom")
    try:
        raise_deep(n - 1)
    except ValueError as exc:  # re-raised through every level: a traceback that holds every frame
        if n % 17 == 0:
            raise KeyError(n) from exc
        raise


def inner_gen(n: int) -> Generator[int, int | None, None]:
    for i in range(n):
        got = yield i
        if got is not None:
            recurse(got)  # a deep stack above a generator's frame


def outer_gen(n: int) -> Generator[int, int | None, None]:
    yield from inner_gen(n)
    yield from inner_gen(n)


async def leaf(n: int) -> int:
    return recurse(n)


async def chain(n: int) -> int:
    total = 0
    for _ in range(3):
        total += await leaf(n)
    return total


def drive(coro: object) -> None:
    """Run a coroutine with no loop: send until StopIteration."""
    try:
        coro.send(None)  # type: ignore[attr-defined]
    except StopIteration:
        pass


def short_lived(handoff: queue.Queue[Iterator[int]]) -> None:
    """Takes a generator suspended by another thread, resumes it here, abandons it half-way (closed at GC)."""
    try:
        gen = handoff.get(timeout=1.0)
    except queue.Empty:
        return
    for _ in range(3):
        next(gen, None)
    recurse(DEPTH // 2)


def worker(stop: threading.Event, rng: random.Random, handoff: queue.Queue[Iterator[int]]) -> None:
    while not stop.is_set():
        recurse(rng.randrange(10, DEPTH))
        try:
            raise_deep(rng.randrange(5, DEPTH // 2))
        except (ValueError, KeyError) as exc:
            kept = exc.__traceback__  # holds the unwound frames a while
            del kept
        gen = outer_gen(rng.randrange(5, 40))
        next(gen)
        gen.send(rng.randrange(5, DEPTH // 2))
        if rng.random() < 0.5:
            handoff.put(gen)  # resumed (and dropped) in another thread
        else:
            gen.close()
        drive(chain(rng.randrange(5, DEPTH // 2)))
        spawned = [threading.Thread(target=short_lived, args=(handoff,), name="stress-short", daemon=True)
                   for _ in range(SPAWNS)]
        for t in spawned:
            t.start()
        for t in spawned:
            t.join(5.0)


def main() -> None:
    faulthandler.enable(all_threads=True)
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    hz = float(sys.argv[2]) if len(sys.argv) > 2 else 1000.0
    stop = threading.Event()
    handoff: queue.Queue[Iterator[int]] = queue.Queue()
    workers = [threading.Thread(target=worker, args=(stop, random.Random(i), handoff), name=f"stress-{i}",
                                daemon=True) for i in range(WORKERS)]
    for t in workers:
        t.start()
    profiles = ticks = 0
    seen: set[str] = set()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            report = profile(min(0.5, max(0.05, end - time.monotonic())), hz=hz)
            profiles += 1
            ticks += report.ticks
            seen.update(t.thread for t in report.threads if t.thread.startswith("stress"))
    finally:
        stop.set()
        for t in workers:
            t.join(10.0)
    print(json.dumps({"profiles": profiles, "ticks": ticks, "stress_threads_seen": len(seen)}))


if __name__ == "__main__":
    main()
