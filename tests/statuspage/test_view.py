"""The status page's content: a pure function of the published snapshots (statuspage.view)."""

from __future__ import annotations

import math

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from monitoring.tracing import TraceSummary
from protocol.alerts import AlertDelivery, AlertsReport, AlertView, ChannelKind, ChannelSnapshot
from protocol.execution import ExecutorSnapshot, SubmitMode, TradeRecord, TradeStage
from protocol.network import EndpointRoute, EndpointSnapshot, RoutingTable
from protocol.performance import BurnWindow, PerfSnapshot, SloStatus
from protocol.risk import EmergencyStop, EquityPoint, RiskLimits, RiskSnapshot
from protocol.supervision import ActorInfo
from statuspage.view import (
    CHART_POINTS,
    RECENT_ROWS,
    PageInputs,
    drawdown_series,
    pnl_series,
    routing_shares,
    status_view,
    thin,
)

NOW = 1_800_000_000.0
WETH = "0x" + "ee" * 20


def actor(path: str, *, restarts: int = 0, breaker: str | None = None, state: str = "running") -> ActorInfo:
    return ActorInfo(path=path, kind="X", state=state, breaker=breaker, mailbox_depth=0, oldest_message_age_s=None,
                     restarts_total=restarts, restarts_recent=restarts, uptime_s=12.0, last_error=None)


def endpoint(name: str, requests: int, breaker: str = "CLOSED", ewma_s: float | None = 0.004) -> EndpointSnapshot:
    return EndpointSnapshot(name=name, url=f"http://{name}", chain_id=1, region="", priority=0, breaker=breaker,
                            requests=requests, ewma_s=ewma_s, p95_s=0.01)


def trade(n: int, stage: TradeStage = TradeStage.MINED, sent: bool = True) -> TradeRecord:
    return TradeRecord(opportunity_id=f"{n:032x}", stage=stage, mode=SubmitMode.PUBLIC, token=WETH, detected_block=n,
                       amount_in=10**17, expected_profit=2 * 10**15, realized_profit=2 * 10**15 if sent else None,
                       gas_cost_wei=10**14, tx_hash=f"0x{n:064x}" if sent else None, included_block=n + 1,
                       submitted_at=NOW - 100 + n if sent else None, detected_at=NOW - 100 + n)


def risk_snapshot(curve: tuple[EquityPoint, ...], stop: EmergencyStop | None = None) -> RiskSnapshot:
    return RiskSnapshot(limits=RiskLimits(), emergency_stop=stop or EmergencyStop(), cooldown_until=None,
                        daily_loss_remaining=900.0, equity=curve[-1].equity, version=3, equity_curve=curve)


def test_routing_shares_are_each_endpoints_part_of_the_requests_served_in_the_window() -> None:
    history = [(0.0, {"a": 100, "b": 50, "c": 10}), (30.0, {"a": 110, "b": 80, "c": 10}),
               (60.0, {"a": 130, "b": 110, "c": 10})]
    assert routing_shares(history) == {"a": 30 / 90, "b": 60 / 90, "c": 0.0}


def test_a_restarted_endpoint_counts_from_its_restart_and_a_new_one_from_zero() -> None:
    # rpc:a restarted (its counter began again at 0 and reached 5); rpc:d appeared in the window
    history = [(0.0, {"a": 100, "b": 10}), (60.0, {"a": 5, "b": 20, "d": 5})]
    assert routing_shares(history) == {"a": 0.25, "b": 0.5, "d": 0.25}


def test_no_share_without_two_samples_or_without_requests() -> None:
    assert routing_shares([]) == {}
    assert routing_shares([(0.0, {"a": 3})]) == {}
    assert routing_shares([(0.0, {"a": 3}), (1.0, {"a": 3})]) == {}


counters = st.dictionaries(st.sampled_from("abcde"), st.integers(0, 10**6), min_size=1)


