"""The replay: the live strategy search and the live risk book, block by block, on recorded or synthetic history.

backtest.trader.Trader makes the decisions and the fills, as live (see there); this module feeds it
from history. Only the blocks the vectorised screen (backtest.prescreen) keeps are shown to it, plus
every block while one of our fills still shapes a pool. The pools that changed between two blocks
shown come from one pointer into the (block-ordered) event arrays: the events since the last block
shown, the last one of each pool. So the replay's cost grows with the blocks scanned and the events,
never with blocks x pools.
The risk book's price history (volatility, correlation) is sampled at every block, as the live
strategy samples every head: a block the screen skipped still gets its token prices taken from its
recorded reserves (Trader.observe), for the PRICE_HISTORY blocks before each scanned one.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from amm.gas import GasPolicy
from amm.graph import MarketGraph
from amm.pools import PoolSnapshot
from backtest.history import History, exact
from backtest.prescreen import PoolColumns, candidate_blocks
from backtest.trader import (
    BLOCK_TIME_S,
    DEFAULT_LIMITS,
    MEASURED_GAS,
    PRICE_HISTORY,
    BacktestOptions,
    StrategyParams,
    Trade,
    Trader,
)
from risk.state import RiskBookState

__all__ = ["BLOCK_TIME_S", "DEFAULT_LIMITS", "MEASURED_GAS", "PRICE_HISTORY", "BacktestOptions", "Replay",
           "StrategyParams", "Trade", "replay"]


@dataclass
class Replay:
    """What the replay produced; backtest.results turns it into figures."""

    trades: list[Trade]
    equity_times: np.ndarray
    equity_values: np.ndarray
    start_equity: float
    final_state: RiskBookState
    blocks: int
    events: int
    candidate_blocks: int
    scanned_blocks: int
    opportunities: int
    skipped: collections.Counter[str]
    limit_hits: collections.Counter[str]
    not_included: int
    stops: int
    elapsed_s: float
    screen_s: float
    operator_resets: int = 0  # emergency stops reset by the stand-in operator (BacktestOptions)


def result_of(trader: Trader, history: History, candidates: int, elapsed_s: float, screen_s: float) -> Replay:
    return Replay(
        trades=trader.trades, equity_times=np.array(trader.equity_times), equity_values=np.array(trader.equity_values),
        start_equity=trader.limits.initial_capital, final_state=trader.state, blocks=history.blocks,
        events=history.events, candidate_blocks=candidates, scanned_blocks=trader.scanned,
        opportunities=trader.opportunities, skipped=trader.skipped, limit_hits=trader.limit_hits,
        not_included=trader.not_included, stops=trader.stops, elapsed_s=elapsed_s, screen_s=screen_s,
        operator_resets=trader.operator_resets,
    )


def snapshot_at(history: History, event: int) -> PoolSnapshot:
    """The pool of event `event` with the reserves that event recorded."""
    info = history.meta.pools[int(history.event_pool[event])]
    return PoolSnapshot(info.address, info.dex, info.token0, info.token1, exact(history.reserve0, event),
                        exact(history.reserve1, event), info.fee_bps)


SMALL_RANGE = 64  # events between two blocks asked for: below this a dict beats np.unique's fixed cost


class SyncPointer:
    """Walks the block-ordered events forward: the last Sync of each pool since the previous block asked for.

    Each block's end in the event arrays is found once for the whole range (one vectorised searchsorted),
    so a block asked for costs a lookup, and the few events of a block or two are folded by a dict rather
    than by numpy calls whose fixed cost is larger than the work (the profile of the 6-month replay)."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.event_block = history.event_block
        self.event_pool = history.event_pool
        self.pools = history.meta.pools
        self.first = int(history.block_number[0]) if history.blocks else 0
        self.ends = np.searchsorted(history.event_block, history.block_number, side="right")
        self.next = 0

    def _end(self, block: int) -> int:
        row = block - self.first
        if row < 0:
            return self.next  # no event precedes the range
        if row >= len(self.ends):
            return len(self.event_block)
        return max(int(self.ends[row]), self.next)

    def _snapshot(self, event: int) -> tuple[int, PoolSnapshot]:
        pool = int(self.event_pool[event])
        info = self.pools[pool]
        low0, high0 = self.history.reserve0[event].tolist()
        low1, high1 = self.history.reserve1[event].tolist()
        return pool, PoolSnapshot(info.address, info.dex, info.token0, info.token1, (high0 << 64) | low0,
                                  (high1 << 64) | low1, info.fee_bps)

    def advance(self, block: int) -> Iterator[tuple[int, PoolSnapshot]]:
        """(pool, recorded reserves) of each pool with an event in (previous block, block], in pool order."""
        lo = self.next
        hi = self._end(block)
        self.next = hi
        if hi == lo:
            return iter(())
        if hi - lo == 1:
            return iter((self._snapshot(lo),))
        if hi - lo <= SMALL_RANGE:
            last: dict[int, int] = {}
            for offset, pool in enumerate(self.event_pool[lo:hi].tolist()):
                last[pool] = lo + offset
            return (self._snapshot(last[p]) for p in sorted(last))
        pools = self.event_pool[lo:hi][::-1]
        _, first = np.unique(pools, return_index=True)  # first in reversed order = the pool's last event
        return (self._snapshot(e) for e in (hi - 1 - first).tolist())


def replay(
    history: History, strategy: StrategyParams = StrategyParams(), options: BacktestOptions = BacktestOptions(),  # noqa: B008
    progress: Callable[[int], None] | None = None,
) -> Replay:
    """Replay `history` with `strategy`; `progress(blocks done)` is called as the replay advances."""
    started = time.perf_counter()
    trader = Trader(history.meta, strategy, options, float(history.timestamp[0]))
    columns = PoolColumns(history)
    present = [p for p in range(len(history.meta.pools)) if len(columns.blocks[p])]
    topology = MarketGraph.build([snapshot_at(history, columns.event_index(p, 0)) for p in present],
                                 weth=history.meta.weth, base_tokens=(history.meta.weth,),
                                 max_hops=strategy.max_hops)
    candidates = candidate_blocks(history, columns, topology, GasPolicy(priority_fee_wei=strategy.priority_fee_wei),
                                  strategy.min_net_profit_wei)
    screen_s = time.perf_counter() - started
    syncs = SyncPointer(history)
    first_block, last_block = int(history.block_number[0]), int(history.block_number[-1])
    timestamps, base_fees = history.timestamp.tolist(), history.base_fee_wei.tolist()
    kept = candidates.tolist()
    ci, last = 0, first_block - 1
    while True:
        block = kept[ci] if ci < len(kept) else None
        if trader.holding and (block is None or last + 1 < block):
            block = last + 1
        if block is None or block > last_block:
            break
        while ci < len(kept) and kept[ci] <= block:
            ci += 1
        # the blocks in between: their Syncs, and the last PRICE_HISTORY's prices for the risk book
        sampled = max(last + 1, block - PRICE_HISTORY + 1)
        if sampled > last + 1:
            trader.observe(syncs.advance(sampled - 1), sample=False)
        for between in range(sampled, block):
            trader.observe(syncs.advance(between), sample=True)
        last = block
        row = block - first_block
        if progress is not None and trader.scanned % 512 == 0:
            progress(row)
        trader.block(block, float(timestamps[row]), int(base_fees[row]), syncs.advance(block))
    if progress is not None:
        progress(history.blocks)
    return result_of(trader, history, len(kept), time.perf_counter() - started, screen_s)
