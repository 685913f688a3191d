"""One anvil (automine) for the module and a fresh fault proxy in front of it per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy


@pytest.fixture(scope="package")
def anvil() -> Iterator[Anvil]:
    with Anvil(block_time_s=None) as node:
        yield node


@pytest.fixture
def proxy(anvil: Anvil) -> Iterator[FaultProxy]:
    with FaultProxy(anvil.http_url, name="test", seed=7) as p:
        yield p
