"""Contacts and their consent: /v1/contacts."""

from __future__ import annotations

import io

from fastapi import APIRouter, Query, UploadFile
from sqlalchemy import select

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.api.schemas import (
    ConsentEventOut,
    ConsentIn,
    ConsentOut,
    ContactIn,
    ContactOut,
    ContactPatch,
    ImportReportOut,
    Page,
)
from mannerly.contacts.importer import import_contacts
from mannerly.consent.service import consent_history, current_consents, record_consent
from mannerly.contacts.service import create_contact, update_contact
from mannerly.contacts.state import contact_time_zones
from mannerly.errors import not_found
from mannerly.topics.service import find_topic
from mannerly.models import Contact, Workspace

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


def contact_out(contact: Contact) -> ContactOut:
    """The API form of a contact."""
    out = ContactOut.model_validate(contact)
    out.time_zones = list(contact_time_zones(contact))
    return out


def load_contact(session, workspace: Workspace, contact_id: int) -> Contact:
    """A contact of this workspace, or a 404 (other workspaces' contacts do not exist here)."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.workspace_id != workspace.id:
        raise not_found("contact", contact_id)
    return contact


@router.post("", status_code=201, response_model=ContactOut, summary="Create a contact")
def post_contact(body: ContactIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> ContactOut:
    """Create a contact; the phone number is normalized to E.164 and must be valid."""
    contact = create_contact(session, workspace, body.model_dump(), now)
    session.commit()
    return contact_out(contact)


@router.get("", response_model=Page[ContactOut], summary="List contacts")
def list_contacts(session: SessionDep, workspace: WorkspaceDep,
                  limit: int = Query(50, ge=1, le=500), cursor: int | None = Query(None, description="next_cursor of the previous page"),
                  phone: str | None = Query(None, description="Exact E.164 number")) -> Page[ContactOut]:
    """Contacts by id, a page at a time; optionally the one with a given phone number."""
    query = select(Contact).where(Contact.workspace_id == workspace.id).order_by(Contact.id)
    if cursor is not None:
        query = query.where(Contact.id > cursor)
    if phone:
        query = query.where(Contact.phone == phone)
    rows = session.scalars(query.limit(limit + 1)).all()
    page = rows[:limit]
    more = len(rows) > limit
    return Page(items=[contact_out(row) for row in page], next_cursor=page[-1].id if more and page else None)


@router.get("/{contact_id}", response_model=ContactOut, summary="Get a contact")
def get_contact(contact_id: int, session: SessionDep, workspace: WorkspaceDep) -> ContactOut:
    """One contact."""
    return contact_out(load_contact(session, workspace, contact_id))


@router.patch("/{contact_id}", response_model=ContactOut, summary="Update a contact")
def patch_contact(contact_id: int, body: ContactPatch, session: SessionDep, workspace: WorkspaceDep,
                  now: NowDep) -> ContactOut:
    """Change some fields of a contact."""
    contact = load_contact(session, workspace, contact_id)
    update_contact(session, contact, body.model_dump(exclude_unset=True), now)
    session.commit()
    return contact_out(contact)


@router.post("/import", response_model=ImportReportOut, summary="Import contacts from CSV")
async def import_csv(file: UploadFile, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> ImportReportOut:
    """Import a CSV (header row; `phone` required): valid rows are imported, each rejected row is reported."""
    report = import_contacts(session, workspace, io.BytesIO(await file.read()), now,
                             actor="api", source_name=file.filename or "upload.csv")
    session.commit()
    return ImportReportOut.model_validate(report.as_dict())


@router.post("/{contact_id}/consent", status_code=201, response_model=ConsentEventOut,
             summary="Record a consent change")
def post_consent(contact_id: int, body: ConsentIn, session: SessionDep, workspace: WorkspaceDep,
                 now: NowDep) -> ConsentEventOut:
    """Append a consent event (opt-in or opt-out, per topic or global) with its evidence."""
    contact = load_contact(session, workspace, contact_id)
    topic = find_topic(session, workspace.id, body.topic) if body.topic else None
    event = record_consent(session, contact, topic, body.status, source=body.source, actor=body.actor or "api",
                           now=now, wording=body.wording)
    session.commit()
    return event_out(event, topic.name if topic else None)


@router.get("/{contact_id}/consent", response_model=ConsentOut, summary="Consent state and history")
def get_consent(contact_id: int, session: SessionDep, workspace: WorkspaceDep) -> ConsentOut:
    """The current consent per topic and the append-only ledger behind it."""
    contact = load_contact(session, workspace, contact_id)
    return ConsentOut(
        contact_id=contact.id,
        global_opt_out=contact.global_opt_out,
        topics=current_consents(session, contact),
        history=[event_out(event, topic) for event, topic in consent_history(session, contact)],
    )


def event_out(event, topic_name: str | None) -> ConsentEventOut:
    """The API form of a consent event."""
    return ConsentEventOut(
        id=event.id, topic=topic_name, status=event.status, source=event.source, wording=event.wording,
        actor=event.actor, evidence_message_id=event.evidence_message_id, occurred_at=event.occurred_at,
    )
