"""amm.get_amount_out / get_amount_in are exactly what the real UniswapV2Pair accepts.

For random reserves and sizes, on the real pair bytecode: after amount_in reaches the pair,
swap(get_amount_out) succeeds and swap(get_amount_out + 1) fails the K check; and get_amount_in(out) buys out, with the
least input the pair accepts being exactly what the library's rounding says.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from amm import get_amount_in, get_amount_out
from tests.contracts.conftest import World

pytestmark = pytest.mark.anvil

reserves = st.integers(min_value=10**4, max_value=10**30)


def swap_call(world: World, pair, out: int, zero_for_one: bool):  # type: ignore[no-untyped-def]
    amounts = (0, out) if zero_for_one else (out, 0)
    return pair.functions.swap(amounts[0], amounts[1], world.stranger, b"")


def accepted(world: World, pair, out: int, zero_for_one: bool) -> bool:  # type: ignore[no-untyped-def]
    try:
        swap_call(world, pair, out, zero_for_one).call({"from": world.stranger})
    except ContractLogicError as exc:
        assert "UniswapV2: K" in str(exc), exc
        return False
    return True


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reserve0=reserves,
    reserve1=reserves,
    size_fraction=st.floats(min_value=1e-9, max_value=2.0),
    zero_for_one=st.booleans(),
)
def test_get_amount_out_is_the_largest_output_the_pair_accepts(
    world: World, reserve0: int, reserve1: int, size_fraction: float, zero_for_one: bool
) -> None:
    with world.anvil.isolated():
        t0, t1 = world.tokens[0], world.tokens[1]
        pair = world.create_pool("uniswap", t0, t1, reserve0, reserve1)
        assert world.reserves(pair) == (reserve0, reserve1)
        reserve_in, reserve_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
        amount_in = max(1, int(reserve_in * size_fraction))
        out = get_amount_out(amount_in, reserve_in, reserve_out)
        world.send((t0 if zero_for_one else t1).functions.transfer(pair.address, amount_in))
        if out > 0:
            assert accepted(world, pair, out, zero_for_one)
        assert not accepted(world, pair, out + 1, zero_for_one)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reserve0=reserves, reserve1=reserves, out_fraction=st.floats(min_value=1e-9, max_value=0.9))
def test_get_amount_in_buys_the_output_with_the_least_input(
    world: World, reserve0: int, reserve1: int, out_fraction: float
) -> None:
    with world.anvil.isolated():
        t0, t1 = world.tokens[0], world.tokens[1]
        pair = world.create_pool("uniswap", t0, t1, reserve0, reserve1)
        out = max(1, int(reserve1 * out_fraction))
        amount_in = get_amount_in(out, reserve0, reserve1)
        # the library rounds up with floor + 1, so it pays one wei more than needed exactly when
        # the division is exact: the least accepted input is amount_in - 1 then, amount_in otherwise
        exact = (reserve0 * out * 10_000) % ((reserve1 - out) * 9_970) == 0
        least = amount_in - 1 if exact else amount_in
        if least > 1:  # (with nothing sent the pair stops earlier, at INSUFFICIENT_INPUT_AMOUNT)
            world.send(t0.functions.transfer(pair.address, least - 1))
            assert not accepted(world, pair, out, True)  # one wei short of the least input
        world.send(t0.functions.transfer(pair.address, 1 if least > 1 else least))
        assert accepted(world, pair, out, True)
        assert get_amount_out(amount_in, reserve0, reserve1) >= out
