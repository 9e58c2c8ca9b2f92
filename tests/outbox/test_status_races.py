"""A delivery report that lands while the dispatcher records the provider's answer is never overwritten."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, update

from mannerly.channels.base import OutboundMessage, SendResult, StatusUpdate
from mannerly.inbound.pipeline import apply_status_updates
from mannerly.models import Channel, Message
from mannerly.outbox import dispatcher as dispatcher_module
from mannerly.outbox.dispatcher import DispatchStats, Dispatcher, Handoff
from mannerly.runtime import Runtime


def test_a_receipt_arriving_while_the_answer_is_recorded_keeps_the_furthest_status(api, settings, monkeypatch):
    sent = api.post("/v1/messages", json={"to": "+821023456789", "topic": "orders", "text": "Your order has shipped."})
    message_id = sent.json()["id"]
    runtime = api.runtime
    with runtime.session() as session:
        channel = session.scalar(select(Channel).where(Channel.workspace_id == api.workspace_id))
        session.execute(update(Message).where(Message.id == message_id).values(
            status="sending", channel_id=channel.id, channel_kind="sms"))
        session.commit()
        session.expunge(channel)
    # The webhook process: its own runtime (own connections) on the same database file.
    webhook_runtime = Runtime.create(settings)
    reading_done = threading.Event()
    real_outcome = dispatcher_module.outcome_of

    def slow_outcome(row, result, now, stats, *args, **kwargs):
        """The dispatcher has read the row; give the receipt every chance to slip in before the write."""
        reading_done.set()
        time.sleep(0.5)
        return real_outcome(row, result, now, stats, *args, **kwargs)

    monkeypatch.setattr(dispatcher_module, "outcome_of", slow_outcome)

    def receipt() -> None:
        """The provider's 'delivered' report for our message, arriving mid-record."""
        reading_done.wait(5)
        with webhook_runtime.session() as session:
            apply_status_updates(session, session.get(Channel, channel.id), [StatusUpdate(
                provider_message_id="SIM-race-1", status="delivered", raw_status="DELIVRD",
                message_id=message_id)], webhook_runtime.now())
            session.commit()

    arriving = threading.Thread(target=receipt)
    arriving.start()
    handoff = Handoff(message_id=message_id, workspace_id=api.workspace_id, channel=channel,
                      outbound=OutboundMessage(message_id=message_id, to="+821023456789", text="x"))
    Dispatcher(runtime).record_results([(handoff, SendResult(accepted=True, status="sent",
                                                             provider_message_id="SIM-race-1"))], DispatchStats())
    arriving.join(10)
    webhook_runtime.close()
    with runtime.session() as session:
        message = session.get(Message, message_id)
        assert message.status == "delivered"
        assert message.provider_message_id == "SIM-race-1"
