"""send/recv that keep the GIL: the same answers as the socket's own non-blocking calls."""

from __future__ import annotations

import socket

import pytest

from rpc import heldgil

pytestmark = pytest.mark.skipif(not heldgil.available, reason="libc not loadable here")


def test_send_recv_nothing_yet_and_the_peer_closing() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    assert heldgil.recv(b.fileno()) is None  # nothing to read: None, not an error and not a wait
    assert heldgil.send(a.fileno(), b"hello") == 5
    assert heldgil.recv(b.fileno()) == b"hello"
    a.close()
    assert heldgil.recv(b.fileno()) == b""  # the peer closed
    with pytest.raises(OSError):
        heldgil.send(b.fileno(), b"x" * 100_000)  # EPIPE, never SIGPIPE
    b.close()


def test_a_full_buffer_sends_part_then_nothing_and_a_large_answer_comes_in_reads() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    total, chunk = 0, b"y" * 65536
    while (sent := heldgil.send(a.fileno(), chunk)) > 0:
        total += sent
    assert total > 0 and heldgil.send(a.fileno(), chunk) == 0
    received = 0
    while (data := heldgil.recv(b.fileno())) is not None:
        assert len(data) <= heldgil.READ_SIZE
        received += len(data)
    assert received == total
    a.close()
    b.close()
