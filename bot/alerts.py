"""The alerts supervisor of ARCHITECTURE.md, built from config: the router and one actor per channel.

The log channel is always on (and the only one on the devnet by default). Each `ENABLE_*_ALERTS=true`
adds its channel, and `APPRISE_URLS` (one or more apprise URLs) the apprise one; an APPRISE_URLS entry
apprise cannot use or a bad rule stops the bot at start with one config error line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protocol.alerts import ChannelKind
from protocol.config import AlertsConfig, Config
from supervision import ChildSpec, Restart, RestartStrategy, supervisor_spec

#: (rate per second, burst) per channel, from each service's published limits (REFERENCE.md), kept below them.
DEFAULT_BUCKETS: dict[ChannelKind, tuple[float, float]] = {
    ChannelKind.DISCORD: (1.0, 5.0),  # a webhook allows about 5 requests per 2 s
    ChannelKind.TELEGRAM: (1.0, 3.0),  # about 1 message per second to one chat
    ChannelKind.SLACK: (1.0, 3.0),  # about 1 message per second per webhook
    ChannelKind.EMAIL: (0.2, 5.0),  # an inbox, not a pager: one message per 5 s after a burst of 5
    ChannelKind.SMS: (0.1, 3.0),  # paid per segment: one per 10 s after a burst of 3
    ChannelKind.APPRISE: (1.0, 3.0),  # unknown services behind it: as careful as the strictest webhook
}
#: A Telegram group takes at most 20 messages a minute (group chat ids are negative).
TELEGRAM_GROUP_BUCKET = (20 / 60, 3.0)


def alerts_config_problem(cfg: AlertsConfig) -> str | None:
    """The one config error line for alert settings that cannot run, or None."""
    if cfg.apprise_urls is not None:
        from adapters.alert_apprise import apprise_problem

        problem = apprise_problem(cfg.apprise_urls)
        if problem is not None:
            return f"config error: {problem}"
    from actors.alert_sources import KNOWN_METRICS
    from alerting.routing import parse_routes
    from alerting.rules import parse_rules

    try:
        parse_rules(list(cfg.rules), KNOWN_METRICS)
        parse_routes(cfg.routes, configured_channels(cfg))
    except ValueError as exc:  # RuleError is one
        return f"config error: {exc}"
    return None


def configured_channels(cfg: AlertsConfig) -> tuple[ChannelKind, ...]:
    flags = ((cfg.discord_enabled, ChannelKind.DISCORD), (cfg.telegram_enabled, ChannelKind.TELEGRAM),
             (cfg.slack_enabled, ChannelKind.SLACK), (cfg.email_enabled, ChannelKind.EMAIL),
             (cfg.sms_enabled, ChannelKind.SMS), (cfg.apprise_urls is not None, ChannelKind.APPRISE))
    return (ChannelKind.LOG, *(kind for on, kind in flags if on))


def build_service(kind: ChannelKind, cfg: AlertsConfig) -> Any:
    from adapters import alert_services as s

    match kind:
        case ChannelKind.LOG:
            return s.LogService()
        case ChannelKind.DISCORD:
            assert cfg.discord_webhook_url is not None
            return s.DiscordService(cfg.discord_webhook_url)
        case ChannelKind.TELEGRAM:
            assert cfg.telegram_bot_token is not None and cfg.telegram_chat_id is not None
            return s.TelegramService(cfg.telegram_bot_token, cfg.telegram_chat_id, cfg.telegram_api_base)
        case ChannelKind.SLACK:
            assert cfg.slack_webhook_url is not None
            return s.SlackService(cfg.slack_webhook_url)
        case ChannelKind.EMAIL:
            assert cfg.smtp_host is not None and cfg.email_from is not None
            return s.EmailService(cfg.smtp_host, cfg.smtp_port, cfg.email_from, cfg.email_to,
                                  username=cfg.smtp_username, password=cfg.smtp_password, starttls=cfg.smtp_starttls,
                                  implicit_tls=cfg.smtp_implicit_tls, ca_file=cfg.smtp_ca_file)
        case ChannelKind.SMS:
            assert cfg.twilio_account_sid is not None and cfg.twilio_auth_token is not None
            assert cfg.twilio_from is not None
            return s.TwilioService(cfg.twilio_account_sid, cfg.twilio_auth_token, cfg.twilio_from, cfg.sms_to,
                                   cfg.twilio_api_base)
        case ChannelKind.APPRISE:
            from adapters.alert_apprise import AppriseService

            assert cfg.apprise_urls is not None
            return AppriseService(cfg.apprise_urls)
    raise ValueError(f"no alert channel {kind}")


def router_settings(config: Config, **overrides: Any) -> Any:
    from actors.alert_router import RouterSettings
    from actors.alert_sources import KNOWN_METRICS
    from alerting.grouping import GroupTimers
    from alerting.routing import parse_routes
    from alerting.rules import parse_rules

    cfg = config.alerts
    channels = configured_channels(cfg)
    buckets = {k: v for k, v in DEFAULT_BUCKETS.items() if k in channels}
    if ChannelKind.TELEGRAM in buckets and (cfg.telegram_chat_id or "").startswith("-"):
        buckets[ChannelKind.TELEGRAM] = TELEGRAM_GROUP_BUCKET
    data_dir = Path(config.storage.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "outbox_path": str(data_dir / "alerts-outbox.sqlite3"),
        "channels": channels,
        "routes": parse_routes(cfg.routes, channels),
        "buckets": buckets,
        "dedup_window_s": cfg.dedup_window_s,
        "timers": GroupTimers(group_wait_s=cfg.group_wait_s, group_interval_s=cfg.group_interval_s,
                              repeat_interval_s=cfg.repeat_interval_s),
        "escalate_after_s": cfg.escalate_after_s,
        "rules": parse_rules(list(cfg.rules), KNOWN_METRICS),
    }
    values.update(overrides)
    return RouterSettings(**values)


def alerts_spec(config: Config, services: dict[ChannelKind, Any] | None = None, **overrides: Any) -> ChildSpec:
    """alerts (one_for_one): router first (channels tell it when they start), then channel:<kind> each."""
    from actors.alert_channel import AlertChannel
    from actors.alert_router import AlertRouter

    settings = router_settings(config, **overrides)
    services = services or {kind: build_service(kind, config.alerts) for kind in settings.channels}
    children = [ChildSpec("router", AlertRouter, kwargs={"settings": settings}, restart=Restart.PERMANENT)]
    children += [ChildSpec(f"channel:{kind.value}", AlertChannel, kwargs={"service": services[kind]})
                 for kind in settings.channels]
    return supervisor_spec("alerts", children, strategy=RestartStrategy.ONE_FOR_ONE)
