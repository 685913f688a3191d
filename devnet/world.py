"""What the devnet holds: the spec we deploy from, and the frozen description of what got deployed.

`DevnetWorld` is the one thing other parts read (pool-state watches its pools, the strategy knows
its tokens and DEXes, the console shows it). It is a msgspec Struct, so it crosses processes and
files as JSON: `world.to_json()` / `DevnetWorld.from_json(data)`.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from protocol.market import Factory, WatchedPool

UNISWAP_V2_FEE_BPS = 30


# --- what to deploy ------------------------------------------------------------------------------


class TokenSpec(msgspec.Struct, frozen=True):
    """A token to deploy. usd_price sets the initial pool prices (a float: valuation, never wei)."""

    symbol: str
    name: str
    decimals: int
    usd_price: float
    supply: int = 10**9  # whole tokens minted to the deployer
    wrapped_native: bool = False  # the WETH-like one: deposit()/withdraw(), backed by ETH


class DexSpec(msgspec.Struct, frozen=True):
    """A Uniswap V2 deployment; liquidity_usd is the value of EACH side of each of its pools."""

    name: str
    liquidity_usd: int


class WorldSpec(msgspec.Struct, frozen=True):
    tokens: tuple[TokenSpec, ...]
    dexes: tuple[DexSpec, ...]
    pairs: tuple[tuple[str, str], ...]  # symbol pairs, each created on every DEX
    trader_funding_usd: int = 2_000_000  # per token, handed to the market simulator's account

    def token(self, symbol: str) -> TokenSpec:
        for t in self.tokens:
            if t.symbol == symbol:
                return t
        raise KeyError(f"no token {symbol!r} in the world spec")

    def usd_to_units(self, symbol: str, usd: int) -> int:
        """usd worth of `symbol`, in its smallest unit (exact decimal arithmetic, then floor)."""
        t = self.token(symbol)
        return int(Decimal(usd) / Decimal(repr(t.usd_price)) * (Decimal(10) ** t.decimals))


DEFAULT_WORLD_SPEC = WorldSpec(
    tokens=(
        TokenSpec("WETH", "Wrapped Ether", 18, 3000.0, wrapped_native=True),
        TokenSpec("USDC", "USD Coin (devnet)", 6, 1.0),
        TokenSpec("DAI", "Dai Stablecoin (devnet)", 18, 1.0),
        TokenSpec("WBTC", "Wrapped BTC (devnet)", 8, 60000.0),
        TokenSpec("LINK", "ChainLink Token (devnet)", 18, 15.0),
    ),
    # Two DEXes of different depth: the shallow one moves more per swap, so prices drift apart.
    dexes=(DexSpec("uniswap", 1_000_000), DexSpec("sushiswap", 400_000)),
    pairs=(
        ("WETH", "USDC"),
        ("WETH", "DAI"),
        ("WETH", "WBTC"),
        ("WETH", "LINK"),
        ("USDC", "DAI"),
        ("WBTC", "USDC"),
    ),
)


# --- what got deployed ---------------------------------------------------------------------------


class TokenInfo(msgspec.Struct, frozen=True):
    symbol: str
    name: str
    decimals: int
    address: str  # checksummed
    usd_price: float  # the price the pools were seeded at (devnet reference, not an oracle)
    wrapped_native: bool = False


class DexInfo(msgspec.Struct, frozen=True):
    name: str
    factory: str
    # keccak of the pair creation code, from the artifact (the published v2-core build gives mainnet's
    # 0x96e8ac42...; a rebuilt pair would not); deploy checks it against factory.getPair.
    pair_init_code_hash: str
    fee_bps: int = UNISWAP_V2_FEE_BPS


class PoolInfo(msgspec.Struct, frozen=True):
    """A Uniswap V2 pair. token0 < token1 by address, as the pair orders them."""

    address: str
    dex: str
    token0: str
    token1: str
    symbol0: str
    symbol1: str
    initial_reserve0: int
    initial_reserve1: int
    fee_bps: int = UNISWAP_V2_FEE_BPS

    @property
    def label(self) -> str:
        return f"{self.dex}:{self.symbol0}/{self.symbol1}"


class DevnetWorld(msgspec.Struct, frozen=True):
    chain_id: int
    http_url: str
    ws_url: str
    deployer: str
    trader: str  # the market simulator's account
    bot: str  # the account the bot trades from on the devnet
    dexes: tuple[DexInfo, ...]
    tokens: tuple[TokenInfo, ...]
    pools: tuple[PoolInfo, ...]
    deployed_at_block: int

    def token(self, symbol: str) -> TokenInfo:
        for t in self.tokens:
            if t.symbol == symbol:
                return t
        raise KeyError(f"no token {symbol!r} on the devnet")

    def token_at(self, address: str) -> TokenInfo:
        for t in self.tokens:
            if t.address.lower() == address.lower():
                return t
        raise KeyError(f"no token at {address} on the devnet")

    @property
    def weth(self) -> TokenInfo:
        return next(t for t in self.tokens if t.wrapped_native)

    def pool(self, dex: str, symbol_a: str, symbol_b: str) -> PoolInfo:
        want = {symbol_a, symbol_b}
        for p in self.pools:
            if p.dex == dex and {p.symbol0, p.symbol1} == want:
                return p
        raise KeyError(f"no {symbol_a}/{symbol_b} pool on {dex}")

    def pools_on(self, dex: str) -> tuple[PoolInfo, ...]:
        return tuple(p for p in self.pools if p.dex == dex)

    def watched_pools(self) -> tuple[WatchedPool, ...]:
        """The pools in pool-state's vocabulary (protocol.market)."""
        return tuple(WatchedPool(p.address, p.dex, p.token0, p.token1, p.fee_bps) for p in self.pools)

    def factories(self) -> tuple[Factory, ...]:
        return tuple(Factory(d.name, d.factory, d.fee_bps) for d in self.dexes)

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> DevnetWorld:
        return msgspec.json.decode(data, type=cls)
