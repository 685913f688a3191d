"""What a route costs in gas, priced at the block's base fee plus our priority-fee policy."""

from __future__ import annotations

import msgspec

# Measured on anvil with contracts/Executor.sol against real UniswapV2Pair bytecode, every pair
# accruing its TWAP in the trade's block (the usual case for an active pair): gas used 147k for a
# 2-hop route and 201k for a 3-hop one from inventory; 175k and 229k as flash swaps from an empty
# executor, whose limit must also cover gas refunded at the end (a 200k limit is not enough for
# the 2-hop flash swap). tests/contracts/test_executor.py sends every trade with gas_units() as
# its gas limit, so these defaults are checked against the real contracts.
DEFAULT_GAS_OVERHEAD = 100_000
DEFAULT_GAS_PER_HOP = 60_000
DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000  # 1 gwei tip
DEFAULT_BASE_FEE_HEADROOM_PCT = 113  # the next block's base fee can rise 12.5%: price that in


class GasPolicy(msgspec.Struct, frozen=True):
    """Gas units per route and the price we pay: base fee * headroom + a fixed priority fee."""

    priority_fee_wei: int = DEFAULT_PRIORITY_FEE_WEI
    base_fee_headroom_pct: int = DEFAULT_BASE_FEE_HEADROOM_PCT
    gas_overhead: int = DEFAULT_GAS_OVERHEAD
    gas_per_hop: int = DEFAULT_GAS_PER_HOP

    def gas_units(self, hops: int) -> int:
        return self.gas_overhead + self.gas_per_hop * hops

    def gas_price_wei(self, base_fee_wei: int) -> int:
        return base_fee_wei * self.base_fee_headroom_pct // 100 + self.priority_fee_wei

    def gas_cost_wei(self, hops: int, base_fee_wei: int) -> int:
        return self.gas_units(hops) * self.gas_price_wei(base_fee_wei)


class BlockContext(msgspec.Struct, frozen=True):
    """The head a scan is made at: its number, base fee and timestamp (seconds)."""

    number: int
    base_fee_wei: int
    timestamp: float = 0.0


class PriceBook(msgspec.Struct, frozen=True):
    """Valuation inputs beyond the pools: the numeraire value of 1 ETH (e.g. USD) and token symbols.

    Token amounts are converted to ETH through the deepest pool pairing the token with WETH, so
    only ETH needs an outside price; eth_value=0 leaves the *_value fields at 0.
    """

    eth_value: float = 0.0
    symbols: dict[str, str] = {}


class Numeraire(msgspec.Struct, frozen=True):
    """The token that values trades for the risk book (a USD stablecoin): ETH is priced through it live."""

    token: str
    decimals: int
    symbol: str = "USD"
