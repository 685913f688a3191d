"""The fixed worker pool: its threads exist from the start and stay the same through any burst; every
task's future resolves with its result or its exception; shutdown cancels what was queued if asked,
ends the workers, and refuses new tasks."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervision.workers import FixedThreadPool


def _pool_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}_")]


@settings(max_examples=30, deadline=None)
@given(workers=st.integers(1, 4), tasks=st.lists(st.one_of(st.integers(), st.none()), max_size=40))
def test_the_threads_are_all_there_from_the_start_and_every_future_resolves(workers: int,
                                                                            tasks: list[int | None]) -> None:
    pool = FixedThreadPool(workers, "fixed-prop")
    try:
        started = _pool_threads("fixed-prop")
        assert len(started) == workers

        def task(x: int | None) -> int:
            if x is None:
                raise ValueError("a failing task")
            return x * 2

        futures = [pool.submit(task, x) for x in tasks]
        for x, future in zip(tasks, futures):
            if x is None:
                assert isinstance(future.exception(5), ValueError)
            else:
                assert future.result(5) == x * 2
        assert _pool_threads("fixed-prop") == started, "no thread added by the burst"
    finally:
        pool.shutdown(wait=True)
    assert not _pool_threads("fixed-prop")


def test_shutdown_with_cancel_futures_cancels_the_queued_and_refuses_new_tasks() -> None:
    pool = FixedThreadPool(1, "fixed-cancel")
    gate, entered = threading.Event(), threading.Event()

    def hold() -> bool:
        entered.set()
        return gate.wait(10)

    running = pool.submit(hold)
    assert entered.wait(5)
    queued = [pool.submit(lambda: 1) for _ in range(5)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: 1)
    gate.set()
    assert running.result(5) is True
    pool.shutdown(wait=True)
    assert not _pool_threads("fixed-cancel")


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        FixedThreadPool(0, "none")
