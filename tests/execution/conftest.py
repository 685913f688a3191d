"""Fixtures for the execution tests: a deployed devnet per module, an RpcClient pinned to it, tree cleanup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devnet.session import Devnet, devnet_world
from rpc.client import RpcClient
from supervision import registry, stop_tree
from tests.execution.helpers import pinned_client


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    with devnet_world() as d:
        yield d


@pytest.fixture
def client(devnet: Devnet) -> RpcClient:
    return pinned_client(devnet.node.http_url, devnet.world.chain_id)


@pytest.fixture
def tree() -> Iterator[None]:
    """Stops whatever tree the test started, pass or fail."""
    yield None
    stop_tree(10.0)
    registry.clear()  # published snapshots outlive their actors: the next test must not read ours
