"""The actor tree of ARCHITECTURE.md, built from config: what runs where, under which strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.config import Config
from protocol.secrets import Secret
from rpc.routing import RoutingPolicy
from supervision import ChildSpec, Restart, RestartStrategy, supervisor_spec


@dataclass(frozen=True)
class TreeInputs:
    config: Config
    devnet: Any | None = None  # devnet.Devnet when running the embedded world
    proxies: dict[str, Any] = field(default_factory=dict)  # endpoint name -> devnet.fault_proxy.FaultProxy
    seed: int = 7
    block_time_s: float = 12.0  # a stream with no head for 3 block times is stalled
    executor_address: str | None = None  # the devnet deploys its own; a real chain names it in config


def routing_policy(config: Config) -> RoutingPolicy:
    """The routing policy the configuration asks for (the router's and every client's)."""
    return RoutingPolicy(consensus_sample_rate=config.network.consensus_sample_rate)


def network_spec(inputs: TreeInputs) -> ChildSpec:
    """rpc:<name> per endpoint, the router, ws:<name> per WebSocket endpoint, then the subscription manager."""
    from actors.router import network_children
    from actors.subscriptions import SubscriptionManager
    from actors.ws_endpoint import WsEndpoint
    from protocol.network import EndpointConfig

    cfg = inputs.config.network
    chain_id = cfg.chain_id or 0
    endpoints = [
        EndpointConfig(name=e.name, url=e.url.reveal(), chain_id=chain_id, region=e.region or "", priority=i)
        for i, e in enumerate(cfg.endpoints)
    ]
    children = network_children(endpoints, chain_id, routing=routing_policy(inputs.config))
    streams = [e for e in cfg.endpoints if e.ws_url is not None]
    children += [
        ChildSpec(id=f"ws:{e.name}", start=WsEndpoint, kwargs={"name": e.name, "url": e.ws_url.reveal()})
        for e in streams
        if e.ws_url is not None
    ]
    if streams:
        children.append(
            ChildSpec(
                id="subscriptions",
                start=SubscriptionManager,
                kwargs={"endpoints": [e.name for e in streams], "stall_after_s": 3 * inputs.block_time_s},
            )
        )
    return supervisor_spec("network", children, strategy=RestartStrategy.ONE_FOR_ONE)


def risk_book_spec(inputs: TreeInputs) -> ChildSpec:
    from actors.risk_book import RiskBook, risk_book_kwargs
    from persistence import open_risk_store

    cfg = inputs.config
    data_dir = Path(cfg.storage.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    redis_url = cfg.storage.redis_url.reveal() if cfg.storage.redis_url else None
    sqlite_path = str(data_dir / "risk-book.sqlite3")

    def open_store() -> Any:
        # one book per world (risk.world): asked once per incarnation, when the actor starts
        book = risk_world(inputs).book_id
        return open_risk_store(redis_url=redis_url, sqlite_path=sqlite_path, book_id=book, ledger=book)

    return ChildSpec(id="risk-book", start=RiskBook, kwargs=risk_book_kwargs(cfg.risk, open_store))


def risk_world(inputs: TreeInputs) -> Any:
    """The world this process trades in: mode, chain id, genesis hash and the executor (or account)."""
    from loguru import logger

    from risk.world import book_world

    cfg = inputs.config
    if inputs.devnet is not None:
        mode, chain_id, url = "devnet", inputs.devnet.world.chain_id, inputs.devnet.world.http_url
    else:
        live = cfg.execution.live_mode and cfg.execution.private_key is not None
        mode, chain_id = ("live" if live else "paper"), cfg.network.chain_id or 0
        url = cfg.network.endpoints[0].url.reveal() if cfg.network.endpoints else None
    genesis = None
    if url is not None:
        try:
            from web3 import Web3

            genesis = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5})).eth.get_block(0)["hash"].to_0x_hex()
        except Exception as exc:  # no answer: a book of its own (never another world's), and say so
            logger.warning("risk book: genesis block unreadable ({}); using a separate book", type(exc).__name__)
    return book_world(mode, chain_id, genesis, inputs.executor_address)


#: The devnet funds the bot's executor contract with this much WETH inventory.
DEVNET_INVENTORY_WEI = 50 * 10**18


def market_spec(inputs: TreeInputs) -> ChildSpec | None:
    """market (rest_for_one): pool-state, executor, strategy. A crashed pool-state restarts the two that
    read its snapshot; a crashed executor restarts the strategy that feeds it. None when there is nothing
    to watch (a real chain without WETH_ADDRESS, FACTORIES and EXECUTOR_ADDRESS)."""
    from loguru import logger

    from actors.executor import Executor
    from actors.pool_state import PoolState
    from actors.strategy import Strategy as StrategyActor
    from amm.gas import Numeraire, PriceBook
    from execution.mode import decide_mode
    from protocol.execution import SubmitMode
    from protocol.market import Factory, WatchedPool
    from rpc.client import RpcClient

    cfg = inputs.config
    pools: tuple[WatchedPool, ...] = ()
    factories: tuple[Factory, ...] = ()
    key: Secret | None
    if inputs.devnet is not None:
        from devnet.accounts import BOT

        world = inputs.devnet.world
        weth, pools, key = world.weth.address, world.watched_pools(), Secret(BOT.key)
        usd = world.token("USDC")
        numeraire: Numeraire | None = Numeraire(usd.address, usd.decimals, "USD")
        symbols = {t.address: t.symbol for t in world.tokens}
    else:
        weth, key = cfg.market.weth, cfg.execution.private_key
        factories = tuple(Factory(dex, address) for dex, address in cfg.market.factories)
        numeraire = (Numeraire(cfg.market.numeraire_token, cfg.market.numeraire_decimals)
                     if cfg.market.numeraire_token else None)
        symbols = {}
        if numeraire is None:
            logger.warning("no NUMERAIRE_TOKEN: trades cannot be valued, so the risk book will refuse them")
    executor_address = inputs.executor_address
    if not (weth and executor_address and (pools or factories)):
        logger.warning("no market to watch: set WETH_ADDRESS, FACTORIES and EXECUTOR_ADDRESS to detect arbitrage")
        return None
    relay_url = cfg.execution.relay_url.reveal() if cfg.execution.relay_url else None
    mode, why = decide_mode(devnet=inputs.devnet is not None, live_mode=cfg.execution.live_mode, key=key,
                            relay_url=relay_url)
    if cfg.execution.paper_trading:
        mode, why = SubmitMode.PAPER, "PAPER_MODE: paper trading, fills simulated by the backtest engine, nothing sent"
    logger.info("executor mode: {}", why)
    relay = None
    if relay_url and key is not None:
        from adapters.relay_client import RelayClient

        relay = RelayClient(Secret(relay_url), key)
    client = RpcClient(policy=routing_policy(cfg))
    feed = "/network/subscriptions" if any(e.ws_url for e in cfg.network.endpoints) else None
    paths = {"pools": "/market/pool-state", "executor": "/market/executor", "strategy": "/market/strategy",
             "paper": "/market/paper"}
    paper = paper_spec(inputs, paths["pools"], weth, numeraire, symbols)
    listeners = (paths["strategy"],) + ((paths["paper"],) if paper is not None else ())
    return supervisor_spec("market", [
        ChildSpec("pool-state", PoolState, kwargs={
            "client": client, "pools": pools, "factories": factories, "listeners": listeners,
            "feed_path": feed}),
        ChildSpec("executor", Executor, kwargs={
            "client": client, "chain_id": cfg.network.chain_id or 0, "executor_address": executor_address,
            "mode": mode, "risk_path": "/risk-book", "key": key, "relay": relay,
            "strategy_path": paths["strategy"], "base_tokens": (weth,)}),
        ChildSpec("strategy", StrategyActor, kwargs={
            "pool_state_path": paths["pools"], "executor_path": paths["executor"], "weth": weth,
            "base_tokens": (weth,), "numeraire": numeraire, "prices": PriceBook(symbols=symbols)}),
        *([paper] if paper is not None else []),
    ], strategy=RestartStrategy.REST_FOR_ONE)


def paper_spec(inputs: TreeInputs, pool_state_path: str, weth: str, numeraire: Any,
               symbols: dict[str, str]) -> ChildSpec | None:
    """/market/paper with PAPER_MODE: the backtest's Trader on every head, with the live risk limits."""
    cfg = inputs.config
    if not cfg.execution.paper_trading or numeraire is None:
        return None
    from actors.paper_trader import PaperTrader
    from backtest.trader import StrategyParams

    inventory_eth = DEVNET_INVENTORY_WEI / 10**18 if inputs.devnet is not None else StrategyParams().inventory_eth
    return ChildSpec("paper", PaperTrader, kwargs={
        "pool_state_path": pool_state_path, "weth": weth, "quote": numeraire.token,
        "quote_decimals": numeraire.decimals, "symbols": symbols,
        "out_dir": str(Path(cfg.storage.data_dir) / "paper"),
        "strategy": StrategyParams(inventory_eth=inventory_eth, limits=cfg.risk)})


