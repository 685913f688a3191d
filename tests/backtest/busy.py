"""A synthetic market with many opportunities (the generator's first parameters), for the tests of the
engine's mechanics: a race, a stop, a report need trades to look at, which the realistic defaults give
only over days (tests/backtest/test_calibration.py tests those)."""

from __future__ import annotations

from backtest.synthetic import SyntheticSpec


def busy(seed: int, days: float) -> SyntheticSpec:
    return SyntheticSpec(seed=seed, days=days, competitor_rate=(0.25, 0.12), pair_realign_rate=0.0,
                         pair_joint_share=0.0, jump_response=0.0)
