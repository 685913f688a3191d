"""A hedged read run in the blocking caller's own thread: `rpc.race`'s plan over `rpc.sockets`.

The caller sends to the best endpoint and waits on its socket with `select` (microsecond timeouts,
so a 0.5 ms hedge delay means 0.5 ms); when the hedge delay passes it sends to the next endpoint
too and waits on both; a fault moves on at once. Attempts are judged and reported by the same
`Dispatcher.judge` as the io loop's race. What is still out when the race ends is handed to the io
loop to finish: a loser gets `loser_grace_s` to answer (its outcome still teaches the breaker, and
its connection goes back to the pool), an attempt cut off by the call's deadline gets its own
attempt timeout. The caller never waits for either.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

from protocol.network import EndpointRoute, FaultKind, RoutingTable
from rpc.dispatch import Attempt, Decode, Dispatcher
from rpc.errors import EndpointFault, RpcUnavailable
from rpc.http1 import ResponseReader, simple_200
from rpc.race import RacePlan
from rpc.sockets import SocketConnection, SocketPool
from rpc.transport import HttpTransport


class _Flight:
    """One attempt in progress: an endpoint, the connection carrying it, the reader of its answer (made
    when a first read is not the plain whole answer `simple_200` takes)."""

    __slots__ = ("conn", "expires", "hedge", "reader", "request", "retried", "route", "started", "transport")

    def __init__(
        self, route: EndpointRoute, transport: HttpTransport, request: bytes, started: float, expires: float,
        hedge: bool, conn: SocketConnection | None = None,
    ) -> None:
        self.route, self.transport, self.request = route, transport, request
        self.conn: SocketConnection = conn if conn is not None else transport.sockets.take()
        self.reader: ResponseReader | None = None
        self.started, self.expires, self.hedge = started, expires, hedge
        self.retried = False

    @property
    def pool(self) -> SocketPool:
        return self.transport.sockets

    def get_reader(self) -> ResponseReader:
        if self.reader is None:
            self.reader = self.transport.reader()
        return self.reader

    def fileno(self) -> int:
        return self.conn.fileno()


def read_in_thread(
    dispatcher: Dispatcher, table: RoutingTable, method: str, body: bytes, decode: Decode, deadline: float,
    hedge: bool = True,
) -> Any:
    """The first good answer to `body` (decoded), or `RpcUnavailable`. Blocks this thread; never the io loop's.

    The common case is kept to the bone, since every microsecond of Python here is GIL time that all
    concurrent callers queue for: on a kept-alive connection, send, wait once up to the hedge delay,
    read a plain 200 and judge it. Anything else becomes a `_ThreadRace`, which takes the first
    attempt over as it stands."""
    d = dispatcher
    plan = RacePlan(d.usable_or_raise(table, method), d.policy, hedge)
    route = plan.launch()
    transport = d.transports.get(route.name, route.url)
    conn = transport.sockets.take()
    started = time.monotonic()
    expires = min(started + d.policy.attempt_timeout_s, deadline)
    request = transport.target.request(body)
    outcome: bytes | EndpointFault | None = None
    if conn.sock is not None:
        delay = plan.hedge_delay()
        try:
            outcome = conn.exchange(request, (expires if delay is None else min(expires, started + delay)) - started)
        except EndpointFault as fault:
            outcome = fault
        if isinstance(outcome, bytes) and outcome:
            simple = simple_200(outcome, transport.max_body_bytes)
            if simple is not None:
                transport.sockets.give(conn, simple[1])
                attempt = d.judge(route, method, started, simple[0], decode, table)
                if attempt.fault is None:
                    return attempt.answer
                race = _ThreadRace(d, table, plan, method, body, decode, deadline)
                race.settled(attempt)
                return race.run()
    race = _ThreadRace(d, table, plan, method, body, decode, deadline)
    flight = _Flight(route, transport, request, started, expires, False, conn)
    race.track(flight)
    if conn.sock is None:  # a new connection: connecting takes the general path
        race.begin(flight)
    elif isinstance(outcome, EndpointFault):
        race.fault(flight, outcome)
    elif outcome is not None:
        race.received(flight, outcome)
    return race.run()


class _ThreadRace:
    def __init__(
        self, dispatcher: Dispatcher, table: RoutingTable, plan: RacePlan, method: str, body: bytes,
        decode: Decode, deadline: float,
    ) -> None:
        self.d, self.table, self.plan = dispatcher, table, plan
        self.method, self.body, self.decode, self.deadline = method, body, decode, deadline
        self.flights: list[_Flight] = []
        self.hedge_at: float | None = None
        self.next_due = deadline  # the earliest of the deadline, an attempt's timeout, the hedge
        self.winner: Attempt | None = None

    def run(self) -> Any:
        """Wait, hedge, retry until an answer wins or the deadline passes (attempts already launched)."""
        while self.winner is None:
            now = time.monotonic()
            if now >= self.next_due:
                self._due(now)
                if self.winner is not None:
                    break
            flights = self.flights
            if not flights:
                raise RpcUnavailable(self.method, self.plan.failures)
            for flight in _ready(flights, self.next_due - now):
                self._advance(flight)
                if self.winner is not None:
                    break
        for flight in self.flights:
            self._finish_in_background(flight, time.monotonic() + self.d.policy.loser_grace_s, loser=True)
        return self.winner.answer

    def _due(self, now: float) -> None:
        """What time brings: the deadline (raises), attempts past their timeout, a hedge; then the next
        moment anything is due (`next_due`, which the wait is bounded by)."""
        if now >= self.deadline:
            for flight in self.flights:
                self._finish_in_background(flight, flight.expires, loser=False)
            raise RpcUnavailable(self.method, self.plan.failures + self.plan.unanswered(), "deadline passed")
        for flight in [f for f in self.flights if now >= f.expires]:
            timeout = f"no answer in {(flight.expires - flight.started) * 1000:.0f} ms"
            self.fault(flight, EndpointFault(FaultKind.TIMEOUT, timeout, endpoint=flight.route.name))
        if self.hedge_at is not None and now >= self.hedge_at and self.winner is None:
            self.hedge_at = None
            route = self.plan.take_hedge()
            if route is not None:
                self.d.count_hedge(route.name, won=False)
                self._launch(route, hedge=True)
        due = min([self.deadline, *(f.expires for f in self.flights)])
        self.next_due = due if self.hedge_at is None else min(due, self.hedge_at)

    # --- attempts ----------------------------------------------------------------------------------

    def _launch(self, route: EndpointRoute, *, hedge: bool) -> None:
        transport = self.d.transports.get(route.name, route.url)
        now = time.monotonic()
        expires = min(now + self.d.policy.attempt_timeout_s, self.deadline)
        flight = _Flight(route, transport, transport.target.request(self.body), now, expires, hedge)
        self.track(flight)
        self.begin(flight)

    def track(self, flight: _Flight) -> None:
        """Count a just-launched attempt in: its timeout, and the hedge that may follow it."""
        self.flights.append(flight)
        delay = self.plan.hedge_delay()
        self.hedge_at = flight.started + delay if delay is not None else None
        due = min(self.next_due, flight.expires)
        self.next_due = due if self.hedge_at is None else min(due, self.hedge_at)

    def begin(self, flight: _Flight) -> None:
        try:
            flight.pool.begin(flight.conn, flight.request)
        except EndpointFault as fault:
            self.fault(flight, fault)

    def received(self, flight: _Flight, data: bytes) -> None:
        """First bytes that were not a plain whole answer (or b"": the peer closed): the reader takes over."""
        self._step(flight, lambda reader: reader.feed(data) if data else reader.eof())

    def _advance(self, flight: _Flight) -> None:
        self._step(flight, flight.conn.advance)

    def _step(self, flight: _Flight, read: Callable[[ResponseReader], bool]) -> None:
        """Feed the flight's reader by `read`; a fault, or the whole answer, settles the flight."""
        try:
            complete = read(flight.get_reader())
        except EndpointFault as fault:
            self.fault(flight, fault)
            return
        if complete:
            self._answered_by_reader(flight)

    def _answered_by_reader(self, flight: _Flight) -> None:
        reader = flight.get_reader()
        try:
            raw = reader.body()
        except EndpointFault as fault:
            flight.pool.give(flight.conn, reader.keep_alive)
            self.flights.remove(flight)
            self.settled(self.d.judge(flight.route, self.method, flight.started, fault, self.decode, self.table,
                                       flight.hedge))
            return
        self._answered(flight, raw, reader.keep_alive)

    def _answered(self, flight: _Flight, raw: bytes, reusable: bool) -> None:
        self.flights.remove(flight)
        flight.pool.give(flight.conn, reusable)
        self.settled(self.d.judge(flight.route, self.method, flight.started, raw, self.decode, self.table,
                                   flight.hedge))

    def fault(self, flight: _Flight, fault: EndpointFault) -> None:
        received = 0 if flight.reader is None else flight.reader.received
        stale = fault.kind is FaultKind.CONNECTION and flight.conn.reused and received == 0
        if stale and not flight.retried:
            # The server had closed this idle keep-alive connection: once more on a fresh one, same attempt.
            flight.retried = True
            flight.conn = flight.pool.replace(flight.conn)
            flight.reader = None
            self.begin(flight)
            return
        self.flights.remove(flight)
        flight.pool.give(flight.conn, False)
        self.settled(self.d.judge(flight.route, self.method, flight.started, fault, self.decode, self.table,
                                   flight.hedge))

    def settled(self, attempt: Attempt) -> None:
        if attempt.fault is None:
            if attempt.hedge:
                self.d.count_hedge(attempt.route.name, won=True)
            self.winner = attempt
            return
        retry = self.plan.failed(attempt.route.name, attempt.fault.kind.value)
        if retry is not None:
            self._launch(retry, hedge=False)  # a retryable fault moves on at once to the next endpoint

    # --- what the caller leaves behind ----------------------------------------------------------------

    def _finish_in_background(self, flight: _Flight, until: float, *, loser: bool) -> None:
        """Hand an attempt still out to the io loop: it is judged if it ends by `until`, else cut off
        (a loser is reported SLOW, an attempt past the call's deadline TIMEOUT)."""
        d, loop, conn, reader = self.d, self.d.loop, flight.conn, flight.get_reader()
        method, decode, table = self.method, self.decode, self.table

        def cut_off() -> None:
            conn.close()
            flight.pool.give(conn, False)
            if loser:
                d.lost(flight.route.name, method, flight.started)
                d.count_losers_cancelled(1)
            else:
                timeout = EndpointFault(FaultKind.TIMEOUT, "no answer before the attempt's deadline")
                d.judge(flight.route, method, flight.started, timeout, decode, table)

        def adopt() -> None:
            fd = conn.fileno()
            if fd < 0 or conn.wants_write:  # still connecting or sending: not worth finishing
                cut_off()
                return

            def finish(raw: bytes | EndpointFault, reusable: bool) -> None:
                loop.remove_reader(fd)
                timer.cancel()
                flight.pool.give(conn, reusable)
                d.judge(flight.route, method, flight.started, raw, decode, table)

            def readable() -> None:
                try:
                    if not conn.advance(reader):
                        return
                    raw: bytes | EndpointFault = reader.body()
                except EndpointFault as fault:
                    conn.close()
                    finish(fault, False)
                    return
                finish(raw, reader.keep_alive)

            def expire() -> None:
                loop.remove_reader(fd)
                cut_off()

            timer = loop.call_later(max(0.0, until - time.monotonic()), expire)
            loop.add_reader(fd, readable)

        try:
            loop.call_soon_threadsafe(adopt)
        except RuntimeError:  # the loop is closed (process exit)
            conn.close()


def _ready(flights: list[_Flight], timeout: float) -> list[_Flight]:
    """The flights whose sockets are ready, waiting at most `timeout` seconds (to the microsecond)."""
    if len(flights) == 1:  # the common case, kept lean: one attempt waiting for its answer
        flight = flights[0]
        try:
            if flight.conn.wants_write:
                return select.select((), flights, (), max(0.0, timeout))[1]
            return select.select(flights, (), (), max(0.0, timeout))[0]
        except ValueError:
            pass  # past FD_SETSIZE: poll below
    readers = [f for f in flights if not f.conn.wants_write]
    writers = [f for f in flights if f.conn.wants_write]
    try:
        r, w, _ = select.select(readers, writers, [], max(0.0, timeout))
        return r + w
    except ValueError:  # a descriptor past FD_SETSIZE: poll has no such limit, only millisecond timeouts
        poller = select.poll()
        by_fd: dict[int, _Flight] = {}
        for flight in flights:
            by_fd[flight.fileno()] = flight
            poller.register(flight.fileno(), select.POLLOUT if flight.conn.wants_write else select.POLLIN)
        return [by_fd[fd] for fd, _ in poller.poll(max(0.0, timeout) * 1000)]


__all__ = ["read_in_thread"]
