"""HTTP transport for JSON-RPC: one aiohttp keep-alive pool per endpoint, on the shared io loop.

`HttpTransport.post` sends one body and returns the answer's bytes, or raises `EndpointFault` with
the kind of failure (timeout, connection, 5xx, 429 + Retry-After, truncated, too large). Bodies are
read up to a cap so an endpoint that streams gigabytes costs us `max_body_bytes` at most.
Sessions are created lazily inside the loop (aiohttp requires it) and closed with `close()`.
"""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import yarl

from protocol.network import FaultKind
from protocol.secrets import redact
from rpc.errors import EndpointFault
from rpc.routing import RoutingPolicy, parse_retry_after

#: Largest answer accepted from an endpoint (a full block with transactions is a few MB at most).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: Keep-alive connections per endpoint.
DEFAULT_POOL_SIZE = 64

_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_DEFAULT_POLICY = RoutingPolicy()


class HttpTransport:
    """A keep-alive connection pool to one endpoint. Use only from coroutines on one event loop."""

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
        self._url = yarl.URL(url)  # parsed once, not per request
        self.max_body_bytes = max_body_bytes
        self.pool_size = pool_size
        self.policy = policy
        self.in_flight = 0  # touched only on the loop thread; read racily (an int) for status
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, keepalive_timeout=30.0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=_HEADERS,
                cookie_jar=aiohttp.DummyCookieJar(),  # JSON-RPC has no cookies; skip the jar's per-request work
                timeout=aiohttp.ClientTimeout(total=None),  # deadlines are per request, below
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(self, body: bytes, timeout_s: float) -> bytes:
        """POST `body`; the answer's bytes, or `EndpointFault` naming this endpoint."""
        if timeout_s <= 0:
            raise EndpointFault(FaultKind.TIMEOUT, "deadline already passed", endpoint=self.name)
        self.in_flight += 1
        try:
            async with asyncio.timeout(timeout_s):
                return await self._post(body)
        except TimeoutError:
            detail = f"no answer in {timeout_s * 1000:.0f} ms"
            raise EndpointFault(FaultKind.TIMEOUT, detail, endpoint=self.name) from None
        except aiohttp.ClientPayloadError as e:
            raise EndpointFault(FaultKind.TRUNCATED, redact(str(e))[:200], endpoint=self.name) from None
        except (aiohttp.ClientError, OSError) as e:
            detail = redact(f"{type(e).__name__}: {e}")[:200]  # aiohttp may quote the URL, which may hold a key
            raise EndpointFault(FaultKind.CONNECTION, detail, endpoint=self.name) from None
        finally:
            self.in_flight -= 1

    async def _post(self, body: bytes) -> bytes:
        async with self._get_session().post(self._url, data=body) as resp:
            status = resp.status
            if status != 200:
                await self._drain(resp)
                if status == 429:
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time(), self.policy)
                    raise EndpointFault(
                        FaultKind.RATE_LIMITED, "HTTP 429", endpoint=self.name, retry_after_s=retry_after
                    )
                kind = FaultKind.HTTP_5XX if status >= 500 else FaultKind.HTTP_STATUS
                raise EndpointFault(kind, f"HTTP {status}", endpoint=self.name)
            declared = resp.content_length
            if declared is not None and declared > self.max_body_bytes:
                resp.close()  # do not read it, and do not reuse the connection
                raise EndpointFault(
                    FaultKind.TOO_LARGE, f"Content-Length {declared} > cap {self.max_body_bytes}", endpoint=self.name
                )
            if declared is not None:
                return await resp.read()
            return await self._read_capped(resp)

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(65536):
            total += len(chunk)
            if total > self.max_body_bytes:
                resp.close()
                raise EndpointFault(
                    FaultKind.TOO_LARGE, f"body over cap {self.max_body_bytes} bytes", endpoint=self.name
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _drain(self, resp: aiohttp.ClientResponse) -> None:
        """Read a small error body so the connection can be reused; drop the connection if it is big."""
        if resp.content_length is not None and resp.content_length <= 65536:
            try:
                await resp.read()
                return
            except aiohttp.ClientError:
                pass
        resp.close()

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


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

    def peek(self, name: str) -> HttpTransport | None:
        return self._by_name.get(name)

    async def close_all(self) -> None:
        with self._lock:
            transports = list(self._by_name.values())
            self._by_name.clear()
        for transport in transports:
            await transport.close()


#: The default registry used by `RpcClient` and the endpoint actors.
transports = TransportRegistry()
