"""contracts/Executor.sol on anvil against real Uniswap V2 pairs, sized by amm's search.

Proves: the size amm computes is what the contract realizes (eth_call profit equals amm's exact
gross profit to the wei, and the neighbours at +-1 wei earn no more); a sent trade moves the
executor's balance by exactly that; the flash-swap mode earns the same without inventory; the
on-chain guards (minProfit, deadline, owner) revert with readable reasons; withdraw works for the
owner only; and amm's gas figure (sent as the gas limit) covers the gas really used.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from amm import BlockContext, GasPolicy, MarketGraph, PoolSnapshot, PriceBook, get_amount_out, route_profit, scan
from protocol.trading import Opportunity
from tests.contracts.conftest import REPO, World, executor_artifact

pytestmark = pytest.mark.anvil

E18 = 10**18
INVENTORY = 100 * E18


def snapshot_of(world: World, pair: Contract, dex: str) -> PoolSnapshot:
    r0, r1 = world.reserves(pair)
    return PoolSnapshot(
        address=pair.address,
        dex=dex,
        token0=pair.functions.token0().call(),
        token1=pair.functions.token1().call(),
        reserve0=r0,
        reserve1=r1,
        fee_bps=30,
    )


def best_opportunity(world: World, pools: list[PoolSnapshot], start: str) -> Opportunity:
    graph = MarketGraph.build(pools, weth=start, base_tokens=[start])
    block = world.w3.eth.get_block("latest")
    result = scan(
        graph, GasPolicy(), PriceBook(), BlockContext(number=block["number"], base_fee_wei=block["baseFeePerGas"])
    )
    assert result.opportunities, f"no opportunity found: {result}"
    return result.opportunities[0]


def route_args(opportunity: Opportunity) -> tuple[list[str], list[str], list[int]]:
    pairs = [leg.pool for leg in opportunity.route]
    path = [opportunity.route[0].token_in] + [leg.token_out for leg in opportunity.route]
    fees = [leg.fee_bps for leg in opportunity.route]
    return pairs, path, fees


def hops_of(opportunity: Opportunity) -> tuple[tuple[int, int, int], ...]:
    return tuple((leg.reserve_in, leg.reserve_out, leg.fee_bps) for leg in opportunity.route)


def execute_call(world: World, opportunity: Opportunity, amount_in: int, *, min_profit: int = 0,
                 deadline: int | None = None, executor: Contract | None = None, flash: bool = False) -> Any:
    pairs, path, fees = route_args(opportunity)
    deadline = world.w3.eth.block_number + 1 if deadline is None else deadline
    contract = executor or world.executor
    function = contract.functions.executeFlash if flash else contract.functions.execute
    return function(pairs, path, fees, amount_in, min_profit, deadline)


def revert_reason(call: Any, sender: str) -> str:
    with pytest.raises(ContractLogicError) as caught:
        call.call({"from": sender})
    return str(caught.value)


def fund_executor(world: World) -> None:
    for token in world.tokens:
        world.send(token.functions.transfer(world.executor.address, INVENTORY))


def cross_dex_gap(world: World) -> tuple[list[PoolSnapshot], str]:
    """token0/token1 at 1:1 on uniswap and 1:1.05 on sushiswap; executor funded."""
    t0, t1 = world.tokens[0], world.tokens[1]
    uni = world.create_pool("uniswap", t0, t1, 1_000 * E18, 1_000 * E18)
    sushi = world.create_pool("sushiswap", t0, t1, 1_000 * E18, 1_050 * E18)
    world.age(uni, sushi)
    fund_executor(world)
    return [snapshot_of(world, uni, "uniswap"), snapshot_of(world, sushi, "sushiswap")], t0.address


def triangle(world: World) -> tuple[list[PoolSnapshot], str]:
    """t0->t1->t2->t0 on uniswap with the cycle's rate product about 1.04; executor funded."""
    t0, t1, t2 = world.tokens
    p01 = world.create_pool("uniswap", t0, t1, 1_000 * E18, 2_000 * E18)  # 1 t0 = 2 t1
    p12 = world.create_pool("uniswap", t1, t2, 2_000 * E18, 520 * E18)  # 1 t1 = 0.26 t2
    p20 = world.create_pool("uniswap", t2, t0, 500 * E18, 1_000 * E18)  # 1 t2 = 2 t0
    world.age(p01, p12, p20)
    fund_executor(world)
    return [snapshot_of(world, p, "uniswap") for p in (p01, p12, p20)], t0.address


