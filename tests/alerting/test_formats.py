"""Each service's message limits hold for any notification, and nothing of it is silently dropped."""

from __future__ import annotations

import html

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting import discord, slack, sms, smtp, telegram
from alerting.text import plain, split
from protocol.alerts import Notification

from .strategies import notifications, texts


@settings(max_examples=150, deadline=None)
@given(notifications)
def test_discord_payloads_stay_inside_every_limit(n: Notification) -> None:
    messages = discord.payloads(n)
    described = ""
    for m in messages:
        embeds = m["embeds"]
        assert 1 <= len(embeds) <= discord.EMBEDS_MAX
        assert len(m.get("content", "")) <= discord.CONTENT_MAX
        total = 0
        for e in embeds:
            assert len(e["title"]) <= discord.TITLE_MAX
            assert len(e.get("description", "")) <= discord.DESCRIPTION_MAX
            assert len(e["footer"]["text"]) <= discord.FOOTER_MAX
            assert n.ref in e["footer"]["text"]
            assert e["color"] in (*discord.COLOURS.values(), discord.RESOLVED_COLOUR)
            total += len(e["title"]) + len(e.get("description", "")) + len(e["footer"]["text"])
            described += e.get("description", "")
        assert total <= discord.EMBED_TOTAL_MAX
    for line in n.lines:  # every alert is named, none dropped by the split
        assert f"#{line.alert_id} " in described


@settings(max_examples=150, deadline=None)
@given(notifications)
def test_telegram_texts_fit_and_unescape_to_the_whole_message(n: Notification) -> None:
    parts = telegram.texts(n)
    assert all(1 <= len(p) <= telegram.TEXT_MAX for p in parts)
    joined = "".join(html.unescape(p.replace("<b>", "", 1).replace("</b>", "", 1)) if i == 0 else html.unescape(p)
                     for i, p in enumerate(parts))
    assert joined.replace("\n", "") == plain(n).replace("\n", "")
    for p in parts:  # only our own bold tag is markup: everything else is escaped
        body = p.replace("<b>", "", 1).replace("</b>", "", 1) if p is parts[0] else p
        assert "<" not in body and ">" not in body


@settings(max_examples=150, deadline=None)
@given(notifications)
def test_slack_blocks_stay_inside_the_limits(n: Notification) -> None:
    for message in slack.payloads(n):
        blocks = message["blocks"]
        assert len(blocks) <= slack.BLOCKS_MAX
        assert len(blocks[0]["text"]["text"]) <= slack.HEADER_MAX
        assert all(len(b["text"]["text"]) <= slack.SECTION_MAX for b in blocks if b["type"] == "section")
        assert n.ref in blocks[-1]["elements"][0]["text"]


@settings(max_examples=150, deadline=None)
@given(notifications)
def test_sms_body_is_at_most_1600_characters_and_keeps_its_ref(n: Notification) -> None:
    text = sms.body(n)
    assert len(text) <= sms.BODY_MAX
    assert text.endswith(f"ref {n.ref}")


@settings(max_examples=60, deadline=None)
@given(notifications)
def test_email_message_has_a_bounded_subject_and_the_whole_text(n: Notification) -> None:
    msg = smtp.message(n, "bot@example.org", ("ops@example.org",), 0.0)
    assert len(msg["Subject"]) <= smtp.SUBJECT_MAX + 5  # header folding whitespace aside
    assert msg["X-Arbiter-Ref"] == n.ref
    content = msg.get_content()
    assert f"ref {n.ref}" in content
    assert all(f"#{line.alert_id} " in content for line in n.lines)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(1, 500))
def test_split_keeps_every_character_but_newlines_and_respects_the_limit(text: str, limit: int) -> None:
    chunks = split(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")


def test_the_log_channel_prints_a_group_one_line_per_alert() -> None:
    import asyncio

    from loguru import logger

    from adapters.alert_services import LogService
    from protocol.alerts import AlertType, ChannelKind, NotificationLine, Priority

    lines = tuple(NotificationLine(alert_id=i, priority=Priority.HIGH, title=f"endpoint e{i} down",
                                   details=(("endpoint", f"e{i}"),)) for i in range(3))
    group = Notification(ref="41", channel=ChannelKind.LOG, type=AlertType.NETWORK, priority=Priority.HIGH,
                         title="3 firing: endpoint e0 down", lines=lines, held_back=("limit hit",), held_back_count=1)
    records: list[str] = []
    sink = logger.add(lambda m: records.append(m.record["message"]), level="WARNING", format="{message}")
    try:
        service = LogService()
        (request,) = service.build(group)
        asyncio.run(service.send(request))
    finally:
        logger.remove(sink)
    assert len(records) == 5 and all("\n" not in r and "[ref 41]" in r for r in records)
    assert "3 alerts" in records[0]
    for i in range(3):
        assert f"#{i} (high) endpoint e{i} down [endpoint=e{i}]" in records[1 + i]
    assert "limit hit" in records[4]
