"""The core of the router client: judging one attempt, a hedged read with retries, a broadcast.

Everything here runs on the shared io loop; it is the only race there is. Coroutines and actors
start it in place, blocking callers from their own thread (`RpcClient._start_read`), handing in a
`concurrent.futures.Future` the race completes itself. Every attempt's outcome (the winner's and every
loser's) is reported through `report` so the endpoint actors, the single writers of breakers and
statistics, see all traffic. A JSON-RPC execution error is an answer: it ends the call, it never fails
over.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from loguru import logger

from performance.recorder import record_ns
from protocol.network import EndpointRoute, FaultKind, RequestOutcome, RequestOutcomes, RoutingTable
from rpc.codec import RpcAnswer
from rpc.consensus import names_head
from rpc.errors import EndpointFault, RpcUnavailable
from rpc.race import RacePlan
from rpc.routing import RoutingPolicy, is_already_known
from rpc.transport import TransportRegistry
from rpc.verify import AnswerVerifier

#: The measurement of one read as its caller sees it (first good answer or the final failure).
RPC_CALL = "rpc.call"

Decode = Callable[[bytes], Any]
#: What a race completes: an asyncio future (callers on the loop) or a concurrent one (other threads).
Completion = asyncio.Future[Any] | concurrent.futures.Future[Any]
Report = Callable[[RequestOutcomes], None]

#: Successful outcomes are held this long and told to the endpoint actor together; faults go at once.
REPORT_BATCH_S = 0.005


@dataclass
class HedgeCounters:
    """Hedges fired and won, in total and per endpoint the hedge went to (written on the io loop only)."""

    fired: int = 0
    won: int = 0
    losers_cancelled: int = 0
    fired_to: dict[str, int] = field(default_factory=dict)
    won_by: dict[str, int] = field(default_factory=dict)


class Attempt(NamedTuple):
    """What one attempt yielded. A NamedTuple: made on every call, and a frozen dataclass costs 3x more."""

    route: EndpointRoute
    answer: Any = None  # decoded value on success
    fault: EndpointFault | None = None
    hedge: bool = False


class Dispatcher:
    """Sends JSON-RPC bodies to endpoints from a routing table; hedges, retries, broadcasts."""

    def __init__(
        self,
        transports: TransportRegistry,
        policy: RoutingPolicy,
        report: Report,
        loop: asyncio.AbstractEventLoop,
        on_hedge: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.transports = transports
        self.policy = policy
        self.report = report
        self.loop = loop
        self.on_hedge = on_hedge
        self.hedges = HedgeCounters()
        self.parked: dict[str, float] = {}  # endpoint -> monotonic deadline, ahead of the actor's republish
        # Outcomes from every thread, drained by the loop. No lock: deque.append/popleft are atomic, and a
        # lock taken on every call is one more place for concurrent callers to queue.
        self._outbox: deque[RequestOutcome] = deque()
        self._flush_armed = False
        self._flush_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Attempt]] = set()
        self._ids = itertools.count(1)
        self.verify = AnswerVerifier(self)  # heads, monotonic reads, cross-checks: rpc.verify

    def next_ids(self, count: int = 1) -> int:
        """The first of `count` fresh request ids (ids never repeat within a process)."""
        first = next(self._ids)
        for _ in range(count - 1):
            next(self._ids)
        return first

    def usable(self, table: RoutingTable, now: float) -> list[EndpointRoute]:
        if self.parked:
            for name, until in list(self.parked.items()):
                if until <= now:
                    self.parked.pop(name, None)  # expired: the common case goes back to the short path
        if not self.parked:
            return [r for r in table.routes if r.parked_until <= now]
        return [r for r in table.routes if r.parked_until <= now and self.parked.get(r.name, 0.0) <= now]

    def usable_or_raise(self, table: RoutingTable, method: str) -> list[EndpointRoute]:
        routes = self.usable(table, time.monotonic())
        if not routes:
            reason = "every routable endpoint is parked" if table.routes else "no healthy endpoint"
            excluded = f" (excluded: {table.excluded})" if table.excluded else ""
            raise RpcUnavailable(method, [], reason + excluded)
        return routes

    async def attempt(
        self, route: EndpointRoute, method: str, body: bytes, decode: Decode, deadline: float,
        table: RoutingTable, hedge: bool = False, head_read: bool = False,
    ) -> Attempt:
        """One request to one endpoint on the io loop; never raises. Reports the outcome."""
        transport = self.transports.get(route.name, route.url)
        started = time.monotonic()
        timeout = min(self.policy.attempt_timeout_s, deadline - started)
        try:
            raw: bytes | EndpointFault = await transport.post(body, timeout)
        except asyncio.CancelledError:
            self.lost(route.name, method, started)
            raise
        except EndpointFault as fault:
            raw = fault
        return self.judge(route, method, started, raw, decode, table, hedge, head_read)

    def judge(
        self, route: EndpointRoute, method: str, started: float, raw: bytes | EndpointFault, decode: Decode,
        table: RoutingTable, hedge: bool = False, head_read: bool = False,
    ) -> Attempt:
        """What one finished attempt yielded (an answer or a fault), reported; never raises."""
        if isinstance(raw, EndpointFault):
            return self._failed(route, method, started, raw, hedge)
        try:
            answer = self.verify.check(route, method, decode(raw), table, head_read)
        except EndpointFault as fault:
            return self._failed(route, method, started, fault, hedge)
        except Exception as e:  # a bug or a body no decoder foresaw: charge the endpoint, never crash the caller
            logger.opt(exception=e).warning("rpc {}: unexpected error on {}", route.name, method)
            return self._failed(route, method, started, EndpointFault(FaultKind.GARBAGE, type(e).__name__), hedge)
        self.queue(RequestOutcome(route.name, method, time.monotonic() - started), urgent=False)
        return Attempt(route, answer=answer, hedge=hedge)

    def lost(self, endpoint: str, method: str, started: float) -> None:
        """An attempt cancelled because another endpoint won: what we know is that it took at least this long."""
        slow = RequestOutcome(endpoint, method, time.monotonic() - started, FaultKind.SLOW, None, "lost a hedge")
        self.queue(slow, urgent=False)

    def queue(self, outcome: RequestOutcome, *, urgent: bool) -> None:
        """Hold an outcome for its endpoint's next batch; a fault flushes at once (breakers react fast).

        On the loop, like everything here. Append first, then look at the flag (the flush clears the flag,
        then drains): no outcome is ever stranded."""
        self._outbox.append(outcome)
        if urgent:
            self._flush_now()
        elif not self._flush_armed:
            self._flush_armed = True
            self._arm_flush()

    def _arm_flush(self) -> None:
        if self._flush_timer is None:
            self._flush_timer = self.loop.call_later(REPORT_BATCH_S, self._flush)

    def _flush_now(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self.loop.call_soon(self._flush)  # after the caller's answer is delivered

    def _flush(self) -> None:
        self._flush_timer = None
        self._flush_armed = False
        outbox: dict[str, list[RequestOutcome]] = {}
        while self._outbox:
            outcome = self._outbox.popleft()
            outbox.setdefault(outcome.endpoint, []).append(outcome)
        for endpoint, outcomes in outbox.items():
            try:
                self.report(RequestOutcomes(endpoint, tuple(outcomes)))
            except Exception as e:  # reporting must never break the loop
                logger.warning("rpc: reporting {} outcome(s) of {} failed: {}", len(outcomes), endpoint, e)

    def _failed(self, route: EndpointRoute, method: str, started: float, fault: EndpointFault, hedge: bool) -> Attempt:
        fault = fault.at(route.name)
        if fault.kind is FaultKind.RATE_LIMITED:
            park = fault.retry_after_s if fault.retry_after_s is not None else self.policy.park_default_s
            self.parked[route.name] = time.monotonic() + park
        own, best = fault.heads if fault.heads is not None else (None, None)
        outcome = RequestOutcome(
            route.name, method, time.monotonic() - started, fault.kind, fault.retry_after_s, fault.detail[:200],
            own, best,
        )
        self.queue(outcome, urgent=True)
        return Attempt(route, fault=fault, hedge=hedge)

    def keep(self, tasks: set[asyncio.Task[Any]]) -> None:
        """Let attempts finish in the background (a broadcast's other endpoints; reads past their deadline)."""
        for task in tasks:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _cancel_losers(self, tasks: set[asyncio.Task[Attempt]]) -> None:
        """Give the attempts a race no longer needs `loser_grace_s` to finish, then cancel them.

        A loser that fails within the grace (a dead endpoint answering with a reset) is reported as
        that fault, so the breaker still learns. One still out after it is cancelled and reports itself
        SLOW: a straggler left running holds a pooled connection for its whole duration, and enough of
        them exhaust the pool (measured: 300 ms stragglers on 10% of calls made 75% of reads wait for a
        connection and get hedged)."""
        if not tasks:
            return
        self.keep(tasks)
        pending = set(tasks)

        def cancel() -> None:
            still_out = [task for task in pending if not task.done()]
            for task in still_out:
                task.cancel()
            if still_out:
                self.count_losers_cancelled(len(still_out))

        asyncio.get_running_loop().call_later(self.policy.loser_grace_s, cancel)

    def read(
        self, table: RoutingTable, method: str, body: bytes, decode: Decode, deadline: float, hedge: bool = True,
        params: Sequence[Any] | None = None,
    ) -> asyncio.Future[Any]:
        """Send to the best usable endpoint; hedge after its delay; retry retryable faults elsewhere.

        Call on the io loop. The future completes with the first good answer (an `RpcAnswer` or a list
        of them) or `RpcUnavailable`. Driven by callbacks rather than `asyncio.wait`: the hot path is one
        task per attempt and nothing else.
        """
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.read_into(result, table, method, body, decode, deadline, hedge, params)
        return result

    def read_into(
        self, result: Completion, table: RoutingTable, method: str, body: bytes, decode: Decode, deadline: float,
        hedge: bool = True, params: Sequence[Any] | None = None,
    ) -> None:
        """`read`, completing `result`: a `concurrent.futures.Future` a caller in another thread waits on
        is set from the loop directly, with no hop back through it. Call on the io loop.

        `params` (a single call's) let the verifier tell head reads and sample the read for a cross-check."""
        try:
            routes = self.usable_or_raise(table, method)
        except RpcUnavailable as e:
            _complete(result, error=e)
            return
        head_read = params is not None and names_head(method, params)
        verify = self.verify
        verify.sync(table)
        routes = verify.order(routes, head_read)
        verify.start(table, routes, method, params, head_read)
        plan = RacePlan(routes, self.policy, hedge)
        _Race(self, asyncio.get_running_loop(), result, table, plan, method, body, decode, deadline,
              head_read).start()

    def count_hedge(self, endpoint: str, *, won: bool) -> None:
        if won:
            self.hedges.won += 1
            self.hedges.won_by[endpoint] = self.hedges.won_by.get(endpoint, 0) + 1
        else:
            self.hedges.fired += 1
            self.hedges.fired_to[endpoint] = self.hedges.fired_to.get(endpoint, 0) + 1
        if self.on_hedge is not None:
            self.on_hedge(endpoint, won)

    def count_losers_cancelled(self, count: int) -> None:
        self.hedges.losers_cancelled += count

    async def broadcast(
        self, table: RoutingTable, method: str, body: bytes, decode: Decode, deadline: float
    ) -> list[Attempt]:
        """Send to every usable endpoint at once; return as soon as one answers (others finish in background).

        Returns the attempts finished so far: the last one is an answer, or all of them are faults.
        """
        routes = self.usable(table, time.monotonic())
        if not routes:
            raise RpcUnavailable(method, [], "no healthy endpoint to broadcast to")
        loop = asyncio.get_running_loop()
        pending = {loop.create_task(self.attempt(r, method, body, decode, deadline, table)) for r in routes}
        finished: list[Attempt] = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finished.extend(t.result() for t in done)
            if any(a.fault is None and self._accepted(a.answer) for a in finished):
                finished.sort(key=lambda a: a.fault is None and self._accepted(a.answer))
                self.keep(pending)
                return finished
        return finished

    @staticmethod
    def _accepted(answer: Any) -> bool:
        return isinstance(answer, RpcAnswer) and (answer.error is None or is_already_known(answer.error.message))


def _complete(result: Completion, value: Any = None, error: BaseException | None = None) -> None:
    """Settle a race's future; one its caller has cancelled meanwhile stays as it is."""
    try:
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)
    except (asyncio.InvalidStateError, concurrent.futures.InvalidStateError):
        pass


