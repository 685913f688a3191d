"""Each service's answers mean what its documentation says (REFERENCE.md), and no answer crashes us."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting import discord, slack, sms, smtp, telegram
from alerting.replies import ReplyKind

K = ReplyKind


def test_discord_answers() -> None:
    body = json.dumps({"message": "You are being rate limited.", "retry_after": 1.25, "global": False}).encode()
    assert discord.classify(429, {"Retry-After": "2"}, body).retry_after_s == 1.25  # the body's float wins
    assert discord.classify(429, {"Retry-After": "2"}, b"garbage").retry_after_s == 2.0
    assert discord.classify(404, {}, b'{"message": "Unknown Webhook", "code": 10015}').kind is K.GONE
    ok = discord.classify(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.8"}, b"{}")
    assert (ok.kind, ok.park_s) == (K.DELIVERED, 0.8)
    assert discord.classify(200, {"x-ratelimit-remaining": "3"}, b"{}").park_s == 0.0
    assert discord.classify(400, {}, b'{"message": "Invalid Form Body"}').kind is K.PERMANENT
    assert discord.classify(502, {}, b"<html>").kind is K.RETRY


def test_telegram_answers() -> None:
    throttled = telegram.classify(429, b'{"ok":false,"error_code":429,"parameters":{"retry_after":7}}')
    assert (throttled.kind, throttled.retry_after_s) == (K.THROTTLED, 7)
    moved = telegram.classify(400, b'{"ok":false,"error_code":400,"parameters":{"migrate_to_chat_id":-100123}}')
    assert (moved.kind, moved.new_chat_id) == (K.MIGRATE, "-100123")
    assert telegram.classify(403, b'{"ok":false,"error_code":403,"description":"bot was blocked"}').kind is K.GONE
    assert telegram.classify(200, b'{"ok":true,"result":{}}').kind is K.DELIVERED
    assert telegram.classify(400, b'{"ok":false,"error_code":400,"description":"bad"}').kind is K.PERMANENT
    assert telegram.classify(500, b"not json").kind is K.RETRY


def test_slack_answers() -> None:
    assert slack.classify(200, {}, b"ok").kind is K.DELIVERED
    assert slack.classify(429, {"Retry-After": "3"}, b"").retry_after_s == 3.0
    assert slack.classify(404, {}, b"no_service").kind is K.GONE
    assert slack.classify(400, {}, b"invalid_payload").kind is K.PERMANENT
    assert slack.classify(200, {}, b"{}").kind is K.RETRY  # not the plain `ok` a delivery answers


def test_twilio_answers() -> None:
    assert sms.classify(201, {}, b'{"status": "queued", "sid": "SM1"}').kind is K.DELIVERED
    assert sms.classify(429, {"Retry-After": "1"}, b'{"code": 20429}').retry_after_s == 1.0
    assert sms.classify(400, {}, b'{"code": 20429, "message": "Too Many Requests"}').kind is K.THROTTLED
    for code in (21610, 21211, 21608):
        assert sms.classify(400, {}, json.dumps({"code": code, "message": "x"}).encode()).kind is K.PERMANENT
    assert sms.classify(401, {}, b'{"code": 20003}').kind is K.GONE
    assert sms.classify(503, {}, b"").kind is K.RETRY


def test_smtp_reply_classes() -> None:
    assert smtp.classify(250, "ok").kind is K.DELIVERED
    assert smtp.classify(451, "try later").kind is K.RETRY
    assert smtp.classify(550, "no such user").kind is K.PERMANENT
    assert smtp.classify(535, "bad credentials").kind is K.GONE


statuses = st.integers(100, 599)
json_values = st.integers() | st.text(max_size=10) | st.none()
bodies = st.one_of(st.binary(max_size=200),
                   st.dictionaries(st.text(max_size=10), json_values, max_size=4).map(lambda d: json.dumps(d).encode()))
headers = st.dictionaries(st.sampled_from(["Retry-After", "X-RateLimit-Remaining", "X-RateLimit-Reset-After"]),
                          st.text(max_size=8), max_size=3)


@settings(max_examples=300, deadline=None)
@given(statuses, headers, bodies)
def test_no_answer_crashes_a_classifier_and_5xx_is_always_transient(status: int, hdrs: dict[str, str],
                                                                     body: bytes) -> None:
    replies = [discord.classify(status, hdrs, body), telegram.classify(status, body),
               slack.classify(status, hdrs, body), sms.classify(status, hdrs, body)]
    for reply in replies:
        assert reply.retry_after_s is None or reply.retry_after_s >= 0
        if status >= 500:
            assert reply.kind in (K.RETRY, K.THROTTLED)
        if status == 429:
            assert reply.kind is K.THROTTLED
