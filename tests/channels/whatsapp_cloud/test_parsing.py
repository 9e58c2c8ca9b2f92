"""Table-driven parsing of the recorded webhook notifications in testdata/ (and of malformed ones)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from mannerly.channels.base import (
    EFFECT_MARKETING_OPT_OUT,
    EFFECT_WINDOW_CLOSED,
    InboundMessage,
    StatusUpdate,
    WebhookRejected,
    WebhookRequest,
)
from mannerly.channels.whatsapp_cloud.adapter import WhatsAppCloudAdapter, WhatsAppConfig, signature_for

from .conftest import load_testdata, read_testdata

PHONE_NUMBER_ID = "109876543210987"
APP_SECRET = "test-app-secret"
NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


def adapter() -> WhatsAppCloudAdapter:
    """An adapter for the phone number the testdata is addressed to."""
    config = WhatsAppConfig(phone_number_id=PHONE_NUMBER_ID, access_token="token", app_secret=APP_SECRET,
                            verify_token="verify")
    return WhatsAppCloudAdapter(config, http=httpx.Client(), clock=lambda: NOW)


def post(body: bytes) -> WebhookRequest:
    """A genuine signed POST of a body."""
    return WebhookRequest(method="POST", url="https://mannerly.example/webhooks/1",
                          headers={"x-hub-signature-256": signature_for(APP_SECRET, body),
                                   "content-type": "application/json"},
                          query={}, body=body)


def at(seconds: int) -> datetime:
    """A webhook timestamp as a datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


# file -> expected (from, text, media_urls, received_at) for messages
INBOUND_CASES = [
    ("inbound_text.json", "+821023456789", "배송 언제 되나요?", (), at(1741050000)),
    ("inbound_interactive_button_reply.json", "+6281234567890", "Ya, kirim besok", (), at(1741050060)),
    ("inbound_interactive_list_reply.json", "+306912345678", "Τρίτη 10:00", (), at(1741050120)),
    ("inbound_button_quick_reply.json", "+16505551234", "Reschedule", (), at(1741050180)),
    ("inbound_image.json", "+821023456789", "[image] 파손된 상자", ("whatsapp-media:<IMAGE_MEDIA_ID>",), at(1741050240)),
    ("inbound_document.json", "+6281234567890", "[document] faktur-1234.pdf", ("whatsapp-media:<DOCUMENT_MEDIA_ID>",),
     at(1741050300)),
    ("inbound_audio.json", "+306912345678", "[audio]", ("whatsapp-media:<AUDIO_MEDIA_ID>",), at(1741050360)),
    ("inbound_reaction.json", "+821023456789", "[reaction] \U0001F44D", (), at(1741050420)),
    ("inbound_unsupported.json", "+16505551234", "[unsupported]", (), at(1741050480)),
]

# file -> expected (status, raw_status, error_code, effect, occurred_at)
STATUS_CASES = [
    ("status_sent.json", "sent", "sent", None, None, at(1741050500)),
    ("status_delivered.json", "delivered", "delivered", None, None, at(1741050503)),
    ("status_read.json", "read", "read", None, None, at(1741050600)),
    ("status_failed_131047.json", "failed", "failed", "131047", EFFECT_WINDOW_CLOSED, at(1741050700)),
    ("status_failed_131050.json", "failed", "failed", "131050", EFFECT_MARKETING_OPT_OUT, at(1741050800)),
    ("status_failed_131026.json", "failed", "failed", "131026", None, at(1741050900)),
    ("status_deleted.json", "unknown", "deleted", None, None, at(1741051000)),
]

# Notifications that carry nothing for this channel.
IGNORED_CASES = ["field_message_template_status_update.json", "other_phone_number.json"]


@pytest.mark.parametrize(("name", "sender", "text", "media", "received_at"), INBOUND_CASES)
def test_inbound_messages(name, sender, text, media, received_at):
    """Each recorded customer message becomes one InboundMessage with the expected text and media."""
    body = read_testdata(name)
    payload = json.loads(body)
    (event,) = adapter().handle_webhook(post(body)).events
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert isinstance(event, InboundMessage)
    assert (event.from_address, event.text, event.media_urls, event.received_at) == (sender, text, media, received_at)
    assert event.provider_message_id == message["id"]
    assert event.to_address == "+15557654321"
    assert event.raw["message"] == message  # ids of buttons and rows are kept
    assert event.raw["profile"]["name"]


