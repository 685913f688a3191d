"""Reading the running bot for the status page: published snapshots first, two bounded asks.

Everything the page shows is read the way the console reads it: the live tree from
supervision.introspect, the endpoints', router's, sampler's, risk book's and executor's published
snapshots (no mailbox hop), the trace store, and two asks with a short timeout (the executor's trade
records, the alert router's recent alerts). A source that cannot be read is named in `problems`.
One `Gatherer` serves every browser: it keeps the request counts the routing shares are computed from.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Mapping
from typing import Any

from monitoring import tracing
from protocol.alerts import AlertsReport, GetAlerts
from protocol.execution import ExecutorSnapshot, GetTrades, TradeRecord
from protocol.network import EndpointSnapshot, RoutingTable
from protocol.performance import PerfSnapshot
from protocol.risk import RiskSnapshot
from statuspage.view import RECENT_ROWS, PageInputs
from supervision import Handle, introspect, registry

ROUTER, SAMPLER, RISK_BOOK = "/network/router", "/sampler", "/risk-book"
EXECUTOR, ALERT_ROUTER = "/market/executor", "/alerts/router"
#: A bound on each ask: a stalled actor shows as a problem on the page, never a stalled page.
ASK_TIMEOUT_S = 2.0
#: Routing shares are over the requests of about the last minute.
SHARE_WINDOW_S = 60.0
#: Trade records asked for: enough to find RECENT_ROWS sent trades among skipped opportunities.
TRADES_ASKED = 200


def _typed(value: Any, kind: type) -> Any:
    return value if isinstance(value, kind) else None


class Gatherer:
    def __init__(self, share_window_s: float = SHARE_WINDOW_S) -> None:
        self.share_window_s = share_window_s
        self._requests: collections.deque[tuple[float, Mapping[str, int]]] = collections.deque()

    def _ask(self, path: str, msg: Any, problems: dict[str, str], what: str) -> Any:
        try:
            return Handle(path).ask(msg, timeout=ASK_TIMEOUT_S)
        except Exception as exc:  # an actor that is down or slow is shown as such, the rest of the page goes on
            problems[what] = f"{type(exc).__name__}: {exc}"
            return None

    def read(self) -> PageInputs:
        now, mono = time.time(), time.monotonic()
        problems: dict[str, str] = {}
        tree = introspect.snapshot_tree()
        endpoints = [s for i in tree if isinstance(s := registry.snapshot(i.path), EndpointSnapshot)]
        self._requests.append((mono, {e.name: e.requests for e in endpoints}))
        while len(self._requests) > 2 and mono - self._requests[1][0] >= self.share_window_s:
            self._requests.popleft()
        executor = _typed(registry.snapshot(EXECUTOR), ExecutorSnapshot)
        trades: tuple[TradeRecord, ...] = ()
        if executor is not None:
            answer = self._ask(EXECUTOR, GetTrades(limit=TRADES_ASKED), problems, "trades")
            trades = tuple(answer) if isinstance(answer, tuple | list) else ()
        traces = {}
        store = tracing.store()
        if store is not None:
            for t in [t for t in trades if t.tx_hash is not None][-RECENT_ROWS:]:
                spans = store.timeline(t.opportunity_id)
                if spans:
                    traces[t.opportunity_id] = tracing.summarize(t.opportunity_id, spans)
        alerts = None
        if any(i.path == ALERT_ROUTER for i in tree):
            alerts = _typed(self._ask(ALERT_ROUTER, GetAlerts(limit=RECENT_ROWS), problems, "alerts"), AlertsReport)
        return PageInputs(
            now=now, tree=tree, endpoints=endpoints, routing=_typed(registry.snapshot(ROUTER), RoutingTable),
            request_history=tuple(self._requests), perf=_typed(registry.snapshot(SAMPLER), PerfSnapshot),
            risk=_typed(registry.snapshot(RISK_BOOK), RiskSnapshot), executor=executor, trades=trades,
            traces=traces, alerts=alerts, problems=problems,
        )


def trace_timeline(trace_id: str) -> list[dict[str, Any]] | None:
    """One trace's spans for the page's trace panel, as the console's `trace ID` shows them; None when
    tracing is off or the trace is not (or no longer) in the store."""
    store = tracing.store()
    if store is None:
        return None
    spans = store.timeline(trace_id)
    if not spans:
        return None
    t0 = spans[0].start_ns
    return [{"stage": s.name, "atMs": round((s.start_ns - t0) / 1e6, 3), "tookMs": round(s.duration_ms, 3),
             "error": s.error, "attributes": dict(sorted(s.attributes.items()))} for s in spans]
