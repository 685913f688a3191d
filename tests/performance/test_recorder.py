"""Measurements from any thread, drained by the sampler; bad input is counted, never raised."""

from __future__ import annotations

import threading

import pytest

from performance import recorder
from performance.recorder import drain, end_measurement, measure, measured, start_measurement


@pytest.fixture(autouse=True)
def _empty() -> None:
    drain()


def test_start_end_pair_is_drained_with_its_meta() -> None:
    mid = start_measurement("trade_execution")
    assert end_measurement(mid, success=False, gas=21000)
    [(name, duration_ns, success, meta, _end)] = [e for e in drain() if e[0] == "trade_execution"]
    assert name == "trade_execution" and duration_ns >= 0 and success is False and meta == {"gas": 21000}
    assert drain() == []


def test_unknown_id_and_end_without_start_are_counted() -> None:
    before = recorder.invalid["unknown_id"]
    assert not end_measurement(-42)
    mid = start_measurement("x")
    assert end_measurement(mid)
    assert not end_measurement(mid), "a second end of the same id"
    assert recorder.invalid["unknown_id"] == before + 2


def test_started_on_one_thread_ended_on_another() -> None:
    mid = start_measurement("cross")
    t = threading.Thread(target=end_measurement, args=(mid,))
    t.start()
    t.join()
    assert [e[0] for e in drain()] == ["cross"], "a dead thread's buffer is still drained"


def test_context_manager_and_decorator_mark_exceptions_failed() -> None:
    with measure("ok"):
        pass
    with pytest.raises(ValueError), measure("boom"):
        raise ValueError

    @measured("deco")
    def f(x: int) -> int:
        if x < 0:
            raise ValueError
        return x

    assert f(3) == 3
    with pytest.raises(ValueError):
        f(-1)
    got = [(e[0], e[2]) for e in drain()]
    assert got == [("ok", True), ("boom", False), ("deco", True), ("deco", False)]


def test_many_threads_lose_nothing() -> None:
    def work() -> None:
        for _ in range(500):
            end_measurement(start_measurement("t"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    taken: list = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        taken += drain()
    taken += drain()
    assert len([e for e in taken if e[0] == "t"]) == 2000


def test_abandoned_starts_are_purged() -> None:
    start_measurement("never-ended")
    assert recorder.purge_abandoned(older_than_s=-1.0) >= 1
    assert recorder.open_count() == 0
