"""Recorded payloads from Twilio's documentation → the events and answers the adapter produces (one row per file)."""

from __future__ import annotations

import json

import pytest

from mannerly.channels.base import EFFECT_OPT_OUT, InboundMessage, StatusUpdate
from mannerly.channels.twilio.adapter import (
    EMPTY_TWIML,
    TWILIO_STATUS_MAP,
    parse_error_body,
    send_status_from,
)
from tests.channels.twilio.conftest import TESTDATA, read_testdata
from tests.channels.twilio.helpers import RECEIVED_AT, make_adapter, signed_request

SM = "SM" + "3f1e2d4c5b6a79880a1b2c3d4e5f6a7b"
MMS = "MM" + "0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c"
MEDIA_BASE = f"https://api.twilio.com/2010-04-01/Accounts/AC1b7c6e4a9f3d2c8b5a0e7f6d4c3b2a19/Messages/{MMS}/Media/"

# file -> (status, raw status, error code, effect) of the one StatusUpdate it carries
STATUS_CALLBACKS = [
    ("status_queued.txt", "queued", "queued", None, None),
    ("status_sent.txt", "sent", "sent", None, None),
    ("status_delivered.txt", "delivered", "delivered", None, None),
    ("status_undelivered_30003.txt", "undelivered", "undelivered", "30003", None),
    ("status_undelivered_30005.txt", "undelivered", "undelivered", "30005", None),
    ("status_undelivered_30006.txt", "undelivered", "undelivered", "30006", None),
    ("status_failed_30008.txt", "failed", "failed", "30008", None),
    ("status_failed_21610.txt", "failed", "failed", "21610", EFFECT_OPT_OUT),
    ("status_read_whatsapp.txt", "read", "read", None, None),
    # Not in our map: stored as "unknown" with Twilio's word kept.
    ("status_partially_delivered.txt", "unknown", "partially_delivered", None, None),
]

# file -> (sid, from, to, text, media URLs) of the one InboundMessage it carries
INBOUND_MESSAGES = [
    ("inbound_sms.txt", "SM" + "a7c9e1f3b5d7092b4d6f8a0c2e4b6d8f", "+15558675310", "+15017122661",
     "Is my order ready for pickup?", ()),
    ("inbound_mms.txt", MMS, "+821023456789", "+15017122661", "사진 보내드려요 (receipt attached)",
     (MEDIA_BASE + "ME1a2b3c4d5e6f708192a3b4c5d6e7f809", MEDIA_BASE + "ME9f8e7d6c5b4a39281706f5e4d3c2b1a0")),
    ("inbound_stop.txt", "SM" + "5d4c3b2a19081726354453627180a9b8", "+15558675310", "+15017122661", "STOP", ()),
]


@pytest.mark.parametrize(("name", "status", "raw_status", "error_code", "effect"), STATUS_CALLBACKS)
def test_status_callbacks(name, status, raw_status, error_code, effect):
    """Each status callback becomes one StatusUpdate; the answer is an empty 200."""
    result = make_adapter().handle_webhook(signed_request(read_testdata(name)))
    assert result.events == (StatusUpdate(SM, status, raw_status, error_code, None, effect),)
    assert (result.status_code, result.body) == (200, "")


@pytest.mark.parametrize(("name", "sid", "sender", "recipient", "text", "media"), INBOUND_MESSAGES)
def test_inbound_messages(name, sid, sender, recipient, text, media):
    """Each incoming message becomes one InboundMessage with its media URLs; the answer is empty TwiML."""
    result = make_adapter().handle_webhook(signed_request(read_testdata(name)))
    (event,) = result.events
    assert isinstance(event, InboundMessage)
    assert (event.provider_message_id, event.from_address, event.to_address, event.text, event.media_urls) == (
        sid, sender, recipient, text, media)
    assert event.received_at == RECEIVED_AT
    assert event.raw["MessageSid"] == sid
    assert (result.body, result.media_type) == (EMPTY_TWIML, "text/xml")


def test_every_testdata_file_is_covered():
    """A payload added to testdata/ without a row here fails, so the table stays complete."""
    covered = {row[0] for row in STATUS_CALLBACKS + INBOUND_MESSAGES} | set(RESPONSES) | set(ERRORS)
    present = {path.name for path in TESTDATA.iterdir() if path.suffix in (".txt", ".json")}
    assert present == covered


def test_whatsapp_inbound_drops_the_channel_prefix():
    """Twilio's WhatsApp addresses ("whatsapp:+30...") reach the pipeline as plain E.164."""
    body = read_testdata("inbound_sms.txt").replace(b"From=%2B", b"From=whatsapp%3A%2B")
    (event,) = make_adapter(kind="whatsapp").handle_webhook(signed_request(body)).events
    assert event.from_address == "+15558675310"


# Messages resource JSON -> (sid, status the send reports)
RESPONSES = {
    "message_created.json": (SM, "queued"),
    "message_created_messaging_service.json": (SM, "queued"),
    "message_fetched_undelivered.json": (SM, "queued"),
}
# Error JSON -> (code, HTTP status)
ERRORS = {
    "error_21211_invalid_to.json": ("21211", 400),
    "error_21610_unsubscribed.json": ("21610", 400),
    "error_20429_too_many_requests.json": ("20429", 429),
    "error_20003_authenticate.json": ("20003", 401),
    "error_20500_internal.json": ("20500", 500),
}


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_message_resources(name):
    """The Messages resource carries the sid and a status our map knows."""
    body = json.loads(read_testdata(name))
    sid, reported = RESPONSES[name]
    assert body["sid"] == sid
    assert body["status"] in TWILIO_STATUS_MAP
    assert send_status_from(body["status"]) == reported


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_bodies(name):
    """Twilio's error JSON gives the code and message."""
    body = json.loads(read_testdata(name))
    code, status = ERRORS[name]
    assert parse_error_body(body) == (code, body["message"])
    assert body["status"] == status and body["more_info"].endswith(code)


def test_status_map_covers_twilio_outbound_statuses():
    """Every outbound status Twilio documents is mapped; inbound ones are not."""
    for raw in ("accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered", "failed",
                "read", "canceled"):
        assert raw in TWILIO_STATUS_MAP
    assert "received" not in TWILIO_STATUS_MAP
