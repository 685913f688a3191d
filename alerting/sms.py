"""SMS through Twilio's Messages API: a body within 1,600 characters, and Twilio's answer classes.

An SMS is charged per segment and a pager needs the headline, not the details: the text is the
headline, the first lines and the ref, truncated (not split) to 1,600 characters.
"""

from __future__ import annotations

import msgspec

from alerting.replies import Reply, ReplyKind, generic, header, seconds
from alerting.text import footer, headline, line_text, truncate
from protocol.alerts import Notification

BODY_MAX = 1600
#: 21610 the recipient opted out (STOP), 21211 an invalid number, 21608 an unverified number on a trial account.
PERMANENT_CODES = frozenset({21610, 21211, 21608})
RETRYABLE_CODES = frozenset({20429})


def body(n: Notification) -> str:
    ref = footer(n)
    text = "\n".join([headline(n), *(line_text(x).split("\n")[0] for x in n.lines)])
    if n.held_back_count:
        text += f"\n+{n.held_back_count} held back"
    return truncate(text, BODY_MAX - len(ref) - 1) + "\n" + ref


class _Answer(msgspec.Struct):
    status: str | int | None = None
    code: int | None = None
    message: str = ""


def classify(status: int, headers: dict[str, str], raw: bytes) -> Reply:
    try:
        answer: _Answer | None = msgspec.json.decode(raw, type=_Answer) if raw else _Answer()
    except (msgspec.DecodeError, msgspec.ValidationError):
        answer = None
    code = answer.code if answer is not None else None
    if status == 429 or code in RETRYABLE_CODES:
        wait = seconds(header(headers, "Retry-After"))
        return Reply(ReplyKind.THROTTLED, "rate limited by Twilio", retry_after_s=wait)
    if status in (200, 201):
        return Reply(ReplyKind.DELIVERED, f"status {answer.status}" if answer is not None else "")
    message = (answer.message if answer is not None else "") or "unreadable answer"
    if code in PERMANENT_CODES:
        return Reply(ReplyKind.PERMANENT, f"Twilio {code}: {message}")
    if status in (401, 403):
        return Reply(ReplyKind.GONE, f"Twilio refuses the credentials (HTTP {status}, code {code})")
    return generic(status, f"code {code}: {message}" if code else message)
