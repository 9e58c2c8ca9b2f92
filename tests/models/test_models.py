"""The tables store and return what services put in, and refuse what they must refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from mannerly.models import (
    ApiKey,
    AuditEvent,
    Channel,
    Consent,
    ConsentEvent,
    Contact,
    Conversation,
    IdempotencyKey,
    Message,
    MessageStatusEvent,
    ProviderExchange,
    Template,
    Topic,
    User,
    Workspace,
)

MOMENT = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
SEOUL = timezone(timedelta(hours=9))


def make_workspace(session: Session, name: str = "Seoul Bakery") -> Workspace:
    """Insert a workspace and return it with its id."""
    workspace = Workspace(
        name=name,
        brand_names={"ko": "서울베이커리", "en": "Seoul Bakery", "el": "Αρτοποιείο Σεούλ"},
        default_country="KR",
        default_language="ko",
        policy={"marketing_cap": 1},
    )
    session.add(workspace)
    session.flush()
    return workspace


def make_contact(session: Session, workspace: Workspace, phone: str | None = "+821012345678") -> Contact:
    """Insert a contact in a workspace."""
    contact = Contact(workspace_id=workspace.id, phone=phone, country="KR", language="ko", first_name="민수")
    session.add(contact)
    session.flush()
    return contact


def make_message(session: Session, contact: Contact, **fields) -> Message:
    """Insert a message for a contact with sensible defaults."""
    values = dict(
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        direction="outbound",
        channel_kind="sms",
        source="api",
        body="Your order has shipped.",
        status="pending",
    )
    values.update(fields)
    message = Message(**values)
    session.add(message)
    session.flush()
    return message


def test_a_full_graph_round_trips(new_session) -> None:
    with new_session() as session:
        workspace = make_workspace(session)
        user = User(workspace_id=workspace.id, email="owner@example.com", name="Owner", role="admin")
        topic = Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing", keyword="SALE")
        channel = Channel(
            workspace_id=workspace.id, kind="sms", provider="simulator", name="Simulator",
            sender_id="+15550100", config={"token": "secret"}, countries=["KR", "ID"],
        )
        session.add_all([user, topic, channel])
        session.flush()
        contact = make_contact(session, workspace)
        contact.attributes = {"birthday": "1990-05-01", "tier": "gold"}
        contact.tags = ["vip", "단골"]
        conversation = Conversation(workspace_id=workspace.id, contact_id=contact.id, assignee_user_id=user.id)
        session.add(conversation)
        session.flush()
        message = make_message(
            session, contact, conversation_id=conversation.id, channel_id=channel.id, topic_id=topic.id,
            decision={"action": "defer", "reasons": []}, send_at=MOMENT, segments=1, encoding="UCS-2",
            final_text="(광고) 서울베이커리: 세일!", source="campaign",
        )
        event = ConsentEvent(
            workspace_id=workspace.id, contact_id=contact.id, topic_id=topic.id, status="opted_in",
            source="keyword", wording="Reply SALE to get offers", actor="customer",
            evidence_message_id=message.id, occurred_at=MOMENT,
        )
        session.add(event)
        session.flush()
        session.add_all([
            Consent(workspace_id=workspace.id, contact_id=contact.id, topic_id=topic.id, status="opted_in",
                    updated_at=MOMENT, last_event_id=event.id),
            MessageStatusEvent(workspace_id=workspace.id, message_id=message.id, status="unknown",
                               raw_status="WEIRD", occurred_at=MOMENT),
            Template(workspace_id=workspace.id, name="shipped", language="id",
                     body="Halo {{ first_name }}, pesanan Anda dikirim.", variables={"first_name": "Kak"}),
            IdempotencyKey(workspace_id=workspace.id, key="k-1", request_hash="0" * 64, response_status=202,
                           response_body={"id": message.id}, message_id=message.id),
            ProviderExchange(workspace_id=workspace.id, channel_id=channel.id, message_id=message.id,
                             direction="outbound_request", request={"to": "+82..."}, response="plain text body",
                             status_code=200, duration_ms=12),
            AuditEvent(workspace_id=workspace.id, actor="user:1", action="policy.updated",
                       target="workspace:1", detail={"marketing_cap": [2, 1]}),
            ApiKey(workspace_id=workspace.id, name="shop", prefix="mnly_abc", key_hash="f" * 64),
        ])
        session.commit()
        ids = (workspace.id, contact.id, message.id)

    with new_session() as session:
        workspace = session.get(Workspace, ids[0])
        contact = session.get(Contact, ids[1])
        message = session.get(Message, ids[2])
        assert workspace.brand_names["ko"] == "서울베이커리"
        assert workspace.policy == {"marketing_cap": 1}
        assert contact.tags == ["vip", "단골"]
        assert contact.attributes["tier"] == "gold"
        assert contact.global_opt_out is False and contact.night_marketing_consent is False
        assert message.final_text == "(광고) 서울베이커리: 세일!"
        assert message.decision == {"action": "defer", "reasons": []}
        assert message.send_at == MOMENT and message.send_at.tzinfo is not None
        assert message.attempts == 0 and message.redacted is False
        exchange = session.scalars(select(ProviderExchange)).one()
        assert exchange.response == "plain text body"
        assert session.scalars(select(Consent)).one().last_event_id is not None


def test_timestamps_come_back_as_aware_utc(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    seoul_evening = datetime(2025, 3, 3, 21, 30, tzinfo=SEOUL)
    contact.last_inbound_at = seoul_evening
    session.commit()
    session.expire_all()
    stored = session.get(Contact, contact.id).last_inbound_at
    assert stored == seoul_evening
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour == 12


def test_naive_timestamps_are_refused(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    contact.last_inbound_at = datetime(2025, 3, 3, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_timestamps_compare_correctly_in_queries(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    for minutes in (-30, -1, 1, 30):
        make_message(session, contact, send_at=MOMENT + timedelta(minutes=minutes))
    # Comparing with a non-UTC moment must give the same answer as with its UTC equivalent.
    same_moment_in_seoul = MOMENT.astimezone(SEOUL)
    due = session.scalars(select(Message).where(Message.send_at <= same_moment_in_seoul)).all()
    assert len(due) == 2


def test_phone_is_unique_per_workspace_only(session: Session) -> None:
    first = make_workspace(session, "One")
    second = make_workspace(session, "Two")
    make_contact(session, first)
    make_contact(session, second)  # same phone, other workspace: fine
    make_contact(session, first, phone=None)
    make_contact(session, first, phone=None)  # Messenger-only contacts have no phone
    with pytest.raises(IntegrityError):
        make_contact(session, first)


def test_replayed_inbound_event_is_refused_but_reused_outbound_ids_are_not(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    for _ in range(2):
        # Providers that recycle outbound ids must never break the dispatcher's write.
        make_message(session, contact, provider_message_id="SMSC-1", status="sent")
    inbound = dict(direction="inbound", source="customer", status="received",
                   provider_message_id="SM123", provider_event_id="SM123")
    make_message(session, contact, **inbound)
    with pytest.raises(IntegrityError):
        make_message(session, contact, **inbound)


def test_one_conversation_per_contact(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    session.add(Conversation(workspace_id=workspace.id, contact_id=contact.id))
    session.flush()
    session.add(Conversation(workspace_id=workspace.id, contact_id=contact.id))
    with pytest.raises(IntegrityError):
        session.flush()


def test_one_current_consent_per_contact_and_topic(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    topic = Topic(workspace_id=workspace.id, name="orders", label="Orders")
    session.add(topic)
    session.flush()
    session.add(Consent(workspace_id=workspace.id, contact_id=contact.id, topic_id=topic.id, status="opted_in"))
    session.flush()
    session.add(Consent(workspace_id=workspace.id, contact_id=contact.id, topic_id=topic.id, status="opted_out"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_workspace_deletes_its_rows(session: Session) -> None:
    workspace = make_workspace(session)
    contact = make_contact(session, workspace)
    message = make_message(session, contact)
    session.add(MessageStatusEvent(workspace_id=workspace.id, message_id=message.id, status="sent"))
    session.commit()
    session.execute(delete(Workspace).where(Workspace.id == workspace.id))
    session.commit()
    for model in (Contact, Message, MessageStatusEvent):
        assert session.scalar(select(func.count()).select_from(model)) == 0
