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
    return [math.log(b / a) for a, b in itertools.pairwise(prices)]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def volatility(returns: Sequence[float]) -> float:
    """Sample standard deviation of per-sample log returns."""
    m = _mean(returns)
    return math.sqrt(sum((r - m) ** 2 for r in returns) / (len(returns) - 1))


def correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation over the common tail; 0 when either side is flat (no information)."""
    n = min(len(a), len(b))
    a, b = a[len(a) - n :], b[len(b) - n :]
    ma, mb = _mean(a), _mean(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 0 or vb <= 0:
        return 0.0
    return max(-1.0, min(1.0, cov / math.sqrt(va * vb)))


def market_risk(
    tokens: Sequence[str], prices: dict[str, tuple[float, ...]], volatility_ceiling: float
) -> tuple[float, float, float]:
    """(score in [0, 1], the highest token volatility, the mean pairwise correlation).

    Score: 0.7 * the worst volatility against the ceiling + 0.3 * decorrelation, where
    decorrelation (1 - mean correlation) / 2 is 0 for tokens moving together (the legs hedge each
    other while the trade is in flight) and 1 for tokens moving against each other.
    Raises MarketDataError naming the token whose history is unusable.
    """
    series = []
    for token in tokens:
        if token not in prices:
            raise MarketDataError(token, "unknown token: no recent prices")
        series.append(log_returns(token, prices[token]))
    worst_vol = max(volatility(r) for r in series)
    pairs = [(i, j) for i in range(len(series)) for j in range(i + 1, len(series))]
    mean_corr = _mean([correlation(series[i], series[j]) for i, j in pairs]) if pairs else 1.0
    vol_score = min(1.0, worst_vol / volatility_ceiling) if volatility_ceiling > 0 else 1.0
    score = 0.7 * vol_score + 0.3 * (1.0 - mean_corr) / 2.0
    return min(1.0, max(0.0, score)), worst_vol, mean_corr
