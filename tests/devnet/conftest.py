"""Fixtures of the devnet's own tests: the shared ones from devnet.testing, plus process helpers."""

from __future__ import annotations

import psutil
import pytest

from tests.devnet_fixtures import devnet, isolated_devnet  # noqa: F401  (registers the fixtures)


def anvil_children() -> list[psutil.Process]:
    """anvil processes descended from this test process (none may outlive a test's Anvil)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "anvil" and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture
def no_leaked_anvil():
    """Fails the test if it leaves an anvil it started running (the session devnet excluded)."""
    before = {p.pid for p in anvil_children()}
    yield
    leaked = [p.pid for p in anvil_children() if p.pid not in before]
    assert leaked == [], f"anvil processes left running: {leaked}"
