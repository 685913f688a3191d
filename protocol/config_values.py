"""Parsers for single configuration values, each naming what it expects.

A parser takes the raw value (a string from the environment, or whatever TOML produced) and
returns the typed value or raises `BadValue(problem)`. The loader turns that into one line:
`config error: MAX_DRAWDOWN='abc' is not a number; expected a fraction between 0 and 1`.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from eth_utils import to_checksum_address

from protocol.secrets import Secret


class BadValue(Exception):
    """A value's problem, phrased to follow `NAME='value' ` (e.g. "is not a number")."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


Parser = Callable[[Any], Any]

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def _as_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise BadValue("is not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise BadValue("is not a number") from None
    else:
        raise BadValue("is not a number")
    if not math.isfinite(value):
        raise BadValue("is not a finite number")
    return value


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False) -> Parser:
    """A float within [low, high] (or (low, high] when low_open)."""

    def parse(raw: Any) -> float:
        value = _as_float(raw)
        if low is not None and (value < low or (low_open and value == low)):
            raise BadValue("is out of range")
        if high is not None and value > high:
            raise BadValue("is out of range")
        return value

    return parse


def whole(low: int | None = None, high: int | None = None) -> Parser:
    """An int within [low, high]; "1_000" and "1000" are both accepted, "1.5" is not."""

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise BadValue("is not a whole number")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str):
            try:
                value = int(raw.strip(), 10)
            except ValueError:
                raise BadValue("is not a whole number") from None
        else:
            raise BadValue("is not a whole number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise BadValue("is out of range")
        return value

    return parse


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadValue("is not a boolean")


def text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise BadValue("is empty" if isinstance(raw, str) else "is not a string")
    return raw.strip()


def name(raw: Any) -> str:
    value = text(raw).lower()
    if not _NAME.fullmatch(value):
        raise BadValue("is not a valid name")
    return value


def url(*schemes: str) -> Parser:
    """A URL with one of `schemes` and a host; kept as a Secret since it may embed an API key."""

    def parse(raw: Any) -> Secret:
        value = text(raw)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise BadValue("is not a valid URL") from None
        if parts.scheme.lower() not in schemes:
            raise BadValue("has the wrong scheme" if parts.scheme else "is not a URL")
        if not parts.hostname:
            raise BadValue("has no host")
        return Secret(value)

    return parse


def plain_url(*schemes: str) -> Parser:
    """Like `url` but for public addresses (API base URLs): kept as a plain str."""
    inner = url(*schemes)

    def parse(raw: Any) -> str:
        return inner(raw).reveal().rstrip("/")

    return parse


def secret(raw: Any) -> Secret:
    return Secret(text(raw))


def private_key(raw: Any) -> Secret:
    value = text(raw)
    if not _HEX_KEY.fullmatch(value):
        raise BadValue("is not a 32-byte hex key")
    return Secret(value if value.startswith("0x") else "0x" + value)


def address(raw: Any) -> str:
    """A 20-byte hex account or contract address (checksum not required)."""
    value = text(raw)
    if not _ADDRESS.fullmatch(value):
        raise BadValue("is not a 20-byte hex address")
    return to_checksum_address(value)  # the form the chain readers use, so look-ups match


def dex_factories(raw: Any) -> tuple[tuple[str, str], ...]:
    """`dex=0xFactory` items: which V2 factories to discover pools from, and what to call them."""
    pairs = []
    for item in string_list(raw):
        dex, sep, addr = item.partition("=")
        if not sep or not dex.strip() or not _ADDRESS.fullmatch(addr.strip()):
            raise BadValue(f"has {item!r}, which is not dex=0xFactoryAddress")
        pairs.append((dex.strip(), to_checksum_address(addr.strip())))
    return tuple(pairs)


def timezone(raw: Any) -> str:
    value = text(raw)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadValue("is not a known time zone") from None
    return value


def log_level(raw: Any) -> str:
    value = text(raw).upper()
    if value not in LOG_LEVELS:
        raise BadValue("is not a log level")
    return value


def string_list(raw: Any) -> tuple[str, ...]:
    """A comma-separated string (environment) or a list of strings (TOML)."""
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",")]
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        items = [item.strip() for item in raw]
    else:
        raise BadValue("is not a list of strings")
    items = [item for item in items if item]
    if not items:
        raise BadValue("is empty")
    return tuple(items)


def loopback_host(raw: Any) -> str:
    import ipaddress

    value = text(raw)
    if value == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(value).is_loopback:
            return value
    except ValueError:
        raise BadValue("is not an IP address") from None
    raise BadValue("is not a loopback address")


def one_of(*choices: str) -> Parser:
    """One of `choices`, case-insensitive, returned lower-case."""

    def parse(raw: Any) -> str:
        value = text(raw).lower()
        if value not in choices:
            raise BadValue(f"is not one of {', '.join(choices)}")
        return value

    return parse


def adapted(convert: Callable[[Any], Any]) -> Parser:
    """A parser from a converter that raises ValueError naming the problem (protocol.monitoring's)."""

    def parse(raw: Any) -> Any:
        try:
            return convert(raw)
        except ValueError as exc:
            raise BadValue(str(exc)) from None

    return parse
