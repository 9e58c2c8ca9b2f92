"""Webhook verification: the GET handshake and X-Hub-Signature-256, genuine versus forged."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import httpx
import pytest

from mannerly.channels.base import StatusUpdate, WebhookRejected, WebhookRequest
from mannerly.channels.messenger.adapter import MessengerAdapter, MessengerConfig
from tests.channels.messenger.conftest import raw

SECRET = "3f1c0ffee0ddba11"
CONFIG = MessengerConfig(page_id="104857329218734", page_access_token="EAAGtoken", app_secret=SECRET,
                         verify_token="verify-me")
NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


class RecordingLedger:
    """A ledger that answers from a fixed list and records what it was asked."""

    def __init__(self, mids: list[str]) -> None:
        """Answer every question with these mids."""
        self.mids = mids
        self.asked: list[tuple] = []

    def mids_up_to(self, psid, watermark, statuses):
        """Record the question; return the fixed mids."""
        self.asked.append((psid, watermark, tuple(statuses)))
        return list(self.mids)


def adapter(ledger=None) -> MessengerAdapter:
    """An adapter that never sends (no HTTP needed here)."""
    return MessengerAdapter(CONFIG, http=httpx.Client(), clock=lambda: NOW, ledger=ledger)


def post(body: bytes, signature: str | None) -> WebhookRequest:
    """A webhook POST as the route hands it to the adapter."""
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    return WebhookRequest(method="POST", url="https://example.test/webhooks/1", headers=headers, query={}, body=body)


def sign(body: bytes, secret: str = SECRET) -> str:
    """What Meta would put in X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


HANDSHAKES = [
    ({"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}, 200, "1158201444"),
    ({"hub.mode": "subscribe", "hub.verify_token": "verify-you", "hub.challenge": "1158201444"}, 403, None),
    ({"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}, 403, None),
    ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, 403, None),
    ({"hub.mode": "subscribe", "hub.verify_token": "verify-me"}, 400, None),
]


@pytest.mark.parametrize(("query", "status", "answer"), HANDSHAKES)
def test_handshake(query, status, answer):
    """Only the configured verify token gets the challenge echoed back."""
    request = WebhookRequest(method="GET", url="https://example.test/webhooks/1", headers={}, query=query, body=b"")
    if status == 200:
        result = adapter().handle_webhook(request)
        assert (result.status_code, result.body) == (200, answer)
    else:
        with pytest.raises(WebhookRejected) as refused:
            adapter().handle_webhook(request)
        assert refused.value.status == status


def test_genuine_signature_is_accepted_and_answered_event_received():
    """The exact bytes Meta signed verify; the answer is 200 EVENT_RECEIVED."""
    body = raw("message_text.json")
    result = adapter().handle_webhook(post(body, sign(body)))
    assert (result.status_code, result.body) == (200, "EVENT_RECEIVED")
    assert len(result.events) == 1


def test_upper_case_hex_signature_is_accepted():
    """Hex digits are compared case-insensitively."""
    body = raw("message_text.json")
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest().upper()
    assert adapter().handle_webhook(post(body, signature)).events


FORGED = [
    ("missing header", None),
    ("wrong secret", "wrong-secret"),
    ("sha1 instead of sha256", "sha1"),
    ("changed body", "changed"),
    ("empty", ""),
]


@pytest.mark.parametrize(("name", "how"), FORGED, ids=[case[0] for case in FORGED])
def test_forged_signatures_are_403(name, how):
    """Anything but the HMAC-SHA256 of these exact bytes with the app secret is refused with 403."""
    body = raw("message_text.json")
    signature = {
        None: None,
        "wrong-secret": sign(body, "not-the-secret"),
        "sha1": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest(),
        "changed": sign(body + b" "),
        "": "",
    }[how]
    with pytest.raises(WebhookRejected) as refused:
        adapter().handle_webhook(post(body, signature))
    assert refused.value.status == 403


def test_no_app_secret_means_every_post_is_refused():
    """A channel without an app secret cannot verify anything, so it accepts nothing."""
    body = raw("message_text.json")
    unsigned = MessengerAdapter(MessengerConfig(page_id="1", page_access_token="t"), http=httpx.Client(),
                                clock=lambda: NOW)
    with pytest.raises(WebhookRejected) as refused:
        unsigned.handle_webhook(post(body, sign(body, "")))
    assert refused.value.status == 403


def test_signed_but_not_json_is_400():
    """A verified body that is not JSON is malformed."""
    body = b"{not json"
    with pytest.raises(WebhookRejected) as refused:
        adapter().handle_webhook(post(body, sign(body)))
    assert refused.value.status == 400


def test_watermarks_are_resolved_through_the_ledger():
    """A read watermark becomes "read" for each mid the ledger matches; a bare delivery watermark, "delivered"."""
    ledger = RecordingLedger(["m_a", "m_b"])
    body = raw("message_reads.json")
    events = adapter(ledger).handle_webhook(post(body, sign(body))).events
    assert [(event.provider_message_id, event.status, event.raw_status) for event in events] == [
        ("m_a", "read", "read"), ("m_b", "read", "read")]
    assert all(isinstance(event, StatusUpdate) for event in events)
    psid, watermark, statuses = ledger.asked[0]
    assert psid == "6912345678901234"
    assert watermark == datetime.fromtimestamp(1741050480.253, tz=UTC)
    assert statuses == ("queued", "sent", "delivered")
    body = raw("message_deliveries_watermark_only.json")
    events = adapter(ledger).handle_webhook(post(body, sign(body))).events
    assert {event.status for event in events} == {"delivered"}
    assert ledger.asked[-1][2] == ("queued", "sent")


def test_without_a_ledger_watermarks_match_nothing():
    """An adapter built without a database stores nothing for a read watermark (and does not fail)."""
    body = raw("message_reads.json")
    assert adapter().handle_webhook(post(body, sign(body))).events == ()
