"""The shared io loop's lag: a timer on the loop that should fire every PERIOD_S; how late it fires is
how long something (a blocking coroutine or callback) kept the loop from running it.

`take()` returns the largest drift since the previous take (the sampler's tick), so a 300 ms stall
between two samples is not averaged away. The timer is one tiny callback every 100 ms on the loop.
"""

from __future__ import annotations

import asyncio
import threading

PERIOD_S = 0.1


class IoLoopLag:
    def __init__(self, loop: asyncio.AbstractEventLoop, period_s: float = PERIOD_S) -> None:
        self.loop = loop
        self.period_s = period_s
        self.last_s: float | None = None
        self._max_s = 0.0
        self._expected = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()  # take() runs on the sampler's thread, ticks on the loop's
        self._running = False

    def start(self) -> IoLoopLag:
        self._running = True
        self.loop.call_soon_threadsafe(self._arm)
        return self

    def stop(self) -> None:
        self._running = False

        def cancel() -> None:
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None

        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(cancel)

    def _arm(self) -> None:
        if not self._running:
            return
        self._expected = self.loop.time() + self.period_s
        self._handle = self.loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        drift = max(0.0, self.loop.time() - self._expected)
        with self._lock:
            self.last_s = drift
            if drift > self._max_s:
                self._max_s = drift
        self._arm()

    def take(self) -> float | None:
        """The largest drift in seconds since the last take; None before the first tick."""
        with self._lock:
            if self.last_s is None:
                return None
            out, self._max_s = self._max_s, 0.0
            return out
