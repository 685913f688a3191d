"""Bootstrap Monte Carlo intervals on a backtest's outcome, through the risk book's own projection.

risk.montecarlo.project resamples the realized trade PnLs with replacement (shuffling would give
every path the same final PnL). Here it answers two questions about the backtest:
- the interval on the final PnL had the same number of trades come out in another draw (p05, p50,
  p95, VaR/CVaR, the chance of reaching the max-drawdown limit);
- the fan: the same quantiles after k trades for FAN_POINTS values of k, each from its own seeded
  projection (marginal quantiles at each horizon, which is what a fan chart draws).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from protocol.risk import MonteCarloProjection
from risk.montecarlo import project

FAN_POINTS = 24
DEFAULT_PATHS = 2_000


class FanPoint(msgspec.Struct, frozen=True, rename="camel"):
    trades: int
    pnl_p05: float
    pnl_p50: float
    pnl_p95: float


class Intervals(msgspec.Struct, frozen=True, rename="camel"):
    outcome: MonteCarloProjection
    fan: tuple[FanPoint, ...]


def bootstrap_intervals(
    trade_pnls: Sequence[float] | np.ndarray,
    start_equity: float,
    max_drawdown_limit: float,
    *,
    paths: int = DEFAULT_PATHS,
    seed: int = 0,
) -> Intervals | None:
    """The outcome's interval over len(trade_pnls) bootstrapped trades and its fan; None without trades."""
    pnls = np.asarray(trade_pnls, dtype=np.float64)
    if len(pnls) == 0:
        return None
    n = len(pnls)
    outcome = project(pnls, start_equity, max_drawdown_limit, horizon_trades=n, paths=paths, seed=seed)
    horizons = sorted(set(np.linspace(1, n, num=min(FAN_POINTS, n)).round().astype(int).tolist()))
    fan = []
    for k in horizons:
        p = outcome if k == n else project(pnls, start_equity, max_drawdown_limit, horizon_trades=k,
                                           paths=paths, seed=seed + k)
        fan.append(FanPoint(k, p.pnl_p05, p.pnl_p50, p.pnl_p95))
    return Intervals(outcome, tuple(fan))
