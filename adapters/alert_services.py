"""The alert channels' I/O: one coroutine per request to Discord, Telegram, Slack, Twilio or SMTP.

Each service turns a Notification into its requests (`build`, pure formatting from alerting/) and
sends one request at a time (`send`, a coroutine on the shared io loop) returning the alerting
`Reply` that classifies the answer. Nothing here retries or decides: the channel actor does. Every
text that leaves (details of errors included) goes through `redact`, so no URL token or password
can reach a log line.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp
from loguru import logger

from alerting import discord, slack, sms, smtp, telegram
from alerting.replies import Reply, ReplyKind
from alerting.text import log_lines
from protocol.alerts import ChannelKind, Notification
from protocol.secrets import Secret, redact

#: A service that has not answered in this long is treated as a transient failure.
DEFAULT_REQUEST_TIMEOUT_S = 10.0


class AlertService(Protocol):
    kind: ChannelKind

    def build(self, n: Notification) -> list[Any]: ...

    async def send(self, request: Any) -> Reply: ...

    def migrate(self, request: Any, new_chat_id: str) -> Any: ...

    async def close(self) -> None: ...


def _transport_error(exc: BaseException) -> Reply:
    return Reply(ReplyKind.RETRY, redact(f"{type(exc).__name__}: {exc}".rstrip(": ")))


class _Http:
    """One keep-alive aiohttp session per service, created on the io loop at the first request."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def post(self, url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        async with self.session().post(url, **kwargs) as response:
            return response.status, dict(response.headers), await response.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def migrate(self, request: Any, new_chat_id: str) -> Any:
        return request


class DiscordService(_Http):
    kind = ChannelKind.DISCORD

    def __init__(self, webhook_url: Secret, timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self._url = webhook_url

    def build(self, n: Notification) -> list[Any]:
        return discord.payloads(n)

    async def send(self, request: Any) -> Reply:
        try:
            status, headers, body = await self.post(self._url.reveal(), params={"wait": "true"}, json=request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _transport_error(exc)
        return discord.classify(status, headers, body)


class TelegramService(_Http):
    kind = ChannelKind.TELEGRAM

    def __init__(self, bot_token: Secret, chat_id: str, api_base: str,
                 timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self._token = bot_token
        self.chat_id = chat_id
        self._base = api_base.rstrip("/")

    def build(self, n: Notification) -> list[Any]:
        return telegram.payloads(n, self.chat_id)

    async def send(self, request: Any) -> Reply:
        url = f"{self._base}/bot{self._token.reveal()}/sendMessage"
        try:
            status, _, body = await self.post(url, json=request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _transport_error(exc)
        return telegram.classify(status, body)

    def migrate(self, request: Any, new_chat_id: str) -> Any:
        logger.warning("telegram: chat {} became supergroup {}; sending there from now on", self.chat_id, new_chat_id)
        self.chat_id = new_chat_id
        return {**request, "chat_id": new_chat_id}


class SlackService(_Http):
    kind = ChannelKind.SLACK

    def __init__(self, webhook_url: Secret, timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self._url = webhook_url

    def build(self, n: Notification) -> list[Any]:
        return slack.payloads(n)

    async def send(self, request: Any) -> Reply:
        try:
            status, headers, body = await self.post(self._url.reveal(), json=request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _transport_error(exc)
        return slack.classify(status, headers, body)


class TwilioService(_Http):
    """One request per recipient: a recipient that opted out does not stop the others."""

    kind = ChannelKind.SMS

    def __init__(self, account_sid: str, auth_token: Secret, sender: str, recipients: tuple[str, ...], api_base: str,
                 timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self._sid = account_sid
        self._token = auth_token
        self._from = sender
        self._to = recipients
        self._base = api_base.rstrip("/")

    def build(self, n: Notification) -> list[Any]:
        text = sms.body(n)
        return [{"To": to, "From": self._from, "Body": text} for to in self._to]

    async def send(self, request: Any) -> Reply:
        url = f"{self._base}/2010-04-01/Accounts/{self._sid}/Messages.json"
        try:
            status, headers, body = await self.post(url, data=request, headers={"Authorization": self._auth()})
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _transport_error(exc)
        return sms.classify(status, headers, body)

    def _auth(self) -> str:
        import base64

        return "Basic " + base64.b64encode(f"{self._sid}:{self._token.reveal()}".encode()).decode()


class EmailService:
    """SMTP with STARTTLS (port 587) or implicit TLS (port 465), and AUTH when a user name is set."""

    kind = ChannelKind.EMAIL

    def __init__(self, host: str, port: int, sender: str, recipients: tuple[str, ...], *, username: str | None = None,
                 password: Secret | None = None, starttls: bool = True, implicit_tls: bool = False,
                 ca_file: str | None = None, timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        self._host, self._port = host, port
        self._from, self._to = sender, recipients
        self._username, self._password = username, password
        self._starttls, self._implicit = starttls and not implicit_tls, implicit_tls
        self._tls = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._timeout = timeout_s

    def build(self, n: Notification) -> list[Any]:
        import time

        return [smtp.message(n, self._from, self._to, time.time())]

    async def send(self, request: Any) -> Reply:
        import aiosmtplib

        assert isinstance(request, EmailMessage)
        try:
            await aiosmtplib.send(
                request, hostname=self._host, port=self._port, username=self._username,
                password=self._password.reveal() if self._password is not None else None,
                use_tls=self._implicit, start_tls=self._starttls, tls_context=self._tls, timeout=self._timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            worst = max(codes) if codes else 550
            return smtp.classify(worst, redact("; ".join(r.message for r in exc.recipients)))
        except aiosmtplib.SMTPResponseException as exc:
            return smtp.classify(exc.code, redact(exc.message))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return _transport_error(exc)
        return Reply(ReplyKind.DELIVERED)

    def migrate(self, request: Any, new_chat_id: str) -> Any:
        return request

    async def close(self) -> None:
        return None


class LogService:
    """The always-on channel: a headline line, then one line per alert of the group (WARNING, ERROR for
    critical), each its own log record so a JSON log keeps them apart."""

    kind = ChannelKind.LOG

    def build(self, n: Notification) -> list[Any]:
        return [(n.priority.value, log_lines(n))]

    async def send(self, request: Any) -> Reply:
        priority, lines = request
        log = logger.bind(actor="/alerts/channel:log")
        for text in lines:
            log.log("ERROR" if priority == "critical" else "WARNING", "ALERT {}", redact(text))
        return Reply(ReplyKind.DELIVERED)

    def migrate(self, request: Any, new_chat_id: str) -> Any:
        return request

    async def close(self) -> None:
        return None
