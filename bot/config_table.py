"""The README's configuration table, generated from protocol/config.py: `python run.py config-table`.

Each row is one `Setting` of `protocol.config.SETTINGS`: its environment variable, its TOML key, its
default (read from the config Structs, so it cannot drift), what it means and what it accepts. The
meaning is the one-line comment on the Struct field (protocol/config.py, protocol/risk.py,
protocol/monitoring.py) or, where a field has none, `MEANINGS` below; a setting with neither shows
what it accepts. The RPC endpoint variables (RPC_URL_<NAME>, ...) are not in SETTINGS and get the
rows in ENDPOINT_ROWS.

    python run.py config-table            # print the Markdown table
    python run.py config-table --write    # replace the table between the README's markers
    python run.py config-table --check    # exit 1 if the README's table differs (what the test checks)
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import msgspec

from protocol import config as cfg
from protocol.monitoring import Retention, Rotation

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- config-table:begin (python run.py config-table --write) -->", "<!-- config-table:end -->"

#: Meanings for fields that carry no comment in their Struct.
MEANINGS = {
    "RPC_CONSENSUS_SAMPLE_RATE": "share of reads cross-checked against the other endpoints to catch a lying one "
                                 "(needs 3 endpoints)",
    "MAX_CONSECUTIVE_LOSSES": "this many losing trades in a row fire the emergency stop",
    "PRIVATE_KEY": "the signing key for live trading (never logged or shown)",
    "TELEGRAM_API_BASE": "the Telegram Bot API, or a self-hosted Bot API server",
    "ALERT_GROUP_WAIT": "wait this long to group a new alert with others (Alertmanager's default; critical alerts do "
                        "not wait)",
    "LOG_DIR": "where the JSON log files go (unset: <DATA_DIR>/logs)",
    "AUDIT_DIR": "where the audit trail's segments go (unset: <DATA_DIR>/audit)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "also export the traces over OTLP/HTTP to this collector (needs `.[otlp]`)",
    "APPRISE_URLS": "send alerts to each apprise URL (json://, ntfys://, ...); a bad one stops the bot at start",
    "CHAIN_ID": "the chain transactions may be signed for (required for live mode; paper mode takes the node's)",
    "DAILY_WINDOW_TZ": "the time zone whose midnight starts the risk book's daily window",
    "ENABLE_DISCORD_ALERTS": "send alerts to a Discord webhook",
    "DISCORD_WEBHOOK_URL": "the Discord webhook",
    "ENABLE_TELEGRAM_ALERTS": "send alerts with a Telegram bot",
    "TELEGRAM_BOT_TOKEN": "the Telegram bot's token",
    "TELEGRAM_CHAT_ID": "the chat the Telegram bot writes to",
    "ENABLE_SLACK_ALERTS": "send alerts to a Slack incoming webhook",
    "SLACK_WEBHOOK_URL": "the Slack webhook",
    "ENABLE_EMAIL_ALERTS": "send alerts by email (SMTP)",
    "SMTP_HOST": "the SMTP server",
    "SMTP_PORT": "the SMTP server's port",
    "SMTP_USERNAME": "the SMTP login (none: no authentication)",
    "SMTP_PASSWORD": "the SMTP password",
    "SMTP_STARTTLS": "upgrade the SMTP connection with STARTTLS",
    "ALERT_EMAIL_FROM": "the alert emails' sender",
    "ALERT_EMAIL_TO": "the alert emails' recipients",
    "ENABLE_SMS_ALERTS": "send critical alerts by SMS (Twilio)",
    "TWILIO_ACCOUNT_SID": "the Twilio account",
    "TWILIO_AUTH_TOKEN": "the Twilio auth token",
    "TWILIO_FROM": "the SMS sender number",
    "ALERT_SMS_TO": "the SMS recipients",
    "TWILIO_API_BASE": "the Twilio API (a local server in tests)",
    "ALERT_GROUP_INTERVAL": "wait before notifying about new alerts in a group already notified",
    "ALERT_REPEAT_INTERVAL": "re-notify an unchanged firing group after this long",
    "ENABLE_PROMETHEUS": "serve /metrics and /health",
    "PROMETHEUS_HOST": "the metrics endpoint's address (loopback by default)",
    "PROMETHEUS_PORT": "the metrics endpoint's port",
    "LOG_LEVEL": "the lowest level logged",
    "LOG_ROTATION": "when a log file is rotated",
    "LOG_RETENTION": "how many rotated log files, or how old, are kept",
    "LOG_COMPRESSION": "how rotated log files are compressed",
    "AUDIT_RETENTION": "whole audit segments older than this are deleted",
    "AUDIT_SEGMENT": "a new audit segment is started this often",
    "TRACING": "keep one trace per opportunity (console `trace`, `traces`)",
    "TRACE_STORE_SIZE": "how many traces are kept in memory",
}

#: Endpoints are named in the variable, so they are not Settings; their rows are fixed here.
ENDPOINT_ROWS = (
    ("`RPC_URL_<NAME>` (PRIMARY, SECONDARY, TERTIARY or any name)", "`[[network.endpoints]]` `name`, `url`",
     "none: the devnet", "an HTTP JSON-RPC endpoint; none at all runs the embedded devnet", "an http(s) URL"),
    ("`RPC_URLS_EXTRA`", "-", "none", "more endpoints, named extra1, extra2, ...", "a comma-separated list of URLs"),
    ("`WS_URL_<NAME>`", "`ws_url`", "none", "the endpoint's WebSocket (newHeads, logs)", "a ws(s) URL"),
    ("`RPC_REGION_<NAME>`", "`region`", "none", "the endpoint's region label", "a label such as eu-west"),
    ("`ARBITER_CONFIG`", "-", "none", "the TOML file (or `run.py --config FILE`)", "a path"),
)

#: Units named by a field's suffix, shown with its default.
UNITS = (("_ms", " ms"), ("_mb", " MB"), ("_pct", " %"), ("cooldown_period", " ms"))

_SECTIONS: dict[str, type] = {"": cfg.Config, **cfg._SECTIONS}  # the loader's own table
_FIELD = re.compile(r"^\s+(\w+):[^#]*#\s*(.+?)\s*$")


def field_comments(cls: type) -> dict[str, str]:
    """The one-line comment after each field of a Struct class, from its source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2) for line in source.splitlines() if (m := _FIELD.match(line))}


