"""Automations (O7), their runs, appointments and quick-reply options: /v1/automations, /v1/appointments,
/v1/templates/{name}/quick-replies, /v1/quick-replies/answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.automations.service import create_automation, find_automation, update_automation
from mannerly.errors import not_found
from mannerly.models import Topic
from mannerly.models.automation import Appointment, Automation, AutomationRun
from mannerly.models.quickreply import QuickReplyAnswer
from mannerly.quickreplies.service import declare_options, options_for, remove_options

router = APIRouter(tags=["automations"])

AutomationKind = Literal["birthday", "anniversary", "win_back", "after_event", "date_reminder"]


class AutomationIn(BaseModel):
    """A new automation: when it fires (kind + settings), with which topic and template."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=100)
    kind: AutomationKind
    topic: str = Field(..., description="Topic name; consent and quiet hours follow it")
    template: str = Field(..., description="Template name; the contact's language is chosen")
    settings: dict[str, Any] = Field(default_factory=dict, description=(
        "birthday/anniversary: date_field, local_hour, coupon {percent, prefix, valid_days}; "
        "win_back: days; after_event: event_type, delay_minutes; "
        "date_reminder: date_field ('appointment' or a contact attribute), offset_minutes, local_hour"))
    enabled: bool = True


class AutomationPatch(BaseModel):
    """Changes to an automation (its kind is fixed)."""

    model_config = ConfigDict(extra="forbid")

    topic: str | None = None
    template: str | None = None
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class AutomationOut(BaseModel):
    """An automation as the API shows it."""

    id: int
    name: str
    kind: str
    topic: str | None
    template: str
    settings: dict[str, Any]
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime


class RunOut(BaseModel):
    """One occurrence an automation fired."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    occurrence_key: str
    status: str
    detail: str | None
    message_id: int | None
    event_id: int | None
    appointment_id: int | None
    coupon_code: str | None
    created_at: datetime


class AppointmentOut(BaseModel):
    """An appointment and its state (booked, confirmed, reschedule, cancelled)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    external_id: str | None
    starts_at: datetime
    state: str
    details: dict[str, Any]


class QuickRepliesIn(BaseModel):
    """A template's short answers: answer -> meaning, or a scale such as "1-5"."""

    model_config = ConfigDict(extra="forbid")

    options: dict[str, str] | str = Field(..., examples=[{"YES": "confirmed", "NO": "reschedule"}, "1-5"])


class QuickRepliesOut(BaseModel):
    """The declared options of a template."""

    template: str
    options: dict[str, str]


