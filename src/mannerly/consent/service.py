"""The consent ledger (P2): append an event with its evidence, and keep the current state in step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
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


@dataclass(frozen=True)
class ConsentChange:
    """One consent change for `record_consents`: the same arguments `record_consent` takes."""

    contact: Contact
    topic: Topic | None
    status: str
    source: str
    actor: str
    wording: str | None = None
    evidence_message_id: int | None = None


def record_consents(session: Session, changes: Sequence[ConsentChange], now: datetime) -> int:
    """Record many consent changes with bulk statements: the same rows and contact fields as calling
    `record_consent` for each change in order (for imports of many contacts); returns how many."""
    if not changes:
        return 0
    session.flush()  # the contacts need their ids
    event_ids = list(session.scalars(
        insert(ConsentEvent).returning(ConsentEvent.id, sort_by_parameter_order=True),
        [{"workspace_id": change.contact.workspace_id, "contact_id": change.contact.id,
          "topic_id": change.topic.id if change.topic else None, "status": change.status, "source": change.source,
          "wording": change.wording, "actor": change.actor, "evidence_message_id": change.evidence_message_id,
          "occurred_at": now} for change in changes]))
    # The newest change per (contact, topic) decides the current consent, as applying them in order would.
    latest: dict[tuple[int, int], tuple[ConsentChange, int]] = {}
    for change, event_id in zip(changes, event_ids, strict=True):
        contact = change.contact
        if change.topic is None:
            contact.global_opt_out = change.status == "opted_out"
        else:
            latest[(contact.id, change.topic.id)] = (change, event_id)
        if change.status == "opted_in" and contact.prior_relationship_at is None:
            contact.prior_relationship_at = now
        contact.updated_at = now
    existing: dict[tuple[int, int], int] = {}
    pairs = list(latest)
    for start in range(0, len(pairs), 500):
        contact_ids = sorted({contact_id for contact_id, _ in pairs[start:start + 500]})
        for consent_id, contact_id, topic_id in session.execute(
                select(Consent.id, Consent.contact_id, Consent.topic_id).where(Consent.contact_id.in_(contact_ids))):
            existing[(contact_id, topic_id)] = consent_id
    updates, inserts = [], []
    for (contact_id, topic_id), (change, event_id) in latest.items():
        values = {"status": change.status, "updated_at": now, "last_event_id": event_id}
        if (contact_id, topic_id) in existing:
            updates.append({"id": existing[(contact_id, topic_id)], **values})
        else:
            inserts.append({"workspace_id": change.contact.workspace_id, "contact_id": contact_id,
                            "topic_id": topic_id, **values})
    if updates:
        session.execute(update(Consent), updates)
    if inserts:
        session.execute(insert(Consent), inserts)
    session.flush()
    return len(changes)


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