class _Race:
    """One read racing across endpoints on the io loop: the first good answer wins, faults move on."""

    def __init__(
        self, dispatcher: Dispatcher, loop: asyncio.AbstractEventLoop, result: Completion,
        table: RoutingTable, plan: RacePlan, method: str, body: bytes, decode: Decode, deadline: float,
        head_read: bool = False,
    ) -> None:
        self.d, self.loop, self.result, self.table, self.plan = dispatcher, loop, result, table, plan
        self.method, self.body, self.decode, self.deadline, self.head_read = method, body, decode, deadline, head_read
        self.pending: set[asyncio.Task[Attempt]] = set()
        self.hedge_timer: asyncio.TimerHandle | None = None
        self.deadline_timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.started_ns = time.perf_counter_ns()
        self.deadline_timer = self.loop.call_at(self.loop.time() + max(0.0, self.deadline - time.monotonic()),
                                                self._deadline_passed)
        self._launch(self.plan.launch(), hedge=False)

    def _launch(self, route: EndpointRoute, *, hedge: bool) -> None:
        task = self.loop.create_task(
            self.d.attempt(route, self.method, self.body, self.decode, self.deadline, self.table, hedge, self.head_read)
        )
        self.pending.add(task)
        task.add_done_callback(self._finished)
        if self.hedge_timer is not None:
            self.hedge_timer.cancel()
            self.hedge_timer = None
        delay = self.plan.hedge_delay()
        if delay is not None:
            self.hedge_timer = self.loop.call_later(delay, self._hedge)

    def _hedge(self) -> None:
        self.hedge_timer = None
        if self.result.done():
            return
        route = self.plan.take_hedge()
        if route is not None:
            self.d.count_hedge(route.name, won=False)
            self._launch(route, hedge=True)

    def _finished(self, task: asyncio.Task[Attempt]) -> None:
        self.pending.discard(task)
        if self.result.done():
            return  # a loser: its outcome was reported; its answer is ignored
        if task.cancelled():  # only at loop shutdown: nothing more will answer
            self._settle()
            _complete(self.result, error=RpcUnavailable(self.method, self.plan.failures, "cancelled"))
            return
        attempt = task.result()
        if attempt.fault is None:
            if attempt.hedge:
                self.d.count_hedge(attempt.route.name, won=True)
            self._settle(won=True)
            _complete(self.result, attempt.answer)
            return
        retry = self.plan.failed(attempt.route.name, attempt.fault.kind.value)
        if retry is not None:
            self._launch(retry, hedge=False)  # a retryable fault moves on at once to the next endpoint
        elif not self.pending:
            self._settle()
            _complete(self.result, error=RpcUnavailable(self.method, self.plan.failures))

    def _deadline_passed(self) -> None:
        self.deadline_timer = None
        if self.result.done():
            return
        self._settle()
        unanswered = self.plan.failures + self.plan.unanswered()
        _complete(self.result, error=RpcUnavailable(self.method, unanswered, "deadline passed"))

    def _settle(self, won: bool = False) -> None:
        # the caller's view of the call, across hedges and retries: the rpcLatency SLO's events
        record_ns(RPC_CALL, time.perf_counter_ns() - self.started_ns, won)
        for timer in (self.hedge_timer, self.deadline_timer):
            if timer is not None:
                timer.cancel()
        self.hedge_timer = self.deadline_timer = None
        if won:
            self.d._cancel_losers(self.pending)
        else:
            self.d.keep(self.pending)  # past the deadline they end on their own timeouts, reported as such
