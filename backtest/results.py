"""A replay's figures: the summary, the benchmarks (holding ETH, holding the quote token), the intervals, the counts.

Everything a report shows is in BacktestReport, and the JSON file is that struct encoded whole.
"""

from __future__ import annotations

import msgspec
import numpy as np

from backtest.engine import BacktestOptions, Replay, StrategyParams, Trade
from backtest.history import History
from backtest.intervals import Intervals, bootstrap_intervals
from backtest.metrics import DAY_S, Summary, daily_equity, summarize
from backtest.prescreen import PoolColumns

RECORDED = "recorded history"


class Benchmark(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    total_return: float
    max_drawdown: float
    sharpe_ratio: float | None
    daily_equity: tuple[float, ...]


class ReplayCounts(msgspec.Struct, frozen=True, rename="camel"):
    blocks: int
    events: int
    candidate_blocks: int
    scanned_blocks: int
    opportunities: int
    not_included: int
    skipped: dict[str, int]
    limit_hits: dict[str, int]
    emergency_stops: int
    emergency_stop: str | None  # still active at the end: its reason
    operator_resets: int = 0  # stops reset by the stand-in operator (options.operatorResetAfterS; live: none)


class BacktestReport(msgspec.Struct, frozen=True, rename="camel"):
    data: str  # "SYNTHETIC ..." or "recorded history"
    synthetic: bool
    first_block: int
    last_block: int
    start_time: int
    end_time: int
    strategy: StrategyParams
    options: BacktestOptions
    summary: Summary
    benchmarks: tuple[Benchmark, ...]
    intervals: Intervals | None
    counts: ReplayCounts
    daily_equity: tuple[float, ...]
    equity_times: tuple[float, ...]
    equity_values: tuple[float, ...]
    trades: tuple[Trade, ...]


def eth_usd_daily(history: History, days: int) -> np.ndarray:
    """ETH in the quote token at each UTC day end (and the start), from the deepest WETH/quote pool."""
    meta = history.meta
    pools = [i for i, p in enumerate(meta.pools) if {p.token0, p.token1} == {meta.weth, meta.quote}]
    if not pools:
        return np.zeros(0)
    start = float(history.timestamp[0])
    first_day = int(start // DAY_S)
    ends = (np.arange(first_day, first_day + days) + 1) * DAY_S
    rows = np.concatenate(([0], np.clip(np.searchsorted(history.timestamp, ends, side="left") - 1, 0, None)))
    blocks = history.block_number[rows]
    r0, r1 = PoolColumns(history).reserves_at(blocks)
    quote_decimals = meta.tokens[meta.quote].decimals
    best = None
    for i in pools:
        weth_is_0 = meta.pools[i].token0 == meta.weth
        weth_r = r0[:, i] if weth_is_0 else r1[:, i]
        quote_r = r1[:, i] if weth_is_0 else r0[:, i]
        price = (quote_r / 10**quote_decimals) / (weth_r / 1e18)
        if best is None or np.nanmean(weth_r) > best[0]:
            best = (float(np.nanmean(weth_r)), price)
    assert best is not None
    return best[1]


def _benchmark(name: str, daily: np.ndarray) -> Benchmark:
    s = summarize((np.arange(len(daily) - 1) + 0.5) * DAY_S, daily[1:], float(daily[0]), 0.0, [], 0, 1)
    return Benchmark(name, s.total_return, s.max_drawdown, s.sharpe_ratio, tuple(daily.tolist()))


def build_report(
    history: History, replay: Replay, strategy: StrategyParams, options: BacktestOptions
) -> BacktestReport:
    start = float(history.timestamp[0])
    pnls = [t.pnl_value for t in replay.trades]
    blocks_in_trade = len({t.block for t in replay.trades})
    times = np.concatenate((replay.equity_times, [float(history.timestamp[-1])]))
    values = np.concatenate((replay.equity_values, [replay.final_state.equity]))
    summary = summarize(times, values, replay.start_equity, start, pnls, blocks_in_trade, replay.blocks)
    daily = daily_equity(times, values, replay.start_equity, start)
    eth = eth_usd_daily(history, len(daily) - 1)
    benchmarks = [_benchmark("hold the quote token", np.full(len(daily), replay.start_equity))]
    if len(eth) and np.isfinite(eth).all():
        benchmarks.insert(0, _benchmark("hold ETH", replay.start_equity * eth / eth[0]))
    intervals = bootstrap_intervals(pnls, replay.start_equity, strategy.limits.max_drawdown,
                                    paths=options.monte_carlo_paths, seed=options.seed)
    stop = replay.final_state.emergency_stop
    counts = ReplayCounts(
        blocks=replay.blocks, events=replay.events, candidate_blocks=replay.candidate_blocks,
        scanned_blocks=replay.scanned_blocks, opportunities=replay.opportunities, not_included=replay.not_included,
        skipped=dict(sorted(replay.skipped.items())), limit_hits=dict(sorted(replay.limit_hits.items())),
        emergency_stops=replay.stops, emergency_stop=stop.reason if stop.active else None,
        operator_resets=replay.operator_resets,
    )
    synthetic = history.meta.synthetic
    return BacktestReport(
        data=synthetic or RECORDED, synthetic=synthetic is not None,
        first_block=int(history.block_number[0]), last_block=int(history.block_number[-1]),
        start_time=int(history.timestamp[0]), end_time=int(history.timestamp[-1]),
        strategy=strategy, options=options, summary=summary, benchmarks=tuple(benchmarks), intervals=intervals,
        counts=counts, daily_equity=tuple(daily.tolist()), equity_times=tuple(times.tolist()),
        equity_values=tuple(values.tolist()), trades=tuple(replay.trades),
    )
