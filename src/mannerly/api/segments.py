"""Segments (O5): /v1/segments — saved filters, their count and a sample; /v1/segments/count for unsaved ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.models import Contact, Segment
from mannerly.segments.service import (
    compiled_for,
    count_matching,
    create_segment,
    delete_segment,
    find_segment,
    list_segments,
    resolve_filter,
    sample_matching,
    update_segment,
)

router = APIRouter(prefix="/v1/segments", tags=["segments"])


class SegmentIn(BaseModel):
    """A new segment: a name and its filter, in the JSON form (`filter`) or the text form (`text`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=100)
    description: str | None = None
    filter: dict[str, Any] | None = Field(None, description="JSON filter, see docs/campaigns.md")
    text: str | None = Field(None, description="Text form, e.g. 'country:KR tag:vip consent:promotions inactive>30d'")


class SegmentPatch(BaseModel):
    """Changes to a segment."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    description: str | None = None
    filter: dict[str, Any] | None = None
    text: str | None = None


class FilterIn(BaseModel):
    """An unsaved filter to count."""

    model_config = ConfigDict(extra="forbid")

    filter: dict[str, Any] | None = None
    text: str | None = None


class ContactSample(BaseModel):
    """A contact in a segment's sample."""

    id: int
    phone: str | None
    name: str | None
    first_name: str | None
    country: str | None
    language: str | None
    tags: list[str]


class SegmentOut(BaseModel):
    """A saved segment."""

    id: int
    name: str
    description: str | None
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class CountOut(BaseModel):
    """How many contacts a filter selects now, the normalized filter, and a few of them."""

    count: int
    filter: dict[str, Any]
    sample: list[ContactSample]


def segment_out(segment: Segment) -> SegmentOut:
    """The API form of a segment."""
    return SegmentOut(id=segment.id, name=segment.name, description=segment.description, filter=segment.filter or {},
                      created_at=segment.created_at, updated_at=segment.updated_at)


def sample_out(contact: Contact) -> ContactSample:
    """The API form of a sampled contact."""
    return ContactSample(id=contact.id, phone=contact.phone, name=contact.name, first_name=contact.first_name,
                         country=contact.country, language=contact.language, tags=list(contact.tags or []))


def count_out(session, workspace_id: int, filter_: dict[str, Any], now: datetime) -> CountOut:
    """Count and sample a validated filter."""
    compiled = compiled_for(session, workspace_id, filter_, now)
    return CountOut(count=count_matching(session, compiled), filter=filter_,
                    sample=[sample_out(contact) for contact in sample_matching(session, compiled)])


@router.get("", response_model=list[SegmentOut], summary="List segments")
def get_segments(session: SessionDep, workspace: WorkspaceDep) -> list[SegmentOut]:
    """Every saved segment of the workspace, by name."""
    return [segment_out(segment) for segment in list_segments(session, workspace.id)]


@router.post("", status_code=201, response_model=SegmentOut, summary="Save a segment")
def post_segment(body: SegmentIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> SegmentOut:
    """Save a filter under a name; an unknown field or operator is a 422 naming the bad node (e.g. filter.all[1].op)."""
    filter_ = resolve_filter(body.filter, body.text)
    segment = create_segment(session, workspace, body.name, filter_, now, description=body.description)
    session.commit()
    return segment_out(segment)


@router.post("/count", response_model=CountOut, summary="Count an unsaved filter")
def post_count(body: FilterIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CountOut:
    """How many contacts the filter selects right now, and the first few of them."""
    return count_out(session, workspace.id, resolve_filter(body.filter, body.text), now)


@router.get("/{segment_id}", response_model=SegmentOut, summary="Get a segment")
def get_segment(segment_id: int, session: SessionDep, workspace: WorkspaceDep) -> SegmentOut:
    """One segment."""
    return segment_out(find_segment(session, workspace.id, segment_id))


@router.get("/{segment_id}/count", response_model=CountOut, summary="Count a segment")
def get_segment_count(segment_id: int, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CountOut:
    """How many contacts the segment selects right now (it is dynamic), and the first few of them."""
    segment = find_segment(session, workspace.id, segment_id)
    return count_out(session, workspace.id, segment.filter or {}, now)


@router.patch("/{segment_id}", response_model=SegmentOut, summary="Change a segment")
def patch_segment(segment_id: int, body: SegmentPatch, session: SessionDep, workspace: WorkspaceDep,
                  now: NowDep) -> SegmentOut:
    """Rename a segment or replace its filter."""
    segment = find_segment(session, workspace.id, segment_id)
    filter_ = resolve_filter(body.filter, body.text) if body.filter is not None or body.text is not None else None
    update_segment(session, segment, now, name=body.name, filter_=filter_, description=body.description)
    session.commit()
    return segment_out(segment)


@router.delete("/{segment_id}", status_code=204, summary="Delete a segment")
def remove_segment(segment_id: int, session: SessionDep, workspace: WorkspaceDep) -> Response:
    """Delete a segment no unfinished campaign uses."""
    delete_segment(session, find_segment(session, workspace.id, segment_id))
    session.commit()
    return Response(status_code=204)
