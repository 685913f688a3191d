"""The bot's settings: frozen Structs loaded from an optional TOML file and the environment.

The environment wins over the file, the file over the defaults below. Every bad value fails the
load with one `ConfigError` line naming the setting, the value's problem and what is expected.
Credentials are `Secret`s (see protocol.secrets). With no RPC URL configured the bot runs in
devnet mode: the embedded anvil world.

Environment: RPC_URL_<NAME> (PRIMARY, SECONDARY, TERTIARY or any name), RPC_URLS_EXTRA (comma
list, named extra1, extra2, ...), WS_URL_<NAME>, RPC_REGION_<NAME>, and one variable per setting
in `SETTINGS` (e.g. MAX_DRAWDOWN). An empty variable counts as unset. ARBITER_CONFIG names the
TOML file when `load_config` is not given one. TOML sections mirror the Structs:
`[risk] max_drawdown = 0.2`, `[[network.endpoints]] name = "primary" url = "https://..."`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import msgspec
import msgspec.toml

from protocol import config_values as v
from protocol.monitoring import (
    COMPRESSIONS,
    LOG_FORMATS,
    MonitoringConfig,
    parse_duration_value,
    parse_retention,
    parse_rotation,
)
from protocol.risk import RiskLimits  # the risk book's own limits: one definition
from protocol.secrets import Secret, mask_url

DEVNET_CHAIN_ID = 31337  # anvil's default chain id


class ConfigError(Exception):
    """One line an operator can act on: `config error: <setting>=<value> <problem>; expected <what>`."""


class Endpoint(msgspec.Struct, frozen=True):
    """One RPC endpoint; `url` is a Secret because provider URLs usually embed an API key."""

    name: str
    url: Secret
    ws_url: Secret | None = None
    region: str | None = None

    @property
    def display_url(self) -> str:
        """The URL with only its credentials masked (host and path shown), for the console and `run.py config`."""
        return mask_url(self.url.reveal())


class NetworkConfig(msgspec.Struct, frozen=True):
    endpoints: tuple[Endpoint, ...] = ()
    chain_id: int | None = None  # None: paper mode takes the node's; live mode requires it
    # Share of head-dependent reads asked again of the other endpoints to catch a lying one (eRPC's consensus
    # policy). Needs 3 usable endpoints to outvote one: with fewer it does nothing. 0 turns it off.
    consensus_sample_rate: float = 0.01

    @property
    def devnet(self) -> bool:
        return not self.endpoints


class PerformanceTargets(msgspec.Struct, frozen=True):
    """The seed's performance targets; performance.slo turns each into an SLO with an error budget."""

    rpc_latency_target_ms: float = 100.0  # an RPC call slower than this spends the rpcLatency budget
    execution_time_target_ms: float = 30_000.0  # head -> trade inclusion
    success_rate_target: float = 0.95  # fraction of submitted trades that land
    memory_usage_target_mb: float = 512.0  # process RSS
    cpu_usage_target_pct: float = 70.0  # process CPU, % of one core
    uptime_target: float = 0.999  # fraction of samples in which the bot is not unhealthy


class AlertsConfig(msgspec.Struct, frozen=True):
    discord_enabled: bool = False
    discord_webhook_url: Secret | None = None
    telegram_enabled: bool = False
    telegram_bot_token: Secret | None = None
    telegram_chat_id: str | None = None
    telegram_api_base: str = "https://api.telegram.org"  # or a self-hosted Bot API server
    slack_enabled: bool = False
    slack_webhook_url: Secret | None = None
    email_enabled: bool = False
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    smtp_starttls: bool = True
    smtp_implicit_tls: bool = False  # TLS from the first byte (port 465) instead of STARTTLS
    smtp_ca_file: str | None = None  # a CA bundle for a server with a private certificate
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    sms_enabled: bool = False
    twilio_account_sid: str | None = None
    twilio_auth_token: Secret | None = None
    twilio_from: str | None = None
    sms_to: tuple[str, ...] = ()
    twilio_api_base: str = "https://api.twilio.com"
    apprise_urls: Secret | None = None  # set: the apprise channel, one request per URL (comma/space separated)
    dedup_window_s: float = 60.0  # repeats of one condition within this window are dropped
    group_wait_s: float = 30.0  # Alertmanager's defaults; critical alerts do not wait
    group_interval_s: float = 300.0
    repeat_interval_s: float = 14400.0
    escalate_after_s: float = 60.0  # a critical alert undelivered this long goes to the next channel
    rules: tuple[dict[str, Any], ...] = ()  # [[alerts.rules]] tables, parsed and validated at start
    routes: tuple[dict[str, Any], ...] = ()  # [[alerts.routes]] tables: which alerts a channel hears (see routing)


