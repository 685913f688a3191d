"""From a group's flush to the Notification a channel sends, and merging what a rate limit held back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from alerting.grouping import Flush
from protocol.alerts import Alert, ChannelKind, Notification, NotificationLine

#: Detail fields shown per alert (the rest are in the outbox), and the width of each value.
MAX_DETAILS = 10
DETAIL_WIDTH = 300
#: Titles of held-back notifications named in the message that carries them (the count covers all).
MAX_HELD_BACK_TITLES = 10
#: At most this many queued notifications ride along in one message.
MAX_MERGED = 200


def line(alert: Alert) -> NotificationLine:
    details = tuple((str(k), str(v)[:DETAIL_WIDTH]) for k, v in sorted(alert.data.items())[:MAX_DETAILS])
    return NotificationLine(alert_id=alert.id, priority=alert.priority, title=alert.title, details=details,
                            resolved=alert.resolved)


def compose(flush: Flush, alerts: Mapping[int, Alert], channel: ChannelKind) -> Notification | None:
    """The notification of one group flush (None when none of its alerts is known any more)."""
    ids = (*flush.new, *flush.resolved, *(flush.still_firing if flush.repeat else ()))
    known = [alerts[i] for i in ids if i in alerts]
    if not known:
        return None
    lines = tuple(line(a) for a in known)
    first = known[0]
    if len(known) == 1:
        title = ("resolved: " if first.resolved else "") + first.title
    else:
        resolved = sum(a.resolved for a in known)
        firing = len(known) - resolved
        parts = [f"{firing} firing"] if firing else []
        parts += [f"{resolved} resolved"] if resolved else []
        title = f"{', '.join(parts)}: {first.title}"
    if flush.repeat:
        title = f"still firing: {title}"
    return Notification(ref="", channel=channel, type=first.type, priority=flush.priority, title=title, lines=lines)


def merge(lead: Notification, others: Sequence[Notification], ref: str) -> Notification:
    """`lead` in full, with the notifications held back behind it summarised (titles and a count)."""
    count = lead.held_back_count + sum(1 + o.held_back_count for o in others)
    titles = (*lead.held_back, *(o.title for o in others))[:MAX_HELD_BACK_TITLES]
    return msgspec.structs.replace(lead, ref=ref, held_back=titles, held_back_count=count)
