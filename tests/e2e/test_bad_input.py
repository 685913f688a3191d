"""Bad input never trades: a fee-on-transfer token, a pool answering garbage, an empty pool.

Each is skipped and reported (pool-state faults, a skipped trade with its revert reason, the
strategy's quarantine list), and no transaction ever leaves the bot's account.
"""

from __future__ import annotations

import json

import eth_abi

from contracts.build import artifact_path
from devnet.accounts import BOT, DEPLOYER
from devnet.deploy import calldata
from devnet.executor_setup import _transact
from devnet.session import Devnet
from protocol.execution import GetTrades, StrategySnapshot, SubmitMode, TradeRecord, TradeStage
from protocol.market import PoolFaultKind, WatchedPool
from protocol.trading import TradeOutcome, TradeStatus
from supervision import Handle
from tests.e2e.conftest import EXECUTOR, RISK, STRATEGY, start_bot
from tests.execution.helpers import checksum
from tests.waiting import wait_until

BAD = {name: json.loads(artifact_path(name).read_text()) for name in ("FeeOnTransferToken", "GarbagePair")}


def deploy(devnet: Devnet, name: str, types: list[str], args: list[object]) -> str:
    data = BAD[name]["bytecode"] + eth_abi.encode(types, args).hex()
    receipt = _transact(devnet.w3, f"deploy {name}", {"from": DEPLOYER.address, "data": data, "gas": hex(3_000_000)})
    return str(receipt["contractAddress"])


def send(devnet: Devnet, to: str, signature: str, types: list[str], args: list[object], value: int = 0) -> None:
    _transact(devnet.w3, signature, {"from": DEPLOYER.address, "to": to, "data": calldata(signature, types, args),
                                     "gas": hex(3_000_000), "value": hex(value)})


def pair_of(devnet: Devnet, factory: str, a: str, b: str) -> str:
    raw = devnet.w3.eth.call({"to": factory, "data": calldata("getPair(address,address)", ["address", "address"],
                                                               [a, b])})  # type: ignore[typeddict-item]
    return devnet.w3.to_checksum_address("0x" + bytes(raw).hex()[-40:])


def seeded_pool(devnet: Devnet, dex: str, token: str, weth: str, token_amount: int, weth_amount: int) -> WatchedPool:
    factory = next(d.factory for d in devnet.world.dexes if d.name == dex)
    send(devnet, factory, "createPair(address,address)", ["address", "address"], [token, weth])
    pair = pair_of(devnet, factory, token, weth)
    send(devnet, token, "transfer(address,uint256)", ["address", "uint256"], [pair, token_amount])
    send(devnet, weth, "transfer(address,uint256)", ["address", "uint256"], [pair, weth_amount])
    send(devnet, pair, "mint(address)", ["address"], [DEPLOYER.address])
    t0, t1 = sorted([token, weth], key=lambda a: int(a, 16))
    return WatchedPool(pair, dex, t0, t1)


def test_misbehaving_pools_are_skipped_and_reported_never_traded(isolated: Devnet) -> None:
    devnet = isolated
    world = devnet.world
    weth, link = world.weth.address, world.token("LINK").address
    send(devnet, weth, "deposit()", [], [], value=30 * 10**18)
    # burns 1% (100 bps) of every transfer
    fot = devnet.w3.to_checksum_address(deploy(devnet, "FeeOnTransferToken", ["uint256", "uint256"], [10**27, 100]))
    # the same fee-on-transfer token priced 10% apart on the two DEXes: a juicy-looking gap
    fot_uni = seeded_pool(devnet, "uniswap", fot, weth, 1_000 * 10**18, 10 * 10**18)
    fot_sushi = seeded_pool(devnet, "sushiswap", fot, weth, 1_000 * 10**18, 11 * 10**18)
    factory = world.dexes[0].factory
    send(devnet, factory, "createPair(address,address)", ["address", "address"], [fot, link])
    t0, t1 = sorted([fot, link], key=lambda a: int(a, 16))
    empty = WatchedPool(pair_of(devnet, factory, fot, link), "uniswap", t0, t1)
    g0, g1 = sorted([weth, link], key=lambda a: int(a, 16))
    garbage = WatchedPool(deploy(devnet, "GarbagePair", ["address", "address"], [weth, link]), "junk", g0, g1)

    bot = start_bot(devnet, SubmitMode.PUBLIC, extra_pools=(fot_uni, fot_sushi, empty, garbage))
    nonce = devnet.w3.eth.get_transaction_count(checksum(BOT.address))
    devnet.node.mine(1)  # a new head: the strategy scans with the executor up

    faults = {f.address.lower(): f for f in bot.market().faults}
    assert faults[garbage.address.lower()].kind is PoolFaultKind.GARBAGE
    assert faults[empty.address.lower()].kind is PoolFaultKind.ZERO_RESERVES
    listed = {r.pool.address.lower() for r in bot.market().pools}
    assert garbage.address.lower() not in listed and empty.address.lower() not in listed

    quarantine = {fot_uni.address.lower(), fot_sushi.address.lower()}
    wait_until(lambda: isinstance(s := Handle(STRATEGY).snapshot(), StrategySnapshot)
             and quarantine <= set(s.quarantined) and s, what="fee-on-transfer pools quarantined")
    # scans that ran before the first simulation failed may have handed the route again (then parked behind
    # the first): wait until the executor has received and decided every opportunity handed to it
    handed = Handle(STRATEGY).snapshot().handed
    bot.wait_executor(lambda s: s.received >= handed and s.deciding == 0, "every handed opportunity decided")
    records: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    reverted = [r for r in records if r.reason.startswith("simulation reverted")]
    assert reverted and all("UniswapV2: K" in r.reason and r.tx_hash is None for r in reverted)
    skipped = reverted[0]

    # later blocks: the quarantined route is never offered again, nothing is ever sent
    scanned = Handle(STRATEGY).snapshot().scanned_block
    devnet.node.mine(3)
    wait_until(lambda: Handle(STRATEGY).snapshot().scanned_block >= scanned + 3, what="three more scans")
    later: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    assert later == records  # nothing new: the route is never offered again
    assert all(r.stage is TradeStage.SKIPPED and r.tx_hash is None for r in later)
    assert devnet.w3.eth.get_transaction_count(checksum(BOT.address)) == nonce
    def booked() -> tuple[TradeOutcome, ...]:
        return tuple(Handle(RISK).snapshot() or ())

    wait_until(lambda: any(o.opportunity_id == skipped.opportunity_id for o in booked()), what="the outcome booked")
    assert all(o.status is TradeStatus.FAILED for o in booked())  # the risk book hears of it, as a failure
