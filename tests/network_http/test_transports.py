"""The one transport, entered both ways (blocking calls from a caller's thread, coroutines on the io
loop), against a small real HTTP/1.1 server on loopback: keep-alive reuse, a server that drops idle
connections, TLS, hedging and deadlines."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol.network import EndpointRoute, FaultKind, RequestOutcome, RequestOutcomes, RoutingTable
from rpc.client import RpcClient
from rpc.errors import RpcUnavailable
from rpc.routing import RoutingPolicy
from rpc.transport import TransportRegistry
from tests.waiting import wait_until

ANSWERS = {"eth_chainId": "0x7a69", "eth_blockNumber": "0x10"}


class TinyNode:
    """A JSON-RPC node over raw sockets. `close_after_answer` drops each connection right after its
    answer, without saying so (what a server's idle timeout does); `delay_s` holds every answer."""

    def __init__(self, *, close_after_answer: bool = False, delay_s: float = 0.0,
                 tls: ssl.SSLContext | None = None, pause_mid_answer_s: float = 0.0) -> None:
        self.close_after_answer, self.delay_s, self.tls = close_after_answer, delay_s, tls
        self.pause_mid_answer_s = pause_mid_answer_s  # send the head, wait, then the body
        self.connections = 0
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{'localhost' if self.tls else '127.0.0.1'}:{self.port}/"

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                self.requests += 1
                if self.delay_s:
                    time.sleep(self.delay_s)
                answer = self._answer(body)
                if self.pause_mid_answer_s:
                    cut = answer.index(b"\r\n\r\n") + 4
                    conn.sendall(answer[:cut])
                    time.sleep(self.pause_mid_answer_s)
                    answer = answer[cut:]
                conn.sendall(answer)
                if self.close_after_answer:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    @staticmethod
    def _answer(body: bytes) -> bytes:
        request = msgspec.json.decode(body)
        calls = request if isinstance(request, list) else [request]
        answers = [{"jsonrpc": "2.0", "id": c["id"], "result": ANSWERS.get(c["method"], "0x1")} for c in calls]
        out = msgspec.json.encode(answers if isinstance(request, list) else answers[0])
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out)

    def stop(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.fixture
def nodes() -> Iterator[Callable[..., TinyNode]]:
    made: list[TinyNode] = []

    def make(**kwargs: Any) -> TinyNode:
        made.append(TinyNode(**kwargs))
        return made[-1]

    yield make
    for node in made:
        node.stop()


class Outcomes:
    def __init__(self) -> None:
        self.all: list[RequestOutcome] = []

    def __call__(self, batch: RequestOutcomes) -> None:
        self.all.extend(batch.outcomes)

    def faults(self) -> list[RequestOutcome]:
        return [o for o in self.all if o.fault is not None]


def client_for(urls: dict[str, str], outcomes: Outcomes, **policy: Any) -> RpcClient:
    """A client over a fixed table (no actors): what the transports do, nothing else."""
    routing = RoutingPolicy(**{"hedge_min_s": 0.02, "hedge_max_s": 0.02, "hedge_base_s": 0.0, **policy})
    table = RoutingTable(31337, tuple(EndpointRoute(n, u, routing.hedge_min_s) for n, u in urls.items()))
    return RpcClient(lambda: table, policy=routing, report=outcomes, registry=TransportRegistry())


def read_on(path: str, client: RpcClient) -> Callable[[str], Any]:
    """Read by a blocking call from this thread, or by a coroutine on the io loop (the same race)."""
    if path == "blocking":
        return lambda method: client.request(method)
    return lambda method: client.submit(client.arequest(method)).result(10)


PATHS = ["blocking", "loop"]


@pytest.mark.parametrize("path", PATHS)
def test_one_keep_alive_connection_carries_every_sequential_call(nodes, path: str) -> None:
    node = nodes()
    outcomes = Outcomes()
    client = client_for({"n": node.url}, outcomes)
    read = read_on(path, client)
    for _ in range(50):
        assert read("eth_blockNumber") == "0x10"
    assert node.connections == 1 and node.requests == 50
    client.close()


@pytest.mark.parametrize("path", PATHS)
def test_a_server_dropping_idle_connections_costs_a_reconnect_never_a_fault(nodes, path: str) -> None:
    node = nodes(close_after_answer=True)
    outcomes = Outcomes()
    client = client_for({"n": node.url}, outcomes)
    read = read_on(path, client)
    for _ in range(20):
        assert read("eth_chainId") == "0x7a69"
        time.sleep(0.002)  # let the close arrive first, as an idle timeout would
    assert node.requests == 20 and node.connections == 20
    wait_until(lambda: len(outcomes.all) >= 20, what="outcomes reported")
    assert outcomes.faults() == []
    assert client.dispatcher.transports.get("n", node.url).in_flight == 0  # every retry given back
    client.close()


@pytest.mark.parametrize("path", PATHS)
def test_an_answer_arriving_in_pieces_is_read_whole_on_the_same_connection(nodes, path: str) -> None:
    node = nodes(pause_mid_answer_s=0.005)
    outcomes = Outcomes()
    client = client_for({"n": node.url}, outcomes, hedge_reads=False)
    read = read_on(path, client)
    for _ in range(10):
        assert read("eth_blockNumber") == "0x10"
    assert node.connections == 1
    wait_until(lambda: len(outcomes.all) == 10, what="outcomes reported")
    assert outcomes.faults() == []
    client.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for localhost (openssl CLI), its key beside it."""
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem")],
        check=True, capture_output=True,
    )
    return where


def server_tls(certificate: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    return context


@pytest.mark.parametrize("path", PATHS)
def test_https_endpoints_are_verified_and_kept_alive(nodes, certificate: Path, monkeypatch, path: str) -> None:
    node = nodes(tls=server_tls(certificate))
    outcomes = Outcomes()
    untrusted = client_for({"n": node.url}, outcomes)
    with pytest.raises(RpcUnavailable, match="n=connection"):
        read_on(path, untrusted)("eth_chainId")
    wait_until(lambda: outcomes.faults(), what="the refused certificate reported")
    assert "CERTIFICATE_VERIFY_FAILED" in outcomes.faults()[0].detail
    untrusted.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(certificate / "cert.pem"))  # trust it, as an operator's CA bundle would
    trusted = client_for({"n": node.url}, Outcomes())
    read = read_on(path, trusted)
    for _ in range(10):
        assert read("eth_blockNumber") == "0x10"
    assert node.requests == 10
    assert node.connections == 2  # the refused handshake, then one kept-alive connection for all ten
    trusted.close()


@pytest.mark.parametrize("connections", ["new", "kept_alive"])
def test_a_blocking_call_hedges_to_the_next_endpoint_and_reports_the_loser(nodes, connections: str) -> None:
    """`new`: the first attempt has to connect; `kept_alive`: it goes out on a pooled connection."""
    slow, fast = nodes(), nodes()
    outcomes = Outcomes()
    client = client_for({"slow": slow.url, "fast": fast.url}, outcomes)
    if connections == "kept_alive":
        assert client.request("eth_blockNumber") == "0x10"  # leaves a kept-alive connection to `slow`
        wait_until(lambda: len(outcomes.all) == 1, what="the warm-up reported")
        outcomes.all.clear()
    slow.delay_s = 0.3
    started = time.monotonic()
    assert client.request("eth_blockNumber") == "0x10"
    assert time.monotonic() - started < 0.2  # the hedge after 20 ms answered, not the 300 ms endpoint
    assert (client.hedges.fired, client.hedges.won) == (1, 1)
    # The loser had its grace (0.1 s) and was cut off: reported SLOW, never as a breaker failure.
    wait_until(lambda: any(o.endpoint == "slow" for o in outcomes.all), what="the loser reported")
    assert [o.fault for o in outcomes.all if o.endpoint == "slow"] == [FaultKind.SLOW]
    client.close()


def test_a_loser_answering_within_its_grace_is_finished_by_the_io_loop_and_its_connection_reused(nodes) -> None:
    slow, fast = nodes(), nodes()
    outcomes = Outcomes()
    client = client_for({"slow": slow.url, "fast": fast.url}, outcomes)  # hedge after 20 ms, grace 100 ms
    assert client.request("eth_blockNumber") == "0x10"  # a kept-alive connection to `slow`
    wait_until(lambda: len(outcomes.all) == 1, what="the warm-up reported")
    outcomes.all.clear()
    slow.delay_s = 0.05
    assert client.request("eth_blockNumber") == "0x10"
    assert client.hedges.won == 1
    # The loser answered 50 ms in, inside its grace: judged as an answer, its connection back in the pool.
    wait_until(lambda: any(o.endpoint == "slow" for o in outcomes.all), what="the loser reported")
    assert [o.fault for o in outcomes.all if o.endpoint == "slow"] == [None]
    pool = client.dispatcher.transports.get("slow", slow.url)
    wait_until(lambda: pool.in_flight == 0 and pool.idle == 1, what="the loser's connection given back")
    slow.delay_s = 0.0
    assert client.request("eth_blockNumber") == "0x10"
    assert slow.connections == 1  # the same connection carried all three requests
    client.close()


def test_a_blocking_call_gives_up_at_the_deadline_and_the_attempts_end_as_timeouts(nodes) -> None:
    stalled = [nodes(delay_s=2.0), nodes(delay_s=2.0)]
    outcomes = Outcomes()
    client = client_for({f"s{i}": n.url for i, n in enumerate(stalled)}, outcomes, deadline_s=0.3,
                        attempt_timeout_s=0.25)
    started = time.monotonic()
    with pytest.raises(RpcUnavailable, match=r"deadline passed|s0=timeout"):
        client.request("eth_blockNumber")
    assert time.monotonic() - started < 0.5
    wait_until(lambda: {o.endpoint for o in outcomes.faults()} == {"s0", "s1"}, what="both timeouts reported")
    assert {o.fault for o in outcomes.faults()} == {FaultKind.TIMEOUT}
    client.close()
