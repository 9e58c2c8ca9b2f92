"""The receive pipeline: dedupe, contacts, conversations and keywords."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mannerly.channels.base import InboundMessage
from mannerly.inbound.pipeline import receive_message
from mannerly.models import Channel, ConsentEvent, Contact, Conversation, Message, Topic, Workspace
from mannerly.workspaces.service import create_workspace

NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
def workspace_id(runtime, clock):
    """A workspace with a simulator SMS channel and a promotions topic with keyword PROMO."""
    clock.set(NOW)
    with runtime.session() as session:
        workspace = create_workspace(session, "Toko", brand_names={"en": "Toko", "id": "Toko", "ko": "토코"},
                                     default_country="ID", default_language="id")
        session.add(Topic(workspace_id=workspace.id, name="promotions", label="Promo", kind="marketing", keyword="PROMO"))
        session.commit()
        return workspace.id


def receive(runtime, workspace_id: int, text: str, sender: str = "0812-3456-7890", event_id: str = "e1"):
    """Run one inbound SMS through the pipeline and commit."""
    with runtime.session() as session:
        workspace = session.get(Workspace, workspace_id)
        channel = session.scalar(select(Channel).where(Channel.workspace_id == workspace_id))
        event = InboundMessage(provider_message_id=event_id, from_address=sender, to_address="TOKO",
                               text=text, received_at=NOW)
        received = receive_message(session, workspace, channel, event, runtime.now())
        session.commit()
        return received


def count(runtime, model) -> int:
    """Rows in a table."""
    with runtime.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_first_message_creates_contact_and_conversation(runtime, workspace_id):
    """A new number becomes a contact (E.164, country, language) with one open conversation."""
    received = receive(runtime, workspace_id, "Halo, pesanan saya di mana?")
    assert not received.duplicate and received.keyword is None
    with runtime.session() as session:
        contact = session.scalar(select(Contact))
        assert (contact.phone, contact.country, contact.language) == ("+6281234567890", "ID", "id")
        assert contact.last_inbound_at == NOW
        conversation = session.scalar(select(Conversation))
        assert (conversation.status, conversation.unread_count) == ("open", 1)


def test_replayed_event_is_stored_once(runtime, workspace_id):
    """The same provider id ten times: one message, one unread count."""
    for _ in range(10):
        receive(runtime, workspace_id, "Halo", event_id="same")
    assert count(runtime, Message) == 1
    with runtime.session() as session:
        assert session.scalar(select(Conversation.unread_count)) == 1


def test_stop_records_global_opt_out_with_evidence_and_one_confirmation(runtime, workspace_id):
    """BERHENTI opts out of everything at once and queues exactly one Indonesian confirmation."""
    received = receive(runtime, workspace_id, "BERHENTI")
    assert received.keyword.kind.value == "stop"
    with runtime.session() as session:
        contact = session.scalar(select(Contact))
        assert contact.global_opt_out
        event = session.scalar(select(ConsentEvent))
        assert (event.source, event.actor, event.evidence_message_id, event.topic_id) == (
            "keyword", "customer", received.message.id, None)
        confirmation = session.get(Message, received.confirmation.id)
        assert confirmation.source == "keyword_reply" and confirmation.status == "pending"
        assert "BERHENTI" in confirmation.final_text or "MULAI" in confirmation.final_text
    receive(runtime, workspace_id, "BERHENTI", event_id="e1")  # a replay adds nothing
    assert count(runtime, ConsentEvent) == 1


def test_stop_with_topic_keyword_opts_out_of_that_topic_only(runtime, workspace_id):
    """STOP PROMO leaves other topics alone."""
    receive(runtime, workspace_id, "stop promo")
    with runtime.session() as session:
        contact = session.scalar(select(Contact))
        assert not contact.global_opt_out
        event = session.scalar(select(ConsentEvent))
        assert event.status == "opted_out" and event.topic_id is not None


def test_start_after_stop_opts_back_in(runtime, workspace_id):
    """START lifts the global opt-out."""
    receive(runtime, workspace_id, "STOP", event_id="a")
    receive(runtime, workspace_id, "MULAI", event_id="b")
    with runtime.session() as session:
        assert not session.scalar(select(Contact)).global_opt_out
        assert [event.status for event in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))] == [
            "opted_out", "opted_in"]


def test_sentence_with_stop_in_it_is_just_a_message(runtime, workspace_id):
    """'can you stop by at 5?' changes no consent."""
    received = receive(runtime, workspace_id, "can you stop by at 5?")
    assert received.keyword is None
    assert count(runtime, ConsentEvent) == 0


def test_fuzzy_opt_out_sentence_is_recognised(runtime, workspace_id):
    """'please stop texting me' is an opt-out."""
    received = receive(runtime, workspace_id, "please stop texting me")
    assert received.keyword.kind.value == "stop"
    with runtime.session() as session:
        assert session.scalar(select(Contact)).global_opt_out


def test_help_answers_without_changing_consent(runtime, workspace_id):
    """HELP/BANTUAN queues a confirmation and records no consent event."""
    received = receive(runtime, workspace_id, "BANTUAN")
    assert received.keyword.kind.value == "help" and received.confirmation is not None
    assert count(runtime, ConsentEvent) == 0


def test_bad_sender_number_is_refused_and_stores_nothing(runtime, workspace_id):
    """An unparseable sender raises a clear error and leaves no rows."""
    from mannerly.errors import ProblemError

    with pytest.raises(ProblemError, match="invalid phone number"):
        receive(runtime, workspace_id, "hi", sender="not-a-number")
    assert count(runtime, Message) == 0 and count(runtime, Contact) == 0
