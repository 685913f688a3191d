"""The bottleneck finder: rules over the sampler's figures, each finding with a recommendation.

| rule | matches when | recommendation (abridged) |
| --- | --- | --- |
| stage_dominates | a trade stage's p95 is at least half the trade's end-to-end p95 | per stage, see STAGE_ADVICE |
|  | (5 min window, at least MIN_TRADES trades) |  |
| core_saturated | one actor's thread uses at least 90 % of a core | move work off its thread, profile |
| mailbox_growing | an actor's oldest queued message is at least 1 s old and its age | shorten its handler, shed load |
|  | grew over the last samples (least-squares slope > 0) |  |
| io_loop_lag | the shared io loop's timer drift is at least 100 ms | find the blocking coroutine |
| gc_pauses | the GC's p99 pause is at least 50 ms | fewer long-lived objects |

Findings are ordered by severity (how far past its threshold a rule's figure is), largest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from performance.trend import fit
from protocol.performance import Finding, MeasurementStats

END_TO_END = "trade.execution"
#: The stages of one trade, in order, and what to do when one dominates.
STAGE_ADVICE = {
    "trade.head_to_decision": "the strategy's scan is slow: fewer watched pools or hops, or an incremental search",
    "trade.risk_assess": "the risk book answers slowly: inspect /risk-book's mailbox and its Monte Carlo size",
    "trade.simulate": "simulation is slow: prefer the fastest endpoint for eth_call, or simulate locally",
    "trade.sign": "signing is slow: check that coincurve (libsecp256k1) is installed",
    "trade.send": "sending is slow: check the endpoints' latency and the relay; broadcast to fewer endpoints",
    "trade.inclusion": "inclusion is slow: raise the priority fee, or send bundles to a private relay",
}
STAGE_SHARE = 0.5
MIN_TRADES = 5
CORE_SATURATED_PCT = 90.0
MAILBOX_AGE_S = 1.0
IO_LOOP_LAG_MS = 100.0
GC_PAUSE_MS = 50.0
WINDOW_S = 300


def stage_findings(measurements: Sequence[MeasurementStats]) -> list[Finding]:
    by_name = {m.name: m.window(WINDOW_S) for m in measurements}
    total = by_name.get(END_TO_END)
    stages = {n: w for n, w in by_name.items() if n in STAGE_ADVICE and w is not None and w.p95_ms is not None}
    if total is None or total.p95_ms is None or total.count < MIN_TRADES or not stages:
        return []
    out = []
    for name, w in stages.items():
        assert w.p95_ms is not None
        share = w.p95_ms / total.p95_ms if total.p95_ms > 0 else 0.0
        if share >= STAGE_SHARE:
            out.append(Finding("stage_dominates", name,
                               f"p95 {w.p95_ms:g} ms of the trade's {total.p95_ms:g} ms ({share:.0%})",
                               STAGE_ADVICE[name], share / STAGE_SHARE))
    return out


def cpu_findings(thread_cpu_pct: Mapping[str, float]) -> list[Finding]:
    return [
        Finding("core_saturated", path, f"{pct:.0f} % of one core",
                f"{path} saturates a core: move its computation off the actor thread or split the actor; "
                "`perf profile 10` shows where the time goes", pct / CORE_SATURATED_PCT)
        for path, pct in thread_cpu_pct.items() if path.startswith("/") and pct >= CORE_SATURATED_PCT
    ]


def mailbox_findings(ages: Mapping[str, Sequence[tuple[float, float]]]) -> list[Finding]:
    """`ages`: per actor path, (time, oldest message age in s) samples, oldest first."""
    out = []
    for path, points in ages.items():
        if not points or points[-1][1] < MAILBOX_AGE_S:
            continue
        line = fit(points)
        if line is None or line[0] <= 0:
            continue
        out.append(Finding("mailbox_growing", path,
                           f"oldest message {points[-1][1]:.2f} s old, growing {line[0]:.2f} s/s",
                           f"{path} handles messages slower than they arrive: shorten its handler (I/O beside "
                           "the actor), batch, or shed load", points[-1][1] / MAILBOX_AGE_S))
    return out


def find_bottlenecks(
    measurements: Sequence[MeasurementStats],
    thread_cpu_pct: Mapping[str, float] | None = None,
    mailbox_ages: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    io_loop_lag_ms: float | None = None,
    gc_pause_p99_ms: float | None = None,
) -> list[Finding]:
    """Every rule of the table over the given figures, largest severity first."""
    out = stage_findings(measurements) + cpu_findings(thread_cpu_pct or {}) + mailbox_findings(mailbox_ages or {})
    if io_loop_lag_ms is not None and io_loop_lag_ms >= IO_LOOP_LAG_MS:
        out.append(Finding("io_loop_lag", "arbiter-io", f"timer drift {io_loop_lag_ms:.0f} ms",
                           "a coroutine or callback blocks the shared io loop: `perf profile 10` names it",
                           io_loop_lag_ms / IO_LOOP_LAG_MS))
    if gc_pause_p99_ms is not None and gc_pause_p99_ms >= GC_PAUSE_MS:
        out.append(Finding("gc_pauses", "gc", f"p99 pause {gc_pause_p99_ms:.0f} ms",
                           "long GC pauses: keep fewer long-lived objects, or raise gc thresholds",
                           gc_pause_p99_ms / GC_PAUSE_MS))
    return sorted(out, key=lambda f: -f.severity)
