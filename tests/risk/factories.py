"""Builders for the risk tests: opportunities priced with the exact V2 math, market views, outcomes."""

from __future__ import annotations

from protocol.risk import MarketView
from protocol.trading import Leg, Opportunity, TradeOutcome, TradeStatus
from risk.liquidity import amount_out

WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
WAD = 10**18
T0 = 1_795_000_000.0  # 2026-11-18T08:26:40Z: a fixed clock for the pure tests


def opportunity(
    oid: str = "opp-1",
    size_value: float = 500.0,
    amount_in: int = WAD // 4,
    gross_profit_value: float = 20.0,
    gas_cost_value: float = 2.0,
    reserves: tuple[int, int, int, int] = (1000 * WAD, 3_000_000 * 10**6, 3_100_000 * 10**6, 1000 * WAD),
    token: str = WETH,
    detected_at: float = T0,
) -> Opportunity:
    """WETH -> USDC in pool A, USDC -> WETH in pool B; legs' outputs from the exact V2 formula."""
    r1_in, r1_out, r2_in, r2_out = reserves
    mid = amount_out(amount_in, r1_in, r1_out)
    back = amount_out(mid, r2_in, r2_out)
    route = (
        Leg("0xpoolA", "uniswap", token, USDC, amount_in, mid, r1_in, r1_out),
        Leg("0xpoolB", "sushiswap", USDC, token, mid, back, r2_in, r2_out),
    )
    return Opportunity(
        id=oid,
        block_number=100,
        token=token,
        token_symbol="WETH",
        route=route,
        amount_in=amount_in,
        gross_profit=max(0, back - amount_in),
        gas_estimate=200_000,
        gas_price_wei=10**9,
        gas_cost_wei=200_000 * 10**9,
        amount_in_value=size_value,
        gross_profit_value=gross_profit_value,
        gas_cost_value=gas_cost_value,
        detected_at=detected_at,
    )


def calm_market(tokens: tuple[str, ...] = (WETH, USDC), mev: float = 0.1) -> MarketView:
    """Prices that wiggle by about 0.1% per sample, the two tokens moving together."""
    base = [1.0, 1.001, 0.999, 1.0005, 1.0, 1.0012, 0.9995, 1.0]
    prices = {t: tuple(3000.0 * b if t == WETH else b for b in base) for t in tokens}
    return MarketView(prices=prices, mev_competition=mev)


def outcome(oid: str, pnl: float, status: TradeStatus = TradeStatus.MINED, size_value: float = 500.0) -> TradeOutcome:
    return TradeOutcome(
        opportunity_id=oid, status=status, tokens=(WETH, USDC), amount_in_value=size_value, realized_pnl_value=pnl
    )
