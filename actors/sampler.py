"""/sampler, PerformanceAnalyzer: drains every thread's measurements on a timer, looks at the process
(psutil, GC, mailboxes, io loop lag, health) and publishes a PerfSnapshot that Phase4Manager, the
console, /health and /metrics read without a mailbox hop.

A thin shell: the figures come from probes/, the computation is performance.analyzer's. The events
it returns (SLO breaches and resolutions, trend warnings) are logged at WARNING with their fields
until the alerting router subscribes to them.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from actors.alert_sources import raise_alert
from performance import recorder
from performance.analyzer import PerformanceAnalyzer
from probes.gc_watch import GC_WATCH
from probes.health import health_check
from probes.io_lag import IoLoopLag
from probes.metrics import SAMPLER_METRICS
from probes.system import SystemProbe
from probes.threads import thread_labels
from protocol.alerts import AlertType, Priority
from protocol.config import PerformanceTargets
from protocol.performance import ActorLag, PerfSnapshot, SampleTick, SloBreach, SloResolved, TrendWarning
from supervision import ActorContext, SupervisedActor, current_tree
from supervision.introspect import mailboxes
from supervision.io_loop import io_loop

#: How often the buffers are drained and a snapshot published.
SAMPLE_PERIOD_S = 2.0
#: Measurements started and never ended are forgotten after recorder.ABANDON_AFTER_S; checked this often.
PURGE_EVERY_S = 60.0


class Sampler(SupervisedActor):
    def __init__(
        self, ctx: ActorContext, *, targets: PerformanceTargets = PerformanceTargets(),  # noqa: B008 - frozen
        period_s: float = SAMPLE_PERIOD_S,
    ) -> None:
        super().__init__(ctx)
        self.targets = targets
        self.period_s = period_s
        self.analyzer = PerformanceAnalyzer(targets, started_at=time.time())
        self.system = SystemProbe()
        self.io_lag: IoLoopLag | None = None
        self.ticks = 0
        self.tick_s = 0.0
        self.drained = 0
        self.purged_at = time.monotonic()
        self.last: PerfSnapshot | None = None

    def on_start(self) -> None:
        GC_WATCH.install()
        self.io_lag = IoLoopLag(io_loop().loop).start()
        self._tick()  # a first snapshot at once: readers never see "none yet" for a whole period
        self.ctx.send_interval(self.period_s, SampleTick())

    def on_terminate(self) -> None:
        if self.io_lag is not None:
            self.io_lag.stop()

    def receive(self, msg: Any) -> Any:
        if isinstance(msg, SampleTick):
            self._tick()
            return None
        return super().receive(msg)

    def status(self) -> dict[str, Any]:
        last = self.last
        return {"ticks": self.ticks, "tick_ms": round(self.tick_s * 1000, 3), "drained": self.drained,
                "grade": last.grade if last is not None else None}

    def _tick(self) -> None:
        started = time.perf_counter()
        now = time.time()
        entries = recorder.drain()
        self.drained += len(entries)
        SAMPLER_METRICS.observe_stages(entries)
        self.analyzer.ingest(entries, now)
        if time.monotonic() - self.purged_at >= PURGE_EVERY_S:
            recorder.purge_abandoned()
            self.purged_at = time.monotonic()
        _, by_native = thread_labels()
        system = self.system.sample(by_native, now)
        lags = [ActorLag(path, depth, oldest, round(lag_s * 1000, 3)) for path, depth, oldest, lag_s in mailboxes(now)]
        lag_s = self.io_lag.take() if self.io_lag is not None else None
        health = health_check(self.targets.memory_usage_target_mb, now).overall if current_tree() else None
        self.analyzer.observe(now, system=system, gc=GC_WATCH.stats(), actors=lags,
                              io_loop_lag_ms=None if lag_s is None else round(lag_s * 1000, 3), health=health)
        snap, events = self.analyzer.snapshot(now, invalid=dict(recorder.invalid))
        self.publish(snap)
        self.last = snap
        SAMPLER_METRICS.update(snap)
        for event in events:
            self._log_event(event)
        self.ticks += 1
        self.tick_s = time.perf_counter() - started

    def _log_event(self, event: SloBreach | SloResolved | TrendWarning) -> None:
        fields = msgspec.to_builtins(event)
        log = self.log.bind(perf_event=type(event).__name__, **{k: v for k, v in fields.items() if k != "type"})
        match event:
            case SloBreach():
                log.warning("SLO {} breached ({}): burn rates {} over {} s windows above {}; good share {:.2%}, "
                            "budget left {}", event.slo, event.severity, event.burn_rates, event.windows_s,
                            event.threshold, event.measured, _share(event.budget_remaining))
                # a fast burn pages (high); a slow burn is a ticket (medium)
                raise_alert(AlertType.PERFORMANCE, f"SLO {event.slo} burning its budget ({event.severity})", fields,
                            priority=Priority.HIGH if event.severity == "page" else Priority.MEDIUM,
                            source="sampler", key=f"slo:{event.slo}:{event.severity}")
            case SloResolved():
                log.warning("SLO {} resolved ({}): burn rates {} over {} s windows", event.slo, event.severity,
                            event.burn_rates, event.windows_s)
                raise_alert(AlertType.PERFORMANCE, f"SLO {event.slo} burning its budget ({event.severity})", fields,
                            source="sampler", key=f"slo:{event.slo}:{event.severity}", resolved=True)
            case TrendWarning():
                log.warning("trend: {}", event.text)
                raise_alert(AlertType.PERFORMANCE, f"trend: {event.text}", fields, priority=Priority.LOW,
                            source="sampler", key=f"trend:{fields.get('metric', event.text)}")


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"
