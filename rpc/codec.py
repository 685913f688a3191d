"""JSON-RPC 2.0 wire format with msgspec: encode requests and batches, decode and vet answers.

Decoding is where lying or broken endpoints are caught: invalid JSON, HTML served with status 200,
a body of the wrong shape, an answer whose id we never sent, a batch answer missing an id. Each is an
`EndpointFault` with a kind, so the caller retries elsewhere and the endpoint is charged for it.
A JSON-RPC error object is either an answer (`RpcError`: revert, invalid params) or, for the few
codes that mean the node itself is unwell or throttling, a fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from protocol.network import FaultKind
from rpc.errors import EndpointFault, RpcError


class RpcRequest(msgspec.Struct, frozen=True, omit_defaults=False):
    jsonrpc: str
    id: int
    method: str
    params: Any


class RpcErrorObject(msgspec.Struct, frozen=True):
    code: int
    message: str = ""
    data: Any = None


class RpcAnswer(msgspec.Struct, frozen=True):
    """One decoded answer: exactly one of result / error is set (result may legitimately be null)."""

    id: int | str | None = None
    result: Any = msgspec.UNSET
    error: RpcErrorObject | None = None

    def unwrap(self, method: str) -> Any:
        """The result, or the error object raised as `RpcError`."""
        if self.error is not None:
            raise RpcError(method, self.error.code, self.error.message, self.error.data)
        return self.result

    def to_dict(self) -> dict[str, Any]:
        """The answer as web3.py's RPCResponse dict."""
        out: dict[str, Any] = {"jsonrpc": "2.0", "id": self.id}
        if self.error is not None:
            err: dict[str, Any] = {"code": self.error.code, "message": self.error.message}
            if self.error.data is not None:
                err["data"] = self.error.data
            out["error"] = err
        else:
            out["result"] = self.result
        return out


_encoder = msgspec.json.Encoder()
_single = msgspec.json.Decoder(RpcAnswer)
_batch = msgspec.json.Decoder(list[RpcAnswer])
_either = msgspec.json.Decoder(RpcAnswer | list[RpcAnswer])


def encode_request(method: str, params: Any, request_id: int) -> bytes:
    return _encoder.encode(RpcRequest("2.0", request_id, method, list(params) if params is not None else []))


def encode_batch(calls: Sequence[tuple[str, Any]], first_id: int) -> bytes:
    return _encoder.encode(
        [
            RpcRequest("2.0", first_id + i, method, list(params) if params is not None else [])
            for i, (method, params) in enumerate(calls)
        ]
    )


def _describe(body: bytes) -> str:
    head = body[:60].decode("utf-8", "replace").replace("\n", " ")
    return f"{len(body)} bytes starting {head!r}"


def _vet(answer: RpcAnswer) -> RpcAnswer:
    if answer.error is None and answer.result is msgspec.UNSET:
        raise EndpointFault(FaultKind.GARBAGE, f"answer id={answer.id!r} has neither result nor error")
    if answer.error is not None:
        kind = rpc_error_fault(answer.error.code, answer.error.message)
        if kind is not None:
            raise EndpointFault(kind, f"JSON-RPC error {answer.error.code}: {answer.error.message[:120]}")
    return answer


def decode_answer(body: bytes, request_id: int) -> RpcAnswer:
    """Decode the answer to one request; raise `EndpointFault` when it is not a usable answer to it."""
    try:
        answer = _either.decode(body)
    except msgspec.DecodeError as e:
        raise EndpointFault(_bad_body_kind(body), f"{e}; {_describe(body)}") from None
    if isinstance(answer, list):
        # Some servers answer a single request with a one-element batch, or an error batch.
        if len(answer) != 1:
            raise EndpointFault(FaultKind.GARBAGE, f"array of {len(answer)} answers to a single request")
        answer = answer[0]
    if answer.id != request_id:
        if answer.id is None and answer.error is not None:
            # A server-wide error (parse error, rate limit) comes back with id null.
            _vet(answer)
        raise EndpointFault(FaultKind.MISMATCHED_ID, f"sent id {request_id}, got {answer.id!r}")
    return _vet(answer)


def decode_batch(body: bytes, first_id: int, count: int) -> list[RpcAnswer]:
    """Decode a batch answer into request order; any missing, extra or duplicated id is a fault."""
    try:
        answers = _either.decode(body)
    except msgspec.DecodeError as e:
        raise EndpointFault(_bad_body_kind(body), f"{e}; {_describe(body)}") from None
    if not isinstance(answers, list):
        _vet(answers)  # a single error object (throttled, overloaded) instead of the batch
        raise EndpointFault(FaultKind.GARBAGE, "a single answer to a batch request")
    by_id: dict[Any, RpcAnswer] = {}
    for answer in answers:
        if answer.id in by_id:
            raise EndpointFault(FaultKind.MISMATCHED_ID, f"id {answer.id!r} answered twice")
        by_id[answer.id] = answer
    expected = range(first_id, first_id + count)
    if len(by_id) != count or any(i not in by_id for i in expected):
        raise EndpointFault(
            FaultKind.MISMATCHED_ID,
            f"sent ids {first_id}..{first_id + count - 1}, got {sorted(map(str, by_id))[:8]}",
        )
    return [_vet(by_id[i]) for i in expected]


def _bad_body_kind(body: bytes) -> FaultKind:
    """Tell a body that ended early from one that was never JSON-RPC (both are faults)."""
    stripped = body.strip()
    if stripped[:1] in (b"{", b"[") and not stripped.endswith((b"}", b"]")):
        return FaultKind.TRUNCATED
    return FaultKind.GARBAGE


# JSON-RPC error codes that are the node's fault or throttling, not the call's (EIP-1474 and common nodes).
_THROTTLE_CODES = frozenset({-32005, 429})
_NODE_FAULT_CODES = frozenset({-32603})  # internal error
_THROTTLE_WORDS = ("rate limit", "limit exceeded", "too many requests", "exceeded the quota")
_NODE_FAULT_WORDS = ("header not found", "unknown block", "internal error", "backend", "timeout")
_ANSWER_WORDS = ("revert", "execution", "nonce", "gas", "insufficient", "invalid", "already known")
#: eth_getLogs over too wide a range: providers say so with -32005 or "limit exceeded", yet it is the
#: request's fault (every node would refuse it the same way): an answer the caller narrows, not throttling.
RANGE_REFUSAL_WORDS = ("query returned more than", "response size", "block range", "range is too", "range too",
                       "too many results", "too many logs", "results limit", "logs limit")


def is_range_refusal(message: str) -> bool:
    """True when a JSON-RPC error says the asked block range (or its result) is too large."""
    text = message.lower()
    return any(w in text for w in RANGE_REFUSAL_WORDS)


def rpc_error_fault(code: int, message: str) -> FaultKind | None:
    """The fault a JSON-RPC error object stands for, or None when it is the chain's answer to the call.

    Reverts and other execution errors (code 3, -32000 with an execution message), invalid params and
    unknown methods are answers: every honest node would say the same, so failing over would only
    repeat them. Throttling and internal errors are the node's own trouble.
    """
    text = message.lower()
    if is_range_refusal(text):
        return None
    if code in _THROTTLE_CODES or any(w in text for w in _THROTTLE_WORDS):
        return FaultKind.RATE_LIMITED
    if any(w in text for w in _ANSWER_WORDS):
        return None
    if code in _NODE_FAULT_CODES or any(w in text for w in _NODE_FAULT_WORDS):
        return FaultKind.SERVER_ERROR
    return None
