"""The hand-written HTTP/1.1 pieces: request heads from URLs, and the response reader the
transport uses. Pure: bytes in, body or fault out, however the bytes are split."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.network import FaultKind
from rpc.errors import EndpointFault
from rpc.http1 import MAX_ERROR_BODY_BYTES, ResponseReader, Target
from rpc.routing import RoutingPolicy

POLICY = RoutingPolicy()
BODY = b'{"jsonrpc":"2.0","id":1,"result":"0x2a"}'


def reader(cap: int = 1 << 20) -> ResponseReader:
    return ResponseReader("e0", cap, POLICY)


def feed_split(r: ResponseReader, data: bytes, cuts: list[int]) -> bool:
    """Feed `data` cut at `cuts`; whether the reader said complete on the last piece (and only then)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    for piece in pieces[:-1]:
        assert not r.feed(piece), "complete before the last byte"
    return r.feed(pieces[-1])


def response(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for part in parts:
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


# --- requests -------------------------------------------------------------------------------------


def test_target_builds_the_request_head_from_the_url() -> None:
    t = Target.parse("http://127.0.0.1:8545/v1/key?x=1")
    assert (t.host, t.port, t.tls) == ("127.0.0.1", 8545, False)
    request = t.request(b"{}")
    assert request.startswith(b"POST /v1/key?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8545\r\n")
    assert request.endswith(b"\r\nContent-Length: 2\r\n\r\n{}")
    secure = Target.parse("https://node.example")
    assert (secure.port, secure.tls, secure.context is not None) == (443, True, True)
    assert b"Host: node.example\r\n" in secure.request(b"")
    assert Target.parse("http://[::1]:9/").request(b"").startswith(b"POST / HTTP/1.1\r\nHost: [::1]:9\r\n")


def test_url_credentials_become_basic_auth() -> None:
    head = Target.parse("https://alice:s%40cret@node.example/").request(b"")
    assert b"Authorization: Basic " + base64.b64encode(b"alice:s@cret") in head


@pytest.mark.parametrize(("url", "error"), [("ws://x", "scheme 'ws'"), ("http://", "no host"), ("x", "scheme ''")])
def test_bad_urls_are_refused_by_name(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Target.parse(url)


# --- responses ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 200), max_size=8), extra=st.binary(max_size=300))
def test_content_length_body_arrives_whole_however_it_is_split(cuts: list[int], extra: bytes) -> None:
    body = BODY + extra
    r = reader()
    assert feed_split(r, response(body), cuts)
    assert r.body() == body and r.keep_alive


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=8), size=st.integers(1, 64), extra=st.binary(max_size=300))
def test_chunked_body_arrives_whole_however_it_is_split(cuts: list[int], size: int, extra: bytes) -> None:
    body = BODY + extra
    r = reader()
    assert feed_split(r, chunked(body, size), cuts)
    assert r.body() == body and r.keep_alive


def test_a_body_delimited_by_the_close_ends_at_eof_and_is_not_reused() -> None:
    r = reader()
    assert not r.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY)
    assert r.eof() and r.body() == BODY
    assert not r.keep_alive


def test_connection_close_header_means_no_reuse() -> None:
    r = reader()
    assert r.feed(response(BODY, headers="Connection: close\r\n"))
    assert r.body() == BODY and not r.keep_alive


def test_a_close_before_any_byte_is_a_connection_fault_and_mid_answer_is_truncation() -> None:
    with pytest.raises(EndpointFault) as nothing:
        reader().eof()
    assert nothing.value.kind is FaultKind.CONNECTION and nothing.value.endpoint == "e0"
    r = reader()
    assert not r.feed(response(BODY)[:-5])
    with pytest.raises(EndpointFault) as cut:
        r.eof()
    assert cut.value.kind is FaultKind.TRUNCATED
    chunks = reader()
    assert not chunks.feed(chunked(BODY, 8)[:-12])
    with pytest.raises(EndpointFault, match="truncated"):
        chunks.eof()


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        ("429 Too Many Requests", "Retry-After: 7\r\n", FaultKind.RATE_LIMITED, 7.0),
        ("429 Too Many Requests", "", FaultKind.RATE_LIMITED, POLICY.park_default_s),
        ("503 Service Unavailable", "", FaultKind.HTTP_5XX, None),
        ("500 Internal Server Error", "", FaultKind.HTTP_5XX, None),
        ("404 Not Found", "", FaultKind.HTTP_STATUS, None),
        ("401 Unauthorized", "", FaultKind.HTTP_STATUS, None),
    ],
)
def test_statuses_are_faults_of_their_kind_and_leave_the_connection_reusable(
    status: str, headers: str, kind: FaultKind, retry_after: float | None
) -> None:
    r = reader()
    assert r.feed(response(b"<html>busy</html>", status, headers))
    with pytest.raises(EndpointFault) as fault:
        r.body()
    assert fault.value.kind is kind and fault.value.retry_after_s == retry_after
    assert r.keep_alive  # the error body was read whole: the connection can carry the next request


def test_a_declared_body_over_the_cap_fails_before_it_is_read() -> None:
    r = reader(cap=1000)
    with pytest.raises(EndpointFault) as fault:
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
    assert fault.value.kind is FaultKind.TOO_LARGE and "1073741824" in fault.value.detail
    assert not r.keep_alive


def test_a_streamed_body_over_the_cap_fails_as_soon_as_it_passes_it() -> None:
    r = reader(cap=1000)
    stream = chunked(b"x" * 5000, 100)
    with pytest.raises(EndpointFault) as fault:
        for i in range(0, len(stream), 256):
            r.feed(stream[i:i + 256])
    assert fault.value.kind is FaultKind.TOO_LARGE
    assert r.received < 1400  # stopped right after the cap, not at the end of the stream


def test_a_huge_error_page_is_its_status_fault_not_too_large() -> None:
    r = reader()
    with pytest.raises(EndpointFault) as fault:
        r.feed(f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: {MAX_ERROR_BODY_BYTES + 1}\r\n\r\n"
               .encode())
    assert fault.value.kind is FaultKind.RATE_LIMITED and fault.value.retry_after_s == 3.0


@pytest.mark.parametrize(
    "garbage",
    [b"garbage\r\n\r\n", b"\x00\xff\x13\x37" * 10, b"HTTP/1.1 abc OK\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n", b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n"
     b"Connection: upgrade\r\n\r\n"],
)
def test_bytes_that_are_not_an_http_answer_are_garbage(garbage: bytes) -> None:
    with pytest.raises(EndpointFault) as fault:
        reader().feed(garbage)
    assert fault.value.kind is FaultKind.GARBAGE


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=4), close=st.booleans())
def test_arbitrary_bytes_give_a_body_a_fault_or_more_waiting_never_a_crash(
    data: bytes, cuts: list[int], close: bool
) -> None:
    r = reader(cap=256)
    try:
        done = feed_split(r, data, cuts) if data else False
        if close and not done:
            done = r.eof()
        if done:
            assert isinstance(r.body(), bytes)
    except EndpointFault as fault:
        assert fault.endpoint == "e0" and fault.kind in set(FaultKind)
