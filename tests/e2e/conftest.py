"""The bot's market branch on a real devnet: pool-state -> strategy -> executor, a risk book, a relay stub.

`bot` starts the tree against a fresh chain state (evm_snapshot per test, reverted after) with an
executor contract the bot's account deployed and funded with WETH; it is stopped however the test ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from actors.executor import Executor
from actors.pool_state import PoolState
from actors.strategy import Strategy
from adapters.relay_client import RelayClient
from amm.gas import PriceBook
from devnet.accounts import BOT
from devnet.approve_all_book import ApproveAllBook
from devnet.executor_setup import deploy_executor
from devnet.relay_stub import RelayStub
from devnet.session import Devnet, devnet_world
from protocol.execution import ExecutionPolicy, ExecutorSnapshot, SubmitMode
from protocol.market import MarketSnapshot, WatchedPool
from protocol.secrets import Secret
from rpc.client import RpcClient
from supervision import ChildSpec, Handle, RestartStrategy, registry, stop_tree, supervisor_spec
from supervision.tree import start_tree
from tests.execution.helpers import pinned_client
from tests.waiting import wait_until

INVENTORY_WEI = 50 * 10**18
RISK, POOLS, STRATEGY, EXECUTOR = "/risk-book", "/market/pool-state", "/market/strategy", "/market/executor"


@dataclass
class Bot:
    devnet: Devnet
    client: RpcClient
    executor_address: str
    relay: RelayStub | None

    def executor(self) -> ExecutorSnapshot:
        snap = Handle(EXECUTOR).snapshot()
        assert isinstance(snap, ExecutorSnapshot)
        return snap

    def market(self) -> MarketSnapshot:
        snap = Handle(POOLS).snapshot()
        assert isinstance(snap, MarketSnapshot)
        return snap

    def wait_executor(
        self, condition: Callable[[ExecutorSnapshot], bool], what: str, timeout: float = 15.0
    ) -> ExecutorSnapshot:
        return wait_until(lambda: (s := Handle(EXECUTOR).snapshot()) is not None and condition(s) and s,
                        timeout=timeout, what=what)

    def weth_balance(self, holder: str, block: int | str = "latest") -> int:
        """WETH balance at `block`: pin it, since the bot keeps trading residual gaps after the one under test.

        A numbered block is read by its hash (EIP-1898): `isolated` reverts the chain after each test, so
        block numbers are reused, and a read by number could see the abandoned branch's state.
        """
        data = "0x70a08231" + holder.lower()[2:].rjust(64, "0")
        weth = self.devnet.world.weth.address
        tag: object = block
        if isinstance(block, int):
            tag = {"blockHash": self.devnet.node.rpc("eth_getBlockByNumber", hex(block), False)["hash"]}
        return int(self.devnet.node.rpc("eth_call", {"to": weth, "data": data}, tag), 16)


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    with devnet_world() as d:
        yield d


def start_bot(devnet: Devnet, mode: SubmitMode, *, extra_pools: tuple[WatchedPool, ...] = (),
              relay: RelayStub | None = None, key: Secret | None = None, account: str | None = None,
              risk_book: ChildSpec | None = None, prices: PriceBook | None = None, rpc_url: str | None = None) -> Bot:
    """The bot's market tree on `devnet`; its RPC goes to `rpc_url` (a proxy in front of anvil) if given."""
    world = devnet.world
    client = pinned_client(rpc_url or devnet.node.http_url, world.chain_id)
    executor_address = deploy_executor(devnet.w3, BOT.address, weth=world.weth.address,
                                       weth_inventory_wei=INVENTORY_WEI)
    pools = tuple(WatchedPool(p.address, p.dex, p.token0, p.token1, p.fee_bps) for p in world.pools) + extra_pools
    relay_client = RelayClient(Secret(relay.url), Secret(BOT.key)) if relay is not None else None
    executor_kwargs: dict[str, Any] = {
        "client": client, "chain_id": world.chain_id, "executor_address": executor_address, "mode": mode,
        "risk_path": RISK, "key": key if key is not None or mode is SubmitMode.PAPER else Secret(BOT.key),
        "account": account, "relay": relay_client, "strategy_path": STRATEGY,
        "base_tokens": (world.weth.address,), "policy": ExecutionPolicy(follow_interval_s=0.01),
    }
    # rest_for_one in this order: a pool-state restart restarts everything after it; an executor restart
    # restarts the strategy (it re-reads the executor's inventory); a strategy restart leaves in-flight trades be.
    market = supervisor_spec("market", [
        ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": pools, "listeners": (STRATEGY,),
                                                   "poll_interval_s": 0.01}),
        ChildSpec("executor", Executor, kwargs=executor_kwargs),
        ChildSpec("strategy", Strategy, kwargs={"pool_state_path": POOLS, "executor_path": EXECUTOR,
                                                "weth": world.weth.address, "base_tokens": (world.weth.address,),
                                                "prices": prices or PriceBook()}),
    ], strategy=RestartStrategy.REST_FOR_ONE)
    start_tree(supervisor_spec("root", [risk_book or ChildSpec("risk-book", ApproveAllBook), market]))
    bot = Bot(devnet, client, executor_address, relay)
    bot.wait_executor(lambda s: s.last_head > 0 and (s.next_nonce is not None or mode is SubmitMode.PAPER),
                      "executor started")
    wait_until(lambda: Handle(POOLS).snapshot() is not None, what="first market snapshot")
    return bot


@pytest.fixture
def isolated(devnet: Devnet) -> Iterator[Devnet]:
    """A fresh chain state per test; automine restored and the tree stopped even on failure."""
    with devnet.isolated() as d:
        try:
            yield d
        finally:
            stop_tree(10.0)
            registry.clear()  # published snapshots outlive their actors: the next test must not read ours
            d.node.set_automine(True)


@pytest.fixture
def relay(devnet: Devnet) -> Iterator[RelayStub]:
    with RelayStub(devnet.node.http_url, allowed_signers=[BOT.address]) as stub:
        yield stub


@contextlib.contextmanager
def manual_mining(devnet: Devnet) -> Iterator[None]:
    devnet.node.set_automine(False)
    try:
        yield
    finally:
        devnet.node.set_automine(True)
