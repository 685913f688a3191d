"""Secrets that cannot leak by accident, and a redactor for any text that might carry one.

A `Secret` wraps a private key, a bot token, a webhook URL, a password or a URL with
credentials. Its str, repr and format all print `***`; encoding it with msgspec raises unless
the caller passes `secret_enc_hook`, which also writes `***`. The value comes out only through
an explicit `.reveal()`, so a grep for `reveal(` finds every place a secret is used.

`redact(text)` masks every secret value created in this process (they register themselves)
plus URL credentials (userinfo, token-like query parameters, Telegram bot tokens and Discord
webhook tokens in paths). Log sinks and alert formatters run every line through it.
"""

from __future__ import annotations

import hmac
import re
import threading
from typing import Any

MASK = "***"

# Values shorter than this are not registered for redaction: masking "1" or "ab" everywhere
# would shred ordinary text, and such values are not credentials anyway.
MIN_REDACTED_LENGTH = 6

_known_values: set[str] = set()
_known_lock = threading.Lock()
_known_pattern: re.Pattern[str] | None = None


def _register(value: str) -> None:
    global _known_pattern
    if len(value) < MIN_REDACTED_LENGTH:
        return
    with _known_lock:
        if value in _known_values:
            return
        _known_values.add(value)
        # Longest first so a value that contains another is masked whole.
        ordered = sorted(_known_values, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


class Secret:
    """A value that never shows itself: str, repr, format and msgspec encoding all give `***`."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)
        _register(value)
        # A URL's credentials are secrets on their own too (they may appear without the URL).
        for part in _url_credentials(value):
            _register(part)

    def reveal(self) -> str:
        """The wrapped value. Call it only where the value goes to its destination."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the value out; secrets stay in the process that loaded them.
        raise TypeError("Secret cannot be pickled")


def secret_enc_hook(obj: Any) -> Any:
    """msgspec `enc_hook` that encodes a Secret as `***` (without a hook msgspec refuses it)."""
    if isinstance(obj, Secret):
        return MASK
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


# scheme://user:pass@host -> scheme://***@host
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# ?token=abc&x=1 -> ?token=***&x=1, for parameter names that usually carry credentials.
_TOKEN_QUERY = re.compile(
    r"(?P<key>[?&;](?:[a-z0-9_\-]*(?:key|token|secret|password|passwd|pwd|auth|sig|signature|credential)"
    r"[a-z0-9_\-]*))=(?P<value>[^&#\s\"']+)",
    re.IGNORECASE,
)
# Telegram: /bot123456:ABC-DEF.../sendMessage
_TELEGRAM_PATH = re.compile(r"/bot(?P<token>\d+:[A-Za-z0-9_-]+)")
# Discord: /api/webhooks/<id>/<token>
_DISCORD_PATH = re.compile(r"/api/webhooks/(?P<id>\d+)/(?P<token>[A-Za-z0-9_.-]+)")
# Provider keys as a path segment (Infura /v3/<key>, Alchemy /v2/<key>, ...).
_PATH_KEY = re.compile(r"(?P<prefix>://[^/\s]+(?:/[^/\s?#]*)*?/v\d+/)(?P<key>[A-Za-z0-9_-]{16,})")


def _url_credentials(text: str) -> list[str]:
    found: list[str] = []
    for m in _USERINFO.finditer(text):
        userinfo = m.group("userinfo")
        found.append(userinfo)
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    found.extend(m.group("value") for m in _TOKEN_QUERY.finditer(text))
    found.extend(m.group("token") for m in _TELEGRAM_PATH.finditer(text))
    found.extend(m.group("token") for m in _DISCORD_PATH.finditer(text))
    found.extend(m.group("key") for m in _PATH_KEY.finditer(text))
    return found


def redact_url(url: str) -> str:
    """The URL with its credentials masked, for display (`https://***@host/v3/***?key=***`)."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)
    text = _TOKEN_QUERY.sub(lambda m: f"{m.group('key')}={MASK}", text)
    text = _TELEGRAM_PATH.sub(f"/bot{MASK}", text)
    text = _DISCORD_PATH.sub(lambda m: f"/api/webhooks/{m.group('id')}/{MASK}", text)
    text = _PATH_KEY.sub(lambda m: f"{m.group('prefix')}{MASK}", text)
    return text


def redact(text: str) -> str:
    """Mask every known secret value and every URL credential found in `text`.

    Known values are those wrapped in a `Secret` anywhere in this process, so a secret that
    reaches a log line through some unexpected path (an exception message quoting a URL, a
    library's debug output) is still masked.
    """
    text = redact_url(text)  # first, so a secret URL keeps its host and shows where it points
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return text


# A path segment or query value that looks like an API key: long, and mixing letters and digits.
_KEY_LIKE = re.compile(r"(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_SECRET_QUERY_KEY = re.compile(r"key|token|secret|password|passwd|pwd|auth|sig|signature|credential",
                               re.IGNORECASE)


def _mask_key_like(text: str) -> str:
    return _KEY_LIKE.sub(MASK, text)


def mask_url(raw: str) -> str:
    """`raw` with only its credentials masked, so an operator sees where a URL points (and its typos).

    Shown: scheme, host, port and the path. Masked: the userinfo (everything before the last `@`
    of the authority), path segments that look like API keys (16+ characters mixing letters and
    digits, as QuickNode's /<token>/) and any segment after /v<N>/ (Infura's /v3/<key>, Alchemy's
    /v2/<key>), query values whose name says secret (key, token, auth, ...) or that look like keys,
    and any fragment. A value that is not a URL at all gets the same treatment, so a pasted key
    does not show either. Unlike `redact`, values registered by `Secret`s are not masked whole:
    that would hide the very URL (and its typo) this is meant to show.
    """
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "", raw
    # The authority ends at the first / ? or #; but a userinfo may hold a '/', so the last '@' before
    # any query or fragment starts the host (safety first: a stray '@' masks more, never less).
    head_end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, head_end)
    userinfo = MASK + "@" if at >= 0 else ""
    rest = rest[at + 1:] if at >= 0 else rest
    rest, hash_sep, fragment = rest.partition("#")
    rest, query_sep, query = rest.partition("?")
    slash = rest.find("/")
    host, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if not sep:  # no scheme: nothing is known to be a host, so key-like text is masked everywhere
        host = _mask_key_like(host)
    segments = path.split("/")
    path = "/".join(
        MASK if i > 0 and segment and re.fullmatch(r"v\d+", segments[i - 1]) else _mask_key_like(segment)
        for i, segment in enumerate(segments)
    )
    pairs = []
    for item in query.split("&") if query else []:
        name, eq, value = item.partition("=")
        if eq and (_SECRET_QUERY_KEY.search(name) or _KEY_LIKE.search(value)):
            value = MASK
        pairs.append(f"{_mask_key_like(name)}{eq}{value}")
    shown = f"{scheme}{sep}{userinfo}{host}{path}"
    if query_sep:
        shown += "?" + "&".join(pairs)
    if hash_sep:
        shown += "#" + (MASK if fragment else "")
    return shown
