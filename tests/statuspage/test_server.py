"""The status page's server over real sockets, in process: the console's token, the event stream, the stop.

The console server writes the token as in the bot; a real risk book actor answers the console's `estop`
command, which is what the page's button runs; the view comes from the real gatherer.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.risk_book import RiskBook
from actors.risk_console import register_risk_commands
from console.registry import CommandRegistry
from console.server import ConsoleServer
from persistence import audit_trail
from persistence.sqlite_store import SqliteRiskStore
from protocol.config import ConfigError, load_config
from protocol.risk import RiskLimits, RiskSnapshot
from statuspage.server import COOKIE, StatusPageError, StatusPageServer, session_value
from supervision import ChildSpec, registry, start_tree, stop_tree, supervisor_spec
from tests.waiting import wait_until

TIMEOUT_S = 20.0


@dataclass
class Page:
    data_dir: Path
    console: ConsoleServer
    server: StatusPageServer

    @property
    def token(self) -> str:
        return (self.data_dir / "console.token").read_text().strip()

    def request(self, method: str, path: str, *, cookie: str | None = None, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        assert self.server.port is not None
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT_S)
        sent = dict(headers or {})
        if cookie is not None:
            sent["Cookie"] = f"{COOKIE}={cookie}"
        conn.request(method, path, body=body, headers=sent)
        return conn.getresponse()

    def login(self) -> str:
        answer = self.request("GET", f"/?token={self.token}")
        assert answer.status == 303, answer.read()
        cookie = answer.getheader("Set-Cookie") or ""
        return cookie.split(";")[0].split("=", 1)[1]

    def estop(self, cookie: str | None, reason: str, origin: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if origin is not None:
            headers["Origin"] = origin
        answer = self.request("POST", "/api/estop", cookie=cookie, body=json.dumps({"reason": reason}).encode(),
                              headers=headers)
        text = answer.read()
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, {"text": text.decode()}


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    commands = CommandRegistry()
    register_risk_commands(commands)
    start_tree(supervisor_spec("root", [ChildSpec(id="risk-book", start=RiskBook, kwargs={
        "limits": RiskLimits(), "open_store": lambda: SqliteRiskStore(tmp_path / "book.sqlite3")})]))
    console = ConsoleServer(tmp_path, registry=commands)
    server = StatusPageServer(tmp_path, registry=commands, interval_s=0.1)
    try:
        wait_until(lambda: registry.snapshot("/risk-book"), TIMEOUT_S, "the risk book's first snapshot")
        console.start()
        server.start()
        yield Page(tmp_path, console, server)
    finally:
        server.stop()
        console.stop()
        stop_tree()


class Stream:
    """A server-sent event stream read line by line (the browser's EventSource, without the browser)."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.response = response

    def next(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode().rstrip("\n")
            if not line:
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value

    def view_where(self, condition, what: str) -> tuple[int, dict]:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            event = self.next()
            if event.get("event") == "view":
                view = json.loads(event["data"])
                if condition(view):
                    return int(event["id"]), view
        raise AssertionError(f"no view where {what} within {TIMEOUT_S}s")

    def close(self) -> None:
        self.response.close()


def _open_stream(page: Page, cookie: str) -> Stream:
    answer = page.request("GET", "/events", cookie=cookie)
    assert answer.status == 200
    assert answer.getheader("Content-Type", "").startswith("text/event-stream")
    return Stream(answer)


def test_without_the_consoles_token_everything_is_refused(page: Page) -> None:
    assert page.request("GET", "/").status == 401
    assert page.request("GET", "/?token=not-the-token").status == 401
    assert page.request("GET", "/events").status == 401
    assert page.request("GET", "/api/view", headers={"Authorization": "Bearer not-the-token"}).status == 401
    assert page.request("GET", "/api/view", cookie=session_value("not-the-token")).status == 401
    status, _ = page.estop(None, "no session")
    assert status == 401
    assert page.server.refused == 6
    snap = registry.snapshot("/risk-book")
    assert isinstance(snap, RiskSnapshot) and not snap.emergency_stop.active


def test_the_token_opens_a_session_that_a_new_console_token_ends(page: Page) -> None:
    answer = page.request("GET", f"/?token={page.token}")
    assert answer.status == 303 and answer.getheader("Location") == "/"  # the token leaves the address bar
    cookie_header = answer.getheader("Set-Cookie") or ""
    assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header
    cookie = cookie_header.split(";")[0].split("=", 1)[1]
    assert cookie != page.token and page.token not in cookie_header
    shown = page.request("GET", "/", cookie=cookie)
    assert shown.status == 200
    html = shown.read().decode()
    assert "EventSource" in html and "<script src" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", "")  # self-contained: nothing fetched from elsewhere
    assert "default-src 'none'" in (shown.getheader("Content-Security-Policy") or "")
    bearer = page.request("GET", "/api/view", headers={"Authorization": f"Bearer {page.token}"})
    assert bearer.status == 200 and any(a["path"] == "/risk-book" for a in json.loads(bearer.read())["tree"])

    page.console.stop()  # a console restart writes a new token: sessions opened with the old one end
    page.console.start()
    assert page.request("GET", "/api/view", cookie=cookie).status == 401
    assert page.request("GET", "/api/view", cookie=page.login()).status == 200


def test_the_stream_pushes_changes_and_survives_a_reconnect_and_a_server_restart(page: Page) -> None:
    cookie = page.login()
    stream = _open_stream(page, cookie)
    first, view = stream.view_where(lambda v: True, "any view")
    assert [a["path"] for a in view["tree"]][:2] == ["/", "/risk-book"]
    later, _ = stream.view_where(lambda v: True, "a second view")
    assert later > first  # pushed, not asked for
    stream.close()

    stream = _open_stream(page, cookie)  # a reconnect starts with the current view
    again, view = stream.view_where(lambda v: True, "the view after reconnecting")
    assert again >= later and view["risk"]["emergencyStop"]["active"] is False
    stream.close()

    port = page.server.port
    page.server.stop()  # as when the supervisor restarts the page's actor: same address, the browser reconnects
    page.server.start()
    assert page.server.port == port
    stream = _open_stream(page, cookie)
    _, view = stream.view_where(lambda v: True, "the view after the server restarted")
    assert any(a["path"] == "/risk-book" for a in view["tree"])
    stream.close()


def test_the_stop_button_runs_the_consoles_audited_estop(page: Page) -> None:
    cookie = page.login()
    stream = _open_stream(page, cookie)
    origin = f"http://127.0.0.1:{page.server.port}"

    assert page.estop(cookie, "   ", origin)[0] == 400  # a reason is required
    assert page.estop(cookie, "from elsewhere", "http://evil.example")[0] == 401  # another site's form
    stopped_before = [r for r in audit_trail.current().records() if r.kind == "console_command"]
    assert stopped_before == []

    status, answer = page.estop(cookie, "pool drained -- checking", origin)
    assert status == 200 and answer["ok"], answer
    assert answer["body"]["emergency_stop"]["active"] is True

    snap = registry.snapshot("/risk-book")
    assert isinstance(snap, RiskSnapshot)
    assert snap.emergency_stop.active and snap.emergency_stop.reason == "pool drained -- checking"
    assert snap.emergency_stop.by == "status-page@127.0.0.1"
    records = list(audit_trail.current().records())
    command = [r for r in records if r.kind == "console_command"]
    assert len(command) == 1 and command[0].body["command"] == "estop" and command[0].body["ok"] is True
    assert command[0].body["by"] == "status-page@127.0.0.1"
    triggered = [r for r in records if r.kind == "emergency_stop_triggered"]
    assert len(triggered) == 1 and triggered[0].body["reason"] == "pool drained -- checking"

    _, view = stream.view_where(lambda v: v["risk"]["emergencyStop"]["active"], "the stop on the page")
    assert view["risk"]["emergencyStop"]["reason"] == "pool drained -- checking"
    assert view["risk"]["mayTrade"] is False
    stream.close()


def test_a_non_loopback_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(StatusPageError, match="not a loopback address"):
        StatusPageServer(tmp_path, host="0.0.0.0")
    with pytest.raises(ConfigError, match=re.escape("STATUS_PAGE_HOST='192.168.1.5' is not a loopback address")):
        load_config({"STATUS_PAGE": "true", "STATUS_PAGE_HOST": "192.168.1.5"})
    allowed = load_config({"STATUS_PAGE": "true", "STATUS_PAGE_HOST": "0.0.0.0", "STATUS_PAGE_ALLOW_REMOTE": "true"})
    assert allowed.status_page.allow_remote and allowed.status_page.host == "0.0.0.0"
    assert load_config({}).status_page.enabled is False  # off unless asked for
    StatusPageServer(tmp_path, host="::1")  # loopback IPv6 is accepted
