"""The mined-trade line shows realized profit gross and net of gas, in ETH and in the numeraire."""

from __future__ import annotations

from execution.ledger import pnl_value
from execution.trade_log import mined_line
from protocol.execution import SubmitMode, TradeRecord, TradeStage
from protocol.trading import Opportunity

WETH = "0x" + "11" * 20


def _opportunity(**overrides: object) -> Opportunity:
    fields: dict[str, object] = dict(
        id="opp-1", block_number=10, token=WETH, token_symbol="WETH", route=(), amount_in=10**18,
        gross_profit=2 * 10**16, gas_estimate=200_000, gas_price_wei=10**10, gas_cost_wei=2 * 10**15,
        amount_in_value=2000.0, gross_profit_value=40.0, gas_cost_value=4.0, detected_at=0.0,
        gas_cost_token=2 * 10**15, net_profit=18 * 10**15, net_profit_wei=18 * 10**15,
    )
    fields.update(overrides)
    return Opportunity(**fields)  # type: ignore[arg-type]


def _mined(realized: int, gas_cost_wei: int) -> TradeRecord:
    return TradeRecord(
        opportunity_id="opp-1", stage=TradeStage.MINED, mode=SubmitMode.PUBLIC, token=WETH, detected_block=10,
        amount_in=10**18, expected_profit=2 * 10**16, simulated_profit=19 * 10**15, realized_profit=realized,
        gas_used=150_000, gas_cost_wei=gas_cost_wei, included_block=12,
    )


def test_the_line_shows_gross_and_net_in_eth_and_numeraire() -> None:
    opp, record = _opportunity(), _mined(realized=15 * 10**15, gas_cost_wei=3 * 10**15)
    line = mined_line(record, opp)
    assert line.startswith("trade mined in block 12: realized gross +0.015000 ETH (+30.00 numeraire)")
    assert "net of gas +0.012000 ETH (+24.00 numeraire)" in line
    assert f"{pnl_value(opp, 15 * 10**15, 3 * 10**15):+.2f} numeraire)" in line  # what the risk book records
    assert "gas 150000 (0.003000 ETH)" in line


def test_a_loss_after_gas_is_negative() -> None:
    line = mined_line(_mined(realized=10**15, gas_cost_wei=3 * 10**15), _opportunity())
    assert "net of gas -0.002000 ETH (-4.00 numeraire)" in line


def test_a_token_profit_is_converted_to_eth_at_the_detection_rate() -> None:
    # profit in a token worth 1/2000 ETH per wei-unit ratio: gas 2e15 ETH wei = 4e18 token wei
    opp = _opportunity(token_symbol="USDC", gross_profit=40 * 10**18, gas_cost_token=4 * 10**18,
                       net_profit=36 * 10**18, net_profit_wei=18 * 10**15)
    line = mined_line(_mined(realized=20 * 10**18, gas_cost_wei=2 * 10**15), opp)
    assert "realized gross +0.010000 ETH (+20.00 numeraire), net of gas +0.008000 ETH (+16.00 numeraire)" in line


def test_without_an_eth_rate_the_token_amount_is_shown() -> None:
    opp = _opportunity(token_symbol="DAI", net_profit_wei=0, gas_cost_token=0)
    line = mined_line(_mined(realized=5, gas_cost_wei=0), opp)
    assert "realized gross 5 DAI wei" in line and "numeraire" in line
