"""Parsing Meta's documented webhook payloads (testdata/) into Mannerly events, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mannerly.channels.base import InboundMessage, StatusUpdate, WebhookRejected
from mannerly.channels.messenger.webhook import parse_webhook
from tests.channels.messenger.conftest import load

PAGE = "104857329218734"
NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)

# file -> expected events: ("in", mid, from PSID, text, media URLs) or ("status", mid, status, raw status)
# plus the expected watermarks as (psid, field, epoch ms).
CASES = [
    ("message_text.json",
     [("in", "m_AbCdEfGhIjKlMnOpQrStUv0123456789text01", "6912345678901234",
       "안녕하세요, 주문 상태를 알고 싶어요", ())],
     []),
    ("message_quick_reply.json",
     [("in", "m_QuickReply0123456789AbCdEfGhIjKlMn02", "7023456789012345", "Ya, kirim besok", ())],
     []),
    ("message_attachment_image.json",
     [("in", "m_Image0123456789AbCdEfGhIjKlMnOpQrSt03", "6912345678901234", "Αυτό ήρθε σπασμένο\n[image]",
       ("https://scontent.xx.fbcdn.net/v/t1.15752-9/photo_broken_box.jpg?_nc_cat=1&oh=abc",))],
     []),
    ("message_attachment_file.json",
     [("in", "m_File0123456789AbCdEfGhIjKlMnOpQrStU04", "7023456789012345", "[file]",
       ("https://cdn.fbsbx.com/v/t59.2708-21/invoice_2025_03.pdf?_nc_cat=2&oh=def",))],
     []),
    ("message_attachment_location.json",
     [("in", "m_Location0123456789AbCdEfGhIjKlMnOpQ05", "6912345678901234", "[location 37.4979, 127.0276]",
       ("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps%2Fdefault.aspx%3Fcp%3D37.4979%257E127.0276",))],
     []),
    ("messaging_postback.json",
     [("in", "m_Postback0123456789AbCdEfGhIjKlMnOpQ06", "7023456789012345", "Lacak pesanan", ())],
     []),
    ("message_deliveries.json",
     [("status", "m_Sent0123456789AbCdEfGhIjKlMnOpQrStUv11", "delivered", "delivery"),
      ("status", "m_Sent0123456789AbCdEfGhIjKlMnOpQrStUv12", "delivered", "delivery")],
     []),
    ("message_deliveries_watermark_only.json", [], [("6912345678901234", "delivery", 1741050420500)]),
    ("message_reads.json", [], [("6912345678901234", "read", 1741050480253)]),
    ("message_echo.json", [], []),
    ("batched_events.json",
     [("in", "m_Batch0123456789AbCdEfGhIjKlMnOpQrSt08", "6912345678901234", "Ευχαριστώ!", ()),
      ("status", "m_Sent0123456789AbCdEfGhIjKlMnOpQrStUv13", "delivered", "delivery")],
     []),
]


def summarize(event) -> tuple:
    """An event in the shape the table uses."""
    if isinstance(event, InboundMessage):
        return ("in", event.provider_message_id, event.from_address, event.text, event.media_urls)
    assert isinstance(event, StatusUpdate)
    return ("status", event.provider_message_id, event.status, event.raw_status)


@pytest.mark.parametrize(("filename", "expected_events", "expected_watermarks"), CASES,
                         ids=[case[0] for case in CASES])
def test_documented_payloads_parse_to_events(filename, expected_events, expected_watermarks):
    """Each recorded payload gives exactly the expected messages, statuses and watermarks."""
    parsed = parse_webhook(load(filename), NOW, PAGE)
    assert [summarize(event) for event in parsed.events] == expected_events
    assert [(mark.psid, mark.field_name, int(mark.at.timestamp() * 1000)) for mark in parsed.watermarks] \
        == expected_watermarks


def test_inbound_keeps_page_timestamp_and_raw_payload():
    """The quick-reply payload and the postback payload stay in raw; the time is Meta's timestamp."""
    quick = parse_webhook(load("message_quick_reply.json"), NOW, PAGE).events[0]
    assert quick.raw["message"]["quick_reply"]["payload"] == "DELIVERY_TOMORROW"
    assert quick.to_address == PAGE
    assert quick.received_at == datetime.fromtimestamp(1741050060.200, tz=UTC)
    postback = parse_webhook(load("messaging_postback.json"), NOW, PAGE).events[0]
    assert postback.raw["postback"]["payload"] == "TRACK_ORDER_4521"


def test_echo_and_other_pages_are_reported_as_ignored():
    """Echoes of our own sends and entries for another Page are skipped, with a reason."""
    assert "echo" in parse_webhook(load("message_echo.json"), NOW, PAGE).ignored[0]
    batched = parse_webhook(load("batched_events.json"), NOW, PAGE)
    assert any("998877665544332" in reason for reason in batched.ignored)
    # Without a configured Page id every entry counts.
    assert len(parse_webhook(load("batched_events.json"), NOW, None).events) == 3


def test_postback_without_mid_gets_a_stable_id():
    """Older postbacks have no mid; the same tap parses to the same id, so a replay is stored once."""
    payload = load("messaging_postback.json")
    del payload["entry"][0]["messaging"][0]["postback"]["mid"]
    first = parse_webhook(payload, NOW, PAGE).events[0]
    again = parse_webhook(payload, NOW, PAGE).events[0]
    assert first.provider_message_id == again.provider_message_id
    assert first.provider_message_id.startswith("postback:7023456789012345:")


def test_unhandled_event_kinds_are_ignored_not_rejected():
    """A reaction (subscribed by the business, not used by Mannerly) is skipped."""
    payload = load("message_text.json")
    payload["entry"][0]["messaging"][0] = {
        "sender": {"id": "6912345678901234"}, "recipient": {"id": PAGE}, "timestamp": 1741050000045,
        "reaction": {"mid": "m_x", "action": "react", "emoji": "❤", "reaction": "love"},
    }
    parsed = parse_webhook(payload, NOW, PAGE)
    assert parsed.events == () and "reaction" in parsed.ignored[0]


MALFORMED = [
    ("not an object", ["entry"]),
    ("wrong object", {"object": "instagram", "entry": []}),
    ("entry not a list", {"object": "page", "entry": {}}),
    ("event without sender", {"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"recipient": {"id": PAGE}, "timestamp": 1, "message": {"mid": "m1", "text": "hi"}}]}]}),
    ("message without mid", {"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": "1"}, "recipient": {"id": PAGE}, "timestamp": 1, "message": {"text": "hi"}}]}]}),
    ("read without watermark", {"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": "1"}, "recipient": {"id": PAGE}, "timestamp": 1, "read": {}}]}]}),
    ("attachments not a list", {"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": "1"}, "recipient": {"id": PAGE}, "timestamp": 1,
         "message": {"mid": "m1", "attachments": {"type": "image"}}}]}]}),
]


@pytest.mark.parametrize(("name", "payload"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_payloads_are_400(name, payload):
    """Malformed bodies are refused with 400 and a reason."""
    with pytest.raises(WebhookRejected) as refused:
        parse_webhook(payload, NOW, PAGE)
    assert refused.value.status == 400 and refused.value.reason
