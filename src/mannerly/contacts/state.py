"""Gather what the engine needs to know about a contact (the 'gather state' step)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mannerly.kit.phones import InvalidPhoneNumber, parse_phone
from mannerly.models import Channel, Consent, ConsentEvent, Contact, Conversation, Message, Topic
from mannerly.policy.types import ConsentStatus, ContactState, Policy, SentRecord, Source, TopicKind

# Outbound statuses that count as "sent or about to be sent" for caps and duplicates.
COUNTED_STATUSES = ("pending", "deferred", "sending", "sent", "delivered", "read", "unknown", "queued")


def contact_time_zones(contact: Contact) -> tuple[str, ...]:
    """The contact's explicit zone, else the zones of its phone number, else none."""
    if contact.time_zone:
        return (contact.time_zone,)
    if contact.phone:
        try:
            return parse_phone(contact.phone).time_zones
        except InvalidPhoneNumber:
            return ()
    return ()


def enabled_channel_kinds(session: Session, workspace_id: int) -> frozenset[str]:
    """The channel kinds the workspace can send on."""
    rows = session.scalars(
        select(Channel.kind).where(Channel.workspace_id == workspace_id, Channel.enabled.is_(True))
    )
    return frozenset(rows)


def contact_addresses(contact: Contact) -> frozenset[str]:
    """The channel kinds the contact has an address on."""
    kinds = set()
    if contact.phone:
        kinds.add("sms")
    if contact.whatsapp_id:
        kinds.add("whatsapp")
    if contact.messenger_psid:
        kinds.add("messenger")
    return frozenset(kinds)


def gather_contact_state(
    session: Session,
    contact: Contact,
    policy: Policy,
    now: datetime,
    *,
    channel_kinds: frozenset[str],
    exclude_message_id: int | None = None,
) -> ContactState:
    """Build the engine's ContactState for one contact from the database."""
    consent_rows = session.execute(
        select(Topic.name, Consent.status)
        .join(Topic, Topic.id == Consent.topic_id)
        .where(Consent.contact_id == contact.id)
    ).all()
    consents = {name: ConsentStatus(status) for name, status in consent_rows}
    lookback = max(policy.marketing_cap_period, policy.duplicate_window, timedelta(days=1))
    recent_query = (
        select(Message.created_at, Message.send_at, Message.sent_at, Message.final_text, Message.source, Topic.kind)
        .outerjoin(Topic, Topic.id == Message.topic_id)
        .where(
            Message.contact_id == contact.id,
            Message.direction == "outbound",
            Message.status.in_(COUNTED_STATUSES),
            or_(Message.send_at >= now - lookback, Message.created_at >= now - lookback),
        )
    )
    if exclude_message_id is not None:
        recent_query = recent_query.where(Message.id != exclude_message_id)
    recent = tuple(
        SentRecord(
            # A message counts from when it went, or from when it is due to go.
            at=sent_at or send_at or created_at,
            final_text=final_text or "",
            topic_kind=TopicKind(kind) if kind else TopicKind.TRANSACTIONAL,
            source=Source(source) if source in Source._value2member_map_ else Source.API,
        )
        for created_at, send_at, sent_at, final_text, source, kind in session.execute(recent_query)
    )
    conversation = session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    has_opt_in = session.scalar(
        select(ConsentEvent.id)
        .where(ConsentEvent.contact_id == contact.id, ConsentEvent.status == "opted_in")
        .limit(1)
    ) is not None
    earlier_outbound = select(Message.id).where(
        Message.contact_id == contact.id, Message.direction == "outbound", Message.status.in_(COUNTED_STATUSES)
    )
    if exclude_message_id is not None:
        earlier_outbound = earlier_outbound.where(Message.id != exclude_message_id)
    contacted_before = bool(recent) or session.scalar(earlier_outbound.limit(1)) is not None
    return ContactState(
        phone=contact.phone,
        country=contact.country,
        subdivision=contact.subdivision,
        time_zones=contact_time_zones(contact),
        language=contact.language or "en",
        first_name=contact.first_name,
        global_opt_out=contact.global_opt_out,
        consents=consents,
        night_marketing_consent=contact.night_marketing_consent,
        prior_relationship=contact.prior_relationship_at is not None or has_opt_in,
        last_inbound_at=contact.last_inbound_at,
        whatsapp_last_inbound_at=contact.whatsapp_last_inbound_at,
        messenger_last_inbound_at=contact.messenger_last_inbound_at,
        reachable=contact_addresses(contact) & channel_kinds,
        recent_outbound=recent,
        contacted_before=contacted_before,
        last_auto_reply_at=conversation.last_auto_reply_at if conversation else None,
    )