class StorageConfig(msgspec.Struct, frozen=True):
    data_dir: str = "var"  # risk book state, console token, audit trail
    redis_url: Secret | None = None  # shared risk book backend when set


class MetricsConfig(msgspec.Struct, frozen=True):
    prometheus_enabled: bool = False
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9464


class ConsoleConfig(msgspec.Struct, frozen=True):
    port: int = 0  # 0 picks a free port; the chosen one is written to <data_dir>/console.json


class StatusPageConfig(msgspec.Struct, frozen=True):
    """The live status page (statuspage/): served by the bot, behind the console's token."""

    enabled: bool = False  # off unless asked for: it is one more listening socket
    host: str = "127.0.0.1"  # loopback only unless allow_remote
    port: int = 8766  # 0 picks a free port; the chosen one is written to <data_dir>/status-page.json
    allow_remote: bool = False  # a non-loopback host is refused at start unless this is set


class ExecutionConfig(msgspec.Struct, frozen=True):
    live_mode: bool = False  # paper mode (sign and send nothing) unless set explicitly
    paper_trading: bool = False  # trades filled by the backtest's simulator (run.py paper); nothing sent, devnet too
    private_key: Secret | None = None
    relay_url: Secret | None = None  # private relay (Flashbots-style); public mempool when unset


class MarketConfig(msgspec.Struct, frozen=True):
    """What to watch and trade through on a real chain (the devnet deploys and knows its own)."""

    weth: str | None = None  # the wrapped native token: profits and gas are valued through it
    factories: tuple[tuple[str, str], ...] = ()  # (dex name, V2 factory address): pools found from PairCreated
    executor_address: str | None = None  # our deployed Executor contract; simulation needs it even in paper mode
    numeraire_token: str | None = None  # a USD stablecoin paired with WETH: trades are valued in it, live
    numeraire_decimals: int = 6


class ManagerConfig(msgspec.Struct, frozen=True):
    """Which components Phase4Manager (and run.py) build: the seed's enable flags. A disabled component is
    absent from the actor tree and its API and console commands answer with an error naming the flag."""

    enable_network_optimization: bool = True  # /network: endpoints, router; without it no market either
    enable_risk_management: bool = True  # /risk-book; without it nothing trades (the market is not built)
    enable_monitoring: bool = True  # /monitor: error aggregation, audit retention (the audit trail stays)
    enable_alerting: bool = True  # /alerts: the alert router and its channels
    enable_performance_analysis: bool = True  # /sampler: measurements, SLOs, grade
    auto_start: bool = False  # Phase4Manager(config) starts the bot in its constructor


class Config(msgspec.Struct, frozen=True):
    network: NetworkConfig = NetworkConfig()
    targets: PerformanceTargets = PerformanceTargets()
    risk: RiskLimits = RiskLimits()
    alerts: AlertsConfig = AlertsConfig()
    storage: StorageConfig = StorageConfig()
    metrics: MetricsConfig = MetricsConfig()
    console: ConsoleConfig = ConsoleConfig()
    status_page: StatusPageConfig = StatusPageConfig()
    execution: ExecutionConfig = ExecutionConfig()
    market: MarketConfig = MarketConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    manager: ManagerConfig = ManagerConfig()
    log_level: str = "INFO"

    @property
    def devnet(self) -> bool:
        return self.network.devnet


class Setting(msgspec.Struct, frozen=True):
    env: str
    section: str  # "" for top-level keys
    key: str
    parse: Any  # config_values.Parser
    expected: str
    secret: bool = False


