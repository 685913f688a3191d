"""Routing (which channels hear of an alert), escalation, and silences.

Every alert goes to the log channel. Each other configured channel has a lowest priority it hears
(and optionally a set of types). SMS hears only critical alerts. A critical alert that no human
channel (the log is not one) has delivered within `escalate_after_s` goes to the next channel of the
escalation chain that has not been tried yet.

The TOML config can replace a channel's default route with its own (a channel named in any
`[[alerts.routes]]` keeps only the routes given for it; the others keep their defaults):

    [[alerts.routes]]
    channel = "sms"
    min_priority = "high"           # low | medium | high | critical
    types = ["risk", "network"]     # optional; absent: every type
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from protocol.alerts import AlertType, ChannelKind, Priority, SendAlert, Silence

#: A critical alert undelivered this long on every human channel escalates to the next one.
DEFAULT_ESCALATE_AFTER_S = 60.0
DEFAULT_ESCALATION_CHAIN = (ChannelKind.TELEGRAM, ChannelKind.DISCORD, ChannelKind.SLACK, ChannelKind.EMAIL,
                            ChannelKind.APPRISE, ChannelKind.SMS)
#: The lowest priority each channel hears by default.
DEFAULT_MIN_PRIORITY = {
    ChannelKind.LOG: Priority.LOW, ChannelKind.DISCORD: Priority.LOW, ChannelKind.TELEGRAM: Priority.MEDIUM,
    ChannelKind.SLACK: Priority.LOW, ChannelKind.EMAIL: Priority.HIGH, ChannelKind.SMS: Priority.CRITICAL,
    ChannelKind.APPRISE: Priority.MEDIUM,
}


class Route(msgspec.Struct, frozen=True):
    channel: ChannelKind
    min_priority: Priority
    types: frozenset[AlertType] | None = None  # None: every type


def default_routes(channels: Iterable[ChannelKind]) -> tuple[Route, ...]:
    return tuple(Route(c, DEFAULT_MIN_PRIORITY[c]) for c in channels)


def route(routes: tuple[Route, ...], kind: AlertType, priority: Priority) -> tuple[ChannelKind, ...]:
    """The channels that hear an alert of this type and priority, each once, in route order."""
    return tuple(dict.fromkeys(r.channel for r in routes
                               if priority.rank >= r.min_priority.rank and (r.types is None or kind in r.types)))


_ROUTE_KEYS = ("channel", "min_priority", "types")


def _enum(cls: type[Any], raw: object, where: str, what: str) -> Any:
    try:
        return cls(raw)
    except ValueError:
        raise ValueError(f"{where} {what} {raw!r} is not one of {', '.join(m.value for m in cls)}") from None


def parse_routes(raw: Iterable[Mapping[str, Any]], configured: Iterable[ChannelKind]) -> tuple[Route, ...]:
    """The routes of `[[alerts.routes]]` over the defaults of the configured channels.

    ValueError with one line naming the route (alerts.routes[i]) and what is wrong with it.
    """
    channels = tuple(configured)
    given: list[Route] = []
    for i, item in enumerate(raw):
        where = f"alerts.routes[{i}]"
        unknown = [k for k in item if k not in _ROUTE_KEYS]
        if unknown:
            raise ValueError(f"{where} unknown key {unknown[0]!r}; expected {', '.join(_ROUTE_KEYS)}")
        if "channel" not in item or "min_priority" not in item:
            raise ValueError(f"{where} needs channel and min_priority (e.g. channel = \"sms\", "
                             f"min_priority = \"critical\")")
        channel = _enum(ChannelKind, item["channel"], where, "channel")
        if channel not in channels:
            raise ValueError(f"{where} routes to {channel.value}, which is not configured; configured: "
                             f"{', '.join(c.value for c in channels)}")
        priority = _enum(Priority, item["min_priority"], where, "min_priority")
        types = item.get("types")
        if types is not None:
            if not isinstance(types, list) or not types:
                raise ValueError(f"{where} types must be a non-empty list such as [\"risk\", \"network\"]")
            types = frozenset(_enum(AlertType, t, where, "type") for t in types)
        given.append(Route(channel, priority, types))
    named = {r.channel for r in given}
    return (*(r for r in default_routes(channels) if r.channel not in named), *given)


def escalation_next(chain: tuple[ChannelKind, ...], available: Iterable[ChannelKind],
                    tried: Iterable[ChannelKind]) -> ChannelKind | None:
    """The first channel of the chain that is configured, usable and not tried yet."""
    usable, done = set(available), set(tried)
    return next((c for c in chain if c in usable and c not in done), None)


def human(channel: ChannelKind) -> bool:
    return channel is not ChannelKind.LOG


# --- silences ---------------------------------------------------------------------------------

_FIELDS = ("type", "priority", "key", "source", "title")


def check_matcher(matcher: str) -> str:
    """The matcher, stripped; ValueError naming the problem."""
    text = matcher.strip()
    if not text:
        raise ValueError("a silence needs a matcher such as type=network, key=endpoint-*, or a title word")
    field, eq, value = text.partition("=")
    if eq and field.strip() not in _FIELDS:
        raise ValueError(f"unknown field {field.strip()!r}; expected one of {', '.join(_FIELDS)}")
    if eq and not value.strip():
        raise ValueError(f"{field.strip()}= needs a value")
    return text


def matches(matcher: str, alert: SendAlert) -> bool:
    field, eq, value = matcher.partition("=")
    if not eq:
        return matcher.lower() in alert.title.lower()
    got = {"type": alert.type.value, "priority": alert.priority.value, "key": alert.key,
           "source": alert.source, "title": alert.title}[field.strip()]
    return fnmatch.fnmatchcase(got.lower(), value.strip().lower())


def silenced_by(silences: Iterable[Silence], alert: SendAlert, now: float) -> Silence | None:
    return next((s for s in silences if s.until > now and matches(s.matcher, alert)), None)
