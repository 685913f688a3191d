"""GET /health over a real socket: 200 while healthy or degraded, 503 when a component is unhealthy;
and the health rules on a live tree of stand-in actors at the real paths."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from actors.sampler import Sampler
from bot.system import health_answer
from protocol.network import EndpointRoute, RoutingTable
from protocol.performance import PerfSnapshot
from protocol.risk import EmergencyStop, RiskLimits, RiskSnapshot
from rpc.metrics import serve_metrics
from supervision import (
    ActorContext,
    ChildSpec,
    Handle,
    Restart,
    SupervisedActor,
    registry,
    start_tree,
    stop_tree,
    supervisor_spec,
)
from tests.waiting import wait_until

WAIT_S = 20.0


class StandIn(SupervisedActor):
    """Holds a path in the tree; the test publishes its snapshot."""

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)


def risk(stop: bool) -> RiskSnapshot:
    return RiskSnapshot(RiskLimits(), EmergencyStop(active=stop, reason="drill" if stop else None), None, 100.0,
                        1000.0, 1)


def routing(*names: str, excluded: dict[str, str] | None = None) -> RoutingTable:
    return RoutingTable(1, tuple(EndpointRoute(n, f"http://{n}", 0.1) for n in names), excluded=excluded or {})


@pytest.fixture
def tree() -> Iterator[None]:
    start_tree(supervisor_spec("root", [
        supervisor_spec("network", [ChildSpec("router", StandIn)]),
        ChildSpec("risk-book", StandIn, restart=Restart.TEMPORARY),
        ChildSpec("sampler", Sampler, kwargs={"period_s": 0.1}),
    ]))
    try:
        yield
    finally:
        stop_tree(timeout_s=15.0)
        registry.clear()


@pytest.fixture
def server() -> Iterator[str]:
    # the memory rule is not under test: a whole suite in one process passes 512 MB of RSS
    srv = serve_metrics(0, "127.0.0.1", health=health_answer(memory_target_mb=1_000_000.0))
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        srv.server_close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health_is_200_when_healthy_or_degraded_and_503_when_a_component_is_unhealthy(tree: None,
                                                                                       server: str) -> None:
    registry.publish("/network/router", routing("a", "b"))
    registry.publish("/risk-book", risk(stop=False))
    wait_until(lambda: isinstance(Handle("/sampler").snapshot(), PerfSnapshot), WAIT_S, "the sampler's snapshot")
    status, body = get(server + "/health")
    assert status == 200 and body["overall"] == "healthy", body
    assert {c["name"] for c in body["components"]} >= {"networkOptimizer", "riskManager", "performanceAnalyzer"}

    registry.publish("/network/router", routing("a", excluded={"b": "OPEN"}))
    status, body = get(server + "/health")
    net = next(c for c in body["components"] if c["name"] == "networkOptimizer")
    assert status == 200 and body["overall"] == "degraded" and net["reasons"] == ["endpoint b excluded: OPEN"]

    registry.publish("/risk-book", risk(stop=True))
    status, body = get(server + "/health")
    book = next(c for c in body["components"] if c["name"] == "riskManager")
    assert status == 503 and body["overall"] == "unhealthy" and book["reasons"] == ["emergency stop: drill"]

    registry.publish("/risk-book", risk(stop=False))
    registry.publish("/network/router", routing())
    status, body = get(server + "/health")
    assert status == 503 and "no RPC endpoint is routable" in body["components"][0]["reasons"][0]

    registry.publish("/network/router", routing("a", "b"))
    assert get(server + "/health")[0] == 200
    metrics = urllib.request.urlopen(server + "/metrics", timeout=10).read().decode()
    assert "arbiter_performance_grade" in metrics and "arbiter_slo_error_budget_remaining_ratio" in metrics


def test_health_is_503_without_a_tree(server: str) -> None:
    status, body = get(server + "/health")
    assert status == 503 and body["overall"] == "unhealthy"


def test_a_failing_health_check_answers_503_not_a_dead_endpoint() -> None:
    def broken() -> tuple[int, bytes]:
        raise RuntimeError("check exploded")

    srv = serve_metrics(0, "127.0.0.1", health=broken)
    try:
        status, body = get(f"http://127.0.0.1:{srv.server_port}/health")
        assert status == 503 and "check exploded" in body["error"]
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_stopped_risk_book_makes_the_bot_unhealthy_and_is_named(tree: None) -> None:
    from probes.health import health_check

    registry.publish("/network/router", routing("a"))
    registry.publish("/risk-book", risk(stop=False))
    Handle("/risk-book").resolve().stop(block=True)  # temporary: it stays down
    check = wait_until(lambda: health_check(), WAIT_S, "the risk book to be seen down",
                       until=lambda c: c.overall == "unhealthy")
    book = check.component("riskManager")
    assert book is not None and book.status == "unhealthy" and any("/risk-book" in r for r in book.reasons)
