"""End to end on the devnet: a price gap opens, the bot captures it within 2 blocks, to the wei."""

from __future__ import annotations

from functools import partial

from devnet.accounts import BOT
from devnet.relay_stub import RelayStub
from devnet.session import Devnet
from protocol.execution import ExecutorSnapshot, GetTrades, SubmitMode, TradeRecord, TradeStage
from protocol.trading import TradeOutcome, TradeStatus
from supervision import Handle
from tests.e2e.conftest import EXECUTOR, RISK, manual_mining, start_bot
from tests.execution.helpers import COMPETITOR_MAX_FEE, checksum, market_swap
from tests.waiting import wait_until


def at_least(head: int, snap: ExecutorSnapshot) -> bool:
    return snap.last_head >= head


def trades() -> tuple[TradeRecord, ...]:
    return Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)  # type: ignore[no-any-return]


def first(stage: TradeStage) -> TradeRecord:
    return next(t for t in trades() if t.stage is stage)


def test_public_capture_realized_equals_simulated(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    assert bot.executor().mined == 0  # balanced pools at start: nothing to take

    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    gap_block = market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)  # sells WETH on the shallow DEX: a gap

    snap = bot.wait_executor(lambda s: s.mined >= 1, "the gap captured")
    record = first(TradeStage.MINED)  # the bot may go on to take a residual 3-hop gap: look at the first
    assert record.detected_block == gap_block
    assert record.included_block is not None and record.included_block <= gap_block + 2
    # integer exactness: detection (pure amm math), simulation (eth_call) and the receipt agree to the wei
    assert record.realized_profit == record.simulated_profit == record.expected_profit > 0
    block = record.included_block
    gained = bot.weth_balance(bot.executor_address, block) - bot.weth_balance(bot.executor_address, block - 1)
    assert gained == record.realized_profit
    assert snap.realized_profit[devnet.world.weth.address] >= record.realized_profit
    receipt = devnet.w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    assert record.gas_used == receipt["gasUsed"] <= record.gas_limit
    assert record.gas_cost_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    # the risk book heard the same story
    def booked_now() -> dict[str, TradeOutcome]:
        return {o.opportunity_id: o for o in Handle(RISK).snapshot() or ()}

    wait_until(lambda: record.opportunity_id in booked_now(), what="outcome recorded")
    outcome = booked_now()[record.opportunity_id]
    assert outcome.status is TradeStatus.MINED and outcome.gas_cost_wei == record.gas_cost_wei


def test_private_bundle_capture_verified_by_the_relay(isolated: Devnet, relay: RelayStub) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PRIVATE, relay=relay)
    pool = devnet.world.pool("sushiswap", "WETH", "DAI")
    gap_block = market_swap(devnet.w3, devnet.world, pool.address, False, 20_000)

    bot.wait_executor(lambda s: s.mined >= 1, "the bundle included")
    record = first(TradeStage.MINED)
    fate = next(f for f in relay.fates if f.included)
    assert fate.signer == BOT.address  # the relay verified our X-Flashbots-Signature
    assert fate.tx_hashes == (record.tx_hash,) and fate.target_block == record.included_block == record.target_block
    assert record.included_block <= gap_block + 2
    assert record.realized_profit == record.simulated_profit == record.expected_profit > 0
    block = record.included_block
    gained = bot.weth_balance(bot.executor_address, block) - bot.weth_balance(bot.executor_address, block - 1)
    assert gained == record.realized_profit