def _seconds(value: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if value >= size and value % size == 0:
            n = int(value // size)
            return f"{n} {unit[:-1] if n == 1 else unit}"
    return f"{value:g} s"


def default_text(setting: cfg.Setting, value: Any) -> str:
    if value is None or value == () or value == "":
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Rotation):
        parts = [f"{value.max_bytes // 1024**2} MB" if value.max_bytes else "",
                 _seconds(value.every_s) if value.every_s else ""]
        return ", ".join(p for p in parts if p)
    if isinstance(value, Retention):
        return f"{value.count} files" if value.count is not None else _seconds(value.max_age_s or 0)
    if isinstance(value, float) and setting.key.endswith("_s"):
        return _seconds(value)
    if isinstance(value, float | int):
        number = f"{value:g}" if isinstance(value, float) else str(value)
        unit = next((u for suffix, u in UNITS if setting.key.endswith(suffix)), "")
        return f"{number}{unit}"
    return str(msgspec.to_builtins(value))


def rows() -> list[tuple[str, str, str, str, str]]:
    out = list(ENDPOINT_ROWS)
    comments = {section: field_comments(cls) for section, cls in _SECTIONS.items()}
    for s in cfg.SETTINGS:
        cls = _SECTIONS[s.section]
        value = getattr(cls(), s.key)
        meaning = MEANINGS.get(s.env) or comments[s.section].get(s.key) or s.expected
        key = f"`{s.section}.{s.key}`" if s.section else f"`{s.key}`"
        out.append((f"`{s.env}`", key, default_text(s, value), meaning.replace("|", "/"), s.expected.replace("|", "/")))
    return out


def table() -> str:
    lines = ["| variable | TOML key | default | meaning | accepts |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    return "\n".join(lines)


def readme_table(text: str) -> str | None:
    """The table between the README's markers (None when the markers are missing)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start + len(BEGIN):end].strip("\n")


def write_readme(path: Path = README) -> bool:
    """Replace the README's table with the generated one; True if it changed."""
    text = path.read_text(encoding="utf-8")
    old = readme_table(text)
    if old is None:
        raise SystemExit(f"config-table: {path} has no {BEGIN!r} ... {END!r} markers")
    new = table()
    if old == new:
        return False
    start, end = text.find(BEGIN) + len(BEGIN), text.find(END)
    path.write_text(text[:start] + "\n" + new + "\n" + text[end:], encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py config-table", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="replace the table in README.md")
    group.add_argument("--check", action="store_true", help="exit 1 if README.md's table is not the generated one")
    args = parser.parse_args(argv)
    if args.write:
        print("README.md: table " + ("updated" if write_readme() else "already up to date"))
        return 0
    if args.check:
        if readme_table(README.read_text(encoding="utf-8")) != table():
            print("README.md's configuration table is stale: run `python run.py config-table --write`",
                  file=sys.stderr)
            return 1
        return 0
    print(table())
    return 0
