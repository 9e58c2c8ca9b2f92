"""The automation scheduler: one pass looks at every due automation and fires what is due for whom.

The dispatcher calls `run_due` on every pass; it costs one indexed query when nothing is due,
because each automation carries `next_run_at` (shared by every worker through the database).
A worker claims an automation's pass by moving `next_run_at` forward with a conditional
UPDATE; the unique occurrence key on automation_runs still guarantees at most one message
per occurrence when two workers or a restart overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from mannerly.automations.events import event_appointment, event_template_data
from mannerly.automations.service import APPOINTMENT_SOURCE, already_fired, check_interval, contact_zone, fire
from mannerly.automations.timing import (
    latest,
    month_day_patterns,
    normalized_value,
    reminder_window,
    win_back_occurrence,
    yearly_occurrence,
)
from mannerly.links.service import links_base_url
from mannerly.models import Contact, Topic, Workspace
from mannerly.models.automation import Appointment, Automation, AutomationRun, BusinessEvent

log = logging.getLogger(__name__)

# Occurrences fired per automation per pass: the dispatcher is not held up for long; the rest
# follow on the next passes.
MAX_FIRES_PER_PASS = 200
MAX_AUTOMATIONS_PER_PASS = 50
# A delayed event automation or reminder missed by more than this (worker down) is skipped:
# a "thanks for your order" a week late is worse than none.
LATE_GRACE = timedelta(days=2)
WIN_BACK_SCAN_LIMIT = 2000


@dataclass
class Candidate:
    """One contact an automation is due for, with the occurrence key and what the template sees."""

    contact: Contact
    occurrence_key: str
    data: dict[str, Any] = field(default_factory=dict)
    event_id: int | None = None
    appointment: Appointment | None = None


@dataclass
class SchedulerStats:
    """What one scheduler pass did."""

    automations: int = 0
    fired: int = 0
    skipped: int = 0  # already fired (by another worker, or before a restart)
    errors: list[str] = field(default_factory=list)


def _yearly_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Contacts whose birthday or anniversary is today in their own zone, once local_hour has come."""
    settings = automation.settings or {}
    date_field, local_hour = settings["date_field"], settings.get("local_hour", 10)
    value = Contact.attributes[date_field].as_string()
    rows = session.scalars(select(Contact).where(
        Contact.workspace_id == automation.workspace_id,
        or_(*[value.like(pattern) for pattern in month_day_patterns(now)]),
    ).order_by(Contact.id))
    found = []
    for contact in rows:
        key = yearly_occurrence((contact.attributes or {}).get(date_field), now, contact_zone(contact), local_hour)
        if key is not None:
            found.append(Candidate(contact, key))
    return found


def _win_back_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Contacts quiet (no inbound message, no purchase) for `days` days, not yet won back for this lapse."""
    cutoff = now - timedelta(days=(automation.settings or {})["days"])
    purchases = (select(BusinessEvent.contact_id, func.max(BusinessEvent.occurred_at).label("last"))
                 .where(BusinessEvent.workspace_id == automation.workspace_id, BusinessEvent.type == "purchase")
                 .group_by(BusinessEvent.contact_id).subquery())
    # A run since the cutoff means this lapse was handled (anyone active since then is not quiet).
    recent_run = exists().where(AutomationRun.automation_id == automation.id,
                                AutomationRun.contact_id == Contact.id, AutomationRun.created_at >= cutoff)
    rows = session.execute(
        select(Contact, purchases.c.last).outerjoin(purchases, purchases.c.contact_id == Contact.id).where(
            Contact.workspace_id == automation.workspace_id,
            or_(Contact.last_inbound_at.is_(None), Contact.last_inbound_at < cutoff),
            or_(Contact.prior_relationship_at.is_(None), Contact.prior_relationship_at < cutoff),
            or_(purchases.c.last.is_(None), purchases.c.last < cutoff),
            or_(Contact.last_inbound_at.is_not(None), Contact.prior_relationship_at.is_not(None),
                purchases.c.last.is_not(None)),
            ~recent_run,
        ).order_by(Contact.id).limit(WIN_BACK_SCAN_LIMIT)
    ).all()
    found = []
    for contact, last_purchase in rows:
        activity = latest(contact.last_inbound_at, contact.prior_relationship_at, last_purchase)
        key = win_back_occurrence(activity, now, automation.settings["days"])
        if key is not None:
            found.append(Candidate(contact, key, data={"days_quiet": (now - activity).days}))
    return found


def _event_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Contacts whose event of the automation's type happened `delay_minutes` ago (not before it existed)."""
    settings = automation.settings or {}
    delay = timedelta(minutes=settings.get("delay_minutes", 0))
    since = max(automation.created_at, now - delay - LATE_GRACE)
    rows = session.execute(select(BusinessEvent, Contact).join(Contact, Contact.id == BusinessEvent.contact_id).where(
        BusinessEvent.workspace_id == automation.workspace_id, BusinessEvent.type == settings["event_type"],
        BusinessEvent.occurred_at >= since, BusinessEvent.occurred_at <= now - delay,
    ).order_by(BusinessEvent.occurred_at, BusinessEvent.id)).all()
    return [Candidate(contact, f"event:{event.id}", data=event_template_data(event), event_id=event.id,
                      appointment=event_appointment(session, event)) for event, contact in rows]


