"""End to end through the REST API, the dispatcher, the fake Graph API on 127.0.0.1 and /webhooks/<id>.

The engine's whatsapp_window rule in real sends: inside the 24-hour window a message goes
to WhatsApp as text; outside it without a template it goes by SMS (the simulator) and the
decision says why; outside it with an approved template WhatsApp gets a template send with
the parameters. Provider errors arriving by webhook change Mannerly's state.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mannerly.channels.whatsapp_cloud import fake_server
from mannerly.models import ConsentEvent, Contact, Message, ProviderExchange, Topic

CUSTOMER = "821023456789"  # a Korean customer's WhatsApp id; their phone is +82 10-2345-6789


class Shop:
    """The test's view of the business: the API, the fake Graph API and the WhatsApp channel."""

    def __init__(self, api, fake, channel_id: int) -> None:
        """Keep the handles."""
        self.api, self.fake, self.channel_id = api, fake, channel_id

    def webhook(self, notification) -> int:
        """Meta POSTs a signed notification to the channel's webhook; returns the HTTP status."""
        body, headers = self.fake.signed(notification)
        return self.api.client.post(f"/webhooks/{self.channel_id}", content=body, headers=headers).status_code

    def deliver_statuses(self) -> None:
        """Meta reports what became of the accepted messages."""
        for entry in self.fake.take_statuses():
            assert self.webhook(self.fake.notification({"statuses": [entry]})) == 200

    def customer_writes(self, text: str) -> int:
        """The customer writes on WhatsApp; returns their contact id."""
        assert self.webhook(self.fake.text_notification(CUSTOMER, text, name="김민지")) == 200
        with self.api.runtime.session() as session:
            return session.scalar(select(Contact.id).where(Contact.whatsapp_id == CUSTOMER))

    def send(self, contact_id: int, **fields) -> dict:
        """POST /v1/messages on the orders topic asking for WhatsApp, then one dispatcher pass; returns the message."""
        response = self.api.post("/v1/messages", json={"contact_id": contact_id, "topic": "orders",
                                                       "channel": "whatsapp", **fields})
        assert response.status_code in (200, 201, 202), response.text
        self.api.dispatch()
        return self.message(response.json()["id"])

    def message(self, message_id: int) -> dict:
        """GET /v1/messages/{id}."""
        return self.api.get(f"/v1/messages/{message_id}").json()


@pytest.fixture
def shop(api, fake_graph, whatsapp_channel) -> Shop:
    """The workspace with its WhatsApp channel on the fake and the simulator SMS channel."""
    return Shop(api, fake_graph, whatsapp_channel)


def test_inside_the_window_text_goes_to_whatsapp_and_statuses_arrive_by_webhook(shop):
    """Customer wrote a minute ago: free-form text to the Cloud API; sent → delivered → read by webhook."""
    contact_id = shop.customer_writes("주문 상태 알려주세요")
    shop.api.runtime.clock.advance(minutes=1)
    sent = shop.send(contact_id, text="주문하신 상품이 오늘 발송됩니다.")
    assert sent["decision"]["channel"] == "whatsapp" and sent["channel"] == "whatsapp"
    (request,) = shop.fake.sends()
    assert request.body["type"] == "text" and request.body["to"] == CUSTOMER
    assert request.body["text"]["body"] == sent["final_text"]
    assert sent["provider_message_id"] == shop.fake.handoffs()[0] and sent["status"] == "queued"
    shop.deliver_statuses()
    assert shop.message(sent["id"])["status"] == "delivered"
    assert shop.webhook(shop.fake.status_notification(sent["provider_message_id"], "read")) == 200
    assert shop.message(sent["id"])["status"] == "read"
    # A late "sent" never moves the status back.
    assert shop.webhook(shop.fake.status_notification(sent["provider_message_id"], "sent")) == 200
    assert shop.message(sent["id"])["status"] == "read"
    with shop.api.runtime.session() as session:
        exchange = session.scalar(select(ProviderExchange).where(ProviderExchange.direction == "outbound_request"))
        assert exchange.request["headers"]["Authorization"] == "[redacted]"
        assert shop.fake.access_token not in str(exchange.request) + str(exchange.response)


def test_outside_the_window_without_a_template_goes_by_sms_and_says_why(shop):
    """25 hours later, free-form text cannot go by WhatsApp: the simulator SMS carries it; the decision explains."""
    contact_id = shop.customer_writes("감사합니다")
    shop.api.runtime.clock.advance(hours=25)
    sent = shop.send(contact_id, text="배송이 하루 늦어집니다. 죄송합니다.")
    assert sent["decision"]["channel"] == "sms" and sent["channel"] == "sms"
    reasons = [reason for reason in sent["decision"]["reasons"] if reason["rule"] == "whatsapp_window"]
    assert reasons and reasons[0]["verdict"] == "reroute"
    assert "no approved template" in reasons[0]["detail"] and "sending by SMS instead" in reasons[0]["detail"]
    assert shop.fake.sends() == []
    inbox = shop.api.runtime.simulator.phone_inbox("+" + CUSTOMER, shop.api.runtime.now() + timedelta(seconds=5))
    assert [entry.text for entry in inbox] == [sent["final_text"]]


