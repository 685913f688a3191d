"""Properties of the breaker over random event sequences (hypothesis).

The state machine drives the pure table with a clock that only moves forward. Each step first
applies a Tick at the new time (so time-driven moves happen on their own), then one event at the
same instant, so an invariant about that event is judged on the event alone.
"""

from __future__ import annotations

import msgspec
from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from supervision.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    Event,
    Failure,
    HeadObserved,
    OperatorClear,
    Quarantine,
    RequestSent,
    StateChanged,
    Success,
    Throttled,
    Tick,
    admit,
    allows_request,
    transition,
)

S = BreakerStatus
policies = st.builds(
    BreakerPolicy,
    failure_threshold=st.integers(1, 3),
    window_size=st.just(8),
    window_min_calls=st.integers(1, 8),
    window_error_rate=st.sampled_from([0.0, 0.3, 0.5, 0.9]),
    reset_timeout_s=st.sampled_from([0.5, 1.0, 3.0]),
    backoff_factor=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    max_reset_timeout_s=st.sampled_from([3.0, 10.0]),
    jitter=st.sampled_from([0.0, 0.2, 0.9]),
    probe_timeout_s=st.sampled_from([0.5, 2.0]),
    max_lag_blocks=st.integers(0, 4),
    stale_head_s=st.sampled_from([1.0, 5.0]),
)
rands = st.floats(0.0, 0.999)
kinds = st.sampled_from(["timeout", "connection", "http_5xx", "garbage", "rate_limited"])


# Events drawn at t=0 and moved to their time afterwards: one strategy object, built once, is much
# faster for hypothesis than a new strategy per event.
EVENTS: st.SearchStrategy[Event] = st.one_of(
    st.builds(Success, now=st.just(0.0), latency_s=st.floats(0, 1)),
    st.builds(Failure, now=st.just(0.0), kind=kinds, rand=rands),
    st.builds(Throttled, now=st.just(0.0), retry_after_s=st.none() | st.floats(0, 5)),
    st.builds(HeadObserved, now=st.just(0.0), own_head=st.integers(0, 20), best_head=st.integers(0, 20)),
    st.builds(Tick, now=st.just(0.0), rand=rands),
)
STEPS = st.lists(st.tuples(st.sampled_from([0.0, 0.1, 1.0, 4.0]), EVENTS), max_size=30)


@st.composite
def histories(draw: st.DrawFn) -> tuple[BreakerPolicy, list[Event]]:
    policy = draw(policies)
    now, events = 0.0, []
    for dt, event in draw(STEPS):
        now += dt
        events.append(msgspec.structs.replace(event, now=now))
    return policy, events


def replay(policy: BreakerPolicy, events: list[Event]) -> BreakerState:
    state = BreakerState()
    for event in events:
        state, _ = transition(state, event, policy)
    return state


@settings(max_examples=80, deadline=None)
@given(histories(), st.data())
def test_n_consecutive_failures_from_closed_always_open(history: tuple[BreakerPolicy, list[Event]],
                                                         data: st.DataObject) -> None:
    policy, events = history
    state = replay(policy, events)
    now = events[-1].now if events else 0.0
    state, _ = transition(state, Tick(now=now), policy)
    if state.status not in (S.CLOSED, S.LAGGING):
        return
    for _ in range(policy.failure_threshold):
        state, _ = transition(state, Failure(now=now, kind=data.draw(kinds.filter(lambda k: k != "rate_limited"))),
                              policy)
    assert state.status == S.OPEN


@settings(max_examples=80, deadline=None)
@given(histories(), st.lists(st.floats(0, 100), max_size=20))
def test_throttling_never_opens_and_never_moves_the_state(history: tuple[BreakerPolicy, list[Event]],
                                                          retries: list[float]) -> None:
    policy, events = history
    state = replay(policy, events)
    now = events[-1].now if events else 0.0
    state, _ = transition(state, Tick(now=now), policy)
    for retry_after in retries:
        for event in (Throttled(now=now, retry_after_s=retry_after), Failure(now=now, kind="rate_limited")):
            after, actions = transition(state, event, policy)
            assert after.status == state.status
            assert after.consecutive_failures == state.consecutive_failures and after.window == state.window
            assert not any(isinstance(a, StateChanged) for a in actions)
            assert after.parked_until >= state.parked_until
            if isinstance(event, Throttled) and state.status != S.QUARANTINED:
                assert after.parked_until >= now + retry_after
            state = after


@settings(max_examples=150, deadline=None)
@given(histories(), st.integers(1, 12), st.sampled_from([0.0, 0.05, 2.0]), st.booleans())
def test_a_batch_of_successes_is_exactly_that_many_successes(
    history: tuple[BreakerPolicy, list[Event]], count: int, later: float, probe: bool
) -> None:
    """What the endpoint actor relies on to feed a batch of answers as one event."""
    policy, events = history
    state = replay(policy, events)
    now = (events[-1].now if events else 0.0) + later
    if probe:  # claim the HALF_OPEN probe slot, so the batch's first answer is the probe's
        state, _ = transition(state, RequestSent(now=now), policy)
    one_by_one, actions = state, []
    for _ in range(count):
        one_by_one, step = transition(one_by_one, Success(now=now, latency_s=0.01), policy)
        actions += step
    batched, batch_actions = transition(state, Success(now=now, latency_s=0.01, count=count), policy)
    assert batched == one_by_one
    assert batch_actions == actions


