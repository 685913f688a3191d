"""RpcClient: the one way any part of arbiter reads the chain or sends a transaction.

Thread-safe. A call reads the router's published `RoutingTable` (no mailbox hop), is hedged,
retried and deadline-bound, and tells each attempt's outcome to that endpoint's actor. A blocking
read runs in the caller's own thread (`rpc.thread_race`: no hop to the io loop and back); the
coroutines and `request_future` run on the shared io loop (`rpc.dispatch`). From inside an actor use
`request_future` with `ctx.pipe`, never the blocking calls; on the io loop use `arequest` / `acall`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from eth_utils import keccak
from loguru import logger

from protocol.network import RequestOutcomes, RoutingTable
from rpc import codec
from rpc.codec import RpcAnswer
from rpc.dispatch import Dispatcher, HedgeCounters
from rpc.errors import RpcError, RpcUnavailable
from rpc.routing import RoutingPolicy, is_already_known, is_nonce_too_low
from rpc.thread_race import read_in_thread
from rpc.transport import TransportRegistry, transports
from supervision.errors import ActorError
from supervision.handle import Handle
from supervision.io_loop import io_loop
from supervision.registry import snapshot_reader

#: Where the network supervisor lives in the tree; endpoint actors are `<path>/rpc:<name>`.
NETWORK_PATH = "/network"
ROUTER_ID = "router"

TableSource = Callable[[], RoutingTable | None]


def endpoint_path(name: str, network_path: str = NETWORK_PATH) -> str:
    return f"{network_path.rstrip('/')}/rpc:{name}"


def router_path(network_path: str = NETWORK_PATH) -> str:
    return f"{network_path.rstrip('/')}/{ROUTER_ID}"


class ActorReporter:
    """Tells each outcome to its endpoint actor; drops it quietly while that actor is restarting."""

    def __init__(self, network_path: str = NETWORK_PATH) -> None:
        self._handles: dict[str, Handle] = {}
        self._network_path = network_path

    def __call__(self, batch: RequestOutcomes) -> None:
        handle = self._handles.get(batch.endpoint)
        if handle is None:
            handle = self._handles[batch.endpoint] = Handle(endpoint_path(batch.endpoint, self._network_path))
        try:
            handle.tell(batch)
        except ActorError:
            pass  # a restarting endpoint actor misses one sample; the caller must not pay for it


def _batch_label(calls: Sequence[tuple[str, Sequence[Any]]]) -> str:
    """How a batch is named in outcomes and metrics: its distinct methods."""
    return "batch:" + ",".join(sorted({m for m, _ in calls}))[:80]


class RpcClient:
    """Route JSON-RPC calls through the router's table. Safe to share between threads."""

    def __init__(
        self,
        table: TableSource | None = None,
        *,
        policy: RoutingPolicy | None = None,
        report: Callable[[RequestOutcomes], None] | None = None,
        network_path: str = NETWORK_PATH,
        registry: TransportRegistry = transports,
    ) -> None:
        if table is None:
            table = snapshot_reader(router_path(network_path))
        self._table = table
        self.policy = policy or RoutingPolicy()
        self._io = io_loop()
        from rpc import metrics  # registers the collectors once

        self.dispatcher = Dispatcher(
            registry, self.policy, report or ActorReporter(network_path), self._io.loop, on_hedge=metrics.record_hedge
        )

    # --- the table -------------------------------------------------------------------------------

    def table(self) -> RoutingTable:
        table = self._table()
        if table is None:
            raise RpcUnavailable("(any)", [], "the router has not published a routing table yet")
        return table

    def wait_ready(self, timeout: float = 10.0) -> RoutingTable:
        """Block until the router has published a table with at least one routable endpoint (start-up)."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            table = self._table()
            if table is not None and table.routes:
                return table
            if time.monotonic() >= deadline:
                raise RpcUnavailable("(start-up)", [], f"no routable endpoint within {timeout:g}s: {table}")
            pause.wait(0.01)

    @property
    def hedges(self) -> HedgeCounters:
        """Hedges fired and won (totals and per endpoint), for tests, benchmarks and the console."""
        return self.dispatcher.hedges

    # --- coroutines (run on the io loop) ------------------------------------------------------------

    async def acall(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> RpcAnswer:
        """The answer to one call (a result or a JSON-RPC error object); `RpcUnavailable` if none came."""
        if method == "eth_sendRawTransaction":
            return await self._send_raw(params, timeout)
        answer: RpcAnswer = await self._start_call(method, params, timeout)
        return answer

    def _start_call(self, method: str, params: Sequence[Any], timeout: float | None) -> asyncio.Future[Any]:
        """On the io loop: start a read race for one call (the synchronous hot path, no wrapper task)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        request_id = self.dispatcher.next_ids()
        body = codec.encode_request(method, params, request_id)
        decode = lambda raw: codec.decode_answer(raw, request_id)  # noqa: E731
        return self.dispatcher.read(self.table(), method, body, decode, deadline)

    async def arequest(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> Any:
        """The result of one call; a JSON-RPC error answer is raised as `RpcError`."""
        return (await self.acall(method, params, timeout=timeout)).unwrap(method)

    async def abatch(
        self, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float | None = None
    ) -> list[RpcAnswer]:
        """One JSON-RPC batch to one endpoint (hedged and retried as a whole); answers in call order."""
        if not calls:
            return []
        if any(method == "eth_sendRawTransaction" for method, _ in calls):
            raise ValueError("eth_sendRawTransaction is broadcast on its own, not batched")
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        first = self.dispatcher.next_ids(len(calls))
        body = codec.encode_batch(calls, first)
        answers: list[RpcAnswer] = await self.dispatcher.read(
            self.table(), _batch_label(calls), body, lambda raw: codec.decode_batch(raw, first, len(calls)), deadline
        )
        return answers

    async def _send_raw(self, params: Sequence[Any], timeout: float | None) -> RpcAnswer:
        """Broadcast to every healthy endpoint; "already known" counts as success.

        "nonce too low" is ambiguous (ours was mined, or another with the same nonce was): it counts as
        success only when some endpoint knows a transaction with our hash.
        """
        if len(params) != 1 or not isinstance(params[0], str | bytes):
            raise ValueError("eth_sendRawTransaction takes one raw transaction (hex string or bytes)")
        raw = params[0]
        raw_bytes = raw if isinstance(raw, bytes) else bytes.fromhex(raw.removeprefix("0x"))
        raw_hex = "0x" + raw_bytes.hex()
        tx_hash = "0x" + keccak(raw_bytes).hex()
        method = "eth_sendRawTransaction"
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        request_id = self.dispatcher.next_ids()
        body = codec.encode_request(method, [raw_hex], request_id)
        attempts = await self.dispatcher.broadcast(
            self.table(), method, body, lambda b: codec.decode_answer(b, request_id), deadline
        )
        answers = [a.answer for a in attempts if a.fault is None]
        for answer in reversed(answers):
            if answer.error is None:
                return RpcAnswer(id=request_id, result=answer.result)
            if is_already_known(answer.error.message):
                return RpcAnswer(id=request_id, result=tx_hash)
        if any(a.error is not None and is_nonce_too_low(a.error.message) for a in answers):
            remaining = max(0.05, deadline - time.monotonic())
            known = await self.acall("eth_getTransactionByHash", [tx_hash], timeout=remaining)
            if known.error is None and known.result is not None:
                return RpcAnswer(id=request_id, result=tx_hash)
        if answers:
            return answers[-1]  # the chain's refusal (e.g. insufficient funds): an answer, not a fault
        raise RpcUnavailable(method, [(a.route.name, a.fault.kind.value) for a in attempts if a.fault is not None])

    # --- bridging to the io loop ----------------------------------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run one of this client's coroutines on the io loop; a future of its result."""
        return self._io.submit(coro)

    def on_io_loop(self) -> bool:
        return self._io.in_loop()

    # --- blocking calls (never from inside an actor's handler, never on the io loop) -----------------

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float | None) -> Any:
        if self._io.in_loop():
            coro.close()
            raise RuntimeError("blocking RpcClient call on the io loop thread: use the a* coroutines")
        future = self._io.submit(coro)
        limit = (timeout if timeout is not None else self.policy.deadline_s) + 1.0
        try:
            return future.result(limit)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RpcUnavailable("(call)", [], f"no result within {limit:.1f}s") from None

    def call(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> RpcAnswer:
        """The answer to one call, read from this thread (hedged, retried); `RpcUnavailable` if none came."""
        if method == "eth_sendRawTransaction":
            return self._run(self.acall(method, params, timeout=timeout), timeout)  # type: ignore[no-any-return]
        if self._io.in_loop():
            self._refuse_on_loop()
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        request_id = self.dispatcher.next_id()
        body = codec.encode_request(method, params, request_id)
        answer: RpcAnswer = read_in_thread(
            self.dispatcher, self.table(), method, body, lambda raw: codec.decode_answer(raw, request_id), deadline
        )
        return answer

    def _refuse_on_loop(self) -> None:
        if self._io.in_loop():
            raise RuntimeError("blocking RpcClient call on the io loop thread: use the a* coroutines")

    def request(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> Any:
        """The result of `method`; raises `RpcError` (an answer: revert...) or `RpcUnavailable`."""
        return self.call(method, params, timeout=timeout).unwrap(method)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float | None = None) -> list[RpcAnswer]:
        """One JSON-RPC batch to one endpoint, read from this thread; answers in call order."""
        if not calls:
            return []
        if any(method == "eth_sendRawTransaction" for method, _ in calls):
            raise ValueError("eth_sendRawTransaction is broadcast on its own, not batched")
        self._refuse_on_loop()
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        first = self.dispatcher.next_ids(len(calls))
        body = codec.encode_batch(calls, first)
        answers: list[RpcAnswer] = read_in_thread(
            self.dispatcher, self.table(), _batch_label(calls), body,
            lambda raw: codec.decode_batch(raw, first, len(calls)), deadline,
        )
        return answers

    def send_raw_transaction(self, raw: str | bytes, *, timeout: float | None = None) -> str:
        """Broadcast a signed transaction to every healthy endpoint; its hash."""
        return str(self.request("eth_sendRawTransaction", [raw], timeout=timeout))

    def request_future(
        self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None
    ) -> concurrent.futures.Future[Any]:
        """Non-blocking: a future of the result (for `ctx.pipe` inside actors)."""
        return self._io.submit(self.arequest(method, params, timeout=timeout))

    def close(self) -> None:
        """Close every keep-alive pool of this client's registry (the process-wide one by default)."""
        try:
            self._io.submit(self.dispatcher.transports.close_all()).result(5.0)
        except (concurrent.futures.TimeoutError, RuntimeError) as e:
            logger.warning("rpc client close: {}", e)


__all__ = ["RpcClient", "RpcError", "RpcUnavailable", "endpoint_path", "router_path"]

