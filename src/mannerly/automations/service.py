"""Automation definitions (create, change, validate) and firing one occurrence through the engine.

`fire` is the only way an automation writes a message: it claims the occurrence with an
automation_runs row (unique on automation, contact, occurrence key), issues a coupon when the
automation gives one, and submits the message with Source.AUTOMATION in the same transaction.
A second worker, a restart or a repeated event finds the row and fires nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mannerly.automations.coupons import clean_prefix, issue_coupon
from mannerly.automations.timing import zone_of
from mannerly.contacts.state import contact_time_zones
from mannerly.errors import ProblemError, conflict, invalid, not_found
from mannerly.links.service import attach_message, shorten_text
from mannerly.messages.service import OutboundIntent, choose_template, render_intent_text, submit, template_data
from mannerly.models import Contact, Template, Topic, Workspace
from mannerly.models.automation import AUTOMATION_KINDS, Appointment, Automation, AutomationRun
from mannerly.policy.types import Source
from mannerly.quickreplies.service import open_prompt_for_template
from mannerly.topics.service import find_topic

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
DEFAULT_LOCAL_HOUR = 10
# How often the scheduler looks at an automation of each kind, in minutes.
CHECK_EVERY_MINUTES = {"birthday": 15, "anniversary": 15, "win_back": 60, "after_event": 1, "date_reminder": 5}
DEFAULT_DATE_FIELDS = {"birthday": "birthday", "anniversary": "anniversary"}
APPOINTMENT_SOURCE = "appointment"
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _int_setting(settings: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    """An integer setting within [low, high], its default when absent, or a 422."""
    value = settings.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"settings.{name}", f"{name} must be a whole number from {low} to {high}")
    return value


def _coupon_settings(raw: Any) -> dict[str, Any] | None:
    """The coupon part of the settings: percent (1–100), prefix, valid_days; None for no coupon."""
    if raw in (None, False, {}):
        return None
    if not isinstance(raw, dict):
        raise invalid("settings.coupon", "coupon must be an object such as {\"percent\": 20, \"prefix\": \"BDAY\"}")
    coupon = {"percent": _int_setting(raw, "percent", None, 1, 100),
              "prefix": clean_prefix(raw.get("prefix")) or None,
              "valid_days": _int_setting(raw, "valid_days", None, 1, 3650)}
    return coupon


def validate_settings(kind: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The settings of an automation of this kind, with defaults filled in, or a 422 naming the field."""
    settings = dict(settings or {})
    if kind not in AUTOMATION_KINDS:
        raise invalid("kind", f"kind must be one of {', '.join(AUTOMATION_KINDS)}")
    clean: dict[str, Any] = {}
    if kind in ("birthday", "anniversary"):
        clean["date_field"] = settings.get("date_field") or DEFAULT_DATE_FIELDS[kind]
        clean["local_hour"] = _int_setting(settings, "local_hour", DEFAULT_LOCAL_HOUR, 0, 23)
    elif kind == "win_back":
        clean["days"] = _int_setting(settings, "days", None, 1, 3650)
        if clean["days"] is None:
            raise invalid("settings.days", "a win-back needs days: how long a customer has been quiet")
    elif kind == "after_event":
        event_type = settings.get("event_type")
        if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
            raise invalid("settings.event_type", "after_event needs event_type, e.g. purchase or order_shipped")
        clean["event_type"] = event_type
        clean["delay_minutes"] = _int_setting(settings, "delay_minutes", 0, 0, 366 * 24 * 60)
    elif kind == "date_reminder":
        clean["date_field"] = settings.get("date_field") or APPOINTMENT_SOURCE
        clean["offset_minutes"] = _int_setting(settings, "offset_minutes", -24 * 60, -366 * 24 * 60, 366 * 24 * 60)
        clean["local_hour"] = _int_setting(settings, "local_hour", DEFAULT_LOCAL_HOUR, 0, 23)
    if "date_field" in clean and not ATTRIBUTE_NAME.match(str(clean["date_field"])):
        raise invalid("settings.date_field", "date_field must be a contact attribute name such as birthday")
    coupon = _coupon_settings(settings.get("coupon"))
    if coupon is not None:
        clean["coupon"] = coupon
    return clean


def check_template_exists(session: Session, workspace_id: int, name: str) -> None:
    """A 422 unless the workspace has a template of this name (in any language)."""
    found = session.scalar(select(Template.id).where(Template.workspace_id == workspace_id,
                                                     Template.name == name).limit(1))
    if found is None:
        raise invalid("template", f"unknown template '{name}'")


def create_automation(session: Session, workspace: Workspace, *, name: str, kind: str, topic: str, template: str,
                      settings: dict[str, Any] | None = None, enabled: bool = True, now: datetime) -> Automation:
    """A new automation; the topic and template must exist and the settings suit the kind."""
    if not NAME.match(name or ""):
        raise invalid("name", "name: letters, digits, spaces, '_', '.', '-'; at most 100 characters")
    if session.scalar(select(Automation.id).where(Automation.workspace_id == workspace.id,
                                                  Automation.name == name)) is not None:
        raise conflict(f"an automation named '{name}' already exists")
    topic_row = find_topic(session, workspace.id, topic)
    check_template_exists(session, workspace.id, template)
    automation = Automation(workspace_id=workspace.id, name=name, kind=kind, topic_id=topic_row.id,
                            template_name=template, enabled=enabled, settings=validate_settings(kind, settings),
                            next_run_at=now, created_at=now, updated_at=now)
    session.add(automation)
    session.flush()
    return automation


