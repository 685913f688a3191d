"""The health check of the running process: the live tree and the published snapshots, judged by
performance.health. Read without asking any actor, so a stalled actor cannot stall the check
(the /health endpoint, Phase4Manager.perform_health_check and the sampler's uptime SLO call it)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from performance.health import RISK_BOOK, SAMPLER, evaluate, mark_disabled
from protocol.health import HealthCheck
from protocol.network import RoutingTable
from protocol.performance import PerfSnapshot
from protocol.risk import RiskSnapshot
from supervision import introspect, registry

ROUTER = "/network/router"
#: The components this process's bot was started without (health component -> why); set by the bot at start.
_disabled: dict[str, str] = {}


def declare_disabled(components: Mapping[str, str]) -> None:
    """Say which components the running bot was built without, so the check shows them as disabled."""
    _disabled.clear()
    _disabled.update(components)


def health_check(memory_target_mb: float | None = None, now: float | None = None) -> HealthCheck:
    routing = registry.snapshot(ROUTER)
    risk = registry.snapshot(RISK_BOOK)
    perf = registry.snapshot(SAMPLER)
    return mark_disabled(evaluate(
        introspect.snapshot_tree(),
        routing if isinstance(routing, RoutingTable) else None,
        risk if isinstance(risk, RiskSnapshot) else None,
        perf if isinstance(perf, PerfSnapshot) else None,
        time.time() if now is None else now,
        memory_target_mb,
    ), dict(_disabled))
