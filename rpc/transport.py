"""HTTP transport for JSON-RPC: per endpoint, one pool of keep-alive connections on the io loop.

`HttpTransport.post` sends one body over an asyncio protocol and returns the answer's bytes, or
raises `EndpointFault` with the kind of failure (timeout, connection, 5xx, 429 + Retry-After,
truncated, too large). Every caller goes through it: actors and coroutines on the io loop, and the
blocking calls, which start their race on the loop and wait for it (`rpc.client`). Answers are read
with `rpc.http1.ResponseReader`, and bodies are capped as they arrive: an endpoint that streams
gigabytes costs `max_body_bytes`. A kept-alive connection the server has meanwhile closed is retried
once on a fresh one. Connecting goes through `loop.create_connection`, which tries every address the
host name resolves to.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

from protocol.network import FaultKind
from protocol.secrets import redact
from rpc.errors import EndpointFault
from rpc.http1 import ResponseReader, Target
from rpc.routing import RoutingPolicy

#: Largest answer accepted from an endpoint (a full block with transactions is a few MB at most).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: Keep-alive connections per endpoint (kept idle, per path).
DEFAULT_POOL_SIZE = 64

_DEFAULT_POLICY = RoutingPolicy()


class _Http1Protocol(asyncio.Protocol):
    """One connection on the io loop; carries one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader: ResponseReader | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, data: bytes, reader: ResponseReader) -> asyncio.Future[None]:
        assert self.transport is not None
        self.reader = reader
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if self.reader is None or self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: this connection can carry nothing more
            return
        try:
            if self.reader.feed(data):
                self.waiter.set_result(None)
        except EndpointFault as fault:
            self.waiter.set_exception(fault)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.reader is None or self.waiter is None or self.waiter.done():
            return
        try:
            self.reader.eof()
            self.waiter.set_result(None)
        except EndpointFault as fault:
            self.waiter.set_exception(fault)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpTransport:
    """The keep-alive connections to one endpoint, used on the io loop only."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        pool_size: int = DEFAULT_POOL_SIZE,
        policy: RoutingPolicy = _DEFAULT_POLICY,
    ) -> None:
        self.name = name
        self.url = url
        self.target = Target.parse(url)
        self.max_body_bytes = max_body_bytes
        self.pool_size = pool_size
        self.policy = policy
        self._idle: list[_Http1Protocol] = []
        self.in_flight = 0  # requests out to this endpoint now; written on the loop thread only

    @property
    def idle(self) -> int:
        """Kept-alive connections waiting for the next request (read racily, for status and tests)."""
        return len(self._idle)

    def reader(self) -> ResponseReader:
        return ResponseReader(self.name, self.max_body_bytes, self.policy)

    async def post(self, body: bytes, timeout_s: float) -> bytes:
        """POST `body`; the answer's bytes, or `EndpointFault` naming this endpoint."""
        if timeout_s <= 0:
            raise EndpointFault(FaultKind.TIMEOUT, "deadline already passed", endpoint=self.name)
        self.in_flight += 1
        try:
            async with asyncio.timeout(timeout_s):
                return await self._post(self.target.request(body))
        except TimeoutError:
            detail = f"no answer in {timeout_s * 1000:.0f} ms"
            raise EndpointFault(FaultKind.TIMEOUT, detail, endpoint=self.name) from None
        finally:
            self.in_flight -= 1

    async def _post(self, request: bytes) -> bytes:
        while True:
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            reader = self.reader()
            try:
                await conn.request(request, reader)
            except EndpointFault as fault:
                conn.close()
                if reused and fault.kind is FaultKind.CONNECTION and reader.received == 0:
                    continue  # the server had closed this idle connection: once more on a fresh one
                raise
            except BaseException:
                conn.close()  # cancelled mid-answer (a lost hedge, a deadline): the connection is unusable
                raise
            if reader.keep_alive and not conn.closed and len(self._idle) < self.pool_size:
                conn.reader = conn.waiter = None
                self._idle.append(conn)
            else:
                conn.close()
            return reader.body()

    def _take_idle(self) -> _Http1Protocol | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self) -> _Http1Protocol:
        target = self.target
        try:
            _, protocol = await asyncio.get_running_loop().create_connection(
                _Http1Protocol, target.host, target.port, ssl=target.context,
                server_hostname=target.host if target.tls else None,
            )
        except (OSError, ssl.SSLError) as e:
            detail = redact(f"{type(e).__name__}: {e}")[:200]  # the error may quote the URL, which may hold a key
            raise EndpointFault(FaultKind.CONNECTION, detail, endpoint=self.name) from None
        return protocol

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class TransportRegistry:
    """Process-wide transports by endpoint name, so the client and the endpoint actor share one pool."""

    def __init__(self, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, HttpTransport] = {}
        self.max_body_bytes = max_body_bytes
        self.pool_size = pool_size

    def configure(self, *, max_body_bytes: int | None = None, pool_size: int | None = None) -> None:
        """Limits for transports created from now on (existing pools keep theirs until closed)."""
        if max_body_bytes is not None:
            self.max_body_bytes = max_body_bytes
        if pool_size is not None:
            self.pool_size = pool_size

    def get(self, name: str, url: str) -> HttpTransport:
        """The transport for `name`; a new one if none exists or the URL changed."""
        transport = self._by_name.get(name)
        if transport is not None and transport.url == url:
            return transport
        with self._lock:
            transport = self._by_name.get(name)
            if transport is None or transport.url != url:
                transport = HttpTransport(name, url, max_body_bytes=self.max_body_bytes, pool_size=self.pool_size)
                self._by_name[name] = transport
            return transport

    async def close_all(self) -> None:
        with self._lock:
            transports = list(self._by_name.values())
            self._by_name.clear()
        for transport in transports:
            await transport.close()


#: The default registry used by `RpcClient` and the endpoint actors.
transports = TransportRegistry()
