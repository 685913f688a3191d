"""The book's transitions: each limit, the stop, the reset, the cooldown, the daily rollover, the report."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from protocol.risk import (
    CooldownStarted,
    DailyRollover,
    EmergencyStopReset,
    EmergencyStopTriggered,
    LimitHit,
    RiskEvent,
    RiskLimits,
    RiskReport,
)
from protocol.trading import TradeStatus
from risk import apply_outcome, new_state, report, reserve, reset_stop, roll_day, trigger_stop
from risk.book import InvalidOutcome, ResetWithoutReason
from risk.calendar import day_start, next_day_start
from risk.state import decode_state, encode_state
from tests.risk.factories import T0, opportunity, outcome

LIMITS = RiskLimits()


def kinds(events):
    return [type(e).__name__ + (f":{e.limit}" if isinstance(e, LimitHit) else "") for e in events]


def test_a_win_moves_equity_peak_and_curve_and_resets_the_streak():
    s = new_state(LIMITS, T0)
    s, _ = apply_outcome(s, outcome("a", -3.0), LIMITS, T0 + 1)
    assert s.consecutive_losses == 1
    s, events = apply_outcome(s, outcome("b", 10.0), LIMITS, T0 + 2)
    assert events == []
    assert (s.equity, s.peak_equity, s.pnl_today, s.total_pnl) == (10_007.0, 10_007.0, 7.0, 7.0)
    assert s.consecutive_losses == 0 and s.trades_today == 2 and s.total_trades == 2
    assert [p.equity for p in s.equity_curve] == [10_000.0, 9_997.0, 10_007.0]
    assert s.positions == {opportunity().token: 7.0}


def test_drawdown_is_measured_from_the_running_peak():
    limits = msgspec.structs.replace(
        LIMITS, max_daily_loss=10_000.0, emergency_stop_loss=1.0, max_consecutive_losses=99
    )
    s = new_state(limits, T0)
    s, _ = apply_outcome(s, outcome("up", 2_000.0), limits, T0)  # peak 12_000
    s, events = apply_outcome(s, outcome("d1", -2_300.0), limits, T0 + 1)  # 9_700: 19.2% below the peak
    assert s.drawdown == pytest.approx(2_300 / 12_000) and not s.emergency_stop.active
    s, events = apply_outcome(s, outcome("d2", -100.0), limits, T0 + 2)  # 9_600: 20% below the peak
    assert "LimitHit:max_drawdown" in kinds(events)
    assert s.emergency_stop.active and s.emergency_stop.reason == "limit hit: max_drawdown"
    assert s.emergency_stop.by == "risk-book" and s.emergency_stop.since == T0 + 2


@pytest.mark.parametrize(
    ("pnls", "limit"),
    [
        ([-400.0, -400.0, -200.0], "max_daily_loss"),
        ([-501.0], "emergency_stop_loss"),
        ([-1.0] * 5, "max_consecutive_losses"),
    ],
)
def test_each_stop_condition_fires_the_stop_and_starts_the_cooldown(pnls, limit):
    # issue 12: the 5% emergency stop now reads the daily window's loss (8% after two -400s), which
    # would fire before maxDailyLoss (10% of the default equity): that case widens emergencyStopLoss
    limits = msgspec.structs.replace(LIMITS, emergency_stop_loss=0.2) if limit == "max_daily_loss" else LIMITS
    s = new_state(limits, T0)
    events: list[RiskEvent] = []
    for i, pnl in enumerate(pnls):
        s, events = apply_outcome(s, outcome(f"t{i}", pnl), limits, T0 + i)
    now = T0 + len(pnls) - 1
    assert kinds(events) == [f"LimitHit:{limit}", "EmergencyStopTriggered", "CooldownStarted"]
    assert s.emergency_stop.active and s.emergency_stop.reason == f"limit hit: {limit}"
    assert s.cooldown_until == now + LIMITS.cooldown_period / 1000


def test_a_loss_beyond_the_approved_worst_case_starts_only_the_cooldown():
    s = reserve(new_state(LIMITS, T0), opportunity("w"), 500.0, 4.5, LIMITS, T0)
    s, events = apply_outcome(s, outcome("w", -20.0), LIMITS, T0 + 5)
    assert kinds(events) == ["LimitHit:approved_max_loss", "CooldownStarted"]
    assert not s.emergency_stop.active and s.cooldown_until == T0 + 5 + 300
    assert s.open_trades == ()


def test_the_stop_keeps_its_root_cause_and_only_a_reset_with_a_reason_clears_it():
    s = new_state(LIMITS, T0)
    s, first = trigger_stop(s, "critical: executor key mismatch", "executor", T0)
    s2, again = trigger_stop(s, "another", "console", T0 + 1)
    assert s2 is s and again == [] and s.emergency_stop.reason == "critical: executor key mismatch"
    assert isinstance(first[0], EmergencyStopTriggered)
    for reason, by in (("", "alice"), ("   ", "alice"), ("checked", "")):
        with pytest.raises(ResetWithoutReason):
            reset_stop(s, reason, by, T0 + 2)
    s = msgspec.structs.replace(s, consecutive_losses=5)
    cleared, events = reset_stop(s, " key rotated, executor redeployed ", "alice", T0 + 3)
    assert not cleared.emergency_stop.active and cleared.consecutive_losses == 0
    assert events == [EmergencyStopReset(reason="key rotated, executor redeployed", by="alice", at=T0 + 3)]
    assert reset_stop(cleared, "again", "alice", T0 + 4) == (cleared, [])


def test_bad_outcomes_are_refused_and_duplicates_ignored():
    s = new_state(LIMITS, T0)
    for pnl in (math.nan, math.inf, -math.inf):
        # issue 12: not refused any more but recorded without PnL, and trading stops (fail closed)
        stopped, events = apply_outcome(s, outcome("bad", pnl), LIMITS, T0)
        assert "realized_pnl_value" in (stopped.emergency_stop.reason or "")
        assert "EmergencyStopTriggered" in kinds(events)
    with pytest.raises(InvalidOutcome, match="amount_in_value"):
        apply_outcome(s, outcome("bad", 1.0, size_value=-1.0), LIMITS, T0)
    s, _ = apply_outcome(s, outcome("once", -10.0), LIMITS, T0)
    assert apply_outcome(s, outcome("once", -10.0), LIMITS, T0 + 1) == (s, [])


def test_not_included_and_failed_trades_do_not_count_as_trades():
    s = new_state(LIMITS, T0)
    s, _ = apply_outcome(s, outcome("n", 0.0, TradeStatus.NOT_INCLUDED), LIMITS, T0)
    s, _ = apply_outcome(s, outcome("f", 0.0, TradeStatus.FAILED), LIMITS, T0)
    assert s.total_trades == 0 and len(s.history) == 2


def test_the_daily_window_rolls_at_utc_midnight_by_default():
    midnight = datetime(2026, 11, 19, tzinfo=UTC).timestamp()
    s = new_state(LIMITS, midnight - 60)
    s, _ = apply_outcome(s, outcome("late", -50.0), LIMITS, midnight - 30)
    same, events = roll_day(s, LIMITS, midnight - 1)
    assert same is s and events == []
    rolled, events = roll_day(s, LIMITS, midnight + 5)
    assert events == [DailyRollover(day_start=midnight, previous_day_pnl=-50.0, at=midnight + 5)]
    assert rolled.pnl_today == 0.0 and rolled.trades_today == 0 and rolled.day_start == midnight
    assert rolled.total_pnl == -50.0 and rolled.day_start_equity == 9_950.0
    assert rolled.consecutive_losses == 1  # a losing streak does not end at midnight


def test_the_daily_window_follows_a_configured_zone_across_dst():
    tz = "Europe/Berlin"
    limits = msgspec.structs.replace(LIMITS, daily_reset_tz=tz)
    # 2026-10-25 is the autumn DST change in Berlin: that day lasts 25 hours.
    start = day_start(datetime(2026, 10, 25, 12, tzinfo=UTC).timestamp(), tz)
    assert datetime.fromtimestamp(start, ZoneInfo(tz)).hour == 0
    assert next_day_start(start, tz) - start == 25 * 3600
    s = new_state(limits, start + 3600)
    assert s.day_start == start
    assert roll_day(s, limits, start + 24.5 * 3600)[1] == []  # 23:30 local: still the same day
    assert len(roll_day(s, limits, start + 25 * 3600)[1]) == 1


def test_the_report_uses_the_seeds_camel_case_keys():
    s = new_state(LIMITS, T0)
    s = reserve(s, opportunity("open"), 500.0, 4.5, LIMITS, T0)
    s, _ = apply_outcome(s, outcome("a", -200.0), LIMITS, T0 + 1)
    r = report(s, LIMITS, T0 + 2)
    doc = msgspec.json.decode(msgspec.json.encode(r))
    for key in ("overallRiskScore", "currentDrawdown", "emergencyStop", "dailyPnl", "dailyLossRemaining",
                "consecutiveLosses", "inCooldown", "winRate", "exposure", "positions"):
        assert key in doc
    assert doc["limits"]["maxDailyLoss"] == 1000.0 and doc["limits"]["cooldownPeriod"] == 300_000
    assert doc["emergencyStop"] == {"active": False, "reason": None, "since": None, "by": None}
    assert r.daily_loss_remaining == pytest.approx(1000 - 200 - 4.5)
    assert r.exposure == {opportunity().route[0].token_in: 500.0, opportunity().route[0].token_out: 500.0}
    assert r.overall_risk_score == pytest.approx(max(200 / 1000, 1 / 5, (200 / 10_000) / 0.2, 500 / (0.1 * 9_800)))
    assert msgspec.json.decode(msgspec.json.encode(r), type=RiskReport) == r


def test_state_round_trips_through_its_encoding():
    s = new_state(LIMITS, T0)
    s = reserve(s, opportunity("o"), 400.0, 3.0, LIMITS, T0)
    s, _ = apply_outcome(s, outcome("x", -600.0), LIMITS, T0 + 1)
    s = msgspec.structs.replace(s, cooldown_until=T0 + 301)
    assert decode_state(encode_state(s)) == s
    assert isinstance(CooldownStarted(1.0, "x", 2.0), CooldownStarted)
