"""Issue 13 item 1, the risk book's half: whatever size it approves earns more than its gas at that size."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from amm.resize import at_size
from risk import assess
from tests.risk.factories import T0, calm_market, opportunity
from tests.risk.test_assess import LIMITS, fresh


@given(size=st.floats(10.0, 20_000.0), gross=st.floats(0.5, 500.0), gas=st.floats(0.01, 50.0),
       cap=st.floats(20.0, 5_000.0), share=st.floats(0.05, 0.95))
def test_property_an_approved_size_pays_its_gas_at_that_size(size, gross, gas, cap, share):
    opp = opportunity(size_value=size, gross_profit_value=gross, gas_cost_value=gas)
    limits = msgspec.structs.replace(LIMITS, max_trade_amount=cap, max_gas_share=share)
    a = assess(fresh(), opp, calm_market(), limits, T0)
    if a.approved:
        sized = at_size(opp, a.adjusted_amount_in)
        assert sized.gross_profit_value > gas
        assert gas / sized.gross_profit_value < share