@pytest.mark.parametrize(("name", "status", "raw_status", "error_code", "effect", "occurred_at"), STATUS_CASES)
def test_statuses(name, status, raw_status, error_code, effect, occurred_at):
    """Each recorded status becomes one StatusUpdate; error codes carry their effect."""
    body = read_testdata(name)
    (event,) = adapter().handle_webhook(post(body)).events
    assert isinstance(event, StatusUpdate)
    expected_id = json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    assert (event.provider_message_id, event.status, event.raw_status, event.error_code, event.effect,
            event.occurred_at) == (expected_id, status, raw_status, error_code, effect, occurred_at)


@pytest.mark.parametrize("name", IGNORED_CASES)
def test_other_fields_and_other_numbers_are_ignored(name):
    """Template status updates and messages to another number of the account produce no events, and no error."""
    result = adapter().handle_webhook(post(read_testdata(name)))
    assert result.events == () and result.status_code == 200


def test_several_entries_and_changes_in_one_notification():
    """A batched notification (two entries, messages and statuses) yields every event in order."""
    first = load_testdata("inbound_text.json")
    second = load_testdata("status_delivered.json")
    first["entry"] += second["entry"]
    first["entry"][0]["changes"] += load_testdata("status_read.json")["entry"][0]["changes"]
    events = adapter().handle_webhook(post(json.dumps(first).encode())).events
    assert [type(event).__name__ for event in events] == ["InboundMessage", "StatusUpdate", "StatusUpdate"]
    assert [getattr(event, "status", None) for event in events] == [None, "read", "delivered"]


def _broken(change: callable) -> bytes:
    """inbound_text.json with one change applied."""
    payload = load_testdata("inbound_text.json")
    change(payload)
    return json.dumps(payload).encode()


def _value(payload):
    """The first change's value."""
    return payload["entry"][0]["changes"][0]["value"]


MALFORMED_CASES = [
    ("not JSON", b"{not json", "not JSON"),
    ("a list", b"[]", "not an object"),
    ("wrong object", _broken(lambda p: p.update(object="page")), "object is 'page'"),
    ("entry not a list", _broken(lambda p: p.update(entry={})), "entry is not an array"),
    ("changes not a list", _broken(lambda p: p["entry"][0].update(changes="x")), "changes is not an array"),
    ("value missing", _broken(lambda p: p["entry"][0]["changes"][0].pop("value")), "value is not an object"),
    ("messages not a list", _broken(lambda p: _value(p).update(messages={})), "value.messages is not an array"),
    ("message without id", _broken(lambda p: _value(p)["messages"][0].pop("id")), "messages[].id"),
    ("sender not digits", _broken(lambda p: _value(p)["messages"][0].update({"from": "+82 10"})), "not a WhatsApp id"),
    ("text without body", _broken(lambda p: _value(p)["messages"][0]["text"].pop("body")), "text.body"),
    ("bad timestamp", _broken(lambda p: _value(p)["messages"][0].update(timestamp="yesterday")), "Unix seconds"),
    ("status without id", _broken(lambda p: _value(p).update(statuses=[{"status": "sent"}])), "statuses[].id"),
    ("status not an object", _broken(lambda p: _value(p).update(statuses=["sent"])), "statuses[] is not an object"),
]


@pytest.mark.parametrize(("case", "body", "reason"), MALFORMED_CASES, ids=[case[0] for case in MALFORMED_CASES])
def test_malformed_notifications_are_400(case, body, reason):
    """A correctly signed body that is not the documented shape is refused with 400 and a reason."""
    with pytest.raises(WebhookRejected) as refused:
        adapter().handle_webhook(post(body))
    assert refused.value.status == 400
    assert reason in refused.value.reason
