"""Email alerts: the message (stdlib `email`, pure) and SMTP reply classes (4xx transient, 5xx permanent)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerting.replies import Reply, ReplyKind
from alerting.text import headline, plain, truncate
from protocol.alerts import Notification

SUBJECT_MAX = 200


def message(n: Notification, sender: str, recipients: tuple[str, ...], now: float) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = truncate(" ".join(headline(n).split()), SUBJECT_MAX)  # one line, whatever the title holds
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(now, localtime=False)
    msg["Message-ID"] = make_msgid(idstring=n.ref, domain="arbiter.alerts")
    msg["X-Arbiter-Ref"] = n.ref
    msg.set_content(plain(n))
    return msg


def classify(code: int, text: str) -> Reply:
    """An SMTP reply code. 535 (authentication failed) makes the channel unusable, not just this message."""
    if 200 <= code < 400:
        return Reply(ReplyKind.DELIVERED)
    if code == 535 or code == 530:
        return Reply(ReplyKind.GONE, f"SMTP {code}: authentication refused: {text[:80]}")
    if 400 <= code < 500:
        return Reply(ReplyKind.RETRY, f"SMTP {code}: {text[:80]}")
    return Reply(ReplyKind.PERMANENT, f"SMTP {code}: {text[:80]}")
