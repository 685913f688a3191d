"""Results of a backtest from its equity curve and its trades: one definition of each figure.

Conventions (stated in every report):
- Periodic returns are daily, UTC: the equity at the end of each UTC day (the last point at or
  before midnight), the first return measured from the starting equity. Crypto trades every day,
  so a year is 365 periods (not 252).
- Sharpe = mean(r) / std(r, ddof=1) * sqrt(365), risk-free rate 0.
- Sortino = mean(r) * 365 / (sqrt(mean(min(r, 0)^2)) * sqrt(365)): downside deviation over every
  period (not only the losing ones), target return 0.
- Annual return (CAGR) = (E_end / E_0) ** (365 / days) - 1, days = number of daily returns.
- Calmar = annual return / max drawdown.
- Max drawdown = max over the whole curve (every point, not only day ends) of 1 - E / running peak,
  the peak starting at the starting equity: from the equity curve, never from trade profits.
- Win rate = winning trades / trades; a trade is every attempt that cost or earned something
  (a lost race in public mode is a losing trade: it paid the revert's gas).
- Profit factor = sum of gains / sum of losses (None without a loss).
- Exposure = share of replayed blocks in which the strategy had a trade on chain (an atomic
  arbitrage holds its position for the one block it lands in).

These match empyrical's definitions with annualization=365 (tests/backtest/test_metrics.py checks
it). A figure that is undefined (a flat curve's Sharpe, Calmar without a drawdown) is None, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np

PERIODS_PER_YEAR = 365
DAY_S = 86_400


class Summary(msgspec.Struct, frozen=True, rename="camel"):
    """The headline figures: the operator API returns them as summary.totalReturn, summary.sharpeRatio, ..."""

    total_return: float
    annual_return: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None
    max_drawdown: float
    win_rate: float | None
    profit_factor: float | None
    exposure: float
    trades: int
    days: int
    start_equity: float
    end_equity: float
    annualisation: str = "daily UTC returns, 365 periods a year, risk-free rate 0"


def daily_equity(times: np.ndarray, equity: np.ndarray, start_equity: float, start_time: float) -> np.ndarray:
    """Equity at each UTC day end from start_time's day to the last point's, prefixed by start_equity.

    A day without a point carries the previous equity (the book did not move).
    """
    times = np.asarray(times, dtype=np.float64)
    equity = np.asarray(equity, dtype=np.float64)
    first_day = math.floor(start_time / DAY_S)
    last_time = float(times[-1]) if len(times) else start_time
    last_day = math.floor(last_time / DAY_S)
    day_ends = (np.arange(first_day, last_day + 1, dtype=np.float64) + 1) * DAY_S
    # index of the last point strictly before each next midnight
    if len(times) == 0:
        return np.full(len(day_ends) + 1, float(start_equity))
    idx = np.searchsorted(times, day_ends, side="left") - 1
    values = np.where(idx >= 0, equity[np.clip(idx, 0, None)], start_equity)
    return np.concatenate(([start_equity], values))


def daily_returns(daily: np.ndarray) -> np.ndarray:
    return daily[1:] / daily[:-1] - 1.0


def max_drawdown(equity: np.ndarray, start_equity: float) -> float:
    """The largest fall below the running peak, as a fraction of that peak (0 for a curve that never falls)."""
    curve = np.concatenate(([start_equity], np.asarray(equity, dtype=np.float64)))
    peak = np.maximum.accumulate(curve)
    return float(np.max(1.0 - curve / peak))


def sharpe(returns: np.ndarray) -> float | None:
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    return None if sd == 0 else float(np.mean(returns)) / sd * math.sqrt(PERIODS_PER_YEAR)


def sortino(returns: np.ndarray) -> float | None:
    if len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2))) * math.sqrt(PERIODS_PER_YEAR)
    return None if downside == 0 else float(np.mean(returns)) * PERIODS_PER_YEAR / downside


def annual_return(daily: np.ndarray) -> float | None:
    days = len(daily) - 1
    if days < 1 or daily[0] <= 0 or daily[-1] <= 0:
        return None
    return float((daily[-1] / daily[0]) ** (PERIODS_PER_YEAR / days) - 1.0)


def trade_figures(pnls: Sequence[float] | np.ndarray) -> tuple[float | None, float | None]:
    """(win rate, profit factor) of the trades' PnLs; None where undefined."""
    p = np.asarray(pnls, dtype=np.float64)
    if len(p) == 0:
        return None, None
    gains, losses = float(p[p > 0].sum()), float(-p[p < 0].sum())
    return float((p > 0).mean()), (gains / losses if losses > 0 else None)


def summarize(
    times: np.ndarray,
    equity: np.ndarray,
    start_equity: float,
    start_time: float,
    trade_pnls: Sequence[float] | np.ndarray,
    blocks_in_trade: int,
    blocks: int,
) -> Summary:
    """Every headline figure of one backtest (see the module docstring for the definitions)."""
    equity = np.asarray(equity, dtype=np.float64)
    daily = daily_equity(times, equity, start_equity, start_time)
    returns = daily_returns(daily)
    end = float(equity[-1]) if len(equity) else start_equity
    mdd = max_drawdown(equity, start_equity)
    annual = annual_return(daily)
    win_rate, profit_factor = trade_figures(trade_pnls)
    return Summary(
        total_return=end / start_equity - 1.0,
        annual_return=annual,
        sharpe_ratio=sharpe(returns),
        sortino_ratio=sortino(returns),
        calmar_ratio=annual / mdd if annual is not None and mdd > 0 else None,
        max_drawdown=mdd,
        win_rate=win_rate,
        profit_factor=profit_factor,
        exposure=blocks_in_trade / blocks if blocks > 0 else 0.0,
        trades=len(trade_pnls),
        days=len(returns),
        start_equity=start_equity,
        end_equity=end,
    )
