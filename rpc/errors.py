"""Errors of the RPC layer, each naming what failed.

`EndpointFault` is an endpoint's problem (retry elsewhere, count it against that endpoint);
`RpcError` is the chain's answer to the call (a revert is an answer: never fail over on it);
`RpcUnavailable` is what a caller sees when no endpoint produced an answer within the deadline.
"""

from __future__ import annotations

from typing import Any

from protocol.network import FaultKind


class EndpointFault(Exception):
    """An endpoint failed to answer usably; `kind` says how. `retry_after_s` comes with RATE_LIMITED,
    `heads` (the endpoint's head, the best reported one) with STALE."""

    def __init__(
        self, kind: FaultKind, detail: str = "", *, endpoint: str = "", retry_after_s: float | None = None,
        heads: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(f"{endpoint or 'endpoint'}: {kind.value}{': ' + detail if detail else ''}")
        self.kind = kind
        self.detail = detail
        self.endpoint = endpoint
        self.retry_after_s = retry_after_s
        self.heads = heads

    def at(self, endpoint: str) -> EndpointFault:
        """The same fault, naming the endpoint it happened at."""
        return EndpointFault(self.kind, self.detail, endpoint=endpoint, retry_after_s=self.retry_after_s,
                             heads=self.heads)


class RpcError(Exception):
    """A JSON-RPC error object returned as the answer (execution reverted, invalid params, ...)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(Exception):
    """No endpoint answered `method` usably before its deadline; `attempts` lists (endpoint, fault)."""

    def __init__(self, method: str, attempts: list[tuple[str, str]], reason: str = "") -> None:
        tried = ", ".join(f"{name}={fault}" for name, fault in attempts) or "no endpoint tried"
        super().__init__(f"{method}: no usable answer ({reason + '; ' if reason else ''}{tried})")
        self.method = method
        self.attempts = attempts
        self.reason = reason
