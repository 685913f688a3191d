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
