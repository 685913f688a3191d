"""Cross-checking endpoints on sampled reads (eRPC's consensus policy). Pure: no I/O, no randomness.

A sampled read is asked again of several endpoints, pinned at one block every one of them has, so
honest endpoints must agree exactly: a balance, an eth_call result, a block's hash. An endpoint whose
answer differs from a strict majority of at least `MIN_QUORUM` agreeing endpoints is lying; with fewer
answers, or no strict majority, nobody is judged (two endpoints that disagree cannot say which one lies).
Errors and missing blocks (a null block: the endpoint has not got it yet) are no answer, not a lie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

#: Agreeing endpoints needed before a dissenter is called a liar.
MIN_QUORUM = 2
#: Block tags that move with the head; a sample replaces them with a pinned block number.
HEAD_TAGS = frozenset({"latest", "pending", "safe", "finalized"})
#: Methods a sample may cross-check, and where their block parameter sits.
BLOCK_PARAM: dict[str, int] = {
    "eth_getBalance": 1,
    "eth_call": 1,
    "eth_getCode": 1,
    "eth_getStorageAt": 2,
    "eth_getTransactionCount": 1,
    "eth_getBlockByNumber": 0,
}
#: Reads whose answer depends on the head: eth_blockNumber itself, and the above with a head tag (or none).
HEAD_READS = frozenset(BLOCK_PARAM) | {"eth_blockNumber"}


class Lie(NamedTuple):
    endpoint: str
    evidence: str


def names_head(method: str, params: Sequence[Any]) -> bool:
    """Does this read's answer depend on the endpoint's head (no block named, or a head tag)?"""
    if method == "eth_blockNumber":
        return True
    where = BLOCK_PARAM.get(method)
    if where is None:
        return False
    if len(params) <= where:
        return True  # the block parameter defaults to "latest"
    tag = params[where]
    return isinstance(tag, str) and tag in HEAD_TAGS


def sample_call(method: str, params: Sequence[Any], block: int) -> tuple[str, list[Any]] | None:
    """The read to ask every endpoint: the same one pinned at `block` (None: not cross-checkable).

    An eth_blockNumber read is checked through the hash of the block at `block`."""
    if method == "eth_blockNumber":
        return "eth_getBlockByNumber", [hex(block), False]
    where = BLOCK_PARAM.get(method)
    if where is None or len(params) < where:
        return None
    pinned = [*params[:where], hex(block)]
    if len(params) > where:
        tag = params[where]
        if not (isinstance(tag, str) and tag in HEAD_TAGS):
            pinned[where] = tag  # an explicit block number or EIP-1898 object: already pinned
    if method == "eth_getBlockByNumber":
        return method, [pinned[0], False]
    return method, pinned + list(params[where + 1:])


def answer_key(method: str, result: Any) -> bytes | None:
    """What must be equal between honest answers; None when the answer says nothing (no such block)."""
    if result is None:
        return None
    if method == "eth_getBlockByNumber":
        block_hash = result.get("hash") if isinstance(result, dict) else None
        return block_hash.lower().encode() if isinstance(block_hash, str) else None
    if isinstance(result, str):
        return result.lower().encode()
    return msgspec.json.encode(result)


def find_liars(method: str, params: Sequence[Any], answers: Mapping[str, Any]) -> list[Lie]:
    """The endpoints whose result differs from a strict majority of agreeing ones (see the module doc).

    `answers` maps endpoint -> result of the pinned read (errors left out by the caller)."""
    keyed = {name: key for name, result in answers.items() if (key := answer_key(method, result)) is not None}
    groups: dict[bytes, list[str]] = {}
    for name, key in keyed.items():
        groups.setdefault(key, []).append(name)
    if not groups:
        return []
    majority_key, majority = max(groups.items(), key=lambda item: len(item[1]))
    if len(majority) < MIN_QUORUM or 2 * len(majority) <= len(keyed):
        return []
    call = f"{method}({', '.join(_short(p) for p in params)})"
    said = _short(majority_key.decode("utf-8", "replace"))
    return [
        Lie(name, f"{call} = {_short(key.decode('utf-8', 'replace'))} where {len(majority)} of {len(keyed)} "
                  f"endpoints ({', '.join(sorted(majority))}) answered {said}")
        for name, key in sorted(keyed.items())
        if key != majority_key
    ]


def _short(value: Any, limit: int = 24) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."
