"""The actor tree of ARCHITECTURE.md, built from config: what runs where, under which strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.config import Config
from supervision import ChildSpec, Restart, Strategy, supervisor_spec


@dataclass(frozen=True)
class TreeInputs:
    config: Config
    devnet: Any | None = None  # devnet.Devnet when running the embedded world
    proxies: dict[str, Any] = field(default_factory=dict)  # endpoint name -> devnet.fault_proxy.FaultProxy
    seed: int = 7
    block_time_s: float = 12.0  # a stream with no head for 3 block times is stalled


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
    children = network_children(endpoints, chain_id)
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
    return supervisor_spec("network", children, strategy=Strategy.ONE_FOR_ONE)


def risk_book_spec(inputs: TreeInputs) -> ChildSpec:
    from actors.risk_book import RiskBook, risk_book_kwargs
    from persistence import open_risk_store

    cfg = inputs.config
    data_dir = Path(cfg.storage.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    redis_url = cfg.storage.redis_url.reveal() if cfg.storage.redis_url else None
    sqlite_path = str(data_dir / "risk-book.sqlite3")

    def open_store() -> Any:
        return open_risk_store(redis_url=redis_url, sqlite_path=sqlite_path)

    return ChildSpec(id="risk-book", start=RiskBook, kwargs=risk_book_kwargs(cfg.risk, open_store))


def devnet_spec(inputs: TreeInputs) -> ChildSpec:
    from actors.market_simulator import market_simulator_spec

    assert inputs.devnet is not None
    return supervisor_spec("devnet", [market_simulator_spec(inputs.devnet.world, seed=inputs.seed)])


def console_spec(inputs: TreeInputs) -> ChildSpec:
    from actors.risk_console import register_risk_commands
    from console.actor import ConsoleActor
    from console.commands import register_config_command
    from console.registry import COMMANDS
    from rpc.commands import register_network_commands

    register_config_command(COMMANDS, inputs.config)
    register_risk_commands(COMMANDS)
    register_network_commands(COMMANDS)
    if inputs.proxies:
        from devnet.fault_proxy import register_fault_commands

        register_fault_commands(COMMANDS, inputs.proxies)
    return ChildSpec(
        id="console",
        start=ConsoleActor,
        kwargs={"data_dir": inputs.config.storage.data_dir, "port": inputs.config.console.port},
        restart=Restart.PERMANENT,
    )


def root_spec(inputs: TreeInputs) -> ChildSpec:
    """root (one_for_one): network, risk-book, devnet (embedded world only), console."""
    children = [network_spec(inputs), risk_book_spec(inputs)]
    if inputs.devnet is not None:
        children.append(devnet_spec(inputs))
    children.append(console_spec(inputs))
    return supervisor_spec("root", children, strategy=Strategy.ONE_FOR_ONE)
