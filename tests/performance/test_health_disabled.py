"""performance.health.mark_disabled: a component the bot was started without shows as disabled and does
not count towards the overall status (hypothesis over every mix of statuses)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from performance.health import mark_disabled
from protocol.health import DEGRADED, DISABLED, HEALTHY, SEVERITY, UNHEALTHY, ComponentHealth, HealthCheck

NAMES = ("networkOptimizer", "riskManager", "performanceAnalyzer", "system", "actors")
STATUS = st.sampled_from((HEALTHY, DEGRADED, UNHEALTHY))


def check(statuses: dict[str, str]) -> HealthCheck:
    components = tuple(ComponentHealth(n, s, (f"{n} {s}",) if s != HEALTHY else ()) for n, s in statuses.items())
    overall = max((c.status for c in components), key=SEVERITY.__getitem__)
    return HealthCheck(overall, components, ("primary",), False, 1.0)


@given(st.fixed_dictionaries({n: STATUS for n in NAMES}), st.sets(st.sampled_from(NAMES)))
def test_disabled_components_are_marked_and_left_out_of_the_overall(statuses, disabled) -> None:
    marked = mark_disabled(check(statuses), {n: f"disabled ({n})" for n in disabled})
    for c in marked.components:
        if c.name in disabled:
            assert c.status == DISABLED and c.reasons == (f"disabled ({c.name})",)
        else:
            assert c.status == statuses[c.name]
    counted = [s for n, s in statuses.items() if n not in disabled] or [HEALTHY]
    assert marked.overall == max(counted, key=SEVERITY.__getitem__)
    assert marked.routable_endpoints == ("primary",)


def test_nothing_disabled_is_the_same_check() -> None:
    original = check(dict.fromkeys(NAMES, HEALTHY) | {"riskManager": UNHEALTHY})
    assert mark_disabled(original, {}) is original
    marked = mark_disabled(original, {"riskManager": "disabled (ENABLE_RISK_MANAGEMENT=false)"})
    assert marked.overall == HEALTHY and marked.component("riskManager").status == DISABLED  # type: ignore[union-attr]