def _appointment_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Booked or confirmed appointments whose reminder moment (starts_at + offset) has come, before they start."""
    settings = automation.settings or {}
    offset = settings.get("offset_minutes", -1440)
    reach = timedelta(minutes=abs(offset)) + LATE_GRACE
    rows = session.execute(select(Appointment, Contact).join(Contact, Contact.id == Appointment.contact_id).where(
        Appointment.workspace_id == automation.workspace_id, Appointment.state.in_(("booked", "confirmed")),
        Appointment.starts_at >= now - reach, Appointment.starts_at <= now + reach,
    ).order_by(Appointment.starts_at, Appointment.id)).all()
    found = []
    for appointment, contact in rows:
        window = reminder_window(appointment.starts_at, contact_zone(contact), offset, settings.get("local_hour", 10))
        if window is not None and window.open_at(now) and now - window.fire_at <= LATE_GRACE:
            found.append(Candidate(contact, f"appointment:{appointment.id}:{appointment.starts_at.isoformat()}",
                                   appointment=appointment))
    return found


def _attribute_date_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Contacts whose date attribute (payment_due, deadline …) puts a reminder due now."""
    settings = automation.settings or {}
    date_field, offset = settings["date_field"], settings.get("offset_minutes", -1440)
    local_hour = settings.get("local_hour", 10)
    # The stored date's first ten characters compare as ISO dates; the window is generous, Python decides.
    low = (now - timedelta(minutes=max(0, offset)) - LATE_GRACE - timedelta(days=1)).date().isoformat()
    high = (now + timedelta(minutes=max(0, -offset)) + timedelta(days=2)).date().isoformat()
    value = Contact.attributes[date_field].as_string()
    rows = session.scalars(select(Contact).where(
        Contact.workspace_id == automation.workspace_id, func.substr(value, 1, 10).between(low, high),
    ).order_by(Contact.id))
    found = []
    for contact in rows:
        stored = (contact.attributes or {}).get(date_field)
        window = reminder_window(stored, contact_zone(contact), offset, local_hour)
        if window is not None and window.open_at(now) and now - window.fire_at <= LATE_GRACE:
            found.append(Candidate(contact, f"{date_field}:{normalized_value(stored)}",
                                   data={date_field: normalized_value(stored)}))
    return found


def _reminder_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Reminders relative to an appointment or to a contact's date attribute."""
    if (automation.settings or {}).get("date_field") == APPOINTMENT_SOURCE:
        return _appointment_candidates(session, automation, now)
    return _attribute_date_candidates(session, automation, now)


CANDIDATES: dict[str, Callable[[Session, Automation, datetime], list[Candidate]]] = {
    "birthday": _yearly_candidates,
    "anniversary": _yearly_candidates,
    "win_back": _win_back_candidates,
    "after_event": _event_candidates,
    "date_reminder": _reminder_candidates,
}


def due_candidates(session: Session, automation: Automation, now: datetime) -> list[Candidate]:
    """Everyone the automation is due for at `now` (before removing occurrences already fired)."""
    return CANDIDATES[automation.kind](session, automation, now)


def claim_pass(session: Session, automation: Automation, now: datetime) -> bool:
    """Move the automation's next_run_at forward if it is still due; False when another worker just did."""
    claimed = session.execute(
        update(Automation).where(Automation.id == automation.id,
                                 or_(Automation.next_run_at.is_(None), Automation.next_run_at <= now))
        .values(next_run_at=now + check_interval(automation)).execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return bool(claimed)


def run_automation(session: Session, automation: Automation, now: datetime, stats: SchedulerStats, *,
                   links_base: str | None = None) -> None:
    """One pass of one automation: claim it, find who is due, fire each occurrence in its own transaction."""
    if not claim_pass(session, automation, now):
        return
    stats.automations += 1
    workspace = session.get(Workspace, automation.workspace_id)
    topic = session.get(Topic, automation.topic_id) if automation.topic_id else None
    if topic is None or workspace is None:
        return
    candidates = due_candidates(session, automation, now)
    fired = already_fired(session, automation.id, [(c.contact.id, c.occurrence_key) for c in candidates])
    pending = [c for c in candidates if (c.contact.id, c.occurrence_key) not in fired]
    stats.skipped += len(candidates) - len(pending)
    automation_id = automation.id
    for candidate in pending[:MAX_FIRES_PER_PASS]:
        run = fire(session, workspace, automation, topic, candidate.contact, candidate.occurrence_key, now,
                   data=candidate.data, event_id=candidate.event_id, appointment=candidate.appointment,
                   links_base=links_base)
        session.commit()
        if run is None:
            stats.skipped += 1
        else:
            stats.fired += 1
    if len(pending) > MAX_FIRES_PER_PASS:
        # More is due: look again on the next pass rather than after the usual interval.
        session.execute(update(Automation).where(Automation.id == automation_id).values(next_run_at=now))
        session.commit()


def run_due(runtime: Any, now: datetime | None = None) -> SchedulerStats:
    """Run every automation whose next_run_at has come; one failing automation never stops the others."""
    now = now or runtime.now()
    stats = SchedulerStats()
    with runtime.session() as session:
        due = list(session.scalars(select(Automation).where(
            Automation.enabled.is_(True),
            or_(Automation.next_run_at.is_(None), Automation.next_run_at <= now),
        ).order_by(Automation.next_run_at, Automation.id).limit(MAX_AUTOMATIONS_PER_PASS)))
        session.commit()
        for automation in due:
            try:
                run_automation(session, automation, now, stats, links_base=links_base_url(runtime.settings))
            except Exception as error:  # a broken automation must not stop the others or the dispatcher
                session.rollback()
                log.exception("automation %s failed", automation.id)
                stats.errors.append(f"automation {automation.id}: {error}")
    return stats


__all__ = ["Candidate", "SchedulerStats", "due_candidates", "run_automation", "run_due"]
