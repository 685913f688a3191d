"""What the strategy, the risk book and the executor say to each other about a trade.

On-chain amounts are ints in the token's smallest unit (wei). Valuations in the risk numeraire
(USD by default) are floats: they feed statistics and limits, never a transaction.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Leg(msgspec.Struct, frozen=True):
    """One swap of a route: amount_in of token_in into pool, amount_out of token_out expected."""

    pool: str
    dex: str
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    reserve_in: int
    reserve_out: int
    fee_bps: int = 30


class Opportunity(msgspec.Struct, frozen=True):
    """A sized arbitrage found at block_number: start with amount_in of token, end with amount_in + gross_profit.

    gas_cost_wei is in ETH wei; the *_value fields are the same quantities in the risk numeraire.
    """

    id: str  # also the trace id that follows it to its outcome
    block_number: int
    token: str  # the profit token (start and end of the route)
    token_symbol: str
    route: tuple[Leg, ...]
    amount_in: int
    gross_profit: int
    gas_estimate: int
    gas_price_wei: int
    gas_cost_wei: int
    amount_in_value: float
    gross_profit_value: float
    gas_cost_value: float
    detected_at: float
    # exact ints from the strategy's search (amm/): gas converted to the profit token through the
    # deepest WETH pool (rounded up), and the net profit in the profit token and in ETH wei
    gas_cost_token: int = 0
    net_profit: int = 0
    net_profit_wei: int = 0
    head_at: float = 0.0  # wall clock when the head it was found at was first seen (0: unknown)

    @property
    def net_profit_value(self) -> float:
        return self.gross_profit_value - self.gas_cost_value

    @property
    def tokens(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for leg in self.route:
            seen.setdefault(leg.token_in)
            seen.setdefault(leg.token_out)
        return tuple(seen)


class TradeStatus(StrEnum):
    MINED = "mined"  # included and succeeded
    REVERTED = "reverted"  # included and reverted: the gas is lost
    NOT_INCLUDED = "not_included"  # a bundle that was never mined: nothing lost
    FAILED = "failed"  # never sent (simulation failed, rejected...)


class TradeOutcome(msgspec.Struct, frozen=True):
    """What happened to an approved trade; realized_pnl_value is net of gas, in the numeraire."""

    opportunity_id: str
    status: TradeStatus
    tokens: tuple[str, ...]
    amount_in_value: float
    realized_pnl_value: float
    gas_used: int = 0
    gas_cost_wei: int = 0
    tx_hash: str | None = None
    block_number: int | None = None
    finished_at: float = 0.0
