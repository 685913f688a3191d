"""SLOs from the seed's targets, their error budgets and multi-window burn-rate alerts.

Every SLO is event based: an event is good or bad, and the SLO promises a share `objective` of good
events. Request SLOs count calls (rpcLatency: an RPC call within RPC_LATENCY_TARGET; executionTime:
a trade from head to inclusion within EXECUTION_TIME_TARGET; successRate: a submitted trade that
lands; alertDelivery: an alert delivered within 5 s). Resource SLOs count the sampler's ticks
(memoryUsage: RSS under MEMORY_USAGE_TARGET; cpuUsage: process CPU under CPU_USAGE_TARGET; uptime:
a tick in which the health check is not unhealthy, objective UPTIME_TARGET).

Error budget (Google SRE workbook): 1 - objective of the events of the budget period (a rolling
24 h, in memory since the process started). `budget_remaining` = 1 - bad / (allowed share * events):
1 untouched, 0 spent, below 0 overspent.

Burn rate over a window = bad share / (1 - objective). A pair fires when both of its windows burn
faster than its threshold: the fast pair (5 min and 1 h above 14.4, "page") and the slow pair (30 min
and 6 h above 6, "ticket"). The long window keeps one bad minute from paging; the short one makes
the alert resolve soon after the cause is gone. A window with too few events to tell (fewer than
`min_events`: so few that a single bad event alone would exceed the threshold, and at least 10)
never fires: one slow call in a quiet minute does not page.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from protocol.config import PerformanceTargets
from protocol.performance import BurnWindow, SloBreach, SloResolved, SloStatus

SLOT_S = 10
BUDGET_PERIOD_S = 86_400
BURN_WINDOWS_S = (300, 1800, 3600, 21_600)
#: (severity, short window, long window, burn-rate threshold), from the SRE workbook.
BURN_PAIRS = (("page", 300, 3600, 14.4), ("ticket", 1800, 21_600, 6.0))
MIN_EVENTS_FLOOR = 10
#: The objective of the latency and resource SLOs (the share of events within the target).
LATENCY_OBJECTIVE = 0.99
RESOURCE_OBJECTIVE = 0.99
ALERT_DELIVERY_TARGET_MS = 5000.0


@dataclass(frozen=True)
class SloSpec:
    name: str
    description: str
    objective: float
    threshold: float | None
    unit: str


def slo_specs(targets: PerformanceTargets) -> tuple[SloSpec, ...]:
    """The seven SLOs of the seed, with the configured targets."""
    t = targets
    return (
        SloSpec("rpcLatency", f"{LATENCY_OBJECTIVE:.0%} of RPC calls within {t.rpc_latency_target_ms:g} ms",
                LATENCY_OBJECTIVE, t.rpc_latency_target_ms, "ms"),
        SloSpec("executionTime", f"{LATENCY_OBJECTIVE:.0%} of trades from head to inclusion within "
                f"{t.execution_time_target_ms:g} ms", LATENCY_OBJECTIVE, t.execution_time_target_ms, "ms"),
        SloSpec("successRate", f"{t.success_rate_target:.1%} of submitted trades land", t.success_rate_target,
                None, ""),
        SloSpec("memoryUsage", f"RSS under {t.memory_usage_target_mb:g} MB in {RESOURCE_OBJECTIVE:.0%} of samples",
                RESOURCE_OBJECTIVE, t.memory_usage_target_mb, "MB"),
        SloSpec("cpuUsage", f"process CPU under {t.cpu_usage_target_pct:g} % in {RESOURCE_OBJECTIVE:.0%} of samples",
                RESOURCE_OBJECTIVE, t.cpu_usage_target_pct, "%"),
        SloSpec("uptime", f"healthy or degraded in {t.uptime_target:.1%} of samples", t.uptime_target, None, ""),
        SloSpec("alertDelivery", f"{LATENCY_OBJECTIVE:.0%} of alerts delivered within "
                f"{ALERT_DELIVERY_TARGET_MS / 1000:g} s", LATENCY_OBJECTIVE, ALERT_DELIVERY_TARGET_MS, "ms"),
    )


def min_events(threshold: float, objective: float) -> int:
    """The fewest events a window needs before it may fire: more than one bad event alone could push over."""
    allowed = 1.0 - objective
    if allowed <= 0:
        return MIN_EVENTS_FLOOR
    return max(MIN_EVENTS_FLOOR, math.floor(1.0 / (threshold * allowed)) + 1)


def burn_rate(bad: int, events: int, objective: float) -> float | None:
    if events == 0:
        return None
    allowed = 1.0 - objective
    share = bad / events
    if allowed <= 0:
        return math.inf if bad else 0.0
    return share / allowed


class SloTracker:
    """One SLO's good/bad counts in 10 s slots over the budget period, and its firing pairs."""

    def __init__(self, spec: SloSpec) -> None:
        self.spec = spec
        self.slots: deque[list[int]] = deque()  # [slot start, good, bad]
        self.firing: dict[str, bool] = {severity: False for severity, *_ in BURN_PAIRS}

    def record(self, good: int, bad: int, now: float) -> None:
        start = int(now // SLOT_S * SLOT_S)
        if not self.slots or self.slots[-1][0] < start:
            self.slots.append([start, 0, 0])
        self.slots[-1][1] += good
        self.slots[-1][2] += bad

    def counts(self, now: float, windows: tuple[int, ...]) -> dict[int, tuple[int, int]]:
        """(events, bad) per window, in one backward pass over the slots."""
        while self.slots and self.slots[0][0] + SLOT_S <= now - BUDGET_PERIOD_S:
            self.slots.popleft()
        out = {w: [0, 0] for w in windows}
        ordered = sorted(windows)
        for start, good, bad in reversed(self.slots):
            age = now - (start + SLOT_S)
            for w in ordered:
                if age < w:
                    out[w][0] += good + bad
                    out[w][1] += bad
        return {w: (e, b) for w, (e, b) in out.items()}

    def evaluate(self, now: float) -> tuple[SloStatus, list[SloBreach | SloResolved]]:
        spec = self.spec
        counts = self.counts(now, (*BURN_WINDOWS_S, BUDGET_PERIOD_S))
        windows = tuple(
            BurnWindow(w, e, b, None if e == 0 else (e - b) / e, burn_rate(b, e, spec.objective))
            for w, (e, b) in ((w, counts[w]) for w in BURN_WINDOWS_S)
        )
        events, bad = counts[BUDGET_PERIOD_S]
        allowed = (1.0 - spec.objective) * events
        if events == 0:
            remaining = None
        elif allowed <= 0:
            remaining = 1.0 if bad == 0 else 0.0
        else:
            remaining = 1.0 - bad / allowed
        out: list[SloBreach | SloResolved] = []
        for severity, short, long, threshold in BURN_PAIRS:
            rates = []
            over = True
            for w in (short, long):
                e, b = counts[w]
                rate = burn_rate(b, e, spec.objective) or 0.0
                rates.append(rate)
                over = over and e >= min_events(threshold, spec.objective) and rate > threshold
            shown = (round(rates[0], 3), round(rates[1], 3))
            if over and not self.firing[severity]:
                e, b = counts[short]
                out.append(SloBreach(spec.name, severity, (short, long), shown, threshold,
                                     (e - b) / e if e else 1.0, remaining, now))
            elif not over and self.firing[severity]:
                out.append(SloResolved(spec.name, severity, (short, long), shown, now))
            self.firing[severity] = over
        status = SloStatus(
            name=spec.name, description=spec.description, objective=spec.objective, threshold=spec.threshold,
            unit=spec.unit, windows=windows, budget_period_s=BUDGET_PERIOD_S, budget_remaining=remaining,
            firing=tuple(s for s, on in self.firing.items() if on),
        )
        return status, out


class SloBook:
    """Every SLO's tracker, by name."""

    def __init__(self, targets: PerformanceTargets) -> None:
        self.trackers = {spec.name: SloTracker(spec) for spec in slo_specs(targets)}

    def record(self, name: str, good: int, bad: int, now: float) -> None:
        self.trackers[name].record(good, bad, now)

    def spec(self, name: str) -> SloSpec:
        return self.trackers[name].spec

    def evaluate(self, now: float) -> tuple[tuple[SloStatus, ...], list[SloBreach | SloResolved]]:
        statuses, events = [], []
        for tracker in self.trackers.values():
            status, found = tracker.evaluate(now)
            statuses.append(status)
            events.extend(found)
        return tuple(statuses), events
