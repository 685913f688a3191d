"""send and recv that keep the GIL, for calls that cannot block (MSG_DONTWAIT).

CPython lets go of the GIL around every socket call, even one that returns at once. With several
threads calling, each let-go is a chance to lose the GIL to another thread and wait to get it back,
in the middle of a request. `benchmarks/bench_transport.py`, 8 threads each doing send, select, recv
against anvil with 12 us of Python work around it: p50 0.37 ms and 17,000 calls/s through socket's
methods, 0.21 ms and 21,200 calls/s with send and recv through `ctypes.PyDLL` (which, unlike
`ctypes.CDLL`, keeps the GIL). The wait for the answer (select) still lets go, so other threads run
while the node works. (Waiting inside recv with SO_RCVTIMEO instead was tried: Linux keeps that
timeout in whole jiffies, 2 ms asked became 8 ms, too coarse for a hedge delay.)

Linux and glibc-like libcs. `available` is False where libc cannot be loaded; callers then use the
socket's own methods. Used for plain TCP only: TLS goes through `ssl`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import threading

#: The read buffer (one per thread); an answer larger than this arrives in several reads.
READ_SIZE = 262144

_FLAGS = socket.MSG_DONTWAIT | getattr(socket, "MSG_NOSIGNAL", 0)
_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK)
_local = threading.local()


def _load() -> ctypes.PyDLL | None:
    try:
        name = ctypes.util.find_library("c")
        libc = ctypes.PyDLL(name, use_errno=True) if name else None
        if libc is None:
            return None
        libc.send.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int)
        libc.send.restype = ctypes.c_ssize_t
        libc.recv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        libc.recv.restype = ctypes.c_ssize_t
        return libc
    except (OSError, AttributeError):
        return None


_libc = _load()
available = _libc is not None and hasattr(socket, "MSG_DONTWAIT")


def send(fd: int, data: bytes) -> int:
    """Bytes of `data` sent, 0 if the socket's buffer is full; OSError for anything else."""
    assert _libc is not None
    while True:
        sent = _libc.send(fd, data, len(data), _FLAGS)
        if sent >= 0:
            return int(sent)
        err = ctypes.get_errno()
        if err == errno.EINTR:
            continue
        if err in _AGAIN:
            return 0
        raise OSError(err, os.strerror(err))


def recv(fd: int) -> bytes | None:
    """What is there to read (b"" if the peer closed), or None if nothing is yet."""
    assert _libc is not None
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = ctypes.create_string_buffer(READ_SIZE)
    while True:
        got = _libc.recv(fd, buffer, READ_SIZE, _FLAGS)
        if got > 0:
            return ctypes.string_at(buffer, got)
        if got == 0:
            return b""
        err = ctypes.get_errno()
        if err == errno.EINTR:
            continue
        if err in _AGAIN:
            return None
        raise OSError(err, os.strerror(err))
