"""Discord webhook messages: embeds coloured by priority, inside every Discord limit, and its replies.

Limits (REFERENCE.md): content <= 2000, <= 10 embeds a message; embed title 256, description 4096,
footer 2048; all embeds of a message together <= 6000 characters. A long notification is split over
several embeds and, past 10 embeds or 6000 characters, over several messages: never a 400.
"""

from __future__ import annotations

from typing import Any

import msgspec

from alerting.replies import Reply, ReplyKind, generic, header, seconds
from alerting.text import footer, headline, held_back_text, line_text, split, truncate
from protocol.alerts import Notification

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FOOTER_MAX = 2048
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000
COLOURS = {"low": 0x95A5A6, "medium": 0x3498DB, "high": 0xE67E22, "critical": 0xE74C3C}
RESOLVED_COLOUR = 0x2ECC71


def _embed_size(embed: dict[str, Any]) -> int:
    return len(embed.get("title", "")) + len(embed.get("description", "")) + len(embed["footer"]["text"])


def payloads(n: Notification) -> list[dict[str, Any]]:
    """The webhook bodies (JSON objects) that carry `n`, in order; each one within Discord's limits."""
    body = "\n".join([*(line_text(x) for x in n.lines), *([h] if (h := held_back_text(n)) else [])])
    resolved = bool(n.lines) and all(x.resolved for x in n.lines)
    colour = RESOLVED_COLOUR if resolved else COLOURS[n.priority.value]
    title = truncate(headline(n), TITLE_MAX)
    # leave room so title + description + footer of one embed never pass the 6000 total on their own
    chunk = min(DESCRIPTION_MAX, EMBED_TOTAL_MAX - TITLE_MAX - FOOTER_MAX)
    chunks = split(body, chunk) if body else [""]
    embeds = []
    for i, text in enumerate(chunks):
        part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        embed: dict[str, Any] = {
            "title": truncate(title + part, TITLE_MAX) if i == 0 or part else title,
            "color": colour,
            "footer": {"text": truncate(footer(n), FOOTER_MAX)},
        }
        if text:
            embed["description"] = text
        embeds.append(embed)
    messages: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for embed in embeds:
        if current and (len(current) == EMBEDS_MAX or size + _embed_size(embed) > EMBED_TOTAL_MAX):
            messages.append({"embeds": current})
            current, size = [], 0
        current.append(embed)
        size += _embed_size(embed)
    messages.append({"embeds": current})
    return messages


class _Error(msgspec.Struct):
    message: str = ""
    retry_after: float | None = None
    code: int = 0


def classify(status: int, headers: dict[str, str], body: bytes) -> Reply:
    """What Discord's answer to an execute-webhook (?wait=true) means."""
    try:
        err = msgspec.json.decode(body, type=_Error) if body else _Error()
    except (msgspec.DecodeError, msgspec.ValidationError):
        err = None
    if status == 429:
        wait = seconds(err.retry_after) if err is not None else None
        if wait is None:
            wait = seconds(header(headers, "Retry-After"))
        if wait is None:
            wait = seconds(header(headers, "X-RateLimit-Reset-After"))
        return Reply(ReplyKind.THROTTLED, "rate limited by Discord", retry_after_s=wait)
    if 200 <= status < 300:
        park = 0.0
        if header(headers, "X-RateLimit-Remaining") == "0":
            park = seconds(header(headers, "X-RateLimit-Reset-After")) or 0.0
        return Reply(ReplyKind.DELIVERED, park_s=park)
    detail = (err.message if err is not None else "") or "unreadable answer"
    if status in (401, 403, 404):
        return Reply(ReplyKind.GONE, f"webhook unusable (HTTP {status}: {detail}); the webhook was deleted or "
                     "its token is wrong")
    return generic(status, detail)
