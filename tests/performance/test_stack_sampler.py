"""The profiler's tick on real threads: a parked thread is counted again without a walk, a thread busy outside a
known wait is walked every tick, no frame (nor its locals) outlives a tick, a hostile workload in its own process
does not crash it, and a real profile reports what its ticks cost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from performance.profile import ProfileBook
from probes import profiler
from probes.profiler import StackSampler, profile
from tests.performance.actors import spin_until

TICKS = 20


@pytest.fixture
def parked() -> Iterator[tuple[threading.Thread, threading.Thread, threading.Event]]:
    """A thread parked in Event.wait, and one parked inside a generator's own frame (blocked in a C call)."""
    release = threading.Event()
    held = threading.Lock()
    held.acquire()
    in_generator = threading.Event()

    def generator_parks():  # type: ignore[no-untyped-def]
        in_generator.set()
        held.acquire(timeout=30)  # a C call: the generator's frame is the innermost Python frame
        yield 1

    waiter = threading.Thread(target=release.wait, args=(30,), name="parked-waiter", daemon=True)
    in_gen = threading.Thread(target=lambda: list(generator_parks()), name="parked-generator", daemon=True)
    waiter.start()
    in_gen.start()
    assert in_generator.wait(10)
    yield waiter, in_gen, release
    release.set()
    held.release()
    waiter.join(10)
    in_gen.join(10)


def test_a_parked_thread_is_walked_once_and_counted_every_tick(parked, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    waiter, in_gen, _ = parked
    walked: list[int] = []
    walk = profiler._stack
    monkeypatch.setattr(profiler, "_stack", lambda frame, codes: walked.append(1) or walk(frame, codes))
    book = ProfileBook()
    sampler = StackSampler(book, threading.get_ident())
    labels = {waiter.ident: "waiter", in_gen.ident: "generator"}
    walks_per_tick = []
    for _ in range(TICKS):
        before = len(walked)
        sampler.tick(labels)
        walks_per_tick.append(len(walked) - before)
    assert book.ticks == TICKS
    counts = {label: n for (label, _), n in book.stacks.items() if label in ("waiter", "generator")}
    assert counts == {"waiter": TICKS, "generator": TICKS}  # one stack each, one sample per tick
    assert waiter.ident in sampler.parked and in_gen.ident not in sampler.parked  # blocked in C, not in a known wait
    # after the first tick, only the threads that moved (this one's callers are not sampled) are walked
    assert max(walks_per_tick[1:]) < walks_per_tick[0]
    report = book.report(1.0, sampler.name, idle=sampler.is_idle)
    generator = next(t for t in report.threads if t.thread == "generator")
    assert generator.hottest[0].function.startswith("test_stack_sampler.")  # its own frame, named at the report
    waiting = next(t for t in report.threads if t.thread == "waiter")
    assert waiting.idle_share == 1.0 and waiting.hottest == ()  # parked in Event.wait: idle, by its code's name
    assert not _frames_in(sampler)
    sampler.forget()
    assert sampler.parked == {}


def _frames_in(obj: object, depth: int = 4) -> list[FrameType]:
    """Frame objects reachable from `obj` within `depth` references (the sampler's dicts, tuples, ...)."""
    import gc

    found, todo, seen = [], [(obj, 0)], set()
    while todo:
        item, d = todo.pop()
        if id(item) in seen or d > depth:
            continue
        seen.add(id(item))
        if isinstance(item, FrameType):
            found.append(item)
            continue
        todo.extend((ref, d + 1) for ref in gc.get_referents(item) if not isinstance(ref, type))
    return found


class Held:
    """A local of a sampled frame: when the profiler keeps no frame, it dies as soon as its function returns."""


def test_no_frame_or_local_outlives_its_tick() -> None:
    entered, release, returned = threading.Event(), threading.Event(), threading.Event()
    refs: list[weakref.ref[Held]] = []

    def holds_a_local() -> None:
        held = Held()
        refs.append(weakref.ref(held))
        entered.set()
        release.wait(30)  # the innermost frame is Event.wait's; this one is walked through f_back

    def run() -> None:
        holds_a_local()
        returned.set()
        release.wait(30)  # the thread lives on, somewhere else

    release_after = threading.Event()
    thread = threading.Thread(target=run, name="holder", daemon=True)
    thread.start()
    try:
        assert entered.wait(10)
        book = ProfileBook()
        sampler = StackSampler(book, threading.get_ident())
        for _ in range(TICKS):
            sampler.tick({thread.ident or 0: "holder"})
        assert not _frames_in(sampler)
        release.set()
        assert returned.wait(10)
        assert refs[0]() is None  # the local died with its frame: the profiler held neither
    finally:
        release.set()
        release_after.set()
        thread.join(10)


def test_a_hostile_workload_does_not_crash_the_profiler() -> None:
    """Short-lived threads, deep recursion, generators resumed in other threads, coroutines and exceptions,
    profiled at 1000 Hz in a subprocess with faulthandler on: a crash is its exit code and its stacks."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.performance.profiler_stress", "3", "1000"], cwd=root,
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, f"rc {done.returncode}\n{done.stderr[-4000:]}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["profiles"] > 0 and summary["ticks"] > 0
    assert summary["stress_threads_seen"] >= 12  # every worker was sampled, and some short-lived ones


def test_a_profile_reports_its_ticks_cost_and_still_finds_the_busy_function() -> None:
    stop = threading.Event()
    spinner = threading.Thread(target=spin_until, args=(stop,), name="spinner", daemon=True)
    spinner.start()
    try:
        report = profile(0.5)
    finally:
        stop.set()
        spinner.join(10)
    assert report.ticks > 0 and report.profiler_tick_us is not None and report.profiler_tick_us > 0
    assert report.profiler_gil_share is not None and 0 < report.profiler_gil_share < 1
    spun = next(t for t in report.threads if t.thread == "spinner")
    assert any("spin_until" in f.function for f in spun.hottest)
