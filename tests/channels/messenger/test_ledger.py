"""Matching read/delivery watermarks to our messages through the database ledger."""

from __future__ import annotations

from datetime import timedelta

from mannerly.channels.messenger.ledger import DatabaseSentLedger
from mannerly.models import Channel, Contact, Message, MessageStatusEvent
from tests.api.conftest import make_workspace

PSID = "6912345678901234"


def outbound(session, workspace_id, channel_id, contact_id, mid, status, handoffs, sent_at):
    """An outbound message whose hand-off(s) started at `handoffs` and whose answer came at `sent_at`."""
    message = Message(workspace_id=workspace_id, contact_id=contact_id, direction="outbound", channel_id=channel_id,
                      channel_kind="messenger", source="api", body="x", status=status, provider_message_id=mid,
                      sent_at=sent_at)
    session.add(message)
    session.flush()
    for started in handoffs:
        session.add(MessageStatusEvent(workspace_id=workspace_id, message_id=message.id, status="sending",
                                       occurred_at=started))
    return message


def test_watermark_covers_messages_whose_hand_off_began_by_then(runtime, clock):
    """Hand-off start decides, not sent_at; statuses and PSID filter; other channels never match."""
    workspace_id, _ = make_workspace(runtime, "Acme")
    t = clock()
    with runtime.session() as session:
        page = Channel(workspace_id=workspace_id, kind="messenger", provider="messenger", name="Page", config={})
        other_page = Channel(workspace_id=workspace_id, kind="messenger", provider="messenger", name="Other", config={})
        session.add_all([page, other_page])
        customer = Contact(workspace_id=workspace_id, messenger_psid=PSID, attributes={}, tags=[])
        someone_else = Contact(workspace_id=workspace_id, messenger_psid="7023456789012345", attributes={}, tags=[])
        session.add_all([customer, someone_else])
        session.flush()
        ms = timedelta(milliseconds=1)
        # Meta stamped it between hand-off (t) and our sent_at (t+300ms); a watermark at t+100ms covers it.
        outbound(session, workspace_id, page.id, customer.id, "m_in_flight", "sent", [t], t + 300 * ms)
        # Retried after a 429: the last hand-off (t+50ms) counts.
        outbound(session, workspace_id, page.id, customer.id, "m_retried", "delivered", [t - 60 * ms, t + 50 * ms],
                 t + 250 * ms)
        outbound(session, workspace_id, page.id, customer.id, "m_later", "sent", [t + 200 * ms], t + 400 * ms)
        outbound(session, workspace_id, page.id, customer.id, "m_already_read", "read", [t - 10 * ms], t)
        outbound(session, workspace_id, page.id, someone_else.id, "m_other_psid", "sent", [t], t)
        outbound(session, workspace_id, other_page.id, customer.id, "m_other_channel", "sent", [t], t)
        session.commit()
        page_id = page.id
    ledger = DatabaseSentLedger(runtime.session, page_id, workspace_id)
    watermark = t + timedelta(milliseconds=100)
    assert ledger.mids_up_to(PSID, watermark, ("queued", "sent", "delivered")) == ["m_in_flight", "m_retried"]
    assert ledger.mids_up_to(PSID, watermark, ("queued", "sent")) == ["m_in_flight"]
    assert ledger.mids_up_to(PSID, t + timedelta(seconds=1), ("sent",)) == ["m_in_flight", "m_later"]
    assert ledger.mids_up_to("0000", watermark, ("sent",)) == []
    other_workspace = DatabaseSentLedger(runtime.session, page_id, workspace_id + 1)
    assert other_workspace.mids_up_to(PSID, watermark, ("sent",)) == []
