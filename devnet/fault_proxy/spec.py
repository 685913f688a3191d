"""The fault language: `FaultSpec`, an immutable value, parsed from and described as text.

The grammar is in the package docstring (devnet.fault_proxy). Pure: no I/O.
"""

from __future__ import annotations

import math
import random
import re

import msgspec

# ---- the fault language ---------------------------------------------------------------------

#: Heavy-tailed samples are capped so one unlucky draw cannot hang a test run.
MAX_DELAY_S = 30.0
DEFAULT_PARETO_ALPHA = 1.5
DEFAULT_LOGNORMAL_SIGMA = 1.0
DEFAULT_RPC_ERROR_CODE = -32603
#: Bigger than any sane client cap (ours is 32 MiB): a streamed oversize body is this long by default.
DEFAULT_OVERSIZE_BYTES = 64 * 1024 * 1024
#: A declared oversize body claims this Content-Length by default.
DEFAULT_DECLARED_BYTES = 1024 * 1024 * 1024


class FaultSpecError(ValueError):
    """A fault token that does not parse; names the token and why."""

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(f"bad fault {token!r}: {reason}")
        self.token = token
        self.reason = reason


class Delay(msgspec.Struct, frozen=True):
    """A delay distribution applied with probability `p`: fixed, pareto (scale, alpha) or lognormal."""

    kind: str
    seconds: float
    shape: float = 0.0
    p: float = 1.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "pareto":
            return min(MAX_DELAY_S, self.seconds * rng.paretovariate(self.shape))
        if self.kind == "lognormal":
            return min(MAX_DELAY_S, self.seconds * math.exp(rng.gauss(0.0, self.shape)))
        return self.seconds

    def text(self) -> str:
        base = f"{self.seconds * 1000:g}ms"
        if self.kind != "fixed":
            base = f"{self.kind}:{base}:{self.shape:g}"
        return base + _pct(self.p)


class Oversize(msgspec.Struct, frozen=True):
    """An answer too big to accept, with probability `p`.

    Streamed: a valid JSON-RPC answer of `size` bytes sent chunked, without a Content-Length, so
    only a reader that counts bytes as they come stops it. Declared: a `Content-Length: size`
    header, the first bytes of the body, then the connection closes, so a reader that checks the
    header refuses it at once and one that does not sees a truncated body.
    """

    size: int
    declared: bool = False
    p: float = 1.0

    def text(self) -> str:
        size = _size_text(self.size)
        return ("declared:" + size if self.declared else size) + _pct(self.p)


class FaultSpec(msgspec.Struct, frozen=True):
    """The faults a proxy injects now. Immutable: a change is a new spec swapped in whole."""

    latency: Delay | None = None
    http_error: tuple[int, float] | None = None  # (status, p)
    throttle: tuple[float, float] | None = None  # (retry_after_s, p)
    rpc_error: tuple[int, float] | None = None  # (code, p)
    garbage: float = 0.0
    truncate: float = 0.0
    html: float = 0.0
    drop: float = 0.0
    stall: float = 0.0
    bad_id: float = 0.0  # answer with ids the client never sent (single and batch)
    oversize: Oversize | None = None
    chain_id: int | None = None
    stale: bool = False
    stale_at: int | None = None  # resolved from the upstream when `stale` is given without a block
    ws_drop: float = 0.0
    ws_stall: float = 0.0
    ws_garbage: float = 0.0
    ws_delay: Delay | None = None
    lie: tuple[str, ...] = ()  # answers rewritten to be wrong: any of LIES
    only: tuple[str, ...] = ()  # HTTP faults hit only requests calling one of these methods (empty: every request)

    def describe(self) -> str:
        """The spec in the fault language (`clear` when empty); parses back to an equal spec."""
        out: list[str] = []
        if self.latency:
            out.append(f"latency={self.latency.text()}")
        if self.http_error:
            out.append(f"error={self.http_error[0]}{_pct(self.http_error[1])}")
        if self.throttle:
            out.append(f"429={self.throttle[0]:g}s{_pct(self.throttle[1])}")
        if self.rpc_error:
            out.append(f"rpcerror={self.rpc_error[0]}{_pct(self.rpc_error[1])}")
        for name in ("garbage", "truncate", "html", "drop", "stall"):
            if p := getattr(self, name):
                out.append(name + _pct(p))
        if self.bad_id:
            out.append("badid" + _pct(self.bad_id))
        if self.oversize:
            out.append(f"oversize={self.oversize.text()}")
        if self.chain_id is not None:
            out.append(f"chainid={self.chain_id}")
        if self.stale:
            out.append("stale" if self.stale_at is None else f"stale={self.stale_at}")
        if self.ws_drop:
            out.append("wsdrop" + _pct(self.ws_drop))
        if self.ws_stall:
            out.append("wsstall" + _pct(self.ws_stall))
        if self.ws_garbage:
            out.append("wsgarbage" + _pct(self.ws_garbage))
        if self.ws_delay:
            out.append(f"wsdelay={self.ws_delay.text()}")
        out.extend(f"lie={what}" for what in self.lie)
        if self.only:
            out.append("only=" + ",".join(self.only))
        return " ".join(out) or "clear"


def _pct(p: float) -> str:
    return "" if p >= 1.0 else f"@{p * 100:g}%"


_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def _size_text(size: int) -> str:
    """Bytes in the largest binary unit that divides them exactly: 67108864 -> 64mb."""
    for unit in ("gb", "mb", "kb"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return f"{size}b"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s)$")
