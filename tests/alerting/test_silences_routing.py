"""Silence matchers and routing."""

from __future__ import annotations

import pytest

from alerting import routing
from protocol.alerts import AlertType, ChannelKind, Priority, SendAlert, Silence

C = ChannelKind


def test_matchers() -> None:
    alert = SendAlert(type=AlertType.NETWORK, title="Endpoint secondary quarantined", key="endpoint:secondary",
                      source="/network/rpc:secondary", priority=Priority.HIGH)
    assert routing.matches("type=network", alert)
    assert routing.matches("key=endpoint:*", alert)
    assert routing.matches("quarantined", alert)
    assert not routing.matches("priority=critical", alert)
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        routing.check_matcher("colour=red")
    silence = Silence(id=1, matcher="type=network", until=100.0, reason="maintenance", created_at=0.0)
    assert routing.silenced_by([silence], alert, 99.0) == silence
    assert routing.silenced_by([silence], alert, 100.0) is None  # expired


def test_routes_and_escalation() -> None:
    routes = routing.default_routes([C.LOG, C.TELEGRAM, C.EMAIL, C.SMS])
    assert routing.route(routes, AlertType.RISK, Priority.LOW) == (C.LOG,)
    assert routing.route(routes, AlertType.RISK, Priority.HIGH) == (C.LOG, C.TELEGRAM, C.EMAIL)
    assert routing.route(routes, AlertType.RISK, Priority.CRITICAL) == (C.LOG, C.TELEGRAM, C.EMAIL, C.SMS)
    chain = routing.DEFAULT_ESCALATION_CHAIN
    assert routing.escalation_next(chain, [C.TELEGRAM, C.EMAIL, C.SMS], [C.TELEGRAM]) == C.EMAIL
    assert routing.escalation_next(chain, [C.TELEGRAM], [C.TELEGRAM]) is None


def test_toml_routes_replace_the_defaults_of_the_channels_they_name() -> None:
    configured = [C.LOG, C.TELEGRAM, C.SLACK, C.SMS]
    assert routing.parse_routes([], configured) == routing.default_routes(configured)
    routes = routing.parse_routes([
        {"channel": "sms", "min_priority": "high", "types": ["risk"]},
        {"channel": "slack", "min_priority": "critical"},
        {"channel": "slack", "min_priority": "low", "types": ["trade"]},
    ], configured)
    assert routing.route(routes, AlertType.RISK, Priority.HIGH) == (C.LOG, C.TELEGRAM, C.SMS)
    assert routing.route(routes, AlertType.NETWORK, Priority.HIGH) == (C.LOG, C.TELEGRAM)
    assert routing.route(routes, AlertType.TRADE, Priority.LOW) == (C.LOG, C.SLACK)
    assert routing.route(routes, AlertType.TRADE, Priority.CRITICAL) == (C.LOG, C.TELEGRAM, C.SLACK)  # once


@pytest.mark.parametrize(("raw", "needle"), [
    ({"channel": "pager", "min_priority": "high"}, "alerts.routes[0] channel 'pager' is not one of log, discord"),
    ({"channel": "email", "min_priority": "high"}, "alerts.routes[0] routes to email, which is not configured"),
    ({"channel": "sms", "min_priority": "urgent"}, "alerts.routes[0] min_priority 'urgent' is not one of low"),
    ({"channel": "sms", "min_priority": "high", "types": ["trades"]}, "type 'trades' is not one of trade"),
    ({"channel": "sms", "min_priority": "high", "types": []}, "types must be a non-empty list"),
    ({"channel": "sms", "min_priority": "high", "when": "x"}, "unknown key 'when'"),
    ({"channel": "sms"}, "needs channel and min_priority"),
])
def test_a_bad_route_is_one_line_naming_it(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError) as err:
        routing.parse_routes([raw], [C.LOG, C.SMS])
    assert needle in str(err.value) and "\n" not in str(err.value)
