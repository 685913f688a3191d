"""The profiler's tick on real threads: a parked thread is counted again without a walk, a frame that can be
resumed elsewhere (a generator's) is walked every tick, and a real profile reports what its ticks cost."""

from __future__ import annotations

import threading
from collections.abc import Iterator

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
    assert waiter.ident in sampler.last and in_gen.ident not in sampler.last  # the generator's frame is never reused
    # after the first tick, only the threads that moved (this one's callers are not sampled) are walked
    assert max(walks_per_tick[1:]) < walks_per_tick[0]
    report = book.report(1.0, sampler.name, idle=sampler.is_idle)
    generator = next(t for t in report.threads if t.thread == "generator")
    assert generator.hottest[0].function.startswith("test_stack_sampler.")  # its own frame, named at the report
    waiting = next(t for t in report.threads if t.thread == "waiter")
    assert waiting.idle_share == 1.0 and waiting.hottest == ()  # parked in Event.wait: idle, by its code's name
    sampler.forget()
    assert sampler.last == {}


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
