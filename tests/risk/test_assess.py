"""assess(): approvals, components, sizing, and every kind of bad input rejected with a reason."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.risk import MarketView, RiskLimits
from protocol.trading import Leg, TradeStatus
from risk import apply_outcome, assess, new_state, reserve, trigger_stop
from risk.liquidity import UINT112_MAX, amount_out, route_through
from risk.market import correlation, volatility
from tests.risk.factories import T0, USDC, WETH, calm_market, opportunity, outcome

LIMITS = RiskLimits()


def fresh():
    return new_state(LIMITS, T0)


def test_an_ordinary_arbitrage_is_approved_with_components_in_unit_range():
    a = assess(fresh(), opportunity(), calm_market(), LIMITS, T0)
    assert a.approved, a.reasons
    assert a.reasons == ()
    for value in msgspec.structs.astuple(a.components):
        assert 0.0 <= value <= 1.0
    assert 0.0 <= a.score <= 1.0
    assert a.adjusted_size_value <= a.max_size_value <= LIMITS.max_trade_amount
    assert a.adjusted_amount_in == opportunity().amount_in  # small enough to trade whole
    assert a.max_loss_value == pytest.approx(2.0 + 500.0 * LIMITS.adverse_move)


def test_a_large_trade_is_cut_to_the_trade_and_position_limits():
    big = opportunity(size_value=5000.0, gross_profit_value=200.0)  # still worth its gas once cut to ~1/7
    a = assess(fresh(), big, calm_market(), LIMITS, T0)
    assert a.approved
    assert a.max_size_value == pytest.approx(LIMITS.max_trade_amount)
    assert a.adjusted_size_value <= a.max_size_value * (1 - a.score) + 1e-9
    # the wei amount is scaled by the same ratio
    assert a.adjusted_amount_in == pytest.approx(big.amount_in * a.adjusted_size_value / 5000.0, rel=1e-8)
    tight = msgspec.structs.replace(LIMITS, max_position_size=0.02)  # 2% of 10k = 200
    b = assess(fresh(), big, calm_market(), tight, T0)
    assert b.max_size_value == pytest.approx(200.0)
    assert b.adjusted_size_value <= 200.0


def test_a_trade_cut_below_its_gas_is_rejected_at_the_size_it_would_trade():
    """Issue 13 item 1: the gas rules judge the size approved. Found at 5,000 with gas 2, cut by the limits
    to about a seventh, a gross profit of 10 earns about 1.4 (less than its gas) and one of 14.2 about 2.04
    (gas takes 98 %, above maxGasShare); at the size found, both passed the gas rules."""
    for gross, words in ((10.0, "does not cover gas"), (14.2, "gas takes")):
        big = opportunity(size_value=5000.0, gross_profit_value=gross)
        a = assess(fresh(), big, calm_market(), LIMITS, T0)
        assert not a.approved and any("at the size the limits allow" in r and words in r for r in a.reasons), a
        assert big.gas_cost_value / big.gross_profit_value < LIMITS.max_gas_share  # the old rule: approved


def test_open_exposure_on_a_token_counts_against_its_position_limit():
    state = fresh()
    for i in range(2):
        state = reserve(state, opportunity(f"o{i}"), 500.0, 5.0, LIMITS, T0)
    a = assess(state, opportunity("o3"), calm_market(), LIMITS, T0)
    assert not a.approved
    assert any(r.startswith("position limit reached") for r in a.reasons)
    # once those reservations lapse, the room comes back
    later = T0 + LIMITS.reservation_ttl + 1
    assert assess(state, opportunity("o3", detected_at=later), calm_market(), LIMITS, later).approved


def test_nothing_is_approved_while_stopped_or_cooling_down():
    stopped, _ = trigger_stop(fresh(), "critical: node lying", "monitor", T0)
    a = assess(stopped, opportunity(), calm_market(), LIMITS, T0 + 1)
    assert not a.approved and a.reasons[0] == "emergency stop active: critical: node lying"
    cooling = msgspec.structs.replace(fresh(), cooldown_until=T0 + 300)
    b = assess(cooling, opportunity(), calm_market(), LIMITS, T0 + 10)
    assert not b.approved and b.reasons[0].startswith("cooling down")
    assert assess(cooling, opportunity(), calm_market(), LIMITS, T0 + 301).approved


def test_the_daily_budget_caps_the_worst_case():
    state = fresh()
    lost, _ = apply_outcome(state, outcome("x", -995.0), LIMITS, T0)  # daily loss 995 of 1000
    lost = msgspec.structs.replace(lost, emergency_stop=fresh().emergency_stop, cooldown_until=None)
    a = assess(lost, opportunity(), calm_market(), LIMITS, T0 + 1)
    assert a.approved
    assert a.max_loss_value <= 5.0 + 1e-9  # shrunk to fit the 5 left
    exhausted = assess(lost, opportunity(gas_cost_value=6.0), calm_market(), LIMITS, T0 + 1)
    assert not exhausted.approved and exhausted.reasons[0].startswith("daily loss budget exhausted")
    # one trade may never be able to lose emergencyStopLoss of equity (5% of 10k), gas included
    pricey = assess(state, opportunity(gas_cost_value=500.0, gross_profit_value=800.0), calm_market(), LIMITS, T0)
    assert pricey.reasons == ("gas alone (500.00) reaches the single-trade stop loss 500.00",)


def test_kelly_sizes_from_measured_win_rate_and_payoff_and_rejects_a_negative_edge():
    state = fresh()
    for i in range(30):  # 60% wins of 10, 40% losses of 5: f* = 0.6 - 0.4 / 2 = 0.4
        state, _ = apply_outcome(state, outcome(f"k{i}", 10.0 if i % 5 < 3 else -5.0), LIMITS, T0 + i)
    state = msgspec.structs.replace(state, consecutive_losses=0)
    a = assess(state, opportunity(), calm_market(), LIMITS, T0 + 100)
    # issue 12 item 9: Kelly sizes the capital at risk (gas + adverse move * notional; the exactly
    # priced legs predict no slippage), so its notional is (kelly * f* * equity - gas) / adverse move
    at_risk = LIMITS.kelly_fraction * 0.4 * state.equity
    assert a.kelly_size_value == pytest.approx((at_risk - 2.0) / LIMITS.adverse_move)
    bad = fresh()
    for i in range(30):  # 20% wins of 5, 80% losses of 5: no edge
        bad, _ = apply_outcome(bad, outcome(f"b{i}", 5.0 if i % 5 == 0 else -5.0), LIMITS, T0 + i)
    bad = msgspec.structs.replace(bad, emergency_stop=fresh().emergency_stop, consecutive_losses=0, cooldown_until=None)
    b = assess(bad, opportunity(), calm_market(), LIMITS, T0 + 100)
    assert not b.approved and any(r.startswith("no measured edge") for r in b.reasons)


def test_revert_history_raises_execution_risk():
    state = fresh()
    calm = assess(state, opportunity(), calm_market(), LIMITS, T0).components.execution
    for i in range(4):
        state, _ = apply_outcome(state, outcome(f"r{i}", -2.0, TradeStatus.REVERTED), LIMITS, T0 + i)
    state = msgspec.structs.replace(state, consecutive_losses=0)
    assert assess(state, opportunity(), calm_market(), LIMITS, T0 + 9).components.execution > calm


def test_volatile_decorrelated_markets_score_higher_than_calm_ones():
    wild = MarketView(prices={WETH: (3000, 3300, 2900, 3400, 2800), USDC: (1.0, 0.97, 1.02, 0.96, 1.03)})
    calm = assess(fresh(), opportunity(), calm_market(), LIMITS, T0).components.market
    assert assess(fresh(), opportunity(), wild, LIMITS, T0).components.market > calm + 0.5


def test_liquidity_math_is_the_exact_v2_formula():
    assert amount_out(10**18, 10**21, 3 * 10**24) == (10**18 * 997 * 3 * 10**24) // (10**21 * 1000 + 10**18 * 997)
    opp = opportunity()
    final, impact, share = route_through(opp.route, opp.amount_in)
    assert final == opp.route[-1].amount_out
    assert share == pytest.approx(opp.amount_in / opp.route[0].reserve_in)
    assert 0 < impact < 0.01
    # a pool moved by a quarter of its reserve scores high liquidity risk and is rejected over 30%
    thin = opportunity(amount_in=400 * 10**18, reserves=(1000 * 10**18, 3 * 10**12, 3 * 10**12, 1000 * 10**18))
    a = assess(fresh(), thin, calm_market(), LIMITS, T0)
    assert a.components.liquidity == 1.0
    assert any(r.startswith("trade takes 40%") for r in a.reasons)


def test_statistics_helpers():
    assert volatility([0.01, -0.01, 0.01, -0.01]) == pytest.approx(math.sqrt(4 * 0.0001 / 3))
    assert correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert correlation([1, 1, 1], [1, 2, 3]) == 0.0


# --- bad input: each rejected with a reason, never an exception ---------------------------------

BAD_FIELDS = [
    ("amount_in_value", math.nan, "amount_in_value=nan is not a finite number"),
    ("amount_in_value", math.inf, "amount_in_value=inf is not a finite number"),
    ("amount_in_value", -5.0, "amount_in_value=-5.0 is negative"),
    ("gas_cost_value", math.nan, "gas_cost_value=nan is not a finite number"),
    ("gross_profit_value", -math.inf, "gross_profit_value=-inf is not a finite number"),
    ("amount_in", -1, "amount_in=-1 is negative"),
    ("amount_in", 2**200, "amount_in overflows uint112"),
    ("amount_in", 1.5, "amount_in=1.5 is not an integer"),
    ("gas_estimate", True, "gas_estimate=True is not an integer"),
]


@pytest.mark.parametrize(("field", "value", "reason"), BAD_FIELDS)
def test_bad_amounts_are_rejected_with_a_reason(field, value, reason):
    bad = msgspec.structs.replace(opportunity(), **{field: value})
    a = assess(fresh(), bad, calm_market(), LIMITS, T0)
    assert not a.approved
    assert reason in a.reasons
    assert a.adjusted_size_value == 0.0 and a.adjusted_amount_in == 0


def test_bad_legs_unknown_tokens_and_bad_market_data_are_rejected_with_reasons():
    opp = opportunity()
    leg = opp.route[0]
    cases = {
        "pool has no liquidity": msgspec.structs.replace(leg, reserve_in=0),
        "reserve_out overflows uint112": msgspec.structs.replace(leg, reserve_out=UINT112_MAX + 1),
        "reserve_in is negative": msgspec.structs.replace(leg, reserve_in=-10),
    }
    for reason, bad_leg in cases.items():
        a = assess(fresh(), msgspec.structs.replace(opp, route=(bad_leg, opp.route[1])), calm_market(), LIMITS, T0)
        assert not a.approved and any(reason in r for r in a.reasons), (reason, a.reasons)
    detour = msgspec.structs.replace(opp.route[1], token_in="0xdead")
    broken = msgspec.structs.replace(opp, route=(opp.route[0], detour))
    assert any("leg 0 ends in" in r for r in assess(fresh(), broken, calm_market(), LIMITS, T0).reasons)
    assert assess(fresh(), msgspec.structs.replace(opp, route=()), calm_market(), LIMITS, T0).reasons == (
        "route is empty",
    )
    unknown = assess(fresh(), opp, calm_market(tokens=(WETH,)), LIMITS, T0)
    assert unknown.reasons == (f"token {USDC}: unknown token: no recent prices",)
    nan_prices = MarketView(prices={WETH: (3000.0, math.nan, 3001.0), USDC: (1.0, 1.0, 1.0)})
    assert "is not a positive finite number" in assess(fresh(), opp, nan_prices, LIMITS, T0).reasons[0]
    short = MarketView(prices={WETH: (3000.0,), USDC: (1.0, 1.0, 1.0)})
    assert "needs at least 3 recent prices" in assess(fresh(), opp, short, LIMITS, T0).reasons[0]
    assert not assess(fresh(), opp, calm_market(mev=math.nan), LIMITS, T0).approved
    assert assess(fresh(), opp, calm_market(), LIMITS, math.nan).reasons == ("clock reading nan is not finite",)
    mars = msgspec.structs.replace(LIMITS, daily_reset_tz="Mars/Olympus_Mons")
    assert "limit daily_reset_tz: unknown time zone 'Mars/Olympus_Mons'" in assess(
        fresh(), opp, calm_market(), mars, T0
    ).reasons
    bad_limits = msgspec.structs.replace(LIMITS, max_daily_loss=math.nan)
    assert "limit max_daily_loss=nan must be a positive finite amount" in assess(
        fresh(), opp, calm_market(), bad_limits, T0
    ).reasons


def test_a_malformed_message_body_is_a_rejection_not_an_exception():
    # msgspec does not validate types at construction: a peer can hand in anything.
    junk = msgspec.structs.replace(opportunity(), route=(Leg("p", "d", WETH, USDC, "x", None, 1, 1),))  # type: ignore[arg-type]
    a = assess(fresh(), junk, calm_market(), LIMITS, T0)
    assert not a.approved and a.reasons
    b = assess(fresh(), None, calm_market(), LIMITS, T0)  # type: ignore[arg-type]
    assert not b.approved and b.reasons[0].startswith("assessment failed: AttributeError")


finite = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=150, deadline=None)
@given(
    size=finite,
    profit=finite,
    gas=finite,
    amount_in=st.integers(min_value=-(2**120), max_value=2**130),
    reserve=st.integers(min_value=-1, max_value=2**120),
    price=finite,
)
def test_assess_never_raises_and_never_approves_garbage(size, profit, gas, amount_in, reserve, price):
    opp = opportunity()
    leg = msgspec.structs.replace(opp.route[0], amount_in=amount_in, reserve_in=reserve)
    opp = msgspec.structs.replace(
        opp, amount_in_value=size, gross_profit_value=profit, gas_cost_value=gas, amount_in=amount_in,
        route=(leg, opp.route[1]),
    )
    market = MarketView(prices={WETH: (3000.0, price, 3000.0), USDC: (1.0, 1.0, 1.0)})
    a = assess(fresh(), opp, market, LIMITS, T0)
    assert 0.0 <= a.score <= 1.0
    if a.approved:
        assert all(math.isfinite(v) for v in (size, profit, gas, price)) and size > 0 and price > 0
        assert 0 < a.adjusted_amount_in <= amount_in <= UINT112_MAX
        assert 0 < a.adjusted_size_value <= min(size, LIMITS.max_trade_amount)
    else:
        assert a.reasons and a.adjusted_size_value == 0.0
