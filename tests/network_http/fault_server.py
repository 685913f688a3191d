"""A small fault-injecting JSON-RPC server in front of anvil, for these tests only.

It runs on its own asyncio loop thread (not the shared io loop the client uses), forwards to an
upstream node, counts requests per JSON-RPC method, and misbehaves on demand:
ok | latency:<s>[@<share>] | 500 | 429:<retry-after> | rpc_error | garbage | html | truncated | mismatch |
huge | drop | stall | chainid | stale. `kill()` stops listening (connections refused); `restart()`
listens again on the same port.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
from typing import Any

import aiohttp
import msgspec
from aiohttp import web


class FaultServer:
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        self.upstream = upstream
        self.mode = "ok"
        self.frozen_head: str | None = None
        self.counts: collections.Counter[str] = collections.Counter()
        self.random = random.Random(seed)
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="fault-server")
        self._thread.start()
        ready.wait()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._call(self._start())

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=1 << 26)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode

    def kill(self) -> None:
        self._call(self._stop())

    def restart(self) -> None:
        self._call(self._start())

    def method_count(self, *methods: str) -> int:
        with self._lock:
            return sum(self.counts[m] for m in methods)

    def seen_more_than(self, method: str, count: int) -> bool:
        return self.method_count(method) > count

    def snapshot_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def close(self) -> None:
        async def shutdown() -> None:
            await self._stop()
            if self._session is not None:
                await self._session.close()
            current = asyncio.current_task()
            stalled = [t for t in asyncio.all_tasks() if t is not current]
            for task in stalled:
                task.cancel()
            await asyncio.gather(*stalled, return_exceptions=True)

        try:
            self._call(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        decoded = msgspec.json.decode(body)
        calls = decoded if isinstance(decoded, list) else [decoded]
        with self._lock:
            for call in calls:
                self.counts[call.get("method", "?")] += 1
            mode = self.mode
        name, _, arg = mode.partition(":")
        if name == "latency":
            delay, _, share = arg.partition("@")
            if not share or self.random.random() < float(share):
                await asyncio.sleep(float(delay))
            name = "ok"
        match name:
            case "500":
                return web.Response(status=500, text="internal error")
            case "429":
                return web.Response(status=429, text="slow down", headers={"Retry-After": arg or "1"})
            case "rpc_error":
                return web.json_response({"jsonrpc": "2.0", "id": calls[0].get("id"),
                                          "error": {"code": -32603, "message": "internal error"}})
            case "garbage":
                return web.Response(status=200, body=b"\x00\xff not json at all {", content_type="application/json")
            case "html":
                return web.Response(status=200, text="<html><body>502 Bad Gateway</body></html>",
                                    content_type="text/html")
            case "huge":
                resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
                await resp.prepare(request)
                await resp.write(b'{"jsonrpc":"2.0","id":1,"result":"' + b"0" * (4 << 20))
                return resp
            case "huge_declared":
                resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                               "Content-Length": str(1 << 30)})
                await resp.prepare(request)
                await resp.write(b'{"jsonrpc":"2.0","id":1,"result":"')
                return resp
            case "drop":
                assert request.transport is not None
                request.transport.abort()
                return web.Response(status=500)
            case "stall":
                await asyncio.sleep(3600)
        answer = await self._forward(body)
        if name == "truncated":
            full = msgspec.json.encode(answer)
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                           "Content-Length": str(len(full))})
            await resp.prepare(request)
            await resp.write(full[: len(full) // 2])
            assert request.transport is not None
            request.transport.abort()
            return resp
        answer = self._rewrite(name, answer, calls)
        return web.Response(status=200, body=msgspec.json.encode(answer), content_type="application/json")

    async def _forward(self, body: bytes) -> Any:
        assert self._session is not None
        async with self._session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as r:
            return msgspec.json.decode(await r.read())

    def _rewrite(self, name: str, answer: Any, calls: list[dict[str, Any]]) -> Any:
        answers = answer if isinstance(answer, list) else [answer]
        for call, ans in zip(calls, answers):
            method = call.get("method")
            if name == "mismatch":
                ans["id"] = (ans.get("id") or 0) + 7777
            elif name == "chainid" and method == "eth_chainId":
                ans["result"] = "0x1"
            elif name == "stale" and method == "eth_blockNumber":
                with self._lock:
                    if self.frozen_head is None:
                        self.frozen_head = ans.get("result")
                ans["result"] = self.frozen_head
        if name != "stale":
            self.frozen_head = None
        return answer
