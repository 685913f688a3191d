"""The RiskBook actor in a real supervision tree: answers, durability before the reply, the
published snapshot, crash and restart, a corrupt file at start, the shared Redis budget,
Prometheus metrics and the console commands."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from actors.risk_book import RiskBook
from actors.risk_console import register_risk_commands
from persistence import audit_trail
from persistence.redis_store import RedisRiskStore
from persistence.sqlite_store import SqliteRiskStore
from persistence.store import risk_events
from protocol.risk import (
    AssessTrade,
    EmergencyStop,
    GetRiskReport,
    MonteCarloProjection,
    ProjectMonteCarlo,
    RecordOutcome,
    RequestRefused,
    ResetEmergencyStop,
    RiskAssessment,
    RiskEventsRecorded,
    RiskLimits,
    RiskSnapshot,
    TriggerEmergencyStop,
)
from protocol.supervision import Crash
from supervision import ChildSpec, Handle, registry, start_tree, stop_tree, supervisor_spec
from tests.risk.book_driver import Clock
from tests.risk.factories import T0, calm_market, opportunity, outcome

PATH = "/risk-book"
LIMITS = RiskLimits(max_consecutive_losses=3)
book = Handle(PATH)


class Book:
    def __init__(self, db: Path, open_store=None) -> None:
        self.db = db
        self.clock = Clock()
        self.open_store = open_store or (lambda: SqliteRiskStore(db))

    def start(self) -> None:
        spec = ChildSpec(id="risk-book", start=RiskBook,
                         kwargs={"limits": LIMITS, "open_store": self.open_store, "clock": self.clock})
        start_tree(supervisor_spec("root", [spec]))

    def ask(self, msg):
        return book.ask(msg, timeout=10.0)

    def durable(self):
        store = SqliteRiskStore(self.db)
        try:
            return store.load(), risk_events(audit_trail.current().records())
        finally:
            store.close()


@pytest.fixture
def running(tmp_path) -> Iterator[Book]:
    b = Book(tmp_path / "book.sqlite3")
    b.start()
    try:
        yield b
    finally:
        stop_tree()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_approval_is_reserved_durably_and_published(running):
    approved_before = metric("arbiter_risk_assessments_total", result="approved", reason="")
    scored_before = metric("arbiter_risk_trade_score_count")
    a = running.ask(AssessTrade(opportunity("o1"), calm_market()))
    assert isinstance(a, RiskAssessment) and a.approved
    state, _ = running.durable()  # saved before the answer came back
    assert state is not None and [t.opportunity_id for t in state.open_trades] == ["o1"]
    snap = book.snapshot()
    assert isinstance(snap, RiskSnapshot) and snap.may_trade(running.clock.now)
    assert snap.version == state.version
    assert snap.daily_loss_remaining == pytest.approx(LIMITS.max_daily_loss - a.max_loss_value)
    assert metric("arbiter_risk_assessments_total", result="approved", reason="") == approved_before + 1
    assert metric("arbiter_risk_trade_score_count") == scored_before + 1
    # the book's overall score counts the open trade's exposure: the gauge is the report's figure
    report = running.ask(GetRiskReport())
    assert report.overall_risk_score > 0
    assert metric("arbiter_risk_score") == pytest.approx(report.overall_risk_score)
    assert metric("arbiter_risk_equity_numeraire") == pytest.approx(report.equity)


def test_losses_fire_the_stop_which_the_snapshot_metrics_and_audit_show(running):
    for i in range(3):
        running.clock.now += 1
        assert running.ask(AssessTrade(opportunity(f"l{i}"), calm_market())).approved
        recorded = running.ask(RecordOutcome(outcome(f"l{i}", -2.0)))
        assert isinstance(recorded, RiskEventsRecorded)
    kinds = [type(e).__name__ for e in recorded.events]
    assert kinds == ["LimitHit", "EmergencyStopTriggered", "CooldownStarted"]
    snap = book.snapshot()
    assert snap.emergency_stop.active and not snap.may_trade(running.clock.now)
    assert metric("arbiter_risk_emergency_stop_active") == 1.0
    assert metric("arbiter_risk_daily_pnl_numeraire") == -6.0
    assert metric("arbiter_risk_realized_pnl_numeraire") == -6.0
    assert metric("arbiter_risk_score") == 1.0  # stopped
    assert metric("arbiter_risk_drawdown_ratio") == pytest.approx(running.ask(GetRiskReport()).current_drawdown)
    assert metric("arbiter_risk_limit_hits_total", limit="max_consecutive_losses") >= 1
    rejected = running.ask(AssessTrade(opportunity("l9"), calm_market()))
    assert not rejected.approved and rejected.reasons[0] == "emergency stop active: limit hit: max_consecutive_losses"
    assert metric("arbiter_risk_assessments_total", result="rejected", reason="emergency stop active") >= 1
    _, audit = running.durable()
    assert [type(e).__name__ for e in audit] == kinds
    decisions = [r for r in audit_trail.current().records() if r.kind == "risk_decision"]
    assert [(r.trace_id, r.body["approved"]) for r in decisions] == [
        ("l0", True), ("l1", True), ("l2", True), ("l9", False)]
    assert decisions[-1].body["reasons"] == list(rejected.reasons)


def test_reset_needs_a_reason_and_is_recorded(running):
    assert running.ask(TriggerEmergencyStop("critical: monitor lost the chain head", "monitor")).active
    refused = running.ask(ResetEmergencyStop("", "alice"))
    assert isinstance(refused, RequestRefused) and "needs a reason" in refused.reason
    assert book.snapshot().emergency_stop.active
    stop = running.ask(ResetEmergencyStop("head is back, checked three endpoints", "alice"))
    assert stop == EmergencyStop()
    _, audit = running.durable()
    assert audit[-1].reason == "head is back, checked three endpoints" and audit[-1].by == "alice"


def test_a_bad_outcome_is_refused_without_crashing_or_changing_the_book(running):
    ref = registry.lookup(PATH)
    assert ref is not None
    before, _ = running.durable()
    book.tell(RecordOutcome(outcome("x", 1.0, size_value=float("nan"))))  # a tell: must not crash the actor
    answer = running.ask(RecordOutcome(outcome("x", 1.0, size_value=-1.0)))
    assert isinstance(answer, RequestRefused) and "amount_in_value" in answer.reason
    assert registry.lookup(PATH) is ref and ref.is_alive()
    assert running.durable()[0] == before


def test_an_unrecordable_pnl_fails_closed_durably(running):
    """Issue 12 item 3: a NaN / -inf PnL is booked without PnL and stops trading, and that is saved."""
    ref = registry.lookup(PATH)
    assert ref is not None
    book.tell(RecordOutcome(outcome("x", float("nan"))))  # a tell: must not crash the actor
    answer = running.ask(RecordOutcome(outcome("y", float("-inf"))))
    assert isinstance(answer, RiskEventsRecorded)
    assert registry.lookup(PATH) is ref and ref.is_alive()
    state, _ = running.durable()
    assert state.emergency_stop.active and "unrecordable outcome x" in (state.emergency_stop.reason or "")
    assert [r.opportunity_id for r in state.history] == ["x", "y"]
    assert [r.pnl_unrecorded for r in state.history] == ["nan", "-inf"]


def test_the_stop_and_counters_survive_a_crash_and_restart(running):
    running.ask(AssessTrade(opportunity("c1"), calm_market()))
    running.ask(RecordOutcome(outcome("c1", -2.5)))
    running.ask(TriggerEmergencyStop("operator test", "alice"))
    report_before = running.ask(GetRiskReport())
    old = registry.lookup(PATH)
    assert old is not None
    book.tell(Crash("test: crash the risk book"))
    assert old.actor_stopped.wait(10)
    report_after = book.ask(GetRiskReport(), timeout=10.0, wait_s=10.0)
    assert registry.lookup(PATH) is not old
    assert report_after == report_before
    assert report_after.emergency_stop.active and report_after.consecutive_losses == 1


def test_monte_carlo_through_the_actor(running):
    refused = running.ask(ProjectMonteCarlo(horizon_trades=10, paths=10))
    assert isinstance(refused, RequestRefused) and "no realized trade outcomes" in refused.reason
    for i, pnl in enumerate([4.0, -1.0, 3.0, 2.0]):
        running.clock.now += 1
        running.ask(AssessTrade(opportunity(f"m{i}"), calm_market()))
        running.ask(RecordOutcome(outcome(f"m{i}", pnl)))
    p = running.ask(ProjectMonteCarlo(horizon_trades=50, paths=500, seed=2))
    assert isinstance(p, MonteCarloProjection) and p.sample_size == 4 and p.paths == 500
    too_big = running.ask(ProjectMonteCarlo(horizon_trades=100_000, paths=10_000))
    assert isinstance(too_big, RequestRefused)


def test_a_corrupt_file_starts_the_book_stopped_and_keeps_the_file(tmp_path):
    db = tmp_path / "book.sqlite3"
    db.write_bytes(b"\x00garbage, not sqlite" * 100)
    b = Book(db)
    b.start()
    try:
        report = b.ask(GetRiskReport())
        assert report.emergency_stop.active
        assert report.emergency_stop.reason.startswith(f"state unreadable: risk state in {db} is unreadable")
        assert not b.ask(AssessTrade(opportunity("z"), calm_market())).approved
    finally:
        stop_tree()
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("book.sqlite3.unreadable-")]
    assert len(moved) == 1 and moved[0].read_bytes() == b"\x00garbage, not sqlite" * 100
    state, audit = b.durable()
    assert state is not None and state.emergency_stop.active  # the stop itself is durable
    assert type(audit[0]).__name__ == "EmergencyStopTriggered"


@pytest.mark.redis
def test_with_redis_another_process_spending_the_budget_blocks_approvals(tmp_path, redis_url):
    b = Book(tmp_path / "unused.sqlite3", open_store=lambda: RedisRiskStore(redis_url, "bot-a"))
    b.start()
    try:
        assert b.ask(AssessTrade(opportunity("r1"), calm_market())).approved
        other = RedisRiskStore(redis_url, "bot-b")
        day = book.ask(GetRiskReport(), timeout=10).day_start
        assert other.reserve_loss(day, "b-1", 500.0, 1000.0, T0 + 100, T0)
        assert other.settle_loss(day, "b-1", -996.0, T0).realized_pnl == -996.0
        other.close()
        a = b.ask(AssessTrade(opportunity("r2"), calm_market()))
        assert not a.approved and a.reasons[0].startswith("shared daily loss budget exhausted")
        events = b.ask(RecordOutcome(outcome("r1", -4.0))).events  # 996 + 4 lost across both bots
        assert [type(e).__name__ for e in events] == ["LimitHit", "EmergencyStopTriggered", "CooldownStarted"]
        assert events[0].limit == "shared_max_daily_loss"
    finally:
        stop_tree()


class RecordingRegistry:
    """The console's registry contract: register_command(name, argparse parser, handler, audited=...)."""

    def __init__(self) -> None:
        self.commands: dict[str, tuple[argparse.ArgumentParser, object]] = {}
        self.audited: set[str] = set()

    def register_command(self, name, parser, handler, audited=False) -> None:
        self.commands[name] = (parser, handler)
        if audited:
            self.audited.add(name)

    def run(self, line: str):
        name, *args = line.split()
        parser, handler = self.commands[name]
        return handler(parser.parse_args(args))  # type: ignore[operator]


