"""Loading settings: defaults, TOML, environment precedence, and one-line errors for bad values."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.config import DEVNET_CHAIN_ID, SETTINGS, Config, ConfigError, Setting, config_summary, load_config
from protocol.secrets import Secret, secret_enc_hook

ONE_LINE = re.compile(r"^config error: [^\n]+; expected [^\n]+$")
KEY = "0x" + "ab" * 32


def write_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "arbiter.toml"
    path.write_text(text)
    return str(path)


def test_no_configuration_means_devnet_with_the_issue_risk_defaults() -> None:
    cfg = load_config({})
    assert cfg.devnet and cfg.network.endpoints == () and cfg.network.chain_id == DEVNET_CHAIN_ID
    r = cfg.risk
    assert (r.max_daily_loss, r.max_trade_amount, r.max_position_size, r.max_drawdown) == (1000, 1000, 0.1, 0.2)
    assert (r.emergency_stop_loss, r.max_consecutive_losses, r.cooldown_period) == (0.05, 5, 300_000)
    assert not cfg.execution.live_mode and cfg.metrics.prometheus_host == "127.0.0.1"


def test_environment_overrides_toml_which_overrides_defaults(tmp_path: Path) -> None:
    path = write_toml(tmp_path, """
log_level = "debug"
[risk]
max_drawdown = 0.3
max_daily_loss = 250
[[network.endpoints]]
name = "primary"
url = "https://toml.example/rpc"
region = "eu"
[[network.endpoints]]
name = "backup"
url = "http://127.0.0.1:8545"
""")
    cfg = load_config({"MAX_DRAWDOWN": "0.15", "RPC_URL_PRIMARY": "https://env.example/rpc",
                       "WS_URL_PRIMARY": "wss://env.example/ws", "CHAIN_ID": "1"}, toml_path=path)
    assert cfg.risk.max_drawdown == 0.15 and cfg.risk.max_daily_loss == 250.0 and cfg.log_level == "DEBUG"
    primary, backup = cfg.network.endpoints
    assert primary.name == "primary" and primary.url.reveal() == "https://env.example/rpc"
    assert primary.region == "eu" and primary.ws_url is not None  # merged by name: the env wins field by field
    assert backup.name == "backup" and not cfg.devnet and cfg.network.chain_id == 1


def test_toml_path_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[risk]\nmax_consecutive_losses = 9\n")
    assert load_config({"ARBITER_CONFIG": path}).risk.max_consecutive_losses == 9


def test_endpoints_from_names_and_extra_list_in_a_stable_order() -> None:
    cfg = load_config({
        "RPC_URL_TERTIARY": "http://c", "RPC_URL_PRIMARY": "http://a", "RPC_URL_ZULU": "http://z",
        "RPC_URL_SECONDARY": "http://b", "RPC_URLS_EXTRA": "http://e1, http://e2", "RPC_REGION_ZULU": "us",
        "RPC_URL_EMPTY": "",
    })
    assert [e.name for e in cfg.network.endpoints] == ["primary", "secondary", "tertiary", "zulu", "extra1",
                                                       "extra2"]
    assert cfg.network.endpoints[3].region == "us" and cfg.network.chain_id is None


def test_the_example_message_from_the_issue() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"MAX_DRAWDOWN": "abc"})
    assert str(err.value) == "config error: MAX_DRAWDOWN='abc' is not a number; expected a fraction between 0 and 1"


BAD = "@@bad value@@"
REJECTING = [s for s in SETTINGS if s.env not in {
    "TELEGRAM_CHAT_ID", "SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD", "TELEGRAM_BOT_TOKEN", "ALERT_EMAIL_FROM",
    "ALERT_EMAIL_TO", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "ALERT_SMS_TO", "DATA_DIR",
    "PROMETHEUS_HOST", "SMTP_CA_FILE", "APPRISE_URLS",  # free text (a path; any URL list: refused at start)
    "LOG_DIR", "AUDIT_DIR",  # any path parses; whether it is writable is checked at start
}]


@pytest.mark.parametrize("setting", REJECTING, ids=lambda s: s.env)
def test_every_bad_value_is_one_line_naming_the_setting_and_what_is_expected(setting: Setting) -> None:
    env = setting.env
    with pytest.raises(ConfigError) as err:
        load_config({env: BAD})
    message = str(err.value)
    assert ONE_LINE.match(message), message
    assert message.startswith(f"config error: {env}=")
    assert (BAD not in message) if setting.secret else (repr(BAD) in message)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_toml_values_of_the_wrong_type_are_named_by_their_toml_key(tmp_path: Path, setting: Setting) -> None:
    section, key = setting.section, setting.key
    body = f"{key} = [[1]]\n" if not section else f"[{section}]\n{key} = [[1]]\n"
    with pytest.raises(ConfigError) as err:
        load_config({}, toml_path=write_toml(tmp_path, body))
    dotted = f"{section}.{key}" if section else key
    assert str(err.value).startswith(f"config error: {dotted}=") and "(in arbiter.toml)" in str(err.value)
    assert ONE_LINE.match(str(err.value))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[risk]\nmax_drawdwn = 0.1\n",
         "unknown key 'max_drawdwn' in [risk] of arbiter.toml; did you mean 'max_drawdown'?"),
        ("[rsik]\n", "unknown key 'rsik' in arbiter.toml; did you mean 'risk'?"),
        ("[[network.endpoints]]\nname='a'\nurl='http://x'\nregoin='eu'\n", "did you mean 'region'?"),
        ("[[network.endpoints]]\nname='a'\n", "lacks url"),
        ("risk = 3\n", "[risk] in arbiter.toml is not a table"),
        ("[risk\n", "is not valid TOML"),
    ],
)
def test_toml_structure_errors(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as err:
        load_config({}, toml_path=write_toml(tmp_path, body))
    assert "\n" not in str(err.value)


def test_missing_toml_file_is_named() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, toml_path="/nonexistent/arbiter.toml")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ENABLE_DISCORD_ALERTS": "true"}, "ENABLE_DISCORD_ALERTS=true but DISCORD_WEBHOOK_URL is not set"),
        ({"ENABLE_TELEGRAM_ALERTS": "1", "TELEGRAM_BOT_TOKEN": "123:abc"}, "TELEGRAM_CHAT_ID is not set"),
        ({"LIVE_MODE": "yes", "RPC_URL_PRIMARY": "http://x", "CHAIN_ID": "1"}, "PRIVATE_KEY is not set"),
        ({"LIVE_MODE": "on", "RPC_URL_PRIMARY": "http://x", "PRIVATE_KEY": KEY}, "CHAIN_ID is not set"),
        ({"WS_URL_BACKUP": "wss://x"}, "WS_URL_BACKUP is set but RPC_URL_BACKUP is not"),
        ({"RPC_URL_PRIMARY": "wss://x"}, "RPC_URL_PRIMARY=*** has the wrong scheme"),
        ({"RPC_URLS_EXTRA": "http://ok,nope"}, "RPC_URLS_EXTRA[2]=*** is not a URL"),
        ({"CONSOLE_PORT": "70000"}, "CONSOLE_PORT='70000' is out of range"),
        ({"MAX_CONSECUTIVE_LOSSES": "2.5"}, "is not a whole number"),
    ],
)
def test_inconsistent_settings_are_refused(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(env)


def test_live_mode_on_a_real_chain_with_key_and_chain_id() -> None:
    cfg = load_config({"LIVE_MODE": "true", "RPC_URL_PRIMARY": "http://x", "PRIVATE_KEY": KEY[2:],
                       "CHAIN_ID": "8453", "RELAY_URL": "https://relay.example"})
    assert cfg.execution.live_mode and cfg.execution.private_key == Secret(KEY)  # 0x added
    assert cfg.network.chain_id == 8453


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1))
def test_any_fraction_in_range_is_accepted(value: float) -> None:
    assert load_config({"MAX_DRAWDOWN": repr(value)}).risk.max_drawdown == value


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not 0 <= f <= 1) | st.text(max_size=8))
def test_anything_else_is_refused_with_one_line(value: float | str) -> None:
    raw = value if isinstance(value, str) else repr(value)
    try:
        cfg = load_config({"MAX_DRAWDOWN": raw})
    except ConfigError as err:
        assert ONE_LINE.match(str(err)) and str(err).startswith("config error: MAX_DRAWDOWN=")
    else:  # a string that is a valid fraction ("0.5", " 1", "") is fine
        assert 0 <= cfg.risk.max_drawdown <= 1


ENV_NAMES = [s.env for s in SETTINGS] + ["RPC_URL_PRIMARY", "WS_URL_PRIMARY", "RPC_REGION_PRIMARY", "RPC_URLS_EXTRA"]
RAW_VALUES = st.sampled_from(["", "0", "1", "0.5", "-3", "abc", "true", "http://127.0.0.1:8545", "wss://x", "UTC",
                              "debug", KEY, "1e309", "nan", "65536"]) | st.text(max_size=10)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(ENV_NAMES), RAW_VALUES, max_size=6))
def test_any_environment_loads_or_fails_with_one_line_naming_a_given_setting(env: dict[str, str]) -> None:
    try:
        cfg = load_config(env)
    except ConfigError as err:
        message = str(err)
        assert ONE_LINE.match(message), message
        named = message.removeprefix("config error: ")
        assert any(named.startswith(name) or f" {name} " in named or f"{name}[" in named for name in env), message
    else:
        assert isinstance(cfg, Config)


@settings(max_examples=40, deadline=None)
@given(tail=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-", min_size=8, max_size=40))
def test_no_secret_leaks_through_repr_or_summary(tail: str) -> None:
    token = "Zq9" + tail  # a prefix no other part of the output contains
    cfg = load_config({
        "RPC_URL_PRIMARY": f"https://user:{token}@node.example/v3/{token}", "CHAIN_ID": "1",
        "ENABLE_TELEGRAM_ALERTS": "true", "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_CHAT_ID": "42",
        "PRIVATE_KEY": KEY, "REDIS_URL": f"redis://:{token}@127.0.0.1:6379/0",
        "DISCORD_WEBHOOK_URL": f"https://discord.com/api/webhooks/1/{token}",
    })
    shown = [repr(cfg), str(cfg), msgspec.json.encode(cfg, enc_hook=secret_enc_hook).decode(),
             msgspec.json.encode(config_summary(cfg)).decode()]
    for text in shown:
        assert token not in text and KEY not in text and KEY[2:] not in text
    assert cfg.alerts.telegram_bot_token is not None and cfg.alerts.telegram_bot_token.reveal() == token
    assert config_summary(cfg)["network"]["endpoints"][0]["url"] == "https://***@node.example/v3/***"


def test_config_is_frozen() -> None:
    cfg = load_config({})
    assert isinstance(cfg, Config)
    with pytest.raises(AttributeError):
        cfg.log_level = "DEBUG"  # type: ignore[misc]
