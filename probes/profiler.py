"""The on-demand sampling profiler: every thread's stack from sys._current_frames() at 100 Hz for N
seconds, counted per thread label (actor path or thread name) by performance.profile.

Nothing runs until `profile(seconds)` is called: a thread is started for the duration and ends with
it, so the bot pays nothing when no one is profiling. While it runs, each tick takes the GIL for the
time it needs to walk every thread's frames (code objects only; names are made once, at the report),
and that time is what profiling takes from a GIL-bound bot: the report carries it (`profiler_tick_us`,
`profiler_gil_share`). `StackSampler` keeps a tick short (a parked thread is one frame read) and
holds no frame object past a tick (see its docstring for why).
Only one profile runs at a time; a second request while one runs is refused with ProfileBusy.
"""

from __future__ import annotations

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

    Frames are only touched inside a tick, while the sampler holds the GIL and every other thread is
    stopped where it can be inspected: each stack is read into code ids at once, and no frame object is
    kept past the tick (nor any locals read). A frame kept across ticks outlives the moment it was
    consistent: its thread moves on, the frame is handed its own copy of its data as it returns, its
    locals (and whatever they hold) stay alive in the profiler, and walking its `f_back` later reads
    a chain the thread has rebuilt since. That is where sampling profilers have crashed CPython 3.11
    (sentry-python #2386 and #6119, dd-trace-py #13567). Only code objects are kept: they are
    immutable and belong to no thread.

    A parked thread (an actor waiting for mail) stays cheap without a held frame: its innermost function
    is a known wait (IDLE_FUNCTIONS), its callers are not walked, and the stack's key of the last tick
    is reused while the thread waits in the same function and is named by the same labels."""

    def __init__(self, book: ProfileBook, own_ident: int | None = None) -> None:
        self.book = book
        self.own = own_ident  # the sampling thread, left out of its own samples (set by it if not given)
        self.codes: dict[int, CodeType] = {}  # id -> code object, for every function seen in a stack
        #: thread ident -> (the wait's code object it was parked in, the labels it was named by, that stack's key)
        self.parked: dict[int, tuple[CodeType, Mapping[int, str], StackKey]] = {}

    def tick(self, labels: Mapping[int, str]) -> None:
        book, own, counts, codes, parked = self.book, self.own, self.book.stacks, self.codes, self.parked
        frames = sys._current_frames()
        try:
            for ident, frame in frames.items():
                code = frame.f_code
                seen = parked.get(ident)
                if seen is not None and seen[0] is code and seen[1] is labels:
                    counts[seen[2]] += 1  # ProfileBook.again, inlined: the line most ticks run per thread
                    continue
                if ident == own:
                    continue
                label = labels.get(ident)
                key = book.add(label if label is not None else f"thread:{ident}", _stack(frame, codes))
                if key is not None and code.co_name in IDLE_FUNCTIONS:  # its stack is that wait alone
                    parked[ident] = (code, labels, key)
        finally:
            frames.clear()  # no frame outlives the tick (the loop's names go with the return)
        book.ticks += 1

    def forget(self) -> None:
        """Drop what is kept between ticks (code ids and stack keys, no frames): call it when the profile ends."""
        self.parked.clear()

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
