"""The health check over every component, from what the tree and the actors publish (data in, data out).

| component           | unhealthy when                             | degraded when                                  |
| ------------------- | ------------------------------------------ | ---------------------------------------------- |
| networkOptimizer    | no RPC endpoint is routable                | an endpoint is excluded, a /network actor down |
| riskManager         | /risk-book not running, or the emergency   | -                                              |
|                     | stop is active (nothing may trade)         |                                                |
| marketEngine        | a /market actor is stopped or failed       | a /market actor is restarting                  |
| performanceAnalyzer | -                                          | /sampler down or its snapshot stale, or an SLO |
|                     |                                            | pages (fast burn)                              |
| system              | -                                          | RSS over MEMORY_USAGE_TARGET                   |
| actors              | the root supervisor is not running         | any other actor is not running                 |

The overall status is the worst component's. Grades and bottleneck findings do not make the bot
unhealthy: they are for the operator's eye (`perf`), not for a load balancer's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from protocol.health import DEGRADED, DISABLED, HEALTHY, SEVERITY, UNHEALTHY, ComponentHealth, HealthCheck
from protocol.network import RoutingTable
from protocol.performance import PerfSnapshot
from protocol.risk import RiskSnapshot
from protocol.supervision import ActorInfo

RISK_BOOK = "/risk-book"
SAMPLER = "/sampler"
#: The sampler's snapshot is stale past this many seconds (several of its ticks).
STALE_AFTER_S = 15.0
MB = 1024 * 1024


def _down(info: ActorInfo) -> str:
    return f"{info.path} is {info.state}" + (f" ({info.last_error})" if info.last_error else "")


def _component(name: str, unhealthy: Sequence[str], degraded: Sequence[str]) -> ComponentHealth:
    status = UNHEALTHY if unhealthy else DEGRADED if degraded else HEALTHY
    return ComponentHealth(name, status, (*unhealthy, *degraded))


def evaluate(
    actors: Sequence[ActorInfo], routing: RoutingTable | None, risk: RiskSnapshot | None,
    perf: PerfSnapshot | None, now: float, memory_target_mb: float | None = None,
) -> HealthCheck:
    by_path = {a.path: a for a in actors}
    down = [a for a in actors if a.state != "running"]
    claimed: set[str] = set()

    def under(prefix: str) -> list[ActorInfo]:
        found = [a for a in down if a.path == prefix or a.path.startswith(prefix + "/")]
        claimed.update(a.path for a in found)
        return found

    routable = tuple(r.name for r in routing.routes) if routing is not None else ()
    net_bad = [] if routable else ["no RPC endpoint is routable" + (f": {routing.excluded}" if routing else "")]
    net_degraded = [f"endpoint {n} excluded: {why}" for n, why in (routing.excluded if routing else {}).items()]
    net_degraded += [_down(a) for a in under("/network")]
    components = [_component("networkOptimizer", net_bad, net_degraded if routable else [])]

    risk_bad = [_down(a) for a in under(RISK_BOOK)]
    if RISK_BOOK not in by_path and actors:
        risk_bad.append(f"{RISK_BOOK} is not in the tree")
    stopped = bool(risk is not None and risk.emergency_stop.active)
    if stopped:
        assert risk is not None
        risk_bad.append(f"emergency stop: {risk.emergency_stop.reason}")
    components.append(_component("riskManager", risk_bad, []))

    market = under("/market")
    if any(a.path.startswith("/market") for a in actors):
        components.append(_component("marketEngine", [_down(a) for a in market if a.state != "restarting"],
                                     [_down(a) for a in market if a.state == "restarting"]))

    perf_degraded = [_down(a) for a in under(SAMPLER)]
    if not perf_degraded:
        if perf is None:
            perf_degraded.append("no performance snapshot yet")
        elif now - perf.at > STALE_AFTER_S:
            perf_degraded.append(f"the performance snapshot is {now - perf.at:.0f} s old")
    if perf is not None:
        perf_degraded += [f"SLO {s.name} pages: its error budget burns fast" for s in perf.slos if "page" in s.firing]
    components.append(_component("performanceAnalyzer", [], perf_degraded))

    sys_degraded = []
    if perf is not None and perf.system is not None and memory_target_mb is not None:
        rss_mb = perf.system.rss_bytes / MB
        if rss_mb > memory_target_mb:
            sys_degraded.append(f"RSS {rss_mb:.0f} MB over the {memory_target_mb:g} MB target")
    components.append(_component("system", [], sys_degraded))

    rest = [a for a in down if a.path not in claimed]
    components.append(_component("actors", [_down(a) for a in rest if a.path == "/"],
                                 [_down(a) for a in rest if a.path != "/"]))
    if not actors:
        components[-1] = ComponentHealth("actors", UNHEALTHY, ("no actor tree is running",))
    overall = max((c.status for c in components), key=SEVERITY.__getitem__)
    return HealthCheck(overall, tuple(components), routable, stopped, now)


def mark_disabled(check: HealthCheck, disabled: Mapping[str, str]) -> HealthCheck:
    """The check with each component the bot was started without (name -> why) shown as disabled and left
    out of the overall status: an absent risk book is unhealthy only in a bot that was meant to have one."""
    if not disabled:
        return check
    components = tuple(ComponentHealth(c.name, DISABLED, (disabled[c.name],)) if c.name in disabled else c
                       for c in check.components)
    counted = [c.status for c in components if c.status != DISABLED] or [HEALTHY]
    overall = max(counted, key=SEVERITY.__getitem__)
    return HealthCheck(overall, components, check.routable_endpoints, check.emergency_stop, check.checked_at)