_HTTP = ("http", "https")
S = Setting
SETTINGS: tuple[Setting, ...] = (
    S("CHAIN_ID", "network", "chain_id", v.whole(1), "a positive chain id such as 1"),
    S("RPC_CONSENSUS_SAMPLE_RATE", "network", "consensus_sample_rate", v.number(0, 1),
      "a fraction between 0 and 1 of reads to cross-check (0: off)"),
    S("RPC_LATENCY_TARGET", "targets", "rpc_latency_target_ms", v.number(0, low_open=True),
      "a latency in milliseconds above 0"),
    S("EXECUTION_TIME_TARGET", "targets", "execution_time_target_ms", v.number(0, low_open=True),
      "a duration in milliseconds above 0"),
    S("SUCCESS_RATE_TARGET", "targets", "success_rate_target", v.number(0, 1, low_open=True),
      "a fraction above 0 and at most 1"),
    S("MEMORY_USAGE_TARGET", "targets", "memory_usage_target_mb", v.number(0, low_open=True),
      "a resident memory size in MB above 0"),
    S("CPU_USAGE_TARGET", "targets", "cpu_usage_target_pct", v.number(0, low_open=True),
      "a CPU share in percent of one core above 0"),
    S("UPTIME_TARGET", "targets", "uptime_target", v.number(0, 1, low_open=True), "a fraction above 0 and at most 1"),
    S("MAX_DAILY_LOSS", "risk", "max_daily_loss", v.number(0, low_open=True), "an amount above 0"),
    S("MAX_TRADE_AMOUNT", "risk", "max_trade_amount", v.number(0, low_open=True), "an amount above 0"),
    S("MAX_POSITION_SIZE", "risk", "max_position_size", v.number(0, 1, low_open=True),
      "a fraction above 0 and at most 1"),
    S("MAX_DRAWDOWN", "risk", "max_drawdown", v.number(0, 1), "a fraction between 0 and 1"),
    S("EMERGENCY_STOP_LOSS", "risk", "emergency_stop_loss", v.number(0, 1), "a fraction between 0 and 1"),
    S("MAX_CONSECUTIVE_LOSSES", "risk", "max_consecutive_losses", v.whole(1), "a whole number of at least 1"),
    S("COOLDOWN_PERIOD", "risk", "cooldown_period", v.whole(0), "a whole number of milliseconds >= 0"),
    S("DAILY_WINDOW_TZ", "risk", "daily_reset_tz", v.timezone, "an IANA time zone such as UTC"),
    S("INITIAL_CAPITAL", "risk", "initial_capital", v.number(0, low_open=True), "an amount above 0"),
    S("ENABLE_DISCORD_ALERTS", "alerts", "discord_enabled", v.boolean, "true or false"),
    S("DISCORD_WEBHOOK_URL", "alerts", "discord_webhook_url", v.url(*_HTTP), "a Discord webhook URL", True),
    S("ENABLE_TELEGRAM_ALERTS", "alerts", "telegram_enabled", v.boolean, "true or false"),
    S("TELEGRAM_BOT_TOKEN", "alerts", "telegram_bot_token", v.secret, "a Telegram bot token", True),
    S("TELEGRAM_CHAT_ID", "alerts", "telegram_chat_id", v.text, "a Telegram chat id"),
    S("TELEGRAM_API_BASE", "alerts", "telegram_api_base", v.plain_url(*_HTTP), "an http(s) URL"),
    S("ENABLE_SLACK_ALERTS", "alerts", "slack_enabled", v.boolean, "true or false"),
    S("SLACK_WEBHOOK_URL", "alerts", "slack_webhook_url", v.url(*_HTTP), "a Slack webhook URL", True),
    S("ENABLE_EMAIL_ALERTS", "alerts", "email_enabled", v.boolean, "true or false"),
    S("SMTP_HOST", "alerts", "smtp_host", v.text, "an SMTP server host name"),
    S("SMTP_PORT", "alerts", "smtp_port", v.whole(1, 65535), "a port between 1 and 65535"),
    S("SMTP_USERNAME", "alerts", "smtp_username", v.text, "an SMTP user name"),
    S("SMTP_PASSWORD", "alerts", "smtp_password", v.secret, "an SMTP password", True),
    S("SMTP_STARTTLS", "alerts", "smtp_starttls", v.boolean, "true or false"),
    S("SMTP_IMPLICIT_TLS", "alerts", "smtp_implicit_tls", v.boolean, "true or false"),
    S("SMTP_CA_FILE", "alerts", "smtp_ca_file", v.text, "a path to a CA bundle (PEM)"),
    S("ALERT_EMAIL_FROM", "alerts", "email_from", v.text, "a sender address"),
    S("ALERT_EMAIL_TO", "alerts", "email_to", v.string_list, "a comma-separated list of addresses"),
    S("ENABLE_SMS_ALERTS", "alerts", "sms_enabled", v.boolean, "true or false"),
    S("TWILIO_ACCOUNT_SID", "alerts", "twilio_account_sid", v.text, "a Twilio account SID"),
    S("TWILIO_AUTH_TOKEN", "alerts", "twilio_auth_token", v.secret, "a Twilio auth token", True),
    S("TWILIO_FROM", "alerts", "twilio_from", v.text, "a sender phone number"),
    S("ALERT_SMS_TO", "alerts", "sms_to", v.string_list, "a comma-separated list of phone numbers"),
    S("TWILIO_API_BASE", "alerts", "twilio_api_base", v.plain_url(*_HTTP), "an http(s) URL"),
    S("APPRISE_URLS", "alerts", "apprise_urls", v.secret, "apprise URLs separated by commas or spaces", True),
    S("ALERT_DEDUP_WINDOW", "alerts", "dedup_window_s", v.number(0), "a number of seconds >= 0"),
    S("ALERT_GROUP_WAIT", "alerts", "group_wait_s", v.number(0), "a number of seconds >= 0"),
    S("ALERT_GROUP_INTERVAL", "alerts", "group_interval_s", v.number(0), "a number of seconds >= 0"),
    S("ALERT_REPEAT_INTERVAL", "alerts", "repeat_interval_s", v.number(0, low_open=True), "a number of seconds > 0"),
    S("ALERT_ESCALATE_AFTER", "alerts", "escalate_after_s", v.number(0, low_open=True), "a number of seconds > 0"),
    S("DATA_DIR", "storage", "data_dir", v.text, "a directory path"),
    S("REDIS_URL", "storage", "redis_url", v.url("redis", "rediss", "unix"), "a redis:// URL", True),
    S("ENABLE_PROMETHEUS", "metrics", "prometheus_enabled", v.boolean, "true or false"),
    S("PROMETHEUS_HOST", "metrics", "prometheus_host", v.text, "an address to bind, 127.0.0.1 by default"),
    S("PROMETHEUS_PORT", "metrics", "prometheus_port", v.whole(0, 65535), "a port between 0 and 65535"),
    S("CONSOLE_PORT", "console", "port", v.whole(0, 65535),
      "a port between 0 and 65535 (0 picks a free one)"),
    S("ENABLE_NETWORK_OPTIMIZATION", "manager", "enable_network_optimization", v.boolean, "true or false"),
    S("ENABLE_RISK_MANAGEMENT", "manager", "enable_risk_management", v.boolean, "true or false"),
    S("ENABLE_MONITORING", "manager", "enable_monitoring", v.boolean, "true or false"),
    S("ENABLE_ALERTING", "manager", "enable_alerting", v.boolean, "true or false"),
    S("ENABLE_PERFORMANCE_ANALYSIS", "manager", "enable_performance_analysis", v.boolean, "true or false"),
    S("AUTO_START", "manager", "auto_start", v.boolean, "true or false"),
    S("STATUS_PAGE", "status_page", "enabled", v.boolean, "true or false"),
    S("STATUS_PAGE_HOST", "status_page", "host", v.adapted(lambda raw: bind_address(raw)),  # defined below
      "an IP address to bind (127.0.0.1 by default) or localhost"),
    S("STATUS_PAGE_PORT", "status_page", "port", v.whole(0, 65535), "a port between 0 and 65535 (0 picks a free one)"),
    S("STATUS_PAGE_ALLOW_REMOTE", "status_page", "allow_remote", v.boolean, "true or false"),
    S("LIVE_MODE", "execution", "live_mode", v.boolean, "true or false"),
    S("PAPER_MODE", "execution", "paper_trading", v.boolean, "true or false"),
    S("PRIVATE_KEY", "execution", "private_key", v.private_key, "0x followed by 64 hex digits", True),
    S("RELAY_URL", "execution", "relay_url", v.url(*_HTTP), "an http(s) relay URL", True),
    S("WETH_ADDRESS", "market", "weth", v.address, "the wrapped native token's 0x address"),
    S("FACTORIES", "market", "factories", v.dex_factories, "a comma-separated list of dex=0xFactoryAddress"),
    S("EXECUTOR_ADDRESS", "market", "executor_address", v.address, "the deployed Executor contract's 0x address"),
    S("NUMERAIRE_TOKEN", "market", "numeraire_token", v.address, "the 0x address of a stablecoin paired with WETH"),
    S("NUMERAIRE_DECIMALS", "market", "numeraire_decimals", v.whole(0, 36), "the numeraire token's decimals (0-36)"),
    S("LOG_LEVEL", "", "log_level", v.log_level, "one of " + ", ".join(v.LOG_LEVELS)),
    S("LOG_FORMAT", "monitoring", "log_format", v.one_of(*LOG_FORMATS), "text or json"),
    S("LOG_DIR", "monitoring", "log_dir", v.text, "a directory path"),
    S("LOG_ROTATION", "monitoring", "log_rotation", v.adapted(parse_rotation),
      "a size (100 MB), a duration (1 day) or both (100 MB, 1 day)"),
    S("LOG_RETENTION", "monitoring", "log_retention", v.adapted(parse_retention),
      "a count of rotated files (10) or an age (7 days)"),
    S("LOG_COMPRESSION", "monitoring", "log_compression", v.one_of(*COMPRESSIONS), ", ".join(COMPRESSIONS)),
    S("AUDIT_DIR", "monitoring", "audit_dir", v.text, "a directory path"),
    S("AUDIT_RETENTION", "monitoring", "audit_retention_s", v.adapted(parse_duration_value),
      "an age such as 30 days"),
    S("AUDIT_SEGMENT", "monitoring", "audit_segment_s", v.adapted(parse_duration_value),
      "a duration such as 1 day"),
    S("TRACING", "monitoring", "tracing", v.boolean, "true or false"),
    S("TRACE_STORE_SIZE", "monitoring", "trace_store_size", v.whole(1, 10_000_000),
      "a number of traces between 1 and 10000000"),
    S("OTEL_EXPORTER_OTLP_ENDPOINT", "monitoring", "otlp_endpoint", v.plain_url(*_HTTP),
      "an http(s) URL of an OTLP/HTTP collector"),
)
del S

