"""The circuit breaker of an endpoint (RPC node, alert channel) as a pure state machine.

No threads, no clocks: every event carries `now` (seconds on the caller's monotonic clock) and
every random draw (`rand` in [0, 1)) is passed in, so the whole table is testable by replay.

    transition(state, event, policy) -> (state, actions)
    allows_request(state, now, needs_head=True) -> bool
    admit(state, now, policy) -> (state, allowed, actions)   # tick + check + claim the probe

States (Akka's three plus two the chain demands):

    CLOSED       requests flow; failures are counted (consecutive, and over a window of calls)
    OPEN         fail fast until `open_until`; then HALF_OPEN on the next event
    HALF_OPEN    exactly one probe may be in flight; success closes, failure re-opens longer
    LAGGING      healthy but its head is behind the best endpoint's: no head-sensitive reads
    QUARANTINED  wrong chain id or a lying answer; only an operator clears it

Choices worth knowing:
- 429 / throttling never counts as a failure (eRPC's rule): it parks the endpoint until
  `parked_until`, whatever the state. A `Failure(kind="rate_limited")` is treated as a park too.
- Timeouts do count (Akka's rule) unless listed in `BreakerPolicy.ignored_kinds`.
- LAGGING still allows requests that do not need the current head (`needs_head=False`): a
  transaction broadcast, eth_chainId, a historical read. Head-sensitive reads go elsewhere.
  Failures in LAGGING count exactly as in CLOSED.
- Answers arriving while OPEN (requests sent before it opened) change nothing.
- `OperatorClear` resets any state to CLOSED with fresh counters (a forced reset from OPEN is an
  operator's call too); it keeps a park, since the server asked for it.
- A chain that stops as a whole (every endpoint at the same head) is not LAGGING: staleness is
  only judged when the endpoint's head is below the best one seen.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

RATE_LIMITED = "rate_limited"  # FaultKind.RATE_LIMITED in protocol.network


class BreakerStatus(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    LAGGING = "LAGGING"
    QUARANTINED = "QUARANTINED"


#: A quarantine needs an operator (`clear rpc:<name>`), so it is a WARNING; other transitions heal alone.
_TRANSITION_LEVELS = {BreakerStatus.QUARANTINED: "WARNING"}


def transition_log_level(current: BreakerStatus) -> str:
    """The log level of a transition into `current`."""
    return _TRANSITION_LEVELS.get(current, "INFO")


class BreakerPolicy(msgspec.Struct, frozen=True):
    """How a breaker trips and recovers. Defaults follow pybreaker/Akka/eRPC/dshackle (see REFERENCE.md)."""

    failure_threshold: int = 5  # consecutive failures that open it (pybreaker's 5)
    window_size: int = 20  # calls remembered for the error rate
    window_min_calls: int = 10  # no rate verdict on fewer calls than this
    window_error_rate: float = 0.5  # open when failures / calls in the window exceed this
    reset_timeout_s: float = 15.0  # first OPEN duration (Akka's 15 s)
    backoff_factor: float = 2.0  # each failed probe multiplies the timeout by this
    max_reset_timeout_s: float = 300.0  # the timeout never grows past this
    jitter: float = 0.2  # applied timeout = timeout * (1 + jitter * rand), capped
    probe_timeout_s: float = 10.0  # a probe unanswered this long counts as failed (Akka's call timeout)
    max_lag_blocks: int = 6  # LAGGING when the head is further behind the best (dshackle's 6)
    stale_head_s: float = 30.0  # LAGGING when the head has not moved this long while behind (eRPC's 30 s)
    default_park_s: float = 1.0  # park length for a 429 without Retry-After
    ignored_kinds: frozenset[str] = frozenset()  # failure kinds that do not count (e.g. {"timeout"})

    def __post_init__(self) -> None:
        problems = []
        if self.failure_threshold < 1:
            problems.append("failure_threshold must be >= 1")
        if not 1 <= self.window_min_calls <= self.window_size:
            problems.append("window_min_calls must be between 1 and window_size")
        if not 0.0 <= self.window_error_rate < 1.0:
            problems.append("window_error_rate must be in [0, 1)")
        if not 0.0 < self.reset_timeout_s <= self.max_reset_timeout_s:
            problems.append("reset_timeout_s must be > 0 and <= max_reset_timeout_s")
        if self.backoff_factor < 1.0:
            problems.append("backoff_factor must be >= 1")
        if not 0.0 <= self.jitter < 1.0:
            problems.append("jitter must be in [0, 1)")
        if self.probe_timeout_s <= 0 or self.stale_head_s <= 0 or self.default_park_s < 0:
            problems.append("probe_timeout_s and stale_head_s must be > 0, default_park_s >= 0")
        if self.max_lag_blocks < 0:
            problems.append("max_lag_blocks must be >= 0")
        if problems:
            raise ValueError("invalid BreakerPolicy: " + "; ".join(problems))


class BreakerState(msgspec.Struct, frozen=True):
    """Everything the breaker remembers. Replace it, never mutate it."""

    status: BreakerStatus = BreakerStatus.CLOSED
    since: float = 0.0  # when it entered `status`
    reason: str = ""  # why it is in `status` (for the console and alerts)
    consecutive_failures: int = 0
    window: tuple[bool, ...] = ()  # recent call outcomes, True = failure, oldest first
    open_until: float = 0.0  # OPEN: HALF_OPEN is possible from this time on
    reset_timeout_s: float = 0.0  # the timeout applied at the last open (0: never opened since closed)
    base_timeout_s: float = 0.0  # that timeout before jitter; grows by backoff_factor per re-open
    reopens: int = 0  # consecutive re-opens since it was last CLOSED
    probe_started_at: float | None = None  # HALF_OPEN: the one probe in flight
    parked_until: float = 0.0  # no requests before this (429 Retry-After)
    own_head: int | None = None
    best_head: int | None = None
    head_moved_at: float = 0.0  # when own_head last increased

    @property
    def lag_blocks(self) -> int | None:
        if self.own_head is None or self.best_head is None:
            return None
        return max(0, self.best_head - self.own_head)


# Events -------------------------------------------------------------------------------------


class Success(msgspec.Struct, frozen=True, tag=True):
    """`count` answers at `now`: exactly the same as `count` Success events in a row at that time (a busy
    endpoint's actor feeds a batch of answers as one event)."""

    now: float
    latency_s: float = 0.0
    count: int = 1


class Failure(msgspec.Struct, frozen=True, tag=True):
    now: float
    kind: str = "error"  # a protocol.network.FaultKind value, or any short tag
    rand: float = 0.0  # jitter draw in [0, 1), used if this failure opens the breaker


class Tick(msgspec.Struct, frozen=True, tag=True):
    """Time passes: OPEN may become HALF_OPEN, a probe may time out, a head may go stale."""

    now: float
    rand: float = 0.0


class RequestSent(msgspec.Struct, frozen=True, tag=True):
    """A request left for this endpoint; in HALF_OPEN it claims the single probe slot."""

    now: float


class HeadObserved(msgspec.Struct, frozen=True, tag=True):
    now: float
    own_head: int
    best_head: int  # the best head seen across all endpoints


class Quarantine(msgspec.Struct, frozen=True, tag=True):
    """A wrong chain id or a lying answer: the endpoint cannot be trusted until an operator says so."""

    now: float
    reason: str


class OperatorClear(msgspec.Struct, frozen=True, tag=True):
    now: float


class Throttled(msgspec.Struct, frozen=True, tag=True):
    """A 429 (or "limit exceeded"): park for retry_after_s; not a failure."""

    now: float
    retry_after_s: float | None = None


Event = Success | Failure | Tick | RequestSent | HeadObserved | Quarantine | OperatorClear | Throttled


def chain_id_mismatch(now: float, expected: int, got: int) -> Quarantine:
    return Quarantine(now=now, reason=f"chain id {got} where {expected} was configured")


def lying_answer(now: float, detail: str) -> Quarantine:
    return Quarantine(now=now, reason=f"lying answer: {detail}")


# Actions: what the owner of the breaker should do --------------------------------------------


class StateChanged(msgspec.Struct, frozen=True, tag=True):
    previous: BreakerStatus
    current: BreakerStatus
    reason: str
    at: float


class Parked(msgspec.Struct, frozen=True, tag=True):
    until: float


class WakeAt(msgspec.Struct, frozen=True, tag=True):
    """Send a Tick at `at` (e.g. ctx.send_after): the breaker has a deadline then."""

    at: float


Action = StateChanged | Parked | WakeAt


# The table ----------------------------------------------------------------------------------

_S = BreakerStatus


def transition(
    state: BreakerState, event: Event, policy: BreakerPolicy
) -> tuple[BreakerState, list[Action]]:
    """The next state and the actions to take. Time-driven moves (OPEN's timeout, a probe's
    timeout, a stale head) are applied first, at `event.now`, then the event itself.

        from               event                                   to
        any                OperatorClear                           CLOSED (LAGGING if behind)
        QUARANTINED        anything else                           QUARANTINED (head data kept)
        any                Quarantine (wrong chain id, lying)      QUARANTINED
        any                Throttled / Failure("rate_limited")     same state, parked_until moved
        CLOSED, LAGGING    HeadObserved / Tick                     LAGGING if > max_lag_blocks behind
                                                                   or stale while behind; else CLOSED
        CLOSED, LAGGING    Failure (threshold, or window rate)     OPEN, timeout = reset_timeout_s
        OPEN               time >= open_until                      HALF_OPEN
        HALF_OPEN          RequestSent (slot free)                 HALF_OPEN, probe in flight
        HALF_OPEN          Success of the probe                    CLOSED, timeout reset
        HALF_OPEN          Failure of the probe / probe timeout    OPEN, timeout * factor (jitter, cap)
        OPEN, HALF_OPEN    late Success / Failure                  unchanged
    """
    state, actions = _advance(state, event.now, getattr(event, "rand", 0.0), policy)
    if isinstance(event, Failure) and event.kind == RATE_LIMITED:
        event = Throttled(now=event.now)
    match (state.status, event):
        case (_, OperatorClear(now=now)):
            fresh = BreakerState(parked_until=state.parked_until, own_head=state.own_head,
                                 best_head=state.best_head, head_moved_at=state.head_moved_at)
            new = _enter(fresh, _S.CLOSED, now, "cleared by operator", actions, previous=state.status)
            return _judge_lag(new, now, policy, actions), actions
        case (_S.QUARANTINED, _):
            return _record_head(state, event), actions  # nothing else moves it
        case (_, Quarantine(now=now, reason=reason)):
            return _enter(state, _S.QUARANTINED, now, reason, actions, probe_started_at=None), actions
        case (_, Throttled(now=now, retry_after_s=retry_after)):
            return _park(state, now, retry_after, policy, actions), actions
        case (_, HeadObserved(now=now)):
            return _judge_lag(_record_head(state, event), now, policy, actions), actions
        case (_S.CLOSED | _S.LAGGING, Success(count=count)):
            return _count(state, failed=False, policy=policy, times=count), actions
        case (_S.CLOSED | _S.LAGGING, Failure(now=now, kind=kind, rand=rand)):
            if kind in policy.ignored_kinds:
                return state, actions
            counted = _count(state, failed=True, policy=policy)
            why = _trip_reason(counted, policy)
            if why is None:
                return counted, actions
            return _open(counted, now, rand, policy, actions, why, reopen=False), actions
        case (_S.HALF_OPEN, RequestSent(now=now)) if state.probe_started_at is None:
            actions.append(WakeAt(at=now + policy.probe_timeout_s))
            return msgspec.structs.replace(state, probe_started_at=now), actions
        case (_S.HALF_OPEN, Success(now=now, count=count)) if state.probe_started_at is not None:
            closed = _judge_lag(_close(state, now, "probe succeeded", actions), now, policy, actions)
            return _count(closed, failed=False, policy=policy, times=count - 1), actions
        case (_S.HALF_OPEN, Failure(now=now, kind=kind, rand=rand)) if state.probe_started_at is not None:
            if kind in policy.ignored_kinds:  # not the endpoint's fault: let another probe go
                return msgspec.structs.replace(state, probe_started_at=None), actions
            return _open(state, now, rand, policy, actions, f"probe failed ({kind})", reopen=True), actions
        case _:
            # Tick, RequestSent outside HALF_OPEN, late answers while OPEN or HALF_OPEN.
            return state, actions


def allows_request(state: BreakerState, now: float, *, needs_head: bool = True) -> bool:
    """May a request go to this endpoint now? Pure: it claims nothing (see `admit`).

    HALF_OPEN allows one request only while no probe is in flight; the caller then sends
    `RequestSent` to claim the slot. OPEN says no even past its timeout until an event (a Tick)
    has moved it to HALF_OPEN.
    """
    if now < state.parked_until:
        return False
    match state.status:
        case _S.CLOSED:
            return True
        case _S.LAGGING:
            return not needs_head
        case _S.HALF_OPEN:
            return state.probe_started_at is None
        case _:
            return False


def admit(
    state: BreakerState, now: float, policy: BreakerPolicy, *, needs_head: bool = True, rand: float = 0.0
) -> tuple[BreakerState, bool, list[Action]]:
    """Tick, decide, and claim the HALF_OPEN probe slot if the request goes: the actor's one call."""
    state, actions = transition(state, Tick(now=now, rand=rand), policy)
    if not allows_request(state, now, needs_head=needs_head):
        return state, False, actions
    state, more = transition(state, RequestSent(now=now), policy)
    return state, True, actions + more


def error_rate(state: BreakerState) -> float:
    return sum(state.window) / len(state.window) if state.window else 0.0


# Helpers ------------------------------------------------------------------------------------


def _enter(
    state: BreakerState, status: BreakerStatus, now: float, reason: str, actions: list[Action],
    *, previous: BreakerStatus | None = None, **changes: object,
) -> BreakerState:
    before = previous if previous is not None else state.status
    new = msgspec.structs.replace(state, status=status, since=now, reason=reason, **changes)
    if before != status:
        actions.append(StateChanged(previous=before, current=status, reason=reason, at=now))
    return new


def _advance(
    state: BreakerState, now: float, rand: float, policy: BreakerPolicy
) -> tuple[BreakerState, list[Action]]:
    actions: list[Action] = []
    if state.status == _S.OPEN and now >= state.open_until:
        state = _enter(state, _S.HALF_OPEN, now, "reset timeout elapsed", actions, probe_started_at=None)
    elif (
        state.status == _S.HALF_OPEN
        and state.probe_started_at is not None
        and now - state.probe_started_at >= policy.probe_timeout_s
    ):
        state = _open(state, now, rand, policy, actions, "probe timed out", reopen=True)
    elif state.status in (_S.CLOSED, _S.LAGGING):
        state = _judge_lag(state, now, policy, actions)
    return state, actions


def _count(state: BreakerState, *, failed: bool, policy: BreakerPolicy, times: int = 1) -> BreakerState:
    if times <= 0:
        return state
    window = (*state.window, *(failed,) * min(times, policy.window_size))[-policy.window_size:]
    consecutive = state.consecutive_failures + times if failed else 0
    return msgspec.structs.replace(state, window=window, consecutive_failures=consecutive)


def _trip_reason(state: BreakerState, policy: BreakerPolicy) -> str | None:
    if state.consecutive_failures >= policy.failure_threshold:
        return f"{state.consecutive_failures} consecutive failures"
    if len(state.window) >= policy.window_min_calls and error_rate(state) > policy.window_error_rate:
        return f"error rate {error_rate(state):.0%} over the last {len(state.window)} calls"
    return None


def _open(
    state: BreakerState, now: float, rand: float, policy: BreakerPolicy, actions: list[Action],
    reason: str, *, reopen: bool,
) -> BreakerState:
    rand = min(max(rand, 0.0), 1.0)
    if reopen and state.base_timeout_s > 0:
        base = min(policy.max_reset_timeout_s, state.base_timeout_s * policy.backoff_factor)
        floor = state.reset_timeout_s  # never shorter than the last one: re-opens only grow
        reopens = state.reopens + 1
    else:
        base, floor, reopens = policy.reset_timeout_s, 0.0, 0
    timeout = min(policy.max_reset_timeout_s, max(floor, base * (1.0 + policy.jitter * rand)))
    actions.append(WakeAt(at=now + timeout))
    return _enter(
        state, _S.OPEN, now, reason, actions, open_until=now + timeout, reset_timeout_s=timeout,
        base_timeout_s=base, reopens=reopens, probe_started_at=None, consecutive_failures=0, window=(),
    )


def _close(state: BreakerState, now: float, reason: str, actions: list[Action]) -> BreakerState:
    return _enter(
        state, _S.CLOSED, now, reason, actions, consecutive_failures=0, window=(), open_until=0.0,
        reset_timeout_s=0.0, base_timeout_s=0.0, reopens=0, probe_started_at=None,
    )


def _park(
    state: BreakerState, now: float, retry_after: float | None, policy: BreakerPolicy, actions: list[Action]
) -> BreakerState:
    until = now + (policy.default_park_s if retry_after is None else max(0.0, retry_after))
    changes: dict[str, object] = {}
    if state.status == _S.HALF_OPEN:
        changes["probe_started_at"] = None  # the probe learned nothing: free the slot
    if until > state.parked_until:
        changes["parked_until"] = until
        actions.append(Parked(until=until))
        actions.append(WakeAt(at=until))
    return msgspec.structs.replace(state, **changes) if changes else state


def _record_head(state: BreakerState, event: Event) -> BreakerState:
    if not isinstance(event, HeadObserved):
        return state
    moved = state.own_head is None or event.own_head > state.own_head
    return msgspec.structs.replace(
        state,
        own_head=event.own_head,
        best_head=max(event.best_head, event.own_head),  # the caller's current best is authoritative
        head_moved_at=event.now if moved else state.head_moved_at,
    )


def _judge_lag(
    state: BreakerState, now: float, policy: BreakerPolicy, actions: list[Action]
) -> BreakerState:
    """CLOSED <-> LAGGING from the head data; other states keep the data and wait."""
    if state.status not in (_S.CLOSED, _S.LAGGING):
        return state
    lag = state.lag_blocks
    if lag is None or lag == 0:
        why = None
    elif lag > policy.max_lag_blocks:
        why = f"{lag} blocks behind the best head"
    elif now - state.head_moved_at >= policy.stale_head_s:
        why = f"head {state.own_head} has not moved for {now - state.head_moved_at:.0f} s while behind"
    else:
        why = None
    if why is not None and state.status == _S.CLOSED:
        return _enter(state, _S.LAGGING, now, why, actions)
    if why is None and state.status == _S.LAGGING:
        return _enter(state, _S.CLOSED, now, "caught up with the best head", actions)
    return state
