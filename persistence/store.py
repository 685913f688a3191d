"""The contract of a durable risk store, and what both backends share.

A store keeps one RiskBookState per book id and the daily loss ledger that several bot processes
may share: an approval reserves the trade's worst case from the day's budget, the outcome settles
it. save() returns only once the state is durable, so the actor can acknowledge the change that
produced it. The book's events (stops, resets, limit hits, cooldowns, rollovers) are not kept here:
they go to the one audit trail (persistence.audit_trail) before the state that follows from them is
saved, and `risk_events` reads them back from it.
"""

from __future__ import annotations

import re
import time
import typing
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec

from protocol.risk import RiskEvent
from risk.state import RiskBookState

MICRO = 1_000_000  # the ledger counts numeraire amounts in integer micro-units: exact sums, atomic increments

_RISK_EVENT_TAGS = frozenset(t.__name__ for t in typing.get_args(RiskEvent))


# What decoding a stored state raises when the bytes are not a whole RiskBookState (garbage, a
# truncated write, another program's key): the backends move such state aside, never delete it.
UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, TypeError)


def to_micro(amount: float) -> int:
    return round(amount * MICRO)


def aside_stamp() -> str:
    """The UTC second that names a moved-aside copy of unreadable state, so copies sort by discovery."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def audit_kind(event: RiskEvent) -> str:
    """The audit trail's kind for a risk event: EmergencyStopTriggered -> emergency_stop_triggered."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def risk_events(records: Iterable[Any]) -> list[RiskEvent]:
    """The risk book's events among audit records (monitoring.audit.AuditRecord), oldest first."""
    return [
        msgspec.convert(r.body, RiskEvent)  # type: ignore[arg-type]
        for r in records
        if r.actor and r.body.get("type") in _RISK_EVENT_TAGS
    ]


def day_key(day_start: float) -> str:
    """The ledger's name for the daily window starting at `day_start` (epoch seconds)."""
    return str(int(day_start))


class StateUnreadable(Exception):
    """The stored risk state cannot be read. It was moved aside (never deleted) to `moved_to`;
    the book must start with the emergency stop active instead of silently starting fresh."""

    def __init__(self, location: str, moved_to: str, detail: str) -> None:
        super().__init__(f"risk state in {location} is unreadable ({detail}); moved aside to {moved_to}")
        self.location = location
        self.moved_to = moved_to
        self.detail = detail


class SharedDay(msgspec.Struct, frozen=True):
    """The shared ledger's view of one daily window: realized PnL of every process, and the
    worst cases of all live reservations (numeraire)."""

    realized_pnl: float
    reserved: float

    @classmethod
    def from_micro(cls, realized_micro: int, reserved_micro: int) -> SharedDay:
        """The view from the ledger's integer micro-unit counters."""
        return cls(realized_pnl=realized_micro / MICRO, reserved=reserved_micro / MICRO)

    @property
    def used(self) -> float:
        return max(0.0, -self.realized_pnl) + self.reserved


class RiskStore(Protocol):
    location: str  # a file path or a redis URL without its password, for error messages

    def load(self) -> RiskBookState | None:
        """The last saved state, None for a new book; raises StateUnreadable."""
        ...

    def save(self, state: RiskBookState) -> None:
        """Store the state durably."""
        ...

    def reserve_loss(
        self, day: float, reservation_id: str, amount: float, limit: float, expires_at: float, now: float
    ) -> bool:
        """Atomically reserve `amount` from day's loss budget `limit`; False when it does not fit.

        Used = the day's realized loss (net, across processes) + every live reservation.
        Reserving the same id again replaces its amount. Reservations past expires_at lapse.
        """
        ...

    def settle_loss(self, day: float, reservation_id: str, pnl: float, now: float) -> SharedDay:
        """Release the reservation and book the trade's realized PnL on `day`; idempotent per id."""
        ...

    def shared_day(self, day: float, now: float) -> SharedDay: ...

    def close(self) -> None: ...
