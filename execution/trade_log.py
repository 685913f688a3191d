"""The readable line of a mined trade: realized profit gross and net of gas, in ETH and the numeraire.

A receipt gives the realized profit in the profit token's wei and the gas in ETH wei. The line values
both at the opportunity's detection-time valuation (the same one `ledger.pnl_value` gives the risk
book), so what the operator reads is what the book recorded.
"""

from __future__ import annotations

from amm.resize import eth_wei_per_token
from execution.ledger import pnl_value
from protocol.execution import TradeRecord
from protocol.trading import Opportunity

WEI_PER_ETH = 10**18


def _eth(wei: float) -> str:
    return f"{wei / WEI_PER_ETH:+.6f} ETH"


def mined_line(record: TradeRecord, opp: Opportunity) -> str:
    """`trade mined in block N: realized gross ... ETH (... numeraire), net of gas ... ETH (...); ...`."""
    realized = record.realized_profit or 0
    per_token = opp.gross_profit_value / opp.gross_profit if opp.gross_profit else 0.0
    gross_value = realized * per_token
    net_value = pnl_value(opp, realized, record.gas_cost_wei)
    rate = eth_wei_per_token(opp)
    if rate is None:  # no ETH valuation of the profit token: show its wei beside the numeraire values
        gross = f"{realized} {opp.token_symbol} wei"
        net = f"{realized} {opp.token_symbol} wei - {record.gas_cost_wei / WEI_PER_ETH:.6f} ETH gas"
    else:
        gross, net = _eth(realized * rate), _eth(realized * rate - record.gas_cost_wei)
    return (f"trade mined in block {record.included_block}: realized gross {gross} ({gross_value:+.2f} numeraire), "
            f"net of gas {net} ({net_value:+.2f} numeraire); expected {record.expected_profit}, "
            f"simulated {record.simulated_profit} {opp.token_symbol} wei; gas {record.gas_used} "
            f"({record.gas_cost_wei / WEI_PER_ETH:.6f} ETH)")
