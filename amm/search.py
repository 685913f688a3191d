"""Opportunity search: a vectorized float screen over every cycle, then exact integers for the few left.

The screen is a filter, never a decision: a cycle is dropped only when even its continuous
(real-valued, fee-exact) optimum cannot pay for gas. The exact integer profit of a route never
exceeds its continuous profit (every getAmountOut floors), so the screen can only drop an exactly
profitable cycle through float64 rounding, and it keeps a relative slack of SCREEN_REL_TOL (1e-9,
a million times float64's error on these few operations) on both tests to make that impossible
in practice. Amounts, profits and gas in an Opportunity come from the exact stage only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import msgspec
import numpy as np

from amm.gas import BlockContext, GasPolicy, PriceBook
from amm.graph import ZERO_TO_ONE, CycleTable, MarketGraph
from amm.v2 import continuous_profit_bound, optimal_input, route_amount_out
from protocol.trading import Leg, Opportunity

SCREEN_REL_TOL = 1e-9
DEFAULT_MAX_CANDIDATES = 16  # exact evaluations per scan, best float estimates first: bounds the latency;
# a block rarely has more non-overlapping trades than this, and the executor takes the best first

Hop = tuple[int, int, int]


class ScanResult(msgspec.Struct, frozen=True):
    """One scan's opportunities (best net profit first) and what it looked at, for status and metrics."""

    opportunities: tuple[Opportunity, ...]
    cycles_screened: int
    candidates: int  # cycles that passed the float screen
    evaluated: int  # cycles evaluated exactly (candidates capped at max_candidates)
    unpriced_tokens: tuple[str, ...]  # start tokens with no WETH pool: their cycles cannot be valued


def eth_reference(graph: MarketGraph) -> dict[int, tuple[int, int]]:
    """token index -> (weth reserve, token reserve) of its deepest WETH pool; WETH itself maps to (1, 1)."""
    refs: dict[int, tuple[int, int]] = {}
    weth_index = graph.token_index.get(graph.weth)
    if weth_index is not None:
        refs[weth_index] = (1, 1)
    for token, pool_ids in graph.weth_pools.items():
        best: tuple[int, int] | None = None
        for i in pool_ids:
            pool = graph.pools[i]
            pair = (pool.reserve0, pool.reserve1) if pool.token0 == graph.weth else (pool.reserve1, pool.reserve0)
            if best is None or pair[0] > best[0]:
                best = pair
        if best is not None:
            refs[token] = best
    return refs


def eth_value_in(graph: MarketGraph, token: str, decimals: int) -> float:
    """Whole units of `token` that 1 ETH buys at the mid price of its deepest WETH pool; 0.0 without one.

    A valuation for statistics and limits only (a float), never an amount to trade.
    """
    index = graph.token_index.get(token)
    ref = eth_reference(graph).get(index) if index is not None else None
    if ref is None or ref[0] <= 0:
        return 0.0
    weth_reserve, token_reserve = ref
    return (token_reserve / 10**decimals) / (weth_reserve / 10**18)


def cycle_hops(graph: MarketGraph, pools: np.ndarray, dirs: np.ndarray) -> tuple[Hop, ...]:
    """The exact (reserve_in, reserve_out, fee_bps) of each hop of one cycle row."""
    hops = []
    for i, direction in zip(pools.tolist(), dirs.tolist()):
        pool = graph.pools[i]
        if direction == ZERO_TO_ONE:
            hops.append((pool.reserve0, pool.reserve1, pool.fee_bps))
        else:
            hops.append((pool.reserve1, pool.reserve0, pool.fee_bps))
    return tuple(hops)