@pytest.mark.parametrize("market", [cross_dex_gap, triangle], ids=["cross_dex", "triangle"])
def test_optimal_size_is_realized_exactly_and_beats_its_neighbours(chain: World, market: Any) -> None:
    pools, start = market(chain)
    opportunity = best_opportunity(chain, pools, start)
    size, hops = opportunity.amount_in, hops_of(opportunity)
    at_size = execute_call(chain, opportunity, size).call({"from": chain.owner})
    below = execute_call(chain, opportunity, size - 1).call({"from": chain.owner})
    above = execute_call(chain, opportunity, size + 1).call({"from": chain.owner})
    assert at_size == opportunity.gross_profit > 0
    assert (below, above) == (route_profit(size - 1, hops), route_profit(size + 1, hops))
    assert at_size >= below and at_size >= above

    token = chain.token(start)
    before = chain.balance(token, chain.executor.address)
    chain.next_block_later()  # the trade's block accrues TWAPs in every pair: the costlier, usual case
    # sent with the search's own gas figure as the limit: it must be enough
    call = execute_call(chain, opportunity, size, min_profit=opportunity.gross_profit)
    receipt = chain.send(call, gas=opportunity.gas_estimate)
    assert chain.balance(token, chain.executor.address) - before == opportunity.gross_profit
    (event,) = chain.executor.events.Executed().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["profit"] == opportunity.gross_profit
    assert event["args"]["hops"] == len(opportunity.route)
    print(f"gas used, {len(opportunity.route)} hops, inventory: {receipt['gasUsed']}")


@pytest.mark.parametrize("market", [cross_dex_gap, triangle], ids=["cross_dex", "triangle"])
def test_flash_swap_earns_the_same_without_inventory(chain: World, market: Any) -> None:
    pools, start = market(chain)
    opportunity = best_opportunity(chain, pools, start)
    empty = chain.deploy(executor_artifact())  # owns no tokens at all
    call = execute_call(chain, opportunity, opportunity.amount_in, executor=empty, flash=True)
    assert call.call({"from": chain.owner}) == opportunity.gross_profit
    chain.next_block_later()
    receipt = chain.send(call, gas=opportunity.gas_estimate)  # the search's gas figure must be enough
    print(f"gas used, {len(opportunity.route)} hops, flash: {receipt['gasUsed']}")
    assert chain.balance(chain.token(start), empty.address) == opportunity.gross_profit


def test_min_profit_reverts_with_reason_and_after_a_frontrun(chain: World) -> None:
    pools, start = cross_dex_gap(chain)
    opportunity = best_opportunity(chain, pools, start)
    size, gross = opportunity.amount_in, opportunity.gross_profit
    reason = revert_reason(execute_call(chain, opportunity, size, min_profit=gross + 1), chain.owner)
    assert "Executor: profit below minimum" in reason
    # a competitor takes the same trade first: sells token0 for the cheap token1 on sushiswap
    t0 = chain.tokens[0]
    sushi = chain.pair(pools[1].address)
    assert opportunity.route[0].pool == sushi.address
    r0, r1 = chain.reserves(sushi)
    chain.send(t0.functions.transfer(sushi.address, size))
    chain.send(sushi.functions.swap(0, get_amount_out(size, r0, r1), chain.owner, b""))
    reason = revert_reason(execute_call(chain, opportunity, size, min_profit=gross), chain.owner)
    assert "Executor: profit below minimum" in reason
    assert t0.address == start


def test_deadline_owner_and_route_guards_have_readable_reasons(chain: World) -> None:
    pools, start = cross_dex_gap(chain)
    opportunity = best_opportunity(chain, pools, start)
    size = opportunity.amount_in
    past = chain.w3.eth.block_number - 1
    assert "Executor: deadline passed" in revert_reason(execute_call(chain, opportunity, size, deadline=past),
                                                       chain.owner)
    assert "Executor: not owner" in revert_reason(execute_call(chain, opportunity, size), chain.stranger)
    flash = execute_call(chain, opportunity, size, flash=True)
    assert "Executor: not owner" in revert_reason(flash, chain.stranger)
    pairs, path, fees = route_args(opportunity)
    block = chain.w3.eth.block_number + 1
    not_cycle = chain.executor.functions.execute(pairs, [*path[:-1], chain.tokens[2].address], fees, size, 0, block)
    assert "Executor: route must end in its start token" in revert_reason(not_cycle, chain.owner)
    short = chain.executor.functions.execute(pairs, path[:-1], fees, size, 0, block)
    assert "Executor: route length mismatch" in revert_reason(short, chain.owner)
    callback = chain.executor.functions.uniswapV2Call(chain.executor.address, 1, 0, b"")
    assert "Executor: unexpected callback" in revert_reason(callback, chain.stranger)


