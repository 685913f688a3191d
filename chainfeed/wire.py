"""Node JSON (eth_getBlockByNumber, eth_getLogs, subscription notifications) to feed values, strictly.

A malformed object raises `MalformedChainData` naming the field, so a lying endpoint is caught at
the edge and never reaches the feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.chain import BlockHeader, ChainLog


class MalformedChainData(ValueError):
    """A header or log from a node lacks a field or has one of the wrong shape."""

    def __init__(self, what: str, field: str, value: object) -> None:
        super().__init__(f"malformed {what}: field {field!r} = {value!r:.80}")
        self.what = what
        self.field = field


def _hex(obj: Mapping[str, Any], field: str, what: str) -> str:
    """obj[field] when it is a 0x-prefixed string; MalformedChainData naming the field otherwise."""
    value = obj.get(field)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedChainData(what, field, value)
    return value


def _hex_int(obj: Mapping[str, Any], field: str, what: str) -> int:
    value = _hex(obj, field, what)
    try:
        return int(value, 16)
    except ValueError:
        raise MalformedChainData(what, field, value) from None


def _hash(obj: Mapping[str, Any], field: str, what: str) -> str:
    return _hex(obj, field, what).lower()


def header_from_json(obj: object) -> BlockHeader:
    if not isinstance(obj, Mapping):
        raise MalformedChainData("header", "(object)", obj)
    return BlockHeader(
        number=_hex_int(obj, "number", "header"),
        hash=_hash(obj, "hash", "header"),
        parent_hash=_hash(obj, "parentHash", "header"),
        timestamp=_hex_int(obj, "timestamp", "header"),
    )


def log_from_json(obj: object) -> ChainLog:
    if not isinstance(obj, Mapping):
        raise MalformedChainData("log", "(object)", obj)
    topics = obj.get("topics")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise MalformedChainData("log", "topics", topics)
    data = obj.get("data")
    if not isinstance(data, str):
        raise MalformedChainData("log", "data", data)
    return ChainLog(
        address=_hash(obj, "address", "log"),
        topics=tuple(t.lower() for t in topics),
        data=data,
        block_number=_hex_int(obj, "blockNumber", "log"),
        block_hash=_hash(obj, "blockHash", "log"),
        transaction_hash=_hash(obj, "transactionHash", "log"),
        transaction_index=_hex_int(obj, "transactionIndex", "log"),
        log_index=_hex_int(obj, "logIndex", "log"),
        removed=bool(obj.get("removed", False)),
    )
