"""The soak run's books, pure: data read from the run in, the figures out (no I/O, no clocks).

Each figure is counted from two independent sides, so a loss shows as a difference:

- trades: the bot's transactions found on chain (blocks read after the run) against the audit
  trail's `trade_submitted` records, and each submitted trade against its end record
  (`trade_mined` / `trade_failed`);
- alerts: the outbox's alerts and deliveries against what each routed channel's server received
  (the delivery's `ref` printed in the message) and the log channel's `ALERT` lines;
- unhandled exceptions: the log file's ERROR records that carry an exception, and tracebacks the
  process printed outside its logger (an unhandled exception in a thread);
- capture: bench_capture's definition (realized gross profit / the gross profit the market's swaps
  made available, counted per swap at its place in its block), with the reserves replayed from the
  chain's Sync logs instead of historical eth_calls, which a history-pruning node no longer answers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What the soak's own `kill` leaves in the log: injected, so not an unhandled exception.
INJECTED = ("InjectedCrash",)
#: Delivery states that say where an undelivered notification is, with the row's detail as the reason.
ACCOUNTED = ("queued", "failed", "unknown", "expired")


# --- memory and threads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at_s: float  # seconds since the bot started
    bot_mb: float
    anvil_mb: float
    threads: int
    thread_labels: tuple[str, ...] = ()  # the console's `perf threads`, where it answered
    bot_by_mapping_mb: Mapping[str, float] | None = None  # rss_by_mapping of the bot's smaps, where read


#: glibc's per-thread malloc arenas are mmapped at addresses aligned to their maximum size, 64 MiB.
MALLOC_ARENA_ALIGN = 64 << 20
#: An anonymous mapping this large is another allocator's reservation (mimalloc reserves 1 GiB at once).
RESERVATION_MIN = 512 << 20
MAPPING_KINDS = ("heap", "malloc_arenas", "reservations", "other_anon", "files")


def rss_by_mapping(smaps: str) -> dict[str, float]:
    """Resident MB of a process by the kind of mapping, from /proc/PID/smaps: glibc's main heap (`[heap]`),
    its per-thread arenas, large anonymous reservations (a foreign allocator's arena), other anonymous
    memory (Python's object arenas, large mallocs, thread stacks) and file-backed pages (libraries)."""
    kb = dict.fromkeys(MAPPING_KINDS, 0)
    kind = "files"
    for line in smaps.splitlines():
        fields = line.split()
        if not fields:
            continue
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header line
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if name == "[heap]":
                kind = "heap"
            elif name and not name.startswith("["):
                kind = "files"
            elif name and not name.startswith("[anon"):  # [stack], [vdso], ...
                kind = "other_anon"
            elif hi - lo >= RESERVATION_MIN:
                kind = "reservations"
            elif lo % MALLOC_ARENA_ALIGN == 0:
                kind = "malloc_arenas"
            else:
                kind = "other_anon"
        elif fields[0] == "Rss:":
            kb[kind] += int(fields[1])
    return {k: round(v / 1024, 1) for k, v in kb.items()}


def thread_change(start: Sample, end: Sample) -> dict[str, Any]:
    """The threads (by label: an actor's path, a thread's name, `tid:<id>` for a native one) that
    the end has and the start had not, and the other way round, one entry per thread; and how many
    each side labelled (0: the console did not answer)."""
    began, ended = Counter(start.thread_labels), Counter(end.thread_labels)
    return {"added": sorted((ended - began).elements()), "gone": sorted((began - ended).elements()),
            "labelled": [len(start.thread_labels), len(end.thread_labels)]}


def growth(samples: Sequence[Sample], from_s: float) -> dict[str, Any]:
    """RSS at the first sample at or after `from_s` and at the last one, per process and summed, and
    the growth between them in per cent."""
    after = [s for s in samples if s.at_s >= from_s] or list(samples[-1:])
    if not after:
        raise ValueError("no RSS sample was taken")
    first, last = after[0], after[-1]

    def sizes(s: Sample) -> dict[str, float]:
        return {"bot": round(s.bot_mb, 1), "anvil": round(s.anvil_mb, 1), "total": round(s.bot_mb + s.anvil_mb, 1)}

    start, end = sizes(first), sizes(last)
    mapped: dict[str, Any] | None = None
    if first.bot_by_mapping_mb is not None and last.bot_by_mapping_mb is not None:
        a, b = first.bot_by_mapping_mb, last.bot_by_mapping_mb
        mapped = {"start": dict(a), "end": dict(b), "growth": {k: round(b[k] - a[k], 1) for k in a if k in b}}
    return {
        "rss_baseline_at_s": round(first.at_s, 1),
        "rss_end_at_s": round(last.at_s, 1),
        "rss_start_mb": start,
        "rss_end_mb": end,
        "rss_growth_pct": {k: round((end[k] - start[k]) / start[k] * 100, 2) if start[k] else None for k in start},
        "bot_rss_by_mapping_mb": mapped,
    }


# --- trades --------------------------------------------------------------------------------------


def trade_books(sent_on_chain: Iterable[str], trail: Iterable[Any]) -> dict[str, Any]:
    """Compare the bot's transactions on chain with the audit trail.

    `trail` is the trail's records (monitoring.audit.AuditRecord). Lost: a transaction on chain with no
    `trade_submitted` record, or a submitted trade (by its trade id) with no end record.
    """
    submitted: dict[str, str] = {}  # tx hash -> trade id
    ended: set[str] = set()
    mined = failed = 0
    realized = 0
    for r in trail:
        if r.kind == "trade_submitted":
            submitted[str(r.body.get("tx_hash", "")).lower()] = str(r.body.get("trade", r.trace_id))
        elif r.kind in ("trade_mined", "trade_failed"):
            ended.add(str(r.body.get("opportunity_id", r.trace_id)))
            if r.kind == "trade_mined":
                mined += 1
                realized += int(r.body.get("realized_profit") or 0)
            else:
                failed += 1
    chain = {h.lower() for h in sent_on_chain}
    unrecorded = sorted(chain - submitted.keys())
    unended = sorted({trade for trade in submitted.values() if trade not in ended})
    return {
        "trades": len(chain),
        "trades_submitted_records": len(submitted),
        "trades_mined_records": mined,
        "trades_failed_records": failed,
        "trade_records_lost": len(unrecorded) + len(unended),
        "trades_on_chain_without_record": unrecorded[:10],
        "trades_submitted_without_end": unended[:10],
        "realized_gross_wei": realized,
    }


# --- alerts --------------------------------------------------------------------------------------


#: A group due this long ago and still holding an alert was never going to send it.
STUCK_MARGIN_S = 30.0


@dataclass(frozen=True)
class AlertRow:
    id: int
    type: str
    priority: str
    status: str  # pending | notified | silenced | cancelled | merged (alerting.grouping.SETTLED_STATUSES)
    condition: str = ""
    resolved: bool = False
    accepted_at: float = 0.0


def pending_fates(alerts: Sequence[AlertRow], due: Mapping[int, float | None], now: float) -> dict[int, str]:
    """Why each `pending` alert is not notified yet.

    due: alert id -> when the group holding it (in its new or resolved alerts) is due to notify
    (alerting.grouping.due_at; a group already notified waits its group_interval, 5 min by default);
    an alert in no group is absent. `waiting`: its group is due later (or just now); `cancelled`: in
    no group, and its condition fired and cleared before any notification (the grouping has nothing to
    tell: Alertmanager's rule, alerting.grouping.add); `stuck`: neither, it will never be sent.
    """
    fates: dict[int, str] = {}
    pending = [a for a in alerts if a.status == "pending"]
    conditions = {(a.condition, a.resolved) for a in pending}
    for a in pending:
        if a.id in due:
            at = due[a.id]
            fates[a.id] = "waiting" if at is not None and at >= now - STUCK_MARGIN_S else "stuck"
        elif (a.condition, not a.resolved) in conditions:
            fates[a.id] = "cancelled"
        else:
            fates[a.id] = "stuck"
    return fates


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    channel: str
    alert_ids: tuple[int, ...]
    status: str
    lead: int | None
    detail: str


def alert_books(alerts: Sequence[AlertRow], deliveries: Sequence[DeliveryRow],
                received: Mapping[str, set[str]], expected_channels: Any, due: Mapping[int, float | None],
                now: float) -> dict[str, Any]:
    """Every alert reached each channel it was routed to, or is accounted for with a reason.

    received: channel -> the refs its server got (the log channel: the refs in its ALERT lines).
    expected_channels(type, priority) -> the channels the router's routes send that alert to.
    Lost: a notified alert with no delivery row on a channel it routes to; a row marked delivered whose
    ref the channel's server never got; a row still `sending`, or undelivered without a reason; an
    alert left `pending` that no group will ever send (pending_fates: stuck).
    """
    lost: list[str] = []
    rows_of: dict[int, set[str]] = {}
    by_status: dict[str, int] = {}
    for d in deliveries:
        by_status[d.status] = by_status.get(d.status, 0) + 1
        for alert_id in d.alert_ids:
            rows_of.setdefault(alert_id, set()).add(d.channel)
        ref = str(d.lead if d.lead is not None else d.id)
        if d.status == "delivered":
            if ref not in received.get(d.channel, set()):
                lost.append(f"delivery {d.id} on {d.channel} marked delivered, ref {ref} never received")
        elif d.status in ACCOUNTED:
            if not d.detail and d.status != "queued":
                lost.append(f"delivery {d.id} on {d.channel} {d.status} without a reason")
        else:
            lost.append(f"delivery {d.id} on {d.channel} left {d.status}")
    by_alert_status: dict[str, int] = {}
    fates = pending_fates(alerts, due, now)
    for a in alerts:
        status = f"pending ({fates[a.id]})" if a.id in fates else a.status
        by_alert_status[status] = by_alert_status.get(status, 0) + 1
        if fates.get(a.id) == "stuck":
            lost.append(f"alert {a.id} ({a.type}/{a.priority}) pending {now - a.accepted_at:.0f} s, in no due group")
        if a.status != "notified":
            continue  # cancelled or still waiting in its group, or silenced: accounted by its status
        for channel in expected_channels(a.type, a.priority):
            if channel not in rows_of.get(a.id, set()):
                lost.append(f"alert {a.id} ({a.type}/{a.priority}) never routed to {channel}")
    return {
        "alerts_raised": len(alerts),
        "alerts_by_status": by_alert_status,
        "deliveries_by_status": by_status,
        "alerts_lost": len(lost),
        "alerts_lost_detail": lost[:10],
    }


# --- unhandled exceptions -----------------------------------------------------------------------------

#: What Python prints, outside any logger, for an exception nothing caught: a thread's (threading's default
#: excepthook: the bot installs none) or the interpreter's own fatal error.
_STRAY = re.compile(r"^(Exception in thread .*|Fatal Python error: .*)$", re.M)


def unhandled(log_records: Iterable[Mapping[str, Any]], output: str) -> dict[str, Any]:
    """ERROR-or-worse log records that carry an exception (not one the soak injected), and tracebacks
    printed outside the logger (threading's default excepthook, an interpreter crash)."""
    crashes: dict[str, int] = {}
    errors: dict[str, int] = {}
    for rec in log_records:
        if rec.get("level") not in ("ERROR", "CRITICAL"):
            continue
        message = str(rec.get("message", ""))
        if message.startswith("ALERT "):
            continue  # the log channel delivering a critical alert, not a failure
        exc = rec.get("exception")
        if isinstance(exc, Mapping) and not any(i in str(exc.get("type", "")) for i in INJECTED):
            key = f"{exc.get('type')}: {rec.get('actor', '')}"
            crashes[key] = crashes.get(key, 0) + 1
        errors_key = re.sub(r"0x[0-9a-fA-F]+|\d+", "N", message)[:100]
        errors[errors_key] = errors.get(errors_key, 0) + 1
    stray = _STRAY.findall(output)
    return {
        "unhandled_exceptions": sum(crashes.values()) + len(stray),
        "unhandled_detail": dict(sorted(crashes.items(), key=lambda kv: -kv[1])[:10]),
        "stray_tracebacks": stray[:10],
        "error_records": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
    }


# --- capture ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncLog:
    block: int
    index: int  # logIndex
    tx: str
    pool: str
    reserves: tuple[int, int]


def capture(world: Any, syncs: Sequence[SyncLog], market_txs: set[str], base_fees: Mapping[int, int],
            gas: Any, realized_gross_wei: int) -> dict[str, Any]:
    """bench_capture's race definition over the run: per market swap, the growth it causes in the ideal
    arbitrageur's total between the reserves just before and just after it, at its place in its block.

    The reserves are replayed from every pool's Sync logs since deployment (exact: a pair emits Sync on
    every reserve change, its first at the first mint)."""
    from benchmarks.bench_capture import available

    addresses = {p.address.lower(): p.address for p in world.pools}
    reserves: dict[str, tuple[int, int]] = {}
    seen: dict[tuple[Any, ...], tuple[int, int]] = {}

    def ideal(state: dict[str, tuple[int, int]], fee: int) -> tuple[int, int]:
        key = (fee, *sorted(state.items()))  # the reserves after one swap are the next one's before: once each
        if key not in seen:
            seen[key] = available(world, state, fee, gas)
        return seen[key]

    gross_total = swaps = gaps = 0
    market = {t.lower() for t in market_txs}
    for log in sorted(syncs, key=lambda s: (s.block, s.index)):
        pool = addresses.get(log.pool.lower())
        if pool is None:
            continue
        if log.tx.lower() in market and len(reserves) == len(addresses):
            swaps += 1
            before = dict(reserves)
            after = {**reserves, pool: log.reserves}
            fee = base_fees[log.block]
            g1, n1 = ideal(after, fee)
            g0, n0 = ideal(before, fee)
            if n1 > n0:
                gaps += 1
                gross_total += max(0, g1 - g0)
        reserves[pool] = log.reserves
    return {
        "market_swaps": swaps,
        "gap_swaps": gaps,
        "available_gross_wei": gross_total,
        "capture_rate": round(realized_gross_wei / gross_total, 4) if gross_total else None,
    }
