"""Console commands of the alerting service: `alerts`, `silence`, `silences`, `unsilence`, `test-alert`.

Each asks /alerts/router with a timeout; answers are the router's protocol types, secrets masked.
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from alerting.rules import parse_duration
from console.registry import CommandError
from console.wire import Table
from protocol.alerts import (
    AddSilence,
    AlertsReport,
    ChannelKind,
    GetAlerts,
    ListSilences,
    RemoveSilence,
    RouterRefused,
    SendTestAlert,
)
from supervision import Handle

ROUTER = Handle("/alerts/router")
ASK_TIMEOUT_S = 5.0


def _ask(msg: Any) -> Any:
    answer = ROUTER.ask(msg, timeout=ASK_TIMEOUT_S)
    if isinstance(answer, RouterRefused):
        raise CommandError(f"{answer.request} refused: {answer.reason}")
    return answer


def alerts(args: argparse.Namespace) -> Any:
    report: AlertsReport = _ask(GetAlerts(limit=args.limit))
    rows = [[v.id, v.type, v.priority, v.title[:60], v.status,
             " ".join(f"{d.channel}:{d.status}" for d in v.deliveries)] for v in report.recent]
    channels = [[c.channel.value, c.breaker, report.queued.get(c.channel.value, 0), c.sent, c.failed,
                 c.disabled or c.reason] for c in report.channels]
    return {
        "alerts": msgspec.to_builtins(Table(columns=["ID", "TYPE", "PRIORITY", "TITLE", "STATUS", "DELIVERY"],
                                            rows=rows, title=f"{report.accepted} accepted, "
                                            f"{report.deduplicated} deduplicated, {report.silences} silences")),
        "channels": msgspec.to_builtins(Table(columns=["CHANNEL", "BREAKER", "QUEUED", "SENT", "FAILED", "NOTE"],
                                              rows=channels)),
    }


def silence(args: argparse.Namespace) -> Any:
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    made = _ask(AddSilence(matcher=args.matcher, duration_s=duration, reason=" ".join(args.reason), by=args.by))
    return msgspec.to_builtins(made)


def silences(args: argparse.Namespace) -> Table:
    rows = [[s.id, s.matcher, round(s.until - s.created_at), s.reason, s.by] for s in _ask(ListSilences())]
    return Table(columns=["ID", "MATCHER", "FOR_S", "REASON", "BY"], rows=rows, title="active silences")


def unsilence(args: argparse.Namespace) -> str:
    return str(_ask(RemoveSilence(id=args.id)))


def test_alert(args: argparse.Namespace) -> str:
    return str(_ask(SendTestAlert(channel=ChannelKind(args.channel))))


def register_alert_commands(registry: Any) -> None:
    p = argparse.ArgumentParser(prog="alerts", description="Recent alerts with their delivery per channel, and "
                                "each channel's breaker and queue.")
    p.add_argument("--limit", type=int, default=20)
    registry.register_command("alerts", p, alerts)
    p = argparse.ArgumentParser(prog="silence", description="Accept but do not notify matching alerts for a while.")
    p.add_argument("matcher", help="type=network, key=endpoint-*, priority=low, source=..., or a title word")
    p.add_argument("duration", help="30m, 2h, 90s")
    p.add_argument("reason", nargs="+", help="why (recorded)")
    p.add_argument("--by", default="console")
    registry.register_command("silence", p, silence)
    p = argparse.ArgumentParser(prog="silences", description="The active silences.")
    registry.register_command("silences", p, silences)
    p = argparse.ArgumentParser(prog="unsilence", description="Remove a silence by its id.")
    p.add_argument("id", type=int)
    registry.register_command("unsilence", p, unsilence)
    p = argparse.ArgumentParser(prog="test-alert", description="Send a test alert on one channel.")
    p.add_argument("channel", choices=[c.value for c in ChannelKind])
    registry.register_command("test-alert", p, test_alert)


