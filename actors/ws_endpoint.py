"""ws:<name> — one WebSocket endpoint: runs the subscription stream the manager asks for.

On `OpenStream(epoch, filters, sink)` it connects (on the shared io loop), subscribes to logs for
each filter first and to newHeads second (the order the feed's completeness rule relies on), tells
the sink `StreamOpened`, then every notification as `HeadSeen` / `LogSeen`, straight from the io loop
(no hop through this actor); every head also goes to the router as `StreamHead`, so the clients' head
trackers hear of a block when it is pushed (standby streams included). When the socket dies, or the
endpoint sends a malformed notification, it tells `StreamLost`; reconnecting, or failing over
elsewhere, is the manager's decision.
`CloseStream` (or a newer `OpenStream`) cancels it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from chainfeed.wire import MalformedChainData, header_from_json, log_from_json
from protocol.chain import CloseStream, HeadSeen, LogSeen, OpenStream, StreamLost, StreamOpened
from protocol.network import StreamHead
from rpc.client import router_path
from supervision import ActorContext, Handle, SupervisedActor
from supervision.errors import ActorError
from supervision.io_loop import io_loop

#: Bound on connect + every subscription acknowledgement.
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: websockets' keepalive: a peer that stops answering pings for this long is dead (catches a silent TCP).
DEFAULT_PING_INTERVAL_S = 5.0


class _StreamEnded(msgspec.Struct, frozen=True, tag=True):
    epoch: int
    reason: str


class _Counters:
    """Written by the stream coroutine, read by `status()`; ints only, so torn reads are harmless."""

    def __init__(self) -> None:
        self.heads = 0
        self.logs = 0
        self.malformed = 0
        self.connected_at: float | None = None


class WsEndpoint(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        name: str,
        url: str,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
    ) -> None:
        super().__init__(ctx)
        self.name = name
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.ping_interval_s = ping_interval_s
        self.epoch: int | None = None
        self.state = "idle"
        self.last_error = ""
        self.streams_opened = 0
        self.counters = _Counters()
        self.router = router_path(ctx.path.rsplit("/", 1)[0] or "/")  # where the heads are told
        self._task: concurrent.futures.Future[None] | None = None

    def receive(self, msg: object) -> object:
        match msg:
            case OpenStream():
                self._cancel()
                self.epoch, self.state, self.counters = msg.epoch, "connecting", _Counters()
                self.streams_opened += 1
                coro = run_stream(self.name, self.url, msg, self.counters, self.connect_timeout_s, self.ping_interval_s,
                                  witness_path=self.router)
                self._task = io_loop().submit(coro)
                epoch = msg.epoch
                self.ctx.pipe(self._task, lambda r: _StreamEnded(epoch, "closed" if r is None else _reason(r)))
            case CloseStream() if msg.epoch == self.epoch:
                self._cancel()
                self.state, self.epoch = "idle", None
            case _StreamEnded() if msg.epoch == self.epoch:
                self.state, self.last_error = "down", msg.reason
            case _:
                return None
        return None

    def status(self) -> dict[str, Any]:
        c = self.counters
        return {
            "url": self.url,
            "state": "streaming" if self.state == "connecting" and c.connected_at else self.state,
            "epoch": self.epoch,
            "heads": c.heads,
            "logs": c.logs,
            "malformed": c.malformed,
            "last_error": self.last_error,
            "streams_opened": self.streams_opened,
        }

    def on_terminate(self) -> None:
        self._cancel()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def _reason(result: object) -> str:
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"[:200]
    return str(result)


async def _subscribe(
    ws: ClientConnection, request_id: int, params: Sequence[object], timeout_s: float, early: list[dict[str, Any]]
) -> str:
    """Send eth_subscribe and wait for its answer; notifications that arrive meanwhile go to `early`."""
    request = {"jsonrpc": "2.0", "id": request_id, "method": "eth_subscribe", "params": params}
    await ws.send(msgspec.json.encode(request).decode())
    async with asyncio.timeout(timeout_s):
        while True:
            msg = msgspec.json.decode(await ws.recv())
            if isinstance(msg, dict) and msg.get("id") == request_id:
                if "result" not in msg or not isinstance(msg["result"], str):
                    raise ConnectionError(f"eth_subscribe {params[0]} refused: {msg.get('error')}")
                return str(msg["result"])
            if isinstance(msg, dict) and msg.get("method") == "eth_subscription":
                early.append(msg)


async def run_stream(
    name: str,
    url: str,
    order: OpenStream,
    counters: _Counters,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
    witness_path: str | None = None,
) -> None:
    """Connect, subscribe (logs first, then newHeads), forward every notification to the sink, and
    every head's number to `witness_path` (the router) as `StreamHead`.

    Returns only by raising (the socket died) or being cancelled; either way the sink hears
    `StreamLost` unless cancelled (the manager closed it, so it knows).
    """
    sink, epoch = Handle(order.sink_path), order.epoch
    witness = Handle(witness_path) if witness_path is not None else None
    routes: dict[str, str | None] = {}  # subscription id -> filter id (None: newHeads)
    try:
        async with connect(
            url, open_timeout=connect_timeout_s, ping_interval=ping_interval_s, ping_timeout=ping_interval_s,
            max_size=None, close_timeout=1.0,
        ) as ws:  # fmt: skip
            early: list[dict[str, Any]] = []
            for i, (fid, flt) in enumerate(order.filters, start=1):
                routes[await _subscribe(ws, i, ["logs", flt.to_params()], connect_timeout_s, early)] = fid
            routes[await _subscribe(ws, 0, ["newHeads"], connect_timeout_s, early)] = None
            counters.connected_at = time.time()
            _tell(sink, StreamOpened(name, epoch))
            for msg in early:
                _forward(sink, name, epoch, routes, msg, counters, witness)
            async for raw in ws:
                msg = msgspec.json.decode(raw)
                if isinstance(msg, dict) and msg.get("method") == "eth_subscription":
                    _forward(sink, name, epoch, routes, msg, counters, witness)
        raise ConnectionError("server closed the socket")
    except asyncio.CancelledError:
        raise
    except Exception as e:  # whatever killed the stream (socket, timeout, garbage), the manager must hear of it
        _tell(sink, StreamLost(name, epoch, f"{type(e).__name__}: {e}"[:200]))
        raise


def _forward(
    sink: Handle, name: str, epoch: int, routes: dict[str, str | None], msg: dict[str, Any], counters: _Counters,
    witness: Handle | None = None,
) -> None:
    params = msg.get("params") or {}
    sub = params.get("subscription")
    if sub not in routes:
        return
    fid = routes[sub]
    try:
        if fid is None:
            counters.heads += 1
            header = header_from_json(params.get("result"))
            if witness is not None:
                _tell(witness, StreamHead(name, header.number))  # first: the trackers want it soonest
            _tell(sink, HeadSeen(name, epoch, header))
        else:
            counters.logs += 1
            _tell(sink, LogSeen(name, epoch, fid, log_from_json(params.get("result"))))
    except MalformedChainData:
        # A lying endpoint. Dropping just this notification would lose a log for good (nothing shows the
        # gap), so the whole stream goes: the manager fails over and the feed backfills the block.
        counters.malformed += 1
        raise


def _tell(sink: Handle, msg: object) -> None:
    try:
        sink.tell(msg)
    except ActorError:
        pass  # the manager is restarting: its new incarnation reopens every stream

