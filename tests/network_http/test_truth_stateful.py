"""A hypothesis state machine over the real verifier (rpc.verify.AnswerVerifier, rpc.consensus, rpc.heads).

Endpoints are honest, lying (balances, eth_call results and block hashes, all liars telling the same lie,
as the fault proxy does) or down; reads are sampled at a drawn rate. Only the wire is a model: the
dispatcher's `attempt` answers from each endpoint's state instead of a socket, and a LYING outcome
quarantines the endpoint (the router drops it from the table), as its actor would. Checked:
- a cross-check where honest endpoints (at least two) hold a strict majority of the answers never
  quarantines an honest one, and quarantines every liar it asked; an endpoint that never lied is
  quarantined only where liars held the majority (they told the same lie, as a faulty fleet can);
- with fewer than three routable endpoints nothing is ever cross-checked, so nobody is quarantined.
"""

from __future__ import annotations

import asyncio
import random
from enum import Enum
from typing import Any

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocol.network import EndpointRoute, FaultKind, RequestOutcome, RoutingTable
from rpc.codec import RpcAnswer
from rpc.dispatch import Attempt
from rpc.errors import EndpointFault
from rpc.routing import RoutingPolicy
from rpc.verify import AnswerVerifier

ACCOUNT = "0x00000000000000000000000000000000000000aa"
READS: dict[str, list[Any]] = {
    "eth_getBalance": [ACCOUNT, "latest"],
    "eth_call": [{"to": ACCOUNT, "data": "0x"}, "latest"],
    "eth_blockNumber": [],  # cross-checked through the block hash
}


class Kind(Enum):
    HONEST = "honest"
    LIAR = "liar"
    DOWN = "down"


def truth(method: str, block: int) -> Any:
    if method == "eth_getBalance":
        return hex(10**18 + block)
    if method == "eth_call":
        return "0x" + f"{block:064x}"
    if method == "eth_getBlockByNumber":
        return {"number": hex(block), "hash": "0x" + f"{block + 7:064x}"}
    raise AssertionError(method)


def lie(method: str, block: int) -> Any:
    honest = truth(method, block)
    if method == "eth_getBlockByNumber":
        return {**honest, "hash": "0x" + honest["hash"][:1:-1]}
    return honest[:-1] + ("1" if honest[-1] != "1" else "2")


class ModelWire:
    """The dispatcher as the verifier sees it; `attempt` answers from the endpoints' kinds."""

    def __init__(self, machine: TruthMachine, policy: RoutingPolicy, loop: asyncio.AbstractEventLoop) -> None:
        self.m, self.policy, self.loop = machine, policy, loop
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ids = 0

    def next_ids(self, count: int = 1) -> int:
        self.ids += count
        return self.ids

    def keep(self, tasks: set[asyncio.Task[Any]]) -> None:
        self.tasks |= tasks

    def usable(self, table: RoutingTable, now: float) -> list[EndpointRoute]:
        return list(table.routes)

    async def attempt(self, route: EndpointRoute, method: str, body: bytes, decode: Any, deadline: float,
                      table: RoutingTable, hedge: bool = False, head_read: bool = False) -> Attempt:
        await asyncio.sleep(0)  # answers interleave, as they do off a socket
        request = msgspec.json.decode(body)
        kind = self.m.kinds[route.name]
        if kind is Kind.DOWN:
            return Attempt(route, fault=EndpointFault(FaultKind.CONNECTION, "down", endpoint=route.name))
        if method == "eth_blockNumber":
            return Attempt(route, answer=RpcAnswer(request["id"], hex(self.m.head)))
        block = int(request["params"][1 if method != "eth_getBlockByNumber" else 0], 16)
        result = lie(method, block) if kind is Kind.LIAR else truth(method, block)
        answer = self.m.verifier.check(route, method, RpcAnswer(request["id"], result), table, False)
        return Attempt(route, answer=answer)

    def queue(self, outcome: RequestOutcome, *, urgent: bool) -> None:
        if outcome.fault is FaultKind.LYING:
            self.m.quarantine(outcome.endpoint)


