"""Backoff: Akka's formula as a property, and the supervisor resetting the count after a quiet period."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervision import Backoff, Handle, RestartStrategy, start_tree
from supervision.spec import NO_BACKOFF
from supervision.supervisor import Supervisor
from tests.supervision.kit import (
    WAIT_S,
    Boom,
    Control,
    EventLog,
    Sync,
    logged_supervisor_spec,
    wait_for_timer,
    worker_spec,
)

seconds = st.floats(min_value=0.0, max_value=60.0, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
factor = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    lo = draw(seconds)
    hi = lo + draw(seconds)
    return Backoff(min_s=lo, max_s=hi, random_factor=draw(factor))


@settings(max_examples=200, deadline=None)
@given(b=backoffs(), n=st.integers(0, 80), u=unit)
def test_delay_doubles_from_min_up_to_max_then_jitters(b: Backoff, n: int, u: float) -> None:
    jitter = 1.0 + u * b.random_factor
    assert math.isclose(b.delay(0, u), b.min_s * jitter, rel_tol=1e-12, abs_tol=1e-12)
    # Each attempt doubles the previous base, capped at max: an independent restatement of the formula.
    assert math.isclose(b.delay(n + 1, u), min(b.max_s * jitter, 2.0 * b.delay(n, u)), rel_tol=1e-9, abs_tol=1e-12)
    assert b.min_s * jitter - 1e-12 <= b.delay(n, u) <= b.max_s * jitter + 1e-12
    assert b.delay(n, 0.0) <= b.delay(n, u) <= b.delay(n, 0.0) * (1.0 + b.random_factor) + 1e-12


@settings(max_examples=100, deadline=None)
@given(b=backoffs(), n=st.integers(-5, 0), u=unit)
def test_a_negative_attempt_counts_as_the_first(b: Backoff, n: int, u: float) -> None:
    assert b.delay(n, u) == b.delay(0, u)


@settings(max_examples=100, deadline=None)
@given(b=backoffs(), reset=st.one_of(st.none(), seconds))
def test_quiet_period_defaults_to_the_midpoint(b: Backoff, reset: float | None) -> None:
    b = Backoff(min_s=b.min_s, max_s=b.max_s, random_factor=b.random_factor, reset_after_s=reset)
    assert b.quiet_period_s == (reset if reset is not None else (b.min_s + b.max_s) / 2.0)


@given(n=st.integers(0, 100), u=unit)
def test_no_backoff_restarts_at_once(n: int, u: float) -> None:
    assert NO_BACKOFF.delay(n, u) == 0.0


def test_akka_example_figures() -> None:
    b = Backoff(min_s=0.05, max_s=2.0, random_factor=0.2)
    assert [b.delay(n, 0.0) for n in range(7)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0])
    assert b.delay(10, 0.5) == pytest.approx(2.0 * 1.1)


def _attempt(sup: Supervisor, child_id: str) -> int:
    return next(r.backoff_attempt for r in sup.records() if r.spec.id == child_id)


def test_the_backoff_count_grows_with_quick_restarts_and_resets_after_the_quiet_period(
    events: EventLog, control: Control
) -> None:
    # A quiet period long enough that three back-to-back restarts always fall inside it.
    quiet_s = 0.5
    backoff = Backoff(min_s=0.001, max_s=0.004, random_factor=0.0, reset_after_s=quiet_s)
    root = logged_supervisor_spec("root", [worker_spec("w0", events, control)], events, control, backoff=backoff)
    tree = start_tree(root)
    sup = tree.ref._actor_weakref()  # type: ignore[union-attr]
    assert isinstance(sup, Supervisor) and sup.strategy is RestartStrategy.ONE_FOR_ONE

    def crash_and_wait_restart() -> None:
        starts = sum(1 for e in events.events() if e.kind == "start" and e.path == "/w0")
        Handle("/w0").tell(Boom())
        assert events.wait_until(lambda evs: sum(1 for e in evs if e.kind == "start" and e.path == "/w0") > starts)
        Handle("/").ask(Sync(), timeout=WAIT_S)  # the supervisor has finished the restart

    for expected in (1, 2, 3):
        crash_and_wait_restart()
        assert _attempt(sup, "w0") == expected
    # Let the quiet period pass on the real clock: time passing is the stimulus, and there is no event to
    # wait on (the supervisor only compares the clock with the last restart when the next crash comes).
    wait_for_timer(quiet_s * 1.2)
    crash_and_wait_restart()
    assert _attempt(sup, "w0") == 1, "the count should restart from 0 after a quiet period"
