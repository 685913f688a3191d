"""The health check of the running process: the live tree and the published snapshots, judged by
performance.health. Read without asking any actor, so a stalled actor cannot stall the check
(the /health endpoint, Phase4Manager.perform_health_check and the sampler's uptime SLO call it)."""

from __future__ import annotations

import time

from performance.health import RISK_BOOK, SAMPLER, evaluate
from protocol.health import HealthCheck
from protocol.network import RoutingTable
from protocol.performance import PerfSnapshot
from protocol.risk import RiskSnapshot
from supervision import introspect, registry

ROUTER = "/network/router"


def health_check(memory_target_mb: float | None = None, now: float | None = None) -> HealthCheck:
    routing = registry.snapshot(ROUTER)
    risk = registry.snapshot(RISK_BOOK)
    perf = registry.snapshot(SAMPLER)
    return evaluate(
        introspect.snapshot_tree(),
        routing if isinstance(routing, RoutingTable) else None,
        risk if isinstance(risk, RiskSnapshot) else None,
        perf if isinstance(perf, PerfSnapshot) else None,
        time.time() if now is None else now,
        memory_target_mb,
    )
