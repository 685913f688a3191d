"""The executor call and transaction: ABI-exact calldata, chain-id-bound signatures, exact sizing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from amm.v2 import route_amount_out
from execution.transaction import (
    BadRoute,
    WrongChain,
    execute_call,
    expected_profit,
    min_profit_for,
    sign,
    transaction,
)
from protocol.secrets import Secret
from protocol.trading import Leg, Opportunity

ARTIFACT = Path(__file__).resolve().parents[2] / "contracts" / "build" / "Executor.json"
KEY = Secret("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
BOT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
P1, P2 = "0x" + "aa" * 20, "0x" + "bb" * 20


def opportunity(amount_in: int = 10**18, route: tuple[Leg, ...] | None = None) -> Opportunity:
    hops = ((1000 * 10**18, 3_100_000 * 10**6, 30), (3_000_000 * 10**6, 1000 * 10**18, 30))
    out1 = route_amount_out(amount_in, hops[:1])
    out2 = route_amount_out(out1, hops[1:])
    legs = route or (
        Leg(P1, "uniswap", WETH, USDC, amount_in, out1, hops[0][0], hops[0][1]),
        Leg(P2, "sushiswap", USDC, WETH, out1, out2, hops[1][0], hops[1][1]),
    )
    return Opportunity(
        id="t1", block_number=100, token=WETH, token_symbol="WETH", route=legs, amount_in=amount_in,
        gross_profit=out2 - amount_in, gas_estimate=200_000, gas_price_wei=10**9, gas_cost_wei=2 * 10**14,
        amount_in_value=0.0, gross_profit_value=0.0, gas_cost_value=0.0, detected_at=0.0,
    )


def test_calldata_matches_the_compiled_abi() -> None:
    abi = json.loads(ARTIFACT.read_text())["abi"]
    opp = opportunity()
    call = execute_call(opp, amount_in=opp.amount_in, head_block=100)
    contract = Web3().eth.contract(address=Web3.to_checksum_address(P1), abi=abi)
    expected = contract.encode_abi(
        "execute",
        args=[list(call.pairs), list(call.path), list(call.fees_bps), call.amount_in, call.min_profit,
              call.deadline_block],
    )
    assert call.calldata() == expected
    assert call.deadline_block == 102  # current block + 2
    assert call.path[0] == call.path[-1] == Web3.to_checksum_address(WETH)


def test_resized_profit_is_exact_and_min_profit_is_a_share() -> None:
    opp = opportunity()
    assert expected_profit(opp, opp.amount_in) == opp.gross_profit
    half = opp.amount_in // 2
    hops = tuple((leg.reserve_in, leg.reserve_out, leg.fee_bps) for leg in opp.route)
    assert expected_profit(opp, half) == route_amount_out(half, hops) - half
    call = execute_call(opp, amount_in=half, head_block=100, min_profit_bps=5_000)
    assert call.min_profit == min_profit_for(expected_profit(opp, half), 5_000) == expected_profit(opp, half) // 2
    assert min_profit_for(0) == 1  # never a zero floor: a losing trade always reverts


def test_broken_routes_are_refused() -> None:
    opp = opportunity()
    not_a_cycle = (opp.route[0], opp.route[0])
    with pytest.raises(BadRoute, match="does not continue"):
        execute_call(opportunity(route=not_a_cycle), amount_in=1, head_block=1)
    with pytest.raises(BadRoute, match="two hops"):
        execute_call(opportunity(route=opp.route[:1]), amount_in=1, head_block=1)
    with pytest.raises(BadRoute, match="amount_in"):
        execute_call(opp, amount_in=0, head_block=1)


def test_signs_only_for_the_configured_chain() -> None:
    tx = transaction(chain_id=31337, sender=BOT, to=P1, data="0x", nonce=3, gas=50_000, max_fee_per_gas=2 * 10**9,
                     max_priority_fee_per_gas=10**9)
    signed = sign(tx, KEY, configured_chain_id=31337)
    assert Account.recover_transaction(signed.raw) == BOT
    assert signed.nonce == 3
    with pytest.raises(WrongChain, match="refusing to sign for chain id 1: configured for 31337") as err:
        sign({**tx, "chainId": 1}, KEY, configured_chain_id=31337)
    assert KEY.reveal()[2:12] not in str(err.value)
    with pytest.raises(WrongChain):
        sign({k: v for k, v in tx.items() if k != "chainId"}, KEY, configured_chain_id=31337)
    with pytest.raises(ValueError, match="the key signs for"):
        sign({**tx, "from": WETH}, KEY, configured_chain_id=31337)
