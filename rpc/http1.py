"""HTTP/1.1 for JSON-RPC, kept to what it needs: one request shape (a POST of a JSON body) and one
response reader.

Why not a general client on the hot path: `benchmarks/bench_transport.py` measures one call to anvil
through our asyncio protocol on the io loop against a bare keep-alive socket (the floor) and against
aiohttp on the same loop. The reader is fed by the io loop's asyncio protocol (`rpc.transport`), the
one transport every caller goes through. Parsing is llhttp's (httptools): status line, headers,
Content-Length and chunked bodies; bodies are capped as they arrive.
"""

from __future__ import annotations

import base64
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

import httptools

from protocol.network import FaultKind
from rpc.errors import EndpointFault
from rpc.routing import RoutingPolicy, parse_retry_after

#: Error bodies (non-200) larger than this are not read: the connection is dropped instead.
MAX_ERROR_BODY_BYTES = 65536
#: The lengths of the only fields the reader looks at: Content-Length, Transfer-Encoding, Retry-After.
_WANTED_NAME_LENGTHS = frozenset((14, 17, 11))


@dataclass(frozen=True)
class Target:
    """Where one endpoint's requests go, and the fixed head of every request to it."""

    url: str
    host: str
    port: int
    tls: bool
    head: bytes  # request line and fixed headers, up to the Content-Length value
    context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)  # made once: loading CAs is slow

    @classmethod
    def parse(cls, url: str) -> Target:
        """`http(s)://[user:pass@]host[:port][/path][?query]`; ValueError naming what is wrong."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: scheme {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError("URL has no host")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        host_header = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None:
            host_header += f":{parts.port}"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {host_header}",
            "Content-Type: application/json",
            "Accept: application/json",
        ]
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            lines.append("Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        context = ssl.create_default_context() if tls else None
        return cls(url=url, host=parts.hostname, port=port, tls=tls, head=head, context=context)

    def request(self, body: bytes) -> bytes:
        return self.head + b"%d\r\n\r\n" % len(body) + body


class ResponseReader:
    """One HTTP response, fed in pieces. `feed` says when it is complete; `body` gives the answer's
    bytes or raises the `EndpointFault` its status means; faults in the framing raise from `feed`/`eof`.

    Not thread-safe: one reader per request, used by whoever owns the connection at that moment.
    """

    __slots__ = (
        "_chunked",
        "_chunks",
        "_complete",
        "_declared",
        "_fault",
        "_headers_done",
        "_parser",
        "_retry_after",
        "_reusable",
        "_size",
        "_status",
        "endpoint",
        "max_body_bytes",
        "policy",
        "received",
    )

    def __init__(self, endpoint: str, max_body_bytes: int, policy: RoutingPolicy) -> None:
        self.endpoint = endpoint
        self.max_body_bytes = max_body_bytes
        self.policy = policy
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: list[bytes] = []
        self._size = 0
        self._status = 0
        self._retry_after: str | None = None
        self._declared: int | None = None
        self._chunked = False
        self._headers_done = False
        self._complete = False
        self._reusable = False
        self._fault: EndpointFault | None = None
        self.received = 0  # bytes fed so far: none means the peer never started an answer

    # --- httptools callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) not in _WANTED_NAME_LENGTHS:  # most fields (Date, Vary, Server...): one len() and out
            return
        key = name.lower()
        if key == b"content-length":
            try:
                self._declared = int(value)
            except ValueError:
                self._fault = self._make(FaultKind.GARBAGE, f"Content-Length {value[:40]!r}")
        elif key == b"transfer-encoding":
            self._chunked = b"chunked" in value.lower()
        elif key == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self._parser.get_status_code()
        self._reusable = bool(self._parser.should_keep_alive())  # llhttp forgets it once the message ends
        cap = self.max_body_bytes if self._status == 200 else MAX_ERROR_BODY_BYTES
        if self._declared is not None and self._declared > cap and self._fault is None:
            self._fault = self._over_cap(f"Content-Length {self._declared} > cap {cap}")

    def on_body(self, data: bytes) -> None:
        if self._fault is not None:
            return
        self._size += len(data)
        cap = self.max_body_bytes if self._status == 200 else MAX_ERROR_BODY_BYTES
        if self._size > cap:
            self._fault = self._over_cap(f"body over cap {cap} bytes")
            self._chunks.clear()
            return
        self._chunks.append(data)

    def on_message_complete(self) -> None:
        self._complete = True

    # --- feeding ---------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """Take the next bytes from the connection; True once the whole response is in."""
        self.received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise self._make(FaultKind.GARBAGE, "answered with a protocol upgrade") from None
        except httptools.HttpParserError as e:
            if self._fault is None:
                raise self._make(FaultKind.GARBAGE, f"not HTTP/1.1: {e}"[:200]) from None
        if self._fault is not None:
            raise self._fault
        return self._complete

    def eof(self) -> bool:
        """The peer closed the connection. True if that ends a body delimited by the close;
        otherwise the fault: nothing received (CONNECTION) or a response cut short (TRUNCATED)."""
        if self._complete:
            return True
        if self._headers_done and self._declared is None and not self._chunked:
            self._complete = True
            return True
        if self.received == 0:
            raise self._make(FaultKind.CONNECTION, "connection closed before an answer")
        raise self._make(FaultKind.TRUNCATED, f"connection closed after {self.received} bytes of the answer")

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can carry the next request."""
        return self._complete and self._fault is None and self._reusable

    def body(self) -> bytes:
        """The answer's bytes (status 200), or the fault its status means."""
        if self._status == 200:
            return b"".join(self._chunks)
        raise self._status_fault(f"HTTP {self._status}")

    def _status_fault(self, detail: str) -> EndpointFault:
        if self._status == 429:
            retry_after = parse_retry_after(self._retry_after, time.time(), self.policy)
            return EndpointFault(FaultKind.RATE_LIMITED, detail, endpoint=self.endpoint, retry_after_s=retry_after)
        return self._make(FaultKind.HTTP_5XX if self._status >= 500 else FaultKind.HTTP_STATUS, detail)

    def _over_cap(self, detail: str) -> EndpointFault:
        """A 200 answer over the cap is TOO_LARGE; an error page over its cap is still its status's fault."""
        if self._status == 200:
            return self._make(FaultKind.TOO_LARGE, detail)
        return self._status_fault(f"HTTP {self._status} ({detail})")

    def _make(self, kind: FaultKind, detail: str) -> EndpointFault:
        return EndpointFault(kind, detail, endpoint=self.endpoint)
