"""Pool-state's reads from the chain, as coroutines on the io loop (through the RpcClient).

Each returns a `ChainDelta`: everything the actor needs to move its ReserveBook from its head to
the chain's, gathered in as few round trips as possible (the head; then one JSON-RPC batch with
the missing headers and the range's logs; then one batch of getReserves for new or reorged pools).
The actor applies it with `execution.reserve_book.apply_delta` (pure) when it comes back as a message;
the messages are in protocol.market.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from execution.reserve_book import (
    GET_RESERVES,
    PAIR_CREATED_TOPIC,
    SYNC_TOPIC,
    Discontinuity,
    GarbageAnswer,
    ReserveBook,
    decode_pair_created,
    decode_reserves,
)
from protocol.chain import BlockHeader, ChainLog
from protocol.market import ChainDelta, Factory, WatchedPool

#: Beyond this many blocks behind (or a reorg deeper than the book remembers), re-read everything.
MAX_CATCH_UP_BLOCKS = 64


class ChainReader(Protocol):
    """What pool-state needs of rpc.client.RpcClient."""

    async def arequest(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> Any: ...

    async def abatch(
        self, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float | None = None
    ) -> list[Any]: ...


def header_of(block: Any) -> tuple[BlockHeader, int]:
    if not isinstance(block, dict):
        raise GarbageAnswer(f"block: expected an object, got {type(block).__name__}")
    try:
        header = BlockHeader(
            number=int(block["number"], 16),
            hash=str(block["hash"]),
            parent_hash=str(block["parentHash"]),
            timestamp=int(block["timestamp"], 16),
        )
        return header, int(block.get("baseFeePerGas") or "0x0", 16)
    except (KeyError, TypeError, ValueError) as exc:
        raise GarbageAnswer(f"block: {type(exc).__name__} {exc}") from None


def log_of(raw: Any) -> ChainLog:
    try:
        return ChainLog(
            address=str(raw["address"]),
            topics=tuple(str(t) for t in raw["topics"]),
            data=str(raw["data"]),
            block_number=int(raw["blockNumber"], 16),
            block_hash=str(raw["blockHash"]),
            transaction_hash=str(raw["transactionHash"]),
            transaction_index=int(raw["transactionIndex"], 16),
            log_index=int(raw["logIndex"], 16),
            removed=bool(raw.get("removed", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GarbageAnswer(f"log: {type(exc).__name__} {exc}") from None


async def read_reserves(
    client: ChainReader, pools: Iterable[WatchedPool], block: int
) -> dict[str, tuple[int, int] | str]:
    """getReserves of each pool at `block` in one batch: (r0, r1), or the reason it failed."""
    pools = list(pools)
    if not pools:
        return {}
    calls = [("eth_call", [{"to": p.address, "data": GET_RESERVES}, hex(block)]) for p in pools]
    answers = await client.abatch(calls)
    reads: dict[str, tuple[int, int] | str] = {}
    for pool, answer in zip(pools, answers):
        if answer.error is not None:
            reads[pool.address] = f"eth_call getReserves failed: {answer.error.message}"
            continue
        try:
            reads[pool.address] = decode_reserves(answer.result)
        except GarbageAnswer as exc:
            reads[pool.address] = str(exc)
    return reads


async def discover(
    client: ChainReader, factories: Sequence[Factory], to_block: int, from_block: int = 0
) -> list[WatchedPool]:
    """Pairs created by `factories` in [from_block, to_block] (PairCreated logs)."""
    if not factories:
        return []
    raw = await client.arequest("eth_getLogs", [{
        "fromBlock": hex(from_block), "toBlock": hex(to_block),
        "address": [f.address for f in factories], "topics": [[PAIR_CREATED_TOPIC]],
    }])
    by_address = {f.address.lower(): f for f in factories}
    return [decode_pair_created(log, by_address[log.address.lower()]) for log in map(log_of, raw)]


async def initial(client: ChainReader, book: ReserveBook, factories: Sequence[Factory]) -> ChainDelta:
    """The first view: the head, the factories' pairs, every pool's reserves at the head."""
    head, base_fee = header_of(await client.arequest("eth_getBlockByNumber", ["latest", False]))
    found = await discover(client, factories, head.number)
    pools = {p.address.lower(): p for p in (*book.pools.values(), *found)}
    reads = await read_reserves(client, pools.values(), head.number)
    return ChainDelta(head=head, base_fee_wei=base_fee, reset=True, new_pools=tuple(found), reads=reads)


async def poll(client: ChainReader, book: ReserveBook, factories: Sequence[Factory]) -> ChainDelta | None:
    """What changed since the book's head; None when the head has not moved."""
    mark = book.head
    if mark is None:
        return await initial(client, book, factories)
    head, base_fee = header_of(await client.arequest("eth_getBlockByNumber", ["latest", False]))
    if head.hash.lower() == mark.hash.lower():
        return None
    if head.number - mark.number > MAX_CATCH_UP_BLOCKS:
        return await initial(client, book, factories)
    fork: int | None = None
    affected: set[str] = set()
    start = mark.number + 1
    if head.number <= mark.number or (head.number == start and head.parent_hash.lower() != mark.hash.lower()):
        fork, affected = await _find_fork(client, book)
        if fork is None:
            return await initial(client, book, factories)
        start = fork + 1
    headers, logs = await _range(client, book, factories, start, head)
    if fork is None and headers and headers[0].parent_hash.lower() != mark.hash.lower():
        fork, affected = await _find_fork(client, book)  # the reorg lies behind the newest block
        if fork is None:
            return await initial(client, book, factories)
        headers, logs = await _range(client, book, factories, fork + 1, head)
    created = [log for log in logs if log.topics and log.topics[0].lower() == PAIR_CREATED_TOPIC]
    by_factory = {f.address.lower(): f for f in factories}
    new_pools = [decode_pair_created(log, by_factory[log.address.lower()]) for log in created
                 if log.address.lower() in by_factory]
    to_read = [book.pools[a.lower()] for a in affected if a.lower() in book.pools] + new_pools + list(book.unread())
    reads = await read_reserves(client, to_read, head.number)
    return ChainDelta(head=head, base_fee_wei=base_fee, fork=fork, headers=tuple(headers),
                      logs=tuple(log for log in logs if log not in created), new_pools=tuple(new_pools), reads=reads)