@given(counters, counters)
def test_shares_are_fractions_that_sum_to_one(first: dict[str, int], last: dict[str, int]) -> None:
    shares = routing_shares([(0.0, first), (1.0, last)])
    assert set(shares) <= set(last)
    if shares:
        assert all(0.0 <= s <= 1.0 for s in shares.values())
        assert math.isclose(sum(shares.values()), 1.0)


equities = st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=400)


@given(equities)
def test_drawdown_is_the_fall_below_the_running_peak(values: list[float]) -> None:
    curve = [EquityPoint(float(i), e) for i, e in enumerate(values)]
    series = drawdown_series(curve)
    peak = 0.0
    for (at, dd), point in zip(series, curve):
        peak = max(peak, point.equity)
        assert at == point.at
        assert 0.0 <= dd < 1.0
        assert math.isclose(dd, 1 - point.equity / peak, abs_tol=1e-12)
        if point.equity == peak:
            assert dd == 0.0
    pnl = pnl_series(curve)
    assert pnl[0][1] == 0.0
    assert math.isclose(pnl[-1][1], values[-1] - values[0])


@given(st.lists(st.integers(), max_size=2000), st.integers(2, 500))
def test_thinning_keeps_the_ends_order_and_the_limit(points: list[int], limit: int) -> None:
    kept = thin(points, limit)
    assert len(kept) <= limit
    assert len(kept) == min(len(points), limit)
    if points:
        assert kept[0] == points[0] and kept[-1] == points[-1]
    indices = [points.index(p) for p in kept] if len(set(points)) == len(points) else None
    if indices is not None:
        assert indices == sorted(indices)


