"""Pool-state's pure core: reserves of the watched pools along the canonical chain, reorg-aware.

Sync(uint112,uint112) carries a pair's absolute reserves, so the last Sync of a pool in a range of
blocks is its reserves at the end of that range: no arithmetic, nothing to drift. The book keeps
the hashes of its recent blocks and which pools each block touched; new blocks must extend the
head (parent hash check). When they do not, the chain reorganised: `rewind` drops the orphaned
blocks and names the pools they touched, which the actor re-reads at the new head.

Every answer from a node is decoded here and checked (`GarbageAnswer`): a pool whose reserves do
not decode as two uint112 gets a PoolFault and leaves the market view; it is reported, never traded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from eth_utils import keccak, to_checksum_address

from protocol.chain import BlockHeader, ChainLog
from protocol.market import ChainDelta, Factory, MarketSnapshot, PoolFault, PoolFaultKind, PoolReserves, WatchedPool

SYNC_TOPIC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
PAIR_CREATED_TOPIC = "0x" + keccak(text="PairCreated(address,address,address,uint256)").hex()
GET_RESERVES = "0x0902f1ac"  # getReserves()
UINT112_MAX = 2**112 - 1
#: Blocks of history kept for reorg detection (deeper reorgs force a full re-read).
DEFAULT_DEPTH = 64


class GarbageAnswer(ValueError):
    """A node's answer that does not decode as what the call returns."""


class Discontinuity(Exception):
    """New blocks do not extend the book's head: the chain reorganised (or blocks were skipped)."""

    def __init__(self, head: int, got: int) -> None:
        super().__init__(f"block {got} does not extend head {head}")
        self.head = head
        self.got = got


@dataclasses.dataclass(frozen=True)
class BlockMark:
    number: int
    hash: str
    touched: frozenset[str] = frozenset()


def _words(data: str, count: int, what: str) -> list[int]:
    if not isinstance(data, str) or not data.startswith("0x"):
        raise GarbageAnswer(f"{what}: not hex data")
    raw = data[2:]
    if len(raw) != 64 * count:
        raise GarbageAnswer(f"{what}: {len(raw) // 2} bytes, expected {32 * count}")
    try:
        return [int(raw[i * 64 : (i + 1) * 64], 16) for i in range(count)]
    except ValueError:
        raise GarbageAnswer(f"{what}: not hex data") from None


def decode_reserves(result: object) -> tuple[int, int]:
    """getReserves() -> (reserve0, reserve1); GarbageAnswer unless it is (uint112, uint112, uint32)."""
    r0, r1, ts = _words(result, 3, "getReserves")  # type: ignore[arg-type]
    if r0 > UINT112_MAX or r1 > UINT112_MAX or ts >= 2**32:
        raise GarbageAnswer(f"getReserves: values out of range ({r0}, {r1}, {ts})")
    return r0, r1


def decode_sync(log: ChainLog) -> tuple[int, int]:
    r0, r1 = _words(log.data, 2, f"Sync of {log.address}")
    if r0 > UINT112_MAX or r1 > UINT112_MAX:
        raise GarbageAnswer(f"Sync of {log.address}: reserves out of uint112 range")
    return r0, r1


def decode_pair_created(log: ChainLog, factory: Factory) -> WatchedPool:
    if len(log.topics) != 3:
        raise GarbageAnswer(f"PairCreated of {log.address}: {len(log.topics)} topics")
    pair, _index = _words(log.data, 2, f"PairCreated of {log.address}")
    token0 = to_checksum_address("0x" + log.topics[1][-40:])
    token1 = to_checksum_address("0x" + log.topics[2][-40:])
    return WatchedPool(to_checksum_address(pair.to_bytes(32, "big")[12:]), factory.dex, token0, token1, factory.fee_bps)


def reserves_fault(address: str, r0: int, r1: int, block: int) -> PoolFault | None:
    if r0 == 0 or r1 == 0:
        return PoolFault(address, PoolFaultKind.ZERO_RESERVES, f"reserves {r0}/{r1}", block)
    return None


