"""What the status page shows: a pure function from the published snapshots to one JSON-able view.

`status_view(inputs)` is the whole page's content; the web layer only gathers `PageInputs`, encodes
the view and pushes it to the browsers (server-sent events). No I/O here: the same inputs always
give the same view, so every figure the page shows is unit-tested from its source.

Conventions the page states: PnL is the risk book's equity less its first point (numeraire);
drawdown is 1 - equity / running peak of that curve (ARCHITECTURE: from the equity curve, not from
trade profits); an endpoint's routing share is its share of the requests all endpoints served
between the oldest and the newest sample of `request_history`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring.tracing import TraceSummary
from protocol.alerts import AlertsReport
from protocol.execution import ExecutorSnapshot, TradeRecord
from protocol.network import EndpointSnapshot, RoutingTable
from protocol.performance import PerfSnapshot
from protocol.risk import EquityPoint, RiskSnapshot
from protocol.supervision import ActorInfo

#: The most points a chart gets; a longer curve is thinned evenly (its last point always kept).
CHART_POINTS = 300
#: Rows of the trades and alerts tables.
RECENT_ROWS = 20
WEI = 10**18


@dataclass(frozen=True)
class PageInputs:
    """Everything the page shows, as read from the running bot at `now` (wall clock, seconds).

    `problems` names the sources that could not be read this time (an ask that timed out...): the
    page says so instead of showing stale or empty data as if it were current."""

    now: float
    tree: Sequence[ActorInfo] = ()
    endpoints: Sequence[EndpointSnapshot] = ()
    routing: RoutingTable | None = None
    request_history: Sequence[tuple[float, Mapping[str, int]]] = ()  # (at, endpoint -> requests served), oldest first
    perf: PerfSnapshot | None = None
    risk: RiskSnapshot | None = None
    executor: ExecutorSnapshot | None = None
    trades: Sequence[TradeRecord] = ()  # newest last, as the executor answers GetTrades
    traces: Mapping[str, TraceSummary] = field(default_factory=dict)  # trace id -> summary, for the trade links
    alerts: AlertsReport | None = None
    problems: Mapping[str, str] = field(default_factory=dict)


def routing_shares(history: Sequence[tuple[float, Mapping[str, int]]]) -> dict[str, float]:
    """Each endpoint's share of the requests served between the first and last sample (sums to 1, or
    empty when nothing was served). A counter that went down (the endpoint actor restarted and began
    again from 0) counts its new value as served since the restart."""
    if len(history) < 2:
        return {}
    (_, first), (_, last) = history[0], history[-1]
    served: dict[str, int] = {}
    for name, count in last.items():
        before = first.get(name, 0)
        served[name] = count - before if count >= before else count
    total = sum(served.values())
    if total <= 0:
        return {}
    return {name: n / total for name, n in sorted(served.items())}


def thin(points: Sequence[Any], limit: int = CHART_POINTS) -> list[Any]:
    """At most `limit` points, evenly spaced, the first and the last always kept."""
    if len(points) <= limit:
        return list(points)
    if limit < 2:
        return [points[-1]]
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def pnl_series(curve: Sequence[EquityPoint]) -> list[list[float]]:
    """[at, equity - first equity] per point (numeraire)."""
    if not curve:
        return []
    start = curve[0].equity
    return [[p.at, p.equity - start] for p in curve]


def drawdown_series(curve: Sequence[EquityPoint]) -> list[list[float]]:
    """[at, 1 - equity / running peak] per point: 0 at a new high, 0.2 is 20 % below the peak so far."""
    out: list[list[float]] = []
    peak = float("-inf")
    for p in curve:
        peak = max(peak, p.equity)
        out.append([p.at, 0.0 if peak <= 0 else max(0.0, 1.0 - p.equity / peak)])
    return out


def _tree(infos: Sequence[ActorInfo]) -> list[dict[str, Any]]:
    return [{
        "path": i.path, "kind": i.kind, "state": i.state, "breaker": i.breaker, "mailbox": i.mailbox_depth,
        "restarts": i.restarts_total, "restartsRecent": i.restarts_recent, "uptimeS": i.uptime_s,
        "lastError": i.last_error,
    } for i in infos]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _endpoints(inputs: PageInputs) -> list[dict[str, Any]]:
    shares = routing_shares(inputs.request_history)
    table = inputs.routing
    ranks = {r.name: n for n, r in enumerate(table.routes)} if table is not None else {}
    excluded = table.excluded if table is not None else {}
    rows = []
    for e in sorted(inputs.endpoints, key=lambda e: (ranks.get(e.name, len(ranks)), e.name)):
        rows.append({
            "name": e.name, "breaker": e.breaker, "reason": e.reason, "head": e.head, "requests": e.requests,
            "ewmaMs": _ms(e.ewma_s), "p50Ms": _ms(e.p50_s), "p95Ms": _ms(e.p95_s), "p99Ms": _ms(e.p99_s),
            "errorRate": e.error_rate, "inFlight": e.in_flight, "share": shares.get(e.name),
            "rank": ranks.get(e.name), "excluded": excluded.get(e.name),
        })
    return rows


def _risk(snap: RiskSnapshot | None, now: float) -> dict[str, Any] | None:
    if snap is None:
        return None
    stop = snap.emergency_stop
    curve = snap.equity_curve
    peak = max((p.equity for p in curve), default=snap.equity)
    return {
        "equity": snap.equity,
        "peakEquity": peak,
        "pnl": snap.equity - curve[0].equity if curve else 0.0,
        "drawdown": 0.0 if peak <= 0 else max(0.0, 1.0 - snap.equity / peak),
        "dailyLossRemaining": snap.daily_loss_remaining,
        "cooldownUntil": snap.cooldown_until,
        "inCooldown": snap.cooldown_until is not None and now < snap.cooldown_until,
        "mayTrade": snap.may_trade(now),
        "emergencyStop": {"active": stop.active, "reason": stop.reason, "since": stop.since, "by": stop.by},
        "limits": {"maxDailyLoss": snap.limits.max_daily_loss, "maxTradeAmount": snap.limits.max_trade_amount,
                   "maxPositionSize": snap.limits.max_position_size, "maxDrawdown": snap.limits.max_drawdown,
                   "emergencyStopLoss": snap.limits.emergency_stop_loss},
        "version": snap.version,
    }


def _eth(wei: int | None) -> float | None:
    return None if wei is None else wei / WEI


def _trades(inputs: PageInputs) -> list[dict[str, Any]]:
    """The last RECENT_ROWS trades sent (skipped opportunities are not trades), newest first."""
    sent = [t for t in inputs.trades if t.tx_hash is not None]
    rows = []
    for t in reversed(sent[-RECENT_ROWS:]):
        summary = inputs.traces.get(t.opportunity_id)
        rows.append({
            "id": t.opportunity_id, "stage": t.stage.value, "mode": t.mode.value, "txHash": t.tx_hash,
            "block": t.included_block or t.target_block, "amountIn": _eth(t.amount_in),
            "expectedProfit": _eth(t.expected_profit), "realizedProfit": _eth(t.realized_profit),
            "gasCost": _eth(t.gas_cost_wei), "at": t.submitted_at or t.detected_at,
            "traced": summary is not None, "traceEnd": summary.last if summary is not None else None,
        })
    return rows


def _executor(snap: ExecutorSnapshot | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    return {"mode": snap.mode.value, "received": snap.received, "inFlight": snap.in_flight, "mined": snap.mined,
            "reverted": snap.reverted, "notIncluded": snap.not_included, "skipped": snap.skipped,
            "stopped": snap.stopped, "lastHead": snap.last_head,
            "realizedProfit": {token: wei / WEI for token, wei in sorted(snap.realized_profit.items())},
            "gasCost": snap.gas_cost_wei / WEI}


def _alerts(report: AlertsReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    recent = sorted(report.recent, key=lambda a: a.accepted_at, reverse=True)[:RECENT_ROWS]
    return {
        "recent": [{"id": a.id, "type": a.type, "priority": a.priority, "title": a.title, "status": a.status,
                    "at": a.accepted_at, "deliveries": [f"{d.channel}:{d.status}" for d in a.deliveries]}
                   for a in recent],
        "channels": [{"channel": c.channel.value, "breaker": c.breaker, "sent": c.sent, "failed": c.failed,
                      "queued": report.queued.get(c.channel.value, 0), "note": c.disabled or c.reason}
                     for c in report.channels],
        "accepted": report.accepted, "deduplicated": report.deduplicated, "silences": report.silences,
    }


def _slos(perf: PerfSnapshot | None) -> dict[str, Any] | None:
    if perf is None:
        return None
    return {
        "at": perf.at, "grade": perf.grade, "gradeReasons": list(perf.grade_reasons),
        "slos": [{"name": s.name, "description": s.description, "objective": s.objective, "threshold": s.threshold,
                  "unit": s.unit, "budgetRemaining": s.budget_remaining, "firing": list(s.firing),
                  "windows": [{"windowS": w.window_s, "events": w.events, "compliance": w.compliance,
                               "burnRate": w.burn_rate} for w in s.windows]}
                 for s in perf.slos],
    }


def status_view(inputs: PageInputs) -> dict[str, Any]:
    """The page's whole content at `inputs.now` (see the module docstring for the conventions)."""
    curve = inputs.risk.equity_curve if inputs.risk is not None else ()
    return {
        "generatedAt": inputs.now,
        "tree": _tree(inputs.tree),
        "endpoints": _endpoints(inputs),
        "bestHead": inputs.routing.best_head if inputs.routing is not None else None,
        "risk": _risk(inputs.risk, inputs.now),
        "charts": {"pnl": thin(pnl_series(curve)), "drawdown": thin(drawdown_series(curve))},
        "executor": _executor(inputs.executor),
        "trades": _trades(inputs),
        "alerts": _alerts(inputs.alerts),
        "perf": _slos(inputs.perf),
        "problems": dict(sorted(inputs.problems.items())),
    }