class AnswerOut(BaseModel):
    """A customer's parsed quick-reply answer."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    template_name: str
    option: str
    meaning: str
    raw_text: str
    inbound_message_id: int | None
    created_at: datetime


def automation_out(session, automation: Automation) -> AutomationOut:
    """The API form of an automation."""
    topic = session.get(Topic, automation.topic_id) if automation.topic_id else None
    return AutomationOut(id=automation.id, name=automation.name, kind=automation.kind,
                         topic=topic.name if topic else None, template=automation.template_name,
                         settings=automation.settings or {}, enabled=automation.enabled,
                         next_run_at=automation.next_run_at, created_at=automation.created_at)


@router.get("/v1/automations", response_model=list[AutomationOut], summary="List automations")
def list_automations(session: SessionDep, workspace: WorkspaceDep) -> list[AutomationOut]:
    """Every automation of the workspace."""
    rows = session.scalars(select(Automation).where(Automation.workspace_id == workspace.id).order_by(Automation.name))
    return [automation_out(session, row) for row in rows]


@router.post("/v1/automations", status_code=201, response_model=AutomationOut, summary="Create an automation")
def post_automation(body: AutomationIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> AutomationOut:
    """A new automation; every message it sends goes through the etiquette engine."""
    automation = create_automation(session, workspace, name=body.name, kind=body.kind, topic=body.topic,
                                   template=body.template, settings=body.settings, enabled=body.enabled, now=now)
    session.commit()
    return automation_out(session, automation)


@router.get("/v1/automations/{automation_id}", response_model=AutomationOut, summary="Get an automation")
def get_automation(automation_id: int, session: SessionDep, workspace: WorkspaceDep) -> AutomationOut:
    """One automation."""
    return automation_out(session, find_automation(session, workspace.id, automation_id))


@router.patch("/v1/automations/{automation_id}", response_model=AutomationOut, summary="Update an automation")
def patch_automation(automation_id: int, body: AutomationPatch, session: SessionDep, workspace: WorkspaceDep,
                     now: NowDep) -> AutomationOut:
    """Change the topic, template, settings, or turn it on or off."""
    automation = update_automation(session, find_automation(session, workspace.id, automation_id),
                                   body.model_dump(exclude_unset=True), now)
    session.commit()
    return automation_out(session, automation)


@router.get("/v1/automations/{automation_id}/runs", response_model=list[RunOut], summary="An automation's runs")
def list_runs(automation_id: int, session: SessionDep, workspace: WorkspaceDep,
              limit: int = Query(100, ge=1, le=1000)) -> list[AutomationRun]:
    """The occurrences it fired, newest first."""
    find_automation(session, workspace.id, automation_id)
    return list(session.scalars(select(AutomationRun).where(AutomationRun.automation_id == automation_id)
                                .order_by(AutomationRun.id.desc()).limit(limit)))


@router.get("/v1/appointments", response_model=list[AppointmentOut], summary="List appointments")
def list_appointments(session: SessionDep, workspace: WorkspaceDep, contact_id: int | None = None,
                      limit: int = Query(100, ge=1, le=1000)) -> list[Appointment]:
    """Appointments (from appointment_booked events), soonest first; optionally one contact's."""
    query = select(Appointment).where(Appointment.workspace_id == workspace.id)
    if contact_id is not None:
        query = query.where(Appointment.contact_id == contact_id)
    return list(session.scalars(query.order_by(Appointment.starts_at, Appointment.id).limit(limit)))


@router.put("/v1/templates/{name}/quick-replies", response_model=QuickRepliesOut, summary="Declare quick replies")
def put_quick_replies(name: str, body: QuickRepliesIn, session: SessionDep, workspace: WorkspaceDep,
                      now: NowDep) -> QuickRepliesOut:
    """Set the short answers a template offers (every language of the template shares them)."""
    row = declare_options(session, workspace.id, name, body.options, now)
    session.commit()
    return QuickRepliesOut(template=name, options=row.options)


@router.get("/v1/templates/{name}/quick-replies", response_model=QuickRepliesOut, summary="Get quick replies")
def get_quick_replies(name: str, session: SessionDep, workspace: WorkspaceDep) -> QuickRepliesOut:
    """The short answers a template offers, or a 404."""
    row = options_for(session, workspace.id, name)
    if row is None:
        raise not_found("quick replies for template", name)
    return QuickRepliesOut(template=name, options=row.options)


@router.delete("/v1/templates/{name}/quick-replies", status_code=204, summary="Remove quick replies")
def delete_quick_replies(name: str, session: SessionDep, workspace: WorkspaceDep) -> Response:
    """Stop offering short answers for a template."""
    if not remove_options(session, workspace.id, name):
        raise not_found("quick replies for template", name)
    session.commit()
    return Response(status_code=204)


@router.get("/v1/quick-replies/answers", response_model=list[AnswerOut], summary="Quick-reply answers")
def list_answers(session: SessionDep, workspace: WorkspaceDep, contact_id: int | None = None,
                 template: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> list[QuickReplyAnswer]:
    """Parsed answers, newest first; optionally of one contact or one template."""
    query = select(QuickReplyAnswer).where(QuickReplyAnswer.workspace_id == workspace.id)
    if contact_id is not None:
        query = query.where(QuickReplyAnswer.contact_id == contact_id)
    if template is not None:
        query = query.where(QuickReplyAnswer.template_name == template)
    return list(session.scalars(query.order_by(QuickReplyAnswer.id.desc()).limit(limit)))
