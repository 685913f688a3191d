"""Monte Carlo: a seeded bootstrap with replacement; VaR/CVaR; drawdown path-wise from the running peak."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.montecarlo import NotEnoughHistory, project


def test_same_seed_same_projection_other_seed_other_paths():
    pnls = np.random.default_rng(7).normal(2.0, 15.0, 300)
    a = project(pnls, 10_000.0, 0.2, horizon_trades=200, paths=2_000, seed=3)
    assert a == project(pnls, 10_000.0, 0.2, horizon_trades=200, paths=2_000, seed=3)
    assert a != project(pnls, 10_000.0, 0.2, horizon_trades=200, paths=2_000, seed=4)


def test_bootstrap_with_replacement_spreads_the_final_pnl():
    # Shuffling these 10 trades would give every path exactly +10; resampling must not.
    pnls = [5.0, -3.0, 1.0, 4.0, -2.0, 0.5, 2.5, -1.0, 1.5, 1.5]
    p = project(pnls, 1_000.0, 0.5, horizon_trades=10, paths=5_000, seed=1)
    assert p.pnl_p05 < 10.0 < p.pnl_p95
    assert p.expected_pnl == pytest.approx(10.0, abs=0.5)  # the mean of a bootstrap sum is n * mean


def test_var_and_cvar_on_a_distribution_known_exactly():
    # +-1 for two trades: final PnL -2 (25%), 0 (50%), +2 (25%); the 5% and 1% tails are all -2.
    p = project([-1.0, 1.0], 10.0, 0.5, horizon_trades=2, paths=40_000, seed=0)
    assert (p.var_95, p.cvar_95, p.var_99, p.cvar_99) == (2.0, 2.0, 2.0, 2.0)
    assert p.pnl_p50 == 0.0


def test_drawdown_is_path_wise_from_the_running_peak_including_the_start():
    # Equity 10: paths (-1,-1) fall to 8, 20% below the starting peak; (-1,+1) 10% at worst;
    # (+1,-1) peaks at 11 and ends at 10: 1/11 = 9.1%. Only the first crosses 15%: p = 1/4.
    p = project([-1.0, 1.0], 10.0, 0.15, horizon_trades=2, paths=40_000, seed=5)
    assert p.prob_max_drawdown == pytest.approx(0.25, abs=0.01)
    # a lone loss is a drawdown from the starting equity, though no profit came before it
    assert project([-1.0], 10.0, 0.3, horizon_trades=3, paths=10).prob_max_drawdown == 1.0
    assert project([-1.0], 10.0, 0.3, horizon_trades=2, paths=10).median_max_drawdown == pytest.approx(0.2)
    assert project([1.0], 10.0, 0.01, horizon_trades=50, paths=10).prob_max_drawdown == 0.0


def test_no_history_is_refused_by_name():
    with pytest.raises(NotEnoughHistory):
        project([], 10_000.0, 0.2)
    with pytest.raises(NotEnoughHistory):
        project([float("nan")], 10_000.0, 0.2)
    with pytest.raises(ValueError, match="starting equity"):
        project([1.0], 0.0, 0.2)


@settings(max_examples=40, deadline=None)
@given(
    pnls=st.lists(st.floats(min_value=-100, max_value=100), min_size=1, max_size=50),
    horizon=st.integers(min_value=1, max_value=60),
)
def test_tail_measures_are_ordered(pnls, horizon):
    p = project(pnls, 5_000.0, 0.1, horizon_trades=horizon, paths=300, seed=0)
    assert p.cvar_99 >= p.var_99 - 1e-9 and p.cvar_95 >= p.var_95 - 1e-9
    assert p.var_99 >= p.var_95 - 1e-9
    assert p.pnl_p05 <= p.pnl_p50 <= p.pnl_p95
    assert 0.0 <= p.prob_max_drawdown <= 1.0
    assert horizon * min(pnls) - 1e-6 <= p.expected_pnl <= horizon * max(pnls) + 1e-6
