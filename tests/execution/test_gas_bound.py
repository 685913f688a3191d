"""The gas a trade is judged by: eth_estimateGas plus the accumulator writes of its pairs (execution.profitability)."""

from __future__ import annotations


def test_gas_bound_prices_fresh_accumulators_at_the_full_margin() -> None:
    from execution.profitability import ACCUMULATING_PAIR_GAS, gas_used_bound
    from execution.transaction import GAS_MARGIN_PER_HOP

    assert gas_used_bound(150_000, 3) == 150_000 + 3 * GAS_MARGIN_PER_HOP  # unknown: every pair as fresh
    assert gas_used_bound(150_000, 3, 3) == 150_000 + 3 * ACCUMULATING_PAIR_GAS
    assert gas_used_bound(150_000, 3, 1) == 150_000 + ACCUMULATING_PAIR_GAS + 2 * GAS_MARGIN_PER_HOP
    assert gas_used_bound(150_000, 2, 7) == gas_used_bound(150_000, 2, 2)  # never more warm pairs than hops


def test_accumulating_pairs_are_counted_from_their_answers() -> None:
    from adapters.executor_chain import accumulating
    from rpc.codec import RpcAnswer, RpcErrorObject

    zero, warm = RpcAnswer(1, "0x" + "00" * 32), RpcAnswer(2, "0x" + "00" * 31 + "07")
    assert accumulating([zero, warm, warm]) == 2
    assert accumulating([warm, RpcAnswer(3, "0xzz")]) is None  # malformed: every pair priced as fresh
    assert accumulating([warm, RpcAnswer(4, error=RpcErrorObject(-32000, "boom"))]) is None

