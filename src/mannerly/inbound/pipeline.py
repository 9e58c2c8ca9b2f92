"""The receive pipeline: adapter event → dedupe → contact → store → keywords → conversation.

One transaction per event. A replayed event (same provider id on the same
channel kind) is recognised and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mannerly.channels.base import (
    EFFECT_MARKETING_OPT_OUT,
    EFFECT_OPT_OUT,
    EFFECT_WINDOW_CLOSED,
    InboundMessage,
    StatusUpdate,
    advance_status,
)
from mannerly.consent.service import record_consent
from mannerly.contacts.service import build_contact, find_contact_by_phone, parse_contact_phone
from mannerly.conversations.service import touch_conversation_inbound
from mannerly.db import insert_many, serialize_writes, update_by_id
from mannerly.errors import ProblemError
from mannerly.inbox.inbound import after_inbound
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import Channel, Contact, Message, MessageStatusEvent, Topic, Workspace
from mannerly.policy.keywords import KeywordKind, KeywordMatch, classify_keyword, confirmation_text
from mannerly.policy.types import Source
from mannerly.redaction import redact
from mannerly.workspaces.service import SERVICE_TOPIC


@dataclass
class Received:
    """What the pipeline did with one inbound message."""

    message: Message
    duplicate: bool
    keyword: KeywordMatch | None = None
    confirmation: Message | None = None


def find_contact_for_address(session: Session, workspace: Workspace, channel_kind: str, address: str,
                             now: datetime) -> Contact:
    """The contact behind a sender address on a channel, created on first contact."""
    if channel_kind == "messenger":
        contact = session.scalar(select(Contact).where(
            Contact.workspace_id == workspace.id, Contact.messenger_psid == address))
        if contact is None:
            contact = Contact(workspace_id=workspace.id, messenger_psid=address, language=workspace.default_language,
                              attributes={}, tags=[], created_at=now, updated_at=now)
            session.add(contact)
        return contact
    phone = parse_contact_phone(address, workspace.default_country, "from")
    contact = find_contact_by_phone(session, workspace.id, phone.e164)
    if contact is None:
        contact = build_contact(workspace, phone, now)
        session.add(contact)
    if channel_kind == "whatsapp" and not contact.whatsapp_id:
        contact.whatsapp_id = phone.e164.lstrip("+")
    return contact


def receive_message(session: Session, workspace: Workspace, channel: Channel, event: InboundMessage,
                    now: datetime) -> Received:
    """Store one customer message and act on keywords; the caller commits."""
    existing = session.scalar(select(Message).where(
        Message.workspace_id == workspace.id,
        Message.channel_kind == channel.kind,
        Message.provider_event_id == event.provider_message_id,
    ))
    if existing is not None:
        return Received(message=existing, duplicate=True)
    contact = find_contact_for_address(session, workspace, channel.kind, event.from_address, now)
    session.flush()
    contact.last_inbound_at = now
    if channel.kind == "whatsapp":
        contact.whatsapp_last_inbound_at = now
    elif channel.kind == "messenger":
        contact.messenger_last_inbound_at = now
    contact.updated_at = now
    conversation = touch_conversation_inbound(session, contact, now)
    # Card numbers and national ids never reach the database (S8).
    redaction = redact(event.text)
    message = Message(
        workspace_id=workspace.id,
        contact_id=contact.id,
        conversation_id=conversation.id,
        direction="inbound",
        channel_id=channel.id,
        channel_kind=channel.kind,
        source="customer",
        body=redaction.text,
        redacted=redaction.redacted,
        status="received",
        provider_event_id=event.provider_message_id,
        provider_message_id=event.provider_message_id,
        media_urls=list(event.media_urls) or None,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent replay stored it first; this event's transaction holds nothing else.
        session.rollback()
        existing = session.scalar(select(Message).where(
            Message.workspace_id == workspace.id,
            Message.channel_kind == channel.kind,
            Message.provider_event_id == event.provider_message_id,
        ))
        return Received(message=existing, duplicate=True)
    received = Received(message=message, duplicate=False)
    topics = session.scalars(select(Topic).where(Topic.workspace_id == workspace.id)).all()
    keywords = {topic.keyword: topic.name for topic in topics if topic.keyword}
    match = classify_keyword(redaction.text, keywords, language_hint=contact.language)
    if match is not None:
        received.keyword = match
        received.confirmation = apply_keyword(session, workspace, contact, message, match, topics, now)
    # Inbox work: CSAT answers, reopening, waiting time, bots, auto-reply (skipped for keywords).
    after_inbound(session, workspace, channel, received, now)
    return received


def apply_keyword(session: Session, workspace: Workspace, contact: Contact, message: Message,
                  match: KeywordMatch, topics: list[Topic], now: datetime) -> Message | None:
    """Change consent at once for STOP/START, then queue one confirmation through the normal path."""
    topic = next((row for row in topics if row.name == match.topic), None) if match.topic else None
    if match.kind is not KeywordKind.HELP:
        status = "opted_out" if match.kind is KeywordKind.STOP else "opted_in"
        record_consent(session, contact, topic, status, source="keyword", actor="customer", now=now,
                       wording=message.body, evidence_message_id=message.id)
    brand = (workspace.brand_names or {}).get(match.language) or (workspace.brand_names or {}).get("en") \
        or workspace.name
    text = confirmation_text(match.kind, match.language, brand, topic.label if topic else None)
    intent = OutboundIntent(topic=SERVICE_TOPIC, contact_id=contact.id, text=text, language=match.language,
                            channel=message.channel_kind, reply=True, source=Source.KEYWORD_REPLY)
    try:
        return submit(session, workspace, intent, now)
    except ProblemError:
        # The confirmation is a courtesy; a workspace without the service topic still records consent.
        return None


def apply_status_update(session: Session, channel: Channel, update: StatusUpdate, now: datetime) -> Message | None:
    """Record a delivery report on its message; statuses never move backwards. None if the message is unknown."""
    matched = apply_status_updates(session, channel, [update], now)
    return session.get(Message, matched[0]) if matched else None


# What applying a status report reads from a message row.
STATUS_COLUMNS = (Message.id, Message.workspace_id, Message.status, Message.delivered_at, Message.provider_message_id)


def apply_status_updates(session: Session, channel: Channel, updates: list[StatusUpdate], now: datetime) -> list[int]:
    """Record many delivery reports of one channel with bulk statements; returns the ids of the matched messages."""
    if not updates:
        return []
    # Read and write each status under a lock: a report computed from a stale status could
    # otherwise overwrite a further one that another process wrote in between.
    lock_rows = serialize_writes(session)
    wanted = list({report.provider_message_id for report in updates if report.provider_message_id})
    rows: dict[str, dict] = {}
    for start in range(0, len(wanted), 500):
        query = select(*STATUS_COLUMNS).where(
            Message.channel_id == channel.id,
            Message.direction == "outbound",
            Message.provider_message_id.in_(wanted[start:start + 500]),
        )
        for row in session.execute(query.with_for_update() if lock_rows else query):
            rows[row.provider_message_id] = row._asdict()
    changes: dict[int, dict] = {}
    events: list[dict] = []
    effects: list[tuple[int, StatusUpdate]] = []
    for report in updates:
        current = rows.get(report.provider_message_id)
        if current is None and report.message_id is not None:
            # The provider echoed our id: the report matches even if its answer to the hand-off was lost.
            by_our_id = select(*STATUS_COLUMNS).where(
                Message.id == report.message_id, Message.channel_id == channel.id, Message.direction == "outbound")
            found = session.execute(by_our_id.with_for_update() if lock_rows else by_our_id).first()
            if found is not None:
                current = found._asdict()
                current["provider_message_id"] = current["provider_message_id"] or report.provider_message_id
                changes.setdefault(current["id"], {"id": current["id"]})["provider_message_id"] = \
                    current["provider_message_id"]
                rows[report.provider_message_id] = current
        if current is None:
            continue
        events.append({"workspace_id": current["workspace_id"], "message_id": current["id"], "status": report.status,
                       "raw_status": report.raw_status, "error_code": report.error_code,
                       "occurred_at": report.occurred_at or now})
        if report.effect:
            effects.append((current["id"], report))
        new_status = advance_status(current["status"], report.status)
        if new_status != current["status"]:
            change = changes.setdefault(current["id"], {"id": current["id"]})
            change.update(status=new_status, updated_at=now)
            current["status"] = new_status
            if new_status in ("delivered", "read") and current["delivered_at"] is None:
                current["delivered_at"] = change["delivered_at"] = report.occurred_at or now
            if new_status in ("failed", "undelivered"):
                change["error_code"] = report.error_code
    update_by_id(session, Message.__table__, changes.values())
    insert_many(session, MessageStatusEvent.__table__, events)
    for message_id, update_event in effects:
        apply_provider_effect(session, session.get(Message, message_id), update_event.effect,
                              f"{channel.provider} error {update_event.error_code}", now)
    session.flush()
    return list(dict.fromkeys(event["message_id"] for event in events))


def apply_provider_effect(session: Session, message: Message, effect: str, evidence: str, now: datetime) -> None:
    """Carry a provider error's meaning into Mannerly: an opt-out on record, or a closed WhatsApp window."""
    contact = session.get(Contact, message.contact_id)
    if effect == EFFECT_OPT_OUT and not contact.global_opt_out:
        record_consent(session, contact, None, "opted_out", source="provider", actor=evidence.split()[0],
                       now=now, wording=evidence, evidence_message_id=message.id)
    elif effect == EFFECT_MARKETING_OPT_OUT:
        marketing = session.scalars(select(Topic).where(Topic.workspace_id == contact.workspace_id,
                                                        Topic.kind == "marketing")).all()
        for topic in marketing:
            record_consent(session, contact, topic, "opted_out", source="provider", actor=evidence.split()[0],
                           now=now, wording=evidence, evidence_message_id=message.id)
    elif effect == EFFECT_WINDOW_CLOSED:
        # The provider knows better than our clock: the window is closed until the customer writes again.
        contact.whatsapp_last_inbound_at = None
    session.flush()