def screen(
    graph: MarketGraph, table: CycleTable, eth_rate: np.ndarray, threshold_wei: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized screen of one cycle table: (keep mask, estimated net profit in ETH wei).

    Composes each cycle into one virtual constant-product pool (E_in, E_out, first fee g): the
    cycle has an edge iff g*E_out > E_in, and its continuous optimum is a* = (sqrt(g*E_in*E_out) - E_in)/g.
    eth_rate[token] is ETH wei per token unit (NaN when unpriced); threshold_wei is gas + min profit.
    """
    m = len(table)
    if m == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    both = np.concatenate((graph.reserve0, graph.reserve1))
    g = table.fee_factor
    e_in, e_out = both[table.in_index[0]], both[table.out_index[0]]
    for k in range(1, table.hops):
        y, z = both[table.in_index[k]], both[table.out_index[k]]
        g_out = g[k] * e_out
        denominator = y + g_out
        e_in = e_in * y / denominator
        e_out = g_out * z / denominator
    g1 = g[0]
    edge = np.flatnonzero(g1 * e_out > e_in * (1.0 - SCREEN_REL_TOL))
    keep = np.zeros(m, dtype=bool)
    estimate = np.full(m, -np.inf)
    if len(edge) == 0:
        return keep, estimate
    # only the cycles with an edge (usually a few percent) are sized
    g1, e_in, e_out = g1[edge], e_in[edge], e_out[edge]
    size = np.maximum((np.sqrt(g1 * e_in * e_out) - e_in) / g1, 0.0)
    gross = g1 * size * e_out / (e_in + g1 * size) - size
    rate = eth_rate[table.start[edge]]
    # profit = out - in loses precision to cancellation: allow SCREEN_REL_TOL of the traded size
    slack = SCREEN_REL_TOL * 2.0 * size * rate + 1.0
    value = gross * rate
    with np.errstate(invalid="ignore"):
        keep[edge] = (value + slack >= threshold_wei) & np.isfinite(rate)
    estimate[edge] = np.where(np.isfinite(value), value - threshold_wei, -np.inf)
    return keep, estimate


def scan(
    graph: MarketGraph,
    gas_policy: GasPolicy,
    prices: PriceBook,
    block: BlockContext,
    *,
    min_net_profit_wei: int = 1,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    max_amount_in: Mapping[str, int] | None = None,
    detected_at: float | None = None,
) -> ScanResult:
    """Screen every cycle with numpy, evaluate the best max_candidates exactly, return the profitable ones.

    An opportunity is kept when its exact net profit after gas, in ETH wei, is at least
    min_net_profit_wei. max_amount_in caps the input per start token (the executor's inventory);
    a capped route is sized at the cap, which is optimal because profit is concave in size.
    max_candidates counts pool sets, best float estimate first; every rooting of a chosen pool set
    that passed the screen is evaluated exactly and the best exact one is kept (a rooting that
    looks best in floats can round to nothing in a coarse-unit start token while another pays).
    """
    refs = eth_reference(graph)
    eth_rate = np.full(len(graph.tokens), np.nan)
    for token, (weth_reserve, token_reserve) in refs.items():
        eth_rate[token] = weth_reserve / token_reserve
    unpriced = tuple(sorted(graph.tokens[t] for t in {graph.token_index[b] for b in graph.base_tokens} - set(refs)))
    gas_price = gas_policy.gas_price_wei(block.base_fee_wei)
    kept_rows: list[np.ndarray] = []
    kept_tables: list[np.ndarray] = []
    kept_estimates: list[np.ndarray] = []
    screened = 0
    for t, table in enumerate(graph.cycles):
        threshold = float(gas_policy.gas_units(table.hops) * gas_price + min_net_profit_wei)
        keep, estimate = screen(graph, table, eth_rate, threshold)
        screened += len(table)
        kept = np.flatnonzero(keep)
        kept_rows.append(kept)
        kept_tables.append(np.full(len(kept), t))
        kept_estimates.append(estimate[kept])
    rows = np.concatenate(kept_rows) if kept_rows else np.zeros(0, dtype=np.int64)
    tables = np.concatenate(kept_tables) if kept_tables else np.zeros(0, dtype=np.int64)
    estimates = np.concatenate(kept_estimates) if kept_estimates else np.zeros(0)
    candidates = len(rows)
    evaluated: list[tuple[CycleTable, int, Opportunity | None]] = []
    for group in _pool_sets_best_first(graph, tables, rows, estimates)[:max_candidates]:
        best_net: int | None = None
        done: list[tuple[int, Opportunity | None]] = []
        for position in sorted(group.tolist(), key=lambda p: -estimates[p]):
            t, c = int(tables[position]), int(rows[position])
            table = graph.cycles[t]
            if best_net is not None:
                bound = _net_bound_wei(graph, table, c, refs, gas_policy.gas_units(table.hops) * gas_price)
                if bound is None or bound < best_net:
                    continue  # unpriced, or even its continuous optimum pays less than a rooting already evaluated
            opportunity = evaluate_cycle(
                graph, table, c, refs, gas_policy, gas_price, prices, block,
                max_amount_in=max_amount_in, detected_at=detected_at,
            )
            done.append((position, opportunity))
            if opportunity is not None and (best_net is None or opportunity.net_profit_wei > best_net):
                best_net = opportunity.net_profit_wei
        # in table order, as exact_scan sees them (the first of equal rootings is kept)
        evaluated.extend((graph.cycles[int(tables[p])], int(rows[p]), o) for p, o in sorted(done, key=lambda d: d[0]))
    ranked = _best_per_pool_set(evaluated, min_net_profit_wei)
    return ScanResult(
        opportunities=tuple(ranked),
        cycles_screened=screened,
        candidates=candidates,
        evaluated=len(evaluated),
        unpriced_tokens=unpriced,
    )


def _pool_sets_best_first(
    graph: MarketGraph, tables: np.ndarray, rows: np.ndarray, estimates: np.ndarray
) -> list[np.ndarray]:
    """Candidate positions grouped by pool set, the groups ordered by their best float estimate.

    The same pools form one cycle per start token, and the exact stage keeps one per pool set. The
    budget (max_candidates) counts pool sets, and every screened rooting of a chosen set is
    evaluated exactly: the float estimate ranks rootings by their continuous value, but the floors
    of a coarse-unit start token (8 or 0 decimals) can leave the best-looking rooting with no exact
    profit while another one pays. Within a group, positions are in table order (as exact_scan).
    """
    if len(rows) == 0:
        return []
    n = np.uint64(len(graph.pools) + 1)  # keys are base-n numbers of sorted pool ids: exact below ~1M pools
    keys = np.zeros(len(rows), dtype=np.uint64)
    for t, table in enumerate(graph.cycles):
        mine = tables == t
        if not mine.any():
            continue
        pool_sets = np.sort(table.pools[rows[mine]], axis=1).astype(np.uint64)
        key = np.full(len(pool_sets), np.uint64(t + 1))
        for k in range(table.hops):
            key = key * n + pool_sets[:, k]
        keys[mine] = key
    order = np.argsort(-estimates, kind="stable")
    unique, first, group_of = np.unique(keys[order], return_index=True, return_inverse=True)
    if len(unique) == len(rows):  # one rooting per pool set (the usual case): no grouping needed
        return [np.array([p]) for p in order[np.sort(first)].tolist()]
    by_group = np.argsort(group_of, kind="stable")
    members = np.split(order[by_group], np.cumsum(np.bincount(group_of))[:-1])
    ranked = np.argsort(first, kind="stable")  # groups by the position of their best estimate
    return [np.sort(members[g]) for g in ranked.tolist()]


def _net_bound_wei(
    graph: MarketGraph, table: CycleTable, row: int, refs: Mapping[int, tuple[int, int]], gas_cost_wei: int
) -> int | None:
    """An exact upper bound on evaluate_cycle's net_profit_wei for one cycle row; None without a price."""
    start = int(table.start[row])
    if start not in refs:
        return None
    weth_reserve, token_reserve = refs[start]
    bound = continuous_profit_bound(cycle_hops(graph, table.pools[row], table.dirs[row]))
    return -(-bound * weth_reserve // token_reserve) - gas_cost_wei


def evaluate_cycle(
    graph: MarketGraph,
    table: CycleTable,
    row: int,
    refs: Mapping[int, tuple[int, int]],
    gas_policy: GasPolicy,
    gas_price_wei: int,
    prices: PriceBook,
    block: BlockContext,
    *,
    max_amount_in: Mapping[str, int] | None = None,
    detected_at: float | None = None,
) -> Opportunity | None:
    """The exact integer opportunity of one cycle row, or None when it has no exact gross profit or no price."""
    start = int(table.start[row])
    if start not in refs:
        return None
    token = graph.tokens[start]
    hops = cycle_hops(graph, table.pools[row], table.dirs[row])
    amount_in, gross = optimal_input(hops)
    cap = None if max_amount_in is None else max_amount_in.get(token)
    if cap is not None and amount_in > cap:
        amount_in = cap
        gross = route_amount_out(cap, hops) - cap if cap > 0 else 0
    if gross <= 0:
        return None
    weth_reserve, token_reserve = refs[start]
    gas_units = gas_policy.gas_units(len(hops))
    gas_cost_wei = gas_units * gas_price_wei
    gross_wei = gross * weth_reserve // token_reserve
    gas_cost_token = -(-gas_cost_wei * token_reserve // weth_reserve)  # rounded up: never flatter a trade
    legs = _legs(graph, table, row, hops, amount_in)
    eth_value = prices.eth_value / 10**18
    digest = hashlib.blake2b(
        f"{block.number}:{token}:{'/'.join(leg.pool for leg in legs)}:{amount_in}".encode(), digest_size=8
    )
    return Opportunity(
        id=digest.hexdigest(),
        block_number=block.number,
        token=token,
        token_symbol=prices.symbols.get(token, token[:10]),
        route=legs,
        amount_in=amount_in,
        gross_profit=gross,
        gas_estimate=gas_units,
        gas_price_wei=gas_price_wei,
        gas_cost_wei=gas_cost_wei,
        amount_in_value=amount_in * weth_reserve / token_reserve * eth_value,
        gross_profit_value=gross_wei * eth_value,
        gas_cost_value=gas_cost_wei * eth_value,
        detected_at=block.timestamp if detected_at is None else detected_at,
        gas_cost_token=gas_cost_token,
        net_profit=gross - gas_cost_token,
        net_profit_wei=gross_wei - gas_cost_wei,
    )


def _legs(graph: MarketGraph, table: CycleTable, row: int, hops: tuple[Hop, ...], amount_in: int) -> tuple[Leg, ...]:
    legs = []
    amount = amount_in
    for k, (reserve_in, reserve_out, fee_bps) in enumerate(hops):
        pool = graph.pools[int(table.pools[row, k])]
        forward = int(table.dirs[row, k]) == ZERO_TO_ONE
        out = route_amount_out(amount, ((reserve_in, reserve_out, fee_bps),))
        legs.append(
            Leg(
                pool=pool.address,
                dex=pool.dex,
                token_in=pool.token0 if forward else pool.token1,
                token_out=pool.token1 if forward else pool.token0,
                amount_in=amount,
                amount_out=out,
                reserve_in=reserve_in,
                reserve_out=reserve_out,
                fee_bps=fee_bps,
            )
        )
        amount = out
    return tuple(legs)


def exact_scan(
    graph: MarketGraph, gas_policy: GasPolicy, prices: PriceBook, block: BlockContext, *, min_net_profit_wei: int = 1
) -> list[Opportunity]:
    """The baseline: every cycle evaluated exactly in pure Python, no screen. Slow; for tests and benchmarks."""
    refs = eth_reference(graph)
    gas_price = gas_policy.gas_price_wei(block.base_fee_wei)
    return _best_per_pool_set(
        (
            (table, c, evaluate_cycle(graph, table, c, refs, gas_policy, gas_price, prices, block))
            for table in graph.cycles
            for c in range(len(table))
        ),
        min_net_profit_wei,
    )


def _best_per_pool_set(
    evaluated: Iterable[tuple[CycleTable, int, Opportunity | None]], min_net_profit_wei: int
) -> list[Opportunity]:
    """The opportunities worth min_net_profit_wei, best first, one per set of pools.

    The same pools traded from another start token or in another order compete for the same
    reserves, so only the most profitable of them is kept (the first one seen on a tie).
    """
    best: dict[frozenset[int], Opportunity] = {}
    for table, row, opportunity in evaluated:
        if opportunity is None or opportunity.net_profit_wei < min_net_profit_wei:
            continue
        key = frozenset(table.pools[row].tolist())
        if key not in best or best[key].net_profit_wei < opportunity.net_profit_wei:
            best[key] = opportunity
    return sorted(best.values(), key=lambda o: o.net_profit_wei, reverse=True)
