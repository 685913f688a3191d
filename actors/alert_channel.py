"""channel:<kind> — one alert channel: the single writer of its breaker, its retries and its parking.

It delivers one Notification at a time (a notification may take several requests: a long Discord
message, one SMS per recipient), each request on the io loop, and tells the router one
`DeliveryOutcome` per `Deliver`. Its circuit breaker is the foundation's (supervision.breaker):
transient failures count, a 429 parks the channel until its `retry_after` has passed (no request
leaves before), and a dead channel (webhook deleted, bot blocked) is QUARANTINED: it stops, and
the router says so on the other channels.
"""

from __future__ import annotations

import collections
import random
import time
from typing import Any

import msgspec

from adapters import alert_metrics
from adapters.alert_services import AlertService
from alerting.replies import Reply, ReplyKind
from protocol.alerts import ChannelKind, ChannelSnapshot, ChannelStarted, ChannelWake, Deliver, DeliveryOutcome
from protocol.secrets import redact
from supervision import ActorContext, Backoff, Handle, SupervisedActor
from supervision.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    Failure,
    Quarantine,
    StateChanged,
    Success,
    Throttled,
    Tick,
    transition_log_level,
)
from supervision.breaker_owner import BreakerOwner
from supervision.io_loop import io_loop

#: A service failing 3 times in a row is down: fail fast for 15 s, then probe (pybreaker-like, shorter).
CHANNEL_BREAKER = BreakerPolicy(failure_threshold=3, window_size=10, window_min_calls=5, reset_timeout_s=15.0,
                                max_reset_timeout_s=300.0, probe_timeout_s=15.0, default_park_s=1.0)
#: Retries of a transient failure: 0.5 s, 1 s, 2 s, 4 s ... with 20 % jitter, at most 5 attempts.
CHANNEL_RETRY = Backoff(min_s=0.5, max_s=30.0, random_factor=0.2)
MAX_ATTEMPTS = 5
#: A service that keeps answering 429 this many times for one request has not let us deliver it.
MAX_THROTTLES = 20


class _Sent(msgspec.Struct, frozen=True):
    attempt: int
    result: Any  # Reply or an exception


class _Work:
    def __init__(self, deliver: Deliver, requests: list[Any], now: float) -> None:
        self.deliver = deliver
        self.requests = requests
        self.index = 0
        self.failures = 0
        self.throttles = 0
        self.delivered_parts = 0
        self.details: list[str] = []
        self.started = now
        self.retry_at = 0.0
        self.in_flight = False
        self.expires_at = now + deliver.expires_in_s if deliver.expires_in_s is not None else float("inf")


