"""What every test gets: the process's audit trail, in the test's own temporary directory.

The bot opens its trail at start (bot.app); actors that audit (the risk book, the executor, the
console's state-changing commands) append through persistence.audit_trail.current(), so a test that
runs them needs one. `audit_dir` is where it lives, for tests that read it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persistence import audit_trail


@pytest.fixture
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


@pytest.fixture(autouse=True)
def _process_audit_trail(audit_dir: Path) -> Iterator[audit_trail.AuditTrail]:
    trail = audit_trail.AuditTrail(audit_dir)
    previous = audit_trail.install(trail)
    try:
        yield trail
    finally:
        audit_trail.install(previous)
        trail.close()
