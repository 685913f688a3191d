"""Measurements from any thread, without a mailbox hop: `start_measurement` / `end_measurement`,
`with measure(name):` and `@measured(name)`.

A finished measurement is one tuple appended to the calling thread's own list (ARCHITECTURE.md's
snapshot pattern turned around: callers write their buffer, the sampler actor drains every buffer on
a timer). A caller never takes a lock on the hot path and never waits on the actor. Appends and the
drain's `del buf[:n]` are single list operations, atomic under the GIL, so the drain never loses or
repeats an entry.

An entry is `(name, duration_ns, success, meta, end_ns)`; meta is a dict or None. Bad input is
counted, never raised on a caller's hot path: an unknown or already-ended id makes
`end_measurement` return False and adds one to `invalid["unknown_id"]`.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
Entry = tuple[str, int, bool, dict[str, Any] | None, int]

#: A measurement started but never ended is dropped (and counted) after this long.
ABANDON_AFTER_S = 3600.0

_now = time.perf_counter_ns
_ids = itertools.count(1)
_open: dict[int, tuple[str, int]] = {}  # id -> (name, start ns); dict set / pop are atomic under the GIL
_local = threading.local()
_buffers: list[tuple[threading.Thread, list[Entry]]] = []
_buffers_lock = threading.Lock()  # taken once per thread (its first measurement) and by the drain
invalid: dict[str, int] = {"unknown_id": 0, "abandoned": 0}


def _buffer() -> list[Entry]:
    buf: list[Entry] | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = []
        with _buffers_lock:
            _buffers.append((threading.current_thread(), buf))
    return buf


def start_measurement(name: str) -> int:
    """Start timing `name`; the id may be ended from any thread."""
    mid = next(_ids)
    _open[mid] = (name, _now())
    return mid


def end_measurement(mid: int, success: bool = True, **meta: Any) -> bool:
    """End measurement `mid`. False (and counted) for an unknown id or one already ended."""
    end = _now()
    started = _open.pop(mid, None)
    if started is None:
        invalid["unknown_id"] += 1
        return False
    buf = getattr(_local, "buf", None) or _buffer()
    buf.append((started[0], end - started[1], success, meta or None, end))
    return True


def record(name: str, duration_s: float, success: bool = True, **meta: Any) -> None:
    """Record a duration measured elsewhere (e.g. an RPC latency the transport already timed)."""
    buf = getattr(_local, "buf", None) or _buffer()
    buf.append((name, int(duration_s * 1e9), success, meta or None, _now()))


def record_ns(name: str, duration_ns: int, success: bool = True) -> None:
    """`record` for a duration already in perf_counter_ns units (the io loop's RPC calls)."""
    buf = getattr(_local, "buf", None) or _buffer()
    buf.append((name, duration_ns, success, None, _now()))


class _Measure:
    __slots__ = ("meta", "name", "start", "success")

    def __init__(self, name: str) -> None:
        self.name = name
        self.success = True
        self.meta: dict[str, Any] | None = None

    def fail(self, **meta: Any) -> None:
        """Mark the measurement failed without raising."""
        self.success = False
        if meta:
            self.meta = {**(self.meta or {}), **meta}


@contextmanager
def measure(name: str, **meta: Any) -> Iterator[_Measure]:
    """`with measure("trade_execution") as m:` times the block; an exception marks it failed."""
    m = _Measure(name)
    if meta:
        m.meta = meta
    start = _now()
    try:
        yield m
    except BaseException:
        m.success = False
        raise
    finally:
        end = _now()
        buf = getattr(_local, "buf", None) or _buffer()
        buf.append((name, end - start, m.success, m.meta, end))


def measured(name: str) -> Callable[[F], F]:
    """Decorator: every call is a measurement of `name`; a raised exception is a failure."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            start = _now()
            ok = False
            try:
                result = fn(*args, **kwargs)
                ok = True
                return result
            finally:
                end = _now()
                buf = getattr(_local, "buf", None) or _buffer()
                buf.append((name, end - start, ok, None, end))

        return inner  # type: ignore[return-value]

    return wrap


def drain() -> list[Entry]:
    """Take every finished measurement from every thread's buffer (the sampler's timer calls this)."""
    out: list[Entry] = []
    with _buffers_lock:
        alive = []
        for thread, buf in _buffers:
            n = len(buf)
            if n:
                out.extend(buf[:n])
                del buf[:n]
            if thread.is_alive() or buf:
                alive.append((thread, buf))
        _buffers[:] = alive
    return out


def purge_abandoned(now_ns: int | None = None, older_than_s: float = ABANDON_AFTER_S) -> int:
    """Forget measurements started more than `older_than_s` ago and never ended; how many."""
    now_ns = _now() if now_ns is None else now_ns
    limit = now_ns - int(older_than_s * 1e9)
    stale = [mid for mid, (_, start) in list(_open.items()) if start < limit]
    for mid in stale:
        _open.pop(mid, None)
    invalid["abandoned"] += len(stale)
    return len(stale)


def open_count() -> int:
    return len(_open)
