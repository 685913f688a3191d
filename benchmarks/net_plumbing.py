"""Plumbing the network benchmarks share: a network subtree over some endpoints, fault proxies in a process
of their own, callers on the io loop."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from net_measure import run_load_on_loop

from actors.router import network_children
from protocol.network import EndpointConfig, RoutingTable
from rpc.client import RpcClient, router_path
from rpc.routing import RoutingPolicy
from supervision import ChildSpec, Handle, start_tree, stop_tree, supervisor_spec
from supervision.io_loop import io_loop

CHAIN_ID = 31337


def loopback_policy(**changes: Any) -> RoutingPolicy:
    """Loopback-scaled hedge bounds: answers take ~0.3 ms here, not the 50 ms of a remote node."""
    return RoutingPolicy(**{"hedge_base_s": 0.0005, "hedge_min_s": 0.0005, "hedge_max_s": 0.25, **changes})


class Network:
    """A network subtree over `urls` (name -> url) and its client; stop() tears it down.

    With `ws_urls` (name -> WebSocket URL) it runs the WebSocket endpoints and the subscription
    manager too, as the bot does on its devnet (`bot.tree.network_spec`)."""

    def __init__(self, urls: dict[str, str], policy: RoutingPolicy, *, ws_urls: dict[str, str] | None = None,
                 block_time_s: float = 12.0) -> None:
        configs = [
            EndpointConfig(name=n, url=u, chain_id=CHAIN_ID, priority=i) for i, (n, u) in enumerate(urls.items())
        ]
        children = network_children(configs, CHAIN_ID, routing=policy)
        if ws_urls:
            from actors.subscriptions import SubscriptionManager
            from actors.ws_endpoint import WsEndpoint

            children += [ChildSpec(id=f"ws:{n}", start=WsEndpoint, kwargs={"name": n, "url": u})
                         for n, u in ws_urls.items()]
            children.append(ChildSpec(id="subscriptions", start=SubscriptionManager,
                                      kwargs={"endpoints": list(ws_urls), "stall_after_s": 3 * block_time_s}))
        start_tree(supervisor_spec("root", [supervisor_spec("network", children)]))
        self.client = RpcClient(policy=policy)
        self.router = Handle(router_path())
        deadline = time.monotonic() + 20
        while len(self.routes()) < len(urls):
            if time.monotonic() > deadline:
                raise RuntimeError(f"endpoints never became routable: {self.router.snapshot()}")
            threading.Event().wait(0.01)

    def routes(self) -> list[str]:
        table = self.router.snapshot()
        return [r.name for r in table.routes] if isinstance(table, RoutingTable) else []

    def stop(self) -> None:
        stop_tree()
        self.client.close()


class RemoteProxy:
    """One fault proxy living in the proxies process (see net_proxies.py)."""

    def __init__(self, pool: ProxyPool, index: int, url: str, ws_url: str) -> None:
        self.pool, self.index, self.url, self.ws_url = pool, index, url, ws_url

    def apply(self, faults: str) -> str:
        return str(self.pool.command({"op": "apply", "i": self.index, "faults": faults})["faults"])

    def stop(self) -> None:
        self.pool.command({"op": "stop", "i": self.index})

    def stats(self) -> dict[str, int]:
        return dict(self.pool.command({"op": "stats", "i": self.index})["stats"])


class ProxyPool:
    """N fault proxies in front of `upstream`, in a separate process so they do not share our GIL."""

    def __init__(self, upstream: str, count: int) -> None:
        script = Path(__file__).resolve().parent / "net_proxies.py"
        self.proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lock = threading.Lock()
        started = self.command({"op": "start", "upstream": upstream, "count": count})
        self.proxies = [RemoteProxy(self, i, u, w) for i, (u, w) in enumerate(zip(started["urls"], started["ws_urls"]))]

    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(msgspec.json.encode(cmd).decode() + "\n")
            self.proc.stdin.flush()
            answer: dict[str, Any] = msgspec.json.decode(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"proxy command {cmd} failed: {answer['error']}")
        return answer

    def close(self) -> None:
        try:
            self.command({"op": "exit"})
        except (RuntimeError, OSError, msgspec.DecodeError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def on_io_loop(net: Network, method: str, params: list[Any], callers: int, calls: int, expected: Any,
               **kwargs: Any) -> dict[str, Any]:
    """`callers` coroutines on the shared io loop, each awaiting `method` `calls` times: the bot's path."""
    client = net.client
    return run_load_on_loop(io_loop().loop, lambda: client.arequest(method, params), callers=callers,
                            calls_per_caller=calls, check=lambda a: a == expected, **kwargs)
