"""rpc:<name> — one JSON-RPC endpoint: the single writer of its breaker and its statistics.

It sends no reads itself. Callers' requests go straight from the `RpcClient` to the endpoint's
keep-alive pool on the io loop, and each outcome comes back here as a `RequestOutcome`. The actor
runs the health checks (eth_chainId, eth_blockNumber) at start and periodically, sends the one
HALF_OPEN probe when the breaker allows it, and publishes an `EndpointSnapshot` (also told to the
router) whenever its breaker state changes, and at most every `publish_interval_s` otherwise.

Until its first check passes an endpoint is not routable (STARTING), so a failed or timed-out check
then is retried on `STARTUP_RETRY`'s short backoff, not a whole health interval later (a failed retry
is not a breaker failure: the breaker opens no sooner than without retries).

A snapshot told while the router starts waits in its mailbox (its path is bound before its on_start
reads the snapshots); one the router refuses (not started yet, or restarting) is read by the router
from the registry at its (re)start.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from actors.alert_sources import raise_alert
from protocol.alerts import AlertType, Priority
from protocol.network import (
    BreakerWake,
    ClearQuarantine,
    EndpointConfig,
    EndpointSnapshot,
    FaultKind,
    HealthResult,
    HealthTick,
    PublishStats,
    RequestOutcome,
    RequestOutcomes,
    RoutingTable,
)
from rpc import health, metrics
from rpc.client import router_path
from rpc.heads import DEFAULT_LIE_AHEAD_BLOCKS
from rpc.routing import plausible_best
from rpc.stats import LatencyStats
from rpc.transport import transports
from supervision import ActorContext, Handle, SupervisedActor
from supervision.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    Failure,
    HeadObserved,
    OperatorClear,
    StateChanged,
    Success,
    Throttled,
    Tick,
    chain_id_mismatch,
    lying_answer,
    transition_log_level,
)
from supervision.breaker_owner import BreakerOwner
from supervision.errors import ActorError
from supervision.io_loop import io_loop
from supervision.spec import Backoff
from supervision.timers import TimerToken

#: How often an endpoint checks its chain id and head (dshackle polls heads about every few seconds).
DEFAULT_HEALTH_INTERVAL_S = 2.0
#: Deadline of a health check or probe.
DEFAULT_HEALTH_TIMEOUT_S = 2.0
#: Statistics are republished at most this often (state changes are published at once).
DEFAULT_PUBLISH_INTERVAL_S = 0.1
#: Evidence of lies kept for `inspect` (the newest).
EVIDENCE_KEPT = 5
#: Retries of a failed check before the first one passed: 0.25 s, 0.5 s, 1 s, 2 s, then every 4 s (each
#: under the health interval only; an endpoint checked this often is still failing as a breaker sees it).
STARTUP_RETRY = Backoff(min_s=0.25, max_s=4.0, random_factor=0.2)
#: Faults that are not the endpoint failing: a lost hedge race, a head not yet confirmed by the others.
_NOT_FAILURES = (FaultKind.SLOW, FaultKind.UNCONFIRMED)


class RpcEndpoint(BreakerOwner, SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        config: EndpointConfig,
        breaker_policy: BreakerPolicy | None = None,
        health_interval_s: float = DEFAULT_HEALTH_INTERVAL_S,
        health_timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S,
        publish_interval_s: float = DEFAULT_PUBLISH_INTERVAL_S,
        network_path: str | None = None,
    ) -> None:
        super().__init__(ctx)
        self.config = config
        self.policy = breaker_policy or BreakerPolicy()
        self.health_interval_s = health_interval_s
        self.health_timeout_s = health_timeout_s
        self.publish_interval_s = publish_interval_s
        parent = network_path if network_path is not None else ctx.path.rsplit("/", 1)[0] or "/"
        self.router = Handle(router_path(parent))
        self.transport = transports.get(config.name, config.url)
        self.breaker = BreakerState(since=time.monotonic(), head_moved_at=time.monotonic())
        self.stats = LatencyStats()
        self.metrics = metrics.for_endpoint(config.name)
        self.rng = random.Random()  # breaker jitter; a private generator leaves the global one alone
        self.checked = False
        self.observed_chain_id = 0
        self.state_changes = 0
        self.health_in_flight = False
        self.health_counts = True  # whether the check out now counts against the breaker if it fails
        self.startup_failures = 0  # failed checks since start (or an operator's clear) with none passed
        self.startup_retry: TimerToken | None = None
        self.dirty = True
        self.evidence: list[str] = []  # why it was quarantined for lying, newest last

    # --- lifecycle --------------------------------------------------------------------------------

    def on_start(self) -> None:
        metrics.record_breaker(self.config.name, self.breaker.status.value)
        self._publish()
        self._health_check()
        self.ctx.send_interval(self.health_interval_s, HealthTick())
        self.ctx.send_interval(self.publish_interval_s, PublishStats())

    # --- messages ---------------------------------------------------------------------------------

    def receive(self, msg: object) -> object:
        match msg:
            case RequestOutcomes(outcomes=outcomes):
                self._on_outcomes(outcomes)
            case RequestOutcome():
                self._on_outcomes((msg,))
            case HealthResult():
                self._on_health(msg)
            case HealthTick(retry=retry):
                self._health_check(retry=retry)
            case BreakerWake():
                self._feed(Tick(now=time.monotonic(), rand=self.rng.random()))
                self._health_check()  # if the wake made it HALF_OPEN, this is the probe
            case PublishStats():
                if self.dirty:
                    self._publish()
            case ClearQuarantine():
                self.log.warning("operator clears {} (was {})", self.config.name, self.breaker.status.value)
                self.checked = False
                self.startup_failures = 0
                self._feed(OperatorClear(now=time.monotonic()))
                self._health_check()
            case _:
                self.log.warning("unexpected message {}", type(msg).__name__)
        return None

    def status(self) -> dict[str, Any]:
        quantiles = self.stats.quantiles()
        return {
            "breaker": self.breaker.status.value,
            "reason": self.breaker.reason,
            "url": self.config.display_url,
            "head": self.breaker.own_head,
            "requests": self.stats.requests,
            "p95_ms": round(quantiles[1] * 1000, 3) if quantiles else None,
            "error_rate": round(self.stats.error_rate, 3),
            "in_flight": self.transport.in_flight,
            "evidence": list(self.evidence),
        }

    # --- handlers ---------------------------------------------------------------------------------

    def _on_outcomes(self, outcomes: Sequence[RequestOutcome]) -> None:
        """Record a batch; each run of answers goes to the breaker as one `Success(count=n)` event."""
        now = time.monotonic()
        answered = 0
        self.metrics.record_batch(outcomes)
        for outcome in outcomes:
            fault = outcome.fault
            self.stats.record(outcome.latency_s, fault.value if fault is not None else None)
            if fault is None:
                answered += 1
                continue
            if answered:
                self._feed(Success(now=now, count=answered))
                answered = 0
            if fault is FaultKind.RATE_LIMITED:
                self._feed(Throttled(now=now, retry_after_s=outcome.retry_after_s))
            elif fault is FaultKind.WRONG_CHAIN and self.config.chain_id:
                self._feed(chain_id_mismatch(now, self.config.chain_id, -1))
            elif fault is FaultKind.LYING:
                self.evidence = [*self.evidence, outcome.detail][-EVIDENCE_KEPT:]
                self._feed(lying_answer(now, outcome.detail))
            elif fault is FaultKind.STALE:
                # A lag sample now, not at the next health check; the breaker decides whether it is LAGGING.
                if outcome.head is not None and outcome.best_head is not None:
                    self._feed(HeadObserved(now=now, own_head=outcome.head, best_head=outcome.best_head))
            elif fault not in _NOT_FAILURES:
                self._feed(Failure(now=now, kind=fault.value, rand=self.rng.random()))
        if answered:
            self._feed(Success(now=now, count=answered))
        self.dirty = True

    def _health_check(self, retry: bool = False) -> None:
        """Send the health batch unless one is out; in HALF_OPEN it is the probe, OPEN/QUARANTINED get none.
        A start-up `retry` that fails counts against the breaker only as a probe (HALF_OPEN)."""
        if self.health_in_flight:
            return
        now = time.monotonic()
        if not self._admit(now, needs_head=False, rand=self.rng.random()):
            return  # OPEN, QUARANTINED, a probe already out, or parked: the server asked us to wait
        self.health_in_flight = True
        self.health_counts = not retry or self.breaker.status is not BreakerStatus.CLOSED
        future = io_loop().submit(health.check(self.transport, self.health_timeout_s))
        self.ctx.pipe(future, lambda r: r if isinstance(r, HealthResult) else HealthResult(
            self.health_timeout_s, fault=FaultKind.CONNECTION, detail=f"{type(r).__name__}: {r}"))

    def _on_health(self, result: HealthResult) -> None:
        self.health_in_flight = False
        fault = result.fault.value if result.fault is not None else None
        self.stats.record(result.latency_s, fault)
        self.metrics.record(result.latency_s, fault)
        self.dirty = True
        now = time.monotonic()
        if result.fault is FaultKind.RATE_LIMITED:
            self._feed(Throttled(now=now))
            return
        if result.fault is not None:
            if self.health_counts:
                self._feed(Failure(now=now, kind=result.fault.value, rand=self.rng.random()))
            self._retry_unchecked()
            return
        if self.config.chain_id and result.chain_id != self.config.chain_id:
            self._feed(chain_id_mismatch(now, self.config.chain_id, result.chain_id or -1))
            return
        # chain_id 0 = learn it (paper mode with no CHAIN_ID): report what the node says; the router
        # adopts the majority's chain and leaves out endpoints on another one.
        self.observed_chain_id = result.chain_id or 0
        self.checked = True
        self.startup_failures = 0
        self._feed(Success(now=now, latency_s=result.latency_s))
        if result.head is None:
            return
        table = self.router.snapshot()
        best: int | None = result.head
        if isinstance(table, RoutingTable) and table.best_head is not None:
            # One endpoint claiming a head far beyond the others must not make every honest one LAGGING.
            others = [h for name, (h, _) in table.heads.items() if name != self.config.name]
            others += [h for h, _ in table.stream_heads.values()]  # WebSocket newHeads bear witness too
            best = plausible_best([*others, result.head], DEFAULT_LIE_AHEAD_BLOCKS) if len(others) >= 2 \
                else table.best_head
        self._feed(HeadObserved(now=now, own_head=result.head, best_head=max(best or 0, result.head)))
        self._publish()  # a new head or a first check matters to the router at once

    def _retry_unchecked(self) -> None:
        """Before any check has passed, an extra one comes on `STARTUP_RETRY`'s backoff, not a health interval
        later: an endpoint down or slow at start is routable soon after it answers, whatever the interval.
        An OPEN breaker refuses the retry; its own wake sends the probe then."""
        if self.checked:
            return
        delay = STARTUP_RETRY.delay(self.startup_failures, self.rng.random())
        self.startup_failures += 1
        if delay >= self.health_interval_s:
            return  # the periodic check comes first
        if self.startup_retry is not None:
            self.startup_retry.cancel()
        self.startup_retry = self.ctx.send_after(delay, HealthTick(retry=True))

    # --- breaker plumbing (supervision.breaker_owner) ----------------------------------------------

    def _breaker_wake(self) -> BreakerWake:
        return BreakerWake()

    def _breaker_changed(self, change: StateChanged) -> None:
        previous, current, reason = change.previous, change.current, change.reason
        self.state_changes += 1
        self.log.log(transition_log_level(current), "{}: {} -> {} ({})", self.config.name, previous.value,
                     current.value, reason)
        metrics.record_breaker(self.config.name, current.value)
        if BreakerStatus.QUARANTINED in (previous, current):
            raise_alert(AlertType.NETWORK, f"endpoint {self.config.name} quarantined: {reason}"
                        if current is BreakerStatus.QUARANTINED else
                        f"endpoint {self.config.name} out of quarantine ({reason})",
                        priority=Priority.HIGH, key=f"quarantined:{self.config.name}",
                        source=self.ctx.path, resolved=current is not BreakerStatus.QUARANTINED)

    def _publish(self) -> None:
        quantiles = self.stats.quantiles()
        b = self.breaker
        snapshot = EndpointSnapshot(
            name=self.config.name,
            url=self.config.display_url,
            chain_id=self.config.chain_id or self.observed_chain_id,
            region=self.config.region,
            priority=self.config.priority,
            breaker=b.status.value if self.checked or b.status.value != "CLOSED" else "STARTING",
            parked_until=b.parked_until,
            head=b.own_head,
            requests=self.stats.requests,
            ewma_s=self.stats.ewma_s,
            p50_s=quantiles[0] if quantiles else None,
            p95_s=quantiles[1] if quantiles else None,
            p99_s=quantiles[2] if quantiles else None,
            error_rate=self.stats.error_rate,
            errors=dict(self.stats.errors),
            in_flight=self.transport.in_flight,
            reason=b.reason,
            state_changes=self.state_changes,
            checked=self.checked,
            published_at=time.monotonic(),
            head_at=b.head_moved_at,
        )
        self.dirty = False
        self.publish(snapshot)
        try:
            self.router.tell(snapshot)
        except ActorError:
            pass  # not in the tree now: the router reads every endpoint's snapshot when it (re)starts