_SECTIONS = {
    "network": NetworkConfig, "targets": PerformanceTargets, "risk": RiskLimits,
    "alerts": AlertsConfig, "storage": StorageConfig, "metrics": MetricsConfig,
    "console": ConsoleConfig, "status_page": StatusPageConfig, "execution": ExecutionConfig, "market": MarketConfig,
    "monitoring": MonitoringConfig, "manager": ManagerConfig,
}
_ENDPOINT_KEYS = ("name", "url", "ws_url", "region")


def _fail(label: str, raw: Any, problem: str, expected: str, secret: bool = False, where: str = "",
          url: bool = False) -> ConfigError:
    """The one line; a bad endpoint URL is also shown with only its credentials masked, so a typo is visible."""
    shown = "***" if secret else repr(raw)
    source = f" (in {where})" if where else ""
    if url and isinstance(raw, str):
        problem = f"{problem} (credentials masked: {mask_url(raw.strip())!r})"
    return ConfigError(f"config error: {label}={shown}{source} {problem}; expected {expected}")


def _parse(setting: Setting, raw: Any, label: str, where: str = "") -> Any:
    try:
        return setting.parse(raw)
    except v.BadValue as bad:
        raise _fail(label, raw, bad.problem, setting.expected, setting.secret, where) from None


