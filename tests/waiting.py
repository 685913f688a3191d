"""The one way a test waits for something: `wait_until` (threads) and `wait_until_async` (coroutines).

Both re-check a predicate until it returns something truthy and return that value, so a test can
wait for a snapshot and use it in one line. With `until`, the first argument is a read (a snapshot,
a status) and `until(value)` decides: the read's value is returned, and shown if the wait fails.

`timeout` is a hang guard, never a speed claim (speed belongs in benchmarks/): past it they fail
naming `what` and the last value the predicate returned.

Where the state has a change event (a `threading.Condition` notified on every change), pass it as
`changed`: the predicate is then re-checked under its lock on each notification instead of polled.
Without one (published snapshots, files, other processes) the predicate is polled, first often
and then less, so a quick condition is seen quickly and a slow one does not spin a shared core.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: The default hang guard: generous, because the machine's two cores are shared.
WAIT_S = 10.0
#: Polling starts at FIRST_POLL_S and doubles up to MAX_POLL_S.
FIRST_POLL_S = 0.001
MAX_POLL_S = 0.01
#: How much of the last value a failure message shows.
SHOWN_CHARS = 2000


def _timed_out(timeout: float, what: str, last: object) -> AssertionError:
    shown = repr(last)
    if len(shown) > SHOWN_CHARS:
        shown = shown[:SHOWN_CHARS] + "..."
    return AssertionError(f"timed out after {timeout:g}s waiting for {what}; last seen: {shown}")


def wait_until(
    predicate: Callable[[], T], timeout: float = WAIT_S, what: str = "condition", *,
    until: Callable[[T], object] | None = None, changed: threading.Condition | None = None,
) -> T:
    """Return `predicate()`'s first truthy value (with `until`: its first value `until` accepts).

    Raise AssertionError naming `what` and the last value after `timeout` s. With `changed`, the
    predicate runs with that condition held and is re-checked each time the condition is notified."""
    done = bool if until is None else until
    deadline = time.monotonic() + timeout
    if changed is not None:
        with changed:
            while not done(value := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(timeout, what, value)
                changed.wait(remaining)
            return value
    poll = FIRST_POLL_S
    while not done(value := predicate()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(timeout, what, value)
        time.sleep(min(poll, remaining))  # the helper's only sleep: no change event to wait on
        poll = min(poll * 2, MAX_POLL_S)
    return value


async def wait_until_async(
    predicate: Callable[[], T], timeout: float = WAIT_S, what: str = "condition", *,
    until: Callable[[T], object] | None = None,
) -> T:
    """`wait_until` for a coroutine: polls without blocking the running event loop."""
    done = bool if until is None else until
    deadline = time.monotonic() + timeout
    poll = FIRST_POLL_S
    while not done(value := predicate()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(timeout, what, value)
        await asyncio.sleep(min(poll, remaining))
        poll = min(poll * 2, MAX_POLL_S)
    return value