class BreakerMachine(RuleBasedStateMachine):
    """Random traffic against one breaker, with the operator and the chain stepping in."""

    @initialize(policy=policies)
    def start(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self.state = BreakerState()
        self.now = 0.0
        self.probes_in_flight = 0  # admitted while HALF_OPEN, not yet answered
        self.last_open_timeout = 0.0

    # --- stepping -------------------------------------------------------------------------

    def _apply(self, msg: Event) -> list[object]:
        before = self.state
        self.state, actions = transition(self.state, msg, self.policy)
        after = self.state
        note(f"{before.status} -> {after.status} on {type(msg).__name__}")
        if before.status == S.QUARANTINED and not isinstance(msg, OperatorClear):
            assert after.status == S.QUARANTINED, f"{msg} moved a quarantined breaker"
        if after.status != S.HALF_OPEN or before.status != S.HALF_OPEN or after.probe_started_at is None:
            self.probes_in_flight = 0  # left HALF_OPEN, or the probe was answered / timed out / parked
        if after.status == S.OPEN and before.status != S.OPEN:
            assert 0 < after.reset_timeout_s <= self.policy.max_reset_timeout_s
            if after.reopens > 0:
                assert after.reset_timeout_s >= self.last_open_timeout, "re-open timeout shrank"
            self.last_open_timeout = after.reset_timeout_s
        if after.status == S.CLOSED and before.status != S.CLOSED and before.status != S.LAGGING:
            assert after.reset_timeout_s == 0 and after.reopens == 0
        return list(actions)

    def _advance(self, dt: float, rand: float) -> None:
        self.now += dt
        self._apply(Tick(now=self.now, rand=rand))

    # --- rules ----------------------------------------------------------------------------

    @rule(dt=st.sampled_from([0.0, 0.05, 0.5, 2.0, 6.0]), rand=rands, needs_head=st.booleans(),
          answer=st.sampled_from([None, "success", "failure"]))
    def request(self, dt: float, rand: float, needs_head: bool, answer: str | None) -> None:
        """Ask to send; when admitted, maybe answer at once (the probe's outcome, in HALF_OPEN)."""
        self._advance(dt, rand)
        before = self.state
        self.state, ok, _ = admit(self.state, self.now, self.policy, needs_head=needs_head, rand=rand)
        if before.status == S.OPEN:
            assert not ok and self.now < before.open_until  # the Tick already moved a due OPEN
        if before.status == S.QUARANTINED or self.now < before.parked_until:
            assert not ok
        if ok and self.state.status == S.HALF_OPEN:
            self.probes_in_flight += 1
        assert self.probes_in_flight <= 1, "two half-open probes in flight"
        if ok and answer == "success":
            self._apply(Success(now=self.now))
        elif ok and answer == "failure":
            self._apply(Failure(now=self.now, kind="http_5xx", rand=rand))

    @rule(dt=st.sampled_from([0.0, 0.05, 0.5, 2.0]), latency=st.floats(0, 2))
    def success(self, dt: float, latency: float) -> None:
        self._advance(dt, 0.0)
        self._apply(Success(now=self.now, latency_s=latency))

    @rule(dt=st.sampled_from([0.0, 0.05, 0.5, 2.0]), kind=kinds, rand=rands)
    def failure(self, dt: float, kind: str, rand: float) -> None:
        self._advance(dt, rand)
        before = self.state
        self._apply(Failure(now=self.now, kind=kind, rand=rand))
        if kind == "rate_limited":
            assert self.state.status == before.status, "a 429 moved the breaker"
        elif before.status in (S.CLOSED, S.LAGGING) and before.consecutive_failures + 1 >= \
                self.policy.failure_threshold:
            assert self.state.status == S.OPEN

    @rule(dt=st.sampled_from([0.0, 0.5, 2.0]), retry_after=st.none() | st.floats(0, 5))
    def throttled(self, dt: float, retry_after: float | None) -> None:
        self._advance(dt, 0.0)
        before = self.state
        self._apply(Throttled(now=self.now, retry_after_s=retry_after))
        assert self.state.status == before.status, "a 429 moved the breaker"
        assert self.state.parked_until >= before.parked_until

    @rule(dt=st.sampled_from([0.0, 1.0, 3.0]), own=st.integers(0, 30), ahead=st.integers(0, 10))
    def head(self, dt: float, own: int, ahead: int) -> None:
        self._advance(dt, 0.0)
        self._apply(HeadObserved(now=self.now, own_head=own, best_head=own + ahead))

    @precondition(lambda self: self.state.status != S.QUARANTINED)
    @rule(reason=st.sampled_from(["chain id 5 where 1 was configured", "lying answer: head went back"]),
          roll=st.integers(0, 3))
    def quarantine(self, reason: str, roll: int) -> None:
        if roll:  # quarantine ends a run's interesting part: make it rarer than the other rules
            return
        self._apply(Quarantine(now=self.now, reason=reason))
        assert self.state.status == S.QUARANTINED

    @rule()
    def operator_clear(self) -> None:
        self._apply(OperatorClear(now=self.now))
        assert self.state.status in (S.CLOSED, S.LAGGING)

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def open_never_allows_before_its_timeout(self) -> None:
        if self.state.status == S.OPEN:
            assert not allows_request(self.state, self.now, needs_head=False)
            assert self.now < self.state.open_until

    @invariant()
    def timeouts_stay_within_the_cap(self) -> None:
        assert 0 <= self.state.reset_timeout_s <= self.policy.max_reset_timeout_s
        assert 0 <= self.state.base_timeout_s <= self.policy.max_reset_timeout_s

    @invariant()
    def quarantine_and_parking_refuse_everything(self) -> None:
        if self.state.status == S.QUARANTINED or self.now < self.state.parked_until:
            assert not allows_request(self.state, self.now, needs_head=False)

    @invariant()
    def probe_only_in_half_open(self) -> None:
        if self.state.status != S.HALF_OPEN:
            assert self.state.probe_started_at is None

    @invariant()
    def window_is_bounded(self) -> None:
        assert len(self.state.window) <= self.policy.window_size


BreakerMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase
