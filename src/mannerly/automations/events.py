"""Business events posted by the business's own systems (O1): stored once, acted on, and starting automations.

Types Mannerly understands beyond starting automations:
- purchase: records a relationship with the customer (P6) and counts as activity for win-back;
- appointment_booked: creates or moves an appointment (data.starts_at, data.appointment_id);
- appointment_cancelled: cancels it, so no reminder goes.
Any other type (order_shipped, out_for_delivery, payment_due …) only starts automations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mannerly.automations.service import EVENT_TYPE, contact_zone, fire
from mannerly.automations.timing import parse_moment
from mannerly.contacts.service import find_or_build_contact_for_phone
from mannerly.errors import invalid, not_found
from mannerly.models import Contact, Topic, Workspace
from mannerly.models.automation import Appointment, Automation, AutomationRun, BusinessEvent

KNOWN_EVENT_TYPES: tuple[str, ...] = (
    "purchase", "order_shipped", "out_for_delivery", "appointment_booked", "appointment_cancelled", "payment_due",
)
MAX_DATA_KEYS = 50


def resolve_event_contact(session: Session, workspace: Workspace, contact: int | str, now: datetime) -> Contact:
    """The contact an event is about: a JSON number is a contact id, a string a phone number (created when new)."""
    if isinstance(contact, int) and not isinstance(contact, bool):
        row = session.get(Contact, contact)
        if row is None or row.workspace_id != workspace.id:
            raise not_found("contact", contact)
        return row
    if not isinstance(contact, str) or not contact.strip():
        raise invalid("contact", "contact must be a contact id (a number) or a phone number (a string)")
    return find_or_build_contact_for_phone(session, workspace, contact, persist=True, field="contact", now=now)


def appointment_key(event: BusinessEvent) -> str:
    """The business's id of the appointment an event is about."""
    data = event.data or {}
    return str(data.get("appointment_id") or event.external_id or f"event-{event.id}")[:128]


def apply_appointment_event(session: Session, event: BusinessEvent, contact: Contact, now: datetime) -> Appointment | None:
    """Create, move or cancel the appointment an appointment_* event is about."""
    key = appointment_key(event)
    appointment = session.scalar(select(Appointment).where(Appointment.workspace_id == event.workspace_id,
                                                           Appointment.external_id == key))
    if event.type == "appointment_cancelled":
        if appointment is not None:
            appointment.state, appointment.updated_at = "cancelled", now
        return appointment
    parsed = parse_moment((event.data or {}).get("starts_at"), contact_zone(contact))
    if parsed is None or not parsed[1]:
        raise invalid("data.starts_at", "appointment_booked needs data.starts_at, e.g. 2025-03-05T10:00:00+09:00")
    starts_at = parsed[0]
    details = {name: value for name, value in (event.data or {}).items()
               if name not in ("starts_at", "appointment_id") and isinstance(value, str | int | float)}
    if appointment is None:
        appointment = Appointment(workspace_id=event.workspace_id, contact_id=contact.id, external_id=key,
                                  starts_at=starts_at, state="booked", details=details, created_at=now,
                                  updated_at=now)
        session.add(appointment)
    else:
        # A new time is a new booking: the state starts again (and reminders fire for the new time).
        if appointment.starts_at != starts_at:
            appointment.state = "booked"
        appointment.starts_at, appointment.details, appointment.updated_at = starts_at, details, now
    session.flush()
    return appointment


def record_event(session: Session, workspace: Workspace, *, type: str, contact: int | str,
                 data: dict[str, Any] | None, external_id: str | None, occurred_at: datetime | None,
                 now: datetime) -> tuple[BusinessEvent, bool]:
    """Store a business event once (a repeated external_id returns the first) and apply it; (event, created).

    The caller commits. Automations are started afterwards by `start_event_automations`.
    """
    if not EVENT_TYPE.match(type or ""):
        raise invalid("type", "type: lower-case letters, digits, '_', '.', '-' (e.g. order_shipped)")
    data = dict(data or {})
    if len(data) > MAX_DATA_KEYS:
        raise invalid("data", f"at most {MAX_DATA_KEYS} data fields")
    if external_id is not None:
        existing = session.scalar(select(BusinessEvent).where(
            BusinessEvent.workspace_id == workspace.id, BusinessEvent.type == type,
            BusinessEvent.external_id == external_id))
        if existing is not None:
            return existing, False
    row = resolve_event_contact(session, workspace, contact, now)
    event = BusinessEvent(workspace_id=workspace.id, type=type, contact_id=row.id, external_id=external_id,
                          data=data, occurred_at=min(occurred_at or now, now), created_at=now)
    session.add(event)
    try:
        session.flush()
    except IntegrityError:
        # The same event posted twice at once: the other request stored it.
        session.rollback()
        existing = session.scalar(select(BusinessEvent).where(
            BusinessEvent.workspace_id == workspace.id, BusinessEvent.type == type,
            BusinessEvent.external_id == external_id))
        if existing is None:
            raise
        return existing, False
    if type == "purchase":
        if row.prior_relationship_at is None:
            row.prior_relationship_at = event.occurred_at
        row.updated_at = now
    if type in ("appointment_booked", "appointment_cancelled"):
        apply_appointment_event(session, event, row, now)
    session.flush()
    return event, True


def event_template_data(event: BusinessEvent) -> dict[str, Any]:
    """What a template sees of an event: its plain data fields and its type."""
    values = {name: value for name, value in (event.data or {}).items() if isinstance(value, str | int | float)}
    values["event_type"] = event.type
    return values


def event_appointment(session: Session, event: BusinessEvent) -> Appointment | None:
    """The appointment an appointment_* event is about, if any."""
    if not event.type.startswith("appointment"):
        return None
    return session.scalar(select(Appointment).where(Appointment.workspace_id == event.workspace_id,
                                                    Appointment.external_id == appointment_key(event)))


def start_event_automations(session: Session, workspace: Workspace, event: BusinessEvent, now: datetime, *,
                            links_base: str | None = None) -> list[AutomationRun]:
    """Fire the automations this event starts at once (after_event without delay); one commit each.

    Delayed ones (a check-in after N days) are fired by the scheduler when due.
    """
    automations = session.scalars(select(Automation).where(
        Automation.workspace_id == workspace.id, Automation.kind == "after_event", Automation.enabled.is_(True),
    ).order_by(Automation.id)).all()
    runs: list[AutomationRun] = []
    for automation in automations:
        settings = automation.settings or {}
        if settings.get("event_type") != event.type or settings.get("delay_minutes", 0) > 0:
            continue
        topic = session.get(Topic, automation.topic_id) if automation.topic_id else None
        contact = session.get(Contact, event.contact_id)
        if topic is None or contact is None:
            continue
        run = fire(session, workspace, automation, topic, contact, f"event:{event.id}", now,
                   data=event_template_data(event), event_id=event.id,
                   appointment=event_appointment(session, event), links_base=links_base)
        session.commit()
        if run is not None:
            runs.append(run)
    return runs
