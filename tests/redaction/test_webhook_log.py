"""An inbound webhook with a card number: the message and the exchange log both keep it redacted."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from mannerly.app import create_app
from mannerly.channels.base import InboundMessage, SendResult, WebhookResult
from mannerly.models import Channel, Message, ProviderExchange
from tests.api.conftest import API_START, make_workspace


class PlainJsonAdapter:
    """A webhook adapter for this test: unsigned JSON {"messages": [{"id", "from", "text"}]}."""

    kind = "sms"
    provider = "plainjson"

    def send(self, message):
        """Accept every message."""
        return SendResult(accepted=True, status="sent", provider_message_id=f"P{message.message_id}")

    def lookup_status(self, provider_message_id):
        """Nothing to look up."""
        return None

    def handle_webhook(self, request):
        """Parse the messages; keep the raw payload on the event as real adapters do."""
        payload = request.json()
        return WebhookResult(events=tuple(
            InboundMessage(item["id"], item["from"], "ACME", item["text"], None, raw=item)
            for item in payload["messages"]), body="ok")


def test_card_number_is_redacted_in_the_message_and_the_exchange_log(runtime, clock):
    clock.set(API_START)
    workspace_id, _key = make_workspace(runtime, "Acme")
    runtime.channels.register("plainjson", lambda channel, rt: PlainJsonAdapter())
    with runtime.session() as session:
        channel = Channel(workspace_id=workspace_id, kind="sms", provider="plainjson", name="Hook", config={})
        session.add(channel)
        session.commit()
        channel_id = channel.id
    client = TestClient(create_app(runtime, start_worker=False))
    body = {"messages": [{"id": "m1", "from": "+821023456789", "text": "카드 4111 1111 1111 1111 로 결제해주세요"}]}
    answer = client.post(f"/webhooks/{channel_id}", content=json.dumps(body, ensure_ascii=False).encode())
    assert answer.status_code == 200
    with runtime.session() as session:
        message = session.scalar(select(Message).where(Message.direction == "inbound"))
        assert message.redacted and message.body == "카드 [card number removed] 로 결제해주세요"
        (exchange,) = session.scalars(select(ProviderExchange)).all()
        logged = json.dumps(exchange.request, ensure_ascii=False)
        assert "4111" not in logged and "[card number removed]" in logged
