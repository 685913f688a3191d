"""The on-demand sampling profiler: every thread's stack from sys._current_frames() at 100 Hz for N
seconds, counted per thread label (actor path or thread name) by performance.profile.

Nothing runs until `profile(seconds)` is called: a thread is started for the duration and ends with
it, so the bot pays nothing when no one is profiling. While it runs, each tick takes the GIL for the
time it needs to walk every thread's frames (code objects only; names are made once, at the report),
and that time is what profiling takes from a GIL-bound bot: the report carries it (`profiler_tick_us`,
`profiler_gil_share`). `StackSampler` keeps a tick short: most threads are parked in the very frame
they were in at the last tick, and those are counted again without a walk.
Only one profile runs at a time; a second request while one runs is refused with ProfileBusy.
"""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections.abc import Hashable, Mapping
from types import CodeType, FrameType

import psutil

from performance.profile import IDLE_FUNCTIONS, ProfileBook, StackKey
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
#: Frames that can leave a thread's stack and be resumed later under other callers: never counted again unwalked.
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE


def _stack(frame: FrameType | None, codes: dict[int, CodeType]) -> tuple[int, ...]:
    """Innermost first, each function as id() of its code object, which `codes` keeps (alive, so the id is
    not reused, and for naming at the report): a tuple of ints hashes at once, while a code object's hash
    is recomputed on every call, over its name, bytecode and constants. A thread parked in a known wait
    is just that wait: its callers are not walked (most threads are idle most of the time)."""
    if frame is None:
        return ()
    code = frame.f_code
    if code.co_name in IDLE_FUNCTIONS:
        codes.setdefault(id(code), code)
        return (id(code),)
    out: list[int] = []
    while frame is not None and len(out) < MAX_DEPTH:
        code = frame.f_code
        key = id(code)
        if key not in codes:
            codes[key] = code
        out.append(key)
        frame = frame.f_back
    return tuple(out)


class StackSampler:
    """One `tick()` counts every thread's stack (but the caller's) once in `book`, functions by code id.

    A thread whose innermost frame is the very frame object of the last tick has the same stack of
    functions (a stack is counted by its functions, not by line): a running function's callers cannot
    change under it, and holding the frame keeps its identity from being reused. Generator and coroutine
    frames are the exception (they suspend and resume under other callers), so they are always walked.
    A parked thread (an actor waiting for mail) then costs a dict lookup and an increment per tick."""

    def __init__(self, book: ProfileBook, own_ident: int | None = None) -> None:
        self.book = book
        self.own = own_ident  # the sampling thread, left out of its own samples (set by it if not given)
        self.codes: dict[int, CodeType] = {}  # id -> code object, for every function seen in a stack
        self.last: dict[int, tuple[FrameType, StackKey]] = {}  # thread ident -> (innermost frame, its stack's key)

    def tick(self, labels: Mapping[int, str]) -> None:
        book, last, own, counts, codes = self.book, self.last, self.own, self.book.stacks, self.codes
        for ident, frame in sys._current_frames().items():
            if ident == own:
                continue
            seen = last.get(ident)
            if seen is not None and seen[0] is frame:
                counts[seen[1]] += 1  # ProfileBook.again, inlined: this is the line most ticks run per thread
                continue
            label = labels.get(ident)
            key = book.add(label if label is not None else f"thread:{ident}", _stack(frame, codes))
            if key is not None and not frame.f_code.co_flags & _RESUMABLE:
                last[ident] = (frame, key)
            elif seen is not None:
                del last[ident]
        book.ticks += 1

    def forget(self) -> None:
        """Drop the frames held (and whatever their locals hold): call it when the profile ends."""
        self.last.clear()

    def name(self, key: Hashable) -> str:
        """A function of a stack, named: `module.qualname (file:line)`."""
        code = self.codes.get(key) if isinstance(key, int) else None
        if code is None:
            return str(key)
        file = code.co_filename.rsplit("/", 1)[-1]
        return f"{file.removesuffix('.py')}.{code.co_qualname} ({file}:{code.co_firstlineno})"

    def is_idle(self, key: Hashable) -> bool:
        code = self.codes.get(key) if isinstance(key, int) else None
        return code is not None and code.co_name in IDLE_FUNCTIONS


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
        stacks = StackSampler(book)
        done = threading.Event()
        sampler = threading.Thread(target=_sample, args=(stacks, seconds, 1.0 / hz, done), name="arbiter-profiler",
                                   daemon=True)
        started = time.monotonic()
        cpu_before = _thread_cpu()
        sampler.start()
        done.wait(seconds + 5.0)
        sampler.join(1.0)
        elapsed = time.monotonic() - started
        return book.report(elapsed, stacks.name, top=top, idle=stacks.is_idle,
                           cpu_share=_cpu_shares(cpu_before, elapsed))
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


def _sample(stacks: StackSampler, seconds: float, period_s: float, done: threading.Event) -> None:
    cpu_at_start = time.thread_time()
    book = stacks.book
    stacks.own = threading.get_ident()
    tick_s = 0.0
    try:
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
            started = time.perf_counter()
            stacks.tick(labels)
            tick_s += time.perf_counter() - started
            next_at += period_s
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind: do not burst to catch up
    finally:
        stacks.forget()
        book.cpu_s = time.thread_time() - cpu_at_start
        book.tick_s = tick_s
        done.set()
