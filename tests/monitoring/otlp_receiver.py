"""A local OTLP/HTTP collector for tests: decodes each POST /v1/traces as an ExportTraceServiceRequest and
keeps every span with its ids, so a test can check what a real collector would see (a tree whose every
parent is present)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class ExportedSpan:
    name: str
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent_id: str | None
    attributes: dict[str, Any]


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[ExportedSpan] = []
        self.paths: list[str] = []
        self.changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Receiver = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with server.changed:
            server.paths.append(self.path)
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {a.key: a.value.WhichOneof("value") and getattr(a.value, a.value.WhichOneof("value"))
                                 for a in span.attributes}
                        server.spans.append(ExportedSpan(
                            span.name, span.trace_id.hex(), span.span_id.hex(),
                            span.parent_span_id.hex() or None, attrs))
            server.changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


def missing_parents(spans: list[ExportedSpan]) -> list[ExportedSpan]:
    """The spans whose parent was not exported (a collector shows them under a missing root)."""
    ids = {s.span_id for s in spans}
    return [s for s in spans if s.parent_id is not None and s.parent_id not in ids]
