"""A running devnet: an anvil node with the world deployed on it, as one context manager."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from loguru import logger
from web3 import Web3

from devnet.anvil import DEFAULT_BLOCK_TIME_S, DEFAULT_CHAIN_ID, Anvil
from devnet.deploy import deploy_world
from devnet.world import DEFAULT_WORLD_SPEC, DevnetWorld, WorldSpec


@dataclass(frozen=True)
class Devnet:
    node: Anvil
    world: DevnetWorld

    @property
    def w3(self) -> Web3:
        return self.node.web3()

    def snapshot(self) -> str:
        """Mark the chain state (evm_snapshot); `revert(mark)` returns to it. A mark is single-use."""
        return self.node.snapshot()

    def revert(self, mark: str) -> None:
        self.node.revert(mark)

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Devnet]:
        """Run a block of chain changes and undo them after: one deployed world shared by many tests."""
        with self.node.isolated():
            yield self


@contextlib.contextmanager
def open_devnet(
    *,
    block_time_s: float | None = DEFAULT_BLOCK_TIME_S,
    chain_id: int = DEFAULT_CHAIN_ID,
    port: int = 0,
    spec: WorldSpec = DEFAULT_WORLD_SPEC,
    history_states: int | None = None,
) -> Iterator[Devnet]:
    """Start anvil, deploy `spec`, yield the Devnet; anvil is stopped however the block ends.

    history_states: keep only this many recent blocks' states (devnet.anvil.Anvil); None: anvil's default."""
    with Anvil(port=port, chain_id=chain_id, block_time_s=block_time_s, history_states=history_states) as node:
        world = deploy_world(node.web3(), spec, ws_url=node.ws_url)
        logger.info(
            "devnet up at {} (chain {}): {} DEXes, {} tokens, {} pools",
            node.http_url,
            chain_id,
            len(world.dexes),
            len(world.tokens),
            len(world.pools),
        )
        yield Devnet(node, world)


@contextlib.contextmanager
def devnet_world(
    *,
    block_time_s: float | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
    spec: WorldSpec = DEFAULT_WORLD_SPEC,
) -> Iterator[Devnet]:
    """anvil in automine (a block per transaction, no waiting) with the world deployed: for tests and benchmarks."""
    with open_devnet(block_time_s=block_time_s, chain_id=chain_id, spec=spec) as d:
        yield d
