"""GC pauses from gc.callbacks: per generation, collections, objects collected and a pause histogram.

CPython calls every callback with phase "start" before and "stop" after each collection, in the
thread that triggered it, while it holds the collector (no second collection can start until the
callbacks are done), so this is the only writer of its counts and needs no lock. The pause is the
time between the two calls. A scrape (probes.metrics) and the sampler read the counts as they stand.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_left
from collections import deque
from typing import Any

from protocol.performance import GcStats

#: Prometheus buckets of arbiter_gc_pause_seconds (a young collection takes tens of microseconds).
PAUSE_BUCKETS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Recent pauses kept for p50 / p99 / max.
RECENT = 2048
GENERATIONS = 3


class GcWatch:
    def __init__(self) -> None:
        self.collections = [0] * GENERATIONS
        self.collected = [0] * GENERATIONS
        self.buckets = [[0] * (len(PAUSE_BUCKETS_S) + 1) for _ in range(GENERATIONS)]  # last: +Inf
        self.pause_sum_s = [0.0] * GENERATIONS
        self.recent: deque[float] = deque(maxlen=RECENT)
        self._started: float | None = None
        self.installed = False

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:  # installed mid-collection
            return
        pause = time.perf_counter() - self._started
        self._started = None
        gen = min(int(info.get("generation", 0)), GENERATIONS - 1)
        self.collections[gen] += 1
        self.collected[gen] += int(info.get("collected", 0))
        self.buckets[gen][bisect_left(PAUSE_BUCKETS_S, pause)] += 1
        self.pause_sum_s[gen] += pause
        self.recent.append(pause)

    def install(self) -> GcWatch:
        if not self.installed:
            gc.callbacks.append(self._callback)
            self.installed = True
        return self

    def uninstall(self) -> None:
        if self.installed:
            try:
                gc.callbacks.remove(self._callback)
            except ValueError:
                pass
            self.installed = False

    def stats(self) -> GcStats:
        pauses = sorted(self.recent)

        def q(share: float) -> float | None:
            if not pauses:
                return None
            return round(pauses[min(len(pauses) - 1, int(share * len(pauses)))] * 1000, 4)

        return GcStats(
            collections=tuple(self.collections),  # type: ignore[arg-type]
            collected=tuple(self.collected),  # type: ignore[arg-type]
            pause_count=sum(self.collections),
            pause_p50_ms=q(0.5), pause_p99_ms=q(0.99),
            pause_max_ms=round(pauses[-1] * 1000, 4) if pauses else None,
            pause_total_s=round(sum(self.pause_sum_s), 6),
        )


#: The process's one watch (installed by the sampler when it starts; a second install is a no-op).
GC_WATCH = GcWatch()
