"""Uniswap V2 logs from eth_getLogs answers: Sync, Swap and PairCreated, decoded from the contracts' own ABI.

The event signatures (and so the topic hashes) are built from the ABI entries of the real
@uniswap/v2-core artifacts (UniswapV2Pair.json, UniswapV2Factory.json) that the caller hands in as
data: `V2Events.from_abis(pair_abi, factory_abi)`. Nothing here is a hand-typed hash.

Every problem with an answer is a `MalformedLog` naming the block and the log index (or the
position in the answer when even those are unreadable) and what is wrong: a missing field, a
topic count or data length the event does not have, a value wider than its type, a log outside
the asked range, out of order or listed twice, a log of an event we did not ask for, a removed
(reorganised) log. A chunk with one bad log is refused whole: nothing of it reaches the store.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from eth_utils import keccak, to_checksum_address

WORD = 32


@functools.lru_cache(maxsize=1 << 16)
def checksummed(raw: bytes) -> str:
    """EIP-55 form of a 20-byte address; cached: a history names the same pools and traders again and again."""
    return str(to_checksum_address(raw))


class MalformedLog(ValueError):
    """A log the decoder refuses: where it is (block, log index) and what is wrong with it."""

    def __init__(self, block: int | None, log_index: int | None, problem: str, *, position: int | None = None) -> None:
        self.block, self.log_index, self.problem, self.position = block, log_index, problem, position
        where = f"block {block if block is not None else '?'} log index {log_index if log_index is not None else '?'}"
        if position is not None and (block is None or log_index is None):
            where += f" (answer item {position})"
        super().__init__(f"{where}: {problem}")


class EventAbi(msgspec.Struct, frozen=True):
    """One event's signature, topic hash and inputs as (name, type, indexed), from an ABI entry."""

    name: str
    signature: str
    topic: str  # 0x-hex keccak of the signature
    inputs: tuple[tuple[str, str, bool], ...]
    indexed: int = 0  # inputs in topics (after topic0); the rest are data words

    @classmethod
    def from_abi(cls, abi: Sequence[Mapping[str, Any]], name: str) -> EventAbi:
        entries = [e for e in abi if e.get("type") == "event" and e.get("name") == name]
        if len(entries) != 1:
            raise ValueError(f"the ABI has {len(entries)} events named {name}, expected one")
        inputs = tuple((str(i["name"]), str(i["type"]), bool(i.get("indexed"))) for i in entries[0]["inputs"])
        for _, kind, _ in inputs:
            if not (kind == "address" or kind == "bool" or kind.startswith("uint")):
                raise ValueError(f"{name}: input type {kind} is not a static type this decoder reads")
        signature = f"{name}({','.join(kind for _, kind, _ in inputs)})"
        return cls(name, signature, "0x" + keccak(text=signature).hex(), inputs, sum(1 for *_, i in inputs if i))


def function_selector(abi: Sequence[Mapping[str, Any]], name: str) -> str:
    """0x-hex 4-byte selector of the ABI's function `name` (a call without arguments)."""
    entries = [e for e in abi if e.get("type") == "function" and e.get("name") == name]
    if not entries:
        raise ValueError(f"the ABI has no function {name}")
    signature = f"{name}({','.join(str(i['type']) for i in entries[0].get('inputs', []))})"
    return "0x" + keccak(text=signature).hex()[:8]


class SyncLog(msgspec.Struct, frozen=True):
    block: int
    log_index: int
    pool: str
    reserve0: int
    reserve1: int


class SwapLog(msgspec.Struct, frozen=True):
    block: int
    log_index: int
    pool: str
    sender: str
    to: str
    amount0_in: int
    amount1_in: int
    amount0_out: int
    amount1_out: int


class PairCreatedLog(msgspec.Struct, frozen=True):
    block: int
    log_index: int
    factory: str
    token0: str
    token1: str
    pair: str
    index: int


Decoded = SyncLog | SwapLog | PairCreatedLog


class V2Events(msgspec.Struct, frozen=True):
    sync: EventAbi
    swap: EventAbi
    pair_created: EventAbi

    @classmethod
    def from_abis(cls, pair_abi: Sequence[Mapping[str, Any]], factory_abi: Sequence[Mapping[str, Any]]) -> V2Events:
        return cls(EventAbi.from_abi(pair_abi, "Sync"), EventAbi.from_abi(pair_abi, "Swap"),
                   EventAbi.from_abi(factory_abi, "PairCreated"))

    @property
    def pool_topics(self) -> tuple[str, str]:
        """topic0 of the pair events a history stores (Sync, Swap)."""
        return (self.sync.topic, self.swap.topic)