def test_frontrun_public_reverts_on_min_profit_and_loses_only_gas(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    w3, world = devnet.w3, devnet.world
    pool = world.pool("sushiswap", "WETH", "USDC")
    with manual_mining(devnet):
        market_swap(w3, world, pool.address, True, 20_000, mine=devnet.node.mine)
        bot.wait_executor(lambda s: s.in_flight == 1, "our transaction in the mempool")
        # a competitor bidding above us (the rival read raised our max fee over the market's 100 gwei)
        # closes the gap first, in the same block as ours
        market_swap(w3, world, pool.address, False, 19_000, mine=devnet.node.mine, max_fee_wei=COMPETITOR_MAX_FEE)
        bot.wait_executor(lambda s: s.reverted >= 1, "our transaction reverted")
    record = first(TradeStage.REVERTED)
    block = record.included_block
    assert block is not None
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 0
    trace = devnet.node.rpc("debug_traceTransaction", record.tx_hash, {"tracer": "callTracer"})
    assert "profit below minimum" in str(trace)  # the on-chain guard did its job
    executor = bot.executor_address
    assert bot.weth_balance(executor, block) == bot.weth_balance(executor, block - 1)  # inventory untouched
    account = checksum(BOT.address)
    loss = w3.eth.get_balance(account, block - 1) - w3.eth.get_balance(account, block)
    assert loss == record.gas_cost_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"]  # at most the gas


def test_frontrun_bundle_is_not_included_and_costs_nothing(isolated: Devnet, relay: RelayStub) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PRIVATE, relay=relay)
    w3, world = devnet.w3, devnet.world
    pool = world.pool("sushiswap", "WETH", "USDC")
    account = checksum(BOT.address)
    start = w3.eth.block_number
    relay.hold()  # a slow builder: the competitor lands first
    with manual_mining(devnet):
        market_swap(w3, world, pool.address, True, 20_000, mine=devnet.node.mine)
        assert relay.wait_for_bundles(1, 10.0) == 1
        market_swap(w3, world, pool.address, False, 19_000, mine=devnet.node.mine)
        end = w3.eth.block_number
        relay.release()
        [fate] = relay.wait_for_fates(1, 10.0)
        assert not fate.included
        bot.wait_executor(lambda s: s.not_included >= 1, "bundle given up")
    record = first(TradeStage.NOT_INCLUDED)
    assert record.gas_cost_wei == 0 and record.realized_profit == 0
    assert w3.eth.get_balance(account, end) == w3.eth.get_balance(account, start)  # nothing paid
    assert w3.eth.get_transaction_count(account, end) == w3.eth.get_transaction_count(account, start) == record.nonce
    assert bot.weth_balance(bot.executor_address, end) == bot.weth_balance(bot.executor_address, start)
    later = [t for t in trades() if t.nonce is not None and t.opportunity_id != record.opportunity_id]
    assert all(t.nonce == record.nonce for t in later[:1])  # the unused nonce is handed out again


def test_nonce_too_low_resyncs_and_trades(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    w3, world = devnet.w3, devnet.world
    stale = bot.executor().next_nonce
    # the same key sends from elsewhere: the executor's local count is now behind the chain
    devnet.node.rpc("eth_sendTransaction", {"from": BOT.address, "to": BOT.address, "value": "0x0"})
    market_swap(w3, world, world.pool("sushiswap", "WETH", "LINK").address, True, 20_000)
    bot.wait_executor(lambda s: s.mined >= 1, "traded after the resync")
    record = first(TradeStage.MINED)
    assert stale is not None and record.nonce == stale + 1
    assert record.realized_profit == record.simulated_profit


def test_stuck_public_transaction_is_cancelled_with_higher_fees(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    w3, world = devnet.w3, devnet.world
    account = checksum(BOT.address)
    nonce = w3.eth.get_transaction_count(account)
    with manual_mining(devnet):
        market_swap(w3, world, world.pool("sushiswap", "WETH", "USDC").address, True, 20_000, mine=devnet.node.mine)
        bot.wait_executor(lambda s: s.in_flight == 1, "our transaction in the mempool")
        start = w3.eth.block_number
        # the base fee jumps far above what our transaction offers: it cannot be included
        devnet.node.rpc("anvil_setNextBlockBaseFeePerGas", hex(1_000 * 10**9))
        for _ in range(12):
            devnet.node.mine(1)
            head = w3.eth.block_number
            snap = bot.wait_executor(partial(at_least, head), f"executor at block {head}")
            if snap.not_included:
                break
    record = first(TradeStage.NOT_INCLUDED)
    assert record.reason == "replaced by a cancellation"
    end = record.included_block
    assert end is not None
    cancel = w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]
    assert cancel["to"] == BOT.address and cancel["value"] == 0 and cancel["nonce"] == nonce
    assert record.nonce == nonce  # the trade's own nonce, taken by the cancellation
    assert w3.eth.get_transaction_count(account, end) == nonce + 1  # the nonce is used, the trade never ran
    assert bot.weth_balance(bot.executor_address, end) == bot.weth_balance(bot.executor_address, start)
    assert w3.eth.get_balance(account, start) - w3.eth.get_balance(account, end) == record.gas_cost_wei > 0