@dataclasses.dataclass(frozen=True)
class ReserveBook:
    """Immutable: every method returns a new book. Keys are lowercase pool addresses."""

    pools: Mapping[str, WatchedPool] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    reserves: Mapping[str, PoolReserves] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    faults: Mapping[str, PoolFault] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    blocks: tuple[BlockMark, ...] = ()
    reorgs: int = 0
    depth: int = DEFAULT_DEPTH
    blocked_tokens: frozenset[str] = frozenset()  # lowercase; pools holding one are faulted

    @property
    def head(self) -> BlockMark | None:
        return self.blocks[-1] if self.blocks else None

    def watch(self, pools: Iterable[WatchedPool]) -> ReserveBook:
        merged = dict(self.pools)
        for pool in pools:
            merged.setdefault(pool.address.lower(), pool)
        return dataclasses.replace(self, pools=MappingProxyType(merged))

    def unread(self) -> tuple[WatchedPool, ...]:
        """Watched pools with neither reserves nor a fault yet (new ones: read them)."""
        return tuple(p for a, p in self.pools.items() if a not in self.reserves and a not in self.faults)

    def record_reads(self, reads: Mapping[str, tuple[int, int] | str], block: int) -> tuple[ReserveBook, set[str]]:
        """getReserves results at `block`: (r0, r1), or an error text (the call failed / was garbage)."""
        reserves, faults = dict(self.reserves), dict(self.faults)
        changed: set[str] = set()
        for address, read in reads.items():
            key = address.lower()
            pool = self.pools.get(key)
            if pool is None:
                continue
            if isinstance(read, str):
                kind = PoolFaultKind.GARBAGE if read.startswith("getReserves") else PoolFaultKind.CALL_FAILED
                faults[key] = PoolFault(pool.address, kind, read, block)
                reserves.pop(key, None)
            else:
                self._set(pool, read, block, reserves, faults)
            changed.add(pool.address)
        book = dataclasses.replace(self, reserves=MappingProxyType(reserves), faults=MappingProxyType(faults))
        return book, changed

    def _set(
        self, pool: WatchedPool, read: tuple[int, int], block: int,
        reserves: dict[str, PoolReserves], faults: dict[str, PoolFault],
    ) -> None:
        key = pool.address.lower()
        blocked = [t for t in (pool.token0, pool.token1) if t.lower() in self.blocked_tokens]
        fault = (
            PoolFault(pool.address, PoolFaultKind.BLOCKED_TOKEN, f"token {blocked[0]}", block)
            if blocked else reserves_fault(pool.address, read[0], read[1], block)
        )
        if fault is not None:
            faults[key] = fault
            reserves.pop(key, None)
        else:
            faults.pop(key, None)
            reserves[key] = PoolReserves(pool, read[0], read[1], block)

    def start_at(self, header: BlockHeader) -> ReserveBook:
        """Anchor the book's history at `header` (the block the initial reads were made at)."""
        return dataclasses.replace(self, blocks=(BlockMark(header.number, header.hash),))

    def extend(self, headers: Sequence[BlockHeader], logs: Sequence[ChainLog]) -> tuple[ReserveBook, set[str]]:
        """Apply consecutive new blocks and their Sync logs; Discontinuity unless they extend the head."""
        head = self.head
        expected_parent = head.hash if head else None
        number = head.number if head else None
        by_block: dict[str, list[ChainLog]] = {}
        for log in logs:
            if not log.removed:
                by_block.setdefault(log.block_hash.lower(), []).append(log)
        reserves, faults = dict(self.reserves), dict(self.faults)
        marks = list(self.blocks)
        changed: set[str] = set()
        for header in headers:
            if expected_parent is not None and (
                header.parent_hash.lower() != expected_parent.lower() or header.number != number + 1  # type: ignore[operator]
            ):
                raise Discontinuity(number or 0, header.number)
            touched: set[str] = set()
            for log in sorted(by_block.pop(header.hash.lower(), []), key=lambda lg: lg.log_index):
                pool = self.pools.get(log.address.lower())
                if pool is None or not log.topics or log.topics[0].lower() != SYNC_TOPIC:
                    continue
                try:
                    read = decode_sync(log)
                except GarbageAnswer as exc:
                    faults[pool.address.lower()] = PoolFault(pool.address, PoolFaultKind.GARBAGE, str(exc),
                                                             header.number)
                    reserves.pop(pool.address.lower(), None)
                else:
                    self._set(pool, read, header.number, reserves, faults)
                touched.add(pool.address)
            changed |= touched
            marks.append(BlockMark(header.number, header.hash, frozenset(touched)))
            expected_parent, number = header.hash, header.number
        if by_block:
            raise Discontinuity(number or 0, -1)  # logs of a block we were not given: inconsistent answers
        book = dataclasses.replace(
            self,
            reserves=MappingProxyType(reserves),
            faults=MappingProxyType(faults),
            blocks=tuple(marks[-self.depth :]),
        )
        return book, changed

    def fork_point(self, canonical: Mapping[int, str]) -> int | None:
        """The highest block of the book that is still canonical (`canonical`: number -> hash), or None."""
        for mark in reversed(self.blocks):
            if canonical.get(mark.number, "").lower() == mark.hash.lower():
                return mark.number
        return None

    def rewind(self, fork_number: int) -> tuple[ReserveBook, set[str]]:
        """Drop the blocks above `fork_number`; the pools they touched must be re-read."""
        kept = tuple(m for m in self.blocks if m.number <= fork_number)
        affected = {pool for m in self.blocks if m.number > fork_number for pool in m.touched}
        return dataclasses.replace(self, blocks=kept, reorgs=self.reorgs + 1), affected

    def snapshot(
        self, *, base_fee_wei: int, timestamp: int, changed: Iterable[str], version: int
    ) -> MarketSnapshot:
        head = self.head
        return MarketSnapshot(
            block_number=head.number if head else 0,
            block_hash=head.hash if head else "",
            base_fee_wei=base_fee_wei,
            timestamp=timestamp,
            pools=tuple(sorted(self.reserves.values(), key=lambda r: r.pool.address.lower())),
            faults=tuple(sorted(self.faults.values(), key=lambda f: f.address.lower())),
            changed=tuple(sorted(changed)),
            reorgs=self.reorgs,
            version=version,
        )


def apply_delta(book: ReserveBook, delta: ChainDelta) -> tuple[ReserveBook, set[str]]:
    """The book after `delta`, and the pools whose reserves changed. Raises Discontinuity on a stale delta."""
    if delta.reset:
        fresh = ReserveBook(pools=book.pools, depth=book.depth, blocked_tokens=book.blocked_tokens,
                            reorgs=book.reorgs).watch(delta.new_pools).start_at(delta.head)
        return fresh.record_reads(delta.reads, delta.head.number)
    if delta.fork is not None:
        book, _ = book.rewind(delta.fork)
    book = book.watch(delta.new_pools)
    book, changed = book.extend(delta.headers, delta.logs)
    book, read = book.record_reads(delta.reads, delta.head.number)
    return book, changed | read
