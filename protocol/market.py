"""What pool-state says about the market: watched pools, their reserves at a block, faults, updates.

Pool-state is the single writer of reserves. It publishes a `MarketSnapshot` (read lock-free by the
strategy, the console and tests) and tells `ReservesUpdated` to its listeners on every new block.
Reserves are ints exactly as the pair's getReserves / Sync report them (uint112, in token wei).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from protocol.chain import BlockHeader, ChainLog


class WatchedPool(msgspec.Struct, frozen=True):
    """A Uniswap-V2-style pair to follow; token0 < token1 as the pair orders them."""

    address: str
    dex: str
    token0: str
    token1: str
    fee_bps: int = 30


class Factory(msgspec.Struct, frozen=True):
    """A V2 factory whose PairCreated events add pools to the watch list."""

    dex: str
    address: str
    fee_bps: int = 30


class PoolReserves(msgspec.Struct, frozen=True):
    """Reserves of one pool as of `block_number` (the last block that changed or confirmed them)."""

    pool: WatchedPool
    reserve0: int
    reserve1: int
    block_number: int


class PoolFaultKind(StrEnum):
    GARBAGE = "garbage"  # getReserves / Sync answered something that does not decode as two uint112
    CALL_FAILED = "call_failed"  # getReserves reverted or the node returned an error
    ZERO_RESERVES = "zero_reserves"  # an empty side: nothing to trade against
    BLOCKED_TOKEN = "blocked_token"  # configured as misbehaving (fee-on-transfer, rebasing...)


class PoolFault(msgspec.Struct, frozen=True):
    """A pool left out of the market view, and why: reported, never traded."""

    address: str
    kind: PoolFaultKind
    detail: str
    block_number: int


class MarketSnapshot(msgspec.Struct, frozen=True):
    """Pool-state's published view: every sound pool's reserves at head `block_number`.

    `changed` lists the pools whose reserves moved in the blocks since the previous snapshot (all of
    them in the first one); `reorgs` counts the branch switches seen since start.
    """

    block_number: int
    block_hash: str
    base_fee_wei: int
    timestamp: int
    pools: tuple[PoolReserves, ...]
    faults: tuple[PoolFault, ...]
    changed: tuple[str, ...]
    reorgs: int = 0
    version: int = 0

    def reserves(self, address: str) -> PoolReserves | None:
        for pool in self.pools:
            if pool.pool.address.lower() == address.lower():
                return pool
        return None


# ---- messages ----------------------------------------------------------------------------------


class ReservesUpdated(msgspec.Struct, frozen=True, tag=True):
    """Told to pool-state's listeners after each new head: read the snapshot at `version`."""

    block_number: int
    block_hash: str
    version: int
    changed: tuple[str, ...]
    seen_at: float = 0.0  # wall clock when pool-state began the read that found this head (0: unknown)


class PollChain(msgspec.Struct, frozen=True, tag=True):
    """Pool-state's own timer (and what a NewHead from the feed amounts to): look for new blocks now."""


class RetryChainRead(msgspec.Struct, frozen=True, tag=True):
    """Pool-state's timer after a failed read: the backoff is over, read again."""


class GetMarket(msgspec.Struct, frozen=True, tag=True):
    """Ask pool-state for its current MarketSnapshot (the same object it publishes)."""


class WatchPools(msgspec.Struct, frozen=True, tag=True):
    """Add pools to the watch list; their reserves are read at the next head."""

    pools: tuple[WatchedPool, ...]


# --- pool-state's chain reads (adapters.chain_reads), piped back to it ---------------------------------


class ChainDelta(msgspec.Struct, frozen=True, tag=True):
    """From the book's head to the chain's `head`. reset: start over from `reads` at head."""

    head: BlockHeader
    base_fee_wei: int
    reset: bool = False
    fork: int | None = None
    headers: tuple[BlockHeader, ...] = ()
    logs: tuple[ChainLog, ...] = ()
    new_pools: tuple[WatchedPool, ...] = ()
    reads: dict[str, tuple[int, int] | str] = {}


class ChainReadFailed(msgspec.Struct, frozen=True, tag=True):
    """A poll that could not complete (node down, inconsistent answers): the actor polls again later."""

    reason: str
