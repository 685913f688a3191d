"""The performance vocabulary: measurement statistics, SLO status, findings, events, the sampler's snapshot.

The sampler (/sampler, PerformanceAnalyzer) publishes a `PerfSnapshot`; Phase4Manager, the console
and the /health endpoint read it without a mailbox hop. Events (`SloBreach`, `SloResolved`,
`TrendWarning`) are what the alerting router will subscribe to; until it exists they are logged.
"""

from __future__ import annotations

import msgspec

#: The rolling windows every measurement is summarized over, in seconds (1 min, 5 min, 1 h).
MEASUREMENT_WINDOWS_S = (60, 300, 3600)


class SampleTick(msgspec.Struct, frozen=True, tag=True):
    """The sampler's timer: drain the buffers, look at the process, publish."""


class WindowStats(msgspec.Struct, frozen=True):
    """One measurement name over one rolling window; durations in milliseconds."""

    window_s: int
    count: int
    rate_per_s: float
    success_share: float | None  # None: no measurement in the window
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None = None


class MeasurementStats(msgspec.Struct, frozen=True):
    name: str
    total: int
    failures: int
    windows: tuple[WindowStats, ...]

    def window(self, window_s: int) -> WindowStats | None:
        return next((w for w in self.windows if w.window_s == window_s), None)


class BurnWindow(msgspec.Struct, frozen=True):
    window_s: int
    events: int
    bad: int
    compliance: float | None  # good / events; None without events
    burn_rate: float | None


class SloStatus(msgspec.Struct, frozen=True):
    name: str  # rpcLatency, executionTime, memoryUsage, cpuUsage, successRate, uptime, alertDelivery
    description: str
    objective: float  # the share of good events the SLO promises
    threshold: float | None  # the per-event bound (ms, MB, %), None for success/uptime SLOs
    unit: str
    windows: tuple[BurnWindow, ...]
    budget_period_s: int
    budget_remaining: float | None  # 1 = untouched, 0 = spent, < 0 overspent; None without events
    firing: tuple[str, ...] = ()  # "page" (fast pair) and/or "ticket" (slow pair)


class SloBreach(msgspec.Struct, frozen=True, tag=True):
    """A burn-rate pair crossed its threshold: both of its windows burn the budget too fast."""

    slo: str
    severity: str  # page | ticket
    windows_s: tuple[int, int]
    burn_rates: tuple[float, float]
    threshold: float
    measured: float  # the SLI (good share) over the short window
    budget_remaining: float | None
    at: float


class SloResolved(msgspec.Struct, frozen=True, tag=True):
    slo: str
    severity: str
    windows_s: tuple[int, int]
    burn_rates: tuple[float, float]
    at: float


class TrendWarning(msgspec.Struct, frozen=True, tag=True):
    """A metric's least-squares trend crosses its target within the warning horizon."""

    metric: str
    target: float
    current: float
    slope_per_s: float
    seconds_to_cross: float
    window_s: int
    text: str
    at: float


class Trend(msgspec.Struct, frozen=True):
    metric: str
    window_s: int
    slope_per_s: float
    current: float
    target: float | None
    seconds_to_cross: float | None
    text: str


class Finding(msgspec.Struct, frozen=True):
    """One bottleneck: which rule matched, where, the evidence and what to do about it."""

    rule: str
    subject: str
    evidence: str
    recommendation: str
    severity: float  # for ordering: larger first


class ActorLag(msgspec.Struct, frozen=True):
    path: str
    mailbox_depth: int
    oldest_message_age_s: float | None
    lag_last_ms: float | None


class GcStats(msgspec.Struct, frozen=True):
    collections: tuple[int, int, int]
    collected: tuple[int, int, int]
    pause_count: int
    pause_p50_ms: float | None
    pause_p99_ms: float | None
    pause_max_ms: float | None
    pause_total_s: float


class SystemSample(msgspec.Struct, frozen=True):
    at: float
    process_cpu_pct: float  # % of one core since the previous sample
    rss_bytes: int
    threads: int
    open_fds: int
    io_read_bytes: int
    io_write_bytes: int
    net_sent_bytes: int
    net_recv_bytes: int
    machine_cpu_pct: float
    machine_memory_pct: float
    thread_cpu_pct: dict[str, float] = {}  # actor path (or thread name) -> % of one core


class HotFunction(msgspec.Struct, frozen=True):
    function: str  # module.qualname (file:line of its definition)
    self_share: float  # share of the thread's samples with this function innermost
    total_share: float  # share of the thread's samples with this function anywhere on the stack


class ThreadProfile(msgspec.Struct, frozen=True):
    thread: str  # actor path, or the thread's name
    samples: int
    idle_share: float  # share of samples parked in a wait (inbox get, select, sleep)
    hottest: tuple[HotFunction, ...]
    cpu_share: float | None = None  # CPU time the thread used during the profile / its duration (one core = 1)


class ProfileReport(msgspec.Struct, frozen=True):
    """`perf profile SECONDS`: every thread's stack sampled at 100 Hz, busiest threads first."""

    duration_s: float
    ticks: int
    threads: tuple[ThreadProfile, ...]
    profiler_cpu_share: float | None = None  # the sampling thread's own CPU time / duration: what profiling cost
    profiler_tick_us: float | None = None  # mean wall time of one tick (every thread's stack), GIL held throughout
    profiler_gil_share: float | None = None  # ticks' wall time / duration: at most this much GIL time was taken


class PerfSnapshot(msgspec.Struct, frozen=True):
    """What /sampler publishes every few seconds."""

    at: float
    started_at: float
    measurements: tuple[MeasurementStats, ...]
    slos: tuple[SloStatus, ...]
    system: SystemSample | None
    gc: GcStats | None
    actors: tuple[ActorLag, ...]
    io_loop_lag_ms: float | None
    trends: tuple[Trend, ...]
    findings: tuple[Finding, ...]
    grade: str
    grade_reasons: tuple[str, ...]
    invalid_inputs: dict[str, int] = {}  # unknown ids, bad meta values: counted, never raised

    def measurement(self, name: str) -> MeasurementStats | None:
        return next((m for m in self.measurements if m.name == name), None)

    def slo(self, name: str) -> SloStatus | None:
        return next((s for s in self.slos if s.name == name), None)
