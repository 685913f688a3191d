"""JSON-RPC rewriting for the fault proxy: read the calls of a request, forge or alter answers.

Pure: bytes and decoded calls in, bytes out; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from devnet.fault_proxy.spec import FaultSpec

_READ_METHODS_AT_HEAD = ("latest", "pending", "safe", "finalized")



def decode_calls(body: bytes) -> list[dict[str, Any]] | None:
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    items = obj if isinstance(obj, list) else [obj]
    return [c for c in items if isinstance(c, dict)]


def ids_by_method(calls: list[dict[str, Any]], spec: FaultSpec) -> dict[str, set[Any]]:
    """Ids of the calls whose answers a fault rewrites ("above_head": blocks a stale node lacks)."""
    ids: dict[str, set[Any]] = {"eth_chainId": set(), "eth_blockNumber": set(), "above_head": set(),
                                **{m: set() for m in _LIE_METHODS}}
    for c in calls:
        method, params = c.get("method"), c.get("params") or [None]
        if method in _LIE_METHODS:
            ids[method].add(c.get("id"))
        if method in ("eth_chainId", "eth_blockNumber"):
            ids[method].add(c.get("id"))
        elif method == "eth_getBlockByNumber" and spec.stale and _hex_above(params[0], spec.stale_at or 0):
            ids["above_head"].add(c.get("id"))
    return ids


#: The methods whose answers `lie=` rewrites.
_LIE_METHODS = ("eth_getBalance", "eth_call", "eth_getBlockByNumber")
#: How far ahead `lie=head` claims the head is.
LIE_AHEAD_BY = 1000

FILLER = b"0" * 65536


def oversize_frame(calls: list[dict[str, Any]] | None, batch: bool) -> tuple[bytes, bytes]:
    """The start and end of a valid answer whose first result is a hex string of any length."""
    ids = [c.get("id") for c in calls or [{"id": None}]]
    head = b'{"jsonrpc":"2.0","id":' + msgspec.json.encode(ids[0]) + b',"result":"0x'
    rest = b"".join(b',{"jsonrpc":"2.0","id":' + msgspec.json.encode(i) + b',"result":"0x0"}' for i in ids[1:])
    return (b"[" + head, b'"}' + rest + b"]") if batch else (head, b'"}')


def wrong_ids(payload: bytes, calls: list[dict[str, Any]]) -> bytes:
    """Give every answer an id no call of this request had: integer ids move past the largest one sent."""
    try:
        obj = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return payload
    sent = [c.get("id") for c in calls]
    numbers = [i for i in sent if isinstance(i, int) and not isinstance(i, bool)]
    shift = (max(numbers) - min(numbers) + 7777) if numbers else 7777
    taken = {i for i in sent if isinstance(i, str)}
    for a in obj if isinstance(obj, list) else [obj]:
        if isinstance(a, dict):
            old = a.get("id")
            if isinstance(old, int) and not isinstance(old, bool):
                a["id"] = old + shift
            else:
                new = f"badid:{old}"
                while new in taken:  # a client may itself have sent "badid:..." ids
                    new = "badid:" + new
                a["id"] = new
    return msgspec.json.encode(obj)


def _hex_above(number: object, head: int) -> bool:
    return isinstance(number, str) and number.startswith("0x") and int(number, 16) > head


def rpc_errors(calls: list[dict[str, Any]] | None, code: int, batch: bool) -> bytes:
    errors = [
        {"jsonrpc": "2.0", "id": c.get("id"), "error": {"code": code, "message": "fault: injected error"}}
        for c in calls or [{"id": None}]
    ]
    return msgspec.json.encode(errors if batch else errors[0])


def freeze_request(calls: list[dict[str, Any]], head: int, batch: bool) -> bytes | None:
    """Point eth_getBlockByNumber("latest") at the frozen head; None if nothing changed."""
    changed = False
    for c in calls:
        params = c.get("params")
        if c.get("method") == "eth_getBlockByNumber" and params and params[0] in _READ_METHODS_AT_HEAD:
            params[0] = hex(head)
            changed = True
    return msgspec.json.encode(calls if batch else calls[0]) if changed else None


def rewrite_answers(payload: bytes, ids: Mapping[str, set[Any]], spec: FaultSpec) -> bytes:
    try:
        obj = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return payload
    items = obj if isinstance(obj, list) else [obj]
    changed = False
    for a in items:
        if not isinstance(a, dict) or "result" not in a:
            continue
        if spec.chain_id is not None and a.get("id") in ids["eth_chainId"]:
            a["result"], changed = hex(spec.chain_id), True
        elif spec.stale and a.get("id") in ids["eth_blockNumber"]:
            a["result"], changed = hex(spec.stale_at or 0), True
        elif spec.stale and a.get("id") in ids.get("above_head", ()):
            a["result"], changed = None, True  # a node stuck at its head has no later blocks
        if spec.lie and (forged := lie_about(a, ids, spec.lie)) is not None:
            a["result"], changed = forged, True
    return msgspec.json.encode(obj) if changed else payload


def lie_about(answer: dict[str, Any], ids: Mapping[str, set[Any]], lies: tuple[str, ...]) -> Any:
    """A wrong but well-formed result for this answer, or None to leave it (`lie=` faults)."""
    rid, result = answer.get("id"), answer.get("result")
    if "balance" in lies and rid in ids.get("eth_getBalance", ()) and isinstance(result, str):
        return hex(int(result, 16) + 10**18)  # one ether more than it holds
    if "call" in lies and rid in ids.get("eth_call", ()) and isinstance(result, str) and len(result) > 2:
        return result[:-1] + ("1" if result[-1] != "1" else "2")
    if "blockhash" in lies and rid in ids.get("eth_getBlockByNumber", ()) and isinstance(result, dict):
        block_hash = result.get("hash")
        if isinstance(block_hash, str):
            return {**result, "hash": "0x" + block_hash[:1:-1]}  # the digits reversed: well-formed, wrong
    if "head" in lies and rid in ids.get("eth_blockNumber", ()) and isinstance(result, str):
        return hex(int(result, 16) + LIE_AHEAD_BY)
    return None


def beyond(notification: dict[str, Any], head: int) -> bool:
    """A newHeads or logs notification for a block above the frozen head."""
    result = (notification.get("params") or {}).get("result")
    if not isinstance(result, dict):
        return False
    number = result.get("number", result.get("blockNumber"))
    return isinstance(number, str) and int(number, 16) > head
