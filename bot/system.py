"""The running bot: the devnet (by default), one fault proxy per devnet endpoint, the actor tree,
the console and the metrics endpoint, started in order and stopped in reverse.

Everything is entered on one ExitStack, so a failure half-way through start (anvil missing, a busy
port, a tree that cannot start) unwinds what was already started: nothing is left running.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from bot.components import disabled_components
from bot.tree import TreeInputs, root_spec
from protocol.config import Config, Endpoint
from protocol.secrets import Secret
from supervision import Tree, start_tree, stop_tree

#: The devnet puts one fault proxy per endpoint name in front of anvil, so failover can be watched.
DEVNET_ENDPOINTS = (("primary", "local-a"), ("secondary", "local-b"), ("tertiary", "local-c"))
#: The running devnet keeps the states of its last 128 blocks (about two minutes) for reads at a block, not
#: anvil's 500 in memory plus every older one on disk: a bound on its memory and disk over a long run.
#: Blocks, receipts and logs of every block stay (eth_getLogs over the whole history answers). That is what
#: anvil still grows by over a run: each block's header, transactions, receipts and call traces, kept for the
#: node's life (README, "The soak"). anvil's `--transaction-block-keeper N` would drop them past N blocks, but
#: then the soak's books (every bot transaction on chain against the audit trail, every Sync log) and an
#: operator's eth_getLogs over the run no longer answer; a dev node's growth is left unbounded on purpose.
DEVNET_HISTORY_STATES = 128
#: What the devnet deployed (addresses, anvil's URL), written to <DATA_DIR>/ for tools such as the soak run.
DEVNET_WORLD_FILE = "devnet-world.json"


class SystemStartError(Exception):
    """The bot could not start; the message is one line an operator can act on."""


@dataclass
class System:
    config: Config
    tree: Tree
    devnet: Any | None
    proxies: dict[str, Any] = field(default_factory=dict)
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @classmethod
    def start(cls, config: Config, *, block_time_s: float = 1.0, seed: int = 7, anvil_port: int = 0) -> System:
        stack = contextlib.ExitStack()
        try:
            from bot.components import disabled_health
            from probes.health import declare_disabled

            flags = config.manager
            declare_disabled(disabled_health(flags))
            stack.callback(declare_disabled, {})
            if not flags.enable_performance_analysis:
                stack.enter_context(MeasurementDiscard())
            devnet, proxies = None, {}
            if config.devnet:
                from devnet import open_devnet
                from devnet.fault_proxy import FaultProxy

                devnet = stack.enter_context(open_devnet(block_time_s=block_time_s, port=anvil_port,
                                                         history_states=DEVNET_HISTORY_STATES))
                write_world(Path(config.storage.data_dir), devnet.world)
                if flags.enable_network_optimization:  # without the network nothing reads the endpoints
                    for name, _region in DEVNET_ENDPOINTS:
                        proxies[name] = stack.enter_context(FaultProxy(devnet.node.http_url, name=name, seed=seed))
                endpoints = tuple(
                    Endpoint(name=n, url=Secret(proxies[n].url), ws_url=Secret(proxies[n].ws_url), region=region)
                    for n, region in DEVNET_ENDPOINTS if n in proxies
                )
                network = msgspec.structs.replace(config.network, endpoints=endpoints, chain_id=devnet.world.chain_id)
                config = msgspec.structs.replace(config, network=network)
            for component in disabled_components(flags):
                logger.warning("{} is disabled ({}=false): {} not started", component.name, component.env,
                               ", ".join(component.paths))
            executor_address = config.market.executor_address
            if devnet is not None:
                from bot.tree import DEVNET_INVENTORY_WEI
                from devnet.accounts import BOT
                from devnet.executor_setup import deploy_executor

                executor_address = deploy_executor(
                    devnet.w3, BOT.address, weth=devnet.world.weth.address, weth_inventory_wei=DEVNET_INVENTORY_WEI
                )
                logger.info("executor contract at {} holding {} WETH", executor_address, DEVNET_INVENTORY_WEI // 10**18)
            inputs = TreeInputs(
                config=config, devnet=devnet, proxies=proxies, seed=seed,
                block_time_s=block_time_s if devnet is not None else 12.0, executor_address=executor_address,
            )
            tree = start_tree(root_spec(inputs))
            stack.callback(stop_tree)
            if config.metrics.prometheus_enabled:
                from rpc.metrics import start_metrics_server

                port = start_metrics_server(config.metrics.prometheus_port, config.metrics.prometheus_host,
                                            health=health_answer(config.targets.memory_usage_target_mb))
                logger.info("metrics on http://{}:{}/metrics, health on /health", config.metrics.prometheus_host,
                            port)
            return cls(config=config, tree=tree, devnet=devnet, proxies=proxies, stack=stack)
        except Exception as exc:
            stack.close()
            raise SystemStartError(_one_line(exc)) from exc

    def stop(self, timeout_s: float) -> None:
        """Stop the tree (children before parents), then the proxies, then anvil."""
        self.tree.stop(timeout_s)
        self.stack.close()


def write_world(data_dir: Path, world: Any) -> Path:
    """<data_dir>/devnet-world.json: the deployed world (DevnetWorld as JSON), replaced whole (no torn reads)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path, part = data_dir / DEVNET_WORLD_FILE, data_dir / (DEVNET_WORLD_FILE + ".part")
    part.write_bytes(world.to_json())
    part.replace(path)
    return path


class MeasurementDiscard:
    """With performance analysis disabled nothing drains the measurement buffers every thread writes to:
    this thread does, dropping what it takes, so they stay bounded (and counts what it dropped)."""

    PERIOD_S = 2.0

    def __init__(self) -> None:
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="measurement-discard", daemon=True)

    def __enter__(self) -> MeasurementDiscard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        from performance.recorder import drain, purge_abandoned

        while not self._stop.wait(self.PERIOD_S):
            self.dropped += len(drain())
            purge_abandoned()


def health_answer(memory_target_mb: float) -> Callable[[], tuple[int, bytes]]:
    """/health: the health check as JSON, 200 while healthy or degraded, 503 when unhealthy."""
    from probes.health import health_check
    from protocol.health import UNHEALTHY

    def answer() -> tuple[int, bytes]:
        check = health_check(memory_target_mb)
        return (503 if check.overall == UNHEALTHY else 200), msgspec.json.encode(check)

    return answer


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
