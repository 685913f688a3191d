"""router (/alerts/router) — accepts alerts into the durable outbox and decides who hears of them when.

Per SendAlert: dedup (fingerprint window), silences, then the outbox row (accepted once committed;
a burst is one commit), then Alertmanager grouping. A group that is due becomes one delivery row per
routed channel; a channel is handed one message at a time, as its token buckets (its own and the
global one) allow, and whatever queued up behind a limit rides along, summarised, in the next
message. A critical alert that no human channel delivered within `escalate_after_s` goes to the next
channel of the escalation chain. The rules engine samples the published metrics every tick.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import msgspec

from actors.alert_sources import read_metrics
from adapters import alert_metrics as m
from alerting import compose, dedup, grouping, ratelimit, routing, rules
from alerting.grouping import GroupTimers
from performance.analyzer import ALERT_DELIVERY
from performance.recorder import record
from persistence.alert_outbox import AlertOutbox, DeliveryRow
from protocol.alerts import (
    AddSilence,
    Alert,
    AlertDelivery,
    AlertsReport,
    AlertType,
    AlertView,
    ChannelKind,
    ChannelSnapshot,
    ChannelStarted,
    Deliver,
    DeliveryOutcome,
    GetAlerts,
    ListSilences,
    Notification,
    NotificationLine,
    Priority,
    RemoveSilence,
    RouterRefused,
    SendAlert,
    SendTestAlert,
)
from supervision import ActorContext, ActorError, Handle, SupervisedActor

#: Queued notifications nobody could send for this long are reported failed.
DEFAULT_DELIVERY_DEADLINE_S = 1800.0
TICK_S = 1.0


@dataclasses.dataclass(frozen=True)
class RouterSettings:
    outbox_path: str
    channels: tuple[ChannelKind, ...]
    routes: tuple[routing.Route, ...]
    buckets: dict[ChannelKind, tuple[float, float]]  # channel -> (rate per s, burst); absent: unlimited
    global_bucket: tuple[float, float] | None = (5.0, 10.0)
    dedup_window_s: float = dedup.DEFAULT_DEDUP_WINDOW_S
    timers: GroupTimers = dataclasses.field(default_factory=GroupTimers)
    escalation_chain: tuple[ChannelKind, ...] = routing.DEFAULT_ESCALATION_CHAIN
    escalate_after_s: float = routing.DEFAULT_ESCALATE_AFTER_S
    delivery_deadline_s: float = DEFAULT_DELIVERY_DEADLINE_S
    rules: tuple[rules.Rule, ...] = ()
    metrics: Callable[[dict[str, int]], dict[str, float]] = read_metrics


class _Commit(msgspec.Struct, frozen=True):
    pass


class _Tick(msgspec.Struct, frozen=True):
    pass


def channel_path(kind: ChannelKind, alerts_path: str = "/alerts") -> str:
    return f"{alerts_path}/channel:{kind.value}"


class AlertRouter(SupervisedActor):
    def __init__(self, ctx: ActorContext, *, settings: RouterSettings, clock: Callable[[], float] = time.time) -> None:
        super().__init__(ctx)
        self.s = settings
        self.clock = clock
        self.alerts_path = ctx.path.rsplit("/", 1)[0] or "/"
        self.outbox: AlertOutbox | None = None
        self.dedup = dedup.DedupState()
        self.groups: dict[str, grouping.Group] = {}
        self.cache: dict[int, Alert] = {}  # alerts a group still refers to
        self.dirty_groups: set[str] = set()
        self.buckets: dict[ChannelKind, ratelimit.Bucket] = {}
        self.global_bucket: ratelimit.Bucket | None = None
        self.busy: dict[ChannelKind, int] = {}
        self.live: dict[ChannelKind, int] = {}  # channel -> incarnation we know is live
        self.disabled: dict[ChannelKind, str] = {}
        self.critical: set[int] = set()
        self.engine = rules.EngineState()
        self.counts: dict[str, int] = {t.value: 0 for t in AlertType}
        self.accepted = 0
        self.deduplicated = 0
        self.commit_pending = False
        self.wake_at: float | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def on_start(self) -> None:
        now = self.clock()
        # the group state lands with every commit (a crash's close commits too), never an alert row without it
        self.outbox = AlertOutbox(self.s.outbox_path, before_commit=self._save_groups)
        self.accepted = self.outbox.count_alerts()
        for kind, (rate, burst) in self.s.buckets.items():
            self.buckets[kind] = ratelimit.full(rate, burst, now)
        if self.s.global_bucket is not None:
            self.global_bucket = ratelimit.full(*self.s.global_bucket, now)
        orphans = self.outbox.orphan_sending()
        loaded = {key: msgspec.json.decode(blob, type=grouping.Group) for key, blob in self.outbox.groups()}
        self.groups, settled = grouping.restore(loaded, self.outbox.pending_alerts())
        self._settle_statuses(settled)
        self.dirty_groups |= {k for k in {*self.groups, *loaded} if self.groups.get(k) != loaded.get(k)}
        ids = {i for g in self.groups.values() for i in (*g.firing.values(), *g.new, *g.resolved)}
        self.cache = self.outbox.alerts(ids)
        self.critical = set(self.outbox.open_critical_flushes())
        if orphans:  # reported in the commit that marks them unknown: no moment shows them settled, unreported
            m.FAILED.labels("any", "unknown").inc(orphans)
            self.log.warning("{} alert deliveries were in flight when the alerting service stopped: reported, "
                             "not resent (they may or may not have arrived)", orphans)
            self._accept(SendAlert(
                type=AlertType.SYSTEM, priority=Priority.HIGH, key="alerts-in-flight-at-crash", source=self.ctx.path,
                title=f"{orphans} alert deliveries were in flight when the alerting service stopped",
                data={"what": "they may or may not have arrived; they are not resent (no duplicates)"}))
        self.outbox.commit()
        for kind in self.s.channels:  # channels that outlived a router restart announced themselves to the old one
            handle = Handle(channel_path(kind, self.alerts_path))
            snap = handle.snapshot()
            if isinstance(snap, ChannelSnapshot) and handle.is_alive():  # not a stopped tree's last word
                self.live[kind] = snap.incarnation
                if snap.disabled:
                    self.disabled[kind] = snap.disabled
        self.ctx.send_interval(TICK_S, _Tick())
        self._pump(now)

    def on_terminate(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None

    # --- messages ---------------------------------------------------------------------------------

    def receive(self, msg: Any) -> Any:
        match msg:
            case SendAlert():
                self._accept(msg)
            case _Commit():
                self.commit_pending = False
                self._pump(self.clock())
            case DeliveryOutcome():
                self._settle(msg)
            case ChannelStarted(channel=channel, incarnation=inc):
                self._channel_started(channel, inc)
            case _Tick():
                self._tick()
            case GetAlerts(limit=limit):
                return self._report(limit)
            case AddSilence():
                return self._silence(msg)
            case ListSilences():
                return tuple(self._db().silences(self.clock()))
            case RemoveSilence(id=silence_id):
                if self._db().remove_silence(silence_id):
                    return f"silence {silence_id} removed"
                return RouterRefused("RemoveSilence", f"no active silence with id {silence_id}; `silences` lists them")
            case SendTestAlert(channel=channel):
                return self._test(channel)
            case _:
                return super().receive(msg)
        return None

    def status(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "deduplicated": self.deduplicated, "groups": len(self.groups),
                "busy": {k.value: v for k, v in self.busy.items()}, "disabled": dict(self.disabled)}

    def _db(self) -> AlertOutbox:
        assert self.outbox is not None
        return self.outbox

    # --- accepting ----------------------------------------------------------------------------------

    def _accept(self, msg: SendAlert, bypass_dedup: bool = False, grouped: bool = True) -> int | None:
        now = self.clock()
        fp = dedup.fingerprint(msg)
        if not bypass_dedup:
            self.dedup, duplicate = dedup.observe(self.dedup, fp, now, self.s.dedup_window_s)
            if duplicate:
                self.deduplicated += 1
                m.DEDUPLICATED.labels(msg.type.value).inc()
                return None
            opposite = dedup.fingerprint(msgspec.structs.replace(msg, resolved=not msg.resolved))
            self.dedup = dedup.forget(self.dedup, opposite)  # a clear re-arms the alert, a re-fire the clear
        db = self._db()
        silence = routing.silenced_by(db.silences(now), msg, now) if not bypass_dedup else None
        condition = dedup.condition_key(msg)
        alert = Alert(id=0, fingerprint=fp, group="", type=msg.type, priority=msg.priority, title=msg.title,
                      data=msg.data, source=msg.source, resolved=msg.resolved, accepted_at=now)
        alert = msgspec.structs.replace(alert, group=grouping.group_key(alert))
        status = "silenced" if silence else "pending" if grouped else "notified"
        alert_id = db.add_alert(alert, condition, status)
        alert = msgspec.structs.replace(alert, id=alert_id)
        self.accepted += 1
        self.counts[msg.type.value] += 1
        m.ACCEPTED.labels(msg.type.value, msg.priority.value).inc()
        if silence is not None:
            m.SILENCED.labels(msg.type.value).inc()
        elif grouped:
            self.groups, settled = grouping.add(self.groups, alert, condition)
            self._settle_statuses(settled)
            self.cache[alert_id] = alert
            self.dirty_groups.add(alert.group)
        if not self.commit_pending:  # behind every alert already in the mailbox: one commit for the burst
            self.commit_pending = True
            self.ctx.tell_self(_Commit())
        return alert_id

    def _settle_statuses(self, settled: dict[int, str]) -> None:
        """Alerts the grouping settled without a notice of their own (cancelled by their clear, merged into
        the condition already firing): a final status, never `pending` in no group."""
        for status, ids in grouping.by_status(settled).items():
            self._db().set_alert_status(ids, status)

    # --- flushing and dispatching ------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        db = self._db()
        before = set(self.groups)
        self.groups, flushes = grouping.flush_due(self.groups, now, self.s.timers)
        self.dirty_groups |= before - set(self.groups)  # dropped groups leave the outbox too
        for flush in flushes:
            self.dirty_groups.add(flush.group)
            self._queue_flush(flush, now)
        self._dispatch(now)
        db.commit()
        self._schedule(now)

    def _queue_flush(self, flush: grouping.Flush, now: float) -> None:
        db = self._db()
        flush_id = db.next_flush_id()
        ids = (*flush.new, *flush.resolved, *(flush.still_firing if flush.repeat else ()))
        self.cache.update(db.alerts(i for i in ids if i not in self.cache))
        sample = next((self.cache[i] for i in ids if i in self.cache), None)
        if sample is None:
            return
        channels = [c for c in routing.route(self.s.routes, sample.type, flush.priority) if c not in self.disabled]
        for channel in channels:
            notification = compose.compose(flush, self.cache, channel)
            if notification is not None:
                db.add_delivery(flush_id, channel, notification, ids, now)
        db.set_alert_status((*flush.new, *flush.resolved), "notified")
        if flush.priority is Priority.CRITICAL:
            self.critical.add(flush_id)
        live = {i for g in self.groups.values() for i in (*g.firing.values(), *g.new, *g.resolved)}
        self.cache = {i: a for i, a in self.cache.items() if i in live}  # cleared and told: nothing refers to it

    def _save_groups(self) -> None:
        db = self._db()
        for key in sorted(self.dirty_groups):
            group = self.groups.get(key)
            db.save_group(key, msgspec.json.encode(group) if group is not None else None)
        self.dirty_groups.clear()

    def _dispatch(self, now: float) -> None:
        db = self._db()
        queued: dict[ChannelKind, list[DeliveryRow]] = {}
        for row in db.queued():
            queued.setdefault(row.channel, []).append(row)
        for channel, rows in queued.items():
            if channel in self.busy or channel not in self.live or channel in self.disabled:
                continue
            handle = Handle(channel_path(channel, self.alerts_path))
            snap = handle.snapshot()
            if isinstance(snap, ChannelSnapshot) and snap.breaker in ("OPEN", "QUARANTINED"):
                continue  # the channel is failing fast; its wake (HALF_OPEN) lets a probe through
            if not self._take_token(channel, now):
                m.RATE_LIMITED.labels(channel.value).inc()
                continue
            rows.sort(key=lambda r: (-r.priority.rank, r.id))
            lead, others = rows[0], rows[1:1 + compose.MAX_MERGED]
            notification = compose.merge(lead.notification, [o.notification for o in others], ref=str(lead.id))
            db.mark_sending(lead.id, [lead.id, *(o.id for o in others)], self.live[channel])
            try:
                left = self.s.delivery_deadline_s - (now - lead.created_at)
                handle.tell(Deliver(attempt=lead.id, notification=notification, expires_in_s=max(0.0, left)))
            except ActorError:
                # Not in the tree (restarting or stopped; a channel that announced itself is bound already):
                # queued again and forgotten until its next incarnation announces itself with ChannelStarted.
                db.requeue(lead.id)
                self.live.pop(channel, None)
                continue
            self.busy[channel] = lead.id

    def _take_token(self, channel: ChannelKind, now: float) -> bool:
        own = self.buckets.get(channel)
        shared = self.global_bucket if routing.human(channel) else None
        held = tuple(b for b in (own, shared) if b is not None)
        if not held:
            return True
        after, ok = ratelimit.take(held, now)
        it = iter(after)
        if own is not None:
            self.buckets[channel] = next(it)
        if shared is not None:
            self.global_bucket = next(it)
        if not ok:
            ready = max(ratelimit.ready_at(b, now) for b in after)
            self._wake(ready)
        return ok

    def _schedule(self, now: float) -> None:
        at = grouping.next_wake(self.groups, self.s.timers)
        if at is not None:
            self._wake(at)

    def _wake(self, at: float) -> None:
        now = self.clock()
        if self.wake_at is not None and self.wake_at <= at and self.wake_at > now:
            return
        self.wake_at = at
        self.ctx.send_after(max(0.0, at - now), _Commit())

    # --- outcomes ---------------------------------------------------------------------------------

    def _settle(self, outcome: DeliveryOutcome) -> None:
        db, now = self._db(), self.clock()
        channel = outcome.channel
        if self.busy.get(channel) == outcome.attempt:
            del self.busy[channel]
        if outcome.requeue:
            db.requeue(outcome.attempt)
        elif outcome.delivered:
            rows = db.finish(outcome.attempt, "delivered", outcome.detail, now)
            m.DELIVERED.labels(channel.value).inc(len(rows))
            for row in rows:
                m.LATENCY.labels(channel.value).observe(max(0.0, now - row.created_at))
                record(ALERT_DELIVERY, max(0.0, now - row.created_at), True, channel=channel.value)  # the SLO
                if routing.human(channel):
                    self.critical.discard(row.flush)
        else:
            status = "expired" if outcome.expired else "failed"
            rows = db.finish(outcome.attempt, status, outcome.detail, now)
            m.FAILED.labels(channel.value, status).inc(len(rows))
            for row in rows:
                record(ALERT_DELIVERY, max(0.0, now - row.created_at), False, channel=channel.value)
            titles = "; ".join(r.notification.title for r in rows[:3])
            self.log.error("alert delivery failed on {}: {} ({})", channel.value, outcome.detail, titles)
            snap = Handle(channel_path(channel, self.alerts_path)).snapshot()
            if isinstance(snap, ChannelSnapshot) and snap.disabled and channel not in self.disabled:
                self._channel_gone(channel, snap.disabled, now)
        self._dispatch(now)
        db.commit()

    def _channel_gone(self, channel: ChannelKind, why: str, now: float) -> None:
        db = self._db()
        self.disabled[channel] = why
        rows = db.queued(channel)
        db.fail_rows([r.id for r in rows], f"channel stopped: {why}", now)
        m.FAILED.labels(channel.value, "failed").inc(len(rows))
        self._accept(SendAlert(type=AlertType.SYSTEM, priority=Priority.CRITICAL, source=self.ctx.path,
                               key=f"channel-stopped:{channel.value}", title=f"{channel.value} alerts stopped: {why}",
                               data={"channel": channel.value, "queued_failed": len(rows)}))

    def _channel_started(self, channel: ChannelKind, incarnation: int) -> None:
        db = self._db()
        orphans = db.orphan_sending(channel, below_incarnation=incarnation)
        if orphans:
            m.FAILED.labels(channel.value, "unknown").inc(orphans)
            self.log.warning("{} channel restarted with {} deliveries in flight: reported, not resent",
                             channel.value, orphans)
        self.live[channel] = incarnation
        self.busy.pop(channel, None)
        self._dispatch(self.clock())
        db.commit()

    # --- the tick: expiry, escalation, rules ---------------------------------------------------------

    def _tick(self) -> None:
        now, db = self.clock(), self._db()
        expired = [r for r in db.queued() if now - r.created_at > self.s.delivery_deadline_s]
        if expired:
            db.fail_rows([r.id for r in expired], f"not sendable within {self.s.delivery_deadline_s:g} s", now,
                         status="expired")
            for r in expired:
                m.FAILED.labels(r.channel.value, "expired").inc()
            self.log.error("{} alert deliveries expired unsent", len(expired))
        self._escalate(now)
        if self.s.rules:
            self.engine, events = rules.step(self.s.rules, self.engine, self.s.metrics(dict(self.counts)), now)
            for ev in events:
                fired = isinstance(ev, rules.RuleFired)
                self._accept(SendAlert(type=ev.rule.type, priority=ev.rule.priority, title=ev.rule.title,
                                       key=f"rule:{ev.rule.name}", source="rules", resolved=not fired,
                                       data={"rule": ev.rule.name, "when": ev.rule.source}))
        self._pump(now)

    def _escalate(self, now: float) -> None:
        db = self._db()
        if not self.critical:
            return
        by_flush: dict[int, list[DeliveryRow]] = {}
        for row in db.flush_rows(self.critical):
            by_flush.setdefault(row.flush, []).append(row)
        for flush, rows in by_flush.items():
            human = [r for r in rows if routing.human(r.channel)]
            if any(r.status == "delivered" for r in human):
                self.critical.discard(flush)
                continue
            latest = max(r.created_at for r in human) if human else min(r.created_at for r in rows)
            if now - latest < self.s.escalate_after_s:
                continue
            available = [c for c in self.s.channels if c not in self.disabled]
            nxt = routing.escalation_next(self.s.escalation_chain, available, [r.channel for r in rows])
            if nxt is None:
                if all(r.status in ("failed", "expired", "unknown") for r in human):
                    self.critical.discard(flush)
                    self.log.error("critical alert {!r} could not be delivered on any channel",
                                   rows[0].notification.title)
                continue
            self.log.warning("escalating critical alert {!r} to {}: undelivered for {:.0f} s",
                             rows[0].notification.title, nxt.value, now - latest)
            notification = msgspec.structs.replace(rows[0].notification, channel=nxt)
            db.add_delivery(flush, nxt, notification, rows[0].alert_ids, now)

    # --- the operator -----------------------------------------------------------------------------

    def _silence(self, msg: AddSilence) -> Any:
        try:
            matcher = routing.check_matcher(msg.matcher)
        except ValueError as exc:
            return RouterRefused("AddSilence", str(exc))
        if not msg.duration_s > 0:
            return RouterRefused("AddSilence", "the duration must be above 0 (e.g. 30m, 2h)")
        if not msg.reason.strip():
            return RouterRefused("AddSilence", "a silence needs a reason")
        now = self.clock()
        silence = self._db().add_silence(matcher, now + msg.duration_s, msg.reason.strip(), now, msg.by)
        self.log.warning("silence {} by {}: {} for {:.0f} s ({})", silence.id, msg.by, matcher, msg.duration_s,
                         silence.reason)
        return silence

    def _test(self, channel: ChannelKind) -> Any:
        if channel not in self.s.channels:
            return RouterRefused("SendTestAlert", f"channel {channel.value} is not configured; configured: "
                                 f"{', '.join(c.value for c in self.s.channels)}")
        now = self.clock()
        db = self._db()
        alert_id = self._accept(SendAlert(type=AlertType.SYSTEM, priority=Priority.LOW, source="console",
                                          title=f"test alert for {channel.value}", key=f"test:{now}"),
                                bypass_dedup=True, grouped=False)  # out at once, to that channel only
        assert alert_id is not None
        line = NotificationLine(alert_id=alert_id, priority=Priority.LOW, title=f"test alert for {channel.value}")
        notification = Notification(ref="", channel=channel, type=AlertType.SYSTEM, priority=Priority.LOW,
                                    title=f"test alert for {channel.value}", lines=(line,))
        row = db.add_delivery(db.next_flush_id(), channel, notification, (alert_id,), now)
        self._dispatch(now)
        db.commit()
        return f"test alert #{alert_id} queued for {channel.value} (delivery {row}); `alerts` shows its fate"

    def _report(self, limit: int) -> AlertsReport:
        db = self._db()
        recent = db.recent_alerts(limit)
        deliveries = db.deliveries_of(r[0] for r in recent)
        views = tuple(AlertView(id=i, type=t, priority=p, title=title, status=status, accepted_at=at,
                                deliveries=tuple(AlertDelivery(*d) for d in deliveries.get(i, [])))
                      for i, t, p, title, status, at in recent)
        channels = tuple(s for c in self.s.channels
                         if isinstance(s := Handle(channel_path(c, self.alerts_path)).snapshot(), ChannelSnapshot))
        return AlertsReport(recent=views, channels=channels, queued=db.queued_counts(), accepted=self.accepted,
                            deduplicated=self.deduplicated, silences=len(db.silences(self.clock())))