def sampler_spec(inputs: TreeInputs) -> ChildSpec:
    """/sampler (PerformanceAnalyzer): measurements, SLOs, system metrics, mailbox lag."""
    from actors.sampler import Sampler

    return ChildSpec(id="sampler", start=Sampler, kwargs={"targets": inputs.config.targets})


def devnet_spec(inputs: TreeInputs) -> ChildSpec:
    from devnet.history_recorder import history_recorder_spec
    from devnet.market_simulator import market_simulator_spec

    assert inputs.devnet is not None
    world = inputs.devnet.world
    recorder = history_recorder_spec(world, Path(inputs.config.storage.data_dir) / "history" / "devnet")
    return supervisor_spec("devnet", [market_simulator_spec(world, seed=inputs.seed), recorder])


def monitor_spec(inputs: TreeInputs) -> ChildSpec:
    from actors.monitor import Monitor

    return ChildSpec(id="monitor", start=Monitor,
                     kwargs={"audit_retention_s": inputs.config.monitoring.audit_retention_s})


def console_spec(inputs: TreeInputs) -> ChildSpec:
    from actors.alert_console import register_alert_commands
    from actors.monitor_console import register_monitor_commands
    from actors.risk_console import register_risk_commands
    from actors.sampler_console import register_sampler_commands
    from bot.audit_console import register_audit_commands
    from bot.components import disabled_components
    from console.actor import ConsoleActor
    from console.commands import register_config_command, register_disabled_command
    from console.registry import COMMANDS
    from rpc.commands import register_network_commands

    register_config_command(COMMANDS, inputs.config, running_summary(inputs))
    register_risk_commands(COMMANDS)
    register_sampler_commands(COMMANDS)
    register_network_commands(COMMANDS)
    register_alert_commands(COMMANDS)
    register_monitor_commands(COMMANDS)
    register_audit_commands(COMMANDS)
    if inputs.proxies:
        from devnet.fault_proxy import register_fault_commands

        register_fault_commands(COMMANDS, inputs.proxies)
    for component in disabled_components(inputs.config.manager):
        for name in component.commands:
            register_disabled_command(COMMANDS, name, str(component.disabled_error()))
    return ChildSpec(
        id="console",
        start=ConsoleActor,
        kwargs={"data_dir": inputs.config.storage.data_dir, "port": inputs.config.console.port},
        restart=Restart.PERMANENT,
    )


