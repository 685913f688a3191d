"""PerformanceAnalyzer: the sampler's state and its computation, data in and data out.

The /sampler actor (actors/sampler.py) feeds it on a timer: the measurements drained from every
thread's buffer (`ingest`), then one observation of the process (`observe`: system sample, GC,
mailboxes, io loop lag, the health check), and asks for the snapshot it publishes (`snapshot`),
which also returns the events that happened since the last one (SLO breaches and resolutions,
trend warnings). Time is always given (`now`, wall-clock seconds): tests inject it.

Which measurements feed which SLO (the SLOs themselves: performance.slo):

| measurement      | SLO            | a good event                                              |
| ---------------- | -------------- | --------------------------------------------------------- |
| rpc.call         | rpcLatency     | answered, within RPC_LATENCY_TARGET                        |
| trade.execution  | executionTime  | a mined trade whose head -> inclusion is within EXECUTION_TIME_TARGET |
| trade.execution  | successRate    | a submitted trade that was mined without reverting         |
| alert.delivery   | alertDelivery  | delivered within 5 s                                      |
| (each observe)   | memoryUsage    | RSS under MEMORY_USAGE_TARGET                              |
| (each observe)   | cpuUsage       | process CPU under CPU_USAGE_TARGET                         |
| (each observe)   | uptime         | the health check is not unhealthy                          |
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from performance.bottleneck import find_bottlenecks
from performance.grade import grade
from performance.recorder import Entry
from performance.slo import SloBook
from performance.trend import WARN_WITHIN_S, TrendSeries
from performance.windows import Measurements
from protocol.config import PerformanceTargets
from protocol.performance import (
    ActorLag,
    GcStats,
    PerfSnapshot,
    SloBreach,
    SloResolved,
    SystemSample,
    Trend,
    TrendWarning,
)

RPC_CALL = "rpc.call"
TRADE = "trade.execution"
ALERT_DELIVERY = "alert.delivery"
#: Mailbox-age samples kept per actor for the growing-mailbox rule (one per observe).
MAILBOX_POINTS = 30
MB = 1024 * 1024

Event = SloBreach | SloResolved | TrendWarning


class PerformanceAnalyzer:
    def __init__(self, targets: PerformanceTargets, started_at: float) -> None:
        self.targets = targets
        self.started_at = started_at
        self.measurements = Measurements()
        self.slos = SloBook(targets)
        self.rpc_target_s = targets.rpc_latency_target_ms / 1000
        self.execution_target_s = targets.execution_time_target_ms / 1000
        self.trend_series = {
            "rss": TrendSeries("RSS", "MB", targets.memory_usage_target_mb),
            "cpu": TrendSeries("process CPU", "%", targets.cpu_usage_target_pct),
        }
        self.warned: set[str] = set()  # metrics with a standing TrendWarning (warned once until it clears)
        self.mailbox_ages: dict[str, deque[tuple[float, float]]] = {}
        self.system: SystemSample | None = None
        self.gc: GcStats | None = None
        self.actors: tuple[ActorLag, ...] = ()
        self.io_loop_lag_ms: float | None = None
        self.health = "healthy"

    def ingest(self, entries: Iterable[Entry], now: float) -> int:
        """Record drained measurements into the windows and their SLOs; how many were kept."""
        kept = 0
        slo = self.slos
        for name, duration_ns, success, meta, _end in entries:
            duration_s = duration_ns / 1e9
            if not self.measurements.add(name, duration_s, success, now, meta):
                continue
            kept += 1
            if name == RPC_CALL:
                good = success and duration_s <= self.rpc_target_s
                slo.record("rpcLatency", int(good), int(not good), now)
            elif name == TRADE:
                slo.record("successRate", int(success), int(not success), now)
                if success:
                    fast = duration_s <= self.execution_target_s
                    slo.record("executionTime", int(fast), int(not fast), now)
            elif name == ALERT_DELIVERY:
                good = success and duration_s <= slo.spec("alertDelivery").threshold / 1000  # type: ignore[operator]
                slo.record("alertDelivery", int(good), int(not good), now)
        return kept

    def observe(
        self, now: float, *, system: SystemSample | None = None, gc: GcStats | None = None,
        actors: Sequence[ActorLag] = (), io_loop_lag_ms: float | None = None, health: str | None = "healthy",
    ) -> None:
        """One look at the process: resource SLO events, trend points, mailbox-age history.

        `health` None: not known (no tree yet), so no uptime event."""
        self.gc, self.io_loop_lag_ms = gc, io_loop_lag_ms
        self.actors = tuple(actors)
        if health is not None:
            self.health = health
            up = health != "unhealthy"
            self.slos.record("uptime", int(up), int(not up), now)
        if system is not None:
            self.system = system
            rss_mb = system.rss_bytes / MB
            mem_ok = rss_mb <= self.targets.memory_usage_target_mb
            cpu_ok = system.process_cpu_pct <= self.targets.cpu_usage_target_pct
            self.slos.record("memoryUsage", int(mem_ok), int(not mem_ok), now)
            self.slos.record("cpuUsage", int(cpu_ok), int(not cpu_ok), now)
            self.trend_series["rss"].add(now, rss_mb)
            self.trend_series["cpu"].add(now, system.process_cpu_pct)
        seen = set()
        for lag in actors:
            seen.add(lag.path)
            points = self.mailbox_ages.get(lag.path)
            if points is None:
                points = self.mailbox_ages[lag.path] = deque(maxlen=MAILBOX_POINTS)
            points.append((now, lag.oldest_message_age_s or 0.0))
        for gone in set(self.mailbox_ages) - seen:
            del self.mailbox_ages[gone]

    def snapshot(self, now: float, invalid: dict[str, int] | None = None) -> tuple[PerfSnapshot, list[Event]]:
        """The snapshot to publish and the events since the last call."""
        measurements = self.measurements.stats(now)
        slos, slo_events = self.slos.evaluate(now)
        trends: list[Trend] = []
        events: list[Event] = list(slo_events)
        for key, series in self.trend_series.items():
            found = series.trends(now)
            trends.extend(found)
            events.extend(self._trend_events(key, found, now))
        system = self.system
        findings = find_bottlenecks(
            measurements,
            thread_cpu_pct=system.thread_cpu_pct if system is not None else None,
            mailbox_ages={p: list(points) for p, points in self.mailbox_ages.items()},
            io_loop_lag_ms=self.io_loop_lag_ms,
            gc_pause_p99_ms=self.gc.pause_p99_ms if self.gc is not None else None,
        )
        letter, reasons = grade(slos, findings, self.health)
        counted: dict[str, Any] = {**(invalid or {}), **self.measurements.rejected}
        snap = PerfSnapshot(
            at=now, started_at=self.started_at, measurements=measurements, slos=slos, system=system, gc=self.gc,
            actors=self.actors, io_loop_lag_ms=self.io_loop_lag_ms, trends=tuple(trends), findings=tuple(findings),
            grade=letter, grade_reasons=tuple(reasons), invalid_inputs={k: int(v) for k, v in counted.items()},
        )
        return snap, events

    def _trend_events(self, key: str, trends: Sequence[Trend], now: float) -> list[TrendWarning]:
        """A warning when the longest window's fit crosses its target within the hour; once, until it clears."""
        if not trends:
            return []
        trend = max(trends, key=lambda t: t.window_s)
        s = trend.seconds_to_cross
        crossing = s is not None and 0 < s <= WARN_WITHIN_S and trend.target is not None
        if not crossing:
            self.warned.discard(key)
            return []
        if key in self.warned:
            return []
        self.warned.add(key)
        assert s is not None and trend.target is not None
        return [TrendWarning(trend.metric, trend.target, trend.current, trend.slope_per_s, s, trend.window_s,
                             trend.text, now)]
