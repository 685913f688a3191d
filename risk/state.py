"""The risk book's state: one immutable value, replaced on every change, encoded whole by the stores."""

from __future__ import annotations

import msgspec

from protocol.risk import EmergencyStop, EquityPoint, RiskLimits  # EquityPoint: published in RiskSnapshot
from protocol.trading import TradeStatus


class TradeRecord(msgspec.Struct, frozen=True):
    """A settled trade as the statistics need it, with its raw on-chain amounts.

    pnl_unrecorded holds the repr of a PnL that was not a finite number (pnl_value is then 0 and the
    book stopped trading): the trade is on record, its PnL must be reconciled from tx_hash.
    """

    opportunity_id: str
    status: TradeStatus
    pnl_value: float
    amount_in_value: float
    at: float
    gas_used: int = 0
    gas_cost_wei: int = 0
    tx_hash: str | None = None
    block_number: int | None = None
    pnl_unrecorded: str | None = None


class TradeStats(msgspec.Struct, frozen=True):
    """Counts over the settled (mined or reverted) trades of the history window. Derived from the
    history, recomputed on every outcome, so that assess() reads them in O(1) on the hot path."""

    sent: int = 0
    reverts: int = 0
    wins: int = 0
    losses: int = 0
    win_sum: float = 0.0
    loss_sum: float = 0.0  # positive


def trade_stats(history: tuple[TradeRecord, ...]) -> TradeStats:
    sent = reverts = wins = losses = 0
    win_sum = loss_sum = 0.0
    for r in history:
        if r.status not in (TradeStatus.MINED, TradeStatus.REVERTED):
            continue
        sent += 1
        reverts += r.status is TradeStatus.REVERTED
        if r.pnl_value > 0:
            wins += 1
            win_sum += r.pnl_value
        elif r.pnl_value < 0:
            losses += 1
            loss_sum -= r.pnl_value
    return TradeStats(sent, reverts, wins, losses, win_sum, loss_sum)


class OpenTrade(msgspec.Struct, frozen=True):
    """An approved trade whose outcome has not arrived: its notional counts as exposure on each
    token it touches and its worst case counts against the daily loss budget until it settles or
    expires (an executor that died never reports)."""

    opportunity_id: str
    tokens: tuple[str, ...]
    size_value: float
    max_loss_value: float
    approved_at: float
    expires_at: float


class RiskBookState(msgspec.Struct, frozen=True):
    """Everything the risk book knows. Pure functions in risk/ map a state to the next one.

    positions: realized PnL per profit token (numeraire), since the book started.
    exposure is derived from open_trades (see risk.book.exposure_by_token).
    equity = initial_capital + total_pnl; peak_equity is the running maximum of equity.
    """

    initial_capital: float
    day_start: float
    day_start_equity: float
    pnl_today: float = 0.0
    total_pnl: float = 0.0
    peak_equity: float = 0.0
    trades_today: int = 0
    total_trades: int = 0
    consecutive_losses: int = 0
    cooldown_until: float | None = None
    emergency_stop: EmergencyStop = EmergencyStop()
    positions: dict[str, float] = {}
    open_trades: tuple[OpenTrade, ...] = ()
    history: tuple[TradeRecord, ...] = ()
    stats: TradeStats = TradeStats()
    equity_curve: tuple[EquityPoint, ...] = ()
    version: int = 0  # bumped on every change; the stores and the snapshot carry it

    @property
    def equity(self) -> float:
        return self.initial_capital + self.total_pnl

    @property
    def drawdown(self) -> float:
        """Fraction below the running peak of the equity curve (0 at a new high)."""
        if self.peak_equity <= 0:
            return 1.0 if self.equity < self.peak_equity else 0.0
        return max(0.0, (self.peak_equity - self.equity) / self.peak_equity)

    @property
    def daily_loss(self) -> float:
        return max(0.0, -self.pnl_today)


def new_state(limits: RiskLimits, now: float) -> RiskBookState:
    """A fresh book at `now`: equity at the initial capital, the daily window containing `now`."""
    from risk.calendar import day_start

    cap = limits.initial_capital
    return RiskBookState(
        initial_capital=cap,
        day_start=day_start(now, limits.daily_reset_tz),
        day_start_equity=cap,
        peak_equity=cap,
        equity_curve=(EquityPoint(now, cap),),
    )


state_encoder = msgspec.msgpack.Encoder()
state_decoder = msgspec.msgpack.Decoder(RiskBookState)


def encode_state(state: RiskBookState) -> bytes:
    return state_encoder.encode(state)


def decode_state(blob: bytes) -> RiskBookState:
    """Raises msgspec.DecodeError / ValidationError on anything that is not a whole state."""
    return state_decoder.decode(blob)
