"""The token graph over all watched pools, with its arbitrage cycles laid out as numpy tables.

Topology (which pools form which cycles) changes rarely and is enumerated once in build();
reserves change every block and update() swaps in new reserve arrays, reusing the cycle tables.
A MarketGraph is never mutated: update() returns a new one, so it can be published as a snapshot.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from amm.pools import MIN_LIQUIDITY_PRODUCT, PoolSnapshot, RejectedPool, screen_pools
from amm.v2 import BPS, MAX_RESERVE

ZERO_TO_ONE = 0  # a hop that sells token0 for token1
ONE_TO_ZERO = 1


@dataclass(frozen=True)
class CycleTable:
    """Every rooted cycle of one length: pools[c, k] is the k-th hop's pool index, dirs[c, k] its direction.

    A cycle is rooted at its start token (the one it borrows and ends with, the profit token).
    """

    pools: np.ndarray  # (m, hops) int64
    dirs: np.ndarray  # (m, hops) int8, ZERO_TO_ONE or ONE_TO_ZERO
    start: np.ndarray  # (m,) int64 token index
    # precomputed gathers for the screen, hop-major so each hop's column is contiguous:
    # indices into concat(reserve0, reserve1), and fee factors
    in_index: np.ndarray  # (hops, m) reserve_in of each hop
    out_index: np.ndarray  # (hops, m) reserve_out of each hop
    fee_factor: np.ndarray  # (hops, m) float64

    @property
    def hops(self) -> int:
        return int(self.pools.shape[1])

    def __len__(self) -> int:
        return int(self.pools.shape[0])


@dataclass(frozen=True)
class MarketGraph:
    """Sound pools, their tokens, float reserve arrays for the vectorized screen, and the cycle tables."""

    pools: tuple[PoolSnapshot, ...]
    rejected: tuple[RejectedPool, ...]
    tokens: tuple[str, ...]
    token_index: dict[str, int]
    pool_index: dict[str, int]
    weth: str
    base_tokens: frozenset[str]
    blocked_tokens: frozenset[str]
    reserve0: np.ndarray  # float64 copies for the screen; exact ints stay in pools
    reserve1: np.ndarray
    cycles: tuple[CycleTable, ...]
    weth_pools: dict[int, tuple[int, ...]] = field(default_factory=dict)  # token index -> pools pairing it with WETH
    requested_bases: frozenset[str] | None = None  # base_tokens as given to build(): None means every token

    @classmethod
    def build(
        cls,
        pools: Iterable[PoolSnapshot],
        *,
        weth: str,
        base_tokens: Iterable[str] | None = None,
        blocked_tokens: Iterable[str] = (),
        max_hops: int = 3,
    ) -> MarketGraph:
        """Screen the pools, index the tokens and enumerate all 2-hop and (if max_hops >= 3) 3-hop cycles.

        base_tokens are the tokens a route may start and end with (the executor's inventory);
        None means any token. A rejected pool is kept in .rejected with its defect, never routed.
        """
        blocked = frozenset(blocked_tokens)
        requested = None if base_tokens is None else frozenset(base_tokens)
        sound, rejected = screen_pools(list(pools), blocked)
        tokens: dict[str, int] = {}
        for pool in sound:
            tokens.setdefault(pool.token0, len(tokens))
            tokens.setdefault(pool.token1, len(tokens))
        bases = frozenset(tokens) if requested is None else requested & frozenset(tokens)
        cycles = _enumerate_cycles(sound, tokens, bases, max_hops)
        weth_pools: dict[int, list[int]] = defaultdict(list)
        for i, pool in enumerate(sound):
            if pool.token0 == weth:
                weth_pools[tokens[pool.token1]].append(i)
            elif pool.token1 == weth:
                weth_pools[tokens[pool.token0]].append(i)
        r0, r1 = _frozen(_reserve_arrays(sound))
        return cls(
            pools=tuple(sound),
            rejected=tuple(rejected),
            tokens=tuple(tokens),
            token_index=tokens,
            pool_index={pool.address: i for i, pool in enumerate(sound)},
            weth=weth,
            base_tokens=bases,
            blocked_tokens=blocked,
            reserve0=r0,
            reserve1=r1,
            cycles=cycles,
            weth_pools={token: tuple(ids) for token, ids in weth_pools.items()},
            requested_bases=requested,
        )

    def update(self, changed: Iterable[PoolSnapshot]) -> MarketGraph:
        """A graph with new reserves for changed pools; rebuilds the topology only when it changed.

        A pool that turns bad (e.g. zero reserves after a drain) or a new pool forces a rebuild so it
        leaves (or joins) every cycle; plain reserve moves only replace the reserve arrays.
        """
        changed = list(changed)
        pools = list(self.pools)
        r0 = self.reserve0.copy()
        r1 = self.reserve1.copy()
        for pool in changed:
            i = self.pool_index.get(pool.address)
            old = pools[i] if i is not None else None
            if (
                old is None
                or (old.token0, old.token1, old.fee_bps) != (pool.token0, pool.token1, pool.fee_bps)
                or not _sound_reserves(pool.reserve0, pool.reserve1)
            ):
                return self._rebuild(changed)
            assert i is not None
            pools[i] = pool
            r0[i] = float(pool.reserve0)
            r1[i] = float(pool.reserve1)
        r0, r1 = _frozen((r0, r1))
        return MarketGraph(
            pools=tuple(pools),
            rejected=self.rejected,
            tokens=self.tokens,
            token_index=self.token_index,
            pool_index=self.pool_index,
            weth=self.weth,
            base_tokens=self.base_tokens,
            blocked_tokens=self.blocked_tokens,
            reserve0=r0,
            reserve1=r1,
            cycles=self.cycles,
            weth_pools=self.weth_pools,
            requested_bases=self.requested_bases,
        )

    def _rebuild(self, changed: list[PoolSnapshot]) -> MarketGraph:
        by_address = {pool.address: pool for pool in self.pools}
        # a previously rejected pool may have become sound (e.g. liquidity added): reconsider it when it reappears
        for pool in changed:
            by_address[pool.address] = pool
        max_hops = max((table.hops for table in self.cycles), default=3)
        rebuilt = MarketGraph.build(
            by_address.values(),
            weth=self.weth,
            base_tokens=self.requested_bases,
            blocked_tokens=self.blocked_tokens,
            max_hops=max_hops,
        )
        # pools rejected earlier and not heard from since stay reported
        fresh = {pool.address for pool in changed}
        still_rejected = tuple(r for r in self.rejected if r.address not in fresh)
        return dataclasses.replace(rebuilt, rejected=still_rejected + rebuilt.rejected)

    def pool(self, address: str) -> PoolSnapshot:
        return self.pools[self.pool_index[address]]

    def cycle_count(self) -> int:
        return sum(len(table) for table in self.cycles)


def _frozen(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Make arrays read-only: a published graph is shared across threads and must never change."""
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _sound_reserves(reserve0: int, reserve1: int) -> bool:
    """pool_defect's reserve checks, for the per-block fast path (tokens and fee are known sound)."""
    return (
        type(reserve0) is int
        and type(reserve1) is int
        and 0 < reserve0 <= MAX_RESERVE
        and 0 < reserve1 <= MAX_RESERVE
        and reserve0 * reserve1 >= MIN_LIQUIDITY_PRODUCT
    )


def _reserve_arrays(pools: list[PoolSnapshot]) -> tuple[np.ndarray, np.ndarray]:
    r0 = np.array([float(p.reserve0) for p in pools], dtype=np.float64)
    r1 = np.array([float(p.reserve1) for p in pools], dtype=np.float64)
    return r0, r1


def _enumerate_cycles(
    pools: list[PoolSnapshot], tokens: dict[str, int], bases: frozenset[str], max_hops: int
) -> tuple[CycleTable, ...]:
    # between[(a, b)] = [(pool, direction of a -> b)]; neighbours[a] = tokens sharing a pool with a
    between: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for i, pool in enumerate(pools):
        t0, t1 = tokens[pool.token0], tokens[pool.token1]
        between[(t0, t1)].append((i, ZERO_TO_ONE))
        between[(t1, t0)].append((i, ONE_TO_ZERO))
        neighbours[t0].add(t1)
        neighbours[t1].add(t0)

    two_p: list[tuple[int, int]] = []
    two_d: list[tuple[int, int]] = []
    two_s: list[int] = []
    three_p: list[tuple[int, int, int]] = []
    three_d: list[tuple[int, int, int]] = []
    three_s: list[int] = []
    for base in sorted(tokens[b] for b in bases):
        around = neighbours[base]
        for t in sorted(around):
            outward, back = between[(base, t)], between[(t, base)]
            for (i, di), (j, dj) in itertools.product(outward, back):
                if j != i:
                    two_p.append((i, j))
                    two_d.append((di, dj))
                    two_s.append(base)
            if max_hops < 3:
                continue
            # u must neighbour both t and base: intersect from the smaller side (hubs have thousands)
            smaller, larger = (around, neighbours[t]) if len(around) < len(neighbours[t]) else (neighbours[t], around)
            for u in sorted(x for x in smaller if x in larger and x != base and x != t):
                for (i, di), (j, dj), (k, dk) in itertools.product(outward, between[(t, u)], between[(u, base)]):
                    three_p.append((i, j, k))
                    three_d.append((di, dj, dk))
                    three_s.append(base)
    fee = np.array([(BPS - p.fee_bps) / BPS for p in pools], dtype=np.float64)
    tables = [_table(two_p, two_d, two_s, 2, len(pools), fee)]
    if max_hops >= 3:
        tables.append(_table(three_p, three_d, three_s, 3, len(pools), fee))
    return tuple(tables)


def _table(pools: list, dirs: list, starts: list[int], hops: int, n_pools: int, fee: np.ndarray) -> CycleTable:
    pool_ids = np.array(pools, dtype=np.int64).reshape(-1, hops)
    directions = np.array(dirs, dtype=np.int8).reshape(-1, hops)
    backward = directions.astype(np.int64)  # ONE_TO_ZERO == 1: the input side is reserve1
    _frozen((pool_ids, directions))
    return CycleTable(
        pools=pool_ids,
        dirs=directions,
        start=np.array(starts, dtype=np.int64),
        in_index=np.ascontiguousarray((pool_ids + n_pools * backward).T),
        out_index=np.ascontiguousarray((pool_ids + n_pools * (1 - backward)).T),
        fee_factor=np.ascontiguousarray(fee[pool_ids].T) if len(pool_ids) else np.zeros((hops, 0)),
    )
