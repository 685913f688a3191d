"""The command registry: help for every command, usage errors as answers, handler failures named."""

from __future__ import annotations

import argparse
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.commands import duration
from console.registry import CommandRegistry
from console.render import render, render_table
from console.wire import Response
from tests.console.conftest import FakeCommands, make_fake_registry

FAKE = make_fake_registry()


def _with_other_parts_commands() -> CommandRegistry:
    """The built-ins plus every command other parts of the bot register (when their modules import)."""
    from console.commands import register_config_command
    from protocol.config import load_config

    registry = make_fake_registry().registry
    register_config_command(registry, load_config({}))
    for module, function in (("actors.risk_console", "register_risk_commands"),
                             ("rpc.commands", "register_network_commands")):
        try:
            getattr(importlib.import_module(module), function)(registry)
        except (ImportError, AttributeError):
            continue
    return registry


ALL = _with_other_parts_commands()


@pytest.mark.parametrize("name", ALL.names())
def test_every_command_has_help(name: str) -> None:
    for argv in ([name, "--help"], [name, "-h"], ["help", name]):
        answer = ALL.run(argv)
        assert answer.ok and answer.kind == "text", answer
        assert answer.body.startswith(f"usage: {name}")
        assert "show this help message" in answer.body


def test_help_lists_every_command_with_its_summary() -> None:
    answer = FAKE.registry.run(["help"])
    assert answer.ok and answer.kind == "table"
    rows = {row[0]: row[1] for row in answer.body["rows"]}
    assert set(rows) == {"echo", "table", "leak", "boom", "refuse", "wait", "tree", "inspect", "kill", "help", "quit"}
    assert rows["echo"] == "Repeat the words."


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["echo"], "echo: error: the following arguments are required: words"),
        (["echo", "a", "--times", "x"], "argument --times: invalid int value: 'x'"),
        (["nope"], "unknown command 'nope'; try `help`"),
        (["help", "nope"], "unknown command 'nope'; try `help`"),
        (["boom"], "boom failed: RuntimeError: the handler broke"),
        (["refuse"], "nothing to do here"),
    ],
)
def test_failures_are_answers_naming_what_went_wrong(argv: list[str], error: str) -> None:
    answer = FAKE.registry.run(argv, request_id=3)
    assert not answer.ok and answer.id == 3 and answer.error is not None and error in answer.error


def test_config_command_shows_settings_without_secrets() -> None:
    from console.commands import register_config_command
    from protocol.config import load_config

    key, token = "0x" + "7d" * 32, "Zq9-telegram-token-4242"
    cfg = load_config({"RPC_URL_PRIMARY": f"https://mainnet.example/v3/{token}x", "PRIVATE_KEY": key,
                       "ENABLE_TELEGRAM_ALERTS": "1", "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_CHAT_ID": "9"})
    registry = CommandRegistry()
    register_config_command(registry, cfg)
    whole = registry.run(["config"])
    assert whole.ok and whole.body["devnet"] is False and whole.body["risk"]["max_drawdown"] == 0.2
    text = repr(whole.body)
    assert token not in text and key not in text
    alerts = registry.run(["config", "alerts"])
    assert alerts.ok and alerts.body["telegram_bot_token"] == "***" and alerts.body["telegram_chat_id"] == "9"
    assert not registry.run(["config", "nope"]).ok


def test_a_plain_argparse_parser_never_exits_the_process() -> None:
    registry = CommandRegistry()
    parser = argparse.ArgumentParser(prog="anything", description="Sub-commands too.")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("one").add_argument("n", type=int)
    registry.register_command("multi", parser, lambda a: f"{a.what} {a.n}")
    assert registry.run(["multi", "one", "5"]).body == "one 5"
    bad = registry.run(["multi", "one", "five"])
    assert not bad.ok and bad.error is not None and "invalid int value" in bad.error
    assert registry.run(["multi", "one", "--help"]).body.startswith("usage: multi one")
    with pytest.raises(ValueError):
        registry.register_command("two words", argparse.ArgumentParser(), lambda a: None)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["echo", "table", "help", "kill", "-h", "--times", "--help", "x", "3", "--", "-"])
                | st.text(max_size=6), max_size=5))
def test_any_command_line_gets_an_answer_and_never_raises(argv: list[str]) -> None:
    fake: FakeCommands = make_fake_registry()
    answer = fake.registry.run(argv)
    assert isinstance(answer, Response)
    assert answer.ok or answer.error


def test_tables_align_and_show_missing_cells() -> None:
    text = render_table(["NAME", "N"], [["a", 1], ["bbb", 22], ["c", None]], title="three")
    lines = text.splitlines()
    assert lines[0] == "NAME   N" and lines[1] == "----  --" and lines[2] == "a      1"
    assert lines[3] == "bbb   22" and lines[4] == "c      -" and lines[5] == "(three)"
    assert render(Response(id=1, ok=False, error="nope")) == "error: nope"
    assert render(Response(id=1, ok=True, kind="data", body={"a": 1})) == '{\n  "a": 1\n}'


@pytest.mark.parametrize(("seconds", "shown"), [(None, None), (0.25, "0.25s"), (42.9, "42s"), (187, "3m07s"),
                                                (7500, "2h05m"), (3 * 86400 + 4 * 3600, "3d04h")])
def test_durations_read_like_an_operator_says_them(seconds: float | None, shown: str | None) -> None:
    assert duration(seconds) == shown


def test_answers_speak_snake_case_and_leave_names_alone() -> None:
    from console.registry import snake_case_keys

    body = {"overallRiskScore": 1, "limits": {"maxConsecutiveLosses": 3}, "rows": [{"inFlight": 2}],
            "WETH": 1, "0xAbCdEf": 2, "rpc:primary": 3, "/network/rpc:primary": 4, "p95Latency": 5, "already_snake": 6}
    assert snake_case_keys(body) == {
        "overall_risk_score": 1, "limits": {"max_consecutive_losses": 3}, "rows": [{"in_flight": 2}],
        "WETH": 1, "0xAbCdEf": 2, "rpc:primary": 3, "/network/rpc:primary": 4, "p95_latency": 5, "already_snake": 6}
    assert snake_case_keys(snake_case_keys(body)) == snake_case_keys(body)
