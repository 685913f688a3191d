"""The proxy server: aiohttp on one shared asyncio loop thread, HTTP and WebSocket on one port."""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from devnet.fault_proxy.spec import FaultSpec, parse_faults

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


_READ_METHODS_AT_HEAD = ("latest", "pending", "safe", "finalized")


class FaultProxy:
    """Forwards JSON-RPC over HTTP and WebSocket (same port) to `upstream`, injecting `faults`.

    Use as a context manager or call `start()` / `stop()`. `url` and `ws_url` are where clients
    connect. `stats()` counts requests, notifications and each fault injected, so a test can tell
    that a fault really happened.
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

    def start(self) -> FaultProxy:
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
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
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
        with self._lock:
            return dict(self._counts)

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
        calls = _decode_calls(body)
        batch = body.lstrip()[:1] == b"["
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
            return web.Response(body=_rpc_errors(calls, spec.rpc_error[0], batch), content_type="application/json")
        if self._hit(spec.html):
            self._count("html")
            return web.Response(text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
        if spec.stale and calls is not None:
            body = _freeze_request(calls, spec.stale_at or 0, batch) or body
        try:
            assert self._session is not None
            async with self._session.post(
                self.upstream, data=body, headers={"Content-Type": "application/json"}
            ) as up:
                status, payload = up.status, await up.read()
        except (aiohttp.ClientError, OSError) as e:
            self._count("upstream_down")
            return web.Response(status=502, text=f"fault proxy: upstream unreachable: {type(e).__name__}")
        if calls is not None and (spec.chain_id is not None or spec.stale):
            payload = _rewrite_answers(payload, _ids_by_method(calls, spec), spec)
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
            calls = _decode_calls(msg.data.encode())
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
                if spec.stale and _beyond(obj, spec.stale_at or 0):
                    self._count("ws_stale")
                    continue
                if spec.ws_delay and self._hit(spec.ws_delay.p):
                    self._count("ws_delayed")
                    await asyncio.sleep(spec.ws_delay.sample(self._rng))
                self._count("ws_notification")
            elif isinstance(obj, dict) and (spec.chain_id is not None or spec.stale):
                data = _rewrite_answers(data.encode(), ids, spec).decode()
            await client.send_str(data)


# ---- JSON-RPC rewriting helpers (pure) -----------------------------------------------------------


def _decode_calls(body: bytes) -> list[dict[str, Any]] | None:
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    items = obj if isinstance(obj, list) else [obj]
    return [c for c in items if isinstance(c, dict)]


def _ids_by_method(calls: list[dict[str, Any]], spec: FaultSpec) -> dict[str, set[Any]]:
    """Ids of the calls whose answers a fault rewrites ("above_head": blocks a stale node lacks)."""
    ids: dict[str, set[Any]] = {"eth_chainId": set(), "eth_blockNumber": set(), "above_head": set()}
    for c in calls:
        method, params = c.get("method"), c.get("params") or [None]
        if method in ids:
            ids[method].add(c.get("id"))
        elif method == "eth_getBlockByNumber" and spec.stale and _hex_above(params[0], spec.stale_at or 0):
            ids["above_head"].add(c.get("id"))
    return ids


def _hex_above(number: object, head: int) -> bool:
    return isinstance(number, str) and number.startswith("0x") and int(number, 16) > head


def _rpc_errors(calls: list[dict[str, Any]] | None, code: int, batch: bool) -> bytes:
    errors = [
        {"jsonrpc": "2.0", "id": c.get("id"), "error": {"code": code, "message": "fault: injected error"}}
        for c in calls or [{"id": None}]
    ]
    return msgspec.json.encode(errors if batch else errors[0])


def _freeze_request(calls: list[dict[str, Any]], head: int, batch: bool) -> bytes | None:
    """Point eth_getBlockByNumber("latest") at the frozen head; None if nothing changed."""
    changed = False
    for c in calls:
        params = c.get("params")
        if c.get("method") == "eth_getBlockByNumber" and params and params[0] in _READ_METHODS_AT_HEAD:
            params[0] = hex(head)
            changed = True
    return msgspec.json.encode(calls if batch else calls[0]) if changed else None


def _rewrite_answers(payload: bytes, ids: Mapping[str, set[Any]], spec: FaultSpec) -> bytes:
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
    return msgspec.json.encode(obj) if changed else payload


def _beyond(notification: dict[str, Any], head: int) -> bool:
    """A newHeads or logs notification for a block above the frozen head."""
    result = (notification.get("params") or {}).get("result")
    if not isinstance(result, dict):
        return False
    number = result.get("number", result.get("blockNumber"))
    return isinstance(number, str) and int(number, 16) > head