def _quantity(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        raise ValueError(f"{key} is {value!r}, not a hex quantity")
    try:
        return int(value, 16)
    except ValueError:
        raise ValueError(f"{key} is {value!r}, not a hex quantity") from None


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise ValueError(f"{what} is {str(value)[:80]!r}, not 0x-hex bytes")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{what} is {value[:80]!r}, not 0x-hex bytes") from None


def _address(raw: Any, what: str) -> str:
    data = _hex_bytes(raw, what)
    if len(data) != 20:
        raise ValueError(f"{what} has {len(data)} bytes, an address has 20")
    return checksummed(data)


def _static(word: bytes, kind: str, name: str) -> Any:
    value = int.from_bytes(word, "big")
    if kind == "address":
        if value >> 160:
            raise ValueError(f"{name} is not an address (the high 12 bytes are not zero)")
        return checksummed(word[12:])
    if kind == "bool":
        if value > 1:
            raise ValueError(f"{name} is {value}, not a bool")
        return bool(value)
    bits = int(kind[4:] or 256)
    if value >> bits:
        raise ValueError(f"{name} is {value}, wider than {kind}")
    return value


def decode_args(event: EventAbi, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
    """The event's arguments by name, from its topics (after topic0) and its data words."""
    if len(topics) != event.indexed + 1:
        raise ValueError(f"{event.name} has {event.indexed + 1} topics, the log has {len(topics)}")
    words = len(event.inputs) - event.indexed
    if len(data) != WORD * words:
        raise ValueError(f"{event.name} data is {len(data)} bytes, expected {WORD * words}")
    args: dict[str, Any] = {}
    t = d = 0
    for name, kind, indexed in event.inputs:
        if indexed:
            t += 1
            args[name] = _static(topics[t], kind, name)
        else:
            args[name] = _static(data[d * WORD:(d + 1) * WORD], kind, name)
            d += 1
    return args


def _one(raw: Any, events: V2Events, first: int, last: int, position: int) -> Decoded:
    if not isinstance(raw, Mapping):
        raise MalformedLog(None, None, f"not a log object: {str(raw)[:80]!r}", position=position)
    block = log_index = None
    try:
        block = _quantity(raw, "blockNumber")
        log_index = _quantity(raw, "logIndex")
        if raw.get("removed") is True:
            raise ValueError("removed: the node reorganised this log away")
        if not first <= block <= last:
            raise ValueError(f"outside the asked range {first}..{last}")
        emitter = _address(raw.get("address"), "address")
        topics_raw = raw.get("topics")
        if not isinstance(topics_raw, list) or not topics_raw:
            raise ValueError(f"topics is {str(topics_raw)[:80]!r}, not a non-empty list")
        topics = [_hex_bytes(t, f"topic {k}") for k, t in enumerate(topics_raw)]
        if any(len(t) != WORD for t in topics):
            raise ValueError("a topic is not 32 bytes")
        data = _hex_bytes(raw.get("data"), "data")
        topic0 = "0x" + topics[0].hex()
        if topic0 == events.sync.topic:
            a = decode_args(events.sync, topics, data)
            return SyncLog(block, log_index, emitter, a["reserve0"], a["reserve1"])
        if topic0 == events.swap.topic:
            a = decode_args(events.swap, topics, data)
            return SwapLog(block, log_index, emitter, a["sender"], a["to"], a["amount0In"], a["amount1In"],
                           a["amount0Out"], a["amount1Out"])
        if topic0 == events.pair_created.topic:
            a = decode_args(events.pair_created, topics, data)
            return PairCreatedLog(block, log_index, emitter, a["token0"], a["token1"], a["pair"], a[""])
        raise ValueError(f"topic0 {topic0} is none of {events.sync.name}, {events.swap.name}, "
                         f"{events.pair_created.name}: not asked for")
    except ValueError as exc:
        raise MalformedLog(block, log_index, str(exc), position=position) from None


def decode_logs(answer: Any, events: V2Events, first: int, last: int) -> list[Decoded]:
    """Decode one eth_getLogs answer for blocks first..last; sorted by (block, log index), each log once."""
    if not isinstance(answer, list):
        raise MalformedLog(None, None, f"eth_getLogs answered {str(answer)[:80]!r}, not a list of logs")
    out = [_one(raw, events, first, last, k) for k, raw in enumerate(answer)]
    for k in range(1, len(out)):
        prev, cur = (out[k - 1].block, out[k - 1].log_index), (out[k].block, out[k].log_index)
        if cur == prev:
            raise MalformedLog(cur[0], cur[1], "listed twice in the answer", position=k)
        if cur < prev:
            raise MalformedLog(cur[0], cur[1], f"out of order: after block {prev[0]} log index {prev[1]}",
                               position=k)
    return out


def log_block_hashes(answer: list[Any]) -> dict[int, str]:
    """blockHash of every block the (already decoded, so well-formed) logs name; for the reorg check."""
    hashes: dict[int, str] = {}
    for raw in answer:
        block = int(raw["blockNumber"], 16)
        value = raw.get("blockHash")
        if not isinstance(value, str):
            raise MalformedLog(block, int(raw["logIndex"], 16), f"blockHash is {value!r}")
        if hashes.setdefault(block, value.lower()) != value.lower():
            raise MalformedLog(block, int(raw["logIndex"], 16), "two block hashes for one block in one answer")
    return hashes
