"""The rules engine: declarative rules from the TOML config, parsed into a small expression tree.

    [[alerts.rules]]
    name = "few-endpoints"
    when = "routable_endpoints < 2 and not emergency_stop"
    for = "30s"                 # the condition must hold this long before the rule fires
    type = "network"            # trade | system | risk | performance | network
    priority = "high"           # low | medium | high | critical
    title = "fewer than two RPC endpoints routable"

Grammar (never `eval`'d; a recursive-descent parser builds the tree):

    expr    := or
    or      := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | compare | value
    compare := value OP number          OP in  > >= < <= == !=
    value   := metric | "rate" "(" metric "," duration ")"
    duration:= number ("ms" | "s" | "m" | "h")

A bare value is true when it is non-zero. `rate(m, 60s)` is the change of `m` per second over the last
60 s (from the oldest sample inside the window to the newest); it is unknown, and the comparison
false, until a sample at least that old exists. A metric missing from a sample makes its
comparison false. `validate` checks names against the metrics the bot provides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from protocol.alerts import AlertType, Priority


class RuleError(ValueError):
    """A rule that cannot be used; the message names the rule."""


class Metric(msgspec.Struct, frozen=True, tag=True):
    name: str


class Rate(msgspec.Struct, frozen=True, tag=True):
    name: str
    window_s: float


class Compare(msgspec.Struct, frozen=True, tag=True):
    value: Metric | Rate
    op: str
    threshold: float


class Truthy(msgspec.Struct, frozen=True, tag=True):
    value: Metric | Rate


class Not(msgspec.Struct, frozen=True, tag=True):
    inner: Any  # Expr


class And(msgspec.Struct, frozen=True, tag=True):
    parts: tuple[Any, ...]


class Or(msgspec.Struct, frozen=True, tag=True):
    parts: tuple[Any, ...]


Expr = Compare | Truthy | Not | And | Or


class Rule(msgspec.Struct, frozen=True):
    name: str
    when: Any  # Expr
    source: str  # the text it was parsed from
    for_s: float
    type: AlertType
    priority: Priority
    title: str


_TOKEN = re.compile(r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?(?![A-Za-z_])|(?P<op>>=|<=|==|!=|>|<)"
                    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_KEYWORDS = {"and", "or", "not", "rate"}
_OPS = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__,
        "==": float.__eq__, "!=": float.__ne__}


def _tokens(text: str) -> list[tuple[str, str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"unexpected {text[pos:].strip()[:12]!r} at character {pos}")
        pos = m.end()
        if m.group("num") is not None:
            out.append(("num", m.group("num"), m.group("unit") or ""))
        else:
            kind = next(k for k in ("op", "punct", "word") if m.group(k) is not None)
            out.append((kind, m.group(kind), ""))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, value: str | None = None) -> tuple[str, str, str]:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            got = "the end" if tok is None else repr(tok[1] + tok[2])
            raise ValueError(f"expected {want!r}, found {got}")
        self.i += 1
        return tok

    def at(self, kind: str, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and tok[1] == value

    def parse(self) -> Any:
        expr = self.or_()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()[1]!r} after a complete expression")  # type: ignore[index]
        return expr

    def or_(self) -> Any:
        parts = [self.and_()]
        while self.at("word", "or"):
            self.i += 1
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Any:
        parts = [self.unary()]
        while self.at("word", "and"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Any:
        if self.at("word", "not"):
            self.i += 1
            return Not(self.unary())
        if self.at("punct", "("):
            self.i += 1
            inner = self.or_()
            self.take("punct", ")")
            return inner
        value = self.value()
        tok = self.peek()
        if tok is not None and tok[0] == "op":
            self.i += 1
            num = self.take("num")
            if num[2]:
                raise ValueError(f"a threshold is a plain number, found {num[1] + num[2]!r}")
            return Compare(value, tok[1], float(num[1]))
        return Truthy(value)

    def value(self) -> Metric | Rate:
        if self.at("word", "rate"):
            self.i += 1
            self.take("punct", "(")
            name = self.metric_name()
            self.take("punct", ",")
            num = self.take("num")
            if not num[2]:
                raise ValueError(f"rate() needs a window with a unit (ms, s, m, h), found {num[1]!r}")
            window = float(num[1]) * _UNITS[num[2]]
            if window <= 0:
                raise ValueError("rate() needs a window above 0")
            self.take("punct", ")")
            return Rate(name, window)
        return Metric(self.metric_name())

    def metric_name(self) -> str:
        tok = self.take("word")
        if tok[1] in _KEYWORDS:
            raise ValueError(f"expected a metric name, found the keyword {tok[1]!r}")
        return tok[1]


def parse_expression(text: str) -> Any:
    """The expression tree of `text`; ValueError with what is wrong and where."""
    if not text.strip():
        raise ValueError("the expression is empty")
    return _Parser(text).parse()


def parse_duration(raw: Any) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)(ms|s|m|h)\s*", raw)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{raw!r} is not a duration like 30s, 5m or 1h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def metrics_of(expr: Any) -> set[str]:
    match expr:
        case Compare(value=v) | Truthy(value=v):
            return {v.name}
        case Not(inner=inner):
            return metrics_of(inner)
        case And(parts=parts) | Or(parts=parts):
            return set().union(*(metrics_of(p) for p in parts))
    return set()


def longest_window(expr: Any) -> float:
    match expr:
        case Compare(value=Rate(window_s=w)) | Truthy(value=Rate(window_s=w)):
            return w
        case Not(inner=inner):
            return longest_window(inner)
        case And(parts=parts) | Or(parts=parts):
            return max(longest_window(p) for p in parts)
    return 0.0


_RULE_KEYS = {"name", "when", "for", "type", "priority", "title"}


def parse_rule(raw: Any, index: int, known_metrics: Iterable[str] | None = None) -> Rule:
    """One `[[alerts.rules]]` table as a Rule; RuleError naming the rule (or its index) on any problem."""
    label = f"alerts.rules[{index}]"
    if not isinstance(raw, Mapping):
        raise RuleError(f"{label} is not a table; expected name, when, for, type, priority, title")
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        label = f"rule {name!r}"
    try:
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise ValueError(f"unknown key {sorted(unknown)[0]!r} (expected {', '.join(sorted(_RULE_KEYS))})")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("has no name")
        when = raw.get("when")
        if not isinstance(when, str):
            raise ValueError("has no `when` expression")
        try:
            expr = parse_expression(when)
        except ValueError as exc:
            raise ValueError(f"when = {when!r}: {exc}") from None
        if known_metrics is not None:
            known = set(known_metrics)
            for metric in sorted(metrics_of(expr) - known):
                raise ValueError(f"when = {when!r}: unknown metric {metric!r} (known: {', '.join(sorted(known))})")
        for_s = parse_duration(raw.get("for", 0))
        try:
            kind = AlertType(raw.get("type", "system"))
            priority = Priority(raw.get("priority", "medium"))
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        title = raw.get("title", name)
        if not isinstance(title, str):
            raise ValueError("title is not text")
    except ValueError as exc:
        raise RuleError(f"{label} {exc}") from None
    return Rule(name=name, when=expr, source=when, for_s=for_s, type=kind, priority=priority, title=title)


def parse_rules(raw: Any, known_metrics: Iterable[str] | None = None) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RuleError("alerts.rules is not a list of tables; expected [[alerts.rules]] entries")
    known = None if known_metrics is None else tuple(known_metrics)
    rules = tuple(parse_rule(item, i, known) for i, item in enumerate(raw))
    names = [r.name for r in rules]
    for name in names:
        if names.count(name) > 1:
            raise RuleError(f"rule {name!r} is defined twice; expected unique rule names")
    return rules


# --- evaluation ---------------------------------------------------------------------------------


class RuleFired(msgspec.Struct, frozen=True):
    rule: Rule
    at: float


class RuleCleared(msgspec.Struct, frozen=True):
    rule: Rule
    at: float


class EngineState(msgspec.Struct, frozen=True):
    samples: dict[str, tuple[tuple[float, float], ...]] = {}  # metric -> (time, value), oldest first
    true_since: dict[str, float] = {}  # rule -> when its condition became true (pending or firing)
    firing: frozenset[str] = frozenset()


def _value(v: Metric | Rate, state: EngineState) -> float | None:
    series = state.samples.get(v.name, ())
    if not series:
        return None
    t_now, x_now = series[-1]
    if isinstance(v, Metric):
        return x_now
    start = t_now - v.window_s
    older = [s for s in series if s[0] <= start]
    if not older:
        return None  # not enough history for this window yet
    t0, x0 = older[-1]
    return (x_now - x0) / (t_now - t0) if t_now > t0 else None


def holds(expr: Any, state: EngineState) -> bool:
    match expr:
        case Compare(value=v, op=op, threshold=t):
            x = _value(v, state)
            return x is not None and _OPS[op](float(x), t)
        case Truthy(value=v):
            x = _value(v, state)
            return x is not None and x != 0
        case Not(inner=inner):
            return not holds(inner, state)
        case And(parts=parts):
            return all(holds(p, state) for p in parts)
        case Or(parts=parts):
            return any(holds(p, state) for p in parts)
    raise TypeError(f"not an expression: {expr!r}")


def step(
    rules: tuple[Rule, ...], state: EngineState, sample: Mapping[str, float], now: float
) -> tuple[EngineState, list[RuleFired | RuleCleared]]:
    """Take one sample of the metrics at `now`; fire rules whose condition has held `for`, clear the rest."""
    keep = max((longest_window(r.when) for r in rules), default=0.0)
    samples = dict(state.samples)
    for name, value in sample.items():
        series = (*samples.get(name, ()), (now, float(value)))
        # keep the newest sample at or before the window start, so rate() has its base
        cut = 0
        for i, (t, _) in enumerate(series):
            if t <= now - keep:
                cut = i
        samples[name] = series[cut:]
    current = EngineState(samples=samples, true_since=state.true_since, firing=state.firing)
    true_since = dict(state.true_since)
    firing = set(state.firing)
    events: list[RuleFired | RuleCleared] = []
    for rule in rules:
        if holds(rule.when, current):
            since = true_since.setdefault(rule.name, now)
            if rule.name not in firing and now - since >= rule.for_s:
                firing.add(rule.name)
                events.append(RuleFired(rule, now))
        else:
            true_since.pop(rule.name, None)
            if rule.name in firing:
                firing.discard(rule.name)
                events.append(RuleCleared(rule, now))
    return EngineState(samples=samples, true_since=true_since, firing=frozenset(firing)), events