def test_outside_the_window_an_approved_template_goes_to_whatsapp_with_parameters(shop):
    """Templates synced from the account; outside the window WhatsApp gets a template send with the values."""
    shop.fake.add_template("order_shipped", "ko", "{{1}}님, 주문 {{2}}이(가) 발송되었습니다.")
    shop.fake.add_template("order_shipped", "en_US", "Hi {{1}}, your order {{2}} has shipped.")
    assert shop.api.post(f"/v1/channels/{shop.channel_id}/whatsapp/templates/sync").status_code == 200
    contact_id = shop.customer_writes("네")
    shop.api.runtime.clock.advance(hours=30)
    data = {"param1": "민지", "param2": "#A-1234"}
    korean = shop.send(contact_id, template="order_shipped", data=data)
    assert korean["decision"]["channel"] == "whatsapp"
    assert any("approved template 'order_shipped'" in reason["detail"] for reason in korean["decision"]["reasons"])
    english = shop.send(contact_id, template="order_shipped", data=data, language="en")
    templates = [request.body["template"] for request in shop.fake.sends()]
    assert templates == [
        {"name": "order_shipped", "language": {"code": "ko"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "민지"}, {"type": "text", "text": "#A-1234"}]}]},
        {"name": "order_shipped", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "민지"}, {"type": "text", "text": "#A-1234"}]}]},
    ]
    assert korean["provider_message_id"] and english["provider_message_id"]
    assert korean["final_text"].count("민지") == 1


def test_131047_by_webhook_closes_the_window_and_the_next_message_goes_by_sms(shop):
    """Meta says the window is closed (131047): the message fails, the contact's window is cleared, SMS takes over."""
    contact_id = shop.customer_writes("안녕하세요")
    shop.fake.close_window(CUSTOMER)  # Meta's clock disagrees with ours
    first = shop.send(contact_id, text="문의 주셔서 감사합니다.")
    assert first["channel"] == "whatsapp" and first["status"] == "queued"
    shop.deliver_statuses()
    failed = shop.message(first["id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "131047")
    with shop.api.runtime.session() as session:
        assert session.get(Contact, contact_id).whatsapp_last_inbound_at is None
    second = shop.send(contact_id, text="확인 후 연락드리겠습니다.")
    assert second["channel"] == "sms"


def test_131050_by_webhook_records_a_marketing_opt_out(shop):
    """Meta says the customer stopped marketing (131050): Mannerly records an opt-out from every marketing topic."""
    contact_id = shop.customer_writes("안녕하세요")
    sent = shop.send(contact_id, text="주문이 접수되었습니다.")
    assert shop.webhook(shop.fake.status_notification(sent["provider_message_id"], "failed", 131050)) == 200
    with shop.api.runtime.session() as session:
        events = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)).all()
        promotions = session.scalar(select(Topic.id).where(Topic.name == "promotions"))
        assert [(event.topic_id, event.status, event.source) for event in events] == [
            (promotions, "opted_out", "provider")]
        assert events[0].evidence_message_id == sent["id"]
        assert not session.get(Contact, contact_id).global_opt_out


def test_throttled_send_is_retried_and_handed_off_once(shop):
    """130429 before acceptance: the dispatcher waits and tries again; the fake accepts exactly one message."""
    contact_id = shop.customer_writes("hello")
    shop.fake.fail_next(fake_server.FAULT_RATE_LIMITED)
    first_try = shop.send(contact_id, text="Your parcel is on its way.")
    assert first_try["status"] == "pending" and "130429" in first_try["status_detail"]
    shop.api.runtime.clock.advance(seconds=5)
    shop.api.dispatch()
    assert shop.message(first_try["id"])["status"] == "queued"
    assert len(shop.fake.handoffs()) == 1 and len(shop.fake.sends()) == 2


def test_lost_answer_is_unknown_and_never_resent(shop):
    """The connection drops after Meta accepted: unknown, and later passes do not hand it off again."""
    contact_id = shop.customer_writes("hello")
    shop.fake.fail_next(fake_server.FAULT_DROP_AFTER_ACCEPT)
    lost = shop.send(contact_id, text="Your parcel is on its way.")
    assert lost["status"] == "unknown"
    shop.api.runtime.clock.advance(minutes=5)
    shop.api.dispatch()
    assert len(shop.fake.handoffs()) == 1
    # The wamid was never learnt, so the webhook cannot be matched to the row: it stays unknown, honestly.
    shop.deliver_statuses()
    assert shop.message(lost["id"])["status"] == "unknown"


def test_inbound_media_and_buttons_reach_the_inbox(shop):
    """A photo and a button reply are stored with their placeholder text and media reference."""
    contact_id = shop.customer_writes("사진 보낼게요")
    image = shop.fake.notification({"contacts": [{"profile": {"name": "김민지"}, "wa_id": CUSTOMER}], "messages": [
        {"from": CUSTOMER, "id": "wamid.IMAGE1", "timestamp": "1741050240", "type": "image",
         "image": {"caption": "파손", "mime_type": "image/jpeg", "sha256": "x", "id": "1234567890"}}]})
    assert shop.webhook(image) == 200
    with shop.api.runtime.session() as session:
        stored = session.scalar(select(Message).where(Message.provider_message_id == "wamid.IMAGE1"))
        assert (stored.body, stored.media_urls, stored.contact_id) == ("[image] 파손", ["whatsapp-media:1234567890"],
                                                                      contact_id)
