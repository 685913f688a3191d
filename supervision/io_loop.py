"""The shared asyncio loop thread where slow I/O runs beside the actors.

Actors stay short: they start a coroutine here and get its completion back as a message
(`ctx.pipe`). One loop serves every endpoint, so many requests are in flight at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class IoLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="arbiter-io", daemon=True)
        self._thread.start()
        started.wait()
        self._ident = self._thread.ident

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the loop; the returned future completes on the loop thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def in_loop(self) -> bool:
        return threading.get_ident() == self._ident


_io: IoLoop | None = None
_lock = threading.Lock()


def io_loop() -> IoLoop:
    global _io
    if _io is None:
        with _lock:
            if _io is None:
                _io = IoLoop()
    return _io
