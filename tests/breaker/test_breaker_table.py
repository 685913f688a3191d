"""Example-based checks of the breaker's table: each test walks one path an operator would see."""

from __future__ import annotations

import pytest

from supervision.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    Failure,
    HeadObserved,
    OperatorClear,
    Parked,
    RequestSent,
    StateChanged,
    Success,
    Throttled,
    Tick,
    WakeAt,
    admit,
    allows_request,
    chain_id_mismatch,
    lying_answer,
    transition,
)

POLICY = BreakerPolicy(failure_threshold=3, window_size=10, window_min_calls=4, window_error_rate=0.5,
                       reset_timeout_s=10.0, backoff_factor=2.0, max_reset_timeout_s=35.0, jitter=0.2,
                       probe_timeout_s=5.0, max_lag_blocks=3, stale_head_s=20.0)
S = BreakerStatus


def run(state: BreakerState, *events: object) -> BreakerState:
    for event in events:
        state, _ = transition(state, event, POLICY)  # type: ignore[arg-type]
    return state


def opened(now: float = 0.0) -> BreakerState:
    return run(BreakerState(), *(Failure(now=now) for _ in range(POLICY.failure_threshold)))


def test_consecutive_failures_open_and_tell_when_to_wake() -> None:
    state = run(BreakerState(), Failure(now=0), Failure(now=0))
    assert state.status == S.CLOSED and state.consecutive_failures == 2
    state, actions = transition(state, Failure(now=1.0, kind="timeout"), POLICY)
    assert state.status == S.OPEN
    assert state.open_until == pytest.approx(11.0) and state.reset_timeout_s == pytest.approx(10.0)
    assert StateChanged(previous=S.CLOSED, current=S.OPEN, reason="3 consecutive failures", at=1.0) in actions
    assert WakeAt(at=11.0) in actions
    assert not allows_request(state, 10.99)


def test_a_success_resets_the_consecutive_count() -> None:
    ok = [Success(now=0)] * 5
    state = run(BreakerState(), *ok, Failure(now=0), Failure(now=0), Success(now=0), Failure(now=0), Failure(now=0))
    assert state.status == S.CLOSED and state.consecutive_failures == 2  # 4 of 10 in the window: below 50%


def test_error_rate_over_the_window_opens_without_consecutive_failures() -> None:
    # F S F S F: never 3 in a row, but 3 of 5 > 50% once at least 4 calls are in the window
    state = run(BreakerState(), Failure(now=0), Success(now=0), Failure(now=0), Success(now=0))
    assert state.status == S.CLOSED  # 50% is not above the threshold
    state = run(state, Failure(now=0))
    assert state.status == S.OPEN and "error rate 60%" in state.reason


def test_open_goes_half_open_after_timeout_and_lets_exactly_one_probe() -> None:
    state = opened()
    state, ok, _ = admit(state, 9.0, POLICY)
    assert not ok and state.status == S.OPEN
    state, ok, actions = admit(state, 10.0, POLICY)
    assert ok and state.status == S.HALF_OPEN and state.probe_started_at == 10.0
    assert WakeAt(at=15.0) in actions  # the probe's deadline
    state, ok, _ = admit(state, 10.5, POLICY)
    assert not ok  # one probe in flight already


def test_probe_success_closes_and_resets_the_timeout() -> None:
    state, _, _ = admit(opened(), 10.0, POLICY)
    state = run(state, Success(now=10.2, latency_s=0.2))
    assert state.status == S.CLOSED and state.reset_timeout_s == 0 and state.reopens == 0
    state = run(state, *(Failure(now=11) for _ in range(3)))
    assert state.reset_timeout_s == pytest.approx(10.0)  # back to the first timeout


def test_probe_failure_reopens_longer_with_jitter_and_cap() -> None:
    state, _, _ = admit(opened(), 10.0, POLICY)
    state, _ = transition(state, Failure(now=10.1, rand=0.5), POLICY)
    assert state.status == S.OPEN and state.reopens == 1
    assert state.reset_timeout_s == pytest.approx(20.0 * 1.1)  # 10 * 2, jitter 0.2 * 0.5
    timeouts = [state.reset_timeout_s]
    now = state.open_until
    for _ in range(4):
        state, ok, _ = admit(state, now, POLICY)
        assert ok
        state = run(state, Failure(now=now, rand=0.99))
        timeouts.append(state.reset_timeout_s)
        now = state.open_until
    assert timeouts == sorted(timeouts) and max(timeouts) == pytest.approx(35.0)