class TruthMachine(RuleBasedStateMachine):
    @initialize(n=st.integers(1, 5), rate=st.sampled_from([0.3, 1.0]), seed=st.integers(0, 2**32 - 1))
    def start(self, n: int, rate: float, seed: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.names = [f"e{i}" for i in range(n)]
        self.kinds = dict.fromkeys(self.names, Kind.HONEST)
        self.ever_lied: set[str] = set()
        self.quarantined: set[str] = set()
        self.outvoted: set[str] = set()  # quarantined by a check where liars held the majority of answers
        self.head = 10
        self.version = 0
        self.wire = ModelWire(self, RoutingPolicy(consensus_sample_rate=rate), self.loop)
        self.verifier = AnswerVerifier(self.wire, rng=random.Random(seed))  # type: ignore[arg-type]
        self.table = self._table()

    def teardown(self) -> None:
        if hasattr(self, "loop"):
            self.loop.close()

    def _table(self) -> RoutingTable:
        self.version += 1
        routed = [n for n in self.names if n not in self.quarantined]
        return RoutingTable(
            chain_id=1, routes=tuple(EndpointRoute(n, f"http://{n}", 0.01) for n in routed),
            excluded=dict.fromkeys(self.quarantined, "QUARANTINED"), version=self.version,
            heads={n: (self.head, 0.0) for n in routed},  # a down endpoint's snapshot keeps its last head
        )

    def quarantine(self, name: str) -> None:
        self.quarantined.add(name)
        self.table = self._table()  # the router leaves it out of the next table

    def routed(self) -> list[str]:
        return [n for n in self.names if n not in self.quarantined]

    # --- the world ------------------------------------------------------------------------------

    @rule(i=st.integers(0, 4), kind=st.sampled_from(Kind))
    def endpoint_turns(self, i: int, kind: Kind) -> None:
        name = self.names[i % len(self.names)]
        self.kinds[name] = kind
        if kind is Kind.LIAR:
            self.ever_lied.add(name)
        self.table = self._table()

    @rule()
    def a_block(self) -> None:
        self.head += 1
        self.table = self._table()

    # --- a read, maybe sampled --------------------------------------------------------------------

    @rule(method=st.sampled_from(sorted(READS)))
    def read(self, method: str) -> None:
        verifier = self.verifier
        verifier.sync(self.table)
        routes = verifier.order(list(self.table.routes), head_read=True)
        if not routes:
            return
        asked = [n for n in self.routed() if n not in verifier.distrusted]
        answering = [n for n in asked if self.kinds[n] is not Kind.DOWN]
        honest = [n for n in answering if self.kinds[n] is Kind.HONEST]
        liars = [n for n in answering if self.kinds[n] is Kind.LIAR]
        checks, before = verifier.cross_checks, set(self.quarantined)
        verifier.start(self.table, routes, method, READS[method], head_read=True)
        while self.wire.tasks:
            tasks, self.wire.tasks = self.wire.tasks, set()
            self.loop.run_until_complete(asyncio.gather(*tasks))
        if len(routes) < 3:
            assert verifier.cross_checks == checks, "cross-checked with fewer than three endpoints"
        if verifier.cross_checks == checks:
            assert self.quarantined == before, "quarantined without a cross-check"
            return
        new = self.quarantined - before
        if len(honest) >= 2 and 2 * len(honest) > len(answering):  # an honest quorum holds the majority
            assert not new & set(honest), f"honest {new & set(honest)} quarantined by liars {liars}"
            assert set(liars) <= self.quarantined, f"liars {liars} sampled against {honest} not quarantined"
        else:
            self.outvoted |= new & set(honest)

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def an_endpoint_that_never_lied_is_quarantined_only_when_liars_outvoted_it(self) -> None:
        if hasattr(self, "names"):
            never_lied = set(self.names) - self.ever_lied
            assert self.quarantined & never_lied <= self.outvoted

    @invariant()
    def fewer_than_three_endpoints_never_quarantine(self) -> None:
        if hasattr(self, "names") and len(self.names) < 3:
            assert not self.quarantined and self.verifier.cross_checks == 0

    @precondition(lambda self: hasattr(self, "verifier"))
    @invariant()
    def lies_are_recorded_with_evidence(self) -> None:
        for name, evidence in self.verifier.lies:
            assert name in self.ever_lied | self.outvoted and "where" in evidence and "answered" in evidence


TruthMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_truth_state_machine = TruthMachine.TestCase
