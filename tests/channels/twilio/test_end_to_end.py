"""Through the whole product: POST /v1/messages → dispatcher → fake Twilio → signed callbacks → /webhooks/<id>."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mannerly.app import create_app
from mannerly.channels.twilio import fake_server
from mannerly.channels.twilio.adapter import EMPTY_TWIML
from mannerly.models import Channel, ConsentEvent, Contact, Conversation, Message, MessageStatusEvent, ProviderExchange
from tests.api.conftest import API_START, Api, make_workspace

PUBLIC_BASE_URL = "https://mannerly.example.com"
BUSINESS_NUMBER = "+15017122661"
CUSTOMER = "+821023456789"


@pytest.fixture
def settings(settings):
    """The usual test settings, reachable from outside at a public HTTPS address (behind a proxy)."""
    return settings.model_copy(update={"public_base_url": PUBLIC_BASE_URL})


@dataclass
class Setup:
    """The API, the fake Twilio and the Twilio channel's id and webhook URL."""

    api: Api
    fake: fake_server.FakeTwilio
    channel_id: int

    @property
    def webhook_url(self) -> str:
        """Where Twilio calls this channel."""
        return f"{PUBLIC_BASE_URL}/webhooks/{self.channel_id}"

    def send(self, text: str = "Your order has shipped.", to: str = CUSTOMER) -> dict:
        """POST /v1/messages and return the created message."""
        response = self.api.post("/v1/messages", json={"to": to, "topic": "orders", "text": text, "channel": "sms"})
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def message(self, message_id: int) -> dict:
        """GET /v1/messages/{id}."""
        return self.api.get(f"/v1/messages/{message_id}").json()


@pytest.fixture
def setup(runtime, clock, fake_twilio) -> Setup:
    """Workspace "Acme" whose only SMS channel is Twilio (the fake), app without its worker."""
    clock.set(API_START)
    workspace_id, key = make_workspace(runtime, "Acme")
    with runtime.session() as session:
        session.query(Channel).filter(Channel.provider == "simulator").update({"enabled": False})
        channel = Channel(
            workspace_id=workspace_id, kind="sms", provider="twilio", name="Twilio SMS",
            sender_id=BUSINESS_NUMBER, rate_limit_per_second=0,
            config={"account_sid": fake_twilio.account_sid, "auth_token": fake_twilio.auth_token,
                    "from_number": BUSINESS_NUMBER, "api_base_url": fake_twilio.base_url, "timeout_seconds": 0.5},
        )
        session.add(channel)
        session.commit()
        channel_id = channel.id
    client = TestClient(create_app(runtime, start_worker=False))
    return Setup(Api(client=client, key=key, workspace_id=workspace_id, runtime=runtime), fake_twilio, channel_id)


def test_send_is_handed_off_once_and_status_callbacks_deliver_it(setup):
    """The documented request reaches Twilio once; signed "sent" and "delivered" callbacks move the status."""
    sent = setup.send()
    setup.api.dispatch()
    (sid,) = setup.fake.handoffs
    request = setup.fake.requests[0]
    final_text = setup.message(sent["id"])["final_text"]
    assert final_text.endswith("Your order has shipped.")  # the engine may prefix the brand
    assert request.form == {"To": CUSTOMER, "From": BUSINESS_NUMBER, "Body": final_text,
                            "StatusCallback": f"{setup.webhook_url}?message_id={sent['id']}"}
    assert setup.message(sent["id"])["provider_message_id"] == sid
    assert setup.message(sent["id"])["status"] == "queued"

    answer = setup.fake.post_status_callback(sid, "sent", client=setup.api.client)
    assert (answer.status_code, answer.text) == (200, "")
    assert setup.message(sent["id"])["status"] == "sent"
    setup.fake.post_status_callback(sid, "delivered", client=setup.api.client)
    assert setup.message(sent["id"])["status"] == "delivered"
    # A late "sent" does not move it back; more dispatcher passes never hand it off again.
    setup.fake.post_status_callback(sid, "sent", client=setup.api.client)
    setup.api.dispatch()
    assert setup.message(sent["id"])["status"] == "delivered"
    assert setup.fake.handoffs == [sid]


def test_no_secret_is_stored_in_the_exchange_log(setup):
    """Neither the auth token nor the signature header reaches provider_exchanges."""
    setup.send()
    setup.api.dispatch()
    setup.fake.post_status_callback(setup.fake.handoffs[0], "delivered", client=setup.api.client)
    with setup.api.runtime.session() as session:
        rows = session.scalars(select(ProviderExchange)).all()
        logged = json.dumps([[row.direction, row.request, row.response] for row in rows], ensure_ascii=False)
    assert {"outbound_request", "inbound_webhook"} <= {row.direction for row in rows}
    assert setup.fake.auth_token not in logged
    assert "x-twilio-signature" not in logged.lower()


def test_undelivered_callback_keeps_the_error_code(setup):
    """Undelivered with 30003 (unreachable handset) is stored with Twilio's code."""
    sent = setup.send()
    setup.api.dispatch()
    setup.fake.post_status_callback(setup.fake.handoffs[0], "undelivered", 30003, client=setup.api.client)
    message = setup.message(sent["id"])
    assert (message["status"], message["error_code"]) == ("undelivered", "30003")


def test_forged_status_callback_is_refused_and_changes_nothing(setup):
    """A callback signed with another token is a 403 and the message stays as it was."""
    sent = setup.send()
    setup.api.dispatch()
    sid = setup.fake.handoffs[0]
    form = setup.fake.status_callback_form(sid, "delivered")
    forged = setup.fake.post_webhook(setup.webhook_url, form, client=setup.api.client, signature="AAAA")
    assert forged.status_code == 403
    assert setup.message(sent["id"])["status"] == "queued"


