"""Real clients for the fault proxy tests: aiohttp for HTTP, websockets for WS."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import websockets


async def post(url: str, body: Any, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s,
        s.post(url, data=msgspec.json.encode(body), headers={"Content-Type": "application/json"}) as r,
    ):
        return r.status, dict(r.headers), await r.read()


def call(method: str, *params: Any, id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": list(params)}


async def rpc(url: str, method: str, *params: Any) -> Any:
    status, _, body = await post(url, call(method, *params))
    assert status == 200, body
    return msgspec.json.decode(body)["result"]


class WsClient:
    """A raw JSON-RPC WebSocket client: requests by id, notifications in a queue."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self.closed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, url: str) -> WsClient:
        return cls(await websockets.connect(url, open_timeout=5))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = msgspec.json.decode(raw)
                if msg.get("method") == "eth_subscription":
                    self.notifications.put_nowait(msg["params"]["result"])
                elif msg.get("id") in self._answers:
                    self._answers.pop(msg["id"]).set_result(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def request(self, method: str, *params: Any, timeout: float = 5.0) -> dict[str, Any]:
        self._next += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[self._next] = fut
        await self.ws.send(msgspec.json.encode(call(method, *params, id=self._next)).decode())
        return await asyncio.wait_for(fut, timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
