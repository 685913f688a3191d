"""Slack incoming webhooks: Block Kit messages (header, sections, context) and their plain replies.

Limits: a header's text 150 characters, a section's 3000, at most 50 blocks; the `text` fallback
shows in notifications. Success is a 200 with the plain body `ok`.
"""

from __future__ import annotations

from typing import Any

from alerting.replies import Reply, ReplyKind, generic, header, seconds
from alerting.text import footer, headline, held_back_text, line_text, split, truncate
from protocol.alerts import Notification

HEADER_MAX = 150
SECTION_MAX = 3000
BLOCKS_MAX = 50
FALLBACK_MAX = 3000


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payloads(n: Notification) -> list[dict[str, Any]]:
    head = headline(n)
    sections = []
    for text in [*(line_text(x) for x in n.lines), *([h] if (h := held_back_text(n)) else [])]:
        for chunk in split(escape(text), SECTION_MAX):
            sections.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    per_message = BLOCKS_MAX - 2  # header and context in each
    groups = [sections[i:i + per_message] for i in range(0, len(sections), per_message)] or [[]]
    out = []
    for i, group in enumerate(groups):
        part = f" ({i + 1}/{len(groups)})" if len(groups) > 1 else ""
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(head + part, HEADER_MAX)}},
            *group,
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer(n)}]},
        ]
        out.append({"text": truncate(escape(head + part), FALLBACK_MAX), "blocks": blocks})
    return out


def classify(status: int, headers: dict[str, str], body: bytes) -> Reply:
    text = body.decode("utf-8", "replace").strip()
    if status == 429:
        wait = seconds(header(headers, "Retry-After"))
        return Reply(ReplyKind.THROTTLED, "rate limited by Slack", retry_after_s=wait)
    if status == 200:
        if text == "ok":
            return Reply(ReplyKind.DELIVERED)
        return Reply(ReplyKind.RETRY, f"HTTP 200 without `ok`: {text[:80]!r}")
    if status in (403, 404, 410):
        return Reply(ReplyKind.GONE, f"webhook unusable (HTTP {status}: {text[:80]}): removed, archived or revoked")
    return generic(status, text[:80])
