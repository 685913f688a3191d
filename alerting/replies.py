"""What a service's answer means, in one vocabulary for every channel.

delivered   the service took the message
retry       transient (5xx, a timeout, a malformed answer): retry with backoff, counts for the breaker
throttled   429: wait `retry_after_s` before the next request; not a breaker failure (eRPC's rule)
permanent   this message will never be delivered as sent (a 400, an invalid recipient)
gone        the channel itself is dead (webhook deleted, bot blocked): stop using it, tell the others
migrate     Telegram moved the group to a supergroup: resend to `new_chat_id`
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class ReplyKind(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    THROTTLED = "throttled"
    PERMANENT = "permanent"
    GONE = "gone"
    MIGRATE = "migrate"


class Reply(msgspec.Struct, frozen=True):
    kind: ReplyKind
    detail: str = ""
    retry_after_s: float | None = None  # throttled: the service's own wait
    park_s: float = 0.0  # delivered, but the service's bucket is empty: wait this long before the next one
    new_chat_id: str = ""


def header(headers: dict[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over a plain dict."""
    low = name.lower()
    return next((v for k, v in headers.items() if k.lower() == low), None)


def seconds(raw: object) -> float | None:
    """A non-negative number of seconds from a header or JSON value, or None when absent or unreadable."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


def generic(status: int, detail: str) -> Reply:
    """The HTTP status classes every service shares: 429 a throttle, 5xx and 408 transient, other 4xx permanent."""
    if 200 <= status < 300:
        return Reply(ReplyKind.DELIVERED, detail)
    if status == 429:  # whatever the body says (or fails to), a 429 is a throttle, never a refusal
        return Reply(ReplyKind.THROTTLED, f"HTTP 429: {detail}")
    if status >= 500 or status == 408:
        return Reply(ReplyKind.RETRY, f"HTTP {status}: {detail}")
    return Reply(ReplyKind.PERMANENT, f"HTTP {status}: {detail}")
