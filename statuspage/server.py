"""The status page's HTTP server: aiohttp on the shared io loop, behind the console's token.

    GET  /?token=T       checks T against the console's token, sets a session cookie, redirects to /
    GET  /               the page (self-contained HTML and JS) for a browser holding the cookie
    GET  /events         server-sent events: `view` events, each the whole view (statuspage.view)
    GET  /api/view       the current view as JSON
    GET  /api/trace/ID   one trace's spans (the console's `trace ID`)
    POST /api/estop      {"reason": "..."}: the console's `estop`, so it is audited the same way

The token is the console's (`<data_dir>/console.token`, re-read when the console writes a new one):
one secret for the operator, nothing new to keep. The cookie carries an HMAC of it, not the token,
HttpOnly and SameSite=Strict; a POST must also come from the page's own origin. Anything else is
answered 401 and counted. One publisher reads the bot every `interval_s` (off the loop, in a
worker thread, since two of the reads are asks) and pushes a view only when it changed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from loguru import logger

from console.registry import COMMANDS, CommandRegistry
from protocol.config import is_loopback
from protocol.secrets import redact
from statuspage.gather import Gatherer, trace_timeline
from statuspage.view import PageInputs, status_view
from supervision.io_loop import io_loop
from supervision.workers import FixedThreadPool

TOKEN_FILE = "console.token"  # the console's (console.server.TOKEN_FILE)
ENDPOINT_FILE = "status-page.json"
COOKIE = "arbiter_page"
#: How often the publisher reads the bot; a browser sees a change within about this long.
INTERVAL_S = 1.0
#: An SSE comment this often keeps idle proxies and the browser from timing the stream out.
HEARTBEAT_S = 15.0
#: What the browser waits before reconnecting a dropped stream (the SSE `retry` field).
RETRY_MS = 1000
MAX_REASON_CHARS = 500
#: A restarted page waits this long for the port it served before (its previous incarnation closing it).
PREVIOUS_PORT_WAIT_S = 5.0

_encoder = msgspec.json.Encoder()


class StatusPageError(Exception):
    """The status page could not start (names what and why)."""


def read_token(data_dir: Path) -> str | None:
    """The console's current token, or None while the console has not written one."""
    try:
        return (data_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def session_value(token: str) -> str:
    """The cookie for a session opened with `token`: proves the token without being it."""
    return hmac.new(token.encode(), b"arbiter status page session", hashlib.sha256).hexdigest()


class StatusPageServer:
    def __init__(
        self, data_dir: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False,
        registry: CommandRegistry | None = None, read: Callable[[], PageInputs] | None = None,
        interval_s: float = INTERVAL_S,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise StatusPageError(f"status page host {host!r} is not a loopback address; set "
                                  "STATUS_PAGE_ALLOW_REMOTE=true to serve other hosts")
        self.data_dir = Path(data_dir)
        self.host, self.requested_port = host, port
        self.registry = registry if registry is not None else COMMANDS
        self.read = read if read is not None else Gatherer().read
        self.interval_s = interval_s
        self.port: int | None = None
        self.refused = 0
        self.views_pushed = 0
        self.version = 0
        self._view = b"{}"
        self._streams: set[web.StreamResponse] = set()
        self._runner: web.AppRunner | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._changed: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._pool: FixedThreadPool | None = None

    @property
    def endpoint_path(self) -> Path:
        return self.data_dir / ENDPOINT_FILE

    @property
    def streams(self) -> int:
        return len(self._streams)

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> int:
        """Bind, write <data_dir>/status-page.json and start publishing; returns the port."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._pool = FixedThreadPool(2, "status-page")
        try:
            self.port = io_loop().submit(self._start(self._port_to_bind())).result(timeout_s)
        except OSError as exc:
            self._pool.shutdown(wait=False)
            raise StatusPageError(f"status page could not bind {self.host}:{self.requested_port}: {exc}") from exc
        tmp = self.endpoint_path.with_name(f".{ENDPOINT_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"host": self.host, "port": self.port, "pid": os.getpid()}))
        os.replace(tmp, self.endpoint_path)
        logger.info("status page on http://{}:{}/ (open it once with the console token from {} as its `token` "
                    "query parameter)", self.host, self.port, self.data_dir / TOKEN_FILE)
        return self.port

    def _port_to_bind(self) -> int:
        """The configured port; with 0, the port this process served before (a restarted page keeps its
        address, so open browsers reconnect to it), else a free one."""
        if self.requested_port:
            return self.requested_port
        with contextlib.suppress(OSError, ValueError, AttributeError):
            previous = json.loads(self.endpoint_path.read_text())
            if previous.get("pid") == os.getpid() and previous.get("host") == self.host:
                return int(previous["port"])
        return 0

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._runner is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                io_loop().submit(self._stop()).result(timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/events", self._events)
        app.router.add_get("/api/view", self._api_view)
        app.router.add_get("/api/trace/{trace_id}", self._api_trace)
        app.router.add_post("/api/estop", self._api_estop)
        return app

    async def _bind(self, app: web.Application, port: int) -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        server = site._server
        assert server is not None
        return runner, int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _start(self, port: int) -> int:
        # the first view is ready before anyone can connect: a browser never gets an empty one
        self._view = await self._build()
        app = self._app()
        deadline = asyncio.get_running_loop().time() + PREVIOUS_PORT_WAIT_S
        while True:
            try:
                self._runner, bound = await self._bind(app, port)
                break
            except OSError as exc:
                if port == self.requested_port:  # the configured port: fail, the supervisor retries
                    raise
                if asyncio.get_running_loop().time() < deadline:  # the previous incarnation may still be closing
                    await asyncio.sleep(0.1)
                    continue
                logger.warning("status page: the port served before ({}) stays taken ({}); serving a new one, "
                               "so open pages must be reloaded from the new address", port, exc)
                port = 0
        self._changed, self._wake = asyncio.Condition(), asyncio.Event()
        self._publisher = asyncio.get_running_loop().create_task(self._publish())
        return bound

    async def _stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                await stream.write_eof()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- the view -----------------------------------------------------------------------------------

    def _view_now(self) -> bytes:
        return redact(_encoder.encode(status_view(self.read())).decode()).encode()

    async def _build(self) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._view_now)

    async def _publish(self) -> None:
        assert self._changed is not None and self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                view = await self._build()
            except Exception as exc:  # a read that broke is logged; the next tick tries again
                logger.opt(exception=exc).warning("status page: reading the bot failed: {}", exc)
                continue
            if view != self._view:
                self._view = view
                async with self._changed:
                    self.version += 1
                    self._changed.notify_all()

    # --- authentication -----------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        token = read_token(self.data_dir)
        if token is None:
            return False
        cookie = request.cookies.get(COOKIE, "")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(cookie.encode(), session_value(token).encode()) or \
            hmac.compare_digest(bearer.encode(), token.encode())

    def _refuse(self, request: web.Request, why: str) -> web.Response:
        self.refused += 1
        logger.warning("status page: refused {} {} from {}: {}", request.method, request.path, request.remote, why)
        return web.Response(status=401, text=f"unauthorized: {why}\n", content_type="text/plain")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        given = request.query.get("token")
        if given is not None:
            token = read_token(self.data_dir)
            if token is None or not hmac.compare_digest(given.encode(), token.encode()):
                return self._refuse(request, "wrong token")
            redirect = web.HTTPSeeOther("/")  # the token leaves the address bar and the history
            redirect.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict", path="/")
            raise redirect
        if not self._authorized(request):
            return self._refuse(request, "missing token: open /?token=<the console token>")
        html = resources.files("statuspage").joinpath("page.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers={
            "Cache-Control": "no-store", "Content-Security-Policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src 'self' data:; frame-ancestors 'none'"})

    # --- the stream and the API ---------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._refuse(request, "missing or wrong token")
        assert self._changed is not None
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                             "X-Accel-Buffering": "no"})
        await stream.prepare(request)
        self._streams.add(stream)
        try:
            seen = self.version
            await stream.write(f"retry: {RETRY_MS}\n".encode() + self._event(seen, self._view))
            while True:
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait_for(functools.partial(self._newer, seen)),
                                               HEARTBEAT_S)
                    version, view = self.version, self._view
                if version == seen:
                    await stream.write(b": still here\n\n")
                    continue
                seen = version
                await stream.write(self._event(version, view))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(stream)
        return stream

    def _newer(self, seen: int) -> bool:
        return self.version != seen

    def _event(self, version: int, view: bytes) -> bytes:
        self.views_pushed += 1
        return b"id: %d\nevent: view\ndata: " % version + view + b"\n\n"

    async def _api_view(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refuse(request, "missing or wrong token")
        return web.Response(body=self._view, content_type="application/json")

    async def _api_trace(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refuse(request, "missing or wrong token")
        trace_id = request.match_info["trace_id"]
        spans = trace_timeline(trace_id)
        if spans is None:
            return web.json_response({"error": f"no trace {trace_id!r} in the store"}, status=404)
        return web.Response(text=redact(json.dumps({"traceId": trace_id, "spans": spans})),
                            content_type="application/json")

    async def _api_estop(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refuse(request, "missing or wrong token")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return self._refuse(request, f"cross-origin request from {origin!r}")
        try:
            body = await request.json()
            reason = " ".join(str(body.get("reason", "")).split())
        except (ValueError, AttributeError):
            return web.json_response({"ok": False, "error": 'expected JSON {"reason": "..."}'}, status=400)
        if not reason or len(reason) > MAX_REASON_CHARS:
            return web.json_response({"ok": False, "error": f"a reason of 1 to {MAX_REASON_CHARS} characters is "
                                                            "needed (it goes into the audit trail)"}, status=400)
        argv = ["estop", "--by", f"status-page@{request.remote}", "--", reason]
        answer = await asyncio.get_running_loop().run_in_executor(self._pool, self.registry.run, argv, 0)
        if self._wake is not None:
            self._wake.set()  # the page shows the stop at once, not at the next tick
        return web.Response(text=redact(json.dumps({"ok": answer.ok, "body": answer.body, "error": answer.error})),
                            content_type="application/json", status=200 if answer.ok else 409)

    def status(self) -> dict[str, Any]:
        return {"port": self.port, "streams": self.streams, "refused": self.refused, "version": self.version,
                "viewsPushed": self.views_pushed}
