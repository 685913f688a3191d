"""Local servers that answer like Discord, Telegram, Slack, Twilio (one aiohttp app) and an SMTP server.

For tests and benchmarks only. Each service keeps what it accepted (the body, when) and can be told
to misbehave for its next requests (`script`): a 429 with the service's own retry_after shape, a
5xx, a slow reply, a 404 (deleted webhook), a malformed body, a Telegram migrate_to_chat_id, a 403.
It can also enforce a rate of its own (`limit`), answering 429 past it. After any 429 it counts a
request that arrives before the retry_after it gave as a `violation`.

SMTP: aiosmtpd with STARTTLS (a self-signed certificate made on the spot) and AUTH LOGIN/PLAIN;
`smtp_script` makes the next transactions answer 4xx or 5xx.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

SERVICES = ("discord", "telegram", "slack", "twilio", "apprise")
#: An alert's delivery ref as the channels write it: "ref 12" in a footer, "[ref 12]" on the log channel.
ALERT_REF = re.compile(r"ref ([^\s\]\"\\<|]+)")


@dataclass
class Fault:
    kind: str  # 429 | 500 | 502 | slow | 404 | 403 | 400 | malformed | migrate | optout
    retry_after: float = 1.0
    delay_s: float = 0.0
    new_chat_id: str = "-1009999"


@dataclass
class Accepted:
    service: str
    at: float
    body: str
    refs: tuple[str, ...]


@dataclass
class ServiceState:
    script: collections.deque[Fault] = field(default_factory=collections.deque)
    limit_per_s: float | None = None
    window: collections.deque[float] = field(default_factory=collections.deque)
    blocked_until: float = 0.0
    violations: int = 0
    requests: int = 0
    accepted: list[Accepted] = field(default_factory=list)


class FakeServices:
    """`with FakeServices() as f:` serves the web services (and a webhook for apprise) on one loopback port."""

    def __init__(self, telegram_token: str = "123456:TEST-token_abcdef", twilio_sid: str = "AC0123456789",
                 twilio_token: str = "twilio-secret-token-42") -> None:
        self.telegram_token = telegram_token
        self.twilio_sid, self.twilio_token = twilio_sid, twilio_token
        self.state = {name: ServiceState() for name in SERVICES}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-services", daemon=True)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    # --- URLs the channels are configured with -------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discord_url(self) -> str:
        return f"{self.base}/api/webhooks/42/discord-webhook-secret-token"

    @property
    def apprise_url(self) -> str:
        """An apprise URL: its JSON webhook (json://) posting to the fake's /apprise/<hook>."""
        return f"json://127.0.0.1:{self.port}/apprise/ops-hook-secret-7f3a"

    @property
    def slack_url(self) -> str:
        return f"{self.base}/services/T000/B000/slack-webhook-secret"

    # --- control ---------------------------------------------------------------------------------

    def script(self, service: str, *faults: Fault) -> None:
        with self.lock:
            self.state[service].script.extend(faults)

    def limit(self, service: str, per_s: float | None) -> None:
        with self.lock:
            self.state[service].limit_per_s = per_s

    def accepted(self, service: str) -> list[Accepted]:
        with self.lock:
            return list(self.state[service].accepted)

    def violations(self) -> int:
        with self.lock:
            return sum(s.violations for s in self.state.values())

    def down(self) -> None:
        """Stop listening (connections are refused, as from a server that is down) until `up()`."""
        asyncio.run_coroutine_threadsafe(self._stop_site(), self._loop).result(10)

    def up(self) -> None:
        """Listen again on the same port after `down()`."""
        asyncio.run_coroutine_threadsafe(self._start_site(self.port), self._loop).result(10)

    @property
    def serving(self) -> bool:
        return self._site is not None

    # --- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> FakeServices:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/services/{a}/{b}/{c}", self._slack)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio)
        app.router.add_post("/apprise/{hook}", self._apprise)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await self._start_site(0)

    async def _start_site(self, port: int) -> None:
        if self._site is not None or self._runner is None:
            return
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        self._site = site
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop_site(self) -> None:
        site, self._site = self._site, None
        if site is not None:
            await site.stop()
        server = self._runner.server if self._runner is not None else None
        for connection in list(getattr(server, "connections", ())):  # keep-alive ones too: the server is gone
            connection.force_close()

    # --- the common path ---------------------------------------------------------------------------

    async def _gate(self, service: str) -> tuple[Fault | None, bool]:
        """(fault to apply, over our own limit?); counts requests that came before a retry_after ended."""
        now = time.monotonic()
        with self.lock:
            s = self.state[service]
            s.requests += 1
            if now < s.blocked_until:
                s.violations += 1
            fault = s.script.popleft() if s.script else None
            over = False
            if s.limit_per_s is not None:
                while s.window and now - s.window[0] >= 1.0:
                    s.window.popleft()
                over = len(s.window) >= s.limit_per_s
                if not over:
                    s.window.append(now)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            fault = None
        return fault, over

    def _throttle(self, service: str, retry_after: float) -> None:
        with self.lock:
            s = self.state[service]
            s.blocked_until = max(s.blocked_until, time.monotonic() + retry_after)

    def _accept(self, service: str, body: str) -> None:
        with self.changed:
            refs = tuple(ALERT_REF.findall(body))
            self.state[service].accepted.append(Accepted(service, time.monotonic(), body, refs))
            self.changed.notify_all()

    # --- the services ------------------------------------------------------------------------------

    async def _discord(self, request: web.Request) -> web.Response:
        fault, over = await self._gate("discord")
        if over and fault is None:
            fault = Fault("429", retry_after=0.5)
        if request.query.get("wait") != "true":
            return web.json_response({"message": "test server wants ?wait=true"}, status=400)
        if fault is not None:
            match fault.kind:
                case "429":
                    self._throttle("discord", fault.retry_after)
                    return web.json_response(
                        {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": False},
                        status=429, headers={"Retry-After": str(int(fault.retry_after + 0.999)),
                                             "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                                             "X-RateLimit-Reset-After": str(fault.retry_after),
                                             "X-RateLimit-Bucket": "abc"})
                case "404":
                    return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
                case "malformed":
                    return web.Response(status=502, text="<html>bad gateway{")
                case kind:
                    return web.Response(status=int(kind) if kind.isdigit() else 500, text="error")
        raw = await request.text()
        payload = json.loads(raw)
        if len(payload.get("embeds", [])) > 10 or len(payload.get("content", "")) > 2000:
            return web.json_response({"message": "Invalid Form Body", "code": 50035}, status=400)
        self._accept("discord", raw)
        return web.json_response({"id": "1", "channel_id": "2"},
                                 headers={"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
                                          "X-RateLimit-Reset-After": "0.4"})

    async def _telegram(self, request: web.Request) -> web.Response:
        fault, over = await self._gate("telegram")
        if over and fault is None:
            fault = Fault("429", retry_after=1)
        if request.match_info["token"] != self.telegram_token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if fault is not None:
            match fault.kind:
                case "429":
                    self._throttle("telegram", fault.retry_after)
                    return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                              "parameters": {"retry_after": fault.retry_after}}, status=429)
                case "migrate":
                    return web.json_response({"ok": False, "error_code": 400, "description": "group upgraded",
                                              "parameters": {"migrate_to_chat_id": int(fault.new_chat_id)}},
                                             status=400)
                case "403":
                    return web.json_response({"ok": False, "error_code": 403,
                                              "description": "Forbidden: bot was blocked by the user"}, status=403)
                case "malformed":
                    return web.Response(status=500, text="{not json")
                case kind:
                    return web.Response(status=int(kind) if kind.isdigit() else 500, text="error")
        raw = await request.text()
        payload = json.loads(raw)
        if not 1 <= len(payload.get("text", "")) <= 4096:
            return web.json_response({"ok": False, "error_code": 400, "description": "message is too long"},
                                     status=400)
        self._accept("telegram", raw)
        return web.json_response({"ok": True, "result": {"message_id": 1, "chat": {"id": payload["chat_id"]}}})

    async def _webhook_fault(self, service: str, not_found: str) -> web.Response | None:
        """A plain-text webhook's (Slack's, apprise's) answer to its scripted fault or our limit, or None."""
        fault, over = await self._gate(service)
        if over and fault is None:
            fault = Fault("429", retry_after=1)
        if fault is None:
            return None
        match fault.kind:
            case "429":
                self._throttle(service, fault.retry_after)
                return web.Response(status=429, text="rate_limited",
                                    headers={"Retry-After": str(int(fault.retry_after + 0.999))})
            case "404":
                return web.Response(status=404, text=not_found)
            case kind:
                return web.Response(status=int(kind) if kind.isdigit() else 500, text="error")

    async def _slack(self, request: web.Request) -> web.Response:
        if (refused := await self._webhook_fault("slack", "no_service")) is not None:
            return refused
        raw = await request.text()
        if len(json.loads(raw).get("blocks", [])) > 50:
            return web.Response(status=400, text="invalid_blocks")
        self._accept("slack", raw)
        return web.Response(text="ok")

    async def _twilio(self, request: web.Request) -> web.Response:
        fault, over = await self._gate("twilio")
        if over and fault is None:
            fault = Fault("429", retry_after=1)
        auth = request.headers.get("Authorization", "")
        import base64

        expected = "Basic " + base64.b64encode(f"{self.twilio_sid}:{self.twilio_token}".encode()).decode()
        if auth != expected or request.match_info["sid"] != self.twilio_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if fault is not None:
            match fault.kind:
                case "429":
                    self._throttle("twilio", fault.retry_after)
                    return web.json_response({"code": 20429, "message": "Too Many Requests", "status": 429},
                                             status=429, headers={"Retry-After": str(int(fault.retry_after + 0.999))})
                case "optout":
                    return web.json_response({"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                                              "status": 400}, status=400)
                case kind:
                    return web.Response(status=int(kind) if kind.isdigit() else 500, text="error")
        form = await request.post()
        body = str(form.get("Body", ""))
        if len(body) > 1600:
            return web.json_response({"code": 21617, "message": "body too long", "status": 400}, status=400)
        self._accept("twilio", json.dumps({"To": form.get("To"), "Body": body}))
        return web.json_response({"sid": "SM1", "status": "queued", "to": form.get("To")}, status=201)

    async def _apprise(self, request: web.Request) -> web.Response:
        """A webhook as apprise's json:// plugin posts to it: {version, title, message, type, attachments}."""
        if (refused := await self._webhook_fault("apprise", "no such hook")) is not None:
            return refused
        raw = await request.text()
        payload = json.loads(raw)
        if not isinstance(payload.get("message"), str) or payload.get("version") != "1.0":
            return web.Response(status=400, text="not an apprise JSON payload")
        self._accept("apprise", raw)
        return web.Response(text="ok")


# --- SMTP ------------------------------------------------------------------------------------------


def self_signed_cert(directory: Path) -> tuple[str, str]:
    """A certificate and key for 127.0.0.1/localhost (PEM files in `directory`), made by the openssl CLI."""
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key_path), "-out", str(cert_path), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)
    return str(cert_path), str(key_path)