async def _range(
    client: ChainReader, book: ReserveBook, factories: Sequence[Factory], start: int, head: BlockHeader
) -> tuple[list[BlockHeader], list[ChainLog]]:
    """Headers start..head (the last is `head` itself) and the Sync/PairCreated logs of that range, one batch.

    Empty when start is past head: the chain went back to a block the book already has (a rewind).
    """
    if start > head.number:
        return [], []
    numbers = list(range(start, head.number))
    addresses = [p.address for p in book.pools.values()] + [f.address for f in factories]
    log_filter = {"fromBlock": hex(start), "toBlock": hex(head.number), "address": addresses,
                  "topics": [[SYNC_TOPIC, PAIR_CREATED_TOPIC]]}
    calls: list[tuple[str, Sequence[Any]]] = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
    calls.append(("eth_getLogs", [log_filter]))
    answers = await client.abatch(calls)
    headers = [header_of(a.unwrap("eth_getBlockByNumber"))[0] for a in answers[:-1]] + [head]
    logs = [log_of(raw) for raw in answers[-1].unwrap("eth_getLogs")]
    known = {h.hash.lower() for h in headers}
    if any(log.block_hash.lower() not in known for log in logs):
        raise Discontinuity(head.number, -1)  # the chain moved between our calls: try again
    return headers, logs


async def _find_fork(client: ChainReader, book: ReserveBook) -> tuple[int | None, set[str]]:
    calls: list[tuple[str, Sequence[Any]]] = [("eth_getBlockByNumber", [hex(m.number), False]) for m in book.blocks]
    answers = await client.abatch(calls)
    canonical: dict[int, str] = {}
    for mark, answer in zip(book.blocks, answers):
        if answer.error is None and answer.result:
            canonical[mark.number] = header_of(answer.result)[0].hash
    fork = book.fork_point(canonical)
    if fork is None:
        return None, set()
    return fork, book.rewind(fork)[1]
