"""The naming rules every metric the bot exports follows (Prometheus's conventions, made checkable).

    rule                                         why
    arbiter_ prefix, lower snake case            one namespace; PromQL needs no quoting
    a counter ends in _total, nothing else does  rate() over counters only; prometheus_client adds it
    no _created / _bucket / _count / _sum name   those suffixes belong to a family's own series
    no scaled or currency unit word              base units only: seconds not ms, bytes not MB,
      (ms, minutes, percent, mb, gwei, eth, ...)   wei not gwei or ETH, ratio (0-1) not percent
    a gauge or histogram ends in its unit        _seconds, _bytes, _wei, _numeraire (the risk
                                                 numeraire, USD by default), _ratio (a fraction)
      or in a unit-less kind                     _state (enum as gauges), _active (1 or 0),
                                                 _info, _score and _grade (scales), or what it
                                                 counts: _depth, _messages, _threads, _trades,
                                                 _descriptors, _objects, _endpoints, _actors

A counter may end in `<unit>_total` (`arbiter_trade_gas_spent_wei_total`) or count things
(`arbiter_rpc_requests_total`).
"""

from __future__ import annotations

import re

PREFIX = "arbiter_"
BASE_UNITS = frozenset({"seconds", "bytes", "wei", "numeraire", "ratio"})
UNITLESS = frozenset({"state", "active", "info", "score", "grade", "depth", "messages", "threads", "trades",
                      "descriptors", "objects", "endpoints", "actors"})
SCALED_UNITS = frozenset({"ms", "millis", "milliseconds", "us", "micros", "microseconds", "ns", "nanoseconds",
                          "minutes", "hours", "days", "percent", "pct", "kb", "mb", "gb", "kib", "mib", "gib",
                          "gwei", "eth", "ether", "usd", "dollars"})
RESERVED_SUFFIXES = ("_created", "_bucket", "_count", "_sum")
SNAKE = re.compile(r"arbiter_[a-z][a-z0-9]*(_[a-z0-9]+)*")


def violations(name: str, kind: str) -> list[str]:
    """What is wrong with a metric family `name` of `kind` (counter, gauge, histogram, summary, ...)."""
    wrong = []
    if not SNAKE.fullmatch(name):
        wrong.append(f"not lower snake case under the {PREFIX} prefix")
    words = name.split("_")
    scaled = sorted(SCALED_UNITS.intersection(words))
    if scaled:
        wrong.append(f"a scaled or currency unit ({', '.join(scaled)}): use the base unit")
    if name.endswith(RESERVED_SUFFIXES):
        wrong.append(f"ends in a suffix reserved for a family's own series ({', '.join(RESERVED_SUFFIXES)})")
    if kind == "counter":
        if not name.endswith("_total"):
            wrong.append("a counter must end in _total")
    elif name.endswith("_total"):
        wrong.append(f"only counters end in _total, this is a {kind}")
    elif kind in ("gauge", "histogram", "summary") and words[-1] not in BASE_UNITS | UNITLESS:
        wrong.append(f"a {kind} must end in its base unit ({', '.join(sorted(BASE_UNITS))}) "
                     f"or a unit-less kind ({', '.join(sorted(UNITLESS))})")
    return wrong


def families(exposition: str) -> dict[str, str]:
    """name -> type of every family in a /metrics text exposition, from its `# TYPE` lines."""
    out = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out[name] = kind.strip()
    return out
