"""The health check's vocabulary: per component healthy / degraded / unhealthy, each with its reasons.

`GET /health` answers 200 with this as JSON while the overall status is healthy or degraded (the bot
works, maybe slower or with fewer endpoints) and 503 when it is unhealthy (it cannot trade: no
routable endpoint, the risk book or the market actors down, an emergency stop).
"""

from __future__ import annotations

import msgspec

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
#: A component the bot was started without (an enable flag off): it does not count towards the overall status.
DISABLED = "disabled"
#: Worse last: the overall status is the worst component's.
SEVERITY = {DISABLED: -1, HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


class ComponentHealth(msgspec.Struct, frozen=True):
    name: str  # networkOptimizer, riskManager, marketEngine, performanceAnalyzer, system, actors
    status: str  # healthy | degraded | unhealthy | disabled
    reasons: tuple[str, ...] = ()


class HealthCheck(msgspec.Struct, frozen=True):
    overall: str
    components: tuple[ComponentHealth, ...]
    routable_endpoints: tuple[str, ...]
    emergency_stop: bool
    checked_at: float

    @property
    def healthy(self) -> bool:
        return self.overall == HEALTHY

    @property
    def problems(self) -> tuple[str, ...]:
        """Every component's reasons, in component order."""
        return tuple(r for c in self.components for r in c.reasons)

    def component(self, name: str) -> ComponentHealth | None:
        return next((c for c in self.components if c.name == name), None)
