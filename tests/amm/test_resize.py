"""amm.resize: an opportunity at another size keeps exact legs and the detection-time rates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amm.resize import at_size, eth_wei_per_token
from amm.v2 import get_amount_out, route_profit
from protocol.trading import Leg, Opportunity

W, U = "0x" + "11" * 20, "0x" + "22" * 20


def found(amount: int, r: tuple[int, int, int, int]) -> Opportunity:
    hops = ((r[0], r[1], 30), (r[2], r[3], 30))
    gross = route_profit(amount, hops)
    mid = get_amount_out(amount, r[0], r[1], 30)
    legs = (Leg("0xa", "u", W, U, amount, mid, r[0], r[1]), Leg("0xb", "s", U, W, mid, amount + gross, r[2], r[3]))
    return Opportunity(id="o", block_number=1, token=W, token_symbol="WETH", route=legs, amount_in=amount,
                       gross_profit=gross, gas_estimate=220_000, gas_price_wei=10**9, gas_cost_wei=220_000 * 10**9,
                       amount_in_value=amount / 1e18 * 3000, gross_profit_value=gross / 1e18 * 3000,
                       gas_cost_value=220_000 * 10**9 / 1e18 * 3000, detected_at=0.0,
                       gas_cost_token=220_000 * 10**9, net_profit=gross - 220_000 * 10**9,
                       net_profit_wei=gross - 220_000 * 10**9)


@given(amount=st.integers(10**15, 10**19), share=st.floats(0.001, 1.0))
def test_property_a_resized_opportunity_is_exact_at_its_size(amount, share):
    reserves = (1000 * 10**18, 3_100_000 * 10**6, 3_000_000 * 10**6, 1000 * 10**18)
    opp = found(amount, reserves)
    smaller = max(1, int(amount * share))
    sized = at_size(opp, smaller)
    hops = ((reserves[0], reserves[1], 30), (reserves[2], reserves[3], 30))
    assert sized.gross_profit == route_profit(smaller, hops)
    assert sized.route[-1].amount_out - smaller == sized.gross_profit
    assert sized.gas_cost_wei == opp.gas_cost_wei and sized.gas_cost_value == opp.gas_cost_value
    if opp.gross_profit > 0:  # the token's value per wei is the one found
        assert abs(sized.gross_profit_value - opp.gross_profit_value * sized.gross_profit / opp.gross_profit) < 1e-9
    assert at_size(opp, amount) is opp


def test_the_token_rate_comes_from_the_profit_else_from_the_gas_else_is_unknown():
    opp = found(10**18, (1000 * 10**18, 3_100_000 * 10**6, 3_000_000 * 10**6, 1000 * 10**18))
    assert eth_wei_per_token(opp) == 1.0  # WETH: one wei is one wei
    from msgspec.structs import replace

    no_profit_field = replace(opp, net_profit_wei=0, gas_cost_token=110_000 * 10**9)
    assert eth_wei_per_token(no_profit_field) == 2.0  # the gas's rate
    assert eth_wei_per_token(replace(no_profit_field, gas_cost_token=0)) is None