_SIZE = re.compile(r"^(\d+)(b|kb|mb|gb)$")
_CHANCES = ("garbage", "truncate", "html", "drop", "stall", "badid", "wsdrop", "wsstall", "wsgarbage")
_FIELD = {
    "latency": "latency", "error": "http_error", "429": "throttle", "rpcerror": "rpc_error", "badid": "bad_id",
    "chainid": "chain_id", "wsdrop": "ws_drop", "wsstall": "ws_stall", "wsgarbage": "ws_garbage", "wsdelay": "ws_delay",
}  # fmt: skip
_EMPTY = FaultSpec()
#: What `lie=` can rewrite: balances, eth_call results, block hashes, heads (far ahead).
LIES = ("balance", "call", "blockhash", "head")


def _duration(token: str, text: str) -> float:
    m = _DURATION.match(text)
    if not m:
        raise FaultSpecError(token, f"{text!r} is not a duration like 300ms or 2s")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def _size(token: str, text: str) -> int:
    m = _SIZE.match(text.lower())
    if not m or int(m.group(1)) == 0:
        raise FaultSpecError(token, f"{text!r} is not a size like 64mb, 512kb or 1gb")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _oversize(token: str, text: str, p: float) -> Oversize:
    """`oversize`, `oversize=8mb`, `oversize=declared`, `oversize=declared:1gb`."""
    kind, colon, size = text.partition(":")
    if kind == "declared":
        return Oversize(_size(token, size) if colon else DEFAULT_DECLARED_BYTES, True, p)
    return Oversize(_size(token, text) if text else DEFAULT_OVERSIZE_BYTES, False, p)


def _probability(token: str, text: str | None) -> float:
    if text is None:
        return 1.0
    try:
        p = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise FaultSpecError(token, f"{text!r} is not a probability like 10% or 0.1") from None
    if not 0.0 < p <= 1.0:
        raise FaultSpecError(token, f"probability {text} is outside (0, 100%]")
    return p


def _delay(token: str, text: str, p: float) -> Delay:
    kind, _, rest = text.partition(":")
    if kind not in ("pareto", "lognormal"):
        return Delay("fixed", _duration(token, text), p=p)
    scale, _, shape = rest.partition(":")
    default = DEFAULT_PARETO_ALPHA if kind == "pareto" else DEFAULT_LOGNORMAL_SIGMA
    try:
        shape_v = float(shape) if shape else default
    except ValueError:
        raise FaultSpecError(token, f"shape {shape!r} is not a number") from None
    if shape_v <= 0:
        raise FaultSpecError(token, "shape must be positive")
    return Delay(kind, _duration(token, scale), shape_v, p)


def _int(token: str, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise FaultSpecError(token, f"{text!r} is not an integer") from None


def parse_faults(text: str, base: FaultSpec = _EMPTY) -> FaultSpec:
    """Apply the tokens of `text` to `base` (left to right) and return the new spec."""
    spec = base
    for token in text.split():
        head, _, prob = token.partition("@")
        name, eq, value = head.partition("=")
        name = name.lower()
        if name == "freeze_head":  # the name for a frozen head
            name = "stale"
        if name == "clear":
            spec = _EMPTY
            continue
        if value == "off":
            field = _FIELD.get(name, name)
            if field not in FaultSpec.__struct_fields__:
                raise FaultSpecError(token, f"unknown fault {name!r}")
            if field == "stale":
                spec = msgspec.structs.replace(spec, stale=False, stale_at=None)
            else:
                spec = msgspec.structs.replace(spec, **{field: getattr(_EMPTY, field)})
            continue
        p = _probability(token, prob or None)
        if name in _CHANCES:
            if eq:
                raise FaultSpecError(token, f"{name} takes no value, only @probability")
            spec = msgspec.structs.replace(spec, **{_FIELD.get(name, name): p})
        elif name in ("latency", "wsdelay") and value:
            spec = msgspec.structs.replace(spec, **{_FIELD[name]: _delay(token, value, p)})
        elif name == "oversize":
            spec = msgspec.structs.replace(spec, oversize=_oversize(token, value, p))
        elif name == "error" and value:
            status = _int(token, value)
            if not 400 <= status <= 599:
                raise FaultSpecError(token, "an HTTP error status is 400..599")
            spec = msgspec.structs.replace(spec, http_error=(status, p))
        elif name == "429":
            spec = msgspec.structs.replace(spec, throttle=(_duration(token, value) if value else 1.0, p))
        elif name == "rpcerror":
            code = _int(token, value) if value else DEFAULT_RPC_ERROR_CODE
            spec = msgspec.structs.replace(spec, rpc_error=(code, p))
        elif name == "chainid" and value and not prob:
            spec = msgspec.structs.replace(spec, chain_id=_int(token, value))
        elif name == "lie" and value in LIES and not prob:
            spec = msgspec.structs.replace(spec, lie=tuple(sorted({*spec.lie, value})))
        elif name == "only" and value and not prob:
            spec = msgspec.structs.replace(spec, only=tuple(sorted({m for m in value.split(",") if m})))
        elif name == "stale" and not prob:
            spec = msgspec.structs.replace(spec, stale=True, stale_at=_int(token, value) if value else None)
        else:
            raise FaultSpecError(token, "unknown fault (see devnet.fault_proxy for the language)")
    return spec
