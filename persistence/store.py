"""The contract of a durable risk store, and what both backends share.

A store keeps one RiskBookState per book id, an append-only audit trail of the book's events
(stops, resets, limit hits, cooldowns, rollovers) and the daily loss ledger that several bot
processes may share: an approval reserves the trade's worst case from the day's budget, the
outcome settles it. save() returns only once the state and its events are durable, so the actor
can acknowledge the change that produced them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import msgspec

from protocol.risk import RiskEvent
from risk.state import RiskBookState

MICRO = 1_000_000  # the ledger counts numeraire amounts in integer micro-units: exact sums, atomic increments

event_encoder = msgspec.json.Encoder()
event_decoder: msgspec.json.Decoder[RiskEvent] = msgspec.json.Decoder(RiskEvent)  # type: ignore[arg-type]


# What decoding a stored state raises when the bytes are not a whole RiskBookState (garbage, a
# truncated write, another program's key): the backends move such state aside, never delete it.
UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, TypeError)


def to_micro(amount: float) -> int:
    return round(amount * MICRO)


def aside_stamp() -> str:
    """The UTC second that names a moved-aside copy of unreadable state, so copies sort by discovery."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def audit_record(event: RiskEvent) -> tuple[str, bytes]:
    """(kind, JSON) of an event, as both backends append it to the audit trail."""
    return type(event).__name__, event_encoder.encode(event)


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


class AuditEntry(msgspec.Struct, frozen=True):
    seq: int
    book: str
    event: RiskEvent


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

    def save(self, state: RiskBookState, events: Sequence[RiskEvent] = ()) -> None:
        """Store the state and append its events to the audit trail, durably, atomically."""
        ...

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The last `limit` audit entries, oldest first."""
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
