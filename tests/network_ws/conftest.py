"""Real anvil (interval mining) with an ERC20 emitting Transfer logs, three fault proxies in front of it,
and the network actors (ws:<name> x3 + subscriptions) in a real supervision tree."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.subscriptions import SubscriptionManager
from actors.ws_endpoint import WsEndpoint
from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy
from protocol.chain import FeedStatus
from protocol.network import EndpointRoute, RoutingTable
from rpc.client import RpcClient
from rpc.routing import RoutingPolicy
from rpc.transport import TransportRegistry
from supervision import ActorContext, ChildSpec, Handle, SupervisedActor, Tree, start_tree, supervisor_spec
from tests.waiting import wait_until

ERC20 = Path(__file__).resolve().parents[2] / "node_modules/@uniswap/v2-core/build/ERC20.json"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BLOCK_TIME_S = 0.25
NAMES = ("p0", "p1", "p2")


class Collector(SupervisedActor):
    """A subscriber: records every message it is told, in order, and wakes waiters."""

    def __init__(self, ctx: ActorContext, *, inbox: list[Any], changed: threading.Condition) -> None:
        super().__init__(ctx)
        self.inbox, self.changed = inbox, changed

    def receive(self, msg: object) -> object:
        with self.changed:
            self.inbox.append(msg)
            self.changed.notify_all()
        return None


class Chain:
    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.sender = anvil.rpc("eth_accounts")[0]
        self.token = self._deploy()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _deploy(self) -> str:
        bytecode = json.loads(ERC20.read_text())["bytecode"]
        data = "0x" + bytecode.removeprefix("0x") + (10**30).to_bytes(32, "big").hex()
        tx = self.anvil.rpc("eth_sendTransaction", {"from": self.sender, "data": data, "gas": hex(3_000_000)})
        receipt = None
        while receipt is None:  # mined at the next interval block
            self.anvil.rpc("evm_mine")
            receipt = self.anvil.rpc("eth_getTransactionReceipt", tx)
        return str(receipt["contractAddress"]).lower()

    def transfer_tx(self, i: int) -> dict[str, str]:
        to = (0x1000 + i).to_bytes(32, "big").hex()
        data = "0xa9059cbb" + to + (i + 1).to_bytes(32, "big").hex()  # transfer(address,uint256)
        return {"from": self.sender, "to": self.token, "data": data, "gas": hex(100_000)}

    def transfer(self, i: int) -> None:
        """Send a transfer and return at once (the traffic thread): it is mined whenever anvil mines."""
        self.anvil.rpc("eth_sendTransaction", self.transfer_tx(i))

    def transfer_mined(self, i: int) -> int:
        """Send a transfer and return the number of the block it was mined in.

        Under automine, eth_sendTransaction answers once the transaction is in the pool, which can be
        before anvil has sealed its block: eth_blockNumber read right after may still be the previous
        block. eth_sendTransactionSync answers with the receipt, i.e. after the block exists.
        """
        receipt = self.anvil.rpc("eth_sendTransactionSync", self.transfer_tx(i))
        return int(receipt["blockNumber"], 16)

    def start_traffic(self) -> None:
        """Transfers, several per block, until stop_traffic(): Transfer logs in most blocks."""

        def run() -> None:
            i = 0
            while not self._stop.wait(BLOCK_TIME_S / 3):
                self.transfer(i)
                i += 1

        self._thread = threading.Thread(target=run, name="transfers", daemon=True)
        self._thread.start()

    def stop_traffic(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


@pytest.fixture
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """Interval mining every BLOCK_TIME_S; parametrize indirectly with None for automine."""
    with Anvil(block_time_s=getattr(request, "param", BLOCK_TIME_S)) as node:
        c = Chain(node)
        try:
            yield c
        finally:
            c.stop_traffic()


@pytest.fixture
def proxies(chain: Chain) -> Iterator[dict[str, FaultProxy]]:
    started: dict[str, FaultProxy] = {}
    try:
        for i, name in enumerate(NAMES):
            started[name] = FaultProxy(chain.anvil.http_url, name=name, seed=i).start()
        yield started
    finally:
        for p in started.values():
            p.stop()


class Network:
    """The running tree and what the subscriber saw."""

    def __init__(self, tree: Tree, inbox: list[Any], changed: threading.Condition) -> None:
        self.tree, self.inbox, self.changed = tree, inbox, changed

    def wait(self, pred: Callable[[list[Any]], bool], timeout: float, what: str) -> None:
        """Wait until `pred(inbox)` holds, re-checked each time the subscriber receives something."""
        wait_until(lambda: pred(self.inbox), timeout, what, changed=self.changed)

    def wait_status(self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        """Poll the manager's status (an ask, answered between messages) until `pred` holds."""
        def status() -> dict[str, Any]:
            st: dict[str, Any] = Handle("/network/subscriptions").ask(FeedStatus(), timeout=5.0, wait_s=5.0)
            return st

        return wait_until(status, timeout, what, until=pred)

    def snapshot(self) -> list[Any]:
        with self.changed:
            return list(self.inbox)


@pytest.fixture
def network(request: pytest.FixtureRequest, chain: Chain, proxies: dict[str, FaultProxy]) -> Iterator[Network]:
    """Parametrize indirectly with False to run without standby streams (stall timeout only)."""
    table = RoutingTable(
        chain_id=chain.anvil.chain_id,
        routes=tuple(EndpointRoute(n, p.url, hedge_delay_s=0.05) for n, p in proxies.items()),
    )
    client = RpcClient(
        lambda: table,
        report=lambda _outcome: None,
        policy=RoutingPolicy(attempt_timeout_s=1.0),
        registry=TransportRegistry(),  # this test's own keep-alive pools, closed below
    )
    inbox: list[Any] = []
    changed = threading.Condition()
    ws = [ChildSpec(id=f"ws:{n}", start=WsEndpoint, kwargs={"name": n, "url": p.ws_url}) for n, p in proxies.items()]
    manager = ChildSpec(
        id="subscriptions",
        start=SubscriptionManager,
        kwargs={
            "endpoints": list(NAMES),
            "client": client,
            "network_path": "/network",
            "stall_after_s": 6 * BLOCK_TIME_S if chain.anvil.block_time_s else None,
            "stall_check_s": BLOCK_TIME_S / 2,
            "standby": getattr(request, "param", True),
        },
    )
    collector = ChildSpec(id="collector", start=Collector, kwargs={"inbox": inbox, "changed": changed})
    tree = start_tree(supervisor_spec("root", [supervisor_spec("network", [*ws, manager]), collector]))
    try:
        yield Network(tree, inbox, changed)
    finally:
        tree.stop(15.0)
        client.close()
