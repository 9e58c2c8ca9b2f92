"""Replayed webhooks and statuses out of order, through a real socket."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select, update

from mannerly.app import create_app
from mannerly.channels.loopback import LoopbackServer
from mannerly.inbound.queue import apply_queued
from mannerly.models import Channel, Contact, Conversation, Message
from tests.api.test_webhooks import SignedJsonAdapter

CUSTOMER = "+821023456789"
COPIES = 100


def count(runtime, *where) -> int:
    """How many messages match."""
    with runtime.session() as session:
        return session.scalar(select(func.count()).select_from(Message).where(*where))


@pytest.fixture(params=["inline", "queue"])
def settings(request, settings):
    """Each test runs with webhooks applied in the request (inline) and by the worker (queue)."""
    return settings.model_copy(update={"webhook_mode": request.param})


def apply_queue(runtime, workers: int = 1) -> None:
    """Queue mode: what the workers do with the stored events (several at once when asked)."""
    if runtime.settings.webhook_mode != "queue":
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: apply_queued(runtime.sessionmaker, runtime.now()), range(workers)))


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
    apply_queue(runtime, workers=2)
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
    apply_queue(runtime)
    with runtime.session() as session:
        assert session.get(Message, message_id).status == "delivered"
    # Later, a late "sent" and a failure report for an already delivered message change nothing.
    with httpx.Client(timeout=30) as client:
        body, headers = signed({"statuses": [{"id": "H-early", "status": "QUEUED"}]})
        assert client.post(url, content=body, headers=headers).status_code == 200
    apply_queue(runtime)
    with runtime.session() as session:
        assert session.get(Message, message_id).status == "delivered"
