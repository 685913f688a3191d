"""The devnet for other areas' tests: one deployed world per test session, reset between tests.

In a conftest:

    from devnet.testing import devnet, isolated_devnet  # noqa: F401  (registers the fixtures)

    def test_reads_a_pool(devnet):              # session-scoped Devnet, automine
        pool = devnet.world.pool("uniswap", "WETH", "USDC")

    def test_trades(isolated_devnet):           # same node; chain changes undone after the test
        ...

or without pytest fixtures: `with devnet_world() as d: ...`. Starting anvil and deploying takes
about half a second; a session fixture pays it once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from devnet.anvil import DEFAULT_CHAIN_ID
from devnet.session import Devnet, open_devnet
from devnet.world import DEFAULT_WORLD_SPEC, WorldSpec


@contextlib.contextmanager
def devnet_world(
    *,
    block_time_s: float | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
    spec: WorldSpec = DEFAULT_WORLD_SPEC,
) -> Iterator[Devnet]:
    """anvil (automine by default: a block per transaction, no waiting) with the world deployed."""
    with open_devnet(block_time_s=block_time_s, chain_id=chain_id, spec=spec) as d:
        yield d


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    with devnet_world() as d:
        yield d


@pytest.fixture
def isolated_devnet(devnet: Devnet) -> Iterator[Devnet]:
    with devnet.isolated() as d:
        yield d
