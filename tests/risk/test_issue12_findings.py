"""Issue 12's risk findings, each with its regression test and the property that would have found it."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.risk import LimitHit, RiskLimits
from risk import apply_outcome, assess, new_state, reserve
from risk.assess import kelly_fraction
from risk.book import live_open_trades, portfolio_window_loss
from risk.market import market_risk
from risk.montecarlo import project
from risk.state import TradeStats
from tests.risk.factories import T0, USDC, WETH, calm_market, opportunity, outcome

LIMITS = RiskLimits()


def limit_names(events):
    return [e.limit for e in events if isinstance(e, LimitHit)]


# --- 3. an unrecordable loss fails closed ----------------------------------------------------------


def test_a_minus_infinite_pnl_is_recorded_and_stops_trading():
    s = reserve(new_state(LIMITS, T0), opportunity("z"), 500.0, 4.5, LIMITS, T0)
    bad = msgspec.structs.replace(outcome("z", -math.inf), gas_cost_wei=123_000, tx_hash="0xabc", block_number=7)
    s, events = apply_outcome(s, bad, LIMITS, T0 + 1)
    assert s.emergency_stop.active and "unrecordable outcome z" in (s.emergency_stop.reason or "")
    assert "unrecordable_outcome" in limit_names(events)
    record = s.history[-1]
    raw = (record.opportunity_id, record.gas_cost_wei, record.tx_hash, record.block_number)
    assert raw == ("z", 123_000, "0xabc", 7)
    assert record.pnl_unrecorded == "-inf" and s.open_trades == () and s.total_trades == 1
    assert math.isfinite(s.equity) and s.cooldown_until is not None


@settings(max_examples=60, deadline=None)
@given(pnls=st.lists(st.floats(-50, 50), max_size=6), bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_property_an_outcome_that_cannot_be_recorded_never_leaves_trading_on(pnls, bad):
    s = new_state(LIMITS, T0)
    for i, pnl in enumerate(pnls):
        s, _ = apply_outcome(s, outcome(f"p{i}", pnl), LIMITS, T0 + i)
    s, _ = apply_outcome(s, outcome("bad", bad), LIMITS, T0 + 10)
    assert s.emergency_stop.active and s.history[-1].opportunity_id == "bad"
    assert math.isfinite(s.equity) and math.isfinite(s.pnl_today)


# --- 4. a second reservation for a live id adds ------------------------------------------------------


def test_re_assessing_the_same_opportunity_cannot_shrink_the_exposure():
    s = new_state(LIMITS, T0)
    approvals = []
    for size in (500.0, 500.0, 507.6):  # X, X, then Y: 1,507.6 against a 1,000 position cap
        a = assess(s, opportunity("same", size_value=size), calm_market(), LIMITS, T0 + 1)
        if a.approved:
            approvals.append(a.adjusted_size_value)
            s = reserve(s, opportunity("same"), a.adjusted_size_value, a.max_loss_value, LIMITS, T0 + 1)
    (trade,) = live_open_trades(s, T0 + 1)
    assert trade.size_value == pytest.approx(sum(approvals))
    assert trade.size_value <= LIMITS.max_position_size * s.equity + 1e-6


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.tuples(st.floats(0.0, 1000.0), st.floats(0.0, 50.0)), min_size=1, max_size=6))
def test_property_reservations_for_one_live_id_add_up(sizes):
    s = new_state(LIMITS, T0)
    for i, (size, loss) in enumerate(sizes):
        s = reserve(s, opportunity("one"), size, loss, LIMITS, T0 + i)
    (trade,) = live_open_trades(s, T0 + len(sizes))
    assert trade.size_value == pytest.approx(sum(x for x, _ in sizes))
    assert trade.max_loss_value == pytest.approx(sum(y for _, y in sizes))


# --- 5. a late outcome's cooldown depends on the trade alone ---------------------------------------


def late_loss_events(other_approval: bool):
    s = reserve(new_state(LIMITS, T0), opportunity("late"), 500.0, 5.0, LIMITS, T0)
    later = T0 + LIMITS.reservation_ttl + 10  # the reservation has expired
    if other_approval:
        s = reserve(s, opportunity("other"), 100.0, 1.0, LIMITS, later)
    return apply_outcome(s, outcome("late", -15.0), LIMITS, later + 1)


def test_a_late_loss_three_times_its_worst_case_cools_down_whatever_happened_meanwhile():
    for other in (False, True):
        s, events = late_loss_events(other)
        assert "approved_max_loss" in limit_names(events), other
        assert s.cooldown_until is not None


@settings(max_examples=40, deadline=None)
@given(delay=st.floats(0.0, 3_600.0), loss=st.floats(0.1, 100.0), others=st.integers(0, 3))
def test_property_the_late_outcome_decision_ignores_unrelated_approvals(delay, loss, others):
    def run(n_others: int):
        s = reserve(new_state(LIMITS, T0), opportunity("t"), 500.0, 5.0, LIMITS, T0)
        for k in range(n_others):
            s = reserve(s, opportunity(f"o{k}"), 10.0, 0.5, LIMITS, T0 + delay * (k + 1) / (n_others + 1))
        return limit_names(apply_outcome(s, outcome("t", -loss), LIMITS, T0 + delay)[1])

    assert ("approved_max_loss" in run(0)) == ("approved_max_loss" in run(others))


# --- 6. non-finite market statistics are maximum risk, whatever the order -----------------------------

EXTREME = (1e-160, 1e160, 1e-160, 1e160)
CALM = (1.0, 1.001, 0.999, 1.0)


def test_extreme_prices_score_maximum_volatility_in_either_order():
    prices = {WETH: EXTREME, USDC: CALM}
    first = market_risk([WETH, USDC], prices, 0.05)
    second = market_risk([USDC, WETH], prices, 0.05)
    assert first == second and first[1] > 0.05  # the worst volatility, whichever token comes first
    assert first[0] >= 0.7  # the volatility component is at its maximum


price_series = st.lists(st.floats(1e-300, 1e300), min_size=3, max_size=8).map(tuple)


@settings(max_examples=150, deadline=None)
@given(a=price_series, b=price_series)
def test_property_market_risk_does_not_depend_on_token_order(a, b):
    prices = {WETH: a, USDC: b}
    first, second = market_risk([WETH, USDC], prices, 0.05), market_risk([USDC, WETH], prices, 0.05)
    assert first[0] == pytest.approx(second[0]) and 0.0 <= first[0] <= 1.0
    if not math.isfinite(first[1]):
        assert first[0] >= 0.7


# --- 7. emergencyStopLoss reads the daily window's portfolio loss ---------------------------------------


def test_two_four_percent_losses_fire_the_five_percent_stop():
    limits = msgspec.structs.replace(LIMITS, max_daily_loss=5_000.0)
    s = new_state(limits, T0)
    s, _ = apply_outcome(s, outcome("a", -400.0), limits, T0 + 1)
    assert not s.emergency_stop.active
    s, second = apply_outcome(s, outcome("b", -400.0), limits, T0 + 2)
    assert "emergency_stop_loss" in limit_names(second) and s.emergency_stop.active


def test_open_worst_cases_count_in_the_window():
    limits = msgspec.structs.replace(LIMITS, max_daily_loss=5_000.0)
    s = reserve(new_state(limits, T0), opportunity("open"), 500.0, 150.0, limits, T0)
    s, events = apply_outcome(s, outcome("a", -400.0), limits, T0 + 1)  # 400 + 150 open = 5.5%
    assert "emergency_stop_loss" in limit_names(events)


@settings(max_examples=80, deadline=None)
@given(losses=st.lists(st.floats(0.0, 499.0), min_size=1, max_size=8))
def test_property_the_window_loss_reaching_the_limit_always_stops(losses):
    limits = msgspec.structs.replace(LIMITS, max_daily_loss=1e9, max_consecutive_losses=99, max_drawdown=1.0)
    s = new_state(limits, T0)
    for i, loss in enumerate(losses):
        s, _ = apply_outcome(s, outcome(f"l{i}", -loss), limits, T0 + i)
    if portfolio_window_loss(s, T0 + len(losses)) >= limits.emergency_stop_loss * s.day_start_equity and losses[-1] > 0:
        assert s.emergency_stop.active


# --- 8. Monte Carlo: unclipped VaR, drawdown from the real peak, validated limit -----------------------


def test_var_is_unclipped_and_drawdown_starts_from_the_real_peak():
    gains = project([1.0, 2.0], 1_000.0, 0.2, horizon_trades=10, paths=500)
    assert gains.var_95 < 0 and gains.cvar_95 < 0 and gains.var_95 == -gains.pnl_p05
    # 10% down already: one loss of 1,000 from 9,000 is 20% below the 10,000 peak
    assert project([-1_100.0], 9_000.0, 0.2, horizon_trades=1, paths=10, peak_equity=10_000.0).prob_max_drawdown == 1.0
    assert project([-1_100.0], 9_000.0, 0.2, horizon_trades=1, paths=10).prob_max_drawdown == 0.0
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="max_drawdown"):
            project([1.0], 1_000.0, bad)


@settings(max_examples=40, deadline=None)
@given(
    pnls=st.lists(st.floats(-100, 100), min_size=1, max_size=30),
    drawn=st.floats(0.0, 0.5),
    limit=st.floats(0.01, 1.0),
)
def test_property_var_is_minus_the_percentile_and_a_real_peak_never_lowers_the_risk(pnls, drawn, limit):
    equity = 5_000.0
    fresh = project(pnls, equity, limit, horizon_trades=20, paths=200, seed=1)
    peaked = project(pnls, equity, limit, horizon_trades=20, paths=200, seed=1, peak_equity=equity / (1 - drawn))
    assert fresh.var_95 == -fresh.pnl_p05
    assert peaked.prob_max_drawdown >= fresh.prob_max_drawdown


# --- 9. Kelly sizes the capital at risk -------------------------------------------------------------------


def kelly_state(wins: int, losses: int, zeros: int = 0):
    s = new_state(LIMITS, T0)
    n = 0
    for pnl, count in ((10.0, wins), (-5.0, losses), (0.0, zeros)):
        for _ in range(count):
            s, _ = apply_outcome(s, outcome(f"k{n}", pnl), LIMITS, T0 + n)
            n += 1
    return msgspec.structs.replace(s, consecutive_losses=0, emergency_stop=new_state(LIMITS, T0).emergency_stop,
                                   cooldown_until=None)


def test_kelly_caps_the_worst_case_not_the_notional():
    s = kelly_state(wins=11, losses=9)  # f* = 0.55 - 0.45 / 2 = 0.325: 0.25 * f* * equity = 814
    s = msgspec.structs.replace(s, stats=TradeStats(sent=40, wins=14, losses=26, win_sum=140.0, loss_sum=130.0))
    # f* = 0.35 - 0.65 / 2 = 0.025 -> Kelly risks 0.25 * 0.025 * equity, about 62, far above this trade's 4.5
    a = assess(s, opportunity(size_value=500.0), calm_market(), LIMITS, T0 + 100)
    assert a.approved and a.adjusted_size_value == pytest.approx(500.0)
    assert a.max_loss_value <= LIMITS.kelly_fraction * 0.025 * s.equity


def test_zero_profit_trades_count_as_losses_in_the_win_probability():
    stats = TradeStats(sent=25, wins=20, losses=0, win_sum=200.0, loss_sum=0.0)  # 5 trades earned nothing
    assert kelly_fraction(stats, 20) == (pytest.approx(0.8), 25)


@settings(max_examples=60, deadline=None)
@given(wins=st.integers(0, 30), losses=st.integers(0, 30), zeros=st.integers(0, 10), size=st.floats(10.0, 900.0))
def test_property_an_approval_never_risks_more_than_kelly_allows(wins, losses, zeros, size):
    s = kelly_state(wins, losses, zeros)
    a = assess(s, opportunity(size_value=size), calm_market(), LIMITS, T0 + 100)
    kelly = kelly_fraction(s.stats, LIMITS.kelly_min_trades)
    if a.approved and kelly is not None:
        assert a.max_loss_value <= LIMITS.kelly_fraction * max(0.0, kelly[0]) * s.equity + 1e-6
    if kelly is not None:
        p = s.stats.wins / s.stats.sent
        assert kelly[0] <= p + 1e-12  # the win probability bounds f*: non-wins never count as wins
    assert a.adjusted_size_value <= a.max_size_value + 1e-9


def test_a_non_finite_statistic_is_maximum_risk():
    from risk.market import correlation

    assert math.isnan(correlation([1e308, -1e308, 1e308], [1.0, 2.0, 3.0]))  # not clamped to 1.0
