"""Telegram Bot API sendMessage: HTML parse mode with correct escaping, 4096-character split, replies.

Only &, < and > need escaping in Telegram's HTML mode. The text is split before it is escaped and
each part re-split until its escaped form fits, so an entity (&amp;) is never cut in half.
"""

from __future__ import annotations

import html
from typing import Any

import msgspec

from alerting.replies import Reply, ReplyKind, generic
from alerting.text import headline, plain, split
from protocol.alerts import Notification

TEXT_MAX = 4096
PARSE_MODE = "HTML"


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def _fit(text: str, limit: int) -> list[str]:
    parts = []
    for chunk in split(text, limit):
        if len(escape(chunk)) <= limit:
            parts.append(chunk)
        else:
            parts.extend(_fit(chunk, max(1, len(chunk) // 2)) if len(chunk) > 1 else [chunk])
    return parts


def texts(n: Notification) -> list[str]:
    """The sendMessage texts (already escaped for parse_mode HTML), each 1..4096 characters."""
    raw = plain(n)
    head = headline(n)
    out = [escape(p) for p in _fit(raw, TEXT_MAX)]
    bold = f"<b>{escape(head)}</b>"
    first = out[0]
    if first.startswith(escape(head)) and len(first) - len(escape(head)) + len(bold) <= TEXT_MAX:
        out[0] = bold + first[len(escape(head)):]
    return [t for t in out if t] or [escape("(empty alert)")]


def payloads(n: Notification, chat_id: str) -> list[dict[str, Any]]:
    return [{"chat_id": chat_id, "text": t, "parse_mode": PARSE_MODE, "disable_web_page_preview": True}
            for t in texts(n)]


class _Parameters(msgspec.Struct):
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None


class _Answer(msgspec.Struct):
    ok: bool = False
    error_code: int = 0
    description: str = ""
    parameters: _Parameters = msgspec.field(default_factory=_Parameters)


def classify(status: int, body: bytes) -> Reply:
    try:
        answer: _Answer | None = msgspec.json.decode(body, type=_Answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        answer = None
    if answer is None:
        if 200 <= status < 300:
            return Reply(ReplyKind.DELIVERED, "HTTP 200 with an unreadable body")
        return generic(status, "unreadable answer")
    if answer.ok and 200 <= status < 300:
        return Reply(ReplyKind.DELIVERED)
    params = answer.parameters
    code = answer.error_code or status
    if code == 429:
        return Reply(ReplyKind.THROTTLED, "rate limited by Telegram", retry_after_s=params.retry_after)
    if params.migrate_to_chat_id is not None:
        return Reply(ReplyKind.MIGRATE, "the group became a supergroup", new_chat_id=str(params.migrate_to_chat_id))
    if code in (401, 403, 404):
        return Reply(ReplyKind.GONE, f"Telegram refuses the bot ({code}: {answer.description}): blocked, kicked, "
                     "or a wrong token")
    return generic(code, answer.description or "error")