def update_automation(session: Session, automation: Automation, changes: dict[str, Any], now: datetime) -> Automation:
    """Change an automation's topic, template, settings or enabled flag (its kind is fixed)."""
    if changes.get("topic") is not None:
        automation.topic_id = find_topic(session, automation.workspace_id, changes["topic"]).id
    if changes.get("template") is not None:
        check_template_exists(session, automation.workspace_id, changes["template"])
        automation.template_name = changes["template"]
    if changes.get("settings") is not None:
        automation.settings = validate_settings(automation.kind, changes["settings"])
    if changes.get("enabled") is not None:
        automation.enabled = bool(changes["enabled"])
    automation.next_run_at = now  # look again soon with the new settings
    automation.updated_at = now
    session.flush()
    return automation


def find_automation(session: Session, workspace_id: int, automation_id: int) -> Automation:
    """The workspace's automation, or a 404."""
    automation = session.get(Automation, automation_id)
    if automation is None or automation.workspace_id != workspace_id:
        raise not_found("automation", automation_id)
    return automation


def contact_zone(contact: Contact) -> str:
    """The zone a contact's local dates and hours are read in: its own, else its number's first, else UTC."""
    zones = contact_time_zones(contact)
    return zones[0] if zones else "UTC"


def appointment_data(appointment: Appointment, zone_name: str) -> dict[str, Any]:
    """What a template may show of an appointment, in the customer's local time."""
    local = appointment.starts_at.astimezone(zone_of(zone_name))
    return {**{key: value for key, value in (appointment.details or {}).items() if isinstance(value, str | int)},
            "appointment_date": local.strftime("%Y-%m-%d"), "appointment_time": local.strftime("%H:%M")}


def fire(session: Session, workspace: Workspace, automation: Automation, topic: Topic, contact: Contact,
         occurrence_key: str, now: datetime, *, data: dict[str, Any] | None = None, event_id: int | None = None,
         appointment: Appointment | None = None, links_base: str | None = None) -> AutomationRun | None:
    """Claim one occurrence and queue its message through the engine; None when it was already claimed.

    Runs in the caller's transaction, which must hold nothing else uncommitted: when another
    worker claimed the occurrence first, the transaction is rolled back. The caller commits.
    """
    run = AutomationRun(workspace_id=workspace.id, automation_id=automation.id, contact_id=contact.id,
                        occurrence_key=occurrence_key[:200], status="queued", event_id=event_id,
                        appointment_id=appointment.id if appointment else None, created_at=now)
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    values: dict[str, Any] = dict(data or {})
    if appointment is not None:
        values.update(appointment_data(appointment, contact_zone(contact)))
    coupon_settings = (automation.settings or {}).get("coupon")
    if coupon_settings:
        coupon = issue_coupon(session, workspace.id, contact.id, automation.id, now,
                              prefix=coupon_settings.get("prefix"), percent=coupon_settings.get("percent"),
                              valid_days=coupon_settings.get("valid_days"))
        run.coupon_code = coupon.code
        values["coupon"] = coupon.code
        if coupon.percent is not None:
            values["percent"] = coupon.percent
    intent = OutboundIntent(topic=topic.name, contact_id=contact.id, template=automation.template_name,
                            data=values, source=Source.AUTOMATION)
    try:
        intent, links = with_tracked_links(session, workspace, automation, contact, intent, links_base, now)
        message = submit(session, workspace, intent, now, short_link_base=links_base if links else None)
    except ProblemError as error:
        # A template that cannot be rendered for this contact: the occurrence is spent, the reason kept.
        run.status, run.detail = "failed", str(error)[:1000]
        session.flush()
        return run
    run.message_id = message.id
    if links:
        attach_message(session, links, message.id)
    if message.status == "rejected":
        run.status, run.detail = "rejected", message.status_detail
    else:
        open_prompt_for_template(session, message, automation.template_name, now,
                                 appointment_id=appointment.id if appointment else None)
    session.flush()
    return run


def with_tracked_links(session: Session, workspace: Workspace, automation: Automation, contact: Contact,
                       intent: OutboundIntent, links_base: str | None, now: datetime) -> tuple[OutboundIntent, list]:
    """The intent with its links replaced by this contact's short links (O8), when a links base URL is set.

    The template is rendered here so its links can be replaced; an approved WhatsApp template
    is left alone (its text must match what WhatsApp approved).
    """
    if not links_base:
        return intent, []
    language = contact.language or workspace.default_language
    template = choose_template(session, workspace, automation.template_name, language)
    if template.whatsapp_name and (template.whatsapp_status or "").upper() == "APPROVED":
        return intent, []
    text = render_intent_text(template, template_data(template, intent, contact))
    shortened, links = shorten_text(session, links_base, workspace.id, text, now, contact_id=contact.id,
                                    automation_id=automation.id)
    if not links:
        return intent, []
    return replace(intent, text=shortened, template=None, data=None, language=template.language), links


def already_fired(session: Session, automation_id: int, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (contact id, occurrence key) pairs an automation has fired already, in few queries."""
    found: set[tuple[int, str]] = set()
    contact_ids = sorted({contact_id for contact_id, _ in keys})
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start:start + 500]
        found.update(session.execute(select(AutomationRun.contact_id, AutomationRun.occurrence_key).where(
            AutomationRun.automation_id == automation_id, AutomationRun.contact_id.in_(chunk))))
    return found & set(keys)


def check_interval(automation: Automation) -> timedelta:
    """How long the scheduler waits before looking at this automation again."""
    return timedelta(minutes=CHECK_EVERY_MINUTES.get(automation.kind, 5))