def test_withdraw_is_owner_only(chain: World) -> None:
    fund_executor(chain)
    token = chain.tokens[1]
    with_reason = chain.executor.functions.withdraw(token.address, E18, chain.stranger)
    assert "Executor: not owner" in revert_reason(with_reason, chain.stranger)
    before = chain.balance(token, chain.stranger)
    receipt = chain.send(with_reason)
    assert chain.balance(token, chain.stranger) - before == E18
    assert chain.balance(token, chain.executor.address) == INVENTORY - E18
    (event,) = chain.executor.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["amount"], event["args"]["to"]) == (E18, chain.stranger)
    too_much = chain.executor.functions.withdraw(token.address, INVENTORY, chain.stranger)
    assert "Executor: transfer failed" in revert_reason(too_much, chain.owner)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=st.integers(10**15, 10**26),
    ratio=st.floats(1e-3, 1e3),
    gap_bps=st.integers(80, 3_000),
    other_depth=st.floats(0.05, 20.0),
)
def test_random_gaps_are_sized_to_what_the_contract_realizes(
    world: World, depth: int, ratio: float, gap_bps: int, other_depth: float
) -> None:
    """Random depths, prices and gaps: eth_call of execute at amm's size returns amm's exact profit,
    and one wei more or less returns exactly what amm predicts for those sizes, never more."""
    with world.anvil.isolated():
        t0, t1 = world.tokens[0], world.tokens[1]
        x1, y1 = depth, max(10**4, int(depth * ratio))
        x2 = max(10**4, int(x1 * other_depth))
        y2 = max(10**4, int(y1 * other_depth * (10_000 + gap_bps) / 10_000))
        uni = world.create_pool("uniswap", t0, t1, x1, y1)
        sushi = world.create_pool("sushiswap", t0, t1, x2, y2)
        world.send(t0.functions.transfer(world.executor.address, 10**30))
        pools = [snapshot_of(world, uni, "uniswap"), snapshot_of(world, sushi, "sushiswap")]
        graph = MarketGraph.build(pools, weth=t0.address, base_tokens=[t0.address])
        free_gas = GasPolicy(priority_fee_wei=0, base_fee_headroom_pct=0)
        found = scan(graph, free_gas, PriceBook(), BlockContext(number=0, base_fee_wei=0)).opportunities
        assume(found)
        opportunity = found[0]
        size, hops = opportunity.amount_in, hops_of(opportunity)
        for amount in (size - 1, size, size + 1):
            if amount <= 0:
                continue
            expected = route_profit(amount, hops)
            if expected < 0:
                reason = revert_reason(execute_call(world, opportunity, amount), world.owner)
                assert "Executor: profit below minimum" in reason
                continue
            assert execute_call(world, opportunity, amount).call({"from": world.owner}) == expected
            assert expected <= opportunity.gross_profit


def test_a_fee_on_transfer_token_makes_the_trade_revert_and_costs_only_gas(chain: World) -> None:
    """amm sizes the route from reserves, unaware that the token skims 1% per transfer; the pair
    then receives less than the route assumed and the whole trade reverts: nothing but gas is lost.
    (The pool-state side flags such tokens and MarketGraph's blocked_tokens keeps them out.)"""
    fot = chain.deploy(json.loads((REPO / "contracts" / "build" / "FeeOnTransferToken.json").read_text()), 10**30, 100)
    t0 = chain.tokens[0]
    uni = chain.create_pool("uniswap", t0, fot, 1_000 * E18, 1_000 * E18)
    sushi = chain.create_pool("sushiswap", t0, fot, 1_000 * E18, 1_100 * E18)
    chain.age(uni, sushi)
    fund_executor(chain)
    chain.send(fot.functions.transfer(chain.executor.address, INVENTORY))
    pools = [snapshot_of(chain, uni, "uniswap"), snapshot_of(chain, sushi, "sushiswap")]
    opportunity = best_opportunity(chain, pools, t0.address)
    call = execute_call(chain, opportunity, opportunity.amount_in)
    assert "UniswapV2: K" in revert_reason(call, chain.owner)

    holdings = [chain.balance(t, chain.executor.address) for t in (t0, fot)]
    eth_before = chain.w3.eth.get_balance(chain.owner)  # type: ignore[arg-type]
    tx_hash = call.transact({"from": chain.owner, "gas": opportunity.gas_estimate})
    receipt: Any = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt["status"] == 0
    assert [chain.balance(t, chain.executor.address) for t in (t0, fot)] == holdings
    spent = eth_before - chain.w3.eth.get_balance(chain.owner)  # type: ignore[arg-type]
    assert spent == receipt["gasUsed"] * receipt["effectiveGasPrice"] <= opportunity.gas_estimate * receipt[
        "effectiveGasPrice"
    ]
    blocked = MarketGraph.build(pools, weth=t0.address, blocked_tokens=[fot.address])
    assert blocked.cycle_count() == 0 and len(blocked.rejected) == 2