class AlertChannel(BreakerOwner, SupervisedActor):
    def __init__(self, ctx: ActorContext, *, service: AlertService, router_path: str = "/alerts/router",
                 breaker_policy: BreakerPolicy = CHANNEL_BREAKER, retry: Backoff = CHANNEL_RETRY,
                 max_attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(ctx)
        self.service = service
        self.kind: ChannelKind = service.kind
        self.router = Handle(router_path)
        self.policy = breaker_policy
        self.retry = retry
        self.max_attempts = max_attempts
        self.breaker = BreakerState(since=time.monotonic())
        self.rng = random.Random()
        self.queue: collections.deque[Deliver] = collections.deque()
        self.work: _Work | None = None
        self.sent = 0
        self.failed = 0
        self.disabled = ""

    def on_start(self) -> None:
        self._publish()
        try:
            self.router.tell(ChannelStarted(self.kind, self.ctx.incarnation))
        except Exception as exc:  # the router starts before its channels; a restarting router reads the snapshot
            self.log.info("router not told of the start: {}", exc)

    def on_terminate(self) -> None:
        io_loop().submit(self.service.close())

    # --- messages ---------------------------------------------------------------------------------

    def receive(self, msg: Any) -> Any:
        match msg:
            case Deliver():
                self.queue.append(msg)
                self._next()
            case _Sent(attempt=attempt, result=result) if self.work is not None \
                    and self.work.deliver.attempt == attempt:
                self._on_sent(self.work, result)
            case _Sent():
                pass  # the answer to work already settled (handed back while it was out)
            case ChannelWake():
                self._feed(Tick(now=time.monotonic(), rand=self.rng.random()))
                self._next()
            case _:
                return super().receive(msg)
        return None

    def status(self) -> dict[str, Any]:
        return {"breaker": self.breaker.status.value, "reason": self.breaker.reason, "queue": len(self.queue),
                "busy": self.work is not None, "sent": self.sent, "failed": self.failed, "disabled": self.disabled}

    # --- the work -------------------------------------------------------------------------------

    def _next(self) -> None:
        if self.work is None and self.queue:
            deliver = self.queue.popleft()
            try:
                requests = self.service.build(deliver.notification)
            except Exception as exc:  # a formatting bug must not take the channel down with it
                self._finish_one(deliver, False, redact(f"could not format: {type(exc).__name__}: {exc}"), True)
                self._next()
                return
            self.work = _Work(deliver, requests, time.monotonic())
        if self.work is not None and not self.work.in_flight:
            self._attempt(self.work)

    def _attempt(self, work: _Work) -> None:
        now = time.monotonic()
        if self.disabled:
            self._finish(work, permanent=True, detail=f"channel stopped: {self.disabled}")
            return
        if now >= work.expires_at:  # a late alert misleads: report it expired instead of sending it now
            self._finish(work, permanent=True, expired=True,
                         detail="; ".join([*work.details, "delivery deadline passed before the service took it"]))
            return
        if now < work.retry_at:
            self.ctx.send_after(min(work.retry_at, work.expires_at) - now, ChannelWake())
            return
        if not self._admit(now, rand=self.rng.random()):
            if now < self.breaker.parked_until:
                alert_metrics.RATE_LIMITED.labels(self.kind.value).inc()
                self.ctx.send_after(min(self.breaker.parked_until, work.expires_at) - now, ChannelWake())
                return
            # OPEN (or a probe already out): hand the work back; the router keeps it queued
            self._give_back(f"breaker {self.breaker.status.value}: {self.breaker.reason}")
            return
        work.in_flight = True
        attempt = work.deliver.attempt
        future = io_loop().submit(self.service.send(work.requests[work.index]))
        self.ctx.pipe(future, lambda result: _Sent(attempt, result))

    def _on_sent(self, work: _Work, result: Any) -> None:
        work.in_flight = False
        now = time.monotonic()
        reply = result if isinstance(result, Reply) else Reply(ReplyKind.RETRY, redact(
            f"{type(result).__name__}: {result}"))
        match reply.kind:
            case ReplyKind.DELIVERED:
                self._feed(Success(now=now))
                if reply.park_s > 0:  # the service's bucket is empty: do not send before it refills
                    self._feed(Throttled(now=now, retry_after_s=reply.park_s))
                work.delivered_parts += 1
                work.index += 1
                work.failures = 0
            case ReplyKind.PERMANENT:
                self._feed(Success(now=now))  # the service is up; this part is what it refuses
                work.details.append(reply.detail)
                work.index += 1
            case ReplyKind.THROTTLED:
                alert_metrics.RATE_LIMITED.labels(self.kind.value).inc()
                self._feed(Throttled(now=now, retry_after_s=reply.retry_after_s))
                work.throttles += 1
                if work.throttles > MAX_THROTTLES:
                    self._finish(work, permanent=False, detail=f"still rate limited after {work.throttles} tries")
                    return
            case ReplyKind.MIGRATE:
                work.requests[work.index] = self.service.migrate(work.requests[work.index], reply.new_chat_id)
            case ReplyKind.GONE:
                self.disabled = reply.detail
                self._feed(Quarantine(now=now, reason=reply.detail))
                self.log.error("{} channel stopped: {}", self.kind.value, reply.detail)
                self._finish(work, permanent=True, detail=reply.detail)
                while self.queue:
                    self._finish_one(self.queue.popleft(), False, f"channel stopped: {reply.detail}", True)
                self._publish()
                return
            case _:
                self._feed(Failure(now=now, kind="error", rand=self.rng.random()))
                work.failures += 1
                work.details.append(reply.detail)
                if work.failures >= self.max_attempts:
                    self._finish(work, permanent=False, detail=f"{work.failures} attempts failed: {reply.detail}")
                    return
                work.retry_at = now + self.retry.delay(work.failures - 1, self.rng.random())
        if work.index >= len(work.requests):
            delivered = work.delivered_parts > 0
            self._finish(work, permanent=not delivered, detail="; ".join(work.details), delivered=delivered)
            return
        self._next()

    def _finish(self, work: _Work, *, permanent: bool, detail: str, delivered: bool = False,
                expired: bool = False) -> None:
        self.work = None
        self._finish_one(work.deliver, delivered, detail, permanent, time.monotonic() - work.started, expired)
        self._next()

    def _finish_one(self, deliver: Deliver, delivered: bool, detail: str, permanent: bool,
                    latency_s: float = 0.0, expired: bool = False) -> None:
        if delivered:
            self.sent += 1
        else:
            self.failed += 1
        self._publish()
        self._tell_router(DeliveryOutcome(attempt=deliver.attempt, channel=self.kind, delivered=delivered,
                                          detail=redact(detail), permanent=permanent, latency_s=latency_s,
                                          expired=expired))

    def _give_back(self, why: str) -> None:
        pending = ([self.work.deliver] if self.work is not None else []) + list(self.queue)
        self.work = None
        self.queue.clear()
        for deliver in pending:
            self._tell_router(DeliveryOutcome(attempt=deliver.attempt, channel=self.kind, delivered=False,
                                              detail=why, requeue=True))

    def _tell_router(self, outcome: DeliveryOutcome) -> None:
        try:
            self.router.tell(outcome)
        except Exception as exc:  # a restarting router finds the row `unknown` and settles it when told again
            self.log.warning("router not told of delivery {}: {}", outcome.attempt, exc)

    # --- breaker plumbing (supervision.breaker_owner) ----------------------------------------------

    def _breaker_wake(self) -> ChannelWake:
        return ChannelWake()

    def _breaker_changed(self, change: StateChanged) -> None:
        current = change.current
        level = "WARNING" if current in (BreakerStatus.OPEN, BreakerStatus.QUARANTINED) else \
            transition_log_level(current)
        self.log.log(level, "{} channel: {} -> {} ({})", self.kind.value, change.previous.value, current.value,
                     redact(change.reason))

    def _publish(self) -> None:
        now = time.monotonic()
        self.publish(ChannelSnapshot(
            channel=self.kind, breaker=self.breaker.status.value, reason=redact(self.breaker.reason),
            parked_for_s=max(0.0, self.breaker.parked_until - now), busy=self.work is not None, sent=self.sent,
            failed=self.failed, incarnation=self.ctx.incarnation, disabled=redact(self.disabled)))