def test_console_commands_risk_estop_reset(running):
    console = RecordingRegistry()
    register_risk_commands(console)
    assert set(console.commands) == {"risk", "estop", "reset", "cancel-inflight"}
    assert console.audited == {"estop", "reset", "cancel-inflight"}  # they change state
    view = console.run("risk")
    assert view["overallRiskScore"] == 0.0 and view["emergencyStop"]["active"] is False
    assert view["limits"]["maxConsecutiveLosses"] == 3
    stopped = console.run("estop gas oracle looks wrong")
    assert stopped["emergencyStop"] == {"active": True, "reason": "gas oracle looks wrong", "since": T0,
                                        "by": "console"}
    assert console.run("risk")["overallRiskScore"] == 1.0
    with pytest.raises(SystemExit):  # argparse refuses a reset without a reason
        console.run("reset")
    cleared = console.run("reset oracle fixed --by alice")
    assert cleared["emergencyStop"]["active"] is False and cleared["resetReason"] == "oracle fixed"


def test_the_report_names_the_book_that_is_loaded(running):
    """Issue 12 item 10: `risk` shows which book (world) is loaded."""
    assert running.ask(GetRiskReport()).book == "main"


def test_an_approval_gets_an_info_line_with_its_id_size_and_worst_case(running):
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO",
                      filter=lambda r: r["message"].startswith("approved "))
    try:
        a = running.ask(AssessTrade(opportunity("ap1"), calm_market()))
    finally:
        logger.remove(sink)
    assert isinstance(a, RiskAssessment) and a.approved
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"approved ap1: size {a.adjusted_size_value:.2f} of ")
    assert f"worst case {a.max_loss_value:.2f}" in lines[0]


def test_the_approval_line_joins_the_assessed_stage_the_question_came_from(running):
    """The executor asks with its assessed stage's span id in the envelope: the book's line carries it (and
    the trace id), so the line sits under that span in the trace."""
    from loguru import logger

    extras: list[dict[str, object]] = []
    sink = logger.add(lambda m: extras.append(dict(m.record["extra"])), level="INFO",
                      filter=lambda r: r["message"].startswith("approved "))
    try:
        a = book.ask(AssessTrade(opportunity("ap2"), calm_market()), timeout=10.0, trace_id="ab" * 16,
                     span_id="cd" * 8)
    finally:
        logger.remove(sink)
    assert isinstance(a, RiskAssessment) and a.approved
    assert [(e["trace_id"], e["span_id"]) for e in extras] == [("ap2", "cd" * 8)]
