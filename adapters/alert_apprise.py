"""The apprise channel's I/O: one `async_notify` per configured URL, its result classified.

`APPRISE_URLS` holds one or more apprise URLs (`json://host/path`, `ntfys://topic`, `mailto://...`),
separated by commas, spaces or newlines. Each URL is its own apprise instance and its own request,
so a target that fails is retried alone and the ones that took the message never see it twice.
Apprise's own retries are left off (its default): the channel actor retries, with the breaker.
Each URL is wrapped in a `Secret`, so its tokens are masked in every log line (redact) too.
"""

from __future__ import annotations

import re
from typing import Any

import apprise
import msgspec

from alerting.apprise_replies import classify, message, notify_type, park_after_429
from alerting.replies import Reply, ReplyKind
from protocol.alerts import ChannelKind, Notification
from protocol.secrets import Secret, redact

#: A target that has not answered in this long is a transient failure (apprise's call deadline).
DEFAULT_APPRISE_TIMEOUT_S = 10.0
_SEPARATORS = re.compile(r"[\s,]+")


def split_urls(raw: str) -> list[str]:
    return [u for u in _SEPARATORS.split(raw.strip()) if u]


def apprise_problem(urls: Secret) -> str | None:
    """Why APPRISE_URLS cannot be used (naming the entry by position, never its text), or None."""
    entries = split_urls(urls.reveal())
    if not entries:
        return "APPRISE_URLS=*** has no URL; expected one or more apprise URLs (e.g. json://host/path)"
    for i, url in enumerate(entries, 1):
        if not apprise.Apprise().add(url):
            return (f"APPRISE_URLS=*** entry {i} of {len(entries)} is not a URL apprise can send to; expected "
                    "a supported scheme such as json://, form://, ntfy://, mailto:// (see apprise's wiki)")
    return None


class AppriseService:
    """One request per URL; the request is (target index, title, body, notify type)."""

    kind = ChannelKind.APPRISE

    def __init__(self, urls: Secret, timeout_s: float = DEFAULT_APPRISE_TIMEOUT_S) -> None:
        problem = apprise_problem(urls)
        if problem is not None:
            raise ValueError(problem)
        self._targets: list[apprise.Apprise] = []
        self._urls = [Secret(u) for u in split_urls(urls.reveal())]  # registered: redact masks each one
        for url in self._urls:
            target = apprise.Apprise()
            target.add(url.reveal())
            self._targets.append(target)
        self._timeout_s = timeout_s
        self._throttled = [0] * len(self._targets)  # per URL: 429s in a row (apprise gives no Retry-After)

    def build(self, n: Notification) -> list[Any]:
        title, body = message(n)
        return [(i, title, body, notify_type(n)) for i in range(len(self._targets))]

    async def send(self, request: Any) -> Reply:
        index, title, body, kind = request
        try:
            result = await self._targets[index].async_notify(body=body, title=title, notify_type=kind,
                                                             timeout=self._timeout_s)
        except Exception as exc:  # a plugin bug must read as a failed send, not kill the io loop's task
            return Reply(ReplyKind.RETRY, redact(f"apprise raised {type(exc).__name__}: {exc}"))
        with result:
            reply = classify(result.status.name, [entry.message for entry in result.logs()])
        if reply.kind is ReplyKind.THROTTLED:
            self._throttled[index] += 1
            return msgspec.structs.replace(reply, retry_after_s=park_after_429(self._throttled[index]))
        if reply.kind is ReplyKind.DELIVERED:
            self._throttled[index] = 0
        return reply

    def migrate(self, request: Any, new_chat_id: str) -> Any:
        return request

    async def close(self) -> None:
        return None
