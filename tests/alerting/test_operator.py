"""The operator's surface: console commands, config errors at start, and no secret anywhere."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger
from prometheus_client import REGISTRY

from actors.alert_console import register_alert_commands
from bot.alerts import alerts_config_problem
from console.registry import CommandRegistry
from devnet.fake_services import FakeServices, Fault
from protocol.alerts import AlertType, Priority, SendAlert
from protocol.config import ConfigError, load_config
from tests.waiting import wait_until

from .conftest import ROUTER, AlertsRun

ROOT = Path(__file__).resolve().parents[2]


def test_console_commands(alerts: AlertsRun, services: FakeServices) -> None:
    alerts.start()
    registry = CommandRegistry()
    register_alert_commands(registry)
    made = registry.run(["silence", "key=endpoint-*", "2h", "planned", "maintenance"])
    assert made.ok, made.error
    silence_id = made.body["id"]
    listed = registry.run(["silences"])
    assert listed.ok and listed.body["rows"][0][1] == "key=endpoint-*"
    assert registry.run(["silence", "colour=red", "1h", "x"]).error.startswith("AddSilence refused: unknown field")
    assert registry.run(["unsilence", str(silence_id)]).ok
    assert not registry.run(["unsilence", str(silence_id)]).ok
    assert registry.run(["test-alert", "discord"]).ok
    wait_until(lambda: services.accepted("discord"), what="the test alert on discord")
    shown = wait_until(lambda: registry.run(["alerts"]), until=lambda r: "discord:delivered" in json.dumps(r.body),
                       what="the delivery in `alerts`")
    channels = {row[0]: row for row in shown.body["channels"]["rows"]}
    assert (REGISTRY.get_sample_value("arbiter_alerts_delivered_total", {"channel": "discord"}) or 0) >= 1
    assert (REGISTRY.get_sample_value("arbiter_alerts_accepted_total", {"type": "system", "priority": "low"})
            or 0) >= 1
    assert (REGISTRY.get_sample_value("arbiter_alerts_delivery_latency_seconds_count", {"channel": "discord"})
            or 0) >= 1
    assert channels["discord"][1] == "CLOSED" and set(channels) >= {"log", "discord", "telegram", "slack", "sms"}


def test_no_secret_in_logs_errors_or_console(alerts: AlertsRun, services: FakeServices) -> None:
    sink = io.StringIO()
    handler = logger.add(sink, level="DEBUG")
    try:
        services.script("discord", Fault("500"), Fault("404"))
        services.script("telegram", Fault("malformed"), Fault("403"))
        alerts.start()
        ROUTER.tell(SendAlert(type=AlertType.SYSTEM, title="boom", priority=Priority.CRITICAL))
        wait_until(lambda: services.accepted("slack"), what="slack delivery")
        wait_until(lambda: sink.getvalue(), until=lambda t: "discord channel stopped" in t
                   and "telegram channel stopped" in t, what="both channels stopped and logged")
        registry = CommandRegistry()
        register_alert_commands(registry)
        shown = json.dumps(registry.run(["alerts"]).body)
    finally:
        logger.remove(handler)
    secrets = ("discord-webhook-secret-token", "TEST-token_abcdef", "slack-webhook-secret", services.twilio_token,
               "smtp-secret-pw")
    for text in (sink.getvalue(), shown):
        for secret in secrets:
            assert secret not in text


def test_unbuilt_channel_and_bad_rule_stop_the_bot_with_one_line(tmp_path: Path) -> None:
    cfg = load_config({"APPRISE_URLS": "nosuchscheme://bottoken/chat"})  # a URL apprise cannot send to
    problem = alerts_config_problem(cfg.alerts)
    assert problem is not None and problem.startswith("config error: APPRISE_URLS=***") and "bottoken" not in problem
    toml = tmp_path / "bot.toml"
    toml.write_text('[[alerts.rules]]\nname = "few"\nwhen = "routable_endpoints < "\n')
    result = subprocess.run([sys.executable, "run.py", "config", "--config", str(toml)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: rule 'few' when = 'routable_endpoints < '")


def test_a_toml_route_to_an_unconfigured_channel_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    toml = tmp_path / "bot.toml"
    toml.write_text('[[alerts.routes]]\nchannel = "sms"\nmin_priority = "critical"\n')
    problem = alerts_config_problem(load_config({"DATA_DIR": str(tmp_path)}, str(toml)).alerts)
    assert problem == ("config error: alerts.routes[0] routes to sms, which is not configured; configured: log")
    toml.write_text('[alerts]\nroutes = "sms"\n')
    with pytest.raises(ConfigError, match=r"alerts\.routes in bot\.toml is not a list of tables"):
        load_config({}, str(toml))
