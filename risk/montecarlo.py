"""Monte Carlo projection of PnL: a bootstrap with replacement of realized trade outcomes.

Shuffling the realized trades would give every path the same final PnL; drawing with replacement
gives a distribution of outcomes. Drawdown is path-wise on the equity curve, from its running
peak (starting equity included), not from trade profits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from protocol.risk import MonteCarloProjection

INDEX_CHUNK = 100  # trades whose random draws are made at once (bounds memory: 100 x paths indices)


class NotEnoughHistory(ValueError):
    """There are no realized outcomes to resample."""


def project(
    pnls: Sequence[float] | np.ndarray,
    equity: float,
    max_drawdown: float,
    horizon_trades: int = 1000,
    paths: int = 10_000,
    seed: int = 0,
) -> MonteCarloProjection:
    """Distribution of the PnL after `horizon_trades` trades over `paths` bootstrapped paths.

    VaR/CVaR are losses as positive numbers at 95% and 99%; prob_max_drawdown is the share of
    paths whose equity fell `max_drawdown` (a fraction) below its running peak at any point.
    Same seed, same inputs -> the same projection.
    """
    sample = np.asarray(pnls, dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise NotEnoughHistory("no realized trade outcomes to resample")
    if horizon_trades < 1 or paths < 1:
        raise ValueError(f"horizon_trades={horizon_trades} and paths={paths} must be >= 1")
    if not np.isfinite(equity) or equity <= 0:
        raise ValueError(f"starting equity {equity!r} must be positive")
    rng = np.random.default_rng(seed)
    # Walk all paths one trade at a time: each step is a handful of vector ops on `paths` floats
    # that stay in cache, which beats 2-D cumsum/accumulate over a (paths x horizon) matrix.
    index_type = np.int16 if sample.size <= np.iinfo(np.int16).max else np.int32
    curve = np.full(paths, float(equity))  # each path's equity after the trades so far
    peak = curve.copy()  # its running peak, the starting equity included
    low = np.ones(paths)  # the lowest equity / peak ratio seen: 1 - max drawdown
    ratio = np.empty(paths)
    step = np.empty(paths)
    for lo in range(0, horizon_trades, INDEX_CHUNK):
        draws = rng.integers(0, sample.size, size=(min(INDEX_CHUNK, horizon_trades - lo), paths), dtype=index_type)
        for row in draws:
            np.take(sample, row, out=step)
            curve += step
            np.maximum(peak, curve, out=peak)
            np.divide(curve, peak, out=ratio)
            np.minimum(low, ratio, out=low)
    finals = curve - equity
    worst = 1.0 - low
    q05, q01, q50, q95 = np.quantile(finals, [0.05, 0.01, 0.5, 0.95])
    return MonteCarloProjection(
        paths=paths,
        horizon_trades=horizon_trades,
        sample_size=int(sample.size),
        seed=seed,
        expected_pnl=float(finals.mean()),
        pnl_p05=float(q05),
        pnl_p50=float(q50),
        pnl_p95=float(q95),
        var_95=float(max(0.0, -q05)),
        cvar_95=float(max(0.0, -finals[finals <= q05].mean())),
        var_99=float(max(0.0, -q01)),
        cvar_99=float(max(0.0, -finals[finals <= q01].mean())),
        prob_max_drawdown=float((worst >= max_drawdown).mean()),
        median_max_drawdown=float(np.median(worst)),
    )
