"""Monte Carlo projection of PnL: a bootstrap with replacement of realized trade outcomes.

Shuffling the realized trades would give every path the same final PnL; drawing with replacement
gives a distribution of outcomes. Drawdown is path-wise on the equity curve, from its running
peak, not from trade profits; the running peak starts at the book's real peak (peak_equity), so
a book already 10% down needs only the rest of the way to reach maxDrawdown.

Sign convention (REFERENCE.md): VaR at 95% is minus the 5th percentile of the final PnL, CVaR
minus the mean of the outcomes at or below it; both are unclipped: positive is a loss, negative
means even that tail is a gain.
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
    peak_equity: float | None = None,
) -> MonteCarloProjection:
    """Distribution of the PnL after `horizon_trades` trades over `paths` bootstrapped paths.

    VaR/CVaR at 95% and 99%, unclipped: positive numbers are losses, negative ones mean the tail
    is a gain. prob_max_drawdown is the share of paths whose equity fell `max_drawdown` (a
    fraction in (0, 1]) below its running peak at any point, the peak starting at peak_equity
    (the book's real peak; the starting equity when None or lower): the probability of reaching
    the limit that stops trading. Same seed, same inputs -> the same projection.
    """
    sample = np.asarray(pnls, dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise NotEnoughHistory("no realized trade outcomes to resample")
    if horizon_trades < 1 or paths < 1:
        raise ValueError(f"horizon_trades={horizon_trades} and paths={paths} must be >= 1")
    if not np.isfinite(equity) or equity <= 0:
        raise ValueError(f"starting equity {equity!r} must be positive")
    if isinstance(max_drawdown, bool) or not isinstance(max_drawdown, (int, float)) or not 0 < max_drawdown <= 1:
        raise ValueError(f"max_drawdown {max_drawdown!r} must be a fraction in (0, 1]")
    if peak_equity is not None and not np.isfinite(peak_equity):
        raise ValueError(f"peak equity {peak_equity!r} must be a finite number")
    start_peak = float(equity) if peak_equity is None else max(float(equity), float(peak_equity))
    rng = np.random.default_rng(seed)
    # Walk all paths one trade at a time: each step is a handful of vector ops on `paths` floats
    # that stay in cache, which beats 2-D cumsum/accumulate over a (paths x horizon) matrix.
    index_type = np.int16 if sample.size <= np.iinfo(np.int16).max else np.int32
    curve = np.full(paths, float(equity))  # each path's equity after the trades so far
    peak = np.full(paths, start_peak)  # its running peak, from the book's real peak
    low = np.full(paths, float(equity) / start_peak)  # the lowest equity / peak ratio seen: 1 - max drawdown
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
        var_95=float(-q05),
        cvar_95=float(-finals[finals <= q05].mean()),
        var_99=float(-q01),
        cvar_99=float(-finals[finals <= q01].mean()),
        prob_max_drawdown=float((worst >= max_drawdown).mean()),
        median_max_drawdown=float(np.median(worst)),
    )
