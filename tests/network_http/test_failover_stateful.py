"""Hypothesis stateful test of failover: 3-5 endpoints behind fault proxies, random fault schedules.

Invariants:
- while at least one routable endpoint answers honestly, every read succeeds within its deadline
  with the right answer; otherwise a read fails with RpcUnavailable, never with a wrong answer;
- an OPEN endpoint gets no reads (only its HALF_OPEN probe, a health batch); a QUARANTINED one gets
  nothing at all;
- eth_sendRawTransaction reaches every healthy endpoint;
- breaker states match the faults injected once they have had time to act: failing endpoints are
  OPEN/HALF_OPEN, lying ones QUARANTINED, healthy ones CLOSED, a throttled one never OPEN because of 429s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any, ClassVar, cast

import pytest
from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy, parse_faults
from protocol.network import ClearQuarantine
from rpc.client import endpoint_path
from rpc.errors import RpcUnavailable
from rpc.routing import RoutingPolicy
from supervision import Handle
from tests.network_http.conftest import Network, start_network
from tests.network_http.test_failover import ANVIL_KEY_0
from tests.waiting import wait_until

pytestmark = pytest.mark.anvil

#: Fault schedules in the fault proxy's language (devnet.fault_proxy); each replaces the endpoint's faults.
FAILING = ("error=500", "drop", "garbage", "stall", "truncate")
HONEST = ("clear", "latency=50ms")
LYING = "chainid=1"
FAULTS = (*FAILING, *HONEST, "429=1s", LYING)
ROUTING = RoutingPolicy(attempt_timeout_s=0.3, deadline_s=3.0, hedge_min_s=0.02, hedge_max_s=0.1, max_attempts=5)
READ_METHODS = ("eth_getBalance", "eth_getBlockByNumber")
PROBE_METHODS = ("eth_chainId", "eth_blockNumber")


def calls_by_method(proxy: FaultProxy) -> dict[str, int]:
    """The proxy's per-method call counts (its `method:<name>` stats)."""
    return {k.removeprefix("method:"): v for k, v in proxy.stats().items() if k.startswith("method:")}


