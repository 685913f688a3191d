"""The alerts subtree on its own (root -> alerts -> router + channels) against the local fake services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from alerting.grouping import GroupTimers
from bot.alerts import alerts_spec
from devnet.fake_services import FakeServices, FakeSmtp
from protocol.config import load_config
from supervision import Handle, start_tree, stop_tree, supervisor_spec

ROUTER = Handle("/alerts/router")


@pytest.fixture
def services() -> Iterator[FakeServices]:
    with FakeServices() as f:
        yield f


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as s:
        yield s


def channel_env(f: FakeServices, smtp: FakeSmtp | None, data_dir: Path) -> dict[str, str]:
    env = {
        "DATA_DIR": str(data_dir),
        "ENABLE_DISCORD_ALERTS": "true", "DISCORD_WEBHOOK_URL": f.discord_url,
        "ENABLE_TELEGRAM_ALERTS": "true", "TELEGRAM_BOT_TOKEN": f.telegram_token, "TELEGRAM_CHAT_ID": "777",
        "TELEGRAM_API_BASE": f.base,
        "ENABLE_SLACK_ALERTS": "true", "SLACK_WEBHOOK_URL": f.slack_url,
        "ENABLE_SMS_ALERTS": "true", "TWILIO_ACCOUNT_SID": f.twilio_sid, "TWILIO_AUTH_TOKEN": f.twilio_token,
        "TWILIO_FROM": "+15550000000", "TWILIO_TO": "+15551111111", "TWILIO_API_BASE": f.base,
    }
    if smtp is not None:
        env.update({"ENABLE_EMAIL_ALERTS": "true", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                    "SMTP_USERNAME": smtp.user, "SMTP_PASSWORD": smtp.password, "SMTP_CA_FILE": smtp.cert_file,
                    "ALERT_EMAIL_FROM": "bot@example.org", "ALERT_EMAIL_TO": "ops@example.org"})
    return env


@dataclass
class AlertsRun:
    env: dict[str, str]

    def start(self, **overrides: Any) -> None:
        config = load_config(self.env)
        overrides.setdefault("timers", GroupTimers(group_wait_s=0.0, group_interval_s=0.0, repeat_interval_s=3600))
        start_tree(supervisor_spec("root", [alerts_spec(config, **overrides)]))

    def stop(self) -> None:
        stop_tree(10)


@pytest.fixture
def alerts(services: FakeServices, smtp: FakeSmtp, tmp_path: Path) -> Iterator[AlertsRun]:
    run = AlertsRun(channel_env(services, smtp, tmp_path))
    yield run
    run.stop()


def report() -> Any:
    return msgspec.to_builtins(ROUTER.ask(__import__("protocol.alerts", fromlist=["GetAlerts"]).GetAlerts(limit=500)))
