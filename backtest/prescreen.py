"""The screen over every block at once: which blocks could hold a trade worth its gas.

The live search (amm.search.scan) screens the cycles of one block with numpy; a backtest has a
million blocks, so this module runs the same test, on the same cycle tables, over a block range at
once: blocks x cycles arrays of the forward-filled reserves. It is a filter, never a decision:
a block is dropped only when no cycle's continuous (fee-exact, real-valued) optimum pays for gas
plus the minimum profit, with amm.search's SCREEN_REL_TOL slack on both tests, so it can only drop
a block the live scan would also find nothing in. Every kept block is scanned by the live scan.
"""

from __future__ import annotations

import numpy as np

from amm.gas import GasPolicy
from amm.graph import MarketGraph
from amm.search import SCREEN_REL_TOL
from backtest.history import History, as_float

CHUNK_BLOCKS = 16_384  # blocks screened per step: bounds memory to a few (chunk x cycles) float arrays


class PoolColumns:
    """Per pool, its event blocks and float reserves, to forward-fill reserves at any blocks."""

    def __init__(self, history: History) -> None:
        order = np.argsort(history.event_pool, kind="stable")
        counts = np.bincount(history.event_pool, minlength=len(history.meta.pools))
        bounds = np.concatenate(([0], np.cumsum(counts)))
        r0, r1 = as_float(history.reserve0)[order], as_float(history.reserve1)[order]
        blocks = history.event_block[order]
        self.order = order  # sorted-by-pool position -> event index
        self.bounds = bounds
        self.blocks = [blocks[bounds[p]:bounds[p + 1]] for p in range(len(counts))]
        self.r0 = [r0[bounds[p]:bounds[p + 1]] for p in range(len(counts))]
        self.r1 = [r1[bounds[p]:bounds[p + 1]] for p in range(len(counts))]

    def latest(self, pool: int, blocks: np.ndarray) -> np.ndarray:
        """Position (within the pool's events) of its last event at or before each block; -1 before the first."""
        return np.searchsorted(self.blocks[pool], blocks, side="right") - 1

    def event_index(self, pool: int, position: int) -> int:
        return int(self.order[self.bounds[pool] + position])

    def reserves_at(self, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(blocks, pools) float reserves, NaN before a pool's first event."""
        pools = len(self.blocks)
        r0 = np.full((len(blocks), pools), np.nan)
        r1 = np.full((len(blocks), pools), np.nan)
        for p in range(pools):
            if len(self.blocks[p]) == 0:
                continue
            pos = self.latest(p, blocks)
            ok = pos >= 0
            r0[ok, p] = self.r0[p][pos[ok]]
            r1[ok, p] = self.r1[p][pos[ok]]
        return r0, r1


def candidate_blocks(
    history: History, columns: PoolColumns, graph: MarketGraph, gas_policy: GasPolicy, min_net_profit_wei: int,
    *, chunk: int = CHUNK_BLOCKS,
) -> np.ndarray:
    """Block numbers where some cycle of `graph` may pay gas + min_net_profit_wei (routes start in WETH)."""
    weth = graph.token_index.get(graph.weth)
    meta_index = {p.address: i for i, p in enumerate(history.meta.pools)}
    to_meta = np.array([meta_index[p.address] for p in graph.pools], dtype=np.int64)
    n_pools = len(history.meta.pools)
    tables = []
    for table in graph.cycles:
        if len(table) == 0:
            continue
        if (table.start != weth).any():
            raise ValueError("the block screen values routes that start in WETH only (base_tokens=(weth,))")
        pools = to_meta[table.pools]  # (m, hops)
        backward = table.dirs.astype(np.int64)
        in_col = (pools + n_pools * backward).T  # (hops, m)
        out_col = (pools + n_pools * (1 - backward)).T
        tables.append((table.hops, in_col, out_col, table.fee_factor))
    kept: list[np.ndarray] = []
    for lo in range(0, history.blocks, chunk):
        blocks = history.block_number[lo:lo + chunk]
        r0, r1 = columns.reserves_at(blocks)
        both = np.concatenate((r0, r1), axis=1)
        # GasPolicy.gas_price_wei in int64, as exact as the live scan's (base fees stay far below 2**63 / 113)
        gas_price = (history.base_fee_wei[lo:lo + chunk] * gas_policy.base_fee_headroom_pct // 100
                     + gas_policy.priority_fee_wei).astype(np.float64)
        any_kept = np.zeros(len(blocks), dtype=bool)
        for hops, in_col, out_col, fee in tables:
            e_in, e_out = both[:, in_col[0]], both[:, out_col[0]]
            for k in range(1, hops):
                y, z = both[:, in_col[k]], both[:, out_col[k]]
                g_out = fee[k] * e_out
                denominator = y + g_out
                e_in = e_in * y / denominator
                e_out = g_out * z / denominator
            g1 = fee[0]
            with np.errstate(invalid="ignore"):
                edge = g1 * e_out > e_in * (1.0 - SCREEN_REL_TOL)
                size = np.maximum((np.sqrt(g1 * e_in * e_out) - e_in) / g1, 0.0)
                gross = g1 * size * e_out / (e_in + g1 * size) - size
                threshold = (gas_policy.gas_units(hops) * gas_price + min_net_profit_wei)[:, None]
                slack = SCREEN_REL_TOL * 2.0 * size + 1.0
                any_kept |= (edge & (gross + slack >= threshold)).any(axis=1)
        kept.append(blocks[any_kept])
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
