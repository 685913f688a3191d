"""The devnet for other areas' tests: one deployed world per test session, reset between tests.

In a conftest:

    from tests.devnet_fixtures import devnet, isolated_devnet  # noqa: F401  (registers the fixtures)

    def test_reads_a_pool(devnet):              # session-scoped Devnet, automine
        pool = devnet.world.pool("uniswap", "WETH", "USDC")

    def test_trades(isolated_devnet):           # same node; chain changes undone after the test
        ...

or without pytest fixtures: `with devnet_world() as d: ...` (devnet.session). Starting anvil and
deploying takes about half a second; a session fixture pays it once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devnet.session import Devnet, devnet_world


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    with devnet_world() as d:
        yield d


@pytest.fixture
def isolated_devnet(devnet: Devnet) -> Iterator[Devnet]:
    with devnet.isolated() as d:
        yield d
