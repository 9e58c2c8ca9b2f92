"""The consent ledger (P2): append an event with its evidence, and keep the current state in step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.models import Consent, ConsentEvent, Contact, Topic


def record_consent(session: Session, contact: Contact, topic: Topic | None, status: str, *, source: str,
                   actor: str, now: datetime, wording: str | None = None,
                   evidence_message_id: int | None = None) -> ConsentEvent:
    """Append a consent event and apply it: per topic, or globally when topic is None."""
    event = ConsentEvent(
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        topic_id=topic.id if topic else None,
        status=status,
        source=source,
        wording=wording,
        actor=actor,
        evidence_message_id=evidence_message_id,
        occurred_at=now,
    )
    session.add(event)
    session.flush()
    if topic is None:
        contact.global_opt_out = status == "opted_out"
    else:
        current = session.scalar(
            select(Consent).where(Consent.contact_id == contact.id, Consent.topic_id == topic.id)
        )
        if current is None:
            session.add(Consent(workspace_id=contact.workspace_id, contact_id=contact.id, topic_id=topic.id,
                                status=status, updated_at=now, last_event_id=event.id))
        else:
            current.status, current.updated_at, current.last_event_id = status, now, event.id
    if status == "opted_in" and contact.prior_relationship_at is None:
        contact.prior_relationship_at = now
    contact.updated_at = now
    session.flush()
    return event


def consent_history(session: Session, contact: Contact) -> list[tuple[ConsentEvent, str | None]]:
    """Every consent event of a contact, oldest first, with its topic name (None = global)."""
    rows = session.execute(
        select(ConsentEvent, Topic.name)
        .outerjoin(Topic, Topic.id == ConsentEvent.topic_id)
        .where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
    ).all()
    return [(event, name) for event, name in rows]


def current_consents(session: Session, contact: Contact) -> dict[str, str]:
    """Topic name → current status for one contact."""
    rows = session.execute(
        select(Topic.name, Consent.status).join(Topic, Topic.id == Consent.topic_id)
        .where(Consent.contact_id == contact.id)
    ).all()
    return dict(rows)
