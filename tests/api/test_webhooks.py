"""The webhook route: verification, parsing, storage, replays and provider error effects, with a test adapter."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from sqlalchemy import func, select

from mannerly.channels.base import (
    EFFECT_OPT_OUT,
    EFFECT_WINDOW_CLOSED,
    InboundMessage,
    SendResult,
    StatusUpdate,
    WebhookRejected,
    WebhookResult,
)
from mannerly.models import Channel, ConsentEvent, Contact, Message, ProviderExchange


class SignedJsonAdapter:
    """A webhook adapter for tests: HMAC-SHA256 of the body in X-Test-Signature, JSON events."""

    kind = "sms"
    provider = "signedjson"
    status_map = {"DELIVERED": "delivered"}

    def __init__(self, secret: str) -> None:
        """Bind to the channel's secret."""
        self.secret = secret.encode()

    def send(self, message):
        """Accept every message."""
        return SendResult(accepted=True, status="sent", provider_message_id=f"H{message.message_id}")

    def lookup_status(self, provider_message_id):
        """Nothing to look up."""
        return None

    def handle_webhook(self, request):
        """Verify the signature, answer the GET handshake, parse messages and statuses."""
        if request.method == "GET":
            return WebhookResult(body=request.query.get("challenge", ""))
        expected = hmac.new(self.secret, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-test-signature", "")):
            raise WebhookRejected(403, "bad signature")
        payload = request.json()
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "expected an object")
        events = [InboundMessage(item["id"], item["from"], "ACME", item["text"], None) for item in payload.get("messages", [])]
        events += [StatusUpdate(item["id"], self.status_map.get(item["status"], "unknown"), item["status"],
                                item.get("error"), None, item.get("effect")) for item in payload.get("statuses", [])]
        return WebhookResult(events=tuple(events), body="ok")


@pytest.fixture
def hook(api):
    """A channel of the test provider in the API's workspace; returns a function that posts signed bodies."""
    runtime = api.runtime
    runtime.channels.register("signedjson", lambda channel, rt: SignedJsonAdapter(channel.config["secret"]))
    with runtime.session() as session:
        channel = Channel(workspace_id=api.workspace_id, kind="sms", provider="signedjson", name="Hook",
                          config={"secret": "s3cret"}, rate_limit_per_second=0)
        session.add(channel)
        session.commit()
        channel_id = channel.id

    def post(payload, secret: str = "s3cret", raw: bytes | None = None):
        """POST a signed body to the channel's webhook."""
        body = raw if raw is not None else json.dumps(payload).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return api.client.post(f"/webhooks/{channel_id}", content=body, headers={"X-Test-Signature": signature})

    post.channel_id = channel_id
    return post


def count(api, model) -> int:
    """Rows in a table."""
    with api.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_inbound_message_is_stored_and_replay_is_stored_once(api, hook):
    """A signed inbound message is stored; the same event again answers 200 and stores nothing new."""
    payload = {"messages": [{"id": "m-1", "from": "+821023456789", "text": "안녕하세요"}]}
    assert hook(payload).status_code == 200
    assert hook(payload).status_code == 200
    assert count(api, Message) == 1
    with api.runtime.session() as session:
        exchange = session.scalar(select(ProviderExchange).where(ProviderExchange.direction == "inbound_webhook"))
        assert "x-test-signature" not in exchange.request["headers"]


def test_forged_signature_is_403_and_stores_nothing(api, hook):
    """A wrong secret, a changed body or a missing header: 403, nothing stored, nothing logged as accepted."""
    payload = {"messages": [{"id": "m-2", "from": "+821023456789", "text": "hi"}]}
    assert hook(payload, secret="wrong").status_code == 403
    signed_other = json.dumps({"messages": []}).encode()
    response = api.client.post(f"/webhooks/{hook.channel_id}", content=json.dumps(payload).encode(),
                               headers={"X-Test-Signature": hmac.new(b"s3cret", signed_other, hashlib.sha256).hexdigest()})
    assert response.status_code == 403
    assert api.client.post(f"/webhooks/{hook.channel_id}", content=b"{}").status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert count(api, Message) == 0


def test_malformed_payload_is_400_and_stores_nothing(api, hook):
    """Signed but not JSON: 400 with a reason."""
    response = hook(None, raw=b"{not json")
    assert response.status_code == 400 and "not JSON" in response.json()["detail"]
    assert count(api, Message) == 0


def test_unknown_channel_is_404(api):
    """A channel id nobody configured."""
    assert api.client.post("/webhooks/999999", content=b"{}").status_code == 404


def test_get_handshake_answers_the_challenge(api, hook):
    """Verification handshakes go to the adapter too."""
    response = api.client.get(f"/webhooks/{hook.channel_id}", params={"challenge": "12345"})
    assert response.status_code == 200 and response.text == "12345"


def test_status_callback_moves_status_and_provider_opt_out_is_recorded(api, hook):
    """A delivery status lands on the message; an error meaning 'recipient opted out' records an opt-out."""
    sent = api.post("/v1/messages", json={"to": "+821023456789", "topic": "orders", "text": "Your order shipped.",
                                          "channel": "sms"}).json()
    with api.runtime.session() as session:
        # Route the message through the test channel.
        session.get(Message, sent["id"]).channel_id = hook.channel_id
        session.query(Channel).filter(Channel.provider == "simulator").update({"enabled": False})
        session.commit()
    api.dispatch()
    pid = api.get(f"/v1/messages/{sent['id']}").json()["provider_message_id"]
    assert pid == f"H{sent['id']}"
    hook({"statuses": [{"id": pid, "status": "DELIVERED"}]})
    assert api.get(f"/v1/messages/{sent['id']}").json()["status"] == "delivered"
    hook({"statuses": [{"id": pid, "status": "FAILED", "error": "21610", "effect": EFFECT_OPT_OUT}]})
    with api.runtime.session() as session:
        contact = session.get(Contact, sent["contact_id"])
        assert contact.global_opt_out
        event = session.scalar(select(ConsentEvent))
        assert (event.source, event.evidence_message_id) == ("provider", sent["id"])
    assert api.get(f"/v1/messages/{sent['id']}").json()["status"] == "delivered"  # never backwards


def test_window_closed_effect_clears_the_whatsapp_window(api, hook):
    """An error meaning 're-engagement required' closes the WhatsApp window on the contact."""
    from datetime import timedelta

    sent = api.post("/v1/messages", json={"to": "+821023456789", "topic": "orders", "text": "Order shipped."}).json()
    with api.runtime.session() as session:
        session.get(Message, sent["id"]).provider_message_id = "W1"
        session.get(Message, sent["id"]).channel_id = hook.channel_id
        session.get(Message, sent["id"]).status = "sent"
        session.get(Contact, sent["contact_id"]).whatsapp_last_inbound_at = api.runtime.now() - timedelta(hours=1)
        session.commit()
    hook({"statuses": [{"id": "W1", "status": "FAILED", "error": "131047", "effect": EFFECT_WINDOW_CLOSED}]})
    with api.runtime.session() as session:
        assert session.get(Contact, sent["contact_id"]).whatsapp_last_inbound_at is None
