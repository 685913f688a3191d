"""One scheduler thread for every timer in the process (send_after, send_interval, ask deadlines).

pykka has no timers; a thread per timer would cost an OS thread each. Callbacks run on the scheduler
thread and must be short: they tell a message or fail a future, nothing more.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from loguru import logger

#: Rebuild the heap once this many cancelled timers wait in it (and they are most of it): every
#: answered ask_future cancels its deadline, which would otherwise linger until it falls due.
COMPACT_AFTER = 1024


class TimerToken:
    __slots__ = ("_scheduler", "cancelled")

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._scheduler._cancelled += 1


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerToken, Callable[[], None], float | None]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._cancelled = 0  # approximate (incremented without the lock): it only triggers compaction
        self._thread = threading.Thread(target=self._run, name="arbiter-timers", daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, fn: Callable[[], None], interval_s: float | None = None) -> TimerToken:
        token = TimerToken(self)
        with self._cond:
            if self._cancelled >= COMPACT_AFTER and self._cancelled * 2 >= len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s), next(self._seq), token, fn, interval_s))
            self._cond.notify()
        return token

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                when, _, token, fn, interval = heapq.heappop(self._heap)
                if interval is not None and not token.cancelled:
                    next_at = max(when + interval, time.monotonic())
                    heapq.heappush(self._heap, (next_at, next(self._seq), token, fn, interval))
            if token.cancelled:
                continue
            try:
                fn()
            except Exception:
                logger.exception("timer callback failed")


_scheduler: Scheduler | None = None
_lock = threading.Lock()


def scheduler() -> Scheduler:
    global _scheduler
    if _scheduler is None:
        with _lock:
            if _scheduler is None:
                _scheduler = Scheduler()
    return _scheduler
