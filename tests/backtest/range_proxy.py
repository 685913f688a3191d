"""A JSON-RPC proxy in front of anvil that behaves like hosted providers' eth_getLogs limits (a test fixture).

    with RangeProxy(anvil_url, max_range=5) as proxy:   # wider eth_getLogs ranges are refused
        proxy.url ...

Refusal styles: "results" (-32005 "query returned more than 10000 results", Infura's), "size"
(-32602 "Log response size exceeded", Alchemy's), "slow" (the answer is held `slow_s`, past the
client's timeout). `garbage_block` mangles the data of the first log of that block in every
eth_getLogs answer. `delay_s` holds every eth_getLogs answer that long (to give a kill time to
land mid-run). Everything else is forwarded untouched. `asked` lists the (from, to) of every
eth_getLogs seen and `refused` the ones turned down.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import msgspec
from aiohttp import web


class RangeProxy:
    def __init__(self, upstream: str, *, max_range: int | None = None, style: str = "results",
                 slow_s: float = 5.0, delay_s: float = 0.0) -> None:
        self.upstream = upstream
        self.max_range = max_range
        self.style = style
        self.slow_s = slow_s
        self.delay_s = delay_s
        self.garbage_block: int | None = None
        self.asked: list[tuple[int, int]] = []
        self.refused: list[tuple[int, int]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="range-proxy", daemon=True)
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RangeProxy:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, body: bytes) -> bytes:
        assert self._session is not None
        async with self._session.post(self.upstream, data=body, headers={"content-type": "application/json"}) as r:
            return await r.read()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        call: Any = msgspec.json.decode(body)
        if not isinstance(call, dict) or call.get("method") != "eth_getLogs":
            return web.Response(body=await self._forward(body), content_type="application/json")
        spec = call["params"][0]
        first, last = int(spec["fromBlock"], 16), int(spec["toBlock"], 16)
        self.asked.append((first, last))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.max_range is not None and last - first + 1 > self.max_range:
            self.refused.append((first, last))
            if self.style == "slow":
                await asyncio.sleep(self.slow_s)
            else:
                code, message = (-32005, "query returned more than 10000 results") if self.style == "results" else \
                    (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block "
                             "range and no limit on the response size")
                return web.json_response({"jsonrpc": "2.0", "id": call["id"],
                                          "error": {"code": code, "message": message}})
        answer: Any = msgspec.json.decode(await self._forward(body))
        if self.garbage_block is not None and isinstance(answer.get("result"), list):
            for item in answer["result"]:
                if int(item["blockNumber"], 16) == self.garbage_block:
                    item["data"] = item["data"][:-6]  # three bytes short
                    break
        return web.json_response(answer)