class FakeSmtp:
    """aiosmtpd on loopback requiring STARTTLS and AUTH (user `alerts`, password `smtp-secret-pw`)."""

    def __init__(self, user: str = "alerts", password: str = "smtp-secret-pw") -> None:
        self.user, self.password = user, password
        self.messages: list[tuple[float, str]] = []
        self.script: collections.deque[int] = collections.deque()  # reply codes for the next DATA commands
        self.changed = threading.Condition()
        self._dir = tempfile.TemporaryDirectory()
        self.cert_file, key_file = self_signed_cert(Path(self._dir.name))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(self.cert_file, key_file)
        self._controller: Any = None
        self.port = 0

    def __enter__(self) -> FakeSmtp:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        outer = self

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == outer.user \
                and auth_data.password.decode() == outer.password
            return AuthResult(success=ok, handled=False)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with outer.changed:
                    code = outer.script.popleft() if outer.script else 250
                    if code != 250:
                        return f"{code} scripted failure"
                    outer.messages.append((time.monotonic(), envelope.content.decode("utf-8", "replace")))
                    outer.changed.notify_all()
                return "250 OK"

        import socket

        with socket.socket() as probe:  # aiosmtpd connects to its own port to know it is up: it needs a number
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=self._tls,
                                      require_starttls=True, authenticator=authenticator, auth_required=True,
                                      auth_require_tls=True)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
        self._dir.cleanup()
