"""Pool snapshots and the checks that keep a bad pool out of every route."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from amm.v2 import MAX_RESERVE

MAX_FEE_BPS = 1_000  # a swap fee above 10% is not a DEX we trade on: treat it as garbage
MIN_LIQUIDITY_PRODUCT = 1_000_000  # a real V2 pair locks MINIMUM_LIQUIDITY=1000, so r0*r1 >= 1000**2


class PoolSnapshot(msgspec.Struct, frozen=True):
    """Reserves of one constant-product pair at a block; token0 < token1 as the pair orders them."""

    address: str
    dex: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_bps: int = 30


class PoolDefect(StrEnum):
    NOT_INTEGER = "not_integer"  # a reserve or fee decoded as something other than an int
    ZERO_RESERVE = "zero_reserve"
    NEGATIVE_RESERVE = "negative_reserve"
    RESERVE_OVERFLOW = "reserve_overflow"  # beyond uint112: a pair cannot hold it, the answer is garbage
    DUST_LIQUIDITY = "dust_liquidity"  # r0*r1 below what a real pair's locked liquidity guarantees
    BAD_FEE = "bad_fee"
    SAME_TOKEN = "same_token"
    DUPLICATE = "duplicate"
    BLOCKED_TOKEN = "blocked_token"  # e.g. fee-on-transfer or misbehaving, flagged by the caller


class RejectedPool(msgspec.Struct, frozen=True):
    """A pool left out of the graph, and why: reported, never traded."""

    address: str
    defect: PoolDefect
    detail: str


def pool_defect(pool: PoolSnapshot, blocked_tokens: frozenset[str] = frozenset()) -> RejectedPool | None:
    """The first defect that makes a pool untradeable, or None when it is sound."""

    def rejected(defect: PoolDefect, detail: str) -> RejectedPool:
        return RejectedPool(address=pool.address, defect=defect, detail=detail)

    r0, r1 = pool.reserve0, pool.reserve1
    if not isinstance(r0, int) or not isinstance(r1, int) or not isinstance(pool.fee_bps, int):
        return rejected(PoolDefect.NOT_INTEGER, "reserves and fee must be integers")
    if r0 < 0 or r1 < 0:
        return rejected(PoolDefect.NEGATIVE_RESERVE, f"reserves {r0}, {r1}")
    if r0 == 0 or r1 == 0:
        return rejected(PoolDefect.ZERO_RESERVE, f"reserves {r0}, {r1}")
    if r0 > MAX_RESERVE or r1 > MAX_RESERVE:
        return rejected(PoolDefect.RESERVE_OVERFLOW, f"reserves {r0}, {r1} exceed uint112")
    if r0 * r1 < MIN_LIQUIDITY_PRODUCT:
        return rejected(PoolDefect.DUST_LIQUIDITY, f"reserves {r0}, {r1}")
    if not 0 <= pool.fee_bps <= MAX_FEE_BPS:
        return rejected(PoolDefect.BAD_FEE, f"fee {pool.fee_bps} bps")
    if pool.token0.lower() == pool.token1.lower():
        return rejected(PoolDefect.SAME_TOKEN, f"token {pool.token0}")
    for token in (pool.token0, pool.token1):
        if token in blocked_tokens:
            return rejected(PoolDefect.BLOCKED_TOKEN, f"token {token}")
    return None


def screen_pools(
    pools: list[PoolSnapshot] | tuple[PoolSnapshot, ...], blocked_tokens: frozenset[str] = frozenset()
) -> tuple[list[PoolSnapshot], list[RejectedPool]]:
    """Split pools into the tradeable ones and the rejected ones (first occurrence of an address wins)."""
    sound: list[PoolSnapshot] = []
    rejected: list[RejectedPool] = []
    seen: set[str] = set()
    for pool in pools:
        if pool.address in seen:
            rejected.append(RejectedPool(pool.address, PoolDefect.DUPLICATE, "address listed twice"))
            continue
        seen.add(pool.address)
        defect = pool_defect(pool, blocked_tokens)
        if defect is None:
            sound.append(pool)
        else:
            rejected.append(defect)
    return sound, rejected