def running_summary(inputs: TreeInputs) -> dict[str, Any]:
    """The settings the bot runs with, as the console's `config` shows them: on the devnet, `devnet` is true
    and the market section names what the devnet deployed (the configured market is empty there)."""
    from protocol.config import config_summary

    summary = config_summary(inputs.config)
    if inputs.devnet is not None:
        world = inputs.devnet.world
        usd = world.token("USDC")
        summary["devnet"] = True
        summary["market"] = {
            "weth": world.weth.address, "factories": [[d.name, d.factory] for d in world.dexes],
            "executor_address": inputs.executor_address, "numeraire_token": usd.address,
            "numeraire_decimals": usd.decimals, "pools": len(world.watched_pools()),
        }
    return summary


def status_page_spec(inputs: TreeInputs) -> ChildSpec:
    """/status-page: the live status page (STATUS_PAGE=true), behind the console's token; after the console,
    whose commands (estop) its stop button runs."""
    from statuspage.actor import StatusPageActor

    page = inputs.config.status_page
    return ChildSpec(id="status-page", start=StatusPageActor, kwargs={
        "data_dir": inputs.config.storage.data_dir, "host": page.host, "port": page.port,
        "allow_remote": page.allow_remote}, restart=Restart.PERMANENT)


def root_spec(inputs: TreeInputs) -> ChildSpec:
    """root (one_for_one): alerts (first, so the others' start-up alerts are heard), monitor, network, risk-book,
    sampler, market, devnet (embedded world only), console, status-page (STATUS_PAGE=true); each component only
    when its enable flag is on (bot.components says what depends on what)."""
    from bot.alerts import alerts_spec
    from bot.components import market_enabled

    flags = inputs.config.manager
    children = []
    if flags.enable_alerting:
        children.append(alerts_spec(inputs.config))
    if flags.enable_monitoring:
        children.append(monitor_spec(inputs))
    if flags.enable_network_optimization:
        children.append(network_spec(inputs))
    if flags.enable_risk_management:
        children.append(risk_book_spec(inputs))
    if flags.enable_performance_analysis:
        children.append(sampler_spec(inputs))
    market = market_spec(inputs) if market_enabled(flags) else None
    if market is not None:
        children.append(market)
    if inputs.devnet is not None:
        children.append(devnet_spec(inputs))
    children.append(console_spec(inputs))
    if inputs.config.status_page.enabled:
        children.append(status_page_spec(inputs))
    return supervisor_spec("root", children, strategy=RestartStrategy.ONE_FOR_ONE)
