"""Fault proxies in their own process, driven over stdin/stdout, for the network benchmark.

In the benchmark's own process the proxies would compete for the GIL with the code under test and
inflate its latencies; real endpoints are other processes, so these are too.
Protocol: one JSON command per line in, one JSON answer per line out.
    {"op": "start", "upstream": URL, "count": N}   -> {"urls": [...], "ws_urls": [...]}
    {"op": "apply", "i": I, "faults": "latency=300ms@10%"} -> {"faults": "..."}
    {"op": "stop", "i": I} -> {} ;  {"op": "stats", "i": I} -> {"stats": {...}} ; {"op": "exit"}
    {"op": "requests"} -> {"requests": [HTTP requests received, per proxy]}
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devnet.fault_proxy import FaultProxy


def serve() -> None:
    proxies: list[FaultProxy] = []
    for line in sys.stdin:
        cmd: dict[str, Any] = msgspec.json.decode(line)
        op = cmd["op"]
        answer: dict[str, Any] = {}
        try:
            if op == "start":
                proxies = [FaultProxy(cmd["upstream"], name=f"p{i}", seed=i).start() for i in range(cmd["count"])]
                answer = {"urls": [p.url for p in proxies], "ws_urls": [p.ws_url for p in proxies]}
            elif op == "apply":
                answer = {"faults": proxies[cmd["i"]].apply(cmd["faults"]).describe()}
            elif op == "stop":
                proxies[cmd["i"]].stop()
            elif op == "stats":
                answer = {"stats": proxies[cmd["i"]].stats()}
            elif op == "requests":
                answer = {"requests": [p.stats().get("http", 0) for p in proxies]}
            elif op == "exit":
                break
        except Exception as e:
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(msgspec.json.encode(answer).decode() + "\n")
        sys.stdout.flush()
    for p in proxies:
        try:
            p.stop()
        except Exception:
            pass


if __name__ == "__main__":
    serve()
