"""Path -> live incarnation, and the snapshots actors publish.

Supervisors are the only writers of `bind`/`unbind`; anyone may read. Reads are single dict look-ups
(atomic in CPython), so a hot path resolves a handle without taking a lock.

When a path resolves (OTP's registered names, Akka's actor paths):
- bound from the moment an incarnation has a mailbox, before its on_start runs, until it dies or is
  stopped. A tell to a starting or running path is queued; it is handled by that incarnation, or, if
  that incarnation dies first, refused by it (an ask fails with ActorCrashed / ActorUnavailable, a tell
  is counted and logged as a dead letter). Never silently dropped.
- unbound when never started, stopped, failed to start, or between an incarnation's death and its
  successor's spawn (the restart backoff): a handle refuses at once with ActorUnavailable naming the
  path and the reason. A tell in the backoff is not held for the next incarnation (OTP loses a message
  to a dead pid, Akka makes it a dead letter): the next one starts from fresh state and reads what it
  must know at its start (snapshots); a caller that would rather wait passes `wait_s`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

_live: dict[str, pykka.ActorRef[Any]] = {}
#: Why a path has no live incarnation ("restarting", "stopped"); absent: never started.
_down: dict[str, str] = {}
_snapshots: dict[str, Any] = {}
_cond = threading.Condition()


def bind(path: str, ref: pykka.ActorRef[Any]) -> None:
    with _cond:
        _live[path] = ref
        _down.pop(path, None)
        _cond.notify_all()


def unbind(path: str, ref: pykka.ActorRef[Any] | None = None, why: str = "stopped") -> None:
    """Forget `path`; with `ref`, only if it still points at that incarnation. `why` is what handles report."""
    with _cond:
        if ref is None or _live.get(path) is ref:
            _live.pop(path, None)
            _down[path] = why


def mark_down(path: str, why: str) -> None:
    """Record why `path` has no live incarnation (a supervisor marks children it will restart)."""
    with _cond:
        if path not in _live:
            _down[path] = why


def down_reason(path: str) -> str:
    return _down.get(path, "not started")


def lookup(path: str) -> pykka.ActorRef[Any] | None:
    return _live.get(path)


def wait_for(path: str, timeout_s: float) -> pykka.ActorRef[Any] | None:
    """The live incarnation at `path`, waiting up to `timeout_s` for one to appear."""
    deadline = time.monotonic() + timeout_s
    with _cond:
        while True:
            ref = _live.get(path)
            if ref is not None and ref.is_alive():
                return ref
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            _cond.wait(left)


def paths() -> list[str]:
    return sorted(_live)


def publish(path: str, snapshot: Any) -> None:
    _snapshots[path] = snapshot


def snapshot(path: str) -> Any:
    return _snapshots.get(path)


def snapshot_reader(path: str) -> Callable[[], Any]:
    """A reader of `path`'s latest snapshot for hot paths: one C call per read, no Python frame."""
    return functools.partial(_snapshots.get, path)


def clear() -> None:
    """Forget everything (tests, after a tree is stopped)."""
    with _cond:
        _live.clear()
        _down.clear()
        _snapshots.clear()
