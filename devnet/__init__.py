"""The embedded default world: anvil, two Uniswap V2 DEXes with tokens and pools, a market simulator.

    from devnet import open_devnet
    with open_devnet() as d:            # anvil on a free loopback port, a block a second
        d.world.pools                   # DevnetWorld: what was deployed (msgspec, JSON-able)

Also here, for the devnet, tests and benchmarks only (the bot on a real chain never imports devnet/):
the market simulator actor, the fault proxy, a Flashbots-style relay stub, an approve-all risk book,
seeded synthetic pools, the executor contract's devnet set-up. Test fixtures: tests/devnet_fixtures.py;
context manager `devnet.session.devnet_world` (automine).
"""

from devnet.accounts import BOT, DEPLOYER, DEV_ACCOUNTS, MARKET_TRADER, DevAccount
from devnet.anvil import Anvil, AnvilError, AnvilNotFound, AnvilPortBusy, AnvilStartFailed
from devnet.deploy import DeployFailed, deploy_world
from devnet.session import Devnet, open_devnet
from devnet.world import DEFAULT_WORLD_SPEC, DevnetWorld, DexInfo, PoolInfo, TokenInfo, WorldSpec

__all__ = [
    "BOT",
    "DEFAULT_WORLD_SPEC",
    "DEPLOYER",
    "DEV_ACCOUNTS",
    "MARKET_TRADER",
    "Anvil",
    "AnvilError",
    "AnvilNotFound",
    "AnvilPortBusy",
    "AnvilStartFailed",
    "DeployFailed",
    "DevAccount",
    "Devnet",
    "DevnetWorld",
    "DexInfo",
    "PoolInfo",
    "TokenInfo",
    "WorldSpec",
    "deploy_world",
    "open_devnet",
]