def test_the_view_shows_every_section_from_its_source() -> None:
    curve = (EquityPoint(NOW - 30, 10_000.0), EquityPoint(NOW - 20, 10_200.0), EquityPoint(NOW - 10, 9_690.0))
    stop = EmergencyStop(active=True, reason="drill", since=NOW - 5, by="status-page@127.0.0.1")
    report = AlertsReport(
        recent=(AlertView(id=1, type="system", priority="high", title="actor crashed", status="notified",
                          accepted_at=NOW - 50, deliveries=(AlertDelivery("log", "delivered", 1, ""),)),
                AlertView(id=2, type="risk", priority="critical", title="emergency stop", status="notified",
                          accepted_at=NOW - 4, deliveries=())),
        channels=(ChannelSnapshot(ChannelKind.LOG, "CLOSED", "", 0.0, False, 2, 0),), queued={"log": 1},
        accepted=2, deduplicated=0, silences=0)
    perf = PerfSnapshot(at=NOW, started_at=NOW - 60, measurements=(), system=None, gc=None, actors=(),
                        io_loop_lag_ms=None, trends=(), findings=(), grade="B", grade_reasons=("rpcLatency: 81%",),
                        slos=(SloStatus(name="rpcLatency", description="99% within 100 ms", objective=0.99,
                                        threshold=100.0, unit="ms", budget_period_s=2_592_000, budget_remaining=0.81,
                                        windows=(BurnWindow(300, 500, 1, 0.998, 0.2),), firing=()),))
    executor = ExecutorSnapshot(mode=SubmitMode.PUBLIC, account="0xbot", chain_id=1, received=9, deciding=0,
                                in_flight=1, mined=2, reverted=0, not_included=0, skipped=6,
                                realized_profit={WETH: 4 * 10**15}, gas_cost_wei=2 * 10**14, next_nonce=3,
                                inventory={}, last_head=44, version=7, stopped="drill")
    trades = (trade(1), trade(2, TradeStage.SKIPPED, sent=False), trade(3))
    summary = TraceSummary(trace_id=f"{3:032x}", spans=6, first="detected", last="included", duration_ms=80.0,
                           started_ns=0, failed=False)
    inputs = PageInputs(
        now=NOW, tree=[actor("/"), actor("/network/rpc:a", breaker="OPEN", restarts=2)],
        endpoints=[endpoint("b", 200), endpoint("a", 100, breaker="OPEN")],
        routing=RoutingTable(chain_id=1, routes=(EndpointRoute("b", "http://b", 0.05),), best_head=44,
                             excluded={"a": "OPEN: 5 consecutive failures"}),
        request_history=[(0.0, {"a": 100, "b": 100}), (60.0, {"a": 100, "b": 200})],
        perf=perf, risk=risk_snapshot(curve, stop), executor=executor, trades=trades,
        traces={summary.trace_id: summary}, alerts=report, problems={"alerts": "AskTimeout"},
    )
    view = status_view(inputs)
    msgspec.json.encode(view)  # the page receives it as JSON

    assert [(a["path"], a["breaker"], a["restarts"]) for a in view["tree"]] == [
        ("/", None, 0), ("/network/rpc:a", "OPEN", 2)]
    # the routed endpoint first, the excluded one after it, with why; shares over the window
    assert [(e["name"], e["rank"], e["share"], e["excluded"]) for e in view["endpoints"]] == [
        ("b", 0, 1.0, None), ("a", None, 0.0, "OPEN: 5 consecutive failures")]
    assert view["endpoints"][0]["ewmaMs"] == 4.0
    risk = view["risk"]
    assert risk["pnl"] == -310.0 and risk["peakEquity"] == 10_200.0
    assert math.isclose(risk["drawdown"], 1 - 9_690 / 10_200)
    assert risk["emergencyStop"] == {"active": True, "reason": "drill", "since": NOW - 5, "by": "status-page@127.0.0.1"}
    assert risk["mayTrade"] is False
    assert view["charts"]["pnl"] == [[NOW - 30, 0.0], [NOW - 20, 200.0], [NOW - 10, -310.0]]
    assert view["charts"]["drawdown"][:2] == [[NOW - 30, 0.0], [NOW - 20, 0.0]]
    # sent trades only, newest first, linked to their trace when the store holds it
    assert [(t["id"], t["traced"], t["traceEnd"]) for t in view["trades"]] == [
        (f"{3:032x}", True, "included"), (f"{1:032x}", False, None)]
    assert view["trades"][0]["realizedProfit"] == 0.002
    assert view["executor"]["stopped"] == "drill" and view["executor"]["realizedProfit"] == {WETH: 0.004}
    assert [a["id"] for a in view["alerts"]["recent"]] == [2, 1]
    assert view["alerts"]["channels"] == [{"channel": "log", "breaker": "CLOSED", "sent": 2, "failed": 0,
                                           "queued": 1, "note": ""}]
    assert view["perf"]["grade"] == "B"
    assert view["perf"]["slos"][0]["budgetRemaining"] == 0.81
    assert view["perf"]["slos"][0]["windows"] == [{"windowS": 300, "events": 500, "compliance": 0.998,
                                                  "burnRate": 0.2}]
    assert view["problems"] == {"alerts": "AskTimeout"}


def test_an_empty_bot_gives_an_empty_page_not_an_error() -> None:
    view = status_view(PageInputs(now=NOW))
    assert view["tree"] == [] and view["endpoints"] == [] and view["trades"] == []
    assert view["risk"] is None and view["alerts"] is None and view["perf"] is None and view["executor"] is None
    assert view["charts"] == {"pnl": [], "drawdown": []}


def test_long_histories_are_bounded() -> None:
    curve = tuple(EquityPoint(float(i), 10_000.0 + i) for i in range(5 * CHART_POINTS))
    trades = tuple(trade(n) for n in range(3 * RECENT_ROWS))
    view = status_view(PageInputs(now=NOW, risk=risk_snapshot(curve), trades=trades))
    assert len(view["charts"]["pnl"]) == CHART_POINTS
    assert view["charts"]["pnl"][-1] == [curve[-1].at, curve[-1].equity - curve[0].equity]
    assert len(view["trades"]) == RECENT_ROWS
    assert view["trades"][0]["id"] == f"{3 * RECENT_ROWS - 1:032x}"
