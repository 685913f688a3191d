"""Bad input at start: one clear line, a non-zero exit, nothing left running."""

from __future__ import annotations

import socket

from tests.app.conftest import BotRun, wait_no_leftovers


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_malformed_setting_fails_with_one_line_naming_it(bot: BotRun) -> None:
    result = bot.run(extra_env={"MAX_DRAWDOWN": "lots"})
    assert result.returncode == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: MAX_DRAWDOWN='lots'") and "expected" in lines[0]
    assert wait_no_leftovers(bot.marker) == []


def test_malformed_toml_file_fails_with_one_line(bot: BotRun, tmp_path) -> None:  # type: ignore[no-untyped-def]
    toml = tmp_path / "bot.toml"
    toml.write_text("[risk]\nmax_drawdwn = 0.3\n")
    result = bot.run("--config", str(toml))
    assert result.returncode == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and "max_drawdwn" in lines[0] and "max_drawdown" in lines[0], result.stderr


def test_missing_anvil_binary_fails_with_one_line(bot: BotRun, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = bot.run(extra_env={"ARBITER_ANVIL": str(tmp_path / "no-such-anvil")})
    assert result.returncode == 1
    last = _error_lines(result.stderr)[-1]
    assert last.startswith("arbiter: AnvilNotFound") and "no-such-anvil" in last, result.stderr
    assert sum("arbiter:" in line for line in _error_lines(result.stderr)) == 1
    assert wait_no_leftovers(bot.marker) == []


def test_busy_anvil_port_fails_with_one_line_and_leaves_nothing(bot: BotRun) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = bot.run("--anvil-port", str(port))
    assert result.returncode == 1
    last = _error_lines(result.stderr)[-1]
    assert last.startswith("arbiter: AnvilPortBusy") and str(port) in last, result.stderr
    assert wait_no_leftovers(bot.marker) == []


def test_live_mode_without_a_key_fails_config_and_run_on_the_devnet(bot: BotRun) -> None:
    for command in ("config", "run"):
        result = bot.run(command, extra_env={"LIVE_MODE": "true"})
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        lines = _error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("config error: LIVE_MODE=true but PRIVATE_KEY is not set")
    assert wait_no_leftovers(bot.marker) == []


def test_a_non_url_rpc_setting_is_shown_not_hidden(bot: BotRun) -> None:
    result = bot.run("config", extra_env={"RPC_URL_PRIMARY": "notaurl"})
    assert result.returncode == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and "RPC_URL_PRIMARY" in lines[0] and "'notaurl'" in lines[0], result.stderr


def test_the_config_command_shows_endpoint_hosts_and_masks_credentials(bot: BotRun) -> None:
    result = bot.run("config", extra_env={"RPC_URL_PRIMARY": "https://me:hunter2hunter2@rpc.example/v3/abc"})
    assert result.returncode == 0, result.stderr
    assert "https://***@rpc.example/v3/***" in result.stdout and "hunter2" not in result.stdout


def test_paper_mode_with_nothing_to_watch_says_what_is_missing_and_exits(bot: BotRun) -> None:
    weth = "0x" + "42" * 20
    result = bot.run(extra_env={"RPC_URL_PRIMARY": "http://127.0.0.1:9", "WETH_ADDRESS": weth}, timeout_s=30)
    assert result.returncode == 2, result.stderr
    lines = _error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: nothing to watch: FACTORIES, EXECUTOR_ADDRESS are not set")
    assert wait_no_leftovers(bot.marker) == []
