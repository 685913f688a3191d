"""The on-demand sampling profiler: every thread's stack from sys._current_frames() at 100 Hz for N
seconds, counted per thread label (actor path or thread name) by performance.profile.

Nothing runs until `profile(seconds)` is called: a thread is started for the duration and ends with
it, so the bot pays nothing when no one is profiling. While it runs, each tick takes the GIL for the
time it needs to walk every thread's frames (code objects only; names are made once, at the report).
Only one profile runs at a time; a second request while one runs is refused with ProfileBusy.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Hashable
from types import CodeType, FrameType

import psutil

from performance.profile import IDLE_FUNCTIONS, ProfileBook
from probes.threads import thread_labels
from protocol.performance import ProfileReport

HZ = 100
MAX_SECONDS = 60.0
#: Deepest stack walked per sample (outermost frames beyond it are left out).
MAX_DEPTH = 128


class ProfileBusy(Exception):
    """A profile is already running; wait for it to finish."""


class BadProfileRequest(ValueError):
    """A duration that is not a number of seconds in (0, MAX_SECONDS]."""


_busy = threading.Lock()


def _stack(frame: FrameType | None) -> list[CodeType]:
    """Innermost first. A thread parked in a known wait is just that wait: its callers are not walked
    (most threads are idle most of the time, and the walk is what a sampling tick costs)."""
    if frame is None:
        return []
    if frame.f_code.co_name in IDLE_FUNCTIONS:
        return [frame.f_code]
    out: list[CodeType] = []
    while frame is not None and len(out) < MAX_DEPTH:
        out.append(frame.f_code)
        frame = frame.f_back
    return out


def code_name(key: Hashable) -> str:
    if not isinstance(key, CodeType):
        return str(key)
    file = key.co_filename.rsplit("/", 1)[-1]
    return f"{file.removesuffix('.py')}.{key.co_qualname} ({file}:{key.co_firstlineno})"


def is_idle(key: Hashable) -> bool:
    return isinstance(key, CodeType) and key.co_name in IDLE_FUNCTIONS


def validate_seconds(seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= MAX_SECONDS:
        raise BadProfileRequest(f"profile duration must be seconds in (0, {MAX_SECONDS:g}], not {seconds!r}")
    return float(seconds)


def profile(seconds: float, hz: float = HZ, top: int = 10) -> ProfileReport:
    """Sample every thread for `seconds` (blocks the caller that long) and report the hottest functions."""
    seconds = validate_seconds(seconds)
    if not _busy.acquire(blocking=False):
        raise ProfileBusy("a profile is already running")
    try:
        book = ProfileBook()
        done = threading.Event()
        sampler = threading.Thread(target=_sample, args=(book, seconds, 1.0 / hz, done), name="arbiter-profiler",
                                   daemon=True)
        started = time.monotonic()
        cpu_before = _thread_cpu()
        sampler.start()
        done.wait(seconds + 5.0)
        sampler.join(1.0)
        elapsed = time.monotonic() - started
        return book.report(elapsed, code_name, top=top, idle=is_idle, cpu_share=_cpu_shares(cpu_before, elapsed))
    finally:
        _busy.release()


def _thread_cpu() -> dict[int, float]:
    """CPU seconds used so far per OS thread id."""
    try:
        return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}
    except psutil.Error:
        return {}


def _cpu_shares(before: dict[int, float], elapsed_s: float) -> dict[str, float]:
    """Per thread label, the CPU it used since `before`, as a share of one core (labels add up)."""
    if elapsed_s <= 0:
        return {}
    _, by_native = thread_labels()
    out: dict[str, float] = {}
    for tid, spent in _thread_cpu().items():
        label = by_native.get(tid)
        if label is not None and label != "arbiter-profiler":
            out[label] = out.get(label, 0.0) + max(0.0, spent - before.get(tid, 0.0)) / elapsed_s
    return out


def _sample(book: ProfileBook, seconds: float, period_s: float, done: threading.Event) -> None:
    cpu_at_start = time.thread_time()
    try:
        own = threading.get_ident()
        labels, _ = thread_labels()
        relabel_at = time.monotonic() + 1.0
        end = time.monotonic() + seconds
        next_at = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= relabel_at:  # actors restart meanwhile: their new threads get their paths
                labels, _ = thread_labels()
                relabel_at = now + 1.0
            for ident, frame in sys._current_frames().items():
                if ident != own:
                    book.add(labels.get(ident, f"thread:{ident}"), _stack(frame))
            book.ticks += 1
            next_at += period_s
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind: do not burst to catch up
    finally:
        book.cpu_s = time.thread_time() - cpu_at_start
        done.set()