def _unknown(key: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(sorted(known))}"
    return ConfigError(f"config error: unknown key {key!r} in {where}{hint}")


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = msgspec.toml.decode(f.read())
    except FileNotFoundError:
        raise ConfigError(f"config error: config file {path!r} does not exist; "
                          "expected a TOML file") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"config error: config file {path!r} is not valid TOML ({exc}); "
                          "expected TOML with sections like [risk]") from None
    return data


def _endpoint_settings(key: str) -> tuple[Any, str, bool]:
    if key in ("url", "ws_url"):
        schemes = ("http", "https") if key == "url" else ("ws", "wss")
        return v.url(*schemes), f"a {'/'.join(schemes)} URL", True
    if key == "region":
        return v.text, "a region label such as eu-west", False
    return v.name, "a lowercase endpoint name such as primary", False


def _toml_endpoints(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigError(f"config error: network.endpoints in {where} is not a list of tables; "
                          "expected [[network.endpoints]] entries with name and url")
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(raw):
        fields: dict[str, Any] = {}
        for key, value in item.items():
            if key not in _ENDPOINT_KEYS:
                raise _unknown(key, list(_ENDPOINT_KEYS), f"network.endpoints[{index}] of {where}")
            parse, expected, secret = _endpoint_settings(key)
            label = f"network.endpoints[{index}].{key}"
            try:
                fields[key] = parse(value)
            except v.BadValue as bad:
                raise _fail(label, value, bad.problem, expected, secret, where, url=key != "region") from None
        if "name" not in fields or "url" not in fields:
            raise ConfigError(f"config error: network.endpoints[{index}] in {where} lacks "
                              f"{'name' if 'name' not in fields else 'url'}; expected both name and url")
        found[fields.pop("name")] = fields
    return found


def _env_endpoints(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    extra = env.get("RPC_URLS_EXTRA", "")
    if extra:
        parse, expected, _ = _endpoint_settings("url")
        for index, part in enumerate((p.strip() for p in extra.split(",") if p.strip()), start=1):
            try:
                found[f"extra{index}"] = {"url": parse(part)}
            except v.BadValue as bad:
                raise _fail(f"RPC_URLS_EXTRA[{index}]", part, bad.problem, expected, True, url=True) from None
    for prefix, key in (("RPC_URL_", "url"), ("WS_URL_", "ws_url"), ("RPC_REGION_", "region")):
        for var, raw in env.items():
            if not var.startswith(prefix) or not raw:
                continue
            try:
                endpoint = v.name(var[len(prefix):])
            except v.BadValue:
                raise ConfigError(f"config error: {var} has an invalid endpoint name; "
                                  f"expected {prefix}<NAME> with NAME made of letters, digits, _") from None
            parse, expected, secret = _endpoint_settings(key)
            try:
                found.setdefault(endpoint, {})[key] = parse(raw)
            except v.BadValue as bad:
                raise _fail(var, raw, bad.problem, expected, secret, url=key != "region") from None
    return found


_ENDPOINT_ORDER = {"primary": 0, "secondary": 1, "tertiary": 2}


def _build_endpoints(
    toml_eps: dict[str, dict[str, Any]], env_eps: dict[str, dict[str, Any]]
) -> tuple[Endpoint, ...]:
    merged = {name: dict(fields) for name, fields in toml_eps.items()}
    for name, fields in env_eps.items():
        merged.setdefault(name, {}).update(fields)
    endpoints = []
    for name, fields in merged.items():
        if "url" not in fields:
            which = "WS_URL" if "ws_url" in fields else "RPC_REGION"
            upper = name.upper()
            raise ConfigError(f"config error: {which}_{upper} is set but RPC_URL_{upper} is not; "
                              f"expected an http(s) RPC URL for endpoint {name!r}")
        endpoints.append(Endpoint(name=name, **fields))
    endpoints.sort(key=lambda e: (_ENDPOINT_ORDER.get(e.name, 3), e.name.startswith("extra"), e.name))
    return tuple(endpoints)


def bind_address(raw: Any) -> str:
    """An IP address (v4 or v6) or `localhost`, as a server binds to it; ValueError names the problem."""
    text = raw.strip() if isinstance(raw, str) else ""
    if text != "localhost":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueError("is not an IP address") from None
    return text


def is_loopback(host: str) -> bool:
    """True for a loopback IP address (127.0.0.0/8, ::1) or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_consistency(cfg: Config) -> None:
    a = cfg.alerts
    required = (
        (a.discord_enabled, "ENABLE_DISCORD_ALERTS", (("DISCORD_WEBHOOK_URL", a.discord_webhook_url),)),
        (a.telegram_enabled, "ENABLE_TELEGRAM_ALERTS",
         (("TELEGRAM_BOT_TOKEN", a.telegram_bot_token), ("TELEGRAM_CHAT_ID", a.telegram_chat_id))),
        (a.slack_enabled, "ENABLE_SLACK_ALERTS", (("SLACK_WEBHOOK_URL", a.slack_webhook_url),)),
        (a.email_enabled, "ENABLE_EMAIL_ALERTS",
         (("SMTP_HOST", a.smtp_host), ("ALERT_EMAIL_FROM", a.email_from),
          ("ALERT_EMAIL_TO", a.email_to or None))),
        (a.sms_enabled, "ENABLE_SMS_ALERTS",
         (("TWILIO_ACCOUNT_SID", a.twilio_account_sid), ("TWILIO_AUTH_TOKEN", a.twilio_auth_token),
          ("TWILIO_FROM", a.twilio_from), ("ALERT_SMS_TO", a.sms_to or None))),
    )
    for enabled, flag, needs in required:
        for var, value in needs:
            if enabled and value is None:
                raise ConfigError(f"config error: {flag}=true but {var} is not set; "
                                  f"expected {var} for that channel")
    # On every chain, the devnet included: a bot asked to trade live must not quietly fall back to paper.
    if cfg.execution.live_mode and cfg.execution.private_key is None:
        raise ConfigError("config error: LIVE_MODE=true but PRIVATE_KEY is not set; "
                          "expected a signing key for live trading (or LIVE_MODE=false for paper mode)")
    if cfg.execution.paper_trading and cfg.execution.live_mode:
        raise ConfigError("config error: PAPER_MODE=true and LIVE_MODE=true; expected one of them: paper trading "
                          "sends nothing")
    if cfg.execution.paper_trading and not cfg.devnet and not cfg.market.numeraire_token:
        raise ConfigError("config error: PAPER_MODE=true but NUMERAIRE_TOKEN is not set; expected the 0x address of "
                          "a stablecoin paired with WETH, to value the paper trades")
    check_components(cfg)
    page = cfg.status_page
    if page.enabled and not page.allow_remote and not is_loopback(page.host):
        raise ConfigError(f"config error: STATUS_PAGE_HOST={page.host!r} is not a loopback address; expected "
                          "127.0.0.1 or ::1 (or STATUS_PAGE_ALLOW_REMOTE=true to serve other hosts, token still "
                          "needed)")
    if cfg.execution.live_mode and not cfg.devnet and cfg.network.chain_id is None:
        raise ConfigError("config error: LIVE_MODE=true but CHAIN_ID is not set; "
                          "expected the chain id transactions may be signed for")


def check_components(cfg: Config) -> None:
    """A component switched off must not leave a setting that needs it quietly unused."""
    m, a = cfg.manager, cfg.alerts
    if not m.enable_risk_management and cfg.execution.live_mode:
        raise ConfigError("config error: ENABLE_RISK_MANAGEMENT=false but LIVE_MODE=true; expected the risk book "
                          "for live trading (nothing trades without it), or LIVE_MODE=false")
    if not m.enable_network_optimization and cfg.network.endpoints:
        first = cfg.network.endpoints[0].name.upper()
        raise ConfigError(f"config error: ENABLE_NETWORK_OPTIMIZATION=false but RPC_URL_{first} is set; "
                          "expected no RPC URLs (nothing would read them) or ENABLE_NETWORK_OPTIMIZATION=true")
    channels = (("ENABLE_DISCORD_ALERTS", a.discord_enabled), ("ENABLE_TELEGRAM_ALERTS", a.telegram_enabled),
                ("ENABLE_SLACK_ALERTS", a.slack_enabled), ("ENABLE_EMAIL_ALERTS", a.email_enabled),
                ("ENABLE_SMS_ALERTS", a.sms_enabled))
    on = [flag for flag, enabled in channels if enabled]
    if not m.enable_alerting and (on or a.rules):
        what = f"{on[0]}=true" if on else "[[alerts.rules]] are configured"
        raise ConfigError(f"config error: ENABLE_ALERTING=false but {what}; expected no alert channel or rule "
                          "(nothing would send them) or ENABLE_ALERTING=true")


def load_config(env: Mapping[str, str] | None = None, toml_path: str | None = None) -> Config:
    """Load the settings: defaults, then the TOML file (if any), then the environment.

    `env` defaults to os.environ; `toml_path` to $ARBITER_CONFIG (no file when neither is set).
    Raises ConfigError with one line naming the first bad setting.
    """
    env = dict(os.environ if env is None else env)
    toml_path = toml_path or env.get("ARBITER_CONFIG") or None
    by_key = {(s.section, s.key): s for s in SETTINGS}
    values: dict[str, dict[str, Any]] = {section: {} for section in (*_SECTIONS, "")}
    toml_eps: dict[str, dict[str, Any]] = {}

    if toml_path:
        where = os.path.basename(toml_path)
        data = _read_toml(toml_path)
        top_keys = [*_SECTIONS, *(s.key for s in SETTINGS if not s.section)]
        for key, raw in data.items():
            if key in _SECTIONS:
                if not isinstance(raw, dict):
                    raise ConfigError(f"config error: [{key}] in {where} is not a table; "
                                      f"expected a [{key}] section")
                known = [s.key for s in SETTINGS if s.section == key]
                if key == "network":
                    known.append("endpoints")
                if key == "alerts":
                    known += ["rules", "routes"]
                for sub, sub_raw in raw.items():
                    if key == "network" and sub == "endpoints":
                        toml_eps = _toml_endpoints(sub_raw, where)
                    elif key == "alerts" and sub == "rules":
                        if not isinstance(sub_raw, list) or not all(isinstance(r, dict) for r in sub_raw):
                            raise ConfigError(f"config error: alerts.rules in {where} is not a list of tables; "
                                              "expected [[alerts.rules]] entries with name and when")
                        values["alerts"]["rules"] = tuple(sub_raw)
                    elif key == "alerts" and sub == "routes":
                        if not isinstance(sub_raw, list) or not all(isinstance(r, dict) for r in sub_raw):
                            raise ConfigError(f"config error: alerts.routes in {where} is not a list of tables; "
                                              "expected [[alerts.routes]] entries with channel and min_priority")
                        values["alerts"]["routes"] = tuple(sub_raw)
                    elif (key, sub) in by_key:
                        values[key][sub] = _parse(by_key[(key, sub)], sub_raw, f"{key}.{sub}", where)
                    else:
                        raise _unknown(sub, known, f"[{key}] of {where}")
            elif ("", key) in by_key:
                values[""][key] = _parse(by_key[("", key)], raw, key, where)
            else:
                raise _unknown(key, top_keys, where)

    for setting in SETTINGS:
        raw_env = env.get(setting.env)
        if raw_env is not None and raw_env.strip() != "":
            values[setting.section][setting.key] = _parse(setting, raw_env, setting.env)

    endpoints = _build_endpoints(toml_eps, _env_endpoints(env))
    network_values = dict(values["network"], endpoints=endpoints)
    if not endpoints and "chain_id" not in network_values:
        network_values["chain_id"] = DEVNET_CHAIN_ID
    sections: dict[str, Any] = {
        name: cls(**values[name]) for name, cls in _SECTIONS.items() if name != "network"
    }
    cfg = Config(network=NetworkConfig(**network_values), **sections, **values[""])
    _check_consistency(cfg)
    return cfg


def config_summary(cfg: Config) -> dict[str, Any]:
    """The settings as plain data with every secret masked (for the console and the start-up log)."""
    from protocol.secrets import secret_enc_hook

    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(cfg, enc_hook=secret_enc_hook))
    data["network"]["endpoints"] = [
        {"name": e.name, "url": e.display_url, "ws_url": e.ws_url and mask_url(e.ws_url.reveal()),
         "region": e.region}
        for e in cfg.network.endpoints
    ]
    # RiskLimits speaks the seed's camelCase on its own wire; the config surface is the TOML's snake_case
    data["risk"] = {name: getattr(cfg.risk, name) for name in cfg.risk.__struct_fields__}
    data["devnet"] = cfg.devnet
    return data

