"""A burst of alerts in a child process (that a test or benchmark may SIGKILL), and the audit after it.

    python -m devnet.alerts_burst ENV_JSON COUNT      # start the alerts tree, send COUNT alerts, drain, exit

The child prints `sent <n>` once its alerts are told and `drained` once no delivery is queued or
sending. `audit` compares the outbox with what the local servers accepted: every accepted alert
must be delivered (seen by its service) or reported failed, and no service may see a message twice.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SERVICE_OF_CHANNEL = {"discord": "discord", "telegram": "telegram", "slack": "slack", "sms": "twilio",
                      "apprise": "apprise"}
_REF = re.compile(r"ref (\d+)")


def channel_env(f: Any, smtp: Any | None, data_dir: Path) -> dict[str, str]:
    """The environment that turns on every channel against the local fake services."""
    env = {
        "DATA_DIR": str(data_dir),
        "ENABLE_DISCORD_ALERTS": "true", "DISCORD_WEBHOOK_URL": f.discord_url,
        "ENABLE_TELEGRAM_ALERTS": "true", "TELEGRAM_BOT_TOKEN": f.telegram_token, "TELEGRAM_CHAT_ID": "777",
        "TELEGRAM_API_BASE": f.base,
        "ENABLE_SLACK_ALERTS": "true", "SLACK_WEBHOOK_URL": f.slack_url,
        "ENABLE_SMS_ALERTS": "true", "TWILIO_ACCOUNT_SID": f.twilio_sid, "TWILIO_AUTH_TOKEN": f.twilio_token,
        "TWILIO_FROM": "+15550000000", "ALERT_SMS_TO": "+15551111111", "TWILIO_API_BASE": f.base,
    }
    if smtp is not None:
        env.update({"ENABLE_EMAIL_ALERTS": "true", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                    "SMTP_USERNAME": smtp.user, "SMTP_PASSWORD": smtp.password, "SMTP_CA_FILE": smtp.cert_file,
                    "ALERT_EMAIL_FROM": "bot@example.org", "ALERT_EMAIL_TO": "ops@example.org"})
    return env


def audit(outbox_path: str, services: Any, smtp: Any | None) -> dict[str, int]:
    """lost, duplicated, unconfirmed (in flight at a crash, not seen by the service: reported), and totals."""
    db = sqlite3.connect(outbox_path)
    try:
        rows = db.execute("SELECT id, channel, status, lead FROM deliveries").fetchall()
        pending = db.execute("SELECT COUNT(*) FROM alerts WHERE status = 'pending'").fetchone()[0]
        accepted = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    finally:
        db.close()
    received: dict[str, set[str]] = {}
    duplicated = 0
    for channel, service in SERVICE_OF_CHANNEL.items():
        bodies = [a.body for a in services.accepted(service)]
        duplicated += sum(n - 1 for n in Counter(bodies).values())
        received[channel] = {r for a in services.accepted(service) for r in a.refs}
    if smtp is not None:
        mails = [text for _, text in smtp.messages]
        ids = [m.group(0) for text in mails for m in [re.search(r"X-Arbiter-Ref: (\d+)", text)] if m]
        duplicated += sum(n - 1 for n in Counter(ids).values())
        received["email"] = {i.split()[-1] for i in ids}
    lost = pending
    unconfirmed = delivered = failed = 0
    for _, channel, status, lead in rows:
        seen = channel not in received or (lead is not None and str(lead) in received[channel])
        if status in ("queued", "sending"):
            lost += 1
        elif status == "delivered":
            delivered += 1
            lost += 0 if seen else 1
        elif status == "unknown":
            unconfirmed += 0 if seen else 1
            delivered += 1 if seen and channel in received else 0
        else:
            failed += 1
    return {"accepted": accepted, "deliveries": len(rows), "delivered": delivered, "failed": failed,
            "unconfirmed": unconfirmed, "lost": lost, "duplicated": duplicated}


def unsettled(outbox_path: str) -> int:
    db = sqlite3.connect(outbox_path)
    try:
        rows = db.execute("SELECT COUNT(*) FROM deliveries WHERE status IN ('queued', 'sending')").fetchone()[0]
        pending = db.execute("SELECT COUNT(*) FROM alerts WHERE status = 'pending'").fetchone()[0]
        return int(rows) + int(pending)
    finally:
        db.close()


def accepted(outbox_path: str) -> int:
    db = sqlite3.connect(outbox_path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM alerts WHERE title LIKE 'burst alert %'").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


def main(argv: list[str]) -> int:
    env, count = json.loads(argv[0]), int(argv[1])
    from alerting.grouping import GroupTimers
    from bot.alerts import alerts_spec, router_settings
    from bot.logging import setup_logging
    from protocol.alerts import AlertType, Priority, SendAlert
    from protocol.config import load_config
    from supervision import Handle, start_tree, stop_tree, supervisor_spec

    config = load_config(env)
    setup_logging("ERROR")
    timers = GroupTimers(group_wait_s=0.0, group_interval_s=0.0, repeat_interval_s=3600)
    unlimited: dict[str, Any] = {"buckets": {}, "global_bucket": None} if env.get("BURST_UNLIMITED") else {}
    start_tree(supervisor_spec("root", [alerts_spec(config, timers=timers, **unlimited)]))
    outbox = router_settings(config).outbox_path
    router = Handle("/alerts/router")
    priorities = (Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW)
    for i in range(count):
        router.tell(SendAlert(type=AlertType.TRADE, title=f"burst alert {i}", key=f"burst-{i}",
                              priority=priorities[i % 4], data={"i": i}))
    print(f"sent {count}", flush=True)
    # The router's start reports the deliveries a crash left in flight in the same commit that marks them
    # unknown, before it takes any alert: once the burst is in the outbox, so is that report.
    deadline = time.monotonic() + 300
    while accepted(outbox) < count and time.monotonic() < deadline:  # the router has them all
        time.sleep(0.02)
    while unsettled(outbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("drained", flush=True)
    stop_tree(10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
