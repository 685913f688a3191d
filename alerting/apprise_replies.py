"""Apprise (any other service by URL): the message it sends and what its result means.

Apprise answers each `notify` with an `AppriseResult` whose status is SUCCESS, FAILURE, TIMEOUT or
NOMATCH; what went wrong is only in its log lines ("Failed to send JSON POST notification: ...,
error=429."). The HTTP code is read from them where the plugin gives one, so a 429 throttles, a
5xx is retried and a 401/403/404/410 stops the channel, as for the services we speak to directly.

Apprise does not pass a Retry-After on: its plugins (custom_json.py among them) read the response's
status and drop its headers, and the AppriseResult carries only log lines. So a 429 through apprise
parks the channel for `park_after_429`: APPRISE_429_PARK_S, doubled for each further 429 in a row,
at most APPRISE_429_MAX_PARK_S, back to the start after a delivery. A service whose Retry-After is
longer than that park is asked again too early; its next 429 parks twice as long.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from alerting.replies import Reply, ReplyKind, generic
from alerting.text import headline, plain, truncate
from protocol.alerts import Notification
from protocol.secrets import redact

#: Apprise plugins have their own limits and split or truncate themselves; this keeps a body sane.
BODY_MAX = 4000
TITLE_MAX = 250
#: HTTP codes that mean the target itself is unusable (deleted hook, revoked or wrong token).
GONE_CODES = (401, 403, 404, 410)
_CODE = re.compile(r"error=(\d{3})\b")
#: The first park after a 429 apprise reported: the documented limits are about 1 msg/s (Slack, Telegram per
#: chat) and Discord's retry_after is seconds; 5 s covers them with room.
APPRISE_429_PARK_S = 5.0
#: A park never grows past a minute: Telegram's strictest documented budget (20 msg/min per group) refills in it.
APPRISE_429_MAX_PARK_S = 60.0


def message(n: Notification) -> tuple[str, str]:
    """(title, body) of one apprise notification."""
    return truncate(headline(n), TITLE_MAX), truncate(plain(n), BODY_MAX)


def notify_type(n: Notification) -> str:
    """Apprise's notify type, which colours the message on services that show one."""
    return {"low": "info", "medium": "info", "high": "warning", "critical": "failure"}[n.priority.value]


def classify(status: str, logs: Iterable[str]) -> Reply:
    """`status` is AppriseResultStatus's name; `logs` the result's log messages, oldest first."""
    lines = [redact(x) for x in logs]
    detail = truncate("; ".join(lines[-3:]), 300)
    match status:
        case "SUCCESS":
            return Reply(ReplyKind.DELIVERED)
        case "TIMEOUT":
            return Reply(ReplyKind.RETRY, f"apprise timed out: {detail}".rstrip(": "))
        case "NOMATCH":
            return Reply(ReplyKind.PERMANENT, "apprise has no service loaded for this URL")
    codes = [int(m.group(1)) for line in lines for m in [_CODE.search(line)] if m]
    if not codes:  # a connection error, a refused socket, a plugin's own complaint: transient
        return Reply(ReplyKind.RETRY, f"apprise: {detail or 'notification failed'}")
    code = codes[-1]
    if code in GONE_CODES:
        return Reply(ReplyKind.GONE, f"apprise target unusable (HTTP {code}): {detail}")
    if 200 <= code < 300:  # a plugin that logged a 2xx it did not like (an error in the body)
        return Reply(ReplyKind.RETRY, f"apprise: {detail}")
    return generic(code, detail)


def park_after_429(in_a_row: int) -> float:
    """Seconds to park after the `in_a_row`-th consecutive 429 apprise reported (1 for the first)."""
    return min(APPRISE_429_MAX_PARK_S, APPRISE_429_PARK_S * 2 ** max(0, min(in_a_row, 16) - 1))
