"""The synthetic world's calibration (backtest.synthetic, backtest.competition): what the defaults promise.

Properties, not a pinned return: pools trade in about the share of blocks the fee-arbitrage model
predicts; most of what opens is taken by others (jumps re-aligned in their own block, races lost);
what is left pays thinly after gas. The first calibration failed every one of these (it made about
50 % in ten days).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.competition import CompetitionModel
from backtest.engine import BacktestOptions, StrategyParams, replay
from backtest.synthetic import BLOCKS_PER_DAY, SyntheticSpec, generate

DAYS = 8.0


@pytest.fixture(scope="module")
def history():
    return generate(SyntheticSpec(seed=21, days=DAYS))


def test_pools_trade_in_the_share_of_blocks_the_fee_model_predicts(history):
    # Milionis, Moallemi, Roughgarden (2023): P(arbitrage in a block) ~ 1 / (1 + fee / (sigma sqrt(dt / 2)))
    dt_years = 12 / (365 * 86_400)
    predicted = [1 / (1 + 0.003 / (sigma * math.sqrt(dt_years / 2))) for sigma in (0.6, 1.0)]
    per_pool_block = history.events / (history.blocks * len(history.meta.pools))
    noise = SyntheticSpec().noise_rate
    realigned = per_pool_block - noise  # events that are not noise trades (a few coincide)
    assert min(predicted) * 0.7 <= realigned <= max(predicted) * 1.5, (realigned, predicted)


def test_most_opportunities_go_to_competitors_and_margins_after_gas_are_thin(history):
    strategy = StrategyParams()
    bundles = replay(history, strategy, BacktestOptions(seed=3, mode="bundle"))
    tried = len(bundles.trades) + bundles.not_included
    assert tried >= 20  # opportunities exist...
    assert bundles.not_included / tried >= 0.4  # ...and competitors take a large share of those we go for
    lose = np.array([t.lose_probability for t in bundles.trades])
    assert np.median(lose) >= 0.3
    gross = sum(t.gross_profit for t in bundles.trades)
    gas = sum(t.gas_cost_wei for t in bundles.trades)
    assert gas >= 0.15 * gross  # gas is a real part of the margin
    days_return = bundles.final_state.equity / bundles.start_equity - 1
    assert 0 <= days_return < 0.05  # a bundle bot that loses nothing on lost races: thin, not 50 % in 10 days
    public = replay(history, strategy, BacktestOptions(seed=3, mode="public"))
    reverted = [t for t in public.trades if t.status == "reverted"]
    assert reverted and all(t.pnl_wei < 0 for t in reverted)  # a lost public race pays its gas
    public_gas = sum(t.gas_cost_wei for t in public.trades)
    assert public_gas >= 0.3 * sum(t.gross_profit for t in public.trades)  # in public, gas eats much of it
    assert public.final_state.equity / public.start_equity - 1 < days_return  # losing races costs


def test_the_first_calibration_was_far_too_generous(history):
    kind = SyntheticSpec(seed=21, days=2.0, competitor_rate=(0.25, 0.12), pair_realign_rate=0.0,
                         pair_joint_share=0.0, jump_response=0.0)
    old = replay(generate(kind), StrategyParams(), BacktestOptions(seed=3, competition=CompetitionModel(
        rate_at_reference=1.0)))
    now = replay(history.window(int(history.block_number[0]), int(history.block_number[0]) + 2 * BLOCKS_PER_DAY - 1),
                 StrategyParams(), BacktestOptions(seed=3))
    assert old.final_state.equity - old.start_equity > 5 * max(now.final_state.equity - now.start_equity, 1.0)
