"""Keep-alive connections driven by the caller's own thread: the blocking calls' transport.

A blocking `RpcClient.request` used to hop to the io loop and back (two thread wake-ups: 0.06 ms in
`benchmarks/bench_transport.py`, plus aiohttp's per-request work). Here the caller sends and reads
itself on a non-blocking socket it waits on with `select`, so one call costs one round trip to the
node and GIL-free waiting lets 8 callers keep 8 requests in flight. Hedging stays possible:
`rpc.thread_race` waits on several connections at once. A connection is held by one thread at a time
(taken from the endpoint's pool, given back when its answer is in), and can be handed to the io loop
to finish in the background.
"""

from __future__ import annotations

import errno
import select
import socket
import ssl
import time
from typing import Any

from protocol.network import FaultKind
from protocol.secrets import redact
from rpc import heldgil
from rpc.errors import EndpointFault
from rpc.http1 import ResponseReader, Target

#: An idle connection older than this is closed rather than reused (servers drop idle ones).
IDLE_LIMIT_S = 30.0
#: How long a resolved address is reused before the name is looked up again.
DNS_TTL_S = 300.0
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
#: A socket address as getaddrinfo gives it ((host, port) or IPv6's 4-tuple).
Address = Any


class SocketConnection:
    """One keep-alive connection, non-blocking, advanced by whoever holds it when select says so.

    On plain TCP, sends and reads go through `rpc.heldgil` (they cannot block, so they keep the GIL);
    only the wait for the answer lets it go. TLS goes through the `ssl` socket's own methods."""

    __slots__ = (
        "_connecting",
        "_handshake",
        "_handshake_write",
        "_held",
        "_out",
        "endpoint",
        "idle_since",
        "reused",
        "sock",
        "target",
    )

    def __init__(self, target: Target, endpoint: str) -> None:
        self.target = target
        self.endpoint = endpoint
        self.sock: socket.socket | None = None
        self._out = b""
        self._connecting = False
        self._handshake = False
        self._handshake_write = False
        self._held = heldgil.available and not target.tls
        self.reused = False  # carried an earlier request: a close before any answer may just be its age
        self.idle_since = 0.0

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    @property
    def wants_write(self) -> bool:
        return self._connecting or (self._handshake and self._handshake_write) or bool(self._out)

    def begin(self, request: bytes, address: Address, family: int) -> None:
        """Start sending `request`, connecting first if this connection is new. Raises `EndpointFault`."""
        self._out = request
        if self.sock is None:
            self._connect(address, family)
        else:
            self.reused = True
        if not self._connecting and not self._handshake:
            self._send()

    def exchange(self, request: bytes, wait_s: float) -> bytes | None:
        """On a kept-alive connection: send `request` and wait up to `wait_s` for the answer's first
        bytes, in one `select`. Those bytes (b"" if the peer closed), or None if none came in time (the
        rest goes on through `advance`). The blocking read's fast path: no reader, no bookkeeping."""
        sock = self.sock
        assert sock is not None and not self._connecting and not self._handshake
        self.reused = True
        try:
            sent = self._send_some(request)
            if sent < len(request):
                self._out = request[sent:]  # the rest goes when the socket can take it (`advance`)
                return None
            if not select.select((sock,), (), (), max(0.0, wait_s))[0]:
                return None
            return self._recv_some()
        except ValueError:
            return None  # a descriptor past FD_SETSIZE: the race waits with poll instead
        except (OSError, ssl.SSLError) as e:
            raise self._fault(e) from None

    def advance(self, reader: ResponseReader) -> bool:
        """Do what the socket is ready for; True once `reader` holds the whole response."""
        try:
            if self._connecting:
                assert self.sock is not None
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
                self._connecting = False
                self._connected()
            if self._handshake and not self._do_handshake():
                return False
            if self._out:
                self._send()
                if self._out:
                    return False
            return self._read(reader)
        except EndpointFault:
            raise
        except (OSError, ssl.SSLError) as e:
            raise self._fault(e) from None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    # --- steps -------------------------------------------------------------------------------------

    def _connect(self, address: Address, family: int) -> None:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        err = sock.connect_ex(address)
        if err in _IN_PROGRESS:
            self._connecting = True
        elif err:
            raise self._fault(OSError(err, f"connect: {errno.errorcode.get(err, err)}"))
        else:
            self._connected()

    def _connected(self) -> None:
        if self.target.tls:
            self._start_tls()

    def _start_tls(self) -> None:
        context = self.target.context
        assert context is not None and self.sock is not None
        self.sock = context.wrap_socket(self.sock, server_hostname=self.target.host, do_handshake_on_connect=False)
        self._handshake = True
        self._do_handshake()

    def _do_handshake(self) -> bool:
        assert isinstance(self.sock, ssl.SSLSocket)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_write = False
            return False
        except ssl.SSLWantWriteError:
            self._handshake_write = True
            return False
        self._handshake = False
        return True

    def _send_some(self, data: bytes) -> int:
        """Bytes of `data` the socket took now (0 if its buffer is full). Raises OSError/SSLError."""
        assert self.sock is not None
        if self._held:
            return heldgil.send(self.sock.fileno(), data)
        try:
            return self.sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0

    def _recv_some(self) -> bytes | None:
        """What there is to read (b"" if the peer closed), None if nothing yet. Raises OSError/SSLError."""
        assert self.sock is not None
        if self._held:
            return heldgil.recv(self.sock.fileno())
        try:
            return self.sock.recv(heldgil.READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None

    def _send(self) -> None:
        try:
            sent = self._send_some(self._out)
        except (OSError, ssl.SSLError) as e:
            raise self._fault(e) from None
        self._out = self._out[sent:]

    def _read(self, reader: ResponseReader) -> bool:
        while True:
            data = self._recv_some()
            if data is None:
                return False
            if not data:
                return reader.eof()
            if reader.feed(data):
                return True

    def _fault(self, e: BaseException) -> EndpointFault:
        return EndpointFault(FaultKind.CONNECTION, redact(f"{type(e).__name__}: {e}")[:200], endpoint=self.endpoint)


class SocketPool:
    """The idle keep-alive connections to one endpoint, shared by caller threads."""

    def __init__(self, name: str, target: Target, size: int) -> None:
        self.name = name
        self.target = target
        self.size = size
        # No lock on the hot path: list.pop/append and set.add/discard are atomic in CPython, and a
        # contended lock is one more place for concurrent caller threads to queue.
        self._idle: list[SocketConnection] = []
        self._busy: set[SocketConnection] = set()  # taken and not yet given back
        self._address: tuple[int, Address] | None = None
        self._resolved_at = 0.0
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Connections taken and not yet given back."""
        return len(self._busy)

    def take(self) -> SocketConnection:
        """An idle connection (newest first), or a new unconnected one."""
        now = time.monotonic()
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = SocketConnection(self.target, self.name)
                break
            if now - conn.idle_since < IDLE_LIMIT_S:
                break
            conn.close()
        self._busy.add(conn)
        return conn

    def replace(self, conn: SocketConnection) -> SocketConnection:
        """Close a taken connection and take a new unconnected one in its place (a stale keep-alive)."""
        self.give(conn, False)
        fresh = SocketConnection(self.target, self.name)
        self._busy.add(fresh)
        return fresh

    def give(self, conn: SocketConnection, reusable: bool) -> None:
        """Hand a connection back after its request: kept if its answer left it reusable."""
        self._busy.discard(conn)
        if reusable and not self._closed and conn.sock is not None and len(self._idle) < self.size:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            if self._closed:  # closed meanwhile: do not strand it
                self.close()
            return
        conn.close()

    def begin(self, conn: SocketConnection, request: bytes) -> None:
        """Send `request` on `conn`, resolving the endpoint's address first if needed."""
        if conn.sock is None:
            family, address = self._resolve()
            conn.begin(request, address, family)
        else:
            conn.begin(request, ("", 0), 0)

    def _resolve(self) -> tuple[int, Address]:
        now = time.monotonic()
        if self._address is None or now - self._resolved_at > DNS_TTL_S:
            try:
                infos = socket.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_STREAM)
            except OSError as e:
                detail = f"resolve {self.target.host}: {e}"
                raise EndpointFault(FaultKind.CONNECTION, detail, endpoint=self.name) from None
            family, _, _, _, address = infos[0]
            self._address, self._resolved_at = (int(family), address), now
        return self._address

    def close(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        self._closed = True
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return

