"""Market risk from recent prices: volatility of each token and correlation between them.

Prices arrive as floats in the numeraire; the statistics are on log returns. Pure numpy-free code:
the windows are short (tens of samples) and assess() must stay well under a millisecond.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

MIN_PRICES = 3  # two returns at least, or a standard deviation means nothing


class MarketDataError(ValueError):
    """The price history of `token` cannot be used (missing, too short, non-finite, non-positive)."""

    def __init__(self, token: str, problem: str) -> None:
        super().__init__(f"token {token}: {problem}")
        self.token = token
        self.problem = problem


def log_returns(token: str, prices: Sequence[float]) -> list[float]:
    if len(prices) < MIN_PRICES:
        raise MarketDataError(token, f"needs at least {MIN_PRICES} recent prices, got {len(prices)}")
    for p in prices:
        if not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
            raise MarketDataError(token, f"price {p!r} is not a positive finite number")
    logs = [math.log(p) for p in prices]  # a difference of logs: b / a can overflow or underflow
    return [b - a for a, b in itertools.pairwise(logs)]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def volatility(returns: Sequence[float]) -> float:
    """Sample standard deviation of per-sample log returns."""
    m = _mean(returns)
    return math.sqrt(sum((r - m) * (r - m) for r in returns) / (len(returns) - 1))


def correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation over the common tail; 0 when either side is flat (no information)."""
    n = min(len(a), len(b))
    a, b = a[len(a) - n :], b[len(b) - n :]
    ma, mb = _mean(a), _mean(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) * (x - ma) for x in a)  # products overflow to inf; ** raises
    vb = sum((y - mb) * (y - mb) for y in b)
    if not all(math.isfinite(v) for v in (cov, va, vb)):
        return math.nan  # overflowed: no measurement (market_risk scores it as maximum risk)
    if va <= 0 or vb <= 0:
        return 0.0
    r = cov / math.sqrt(va * vb)
    return max(-1.0, min(1.0, r)) if math.isfinite(r) else math.nan


def market_risk(
    tokens: Sequence[str], prices: dict[str, tuple[float, ...]], volatility_ceiling: float
) -> tuple[float, float, float]:
    """(score in [0, 1], the highest token volatility, the mean pairwise correlation).

    Score: 0.7 * the worst volatility against the ceiling + 0.3 * decorrelation, where
    decorrelation (1 - mean correlation) / 2 is 0 for tokens moving together (the legs hedge each
    other while the trade is in flight) and 1 for tokens moving against each other.
    A statistic that is not a finite number (extreme but finite prices overflow the sums) means
    maximum risk for its component, whatever the token order: a volatility counts as infinite
    (vol score 1) and a correlation as -1 (decorrelation 1).
    Raises MarketDataError naming the token whose history is unusable.
    """
    series = []
    for token in tokens:
        if token not in prices:
            raise MarketDataError(token, "unknown token: no recent prices")
        series.append(log_returns(token, prices[token]))
    vols = [volatility(r) if all(math.isfinite(x) for x in r) else math.nan for r in series]
    worst_vol = math.inf if not all(math.isfinite(v) for v in vols) else max(vols)
    pairs = [(i, j) for i in range(len(series)) for j in range(i + 1, len(series))]
    corrs = [correlation(series[i], series[j]) for i, j in pairs]
    mean_corr = _mean([c if math.isfinite(c) else -1.0 for c in corrs]) if pairs else 1.0
    vol_score = min(1.0, worst_vol / volatility_ceiling) if volatility_ceiling > 0 else 1.0
    score = 0.7 * vol_score + 0.3 * (1.0 - mean_corr) / 2.0
    return min(1.0, max(0.0, score)), worst_vol, mean_corr
