"""Backtest figures: hand-computed cases, and empyrical (the reference, tests only) with aligned conventions.

Alignment: empyrical annualises by the `annualization` argument (we pass 365; its default is 252),
takes simple daily returns, a zero risk-free rate and a zero Sortino target, and computes max
drawdown on the compounded returns' curve, which is our curve sampled at day ends.
"""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.intervals import bootstrap_intervals
from backtest.metrics import (
    DAY_S,
    PERIODS_PER_YEAR,
    daily_equity,
    daily_returns,
    max_drawdown,
    sharpe,
    sortino,
    summarize,
    trade_figures,
)


def test_hand_computed_curve():
    # equity at day ends 100 -> 110 -> 99 -> 121: returns +10 %, -10 %, +22.2 %
    times = np.array([0.5, 1.5, 2.5]) * DAY_S
    equity = np.array([110.0, 99.0, 121.0])
    daily = daily_equity(times, equity, 100.0, 0.0)
    assert daily.tolist() == [100.0, 110.0, 99.0, 121.0]
    r = daily_returns(daily)
    assert r == pytest.approx([0.1, -0.1, 22 / 99])
    mean, sd = r.mean(), r.std(ddof=1)
    assert sharpe(r) == pytest.approx(mean / sd * math.sqrt(365))
    downside = math.sqrt(0.01 / 3) * math.sqrt(365)  # only -10 % is below 0, averaged over 3 periods
    assert sortino(r) == pytest.approx(mean * 365 / downside)
    s = summarize(times, equity, 100.0, 0.0, [10.0, -11.0, 22.0], blocks_in_trade=3, blocks=30)
    assert s.total_return == pytest.approx(0.21)
    assert s.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert s.annual_return == pytest.approx(1.21 ** (365 / 3) - 1)
    assert s.annual_return is not None and s.calmar_ratio == pytest.approx(s.annual_return / 0.1)
    assert (s.win_rate, s.profit_factor) == (pytest.approx(2 / 3), pytest.approx(32 / 11))
    assert s.exposure == pytest.approx(0.1)
    assert (s.trades, s.days) == (3, 3)


def test_drawdown_comes_from_the_curve_not_from_trade_profits():
    # Trades +50, -30, +10, -30 from 100: the curve peaks at 150 and falls to 100 (33 %),
    # although no single trade lost more than 30 / 150 = 20 % (the freqtrade mistake).
    curve = np.cumsum([50.0, -30.0, 10.0, -30.0]) + 100.0
    assert max_drawdown(curve, 100.0) == pytest.approx(50 / 150)
    # the peak includes the starting equity: a first loss is a drawdown
    assert max_drawdown(np.array([90.0, 95.0]), 100.0) == pytest.approx(0.1)
    assert max_drawdown(np.array([101.0, 102.0]), 100.0) == 0.0


def test_intraday_dip_counts_in_drawdown_but_not_in_daily_returns():
    times = np.array([0.2, 0.4, 0.9]) * DAY_S
    equity = np.array([80.0, 100.0, 100.0])
    assert max_drawdown(equity, 100.0) == pytest.approx(0.2)
    assert daily_returns(daily_equity(times, equity, 100.0, 0.0)).tolist() == [0.0]


def test_days_without_trades_carry_the_equity_and_undefined_figures_are_none():
    daily = daily_equity(np.array([0.5 * DAY_S, 3.5 * DAY_S]), np.array([105.0, 110.0]), 100.0, 0.0)
    assert daily.tolist() == [100.0, 105.0, 105.0, 105.0, 110.0]
    flat = summarize(np.array([DAY_S * 2.5]), np.array([100.0]), 100.0, 0.0, [], 0, 10)
    assert (flat.sharpe_ratio, flat.sortino_ratio, flat.calmar_ratio, flat.win_rate, flat.profit_factor) == (
        None, None, None, None, None)
    assert trade_figures([1.0, 2.0]) == (1.0, None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-0.2, max_value=0.25, allow_nan=False), min_size=3, max_size=200))
def test_agrees_with_empyrical_at_365(returns):
    r = np.array(returns)
    if np.std(r, ddof=1) < 1e-9 or not (r < -1e-6).any():
        return  # undefined (we say None, empyrical nan or inf), or a downside that squares below float range
    daily = 100.0 * np.concatenate(([1.0], np.cumprod(1 + r)))
    times = (np.arange(len(r)) + 0.5) * DAY_S
    s = summarize(times, daily[1:], 100.0, 0.0, [], 0, 1)
    assert s.sharpe_ratio == pytest.approx(empyrical.sharpe_ratio(r, annualization=PERIODS_PER_YEAR), rel=1e-9)
    assert s.sortino_ratio == pytest.approx(empyrical.sortino_ratio(r, annualization=PERIODS_PER_YEAR), rel=1e-9)
    assert s.annual_return == pytest.approx(empyrical.annual_return(r, annualization=PERIODS_PER_YEAR), rel=1e-9)
    assert s.max_drawdown == pytest.approx(-empyrical.max_drawdown(r), rel=1e-9, abs=1e-12)
    if s.calmar_ratio is not None:
        assert s.calmar_ratio == pytest.approx(empyrical.calmar_ratio(r, annualization=PERIODS_PER_YEAR), rel=1e-9)


def test_empyrical_default_would_differ():
    # the convention matters: 252 periods a year gives another Sharpe for the same returns
    r = np.array([0.01, -0.005, 0.02, 0.0, -0.01])
    assert sharpe(r) == pytest.approx(empyrical.sharpe_ratio(r, annualization=365))
    assert sharpe(r) != pytest.approx(empyrical.sharpe_ratio(r))


def test_bootstrap_intervals_bracket_the_realized_outcome_and_are_seeded():
    pnls = np.random.default_rng(1).normal(1.0, 5.0, 400)
    a = bootstrap_intervals(pnls, 10_000.0, 0.2, paths=1_000, seed=3)
    assert a is not None and a == bootstrap_intervals(pnls, 10_000.0, 0.2, paths=1_000, seed=3)
    assert a.outcome.pnl_p05 < pnls.sum() < a.outcome.pnl_p95
    assert a.outcome.horizon_trades == 400
    assert [p.trades for p in a.fan][-1] == 400
    assert all(p.pnl_p05 <= p.pnl_p50 <= p.pnl_p95 for p in a.fan)
    assert a.fan[-1].pnl_p95 - a.fan[-1].pnl_p05 > a.fan[0].pnl_p95 - a.fan[0].pnl_p05  # it fans out
    assert bootstrap_intervals([], 10_000.0, 0.2) is None