def test_unanswered_probe_times_out_as_a_failure() -> None:
    state, _, _ = admit(opened(), 10.0, POLICY)
    state = run(state, Tick(now=14.9))
    assert state.status == S.HALF_OPEN
    state = run(state, Tick(now=15.0))
    assert state.status == S.OPEN and state.reason == "probe timed out" and state.reopens == 1


def test_429_parks_without_counting_and_frees_the_probe() -> None:
    state = run(BreakerState(), Failure(now=0), Failure(now=0))
    state, actions = transition(state, Throttled(now=1.0, retry_after_s=30.0), POLICY)
    assert state.status == S.CLOSED and state.consecutive_failures == 2 and state.parked_until == 31.0
    assert Parked(until=31.0) in actions
    assert not allows_request(state, 30.9) and allows_request(state, 31.0)
    state = run(state, *(Failure(now=2.0, kind="rate_limited") for _ in range(10)))
    assert state.status == S.CLOSED  # a 429 reported as a failure kind still only parks
    probing, _, _ = admit(opened(), 10.0, POLICY)
    probing = run(probing, Throttled(now=10.1, retry_after_s=1.0))
    assert probing.status == S.HALF_OPEN and probing.probe_started_at is None
    assert admit(probing, 11.1, POLICY)[1]


def test_lagging_by_blocks_and_by_a_stale_head_then_caught_up() -> None:
    state = run(BreakerState(), HeadObserved(now=0, own_head=100, best_head=103))
    assert state.status == S.CLOSED  # 3 behind is within max_lag_blocks
    state = run(state, HeadObserved(now=1, own_head=100, best_head=104))
    assert state.status == S.LAGGING and "4 blocks behind" in state.reason
    assert not allows_request(state, 1) and allows_request(state, 1, needs_head=False)
    state = run(state, HeadObserved(now=2, own_head=104, best_head=104))
    assert state.status == S.CLOSED
    state = run(state, HeadObserved(now=3, own_head=104, best_head=105), Tick(now=21.9))
    assert state.status == S.CLOSED  # 1 behind, head last moved at t=2
    state = run(state, Tick(now=22.0))
    assert state.status == S.LAGGING and "has not moved" in state.reason


def test_a_whole_chain_standing_still_is_not_lagging() -> None:
    state = run(BreakerState(), HeadObserved(now=0, own_head=7, best_head=7), Tick(now=10_000))
    assert state.status == S.CLOSED


def test_failures_in_lagging_still_open_it() -> None:
    state = run(BreakerState(), HeadObserved(now=0, own_head=1, best_head=50))
    state = run(state, *(Failure(now=0) for _ in range(3)))
    assert state.status == S.OPEN


def test_quarantine_only_leaves_by_operator_clear() -> None:
    state = run(BreakerState(), chain_id_mismatch(0, expected=1, got=5))
    assert state.status == S.QUARANTINED and state.reason == "chain id 5 where 1 was configured"
    state = run(state, Success(now=1), Tick(now=1e6), HeadObserved(now=1e6, own_head=9, best_head=9),
                RequestSent(now=1e6), lying_answer(1e6, "head went backwards"))
    assert state.status == S.QUARANTINED and not allows_request(state, 1e6, needs_head=False)
    state, actions = transition(state, OperatorClear(now=1e6 + 1), POLICY)
    assert state.status == S.CLOSED
    assert actions == [StateChanged(previous=S.QUARANTINED, current=S.CLOSED, reason="cleared by operator",
                                    at=1e6 + 1)]


def test_late_answers_while_open_change_nothing() -> None:
    state = opened()
    assert run(state, Success(now=1), Failure(now=2)) == state


@pytest.mark.parametrize(
    "bad",
    [dict(failure_threshold=0), dict(window_min_calls=30), dict(reset_timeout_s=500.0),
     dict(backoff_factor=0.5), dict(jitter=1.0), dict(max_lag_blocks=-1)],
)
def test_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid BreakerPolicy"):
        BreakerPolicy(**bad)  # type: ignore[arg-type]


def test_a_quarantine_is_logged_as_a_warning_and_other_transitions_as_info() -> None:
    from supervision.breaker import BreakerStatus, transition_log_level

    assert transition_log_level(BreakerStatus.QUARANTINED) == "WARNING"
    assert {transition_log_level(s) for s in BreakerStatus if s is not BreakerStatus.QUARANTINED} == {"INFO"}
