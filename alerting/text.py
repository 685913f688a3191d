"""A Notification as plain text lines, shared by the channels that send text (Telegram, email, SMS, log)."""

from __future__ import annotations

from protocol.alerts import Notification, NotificationLine
from protocol.secrets import redact

PRIORITY_MARK = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "CRITICAL"}


def headline(n: Notification) -> str:
    return redact(f"[{PRIORITY_MARK[n.priority.value]}] {n.type.value}: {n.title}")


def line_text(line: NotificationLine) -> str:
    state = "RESOLVED" if line.resolved else line.priority.value
    details = "".join(f"\n  {k}: {v}" for k, v in line.details)
    return redact(f"#{line.alert_id} ({state}) {line.title}{details}")


def held_back_text(n: Notification) -> str:
    if not n.held_back_count:
        return ""
    shown = "; ".join(n.held_back)
    more = n.held_back_count - len(n.held_back)
    return redact(f"queued behind this message (rate limits, a busy channel), now included: "
                  f"{n.held_back_count} ({shown}{f'; and {more} more' if more > 0 else ''})")


def footer(n: Notification) -> str:
    return f"ref {n.ref}"


def plain(n: Notification) -> str:
    parts = [headline(n), *(line_text(x) for x in n.lines)]
    held = held_back_text(n)
    if held:
        parts.append(held)
    parts.append(footer(n))
    return "\n".join(parts)


def log_lines(n: Notification) -> list[str]:
    """The notification as log lines: the headline, then one line per alert (details inline), then what
    rode along; each carries the ref, so one grep finds a whole group and its delivery row."""
    ref = f"[ref {n.ref}]"
    out = [f"{ref} {headline(n)}" + (f" ({len(n.lines)} alerts)" if len(n.lines) > 1 else "")]
    for x in n.lines:
        state = "RESOLVED" if x.resolved else x.priority.value
        details = ", ".join(f"{k}={v}" for k, v in x.details)
        out.append(redact(f"{ref}   #{x.alert_id} ({state}) {x.title}" + (f" [{details}]" if details else "")))
    held = held_back_text(n)
    if held:
        out.append(f"{ref}   {held}")
    return out


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker


def split(text: str, limit: int) -> list[str]:
    """`text` in chunks of at most `limit` characters, cut at line ends where possible."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n") if text[cut:cut + 1] == "\n" else text[cut:]
    if text or not chunks:
        chunks.append(text)
    return chunks
