"""PoolState on a real devnet: initial snapshot, Sync updates, reorgs, discovery, bad pools left out."""

from __future__ import annotations

import json

import eth_abi

from contracts.build import artifact_path
from devnet.accounts import DEPLOYER
from devnet.deploy import calldata
from devnet.executor_setup import _transact
from devnet.session import Devnet
from devnet.swaps import read_all_reserves
from protocol.market import Factory, MarketSnapshot, PoolFaultKind, WatchedPool
from rpc.client import RpcClient
from supervision import ChildSpec, Handle
from tests.execution.helpers import market_swap, start
from tests.waiting import wait_until

BAD_MARKET = {name: json.loads(artifact_path(name).read_text()) for name in ("FeeOnTransferToken", "GarbagePair")}
PATH = "/pool-state"


def watched(devnet: Devnet) -> tuple[WatchedPool, ...]:
    return tuple(WatchedPool(p.address, p.dex, p.token0, p.token1, p.fee_bps) for p in devnet.world.pools)


def chain_view(devnet: Devnet) -> dict[str, tuple[int, int]]:
    return {a.lower(): r for a, r in read_all_reserves(devnet.w3, devnet.world, "latest").items()}


def book_view(snap: MarketSnapshot) -> dict[str, tuple[int, int]]:
    return {r.pool.address.lower(): (r.reserve0, r.reserve1) for r in snap.pools}


def snapshot_at(head: int) -> MarketSnapshot:
    return wait_until(lambda: (s := Handle(PATH).snapshot()) is not None and s.block_number >= head and s,
                    what=f"pool-state at block {head}")


def test_snapshot_then_sync_updates(devnet: Devnet, client: RpcClient, tree: None) -> None:
    from actors.pool_state import PoolState

    start([ChildSpec("pool-state", PoolState,
                     kwargs={"client": client, "pools": watched(devnet), "poll_interval_s": 0.02})])
    first = snapshot_at(devnet.w3.eth.block_number)
    assert book_view(first) == chain_view(devnet)
    assert len(first.pools) == len(devnet.world.pools) and not first.faults

    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, True, 10_000)
    after = snapshot_at(devnet.w3.eth.block_number)
    assert book_view(after) == chain_view(devnet)
    assert pool.address in after.changed
    assert after.reserves(pool.address) != first.reserves(pool.address)


def test_reorg_rereads_the_orphaned_pools(devnet: Devnet, client: RpcClient, tree: None) -> None:
    from actors.pool_state import PoolState

    start([ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": watched(devnet),
                                                       "poll_interval_s": 0.02})])
    snapshot_at(devnet.w3.eth.block_number)
    mark = devnet.snapshot()
    orphaned = devnet.world.pool("uniswap", "WETH", "DAI")
    market_swap(devnet.w3, devnet.world, orphaned.address, False, 20_000)
    seen = snapshot_at(devnet.w3.eth.block_number)
    assert orphaned.address in {r.pool.address for r in seen.pools}
    devnet.revert(mark)  # the blocks with that swap are gone: a new branch grows from here
    other = devnet.world.pool("sushiswap", "WBTC", "USDC")
    market_swap(devnet.w3, devnet.world, other.address, True, 5_000)
    devnet.node.mine(2)  # the new branch is longer than the old one
    head = devnet.w3.eth.block_number
    after = wait_until(lambda: (s := Handle(PATH).snapshot()) is not None and s.reorgs >= 1 and s.block_number >= head
                     and s, what="reorg handled")
    assert book_view(after) == chain_view(devnet)  # the orphaned swap is undone in the book too
    assert after.block_hash == devnet.w3.eth.get_block("latest")["hash"].to_0x_hex()


def test_discovery_and_bad_pools_are_reported_not_listed(devnet: Devnet, client: RpcClient, tree: None) -> None:
    from actors.pool_state import PoolState

    w3, world = devnet.w3, devnet.world
    with devnet.isolated():
        weth, link = world.token("WETH").address, world.token("LINK").address
        # an empty pair (no liquidity) created on the uniswap factory: discovered, zero reserves
        fot_args = eth_abi.encode(["uint256", "uint256"], [10**30, 100]).hex()  # supply, 1% burnt per transfer
        fot = _transact(w3, "deploy FOT", {"from": DEPLOYER.address, "gas": hex(2_000_000), "data":
                        BAD_MARKET["FeeOnTransferToken"]["bytecode"] + fot_args})
        factory = world.dexes[0]
        _transact(w3, "createPair", {"from": DEPLOYER.address, "to": factory.factory, "gas": hex(3_000_000),
                                     "data": calldata("createPair(address,address)", ["address", "address"],
                                                      [fot["contractAddress"], link])})
        garbage = _transact(w3, "deploy GarbagePair", {"from": DEPLOYER.address, "gas": hex(1_000_000), "data":
                            BAD_MARKET["GarbagePair"]["bytecode"]
                            + eth_abi.encode(["address", "address"], [weth, link]).hex()})
        junk = WatchedPool(garbage["contractAddress"], "junk", weth, link)
        factories = tuple(Factory(d.name, d.factory, d.fee_bps) for d in world.dexes)
        start([ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": (junk,),
                                                           "factories": factories, "poll_interval_s": 0.02})])
        snap = snapshot_at(w3.eth.block_number)
        listed = {r.pool.address.lower() for r in snap.pools}
        assert listed == {p.address.lower() for p in world.pools}  # every deployed pool found by PairCreated
        faults = {f.address.lower(): f.kind for f in snap.faults}
        assert faults[junk.address.lower()] == PoolFaultKind.GARBAGE
        assert PoolFaultKind.ZERO_RESERVES in faults.values()
        assert len(faults) == 2


def test_feed_heads_drive_updates_without_polling(devnet: Devnet, client: RpcClient, tree: None) -> None:
    from actors.pool_state import PoolState
    from protocol.chain import NewHead

    start([ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": watched(devnet),
                                                       "poll_interval_s": None})])
    first = snapshot_at(devnet.w3.eth.block_number)
    pool = devnet.world.pool("uniswap", "WBTC", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, False, 10_000)
    block = devnet.w3.eth.get_block("latest")
    assert Handle(PATH).snapshot().version == first.version  # no timer: nothing moves by itself
    # what the subscription manager tells its subscribers on each head
    Handle(PATH).tell(NewHead(block["number"], block["hash"].to_0x_hex(), block["parentHash"].to_0x_hex(),
                              block["timestamp"], "ws:test"))
    after = snapshot_at(block["number"])
    assert book_view(after) == chain_view(devnet)
    assert pool.address in after.changed


def test_a_chain_that_only_goes_back_is_followed(devnet: Devnet, client: RpcClient, tree: None) -> None:
    from actors.pool_state import PoolState

    start([ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": watched(devnet),
                                                       "poll_interval_s": 0.02})])
    before = snapshot_at(devnet.w3.eth.block_number)
    mark = devnet.snapshot()
    market_swap(devnet.w3, devnet.world, devnet.world.pool("uniswap", "WETH", "LINK").address, True, 20_000)
    snapshot_at(devnet.w3.eth.block_number)
    devnet.revert(mark)  # back to the marked block, and no new block on top
    after = wait_until(lambda: (s := Handle(PATH).snapshot()) is not None and s.reorgs >= 1 and s, what="rewind")
    assert after.block_number == before.block_number and after.block_hash == before.block_hash
    assert book_view(after) == book_view(before) == chain_view(devnet)
