"""The alerting vocabulary: what any actor tells /alerts/router, and what the router and channels exchange.

An alert is raised with `SendAlert` (a tell, never an ask: the sender is never blocked). The router
accepts it into its durable outbox, groups it, routes it and hands `Notification`s to the channel
actors (`/alerts/channel:<kind>`), which answer with a `DeliveryOutcome`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class AlertType(StrEnum):
    TRADE = "trade"
    SYSTEM = "system"
    RISK = "risk"
    PERFORMANCE = "performance"
    NETWORK = "network"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


class ChannelKind(StrEnum):
    LOG = "log"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    SLACK = "slack"
    EMAIL = "email"
    SMS = "sms"
    APPRISE = "apprise"  # any other service, through apprise URLs (APPRISE_URLS)


# --- raising alerts ----------------------------------------------------------------------------


class SendAlert(msgspec.Struct, frozen=True, tag=True, tag_field="message"):
    """Raise (or, with `resolved=True`, clear) an alert. `key` names the condition (e.g.
    "endpoint-quarantined:secondary"): alerts with the same type and key are one condition for dedup,
    grouping and resolution; when empty, the title stands for it."""

    type: AlertType
    title: str
    data: dict[str, Any] = {}
    priority: Priority = Priority.MEDIUM
    source: str = ""
    key: str = ""
    resolved: bool = False
    raised_at: float = 0.0  # wall clock at the source; 0: when the router accepts it


class Alert(msgspec.Struct, frozen=True):
    """An accepted alert, as the outbox stores it."""

    id: int
    fingerprint: str
    group: str
    type: AlertType
    priority: Priority
    title: str
    data: dict[str, Any]
    source: str
    resolved: bool
    accepted_at: float


# --- router <-> channels -----------------------------------------------------------------------


class NotificationLine(msgspec.Struct, frozen=True):
    alert_id: int
    priority: Priority
    title: str
    details: tuple[tuple[str, str], ...] = ()
    resolved: bool = False


class Notification(msgspec.Struct, frozen=True):
    """One message to one channel: a group's firing and resolved alerts, and a summary of what the rate
    limits held back. `ref` is the delivery's id, printed in the message so an operator (and the tests)
    can tell one delivery from another."""

    ref: str
    channel: ChannelKind
    type: AlertType
    priority: Priority
    title: str
    lines: tuple[NotificationLine, ...]
    held_back: tuple[str, ...] = ()  # titles of notifications merged in because a rate limit held them
    held_back_count: int = 0


class Deliver(msgspec.Struct, frozen=True, tag=True):
    attempt: int  # the router's attempt id, echoed in the outcome
    notification: Notification
    expires_in_s: float | None = None  # left of its delivery deadline when handed over; past it, never sent


class DeliveryOutcome(msgspec.Struct, frozen=True, tag=True):
    attempt: int
    channel: ChannelKind
    delivered: bool
    detail: str = ""  # redacted
    permanent: bool = False  # the channel will not deliver this one (or any: see ChannelSnapshot.disabled)
    requeue: bool = False  # not tried (breaker open): the router keeps it queued for later
    latency_s: float = 0.0
    expired: bool = False  # its delivery deadline passed before the service took it: not sent late


class ChannelStarted(msgspec.Struct, frozen=True, tag=True):
    """A channel incarnation started: anything the router had handed to an earlier one has an unknown fate."""

    channel: ChannelKind
    incarnation: int


class ChannelWake(msgspec.Struct, frozen=True, tag=True):
    """A breaker deadline or a retry is due."""


class ChannelSnapshot(msgspec.Struct, frozen=True):
    channel: ChannelKind
    breaker: str
    reason: str
    parked_for_s: float
    busy: bool
    sent: int
    failed: int
    incarnation: int = 1
    disabled: str = ""  # why the channel stopped for good (webhook deleted, bot blocked); empty when usable


# --- operator surface ------------------------------------------------------------------------


class Silence(msgspec.Struct, frozen=True):
    """Alerts whose type, key, source or title match `matcher` are accepted but not notified until `until`.

    `matcher` is `field=value` (field one of type, priority, key, source, title; value may end in *) or a
    bare word matched against the title."""

    id: int
    matcher: str
    until: float
    reason: str
    created_at: float
    by: str = "console"


class AddSilence(msgspec.Struct, frozen=True, tag=True):
    matcher: str
    duration_s: float
    reason: str
    by: str = "console"


class ListSilences(msgspec.Struct, frozen=True, tag=True):
    pass


class RemoveSilence(msgspec.Struct, frozen=True, tag=True):
    id: int


class GetAlerts(msgspec.Struct, frozen=True, tag=True):
    limit: int = 20


class SendTestAlert(msgspec.Struct, frozen=True, tag=True):
    channel: ChannelKind


class AlertDelivery(msgspec.Struct, frozen=True):
    channel: str
    status: str  # queued | sending | delivered | failed | unknown
    attempts: int
    detail: str


class AlertView(msgspec.Struct, frozen=True):
    id: int
    type: str
    priority: str
    title: str
    status: str  # pending (grouping) | notified | silenced
    accepted_at: float
    deliveries: tuple[AlertDelivery, ...]


class AlertsReport(msgspec.Struct, frozen=True):
    recent: tuple[AlertView, ...]
    channels: tuple[ChannelSnapshot, ...]
    queued: dict[str, int]
    accepted: int
    deduplicated: int
    silences: int


class RouterRefused(msgspec.Struct, frozen=True):
    request: str
    reason: str
