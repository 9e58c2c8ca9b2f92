"""Business events (O1): POST /v1/events starts automations (order shipped, purchase, appointment booked …)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from mannerly.api.deps import NowDep, RuntimeDep, SessionDep, WorkspaceDep
from mannerly.automations.events import record_event, start_event_automations
from mannerly.links.service import links_base_url
from mannerly.models.automation import AutomationRun, BusinessEvent

router = APIRouter(prefix="/v1/events", tags=["events"])


class EventIn(BaseModel):
    """Something that happened in the business to one customer."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(..., max_length=64, examples=["order_shipped", "out_for_delivery", "appointment_booked",
                                                     "purchase"])
    contact: int | str = Field(..., description="A contact id (number) or a phone number (string; created when new)")
    data: dict[str, Any] = Field(default_factory=dict, description=(
        "Values templates may show (order_number, carrier …); appointment_booked needs starts_at"))
    id: str | None = Field(None, max_length=128, description="Your id of the event: posting it again changes nothing")
    occurred_at: AwareDatetime | None = Field(None, description="When it happened; default now")


class EventOut(BaseModel):
    """A stored event and the messages it started at once."""

    id: int
    type: str
    contact_id: int
    external_id: str | None
    data: dict[str, Any]
    occurred_at: datetime
    created: bool = Field(..., description="False when the same id was posted before")
    runs: list[dict[str, Any]] = Field(default_factory=list, description="Automations fired: run and message ids")


def event_out(event: BusinessEvent, created: bool, runs: list[AutomationRun]) -> EventOut:
    """The API form of an event."""
    return EventOut(id=event.id, type=event.type, contact_id=event.contact_id, external_id=event.external_id,
                    data=event.data or {}, occurred_at=event.occurred_at, created=created,
                    runs=[{"run_id": run.id, "automation_id": run.automation_id, "status": run.status,
                           "message_id": run.message_id} for run in runs])


@router.post("", status_code=201, response_model=EventOut, summary="Post a business event")
def post_event(body: EventIn, response: Response, session: SessionDep, workspace: WorkspaceDep,
               now: NowDep, runtime: RuntimeDep) -> EventOut:
    """Store the event (once per `id`) and fire the automations it starts; 200 when it was posted before."""
    event, created = record_event(session, workspace, type=body.type, contact=body.contact, data=body.data,
                                  external_id=body.id, occurred_at=body.occurred_at, now=now)
    session.commit()
    runs = start_event_automations(session, workspace, event, now,
                                   links_base=links_base_url(runtime.settings, workspace)) if created else []
    if not created:
        response.status_code = 200
        runs = list(session.scalars(select(AutomationRun).where(AutomationRun.event_id == event.id)))
    return event_out(event, created, runs)


@router.get("", response_model=list[EventOut], summary="List events")
def list_events(session: SessionDep, workspace: WorkspaceDep, type: str | None = None, contact_id: int | None = None,
                limit: int = Query(100, ge=1, le=1000)) -> list[EventOut]:
    """Events, newest first; optionally of one type or one contact."""
    query = select(BusinessEvent).where(BusinessEvent.workspace_id == workspace.id)
    if type is not None:
        query = query.where(BusinessEvent.type == type)
    if contact_id is not None:
        query = query.where(BusinessEvent.contact_id == contact_id)
    return [event_out(event, True, []) for event in
            session.scalars(query.order_by(BusinessEvent.id.desc()).limit(limit))]
