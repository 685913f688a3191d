"""The proxy server: aiohttp on one shared asyncio loop thread, HTTP and WebSocket on one port."""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from devnet.fault_proxy.answers import (
    FILLER,
    beyond,
    decode_calls,
    freeze_request,
    ids_by_method,
    oversize_frame,
    rewrite_answers,
    rpc_errors,
    wrong_ids,
)
from devnet.fault_proxy.spec import FaultSpec, Oversize, parse_faults

# ---- the proxy --------------------------------------------------------------------------------


class _ProxyLoop:
    """The one asyncio loop thread every proxy of the process runs on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fault-proxy", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        if threading.current_thread() is self.thread:
            raise RuntimeError("FaultProxy's blocking API was called from the proxy loop itself")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


_shared: _ProxyLoop | None = None
_shared_lock = threading.Lock()


def _proxy_loop() -> _ProxyLoop:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _ProxyLoop()
        return _shared


class FaultProxy:
    """Forwards JSON-RPC over HTTP and WebSocket (same port) to `upstream`, injecting `faults`.

    Use as a context manager or call `start()` / `stop()`. `url` and `ws_url` are where clients
    connect. `stats()` counts requests, notifications, each fault injected (so a test can tell that
    a fault really happened) and the JSON-RPC calls received per method (`method:eth_call`).

    A stopped proxy can be started again: it listens on the same port, so clients configured with
    its `url` see an endpoint that went away and came back (connections refused in between).
    Counts carry over a restart; faults too.
    """

    def __init__(self, upstream: str, *, name: str = "", seed: int = 0, host: str = "127.0.0.1") -> None:
        self.name = name or upstream
        self.upstream = upstream.rstrip("/")
        self.upstream_ws = re.sub(r"^http", "ws", self.upstream)
        self.host = host
        self.port = 0
        self._spec = FaultSpec()
        self._rng = random.Random(seed)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = _proxy_loop()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._release: asyncio.Event | None = None

    # -- lifecycle (any thread but the proxy loop) --
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> FaultProxy:
        """Listen (again): on a free port the first time, on the same port after a `stop()`."""
        if self._runner is None:
            self._loop.run(self._start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._loop.run(self._stop(), timeout=15.0)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        self._release = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            await self._session.close()
            self._runner = None
            raise OSError(e.errno, f"fault proxy {self.name}: cannot listen on {self.host}:{self.port}: {e}") from e
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop(self) -> None:
        assert self._runner is not None and self._session is not None
        self._release_stalls()
        await self._close_sockets(1.0, b"fault proxy stopped")
        await self._runner.cleanup()
        await self._session.close()
        self._runner = None

    # -- faults (thread-safe: the spec is swapped whole) --
    @property
    def faults(self) -> FaultSpec:
        return self._spec

    def set_faults(self, spec: FaultSpec) -> FaultSpec:
        """Replace the faults; resolves `stale` to the upstream's head and drops sockets for `wsdrop`."""
        if spec.stale and spec.stale_at is None:
            spec = msgspec.structs.replace(spec, stale_at=self._loop.run(self._upstream_head()))
        old, self._spec = self._spec, spec
        if old.stall and spec.stall < 1.0:
            self._loop.loop.call_soon_threadsafe(self._release_stalls)
        if spec.ws_drop:
            self._loop.run(self._close_sockets(spec.ws_drop))
        return spec

    def apply(self, text: str) -> FaultSpec:
        """Parse `text` on top of the current faults and install the result."""
        return self.set_faults(parse_faults(text, self._spec))

    def clear(self) -> FaultSpec:
        return self.set_faults(FaultSpec())

    def drop_websockets(self) -> int:
        """Close every open WebSocket now (a one-off, whatever the faults); returns how many."""
        n = len(self._sockets)
        self._loop.run(self._close_sockets(1.0))
        return n

    def stats(self) -> dict[str, int]:
        """Counters: `http`, `ws_connect`, one per fault injected, and `method:<name>` per JSON-RPC call."""
        with self._lock:
            return dict(self._counts)

    def calls(self, *methods: str) -> int:
        """How many JSON-RPC calls of these methods reached the proxy (HTTP and WS, batches counted per call)."""
        with self._lock:
            return sum(self._counts[f"method:{m}"] for m in methods)

    def _count_calls(self, calls: list[dict[str, Any]] | None) -> None:
        with self._lock:
            for c in calls or ():
                self._counts[f"method:{c.get('method')}"] += 1

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def _hit(self, p: float) -> bool:
        return p > 0.0 and (p >= 1.0 or self._rng.random() < p)

    def _release_stalls(self) -> None:
        if self._release is not None:
            self._release.set()
            self._release = asyncio.Event()

    async def _close_sockets(self, p: float, why: bytes = b"fault: wsdrop") -> None:
        for ws in list(self._sockets):
            if self._hit(p):
                self._count("ws_dropped")
                await ws.close(code=1012, message=why)

    async def _upstream_head(self) -> int:
        assert self._session is not None
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        async with self._session.post(self.upstream, json=body) as resp:
            return int((await resp.json())["result"], 16)

    # -- HTTP --
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        spec = self._spec
        self._count("http")
        body = await request.read()
        calls = decode_calls(body)
        self._count_calls(calls)
        batch = body.lstrip()[:1] == b"["
        if spec.only and not any(c.get("method") in spec.only for c in calls or ()):
            spec = FaultSpec()  # scoped faults: this request calls none of their methods
        if spec.latency and self._hit(spec.latency.p):
            self._count("latency")
            await asyncio.sleep(spec.latency.sample(self._rng))
        if self._hit(spec.drop):
            self._count("drop")
            request.transport.close()  # type: ignore[union-attr]
            return web.Response()
        if self._hit(spec.stall):
            self._count("stall")
            return await self._stall(request)
        if spec.http_error and self._hit(spec.http_error[1]):
            self._count(f"http_{spec.http_error[0]}")
            return web.Response(status=spec.http_error[0], text="fault: injected HTTP error")
        if spec.throttle and self._hit(spec.throttle[1]):
            self._count("http_429")
            retry = str(max(0, math.ceil(spec.throttle[0])))
            return web.Response(status=429, headers={"Retry-After": retry}, text="fault: rate limited")
        if spec.rpc_error and self._hit(spec.rpc_error[1]):
            self._count("rpc_error")
            return web.Response(body=rpc_errors(calls, spec.rpc_error[0], batch), content_type="application/json")
        if self._hit(spec.html):
            self._count("html")
            return web.Response(text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
        if spec.oversize and self._hit(spec.oversize.p):
            self._count("oversize")
            return await self._oversize(request, spec.oversize, calls, batch)
        if spec.stale and calls is not None:
            body = freeze_request(calls, spec.stale_at or 0, batch) or body
        try:
            assert self._session is not None
            async with self._session.post(
                self.upstream, data=body, headers={"Content-Type": "application/json"}
            ) as up:
                status, payload = up.status, await up.read()
        except (aiohttp.ClientError, OSError) as e:
            self._count("upstream_down")
            return web.Response(status=502, text=f"fault proxy: upstream unreachable: {type(e).__name__}")
        if calls is not None and (spec.chain_id is not None or spec.stale or spec.lie):
            payload = rewrite_answers(payload, ids_by_method(calls, spec), spec)
        if calls is not None and self._hit(spec.bad_id):
            self._count("bad_id")
            payload = wrong_ids(payload, calls)
        if self._hit(spec.garbage):
            self._count("garbage")
            junk = bytes(self._rng.getrandbits(8) for _ in range(64))
            return web.Response(body=junk, content_type="application/json")
        if self._hit(spec.truncate) and len(payload) > 1:
            self._count("truncate")
            resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
            resp.content_length = len(payload)
            await resp.prepare(request)
            await resp.write(payload[: len(payload) // 2])
            request.transport.close()  # type: ignore[union-attr]
            return resp
        return web.Response(status=status, body=payload, content_type="application/json")

    async def _oversize(
        self, request: web.Request, fault: Oversize, calls: list[dict[str, Any]] | None, batch: bool
    ) -> web.StreamResponse:
        head, tail = oversize_frame(calls, batch)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if fault.declared:
            resp.content_length = fault.size
        try:
            await resp.prepare(request)
            await resp.write(head)
            if fault.declared:
                request.transport.close()  # type: ignore[union-attr]
                return resp
            left = max(0, fault.size - len(head) - len(tail))
            while left > 0:
                chunk = FILLER if left >= len(FILLER) else FILLER[:left]
                await resp.write(chunk)
                left -= len(chunk)
            await resp.write(tail)
            await resp.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            self._count("oversize_refused")  # the client stopped reading: what a capped reader does
        return resp

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        release = self._release
        assert release is not None
        await release.wait()
        request.transport.close()  # type: ignore[union-attr]
        return web.Response()

    # -- WebSocket --
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self._count("ws_connect")
        if self._hit(self._spec.ws_drop):
            self._count("ws_refused")
            return web.Response(status=503, text="fault: wsdrop")
        assert self._session is not None
        try:
            upstream = await self._session.ws_connect(self.upstream_ws, max_msg_size=0)
        except (aiohttp.ClientError, OSError):
            self._count("upstream_down")
            return web.Response(status=502, text="fault proxy: upstream unreachable")
        client = web.WebSocketResponse(max_msg_size=0)
        await client.prepare(request)
        self._sockets.add(client)
        rewrite_ids: dict[str, set[Any]] = {"eth_chainId": set(), "eth_blockNumber": set()}
        pumps = [
            asyncio.ensure_future(self._client_to_upstream(client, upstream, rewrite_ids)),
            asyncio.ensure_future(self._upstream_to_client(upstream, client, rewrite_ids)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            self._sockets.discard(client)
            await upstream.close()
            await client.close()
        return client

    async def _client_to_upstream(
        self, client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, ids: dict[str, set[Any]]
    ) -> None:
        async for msg in client:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            calls = decode_calls(msg.data.encode())
            self._count_calls(calls)
            for c in calls or ():
                if c.get("method") in ids:
                    ids[c["method"]].add(c.get("id"))
            await upstream.send_str(msg.data)

    async def _upstream_to_client(
        self, upstream: aiohttp.ClientWebSocketResponse, client: web.WebSocketResponse, ids: dict[str, set[Any]]
    ) -> None:
        async for msg in upstream:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            spec, data = self._spec, msg.data
            try:
                obj = msgspec.json.decode(data)
            except msgspec.DecodeError:
                obj = None
            if isinstance(obj, dict) and obj.get("method") == "eth_subscription":
                if self._hit(spec.ws_drop):
                    self._count("ws_dropped")
                    return
                if self._hit(spec.ws_stall):
                    self._count("ws_stalled")
                    continue
                if self._hit(spec.ws_garbage):
                    self._count("ws_garbage")
                    obj["params"]["result"] = {"number": "0xnotanumber", "junk": self._rng.getrandbits(32)}
                    data = msgspec.json.encode(obj).decode()
                if spec.stale and beyond(obj, spec.stale_at or 0):
                    self._count("ws_stale")
                    continue
                if spec.ws_delay and self._hit(spec.ws_delay.p):
                    self._count("ws_delayed")
                    await asyncio.sleep(spec.ws_delay.sample(self._rng))
                self._count("ws_notification")
            elif isinstance(obj, dict) and (spec.chain_id is not None or spec.stale or spec.lie):
                data = rewrite_answers(data.encode(), ids, spec).decode()
            await client.send_str(data)