def test_inbound_sms_with_media_opens_a_conversation_and_replays_are_stored_once(setup):
    """An incoming MMS is stored with its media URLs in a conversation; empty TwiML answers Twilio."""
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1", "image/jpeg")]
    form = setup.fake.inbound_form(CUSTOMER, BUSINESS_NUMBER, "주문 확인 부탁드려요", media)
    for _ in range(2):
        answer = setup.fake.post_webhook(setup.webhook_url, form, client=setup.api.client)
        assert (answer.status_code, answer.text) == (200, EMPTY_TWIML)
        assert answer.headers["content-type"].startswith("text/xml")
    with setup.api.runtime.session() as session:
        (stored,) = session.scalars(select(Message).where(Message.direction == "inbound")).all()
        assert (stored.body, stored.media_urls, stored.provider_message_id) == (
            "주문 확인 부탁드려요", [media[0][0]], form["MessageSid"])
        assert session.get(Conversation, stored.conversation_id) is not None
        assert session.get(Contact, stored.contact_id).phone == CUSTOMER


def test_inbound_stop_records_consent_and_queues_one_confirmation(setup):
    """"STOP" by SMS opts the customer out at once and sends one confirmation through Twilio."""
    answer = setup.fake.post_inbound(setup.webhook_url, CUSTOMER, BUSINESS_NUMBER, "STOP", client=setup.api.client)
    assert answer.status_code == 200
    with setup.api.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == CUSTOMER))
        assert contact.global_opt_out
        (confirmation,) = session.scalars(select(Message).where(Message.direction == "outbound")).all()
        assert confirmation.source == "keyword_reply"
    setup.api.dispatch()
    setup.api.dispatch()
    (handed_off,) = setup.fake.messages_to(CUSTOMER)
    with setup.api.runtime.session() as session:
        assert handed_off.body == session.get(Message, confirmation.id).final_text


def test_twilio_21610_records_an_opt_out(setup):
    """Twilio refuses a number that texted STOP to it: the message fails and Mannerly records the opt-out."""
    setup.fake.opt_out(CUSTOMER)
    sent = setup.send()
    setup.api.dispatch()
    message = setup.message(sent["id"])
    assert (message["status"], message["error_code"]) == ("failed", "21610")
    assert setup.fake.handoffs == []
    with setup.api.runtime.session() as session:
        contact = session.get(Contact, sent["contact_id"])
        assert contact.global_opt_out
        event = session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id))
        assert (event.source, event.evidence_message_id) == ("provider", sent["id"])


def test_failed_callback_with_21610_records_an_opt_out(setup):
    """The same code arriving later in a status callback (Messaging Services) also records it."""
    sent = setup.send()
    setup.api.dispatch()
    setup.fake.post_status_callback(setup.fake.handoffs[0], "failed", 21610, client=setup.api.client)
    assert setup.message(sent["id"])["status"] == "failed"
    with setup.api.runtime.session() as session:
        assert session.get(Contact, sent["contact_id"]).global_opt_out


def test_lost_answer_is_unknown_then_found_in_the_message_list_and_never_resent(setup):
    """Twilio created the message but the connection dropped: "unknown", found by listing Messages, never resent."""
    setup.fake.fail_next(fake_server.FAULT_DROP_AFTER_ACCEPT)
    sent = setup.send()
    setup.api.dispatch()
    message = setup.message(sent["id"])
    assert (message["status"], message["provider_message_id"]) == ("queued", setup.fake.handoffs[0])
    with setup.api.runtime.session() as session:
        statuses = session.scalars(select(MessageStatusEvent.status).where(
            MessageStatusEvent.message_id == sent["id"]).order_by(MessageStatusEvent.id)).all()
    assert statuses[-2:] == ["unknown", "queued"]
    setup.api.runtime.clock.advance(minutes=5)
    setup.api.dispatch()
    assert len(setup.fake.handoffs) == 1


def test_lost_request_that_never_reached_twilio_is_sent_once_after_the_search(setup):
    """A hand-off left "unknown" that Twilio's list does not have is queued again after the grace, and sent once."""
    sent = setup.send()
    with setup.api.runtime.session() as session:
        row = session.get(Message, sent["id"])
        row.status, row.channel_id = "unknown", setup.channel_id
        session.add(MessageStatusEvent(workspace_id=row.workspace_id, message_id=row.id, status="sending",
                                       occurred_at=setup.api.runtime.now()))
        session.commit()
    setup.api.dispatch()
    assert setup.message(sent["id"])["status"] == "unknown"  # a request could still be on its way
    setup.api.runtime.clock.advance(minutes=3)
    setup.api.dispatch()
    setup.api.dispatch()
    assert setup.message(sent["id"])["status"] == "queued"
    assert len(setup.fake.handoffs) == 1


def test_rate_limited_send_is_retried_later_and_handed_off_once(setup):
    """429 before acceptance: retried after the backoff, then accepted exactly once."""
    setup.fake.fail_next(fake_server.FAULT_RATE_LIMITED)
    sent = setup.send()
    setup.api.dispatch()
    assert setup.message(sent["id"])["status"] == "pending"
    assert setup.fake.handoffs == []
    setup.api.runtime.clock.advance(timedelta(seconds=5))
    setup.api.dispatch()
    assert setup.message(sent["id"])["status"] == "queued"
    assert len(setup.fake.handoffs) == 1
