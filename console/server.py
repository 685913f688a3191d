"""The console server: loopback-only TCP, newline-delimited JSON, every request carries a token.

On start it writes a fresh random token to <data_dir>/console.token (mode 0600, readable only by
the user running the bot) and {host, port, pid} to <data_dir>/console.json; the client reads
both. A request without the right token gets one refusal and the connection is closed.

The server runs on the shared asyncio loop (supervision.io_loop); command handlers run in a
worker thread, so a handler that asks an actor never blocks the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import ipaddress
import json
import os
import secrets
from pathlib import Path

import msgspec
from loguru import logger

from console.registry import COMMANDS, CommandRegistry
from console.wire import MAX_LINE_BYTES, Request, Response, request_decoder
from protocol.secrets import redact, secret_enc_hook
from supervision.io_loop import io_loop
from supervision.workers import FixedThreadPool

TOKEN_FILE = "console.token"
ENDPOINT_FILE = "console.json"
LOOPBACK = "127.0.0.1"
#: Worker threads for command handlers: a few operators at once, never the whole loop.
HANDLER_THREADS = 4

_encoder = msgspec.json.Encoder(enc_hook=secret_enc_hook)


class ConsoleError(Exception):
    """The console server could not start or was misconfigured (names what and why)."""


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the first byte (no window where others can read it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # in case the umask or an old file widened it
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


class ConsoleServer:
    def __init__(
        self, data_dir: str | os.PathLike[str], *, registry: CommandRegistry | None = None,
        host: str = LOOPBACK, port: int = 0,
    ) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConsoleError(f"console host {host!r} is not a loopback address; the console only binds to loopback")
        self.data_dir = Path(data_dir)
        self.registry = registry if registry is not None else COMMANDS
        self.host, self.requested_port = host, port
        self.port: int | None = None
        self._token = ""
        self._server: asyncio.Server | None = None
        self._pool: FixedThreadPool | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.requests_served = 0
        self.refused = 0

    @property
    def token_path(self) -> Path:
        return self.data_dir / TOKEN_FILE

    @property
    def endpoint_path(self) -> Path:
        return self.data_dir / ENDPOINT_FILE

    @property
    def connections(self) -> int:
        return len(self._connections)

    def start(self, timeout_s: float = 10.0) -> int:
        """Bind, write the token and endpoint files, and serve; returns the port."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._token = secrets.token_urlsafe(32)
        self._pool = FixedThreadPool(HANDLER_THREADS, "console-cmd")
        try:
            self.port = io_loop().submit(self._listen()).result(timeout_s)
        except OSError as exc:
            self._pool.shutdown(wait=False)
            raise ConsoleError(f"console could not bind {self.host}:{self.requested_port}: {exc}") from exc
        _write_private(self.token_path, self._token + "\n")
        _write_private(self.endpoint_path, json.dumps({"host": self.host, "port": self.port, "pid": os.getpid()}))
        logger.info("console listening on {}:{} (token in {})", self.host, self.port, self.token_path)
        return self.port

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening, close every connection, remove the files if they are still ours."""
        if self._server is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                io_loop().submit(self._close()).result(timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._remove_files()

    def _remove_files(self) -> None:
        with contextlib.suppress(OSError):
            if self.token_path.read_text().strip() == self._token:
                self.token_path.unlink()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.endpoint_path.read_text()).get("port") == self.port:
                self.endpoint_path.unlink()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, host=self.host, port=self.requested_port, limit=MAX_LINE_BYTES
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=2.0)
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                response = await self._answer(line)
                writer.write(redact(_encoder.encode(response).decode()).encode() + b"\n")
                await writer.drain()
                if response.close:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> Response:
        try:
            request: Request | None = request_decoder.decode(line)
        except msgspec.DecodeError:
            request = None
        if request is None or not hmac.compare_digest(request.token.encode(), self._token.encode()):
            self.refused += 1
            logger.warning("console: refused a request without a valid token")
            return Response(id=getattr(request, "id", 0), ok=False, error="unauthorized: missing or wrong token",
                            close=True)
        self.requests_served += 1
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self._pool, self.registry.run, request.argv, request.id)
        if request.argv == ["quit"] and response.ok:
            response = msgspec.structs.replace(response, close=True)
        return response
