"""The console server over real loopback sockets: token files, authentication, loopback binding."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import msgspec
import pytest

from console.server import ConsoleError, ConsoleServer
from console.wire import Request, Response, response_decoder
from tests.console.conftest import SECRET_VALUE, FakeCommands

IO_TIMEOUT_S = 10.0


class Conn:
    """A raw newline-JSON connection, as an attacker or a client would open it."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=IO_TIMEOUT_S)
        self.file = self.sock.makefile("rwb")

    def send_line(self, raw: bytes) -> Response | None:
        self.file.write(raw + b"\n")
        self.file.flush()
        line = self.file.readline()
        return response_decoder.decode(line) if line else None

    def ask(self, token: str, *argv: str) -> Response | None:
        return self.send_line(msgspec.json.encode(Request(token=token, argv=list(argv), id=7)))

    def closed_by_server(self) -> bool:
        return self.file.readline() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def token_of(server: ConsoleServer) -> str:
    return server.token_path.read_text().strip()


def test_token_and_endpoint_files_are_private_to_the_user(server: ConsoleServer) -> None:
    for path in (server.token_path, server.endpoint_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert len(token_of(server)) >= 32
    info = json.loads(server.endpoint_path.read_text())
    assert info["host"] == "127.0.0.1" and info["port"] == server.port


def test_a_request_with_the_token_is_answered_and_the_connection_stays_open(server: ConsoleServer,
                                                                         fake: FakeCommands) -> None:
    assert server.port is not None
    conn = Conn(server.port)
    try:
        first = conn.ask(token_of(server), "echo", "hi", "--times", "2")
        second = conn.ask(token_of(server), "table")
    finally:
        conn.close()
    assert first == Response(id=7, ok=True, kind="text", body="hihi")
    assert second is not None and second.kind == "table" and second.body["rows"][1] == ["bbb", 22]
    assert fake.calls == [["echo", "hi"]]


@pytest.mark.parametrize(
    "line",
    [
        msgspec.json.encode({"argv": ["echo", "x"], "id": 1}),  # no token at all
        msgspec.json.encode(Request(token="not-the-token", argv=["echo", "x"])),
        msgspec.json.encode(Request(token="", argv=["echo", "x"])),
        b"echo x",  # not JSON
        b'{"token": 5, "argv": ["echo", "x"]}',  # wrong type
    ],
    ids=["missing", "wrong", "empty", "not-json", "wrong-type"],
)
def test_requests_without_the_right_token_are_refused_and_disconnected(
    server: ConsoleServer, fake: FakeCommands, line: bytes
) -> None:
    assert server.port is not None
    conn = Conn(server.port)
    try:
        answer = conn.send_line(line)
        assert answer is not None and not answer.ok and answer.close
        assert answer.error is not None and "unauthorized" in answer.error
        assert conn.closed_by_server()
    finally:
        conn.close()
    assert fake.calls == [] and server.refused == 1


def test_wrong_token_after_a_good_one_still_closes(server: ConsoleServer, fake: FakeCommands) -> None:
    assert server.port is not None
    conn = Conn(server.port)
    try:
        assert conn.ask(token_of(server), "echo", "a") is not None
        refused = conn.ask(token_of(server)[:-1] + "x", "echo", "b")
        assert refused is not None and not refused.ok and conn.closed_by_server()
    finally:
        conn.close()
    assert fake.calls == [["echo", "a"]]


def test_a_slow_command_does_not_hold_up_other_operators(server: ConsoleServer, fake: FakeCommands) -> None:
    assert server.port is not None
    slow, quick = Conn(server.port), Conn(server.port)
    try:
        slow.file.write(msgspec.json.encode(Request(token=token_of(server), argv=["wait"], id=1)) + b"\n")
        slow.file.flush()
        assert fake.waiting.wait(IO_TIMEOUT_S)  # the handler is blocked in its worker thread
        assert quick.ask(token_of(server), "echo", "meanwhile") == Response(id=7, ok=True, body="meanwhile")
        fake.gate.set()
        assert response_decoder.decode(slow.file.readline()) == Response(id=1, ok=True, body="gate opened")
    finally:
        slow.close()
        quick.close()


def test_binds_to_loopback_only(server: ConsoleServer, tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.2", "example.com"):
        with pytest.raises(ConsoleError, match="loopback"):
            ConsoleServer(tmp_path, host=host)
    assert server._server is not None
    assert {s.getsockname()[0] for s in server._server.sockets} == {"127.0.0.1"}
    # And from an address of this machine that is not loopback, nobody answers on that port.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outbound interface
        own_ip = probe.getsockname()[0]
    except OSError:
        own_ip = "127.0.0.1"
    finally:
        probe.close()
    if own_ip.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    assert server.port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((own_ip, server.port), timeout=IO_TIMEOUT_S).close()


def test_secrets_never_reach_the_wire(server: ConsoleServer) -> None:
    assert server.port is not None
    conn = Conn(server.port)
    try:
        conn.file.write(msgspec.json.encode(Request(token=token_of(server), argv=["leak"])) + b"\n")
        conn.file.flush()
        raw = conn.file.readline()
    finally:
        conn.close()
    assert SECRET_VALUE.encode() not in raw
    assert response_decoder.decode(raw).body == {"key": "***", "text": "url has ***"}


def test_an_oversized_line_drops_that_connection_only(server: ConsoleServer) -> None:
    assert server.port is not None
    big = Conn(server.port)
    try:
        big.file.write(b"x" * (200 * 1024) + b"\n")
        big.file.flush()
        assert big.closed_by_server()
    except ConnectionResetError:
        pass  # the server closed while we were still writing: also a refusal
    finally:
        big.close()
    conn = Conn(server.port)
    try:
        assert conn.ask(token_of(server), "echo", "still", "here") == Response(id=7, ok=True, body="still here")
    finally:
        conn.close()


def test_quit_closes_and_stop_removes_the_files(tmp_path: Path, fake: FakeCommands) -> None:
    srv = ConsoleServer(tmp_path, registry=fake.registry)
    port = srv.start()
    first_token = token_of(srv)
    conn = Conn(port)
    try:
        bye = conn.ask(first_token, "quit")
        assert bye is not None and bye.ok and bye.close and conn.closed_by_server()
    finally:
        conn.close()
    srv.stop()
    assert not srv.token_path.exists() and not srv.endpoint_path.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S).close()
    again = ConsoleServer(tmp_path, registry=fake.registry)
    again.start()
    try:
        assert token_of(again) != first_token  # a fresh token on every start
    finally:
        again.stop()
