"""Fixtures for the supervision tests: quiet runtime logs, and a tree that is always torn down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from supervision import registry, stop_tree
from tests.supervision.kit import Control, EventLog


@pytest.fixture(autouse=True)
def quiet_runtime_logs() -> Iterator[None]:
    """Crashes are the point of these tests; their tracebacks would only slow the suite down."""
    logger.disable("supervision")
    try:
        yield
    finally:
        logger.enable("supervision")


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def control() -> Iterator[Control]:
    """Knobs shared with the test actors. At teardown: open every gate, stop the tree, join the threads."""
    ctl = Control()
    try:
        yield ctl
    finally:
        ctl.release_all()
        stop_tree(timeout_s=15.0)
        registry.clear()
        stuck = ctl.join_all(timeout=15.0)
        assert not stuck, f"actor threads left running: {stuck}"
