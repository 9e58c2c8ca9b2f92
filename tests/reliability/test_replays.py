"""Replayed webhooks, statuses out of order, concurrent idempotent POSTs, STOP during a campaign, two planners."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from mannerly.app import create_app
from mannerly.channels.loopback import LoopbackServer
from mannerly.models import Channel, Contact, Conversation, Message
from mannerly.outbox.dispatcher import Dispatcher
from tests.api.test_webhooks import SignedJsonAdapter

CUSTOMER = "+821023456789"
COPIES = 100


def count(runtime, *where) -> int:
    """How many messages match."""
    with runtime.session() as session:
        return session.scalar(select(func.count()).select_from(Message).where(*where))


@pytest.fixture
def live(api):
    """The API served on a loopback port (real concurrent requests), with a signed test channel."""
    runtime = api.runtime
    runtime.channels.register("signedjson", lambda channel, rt: SignedJsonAdapter(channel.config["secret"]))
    with runtime.session() as session:
        channel = Channel(workspace_id=api.workspace_id, kind="sms", provider="signedjson", name="Hook",
                          config={"secret": "s3cret"}, rate_limit_per_second=0)
        session.add(channel)
        session.commit()
        channel_id = channel.id
    server = LoopbackServer(create_app(runtime, start_worker=False), name="replay-api")
    server.start()
    try:
        yield api, f"http://127.0.0.1:{server.port}/webhooks/{channel_id}", channel_id
    finally:
        server.stop()


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    """A body and its X-Test-Signature header."""
    body = json.dumps(payload).encode()
    return body, {"X-Test-Signature": hmac.new(b"s3cret", body, hashlib.sha256).hexdigest(),
                  "Content-Type": "application/json"}


def test_a_webhook_replayed_100_times_in_a_row_and_100_times_at_once_stores_one_message(live):
    api, url, _channel_id = live
    body, headers = signed({"messages": [{"id": "evt-replay-1", "from": CUSTOMER, "text": "Is my order on its way?"}]})
    with httpx.Client(timeout=30) as client:
        in_a_row = [client.post(url, content=body, headers=headers).status_code for _ in range(COPIES)]
    body2, headers2 = signed({"messages": [{"id": "evt-replay-2", "from": CUSTOMER, "text": "Hello again"}]})
    barrier = threading.Barrier(20)

    def post_concurrently(_index: int) -> int:
        """One of the simultaneous copies."""
        with httpx.Client(timeout=60) as client:
            if _index < 20:
                barrier.wait(10)
            return client.post(url, content=body2, headers=headers2).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        at_once = list(pool.map(post_concurrently, range(COPIES)))
    assert set(in_a_row) == {200} and set(at_once) == {200}
    runtime = api.runtime
    assert count(runtime, Message.direction == "inbound", Message.provider_event_id == "evt-replay-1") == 1
    assert count(runtime, Message.direction == "inbound", Message.provider_event_id == "evt-replay-2") == 1
    assert count(runtime, Message.direction == "inbound") == 2
    with runtime.session() as session:
        contacts = session.scalars(select(Contact).where(Contact.phone == CUSTOMER)).all()
        assert len(contacts) == 1
        assert session.scalar(select(func.count()).select_from(Conversation)) == 1
    # Automatic answers (auto-reply, keyword replies) at most once per stored message.
    assert count(runtime, Message.direction == "outbound", Message.source.in_(("auto_reply", "keyword_reply"))) <= 2


def test_statuses_out_of_order_end_at_the_furthest(live):
    api, url, channel_id = live
    sent = api.post("/v1/messages", json={"to": CUSTOMER, "topic": "orders", "text": "Your order has shipped."})
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["id"]
    runtime = api.runtime
    with runtime.session() as session:
        session.execute(update(Channel).where(Channel.provider == "simulator").values(enabled=False))
        session.commit()
    # The receipt arrives before the dispatcher has recorded the provider's answer: the row is
    # still "sending" and only our id ties them (as Twilio's callback URL carries it).
    with runtime.session() as session:
        session.execute(update(Message).where(Message.id == message_id).values(
            status="sending", channel_id=channel_id, channel_kind="sms", provider_message_id="H-early"))
        session.commit()
    with httpx.Client(timeout=30) as client:
        for status in ("DELIVERED", "SENT_BY_CARRIER"):
            body, headers = signed({"statuses": [{"id": "H-early", "status": status}]})
            assert client.post(url, content=body, headers=headers).status_code == 200
    with runtime.session() as session:
        assert session.get(Message, message_id).status == "delivered"
    # Later, a late "sent" and a failure report for an already delivered message change nothing.
    with httpx.Client(timeout=30) as client:
        body, headers = signed({"statuses": [{"id": "H-early", "status": "QUEUED"}]})
        assert client.post(url, content=body, headers=headers).status_code == 200
    with runtime.session() as session:
        assert session.get(Message, message_id).status == "delivered"


def test_100_concurrent_posts_with_one_idempotency_key_make_one_message_per_workspace(api):
    from tests.api.conftest import make_workspace

    other_workspace, other_key = make_workspace(api.runtime, "Other")
    server = LoopbackServer(create_app(api.runtime, start_worker=False), name="idempotency-api")
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    body = {"to": CUSTOMER, "topic": "orders", "text": "Your order A-77 has shipped."}

    def post(index: int) -> tuple[int, str]:
        """One of the copies; every tenth goes to the other workspace with the same key."""
        key = other_key if index % 10 == 0 else api.key
        with httpx.Client(timeout=60) as client:
            response = client.post(f"{base}/v1/messages", json=body, headers={
                "Authorization": f"Bearer {key}", "Idempotency-Key": "order-A-77"})
            return response.status_code, response.text

    try:
        with ThreadPoolExecutor(max_workers=25) as pool:
            answers = list(pool.map(post, range(COPIES)))
    finally:
        server.stop()
    ours = [answers[index] for index in range(COPIES) if index % 10]
    theirs = [answers[index] for index in range(COPIES) if index % 10 == 0]
    assert {status for status, _ in ours} == {201}
    assert len({json.loads(text)["id"] for _, text in ours}) == 1
    assert len({text for _, text in ours}) == 1  # identical responses
    assert len({json.loads(text)["id"] for _, text in theirs}) == 1
    assert json.loads(ours[0][1])["id"] != json.loads(theirs[0][1])["id"]  # keys are scoped per workspace
    assert count(api.runtime, Message.direction == "outbound", Message.workspace_id == api.workspace_id) == 1
    assert count(api.runtime, Message.direction == "outbound", Message.workspace_id == other_workspace) == 1


def test_stop_during_a_running_campaign_suppresses_every_later_hand_off(runtime, clock):
    from mannerly.campaigns import service as campaigns
    from mannerly.channels.base import InboundMessage
    from mannerly.inbound.pipeline import receive_message
    from tests.campaigns.helpers import PEOPLE, START, make_shop, workspace_of

    clock.set(START + timedelta(hours=7))  # 10:00 in Athens, 16:00 in Seoul: inside every window
    shop = make_shop(runtime)
    with runtime.session() as session:
        campaign = campaigns.create_campaign(session, workspace_of(session, shop), {
            "name": "spring", "topic": "promotions", "segment_id": shop.segment_id, "template": "sale",
            "throttle_per_minute": 1}, clock())  # one a minute: the STOP lands while most are queued
        campaigns.launch_campaign(session, runtime.settings, campaign, clock())
        session.commit()
        campaign_id = campaign.id
    campaigns.plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, clock())
    stopper = PEOPLE[6].phone  # Νίκος in Athens, opted in, queued for a later minute
    with runtime.session() as session:
        queued = session.execute(select(Message.id, Message.send_at).join(Contact, Contact.id == Message.contact_id)
                                 .where(Contact.phone == stopper, Message.direction == "outbound")).one()
        channel = session.scalar(select(Channel).where(Channel.workspace_id == shop.workspace_id,
                                                       Channel.enabled.is_(True)))
        receive_message(session, workspace_of(session, shop), channel,
                        InboundMessage("stop-1", stopper, channel.sender_id or "ACME", "STOP", None), clock())
        session.commit()
        stopped_at = clock()
    clock.advance(hours=1)
    while Dispatcher(runtime).run_once().claimed:
        clock.advance(minutes=1)
    with runtime.session() as session:
        after_stop = session.scalars(select(Message).join(Contact, Contact.id == Message.contact_id).where(
            Contact.phone == stopper, Message.direction == "outbound", Message.source == "campaign",
            Message.sent_at.is_not(None), Message.sent_at >= stopped_at)).all()
        assert after_stop == []
        assert session.get(Message, queued.id).status == "rejected"
        others = session.scalar(select(func.count()).select_from(Message).where(
            Message.id.in_(campaigns.campaign_messages(campaign_id)), Message.status.in_(("sent", "delivered"))))
    assert others >= 4  # the rest of the campaign still went


def test_two_planners_starting_one_campaign_at_once_write_one_message_per_recipient(runtime, clock):
    from mannerly.campaigns import service as campaigns
    from tests.campaigns.helpers import START, make_shop, workspace_of

    clock.set(START)
    shop = make_shop(runtime)
    with runtime.session() as session:
        campaign = campaigns.create_campaign(session, workspace_of(session, shop), {
            "name": "twice", "topic": "promotions", "segment_id": shop.segment_id, "template": "sale"}, clock())
        campaigns.launch_campaign(session, runtime.settings, campaign, clock())
        session.commit()
        campaign_id = campaign.id
    barrier = threading.Barrier(2)

    def planner(_index: int):
        """One scheduler planning the whole campaign."""
        barrier.wait(10)
        return campaigns.plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, clock())

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(planner, range(2)))
    with runtime.session() as session:
        per_contact = session.execute(select(Message.contact_id, func.count()).where(
            Message.id.in_(campaigns.campaign_messages(campaign_id))).group_by(Message.contact_id)).all()
    assert per_contact and {copies for _, copies in per_contact} == {1}, (per_contact, results)
