"""A JSON-RPC node that forwards to anvil and replaces chosen results with garbage: well-formed JSON-RPC
answers whose `result` is not what the method returns (what a broken or lying endpoint sends).

Runs a stdlib threading HTTP server on a free loopback port (HTTP/1.1 keep-alive, as the bot's client
expects); single calls and batches alike. `garble(method, params)` returns the replacement result, or
KEEP to pass anvil's answer through; it can be changed while the server runs.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEEP = object()
Garble = Callable[[str, list[Any]], Any]


class GarbageNode:
    def __init__(self, upstream: str, garble: Garble) -> None:
        self.upstream = upstream
        self.garble = garble
        self.garbled: list[str] = []  # methods whose answer was replaced, in order
        self._lock = threading.Lock()
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = node.answer(json.loads(body))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="garbage-node", daemon=True)

    def __enter__(self) -> GarbageNode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request: Any) -> Any:
        request_ = urllib.request.Request(self.upstream, json.dumps(request).encode(),
                                          {"Content-Type": "application/json"})
        with urllib.request.urlopen(request_, timeout=10) as response:
            upstream = json.loads(response.read())
        if isinstance(request, list):
            by_id = {a.get("id"): a for a in upstream}
            return [self._rewrite(call, by_id.get(call.get("id"), {})) for call in request]
        return self._rewrite(request, upstream)

    def _rewrite(self, call: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if "result" not in answer:
            return answer
        replacement = self.garble(str(call.get("method")), list(call.get("params") or []))
        if replacement is KEEP:
            return answer
        with self._lock:
            self.garbled.append(str(call.get("method")))
        return {**answer, "result": replacement}