class FailoverMachine(RuleBasedStateMachine):
    #: Steps run, by rule, over all examples: the test checks the schedules really exercised each rule.
    steps: ClassVar[Counter[str]] = Counter()

    def __init__(self, anvil: Anvil, proxies: list[FaultProxy]) -> None:
        super().__init__()
        self.anvil = anvil
        self.pool = proxies
        self.net: Network | None = None
        self.sender = Account.from_key(ANVIL_KEY_0)
        self.w3 = anvil.web3()
        accounts: Any = self.w3.eth.accounts
        self.account = accounts[4]
        self.truth_balance = hex(self.w3.eth.get_balance(self.account, block_identifier=0))
        genesis: Any = self.w3.eth.get_block(0)
        self.truth_genesis = genesis["hash"].hex().removeprefix("0x")

    # --- model ------------------------------------------------------------------------------------

    @initialize(count=st.integers(3, 5))
    def start(self, count: int) -> None:
        self.proxies = {f"n{i}": self.pool[i] for i in range(count)}
        for proxy in self.proxies.values():
            proxy.clear()
        self.mode = dict.fromkeys(self.proxies, "clear")
        self.maybe_quarantined: set[str] = set()
        self.net = start_network({n: p.url for n, p in self.proxies.items()}, routing=ROUTING)

    def teardown(self) -> None:
        if self.net is not None:
            self.net.stop()

    def honest(self, name: str) -> bool:
        return self.mode[name] in HONEST and name not in self.maybe_quarantined

    def honest_routable(self) -> list[str]:
        assert self.net is not None
        now = time.monotonic()
        parked = self.net.client.dispatcher.parked
        return [r.name for r in self.net.table().routes
                if self.honest(r.name) and r.parked_until <= now and parked.get(r.name, 0.0) <= now]

    # --- faults -----------------------------------------------------------------------------------

    @rule(data=st.data())
    def inject(self, data: st.DataObject) -> None:
        """A fault schedule step: one to three endpoints change behaviour at once."""
        self.steps["inject"] += 1
        names = data.draw(st.lists(st.sampled_from(sorted(self.proxies)), min_size=1, max_size=3, unique=True))
        for name in names:
            fault = data.draw(st.sampled_from(FAULTS), label=name)
            self.proxies[name].set_faults(parse_faults(fault))
            self.mode[name] = fault
            if fault == LYING:
                self.maybe_quarantined.add(name)
        if data.draw(st.booleans(), label="let the breakers settle"):
            self.breakers_settle_to_match_faults()

    @precondition(lambda self: bool(getattr(self, "maybe_quarantined", None)))
    @rule(data=st.data())
    def operator_clears(self, data: st.DataObject) -> None:
        self.steps["operator_clears"] += 1
        name = data.draw(st.sampled_from(sorted(self.maybe_quarantined)))
        self.proxies[name].clear()
        self.mode[name] = "clear"
        Handle(endpoint_path(name)).tell(ClearQuarantine(endpoint=name))
        self.maybe_quarantined.discard(name)

    # --- traffic ----------------------------------------------------------------------------------

    @rule(kind=st.sampled_from(("balance", "block", "batch")))
    def read(self, kind: str) -> None:
        self.steps["read"] += 1
        assert self.net is not None
        client = self.net.client
        must_succeed = bool(self.honest_routable())
        try:
            if kind == "balance":
                assert client.request("eth_getBalance", [self.account, "0x0"]) == self.truth_balance
            elif kind == "block":
                block = client.request("eth_getBlockByNumber", ["0x0", False])
                assert block["hash"].removeprefix("0x") == self.truth_genesis
            else:
                answers = client.batch([("eth_getBalance", [self.account, "0x0"]),
                                        ("eth_getBlockByNumber", ["0x0", False])])
                assert answers[0].result == self.truth_balance
                assert answers[1].result["hash"].removeprefix("0x") == self.truth_genesis
        except RpcUnavailable as unavailable:
            if must_succeed:
                raise
            # A read that found no answer says where it looked: this network's endpoints, within its budget
            # (the deadline itself is a timer: pytest's timeout is the hang guard, speed is benchmarked).
            assert {name for name, _ in unavailable.attempts} <= set(self.proxies), unavailable.attempts
            assert len(unavailable.attempts) <= ROUTING.max_attempts, unavailable.attempts

    @rule()
    def send_transaction(self) -> None:
        self.steps["send_transaction"] += 1
        assert self.net is not None
        healthy = self.honest_routable()
        before = {n: p.calls("eth_sendRawTransaction") for n, p in self.proxies.items()}
        nonce = self.w3.eth.get_transaction_count(self.sender.address)
        tx: dict[str, Any] = {"to": self.account, "value": 1, "gas": 21000, "maxFeePerGas": 10**10,
                              "maxPriorityFeePerGas": 10**9, "nonce": nonce, "chainId": 31337, "type": 2}
        signed = self.sender.sign_transaction(tx)
        try:
            tx_hash = self.net.client.send_raw_transaction(signed.raw_transaction)
        except RpcUnavailable:
            if healthy:
                raise
            return
        assert tx_hash.removeprefix("0x") == signed.hash.hex().removeprefix("0x")
        for name in healthy:
            wait_until(partial(self.received_more_than, name, before[name]),
                       timeout=5, what=f"{name} received the transaction")

    def received_more_than(self, name: str, count: int) -> bool:
        return self.proxies[name].calls("eth_sendRawTransaction") > count

    # --- breaker states ---------------------------------------------------------------------------

    @precondition(lambda self: any(m != "clear" for m in getattr(self, "mode", {}).values()))
    @rule()
    def open_and_quarantined_endpoints_get_no_reads(self) -> None:
        self.steps["open_and_quarantined_endpoints_get_no_reads"] += 1
        assert self.net is not None
        net = self.net
        watched: dict[str, tuple[str, int, dict[str, int]]] = {}
        for name in self.proxies:
            snap = net.endpoint(name)
            if snap.breaker in ("OPEN", "HALF_OPEN", "QUARANTINED") and name in net.table().excluded:
                watched[name] = (snap.breaker, snap.state_changes, calls_by_method(self.proxies[name]))
        if not watched:
            return
        for _ in range(3):
            try:
                self.net.client.request("eth_getBalance", [self.account, "0x0"])
            except RpcUnavailable:
                pass
        for name, (state, changes, counts) in watched.items():
            if net.endpoint(name).state_changes != changes:
                continue  # its state moved during the reads (a probe closed it): traffic is legitimate
            after = calls_by_method(self.proxies[name])
            allowed = () if state == "QUARANTINED" else PROBE_METHODS
            grew = {m: after.get(m, 0) - counts.get(m, 0) for m in after if m not in allowed}
            assert not any(grew.values()), f"{name} ({state}) received {grew}"

    @precondition(lambda self: any(m != "clear" for m in getattr(self, "mode", {}).values()))
    @rule()
    def breakers_settle_to_match_faults(self) -> None:
        self.steps["breakers_settle_to_match_faults"] += 1
        assert self.net is not None
        net = self.net

        def settled() -> bool:
            for name, mode in self.mode.items():
                if mode == LYING:
                    allowed = {"QUARANTINED"}
                elif mode in FAILING:
                    allowed = {"OPEN", "HALF_OPEN"}
                elif mode in HONEST:
                    allowed = {"CLOSED"}
                else:  # throttled: parked, in whatever state it was; STARTING if no health check has
                    # passed since an operator cleared it (every check answered 429 since)
                    allowed = {"CLOSED", "OPEN", "HALF_OPEN", "LAGGING", "STARTING"}
                if name in self.maybe_quarantined:
                    allowed.add("QUARANTINED")  # it lied earlier; whether a health check caught it is timing
                if net.breaker(name) not in allowed:
                    return False
            return True

        wait_until(settled, timeout=8, what=f"breakers to match {self.mode}")

    @invariant()
    def throttling_never_opens_a_breaker(self) -> None:
        if self.net is None:
            return
        for name, mode in self.mode.items():
            if mode.startswith("429"):
                snap = self.net.endpoint(name)
                if snap.breaker == "OPEN":
                    # Only failures open a breaker: a throttled endpoint can be OPEN only from an earlier fault.
                    assert "429" not in snap.reason and "rate_limited" not in snap.reason, snap.reason

    @invariant()
    def tree_is_whole(self) -> None:
        from supervision.introspect import snapshot_tree

        assert all(info.restarts_total == 0 for info in snapshot_tree())


@pytest.fixture(scope="module")
def proxy_pool(anvil: Anvil) -> Iterator[list[FaultProxy]]:
    proxies: list[FaultProxy] = []
    try:
        for i in range(5):
            proxies.append(FaultProxy(anvil.http_url, name=f"n{i}", seed=i).start())
        yield proxies
    finally:
        for proxy in proxies:
            proxy.stop()


def test_failover_state_machine(anvil: Anvil, proxy_pool: list[FaultProxy]) -> None:
    def factory() -> FailoverMachine:
        return FailoverMachine(anvil, proxy_pool)

    FailoverMachine.steps.clear()
    run_state_machine_as_test(
        cast(type[FailoverMachine], factory),  # hypothesis calls it like a class: a factory works too
        settings=settings(max_examples=20, stateful_step_count=12, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
    print(dict(FailoverMachine.steps))
    assert FailoverMachine.steps["read"] > 0 and FailoverMachine.steps["inject"] > 0
