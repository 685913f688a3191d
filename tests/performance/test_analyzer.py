"""PerformanceAnalyzer on an injected clock: which measurements feed which SLO, trend warnings once,
bad input counted; the profile book's arithmetic; the health rules as a table."""

from __future__ import annotations

import pytest

from performance.analyzer import PerformanceAnalyzer
from performance.health import evaluate
from performance.profile import ProfileBook
from probes.profiler import BadProfileRequest, validate_seconds
from protocol.config import PerformanceTargets
from protocol.health import DEGRADED, HEALTHY, UNHEALTHY
from protocol.network import EndpointRoute, RoutingTable
from protocol.performance import SystemSample, TrendWarning
from protocol.risk import EmergencyStop, RiskLimits, RiskSnapshot
from protocol.supervision import ActorInfo

MS = 1_000_000  # ns


def entry(name: str, ms: float, ok: bool = True, meta: dict | None = None) -> tuple:
    return (name, int(ms * MS), ok, meta, 0)


def slo(analyzer: PerformanceAnalyzer, name: str, now: float):
    snap, _ = analyzer.snapshot(now)
    found = snap.slo(name)
    assert found is not None
    return found, snap


def test_measurements_feed_their_slos() -> None:
    a = PerformanceAnalyzer(PerformanceTargets(rpc_latency_target_ms=100, execution_time_target_ms=30_000), 0.0)
    a.ingest([entry("rpc.call", 50), entry("rpc.call", 150), entry("rpc.call", 10, ok=False)], 10.0)
    a.ingest([entry("trade.execution", 1000), entry("trade.execution", 40_000), entry("trade.execution", 5, False)],
             10.0)
    a.ingest([entry("trade.simulate", 12)], 10.0)
    rpc, snap = slo(a, "rpcLatency", 11.0)
    five = rpc.windows[0]
    assert (five.events, five.bad) == (3, 2), "slow and failed calls are both bad"
    success = snap.slo("successRate")
    execution = snap.slo("executionTime")
    assert success is not None and (success.windows[0].events, success.windows[0].bad) == (3, 1)
    assert execution is not None and (execution.windows[0].events, execution.windows[0].bad) == (2, 1), \
        "only mined trades are timed"
    assert snap.measurement("trade.simulate") is not None


def test_bad_input_is_counted_not_raised() -> None:
    a = PerformanceAnalyzer(PerformanceTargets(), 0.0)
    kept = a.ingest([entry("x", -1), entry("x", 1, meta={"gas": float("nan"), "fee": -2.0}), entry("x", 2)], 1.0)
    assert kept == 2
    snap, _ = a.snapshot(2.0, invalid={"unknown_id": 3})
    assert snap.invalid_inputs == {"unknown_id": 3, "bad_duration": 1, "bad_meta": 2}


def sample(at: float, rss_mb: float, cpu: float = 10.0) -> SystemSample:
    return SystemSample(at, cpu, int(rss_mb * 1024 * 1024), 10, 10, 0, 0, 0, 0, 10.0, 10.0)


def test_rss_heading_for_its_target_warns_once_until_it_clears() -> None:
    a = PerformanceAnalyzer(PerformanceTargets(memory_usage_target_mb=512), 0.0)
    warnings = []
    now = 0.0
    for i in range(200):  # 100 MB growing 0.1 MB/s: 512 MB in about 69 min from the start
        now = i * 2.0
        a.observe(now, system=sample(now, 400 + 0.1 * now))
        warnings += [e for e in a.snapshot(now)[1] if isinstance(e, TrendWarning)]
    assert len(warnings) == 1
    w = warnings[0]
    assert w.metric == "RSS" and w.target == 512 and 0 < w.seconds_to_cross <= 3600
    expected = (512 - (400 + 0.1 * w.at)) / 0.1
    assert abs(w.seconds_to_cross - expected) <= 0.05 * expected
    for i in range(200, 500):  # memory is released: the warning clears, no new one
        now = i * 2.0
        a.observe(now, system=sample(now, 100))
        assert not [e for e in a.snapshot(now)[1] if isinstance(e, TrendWarning)]
    assert "rss" not in a.warned


def test_uptime_counts_only_known_health_and_unhealthy_is_bad() -> None:
    a = PerformanceAnalyzer(PerformanceTargets(), 0.0)
    a.observe(1.0, health=None)
    a.observe(2.0, health="degraded")
    a.observe(3.0, health="unhealthy")
    up, _ = slo(a, "uptime", 4.0)
    assert (up.windows[0].events, up.windows[0].bad) == (2, 1)


def test_profile_book_counts_self_and_total_once_per_sample() -> None:
    book = ProfileBook()
    for _ in range(3):
        book.add("/a", ("leaf", "mid", "root"))
    book.add("/a", ("mid", "mid", "root"))  # recursion counts once
    book.add("/b", ("wait", "loop"))
    book.add("/b", ())
    report = book.report(1.0, str, idle=lambda k: k == "wait", cpu_share={"/a": 0.9, "/b": 0.0})
    a, b = report.threads
    assert a.thread == "/a" and a.samples == 4 and a.cpu_share == 0.9
    assert [(f.function, f.self_share, f.total_share) for f in a.hottest] == [("leaf", 0.75, 0.75),
                                                                              ("mid", 0.25, 1.0)]
    assert b.idle_share == 1.0 and b.hottest == ()


@pytest.mark.parametrize("bad", [0, -1, 61, float("nan"), "10", True, None])
def test_profile_durations_are_validated(bad: object) -> None:
    with pytest.raises(BadProfileRequest):
        validate_seconds(bad)


def actor(path: str, state: str = "running", error: str | None = None) -> ActorInfo:
    return ActorInfo(path, "X", state, None, 0, None, 0, 0, 1.0, error)


TREE = [actor("/"), actor("/network"), actor("/network/router"), actor("/risk-book"), actor("/sampler"),
        actor("/market"), actor("/market/executor")]
ROUTES = RoutingTable(1, (EndpointRoute("a", "http://a", 0.1),))
CALM = RiskSnapshot(RiskLimits(), EmergencyStop(), None, 1.0, 1.0, 1)


@pytest.mark.parametrize(("tree", "routing", "risk", "overall", "component"), [
    (TREE, ROUTES, CALM, DEGRADED, "performanceAnalyzer"),  # no sampler snapshot yet
    (TREE, RoutingTable(1, ()), CALM, UNHEALTHY, "networkOptimizer"),
    (TREE, ROUTES, RiskSnapshot(RiskLimits(), EmergencyStop(True, "x"), None, 1.0, 1.0, 1), UNHEALTHY, "riskManager"),
    ([*TREE[:-1], actor("/market/executor", "restarting")], ROUTES, CALM, DEGRADED, "marketEngine"),
    ([*TREE[:-1], actor("/market/executor", "failed", "boom")], ROUTES, CALM, UNHEALTHY, "marketEngine"),
    ([], ROUTES, CALM, UNHEALTHY, "actors"),
])
def test_health_rules(tree, routing, risk, overall, component) -> None:
    check = evaluate(tree, routing, risk, None, 100.0)
    assert check.overall == overall
    named = check.component(component)
    assert named is not None and named.status == overall and named.reasons
    assert all(c.status == HEALTHY for c in check.components if c.name != component and c.name != "performanceAnalyzer")
