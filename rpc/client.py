"""RpcClient: the one way any part of arbiter reads the chain or sends a transaction.

Thread-safe. A call reads the router's published `RoutingTable` (no mailbox hop), is hedged,
retried and deadline-bound, and tells each attempt's outcome to that endpoint's actor. Every read
runs the one race there is: `rpc.dispatch`'s, on the shared io loop, over `rpc.transport`'s pool.
The coroutines (`acall`, `arequest`, `abatch`) run it in place; the blocking calls and
`call_future` / `request_future` start it from the caller's thread with one
`loop.call_soon_threadsafe` and the race completes a `concurrent.futures.Future` directly (no
wrapper task, no coroutine). From inside an actor use `request_future` (or `submit` of a coroutine)
with `ctx.pipe`, never the blocking calls; on the io loop use the coroutines.
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
from rpc.dispatch import Decode, Dispatcher, HedgeCounters
from rpc.errors import RpcError, RpcUnavailable
from rpc.routing import RoutingPolicy, is_already_known, is_nonce_too_low
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
        return self.dispatcher.read(self.table(), method, body, decode, deadline, params=params)

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

    # --- from other threads: the same race, started on the loop ------------------------------------

    def _start_read(
        self, method: str, body: bytes, decode: Decode, deadline: float, params: Sequence[Any] | None = None
    ) -> concurrent.futures.Future[Any]:
        """Start the io loop's race for `body` from this thread; a future the race itself completes.

        One `call_soon_threadsafe` and nothing else: the race sets the concurrent future's result as it
        would an asyncio one's, so the answer reaches this thread without another hop on the loop."""
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            table = self.table()
        except RpcUnavailable as e:  # in the future, as every other failure: an actor's pipe sees it there
            done.set_exception(e)
            return done
        read_into = self.dispatcher.read_into

        def start() -> None:
            try:
                read_into(done, table, method, body, decode, deadline, params=params)
            except BaseException as e:  # a bug: the caller must hear of it, not wait out its deadline
                if not done.done():
                    done.set_exception(e)

        try:
            self._io.loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop is closed (process exit)
            raise RpcUnavailable(method, [], "the io loop is closed") from None
        return done

    def call_future(
        self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None
    ) -> concurrent.futures.Future[Any]:
        """Non-blocking, from any thread but the loop's: a future of the `RpcAnswer` to one call."""
        self._refuse_on_loop()
        if method == "eth_sendRawTransaction":
            return self._io.submit(self._send_raw(params, timeout))
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        request_id = self.dispatcher.next_ids()
        body = codec.encode_request(method, params, request_id)
        return self._start_read(method, body, lambda raw: codec.decode_answer(raw, request_id), deadline, params)

    def batch_future(
        self, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float | None = None
    ) -> concurrent.futures.Future[Any]:
        """Non-blocking, from any thread but the loop's: a future of one batch's answers, in call order."""
        if not calls:
            empty: concurrent.futures.Future[Any] = concurrent.futures.Future()
            empty.set_result([])
            return empty
        if any(method == "eth_sendRawTransaction" for method, _ in calls):
            raise ValueError("eth_sendRawTransaction is broadcast on its own, not batched")
        self._refuse_on_loop()
        deadline = time.monotonic() + (timeout if timeout is not None else self.policy.deadline_s)
        first = self.dispatcher.next_ids(len(calls))
        body = codec.encode_batch(calls, first)
        return self._start_read(
            _batch_label(calls), body, lambda raw: codec.decode_batch(raw, first, len(calls)), deadline
        )

    def request_future(
        self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None
    ) -> concurrent.futures.Future[Any]:
        """Non-blocking: a future of the result (for `ctx.pipe` inside actors); a JSON-RPC error as `RpcError`."""
        answer = self.call_future(method, params, timeout=timeout)
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def unwrap(done: concurrent.futures.Future[Any]) -> None:
            try:
                result.set_result(done.result().unwrap(method))
            except BaseException as e:
                result.set_exception(e)

        answer.add_done_callback(unwrap)
        return result

    # --- blocking calls (never from inside an actor's handler, never on the io loop) -----------------

    def _wait(self, future: concurrent.futures.Future[Any], timeout: float | None) -> Any:
        """The future's result. The race ends itself at its deadline; the margin only covers a stalled loop."""
        limit = (timeout if timeout is not None else self.policy.deadline_s) + 1.0
        try:
            return future.result(limit)
        except concurrent.futures.TimeoutError:
            raise RpcUnavailable("(call)", [], f"no result within {limit:.1f}s") from None

    def _refuse_on_loop(self) -> None:
        if self._io.in_loop():
            raise RuntimeError("blocking RpcClient call on the io loop thread: use the a* coroutines")

    def call(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> RpcAnswer:
        """The answer to one call (hedged, retried on the io loop); `RpcUnavailable` if none came."""
        answer: RpcAnswer = self._wait(self.call_future(method, params, timeout=timeout), timeout)
        return answer

    def request(self, method: str, params: Sequence[Any] = (), *, timeout: float | None = None) -> Any:
        """The result of `method`; raises `RpcError` (an answer: revert...) or `RpcUnavailable`."""
        return self.call(method, params, timeout=timeout).unwrap(method)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float | None = None) -> list[RpcAnswer]:
        """One JSON-RPC batch to one endpoint (hedged and retried as a whole); answers in call order."""
        if not calls:
            return []
        answers: list[RpcAnswer] = self._wait(self.batch_future(calls, timeout=timeout), timeout)
        return answers

    def send_raw_transaction(self, raw: str | bytes, *, timeout: float | None = None) -> str:
        """Broadcast a signed transaction to every healthy endpoint; its hash."""
        return str(self.request("eth_sendRawTransaction", [raw], timeout=timeout))

    def close(self) -> None:
        """Close every keep-alive pool of this client's registry (the process-wide one by default)."""
        try:
            self._io.submit(self.dispatcher.transports.close_all()).result(5.0)
        except (concurrent.futures.TimeoutError, RuntimeError) as e:
            logger.warning("rpc client close: {}", e)


__all__ = ["RpcClient", "RpcError", "RpcUnavailable", "endpoint_path", "router_path"]

