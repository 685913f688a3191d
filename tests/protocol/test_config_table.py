"""The README's configuration table is the one generated from protocol/config.py: it cannot drift."""

from __future__ import annotations

import subprocess
import sys

from bot import config_table
from protocol.config import SETTINGS
from tests.app.conftest import REPO


def test_the_readme_table_equals_the_generated_one() -> None:
    shown = config_table.readme_table(config_table.README.read_text(encoding="utf-8"))
    assert shown is not None, "README.md lost its config-table markers"
    assert shown == config_table.table(), "stale: run `python run.py config-table --write`"


def test_every_setting_has_one_row_with_its_real_default() -> None:
    rows = config_table.rows()
    variables = [r[0] for r in rows]
    for setting in SETTINGS:
        assert variables.count(f"`{setting.env}`") == 1, setting.env
    by_env = {r[0].strip("`"): r for r in rows}
    assert by_env["MAX_DRAWDOWN"][1:3] == ("`risk.max_drawdown`", "0.2")
    assert by_env["ENABLE_RISK_MANAGEMENT"][1:3] == ("`manager.enable_risk_management`", "true")
    assert by_env["LOG_ROTATION"][2] == "100 MB, 1 day" and by_env["AUDIT_RETENTION"][2] == "30 days"
    assert all(r[3] for r in rows), "every row says what the setting means"


def test_the_command_checks_and_prints() -> None:
    check = subprocess.run([sys.executable, "run.py", "config-table", "--check"], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    printed = subprocess.run([sys.executable, "run.py", "config-table"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert printed.returncode == 0 and printed.stdout.strip() == config_table.table()


def test_a_stale_table_is_named(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{config_table.BEGIN}\n| old |\n{config_table.END}\nrest\n", encoding="utf-8")
    assert config_table.write_readme(readme) is True
    text = readme.read_text(encoding="utf-8")
    assert config_table.readme_table(text) == config_table.table() and text.endswith("rest\n")
    assert config_table.write_readme(readme) is False
