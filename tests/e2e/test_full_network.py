"""The market branch behind the real network branch: reads routed by the router over two endpoints,
heads from the subscription manager's WebSocket feed, the trade broadcast through the RpcClient."""

from __future__ import annotations

from actors.executor import Executor
from actors.pool_state import PoolState
from actors.strategy import Strategy
from bot.tree import TreeInputs, network_spec
from devnet.accounts import BOT
from devnet.approve_all_book import ApproveAllBook
from devnet.executor_setup import deploy_executor
from devnet.session import Devnet
from protocol.config import Config, Endpoint, NetworkConfig
from protocol.execution import ExecutionPolicy, GetTrades, SubmitMode, TradeRecord, TradeStage
from protocol.market import WatchedPool
from protocol.secrets import Secret
from rpc.client import RpcClient
from supervision import ChildSpec, Handle, RestartStrategy, introspect, supervisor_spec
from supervision.tree import start_tree
from tests.e2e.conftest import EXECUTOR, INVENTORY_WEI, POOLS, RISK, STRATEGY
from tests.execution.helpers import market_swap
from tests.waiting import wait_until


def subscribed() -> bool:
    info = introspect.find(POOLS)
    return info is not None and info.extra.get("feed") is True


def test_capture_through_router_and_feed(isolated: Devnet) -> None:
    devnet = isolated
    world, node = devnet.world, devnet.node
    config = Config(network=NetworkConfig(chain_id=world.chain_id, endpoints=tuple(
        Endpoint(name, Secret(node.http_url), Secret(node.ws_url)) for name in ("primary", "secondary"))))
    executor_address = deploy_executor(devnet.w3, BOT.address, weth=world.weth.address,
                                       weth_inventory_wei=INVENTORY_WEI)
    client = RpcClient()  # routed by /network/router's published table, outcomes told to rpc:<name>
    weth = world.weth.address
    pools = tuple(WatchedPool(p.address, p.dex, p.token0, p.token1, p.fee_bps) for p in world.pools)
    market = supervisor_spec("market", [
        ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": pools, "listeners": (STRATEGY,),
                                                   "feed_path": "/network/subscriptions", "poll_interval_s": 1.0}),
        ChildSpec("executor", Executor, kwargs={
            "client": client, "chain_id": world.chain_id, "executor_address": executor_address,
            "mode": SubmitMode.PUBLIC, "risk_path": RISK, "key": Secret(BOT.key), "strategy_path": STRATEGY,
            "base_tokens": (weth,), "policy": ExecutionPolicy(follow_interval_s=0.01)}),
        ChildSpec("strategy", Strategy, kwargs={"pool_state_path": POOLS, "executor_path": EXECUTOR,
                                                "weth": weth, "base_tokens": (weth,)}),
    ], strategy=RestartStrategy.REST_FOR_ONE)
    start_tree(supervisor_spec("root", [network_spec(TreeInputs(config=config, block_time_s=1.0)),
                                        ChildSpec("risk-book", ApproveAllBook), market]))
    wait_until(lambda: Handle(POOLS).snapshot() is not None, timeout=20, what="first market view via the router")
    wait_until(lambda: (s := Handle(EXECUTOR).snapshot()) is not None and s.next_nonce is not None, timeout=20,
             what="executor started via the router")

    wait_until(subscribed, what="pool-state subscribed to the feed's heads")
    pool = world.pool("sushiswap", "WETH", "USDC")
    gap_block = market_swap(devnet.w3, world, pool.address, True, 20_000)
    wait_until(lambda: Handle(EXECUTOR).snapshot().mined >= 1, timeout=20, what="the gap captured")
    records: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    record = next(r for r in records if r.stage is TradeStage.MINED)
    assert record.detected_block == gap_block and record.included_block is not None
    assert record.included_block <= gap_block + 2
    assert record.realized_profit == record.simulated_profit == record.expected_profit > 0
