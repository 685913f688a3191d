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


class TimerToken:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerToken, Callable[[], None], float | None]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._run, name="arbiter-timers", daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, fn: Callable[[], None], interval_s: float | None = None) -> TimerToken:
        token = TimerToken()
        with self._cond:
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
