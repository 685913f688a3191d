"""The operator's performance report (Phase4Manager.get_performance_report) and the console's `perf`
table, from the sampler's snapshot and the health check. Keys follow the seed's camelCase:
`overall.performance.grade`, `components.networkOptimizer.averageLatency` (ms, mean of RPC calls over
5 min), `components.riskManager.successRate` (share of submitted trades mined over 1 h)."""

from __future__ import annotations

from typing import Any

import msgspec

from performance.analyzer import RPC_CALL, TRADE
from performance.bottleneck import STAGE_ADVICE
from protocol.health import HealthCheck
from protocol.performance import PerfSnapshot, SloStatus, WindowStats

SHORT_S, LONG_S = 300, 3600


def _window(snap: PerfSnapshot, name: str, window_s: int) -> WindowStats | None:
    m = snap.measurement(name)
    return m.window(window_s) if m is not None else None


def _field(w: WindowStats | None, attr: str) -> Any:
    return getattr(w, attr) if w is not None and w.count else None


def performance_report(snap: PerfSnapshot | None, health: HealthCheck) -> dict[str, Any]:
    if snap is None:
        return {"overall": {"performance": {"grade": None, "reasons": ["no performance snapshot yet"]},
                            "health": health.overall},
                "health": msgspec.to_builtins(health)}
    rpc5 = _window(snap, RPC_CALL, SHORT_S)
    trades = _window(snap, TRADE, LONG_S)
    stages = {name: _field(_window(snap, name, SHORT_S), "p95_ms") for name in STAGE_ADVICE}
    return {
        "generatedAt": snap.at,
        "uptimeSeconds": round(snap.at - snap.started_at, 1),
        "overall": {
            "performance": {"grade": snap.grade, "reasons": list(snap.grade_reasons),
                            "topBottleneck": msgspec.to_builtins(snap.findings[0]) if snap.findings else None},
            "health": health.overall,
        },
        "components": {
            "networkOptimizer": {
                "averageLatency": _field(rpc5, "mean_ms"), "p95Latency": _field(rpc5, "p95_ms"),
                "p99Latency": _field(rpc5, "p99_ms"), "callsPerSecond": _field(rpc5, "rate_per_s"),
                "successRate": _field(rpc5, "success_share"), "ioLoopLagMs": snap.io_loop_lag_ms,
            },
            "riskManager": {
                "successRate": _field(trades, "success_share"), "trades": trades.count if trades else 0,
                "assessP95Ms": stages.get("trade.risk_assess"),
            },
            "executor": {"executionTimeP95Ms": _field(trades, "p95_ms"), "stageP95Ms": stages},
            "performanceAnalyzer": {"invalidInputs": dict(snap.invalid_inputs)},
        },
        "slos": [msgspec.to_builtins(s) for s in snap.slos],
        "measurements": [msgspec.to_builtins(m) for m in snap.measurements],
        "system": msgspec.to_builtins(snap.system),
        "gc": msgspec.to_builtins(snap.gc),
        "actors": [msgspec.to_builtins(a) for a in snap.actors],
        "trends": [msgspec.to_builtins(t) for t in snap.trends],
        "bottlenecks": [msgspec.to_builtins(f) for f in snap.findings],
        "health": msgspec.to_builtins(health),
    }


SLO_COLUMNS = ["SLO", "OBJECTIVE", "GOOD 5m", "GOOD 1h", "BURN 5m", "BURN 1h", "BUDGET LEFT", "FIRING"]


def _pct(value: float | None, digits: int = 2) -> str | None:
    return None if value is None else f"{value * 100:.{digits}f}%"


def slo_row(slo: SloStatus) -> list[Any]:
    by = {w.window_s: w for w in slo.windows}
    short, long = by.get(SHORT_S), by.get(LONG_S)
    return [
        slo.name, _pct(slo.objective, 1),
        _pct(short.compliance) if short else None, _pct(long.compliance) if long else None,
        round(short.burn_rate, 2) if short and short.burn_rate is not None else None,
        round(long.burn_rate, 2) if long and long.burn_rate is not None else None,
        _pct(slo.budget_remaining, 1), ",".join(slo.firing) or None,
    ]


def perf_title(snap: PerfSnapshot) -> str:
    """grade, why, and the top bottleneck with its recommendation."""
    why = "; ".join(snap.grade_reasons[:3]) + (" ..." if len(snap.grade_reasons) > 3 else "")
    text = f"grade {snap.grade}" + (f": {why}" if why else "")
    if snap.findings:
        top = snap.findings[0]
        text += f" | top bottleneck: {top.subject} ({top.rule}): {top.evidence}; {top.recommendation}"
    else:
        text += " | no bottleneck found"
    return text
