"""An opportunity at another input size: exact legs and gross profit, valuations at the same rates.

The risk book and the executor size trades down (limits, Kelly, inventory); whatever judges a trade
must judge the size that is sent, not the size that was found (issue 13: a trade sized 5-9x smaller
than found can lose money after gas that the found size would have earned).
"""

from __future__ import annotations

import msgspec

from amm.v2 import get_amount_out
from protocol.trading import Leg, Opportunity


def eth_wei_per_token(opportunity: Opportunity) -> float | None:
    """ETH wei per profit-token wei at detection: the gross profit's ETH value (amm.search sets
    net_profit_wei), else the rate its gas was converted at; None when the opportunity says neither."""
    o = opportunity
    if o.gross_profit > 0 and o.net_profit_wei:
        return (o.net_profit_wei + o.gas_cost_wei) / o.gross_profit
    if o.gas_cost_token > 0 and o.gas_cost_wei > 0:
        return o.gas_cost_wei / o.gas_cost_token
    return None


def route_legs_at(route: tuple[Leg, ...], amount_in: int) -> tuple[Leg, ...]:
    """The legs with their amounts recomputed for `amount_in` at the same reserves (0 when a hop starves)."""
    legs, amount = [], amount_in
    for leg in route:
        out = get_amount_out(amount, leg.reserve_in, leg.reserve_out, leg.fee_bps) if amount > 0 else 0
        legs.append(msgspec.structs.replace(leg, amount_in=amount, amount_out=out))
        amount = out
    return tuple(legs)


def at_size(opportunity: Opportunity, amount_in: int) -> Opportunity:
    """`opportunity` sized at `amount_in`: gross profit exact, token -> value rates unchanged, gas unchanged."""
    if amount_in == opportunity.amount_in:
        return opportunity
    legs = route_legs_at(opportunity.route, amount_in)
    gross = legs[-1].amount_out - amount_in if legs else -amount_in
    o = opportunity
    value_per_unit = o.amount_in_value / o.amount_in if o.amount_in > 0 else 0.0
    wei_per_unit = eth_wei_per_token(o) or 0.0
    gross_wei = int(gross * wei_per_unit)
    return msgspec.structs.replace(
        o,
        route=legs,
        amount_in=amount_in,
        gross_profit=gross,
        amount_in_value=amount_in * value_per_unit,
        # exact ratio when the found size earns (always, from amm.search); else the value scales with the size
        gross_profit_value=(o.gross_profit_value * gross / o.gross_profit if o.gross_profit > 0
                            else o.gross_profit_value * amount_in / o.amount_in if o.amount_in > 0 else 0.0),
        net_profit=gross - o.gas_cost_token,
        net_profit_wei=gross_wei - o.gas_cost_wei,
    )
