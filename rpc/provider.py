"""web3.py 8 providers that route through `RpcClient`: failover and hedging with no other change.

    w3 = Web3(ArbiterProvider(client))
    aw3 = AsyncWeb3(AsyncArbiterProvider(client))

web3 hands the provider already-formatted params (hex strings, dicts); a few values may still be
bytes (HexBytes), which JSON-RPC wants as 0x-hex, not msgspec's base64, hence `jsonable`. A JSON-RPC
error comes back as web3's error dict, so web3 raises its usual exceptions (ContractLogicError...);
no usable answer from any endpoint raises `ProviderConnectionError`. Both run `RpcClient`'s one race
on the io loop: the sync provider waits for it in the caller's thread (`RpcClient.call`), the async
one awaits it from whatever loop web3 runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from web3.exceptions import ProviderConnectionError
from web3.providers import AsyncBaseProvider, JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from rpc.client import RpcClient
from rpc.codec import RpcAnswer
from rpc.errors import RpcUnavailable


def jsonable(value: Any) -> Any:
    """Params as JSON-RPC wants them: bytes as 0x-hex, mappings as dicts, sequences as lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _params(params: Any) -> list[Any]:
    if params is None:
        return []
    return cast(list[Any], jsonable(list(params)))


def _response(answer: RpcAnswer) -> RPCResponse:
    return cast(RPCResponse, answer.to_dict())


class ArbiterProvider(JSONBaseProvider):
    """A synchronous web3 provider over `RpcClient` (thread-safe, like the client)."""

    def __init__(self, client: RpcClient, *, timeout: float | None = None) -> None:
        super().__init__()
        self.client = client
        self.timeout = timeout

    def __str__(self) -> str:
        return "ArbiterProvider(routed)"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return _response(self.client.call(str(method), _params(params), timeout=self.timeout))
        except RpcUnavailable as e:
            raise ProviderConnectionError(str(e)) from e

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        calls = [(str(method), _params(params)) for method, params in requests]
        try:
            return [_response(a) for a in self.client.batch(calls, timeout=self.timeout)]
        except RpcUnavailable as e:
            raise ProviderConnectionError(str(e)) from e

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            return self.client.call("eth_chainId", [], timeout=self.timeout).error is None
        except RpcUnavailable as e:
            if show_traceback:
                raise ProviderConnectionError(str(e)) from e
            return False


class AsyncArbiterProvider(AsyncBaseProvider):
    """An asyncio web3 provider over `RpcClient`, usable from any event loop."""

    def __init__(self, client: RpcClient, *, timeout: float | None = None) -> None:
        super().__init__()
        self.client = client
        self.timeout = timeout

    async def _call(self, method: str, params: list[Any]) -> RpcAnswer:
        """On the io loop: the race in place; on another loop: started there, awaited here."""
        if self.client.on_io_loop():
            return await self.client.acall(method, params, timeout=self.timeout)
        answer: RpcAnswer = await asyncio.wrap_future(self.client.call_future(method, params, timeout=self.timeout))
        return answer

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            answer = await self._call(str(method), _params(params))
        except RpcUnavailable as e:
            raise ProviderConnectionError(str(e)) from e
        return _response(answer)

    async def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        calls = [(str(method), _params(params)) for method, params in requests]
        try:
            if self.client.on_io_loop():
                answers = await self.client.abatch(calls, timeout=self.timeout)
            else:
                answers = await asyncio.wrap_future(self.client.batch_future(calls, timeout=self.timeout))
        except RpcUnavailable as e:
            raise ProviderConnectionError(str(e)) from e
        return [_response(a) for a in answers]

    async def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            answer = await self._call("eth_chainId", [])
        except RpcUnavailable as e:
            if show_traceback:
                raise ProviderConnectionError(str(e)) from e
            return False
        return bool(answer.error is None)
