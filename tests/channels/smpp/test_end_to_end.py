"""End to end through the API: POST /v1/messages -> dispatcher -> SMPP adapter -> smsc-sim -> receipt -> delivered;
a customer's reply over SMPP -> the conversation; a STOP over SMPP -> opted out."""

from __future__ import annotations

from sqlalchemy import select

from mannerly.models import Channel, Contact, Message, ProviderExchange

from ..smpp.conftest import FAST_CONFIG, PASSWORD, wait_for
from ...api.conftest import api  # noqa: F401  (the API fixture)

PHONE = "+821023456789"


def use_smpp_channel(api, simulator) -> int:
    """Disable the workspace's simulator channel and add an SMPP channel pointing at the simulator."""
    host, port = simulator.address
    with api.runtime.session() as session:
        session.query(Channel).filter(Channel.workspace_id == api.workspace_id).update({"enabled": False})
        channel = Channel(workspace_id=api.workspace_id, kind="sms", provider="smpp", name="Operator SMPP",
                          sender_id="ACME", config={"host": host, "port": port, **FAST_CONFIG})
        session.add(channel)
        session.commit()
        return channel.id


def test_message_is_sent_over_smpp_and_delivered(api, smsc):
    """A message posted to the API reaches the simulated phone and its receipt marks it delivered."""
    simulator = smsc(id_format="HEX", receipt_id_format="dec", receipt_delay_ms=200)
    channel_id = use_smpp_channel(api, simulator)
    sent = api.post("/v1/messages", json={"to": PHONE, "topic": "orders", "text": "Your order has shipped."})
    assert sent.status_code in (200, 201, 202), sent.text
    message_id = sent.json()["id"]
    stats = api.dispatch()
    assert stats.sent == 1, stats
    body = api.get(f"/v1/messages/{message_id}").json()
    assert body["status"] == "sent" and body["provider_message_id"]
    assert simulator.phone_inbox(PHONE)[0].text.endswith("Your order has shipped.")  # the engine may add the brand

    def delivered() -> bool:
        """One dispatcher pass, then look."""
        api.dispatch()
        return api.get(f"/v1/messages/{message_id}").json()["status"] == "delivered"

    wait_for(delivered, 5, 0.02)
    with api.runtime.session() as session:
        exchange = session.scalar(select(ProviderExchange).where(ProviderExchange.message_id == message_id))
        assert exchange.channel_id == channel_id
        assert exchange.request["command"] == "submit_sm"
        assert PASSWORD not in str(exchange.request) + str(exchange.response)


def test_customer_reply_over_smpp_lands_in_the_conversation(api, smsc):
    """An MO deliver_sm becomes an inbound message in the contact's conversation; STOP opts the contact out."""
    simulator = smsc()
    channel_id = use_smpp_channel(api, simulator)
    api.dispatch()  # builds the adapter, which binds in the background
    wait_for(lambda: simulator.stats.binds >= 1)
    simulator.call(simulator.phone_sends, PHONE, "ACME", "언제 도착하나요?")

    def stored() -> list:
        """One dispatcher pass; the inbound messages stored so far."""
        api.dispatch()
        with api.runtime.session() as session:
            return session.scalars(select(Message).where(Message.direction == "inbound")).all()

    inbound = wait_for(stored, 5, 0.02)
    assert [(m.body, m.channel_id, m.status) for m in inbound] == [("언제 도착하나요?", channel_id, "received")]
    assert inbound[0].conversation_id is not None
    conversations = api.get("/v1/conversations").json()
    assert any(item["contact_phone"] == PHONE for item in conversations["items"])

    simulator.call(simulator.phone_sends, PHONE, "ACME", "STOP")
    wait_for(lambda: len(stored()) == 2, 5, 0.02)
    with api.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == PHONE))
        assert contact.global_opt_out


def test_throttled_messages_of_a_batch_are_handed_off_later_once_each(api, smsc, clock):
    """A batch the SMSC partly throttles: the throttled messages are queued again and go later; every phone gets
    its message exactly once and every message ends delivered with the id of its own submit_sm."""
    simulator = smsc(throttle_per_second=2, receipt_delay_ms=10)
    use_smpp_channel(api, simulator)
    phones = [f"+8210234567{n:02d}" for n in range(6)]
    ids = []
    for phone in phones:
        sent = api.post("/v1/messages", json={"to": phone, "topic": "orders", "text": "Your order has shipped."})
        assert sent.status_code in (200, 201, 202), sent.text
        ids.append(sent.json()["id"])
    first = api.dispatch()
    assert (first.sent, first.retried) == (2, 4), first

    def all_delivered() -> bool:
        """Let the retry delay and the SMSC's one-second throttle window pass, then one dispatcher pass."""
        clock.advance(seconds=30)
        api.dispatch()
        return all(api.get(f"/v1/messages/{n}").json()["status"] == "delivered" for n in ids)

    wait_for(all_delivered, 10, 0.3)
    assert simulator.stats.submits == 6 and simulator.stats.throttled >= 4
    assert all(len(simulator.phone_inbox(phone)) == 1 for phone in phones)
    for message_id, phone in zip(ids, phones, strict=True):
        provider_id = api.get(f"/v1/messages/{message_id}").json()["provider_message_id"]
        assert simulator.messages[provider_id].destination_addr == phone.lstrip("+")
