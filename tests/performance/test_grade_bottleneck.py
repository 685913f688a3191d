"""The grade table and the bottleneck rule table."""

from __future__ import annotations

import pytest

from performance.bottleneck import find_bottlenecks
from performance.grade import grade
from protocol.performance import BurnWindow, Finding, MeasurementStats, SloStatus, WindowStats


def slo(compliance_5m: float = 1.0, compliance_1h: float = 1.0, budget: float | None = 1.0,
        firing: tuple[str, ...] = ()) -> SloStatus:
    windows = (BurnWindow(300, 100, 0, compliance_5m, 0.0), BurnWindow(3600, 100, 0, compliance_1h, 0.0))
    return SloStatus("rpcLatency", "", 0.99, 100.0, "ms", windows, 86400, budget, firing)


FINDING = Finding("core_saturated", "/x", "", "", 1.0)


@pytest.mark.parametrize(("slos", "findings", "health", "expected"), [
    ([slo()], [], "healthy", "A"),
    ([slo(budget=None)], [], "healthy", "A"),
    ([slo()], [FINDING], "healthy", "B"),
    ([slo(compliance_5m=0.98)], [], "healthy", "B"),
    ([slo(budget=0.8)], [], "healthy", "B"),
    ([slo(compliance_1h=0.98)], [], "healthy", "C"),
    ([slo(budget=0.4)], [], "healthy", "C"),
    ([slo(budget=0.2)], [], "degraded", "D"),
    ([slo(firing=("ticket",))], [], "healthy", "D"),
    ([slo(firing=("page",))], [], "healthy", "F"),
    ([slo(budget=-0.1)], [], "healthy", "F"),
    ([slo()], [], "unhealthy", "F"),
])
def test_grade_table(slos: list[SloStatus], findings: list[Finding], health: str, expected: str) -> None:
    letter, reasons = grade(slos, findings, health)
    assert letter == expected, reasons
    assert bool(reasons) == (expected != "A")


def stats(name: str, p95: float, count: int = 10) -> MeasurementStats:
    w = WindowStats(300, count, 1.0, 1.0, p95 / 2, p95, p95, p95)
    return MeasurementStats(name, count, 0, (w,))


def test_stage_that_dominates_the_trade_is_named() -> None:
    found = find_bottlenecks([stats("trade.execution", 1000), stats("trade.inclusion", 800),
                              stats("trade.simulate", 50)])
    assert [(f.rule, f.subject) for f in found] == [("stage_dominates", "trade.inclusion")]
    assert "priority fee" in found[0].recommendation


def test_cpu_mailbox_loop_and_gc_rules() -> None:
    found = find_bottlenecks(
        [], thread_cpu_pct={"/market/strategy": 97.0, "/risk-book": 10.0, "MainThread": 99.0},
        mailbox_ages={"/slow": [(0.0, 0.5), (1.0, 1.5), (2.0, 2.5)], "/steady": [(0.0, 2.0), (1.0, 2.0)]},
        io_loop_lag_ms=250.0, gc_pause_p99_ms=10.0,
    )
    assert {(f.rule, f.subject) for f in found} == {
        ("core_saturated", "/market/strategy"), ("mailbox_growing", "/slow"), ("io_loop_lag", "arbiter-io")}
    assert found[0].severity >= found[-1].severity
