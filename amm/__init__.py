"""Pure AMM math and opportunity search: exact Uniswap V2 integers, the token graph, cycle sizing.

No I/O, no actors: data in, data out. The strategy actor feeds it pool snapshots and a block.
"""

from amm.gas import BlockContext, GasPolicy, PriceBook
from amm.graph import CycleTable, MarketGraph
from amm.pools import PoolDefect, PoolSnapshot, RejectedPool, pool_defect, screen_pools
from amm.search import ScanResult, exact_scan, scan
from amm.v2 import (
    InsufficientLiquidity,
    compose,
    continuous_optimum,
    get_amount_in,
    get_amount_out,
    has_edge,
    optimal_input,
    route_amount_out,
    route_profit,
)

__all__ = [
    "BlockContext",
    "CycleTable",
    "GasPolicy",
    "InsufficientLiquidity",
    "MarketGraph",
    "PoolDefect",
    "PoolSnapshot",
    "PriceBook",
    "RejectedPool",
    "ScanResult",
    "compose",
    "continuous_optimum",
    "exact_scan",
    "get_amount_in",
    "get_amount_out",
    "has_edge",
    "optimal_input",
    "pool_defect",
    "route_amount_out",
    "route_profit",
    "scan",
    "screen_pools",
]
