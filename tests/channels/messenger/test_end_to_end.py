"""Messenger end to end through the REST API, the dispatcher, the fake Graph API on 127.0.0.1 and webhooks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from mannerly.api import channels
from mannerly.models import Contact, Message, ProviderExchange
from tests.api.conftest import api  # noqa: F401  (the API fixture, reused)

PSID = "6912345678901234"


@pytest.fixture
def page(api, fake):  # noqa: F811
    """A Messenger channel pointing at the fake, created through the channels API; returns helpers."""
    app = api.client.app
    if not any(getattr(route, "path", None) == "/v1/channels" for route in app.routes):
        app.include_router(channels.router)
    created = api.post("/v1/channels", json={"kind": "messenger", "provider": "messenger", "name": "Acme Page",
                                             "config": fake.channel_config(), "rate_limit_per_second": 0,
                                             "profile": {"name": "Acme"}})
    assert created.status_code == 201, created.text
    channel_id = created.json()["id"]

    class Page:
        """Posting signed webhooks to the channel, as Meta would."""

        id = channel_id

        @staticmethod
        def webhook(payload, secret=None):
            """POST a signed webhook body."""
            body, headers = fake.signed(payload, secret)
            return api.client.post(f"/webhooks/{channel_id}", content=body, headers=headers)

    return Page


def message(api, message_id):  # noqa: F811
    """A message through the API."""
    return api.get(f"/v1/messages/{message_id}").json()


def dispatch_until_sent(api, clock, message_id):  # noqa: F811
    """Dispatch; if the engine deferred the message (quiet hours), move the clock to its slot and dispatch again."""
    api.dispatch()
    current = message(api, message_id)
    if current["status"] == "deferred":
        clock.set(datetime.fromisoformat(current["send_at"]))
        api.dispatch()
        current = message(api, message_id)
    return current


def test_conversation_on_messenger(api, fake, page, clock):  # noqa: F811
    """Customer writes; agent replies as RESPONSE; 3 days later a tagged order update; marketing refused; receipts."""
    # 1. The handshake Meta does when the business registers the webhook URL.
    handshake = api.client.get(f"/webhooks/{page.id}", params={"hub.mode": "subscribe", "hub.challenge": "8231",
                                                              "hub.verify_token": fake.verify_token})
    assert (handshake.status_code, handshake.text) == (200, "8231")

    # 2. The customer writes: a contact is created with the PSID and the Messenger window opens.
    inbound = fake.message_payload(PSID, "안녕하세요, 주문한 물건 언제 와요?")
    answer = page.webhook(inbound)
    assert (answer.status_code, answer.text) == (200, "EVENT_RECEIVED")
    assert page.webhook(inbound).status_code == 200  # Meta retries: stored once
    with api.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.messenger_psid == PSID))
        assert contact.messenger_last_inbound_at == clock()
        contact_id = contact.id
        assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "inbound")) == 1

    # 3. An agent-style reply inside 24 hours goes out as RESPONSE.
    reply = api.post("/v1/messages", json={"contact_id": contact_id, "topic": "orders", "channel": "messenger",
                                           "reply": True, "text": "내일 도착 예정입니다."})
    assert reply.status_code == 201, reply.text
    assert reply.json()["decision"]["channel_options"] == {"messaging_type": "RESPONSE"}
    sent = dispatch_until_sent(api, clock, reply.json()["id"])
    assert sent["status"] == "sent", sent
    request = fake.requests[-1].body
    assert request["messaging_type"] == "RESPONSE" and "tag" not in request
    assert request["recipient"] == {"id": PSID}
    assert sent["provider_message_id"] in fake.sent

    # 4. Meta reports delivery with the mid: delivered.
    assert page.webhook(fake.delivery_payload(PSID, [sent["provider_message_id"]])).status_code == 200
    assert message(api, reply.json()["id"])["status"] == "delivered"

    # 5. Three days later an order update on a topic with a configured tag goes as MESSAGE_TAG.
    clock.advance(days=3)
    policy = api.patch("/v1/workspace/policy", json={"messenger_tags": {"orders": "POST_PURCHASE_UPDATE"}})
    assert policy.status_code == 200, policy.text
    update = api.post("/v1/messages", json={"contact_id": contact_id, "topic": "orders", "channel": "messenger",
                                            "text": "주문하신 상품이 발송되었습니다."})
    assert update.status_code == 201, update.text
    tagged = dispatch_until_sent(api, clock, update.json()["id"])
    assert tagged["status"] == "sent", tagged
    assert tagged["decision"]["channel_options"] == {"messaging_type": "MESSAGE_TAG", "tag": "POST_PURCHASE_UPDATE"}
    request = fake.requests[-1].body
    assert (request["messaging_type"], request["tag"]) == ("MESSAGE_TAG", "POST_PURCHASE_UPDATE")

    # 6. A read watermark (no mids) marks every message sent up to it as read.
    assert page.webhook(fake.read_payload(PSID, api.runtime.now())).status_code == 200
    assert message(api, reply.json()["id"])["status"] == "read"
    assert message(api, update.json()["id"])["status"] == "read"

    # 7. A marketing message outside the window: no tag may carry it, the contact has no phone -> refused.
    consent = api.post(f"/v1/contacts/{contact_id}/consent", json={"topic": "promotions", "status": "opted_in",
                                                                    "wording": "Yes to offers"})
    assert consent.status_code == 201, consent.text
    promo = api.post("/v1/messages", json={"contact_id": contact_id, "topic": "promotions", "channel": "messenger",
                                           "text": "Spring sale: 20% off"}).json()
    assert promo["status"] == "rejected"
    window = [reason for reason in promo["decision"]["reasons"] if reason["rule"] == "whatsapp_window"]
    assert window and "Messenger" in window[0]["detail"] and "cannot receive SMS" in window[0]["detail"]

    # 8. With a phone number on file it falls back to SMS instead, with the reason.
    assert api.patch(f"/v1/contacts/{contact_id}", json={"phone": "+821023456789"}).status_code == 200
    check = api.post("/v1/messages/check", json={"contact_id": contact_id, "topic": "promotions",
                                                 "channel": "messenger", "text": "Spring sale: 20% off"}).json()
    assert check["channel"] == "sms"
    assert any(reason["verdict"] == "reroute" and "SMS" in reason["detail"] for reason in check["reasons"])

    # Nothing secret reached the exchange log.
    with api.runtime.session() as session:
        logged = json.dumps([[row.request, row.response] for row in session.scalars(select(ProviderExchange))],
                            ensure_ascii=False)
    for secret in (fake.page_access_token, fake.app_secret, fake.verify_token):
        assert secret not in logged


def test_forged_webhook_stores_nothing(api, fake, page):  # noqa: F811
    """A body signed with the wrong secret is 403 and creates no contact or message."""
    answer = page.webhook(fake.message_payload(PSID, "hi"), secret="not-the-app-secret")
    assert answer.status_code == 403
    unsigned = api.client.post(f"/webhooks/{page.id}", content=json.dumps(fake.message_payload(PSID, "hi")))
    assert unsigned.status_code == 403
    with api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert session.scalar(select(Contact).where(Contact.messenger_psid == PSID)) is None


def test_human_agent_reply_after_the_window(api, fake, page, clock):  # noqa: F811
    """Two days after the customer wrote, an agent's reply is decided as MESSAGE_TAG HUMAN_AGENT and sent so."""
    from mannerly.messages.service import OutboundIntent, submit
    from mannerly.models import Workspace
    from mannerly.policy.types import Source

    page.webhook(fake.message_payload(PSID, "Halo, bisa bantu?"))
    clock.advance(days=2)
    with api.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.messenger_psid == PSID))
        workspace = session.get(Workspace, api.workspace_id)
        queued = submit(session, workspace, OutboundIntent(topic="orders", contact_id=contact.id, channel="messenger",
                                                           text="Maaf menunggu, pesanan Anda sudah dikirim.",
                                                           reply=True, source=Source.AGENT), api.runtime.now())
        session.commit()
        message_id = queued.id
    sent = dispatch_until_sent(api, clock, message_id)
    assert sent["status"] == "sent", sent
    assert (fake.requests[-1].body["messaging_type"], fake.requests[-1].body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_window_closed_at_meta_fails_with_the_reason(api, fake, page, clock):  # noqa: F811
    """If Meta's window has closed although ours was open (clock skew), the message fails, not retried, with why."""
    page.webhook(fake.message_payload(PSID, "Γεια σας"))
    fake.last_inbound[PSID] -= timedelta(days=2)  # Meta saw the message earlier than we did
    with api.runtime.session() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.messenger_psid == PSID))
    reply = api.post("/v1/messages", json={"contact_id": contact_id, "topic": "orders", "channel": "messenger",
                                           "reply": True, "text": "Η παραγγελία σας στάλθηκε."}).json()
    failed = dispatch_until_sent(api, clock, reply["id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "10/2018278")
    assert "24-hour window" in failed["status_detail"]
