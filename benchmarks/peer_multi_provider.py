"""Peer baseline: web3-multi-provider (MultiProvider, web3<7) under the same load as bench_network.

Runs inside benchmarks/.peer-venv (created by bench_network.py), never in the project's venv.
Usage: python peer_multi_provider.py '<json: {"urls": [...], "callers": 8, "calls": 500, "method": ...}>'
Prints one JSON object (the run_load figures).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from net_measure import run_load
from web3 import Web3
from web3_multi_provider import MultiProvider


def main() -> None:
    spec = json.loads(sys.argv[1])
    urls = spec["urls"]
    method = spec.get("method", "eth_blockNumber")
    params = spec.get("params", [])
    expected = spec.get("expected")
    local = __import__("threading").local()

    def call() -> object:
        # MultiProvider keeps its current index on the instance: one per caller thread, as a user would.
        if not hasattr(local, "w3"):
            local.w3 = Web3(MultiProvider(urls))
        answer = local.w3.provider.make_request(method, params)
        if "error" in answer:
            raise RuntimeError(str(answer["error"]))
        return answer["result"]

    figures = run_load(
        call,
        callers=spec["callers"],
        calls_per_caller=spec["calls"],
        warmup=spec.get("warmup", 30),
        check=(lambda a: a == expected) if expected is not None else None,
    )
    figures["peer"] = "web3-multi-provider MultiProvider"
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
