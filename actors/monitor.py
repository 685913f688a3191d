"""The monitor (/monitor, MonitoringService): error aggregation and the retention of the audit trail.

Every ERROR record and actor crash reaches it from the error sink (bot.logging's extra sink, on the
logging thread) through a bounded inbox and a nudge, so an error logged while the monitor restarts
is counted when it is back. The counting is monitoring.errors (pure); a new fingerprint or a spike is
an event for the alerting layer, logged at WARNING with its fields until that layer lands. A timer
deletes audit segments past their retention (whole segments; what remains still verifies), and another
ends the trace roots of trades that never reached a final stage (monitoring.tracing.expire), so the
collector gets a whole tree even for a trade lost to a restart.

The trace store and the audit trail are process-wide objects (monitoring.tracing, persistence.
audit_trail) written on their callers' threads, because their writes must not wait on a mailbox: a span
ends where the stage ends, an audit record is durable before the action it records is acknowledged.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import msgspec

from actors.alert_sources import raise_alert
from monitoring import tracing
from monitoring.errors import ErrorGroup, ErrorOccurrence, ErrorSpike, NewError, observe
from persistence import audit_trail
from protocol.alerts import AlertType, Priority
from supervision import ActorContext, Handle, SupervisedActor
from supervision.errors import ActorError

MONITOR_PATH = "/monitor"
PRUNE_EVERY_S = 3600.0
EXPIRE_TRACES_EVERY_S = 5.0
INBOX = 10_000  # errors waiting for the monitor; past this the oldest are dropped (and counted)

_inbox: collections.deque[ErrorOccurrence] = collections.deque(maxlen=INBOX)
_inbox_lock = threading.Lock()
_dropped = [0]


class ErrorsWaiting(msgspec.Struct, frozen=True, tag=True):
    """Nudge: errors are waiting in the inbox."""


class GetErrors(msgspec.Struct, frozen=True, tag=True):
    fingerprint: str | None = None


class PruneTick(msgspec.Struct, frozen=True, tag=True):
    pass


class ExpireTracesTick(msgspec.Struct, frozen=True, tag=True):
    pass


def error_sink(message: Any) -> None:
    """A loguru sink (level ERROR): queue the record's fingerprint parts for the monitor and nudge it."""
    record = message.record
    parts = record["extra"].get("_error")
    if parts is None:
        return
    exc_type, location, text = parts
    occ = ErrorOccurrence(exc_type=exc_type, location=location, message=text, at=record["time"].timestamp(),
                          actor=str(record["extra"].get("actor", "-")), trace_id=record["extra"].get("trace_id"))
    with _inbox_lock:
        if len(_inbox) == INBOX:
            _dropped[0] += 1
        _inbox.append(occ)
    try:
        Handle(MONITOR_PATH).tell(ErrorsWaiting())
    except ActorError:
        pass  # not running (yet, or restarting): counted when it is back


class Monitor(SupervisedActor):
    def __init__(self, ctx: ActorContext, *, audit_retention_s: float = 30 * 86400.0) -> None:
        super().__init__(ctx)
        self.audit_retention_s = audit_retention_s
        self.groups: dict[str, ErrorGroup] = {}
        self.errors_seen = 0
        self.traces_expired = 0

    def on_start(self) -> None:
        self._drain()
        self.ctx.send_interval(PRUNE_EVERY_S, PruneTick(), initial_delay_s=1.0)
        self.ctx.send_interval(EXPIRE_TRACES_EVERY_S, ExpireTracesTick())

    def receive(self, msg: Any) -> Any:
        match msg:
            case ErrorsWaiting():
                self._drain()
                return None
            case GetErrors(fingerprint=None):
                self._drain()
                return sorted(self.groups.values(), key=lambda g: g.last_seen, reverse=True)
            case GetErrors(fingerprint=fp):
                self._drain()
                return next((g for f, g in self.groups.items() if fp and f.startswith(fp)), None)
            case PruneTick():
                self._prune()
                return None
            case ExpireTracesTick():
                self.traces_expired += tracing.expire()
                return None
        return super().receive(msg)

    def status(self) -> dict[str, Any]:
        return {"fingerprints": len(self.groups), "errors": self.errors_seen, "dropped": _dropped[0],
                "traces_open": tracing.open_trades(), "traces_expired": self.traces_expired}

    def _drain(self) -> None:
        with _inbox_lock:
            waiting = list(_inbox)
            _inbox.clear()
        for occ in waiting:
            self.errors_seen += 1
            self.groups, events = observe(self.groups, occ)
            for event in events:
                self._raise(event)

    def _raise(self, event: NewError | ErrorSpike) -> None:
        g = event.group
        fields = {"fingerprint": g.fingerprint, "error_type": g.exc_type, "location": g.location,
                  "error_actor": g.actor, "count": g.count, "example_trace_id": g.example_trace_id}
        if isinstance(event, NewError):
            self.log.bind(event="new_error", **fields).warning(
                "new error {} at {} in {}: {}", g.fingerprint, g.location, g.actor, g.example)
            raise_alert(AlertType.SYSTEM, f"new error {g.fingerprint} in {g.actor}: {g.exc_type}", fields,
                        priority=Priority.HIGH, source="monitor", key=f"error:{g.fingerprint}",
                        trace_id=g.example_trace_id)
        else:
            self.log.bind(event="error_spike", in_window=event.in_window, window_s=event.window_s,
                          usual=round(event.usual, 2), **fields).warning(
                "error {} spiking: {} in {:.0f}s (usually {:.1f}): {}", g.fingerprint, event.in_window,
                event.window_s, event.usual, g.pattern)
            raise_alert(AlertType.SYSTEM, f"error {g.fingerprint} spiking: {event.in_window} in {event.window_s:.0f}s",
                        {**fields, "in_window": event.in_window, "usual": round(event.usual, 2)},
                        priority=Priority.HIGH, source="monitor", key=f"error-spike:{g.fingerprint}")

    def _prune(self) -> None:
        try:
            deleted = audit_trail.current().prune(self.audit_retention_s)
        except audit_trail.AuditTrailMissing:
            return
        if deleted:
            self.log.info("audit retention: deleted {} segment(s) older than {:.0f} days: {}", len(deleted),
                          self.audit_retention_s / 86400, ", ".join(deleted))
