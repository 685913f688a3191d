"""Is an answer true? The dispatcher's checks of heads and of sampled reads, on the io loop.

Decisions live in the pure modules (`rpc.heads` for heads, `rpc.consensus` for cross-checks); this
module applies them to the race's attempts and starts the background requests they call for:
- every eth_blockNumber answer is judged against the best head any endpoint has reported (answers,
  health checks, WebSocket newHeads from the routing table's `stream_heads`): more than
  `head_tolerance_blocks` behind is a STALE fault (the race retries elsewhere, the endpoint's breaker
  gets a lag sample at once); a taken head is raised to the best reported head (some endpoint has that
  block) and never falls below one handed out before (monotonic reads);
- a head-tagged read ("latest" or no block) that an endpoint known to be behind answered is re-sent, and
  head reads go first to endpoints at the best head (a `trailing` one, below it since it rose, goes last);
- a head far ahead of every other endpoint is UNCONFIRMED until the others are asked afresh, then a lie;
- when a block is overdue, a head probe asks the other endpoints (a frozen endpoint answers promptly);
- a sampled share of reads is asked again of several endpoints, pinned at one block (consensus).
A lie is told to the endpoint's actor as a LYING outcome whose detail is the evidence; the endpoint is
left out of this client's reads at once, until the router's table excludes it too.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from loguru import logger

from protocol.network import EndpointRoute, FaultKind, RequestOutcome, RoutingTable
from rpc import codec, consensus
from rpc.codec import RpcAnswer
from rpc.errors import EndpointFault
from rpc.heads import HeadTracker, HeadVerdict

if TYPE_CHECKING:
    from rpc.dispatch import Dispatcher

#: Endpoints a head probe asks besides the one carrying the traffic.
PROBE_FANOUT = 2
#: Blocks below the lowest head a cross-check pins its read at (the tip may still reorganise).
PIN_DEPTH_BLOCKS = 1
#: With fewer usable endpoints than this nobody can be outvoted: no cross-checks.
MIN_CROSS_CHECK_ENDPOINTS = 3
#: A WebSocket stream's heads are recorded under this prefix: a witness, never a route.
WITNESS_PREFIX = "ws:"


def _hex_int(value: Any) -> int | None:
    try:
        return int(value, 16) if isinstance(value, str) else None
    except ValueError:
        return None


class AnswerVerifier:
    """One client's view of the truth: its head tracker, the endpoints it caught lying, its samples."""

    def __init__(self, dispatcher: Dispatcher, rng: random.Random | None = None) -> None:
        policy = dispatcher.policy
        self.d = dispatcher
        self.heads = HeadTracker(policy.head_tolerance_blocks, policy.lie_ahead_blocks)
        self.sample_rate = policy.consensus_sample_rate
        self.distrusted: dict[str, str] = {}  # endpoint -> evidence, until the table excludes it
        self.lies: list[tuple[str, str]] = []  # (endpoint, evidence) found by this client, newest last
        self._rng = rng or random.Random()
        self._synced = -1  # the table version last merged
        self._verifying: set[str] = set()
        self.cross_checks = 0
        self.probes = 0

    # --- the table and the routes ---------------------------------------------------------------

    def sync(self, table: RoutingTable) -> None:
        """Merge a newly published table: its endpoints' heads; marks it has caught up with are dropped."""
        if table.version == self._synced:
            return
        self._synced = table.version
        for name in [n for n in self.distrusted if n in table.excluded]:
            del self.distrusted[name]
        routed = {r.name: table.heads.get(r.name) for r in table.routes if r.name not in self.distrusted}
        witnesses: dict[str, tuple[int, float] | None] = {
            WITNESS_PREFIX + name: seen for name, seen in table.stream_heads.items()}
        for name, head in self.heads.sync({**witnesses, **routed}, time.monotonic()):
            if name in routed:  # a stream's head far ahead is only left unrecorded: it serves no reads
                self._suspect(table, name, head)

    def order(self, routes: list[EndpointRoute], head_read: bool) -> list[EndpointRoute]:
        """Leave out endpoints caught lying; for a head read, endpoints behind or trailing the best go last."""
        if self.distrusted:
            routes = [r for r in routes if r.name not in self.distrusted] or routes
        if head_read and (self.heads.behind or self.heads.trailing):
            late = self.heads.behind | self.heads.trailing
            if any(r.name in late for r in routes):
                routes = [r for r in routes if r.name not in late] + [r for r in routes if r.name in late]
        return routes

    def start(self, table: RoutingTable, routes: list[EndpointRoute], method: str,
              params: Sequence[Any] | None, head_read: bool) -> None:
        """At the start of a read: a head probe if a block is overdue, a cross-check if sampled."""
        if head_read and len(routes) > 1 and self.heads.probe_due(time.monotonic()):
            self.probes += 1
            for route in routes[1:1 + PROBE_FANOUT]:
                self._background(self._ask_head(table, route))
        if (self.sample_rate > 0.0 and params is not None and method in consensus.HEAD_READS
                and len(routes) >= MIN_CROSS_CHECK_ENDPOINTS and self._rng.random() < self.sample_rate):
            self.cross_checks += 1
            self._background(self.cross_check(table, method, params))

    # --- judging one answer -----------------------------------------------------------------------

    def check(self, route: EndpointRoute, method: str, answer: Any, table: RoutingTable, head_read: bool) -> Any:
        """The answer to hand on (a head raised to the floor), or an `EndpointFault` raised."""
        if not isinstance(answer, RpcAnswer) or answer.error is not None:
            return answer
        if method == "eth_blockNumber":
            return self._check_head(route, answer, table)
        if method == "eth_chainId" and table.chain_id:
            chain = _hex_int(answer.result)
            if chain != table.chain_id:
                raise EndpointFault(FaultKind.WRONG_CHAIN, f"eth_chainId {answer.result!r}, want {table.chain_id}")
        elif head_read and route.name in self.heads.behind and any(r.name not in self.heads.behind
                                                                    for r in table.routes):
            best, own = self.heads.best or 0, self.heads.heads.get(route.name, 0)
            raise EndpointFault(FaultKind.STALE, f"{method} answered at head {own}, best reported {best}",
                                heads=(own, best))
        return answer

    def _check_head(self, route: EndpointRoute, answer: RpcAnswer, table: RoutingTable) -> RpcAnswer:
        head = _hex_int(answer.result)
        if head is None:
            raise EndpointFault(FaultKind.GARBAGE, f"eth_blockNumber answered {answer.result!r}")
        verdict = self.heads.observe(route.name, head, time.monotonic())
        if verdict is HeadVerdict.BEHIND:
            best = self.heads.best or head
            raise EndpointFault(FaultKind.STALE, f"head {head}, best reported {best}", heads=(head, best))
        if verdict is HeadVerdict.AHEAD_LIE:
            self._suspect(table, route.name, head)
            raise EndpointFault(FaultKind.UNCONFIRMED, f"head {head}, far beyond the others' {self.heads.best}")
        delivered = self.heads.deliver(max(head, self.heads.best or head))
        return answer if delivered == head else msgspec.structs.replace(answer, result=hex(delivered))

    # --- background checks ------------------------------------------------------------------------

    def _background(self, coro: Any) -> None:
        task = self.d.loop.create_task(coro)
        self.d.keep({task})

    async def _ask(self, table: RoutingTable, route: EndpointRoute, method: str, params: list[Any]) -> Any:
        """One request to one endpoint, judged and reported like any attempt; its RpcAnswer or None."""
        request_id = self.d.next_ids()
        body = codec.encode_request(method, params, request_id)
        deadline = time.monotonic() + self.d.policy.attempt_timeout_s
        attempt = await self.d.attempt(route, method, body, lambda raw: codec.decode_answer(raw, request_id),
                                       deadline, table)
        return attempt.answer if attempt.fault is None and attempt.answer.error is None else None

    async def _ask_head(self, table: RoutingTable, route: EndpointRoute) -> int | None:
        answer = await self._ask(table, route, "eth_blockNumber", [])
        return _hex_int(answer.result) if answer is not None else None

    def _suspect(self, table: RoutingTable, name: str, head: int) -> None:
        """A head far ahead of the others: ask them afresh; if it still is, it is a lie."""
        if name in self._verifying or name in self.distrusted:
            return
        self._verifying.add(name)
        self._background(self._verify_head(table, name, head))

    async def _verify_head(self, table: RoutingTable, name: str, head: int) -> None:
        try:
            others = [r for r in self.d.usable(table, time.monotonic())
                      if r.name != name and r.name not in self.distrusted]
            fresh = await asyncio.gather(*(self._ask_head(table, r) for r in others))
            if self.heads.judge(name, head, time.monotonic()) is HeadVerdict.AHEAD_LIE:
                said = ", ".join(f"{r.name}={h}" for r, h in zip(others, fresh) if h is not None)
                self.distrust(name, "eth_blockNumber", f"head {head} where the others answered {said}")
            else:
                self.heads.observe(name, head, time.monotonic())
        finally:
            self._verifying.discard(name)

    async def cross_check(self, table: RoutingTable, method: str, params: Sequence[Any]) -> list[consensus.Lie]:
        """Ask the same read, pinned at one block, of every usable endpoint at the head; judge the answers."""
        routes = [r for r in self.d.usable(table, time.monotonic())
                  if r.name not in self.distrusted and r.name not in self.heads.behind]
        routes = routes[: self.d.policy.consensus_endpoints]
        if len(routes) < MIN_CROSS_CHECK_ENDPOINTS:
            return []
        lowest = self.heads.pin_block([r.name for r in routes])
        call = consensus.sample_call(method, params, max(0, lowest - PIN_DEPTH_BLOCKS)) if lowest is not None else None
        if call is None:
            return []
        pinned_method, pinned = call
        answers = await asyncio.gather(*(self._ask(table, r, pinned_method, pinned) for r in routes))
        results = {r.name: a.result for r, a in zip(routes, answers) if a is not None}
        lies = consensus.find_liars(pinned_method, pinned, results)
        for lie in lies:
            self.distrust(lie.endpoint, pinned_method, lie.evidence)
        return lies

    def distrust(self, name: str, method: str, evidence: str) -> None:
        """Leave `name` out of this client's reads and tell its actor, which quarantines it."""
        if name in self.distrusted:
            return
        logger.warning("rpc {}: lying answer: {}", name, evidence)
        self.distrusted[name] = evidence
        self.lies.append((name, evidence))
        self.heads.forget(name)
        self.d.queue(RequestOutcome(name, method, 0.0, FaultKind.LYING, None, evidence[:500]), urgent=True)
