"""Campaigns (O6): /v1/campaigns — create, preview, launch, pause, resume, cancel, stats; and the public /l/{code}.

`router` carries the authenticated campaign API; `links_router` the public short-link
redirect (no authentication: customers click it), with a friendly 404 page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mannerly.api.deps import NowDep, RuntimeDep, SessionDep, WorkspaceDep
from mannerly.campaigns.service import (
    MAX_THROTTLE,
    PREVIEW_LIMIT,
    cancel_campaign,
    campaign_stats,
    create_campaign,
    delete_campaign,
    find_campaign,
    launch_campaign,
    list_campaigns,
    pause_campaign,
    plan_campaign,
    preview_campaign,
    resume_campaign,
    update_campaign,
)
from mannerly.links.service import link_target, record_click
from mannerly.models import Campaign, Topic

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
links_router = APIRouter(tags=["links"])

# Recipients planned inside the launch request; the worker plans the rest (plan_running_campaigns).
INLINE_BATCHES = 1


class CampaignIn(BaseModel):
    """A new campaign (a draft until launched)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=100)
    topic: str = Field(..., description="Topic name; marketing topics need the contact's opt-in")
    segment_id: int
    template: str = Field(..., description="Template name; the row in the contact's language is used")
    channel: str | None = Field(None, description="sms, whatsapp or messenger; empty lets the engine choose")
    starts_at: AwareDatetime | None = Field(None, description="Start time (default: at launch)")
    throttle_per_minute: int = Field(60, ge=1, le=MAX_THROTTLE)
    track_links: bool = Field(True, description="Replace links by short links, one per recipient")


class CampaignPatch(BaseModel):
    """Changes to a draft campaign (a running one may change only its throttle)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    topic: str | None = None
    segment_id: int | None = None
    template: str | None = None
    channel: str | None = None
    starts_at: AwareDatetime | None = None
    throttle_per_minute: int | None = Field(None, ge=1, le=MAX_THROTTLE)
    track_links: bool | None = None


class CampaignOut(BaseModel):
    """A campaign and where its planning stands."""

    id: int
    name: str
    status: str
    topic: str | None
    segment_id: int | None
    template: str
    channel: str | None
    starts_at: datetime | None
    throttle_per_minute: int
    track_links: bool
    planned: int
    planning_done: bool
    launched_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


def campaign_out(session, campaign: Campaign) -> CampaignOut:
    """The API form of a campaign."""
    topic = session.get(Topic, campaign.topic_id) if campaign.topic_id else None
    return CampaignOut(
        id=campaign.id, name=campaign.name, status=campaign.status, topic=topic.name if topic else None,
        segment_id=campaign.segment_id, template=campaign.template_name, channel=campaign.channel,
        starts_at=campaign.starts_at, throttle_per_minute=campaign.throttle_per_minute,
        track_links=campaign.track_links, planned=campaign.planned_count, planning_done=campaign.planning_done,
        launched_at=campaign.launched_at, paused_at=campaign.paused_at, completed_at=campaign.completed_at,
        created_at=campaign.created_at,
    )


@router.get("", response_model=list[CampaignOut], summary="List campaigns")
def get_campaigns(session: SessionDep, workspace: WorkspaceDep) -> list[CampaignOut]:
    """Every campaign of the workspace, newest first."""
    return [campaign_out(session, campaign) for campaign in list_campaigns(session, workspace.id)]


@router.post("", status_code=201, response_model=CampaignOut, summary="Create a draft campaign")
def post_campaign(body: CampaignIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CampaignOut:
    """A draft: nothing is sent until it is launched."""
    campaign = create_campaign(session, workspace, body.model_dump(), now, actor="api")
    session.commit()
    return campaign_out(session, campaign)


@router.get("/{campaign_id}", response_model=CampaignOut, summary="Get a campaign")
def get_campaign(campaign_id: int, session: SessionDep, workspace: WorkspaceDep) -> CampaignOut:
    """One campaign."""
    return campaign_out(session, find_campaign(session, workspace.id, campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignOut, summary="Change a campaign")
def patch_campaign(campaign_id: int, body: CampaignPatch, session: SessionDep, workspace: WorkspaceDep,
                   now: NowDep) -> CampaignOut:
    """Change a draft (or the throttle of a running campaign)."""
    campaign = find_campaign(session, workspace.id, campaign_id)
    update_campaign(session, campaign, body.model_dump(exclude_unset=True), now)
    session.commit()
    return campaign_out(session, campaign)


@router.delete("/{campaign_id}", status_code=204, summary="Delete a draft campaign")
def remove_campaign(campaign_id: int, session: SessionDep, workspace: WorkspaceDep) -> Response:
    """Delete a campaign that was never launched."""
    delete_campaign(session, find_campaign(session, workspace.id, campaign_id))
    session.commit()
    return Response(status_code=204)


@router.get("/{campaign_id}/preview", summary="Preview before launch")
def get_preview(campaign_id: int, session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep, now: NowDep,
                limit: int = Query(PREVIEW_LIMIT, ge=100, le=200_000,
                                   description="Decide at most this many contacts (an even sample of larger segments)"),
                ) -> dict[str, Any]:
    """Eligible and excluded counts by rule, when messages go out in local time, cost per channel, sample texts."""
    campaign = find_campaign(session, workspace.id, campaign_id)
    preview = preview_campaign(session, runtime.settings, campaign, now, limit=limit)
    session.rollback()
    return preview.as_dict()


@router.post("/{campaign_id}/launch", response_model=CampaignOut, summary="Launch a campaign")
def post_launch(campaign_id: int, session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep,
                now: NowDep) -> CampaignOut:
    """Start sending: the first batch is planned now, the worker plans the rest at the throttle's pace."""
    campaign = launch_campaign(session, runtime.settings, find_campaign(session, workspace.id, campaign_id), now)
    session.commit()
    plan_campaign(runtime.sessionmaker, runtime.settings, campaign.id, now, max_batches=INLINE_BATCHES)
    session.refresh(campaign)
    return campaign_out(session, campaign)


@router.post("/{campaign_id}/pause", response_model=CampaignOut, summary="Pause a campaign")
def post_pause(campaign_id: int, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CampaignOut:
    """Hold every message not yet handed to a provider."""
    campaign = find_campaign(session, workspace.id, campaign_id)
    pause_campaign(session, campaign, now)
    session.commit()
    return campaign_out(session, campaign)


@router.post("/{campaign_id}/resume", response_model=CampaignOut, summary="Resume a paused campaign")
def post_resume(campaign_id: int, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CampaignOut:
    """Give the held messages new throttle slots from now on and continue planning."""
    campaign = find_campaign(session, workspace.id, campaign_id)
    resume_campaign(session, campaign, now)
    session.commit()
    return campaign_out(session, campaign)


@router.post("/{campaign_id}/cancel", response_model=CampaignOut, summary="Cancel a campaign")
def post_cancel(campaign_id: int, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CampaignOut:
    """Stop for good: unsent messages are refused."""
    campaign = find_campaign(session, workspace.id, campaign_id)
    cancel_campaign(session, campaign, now)
    session.commit()
    return campaign_out(session, campaign)


@router.get("/{campaign_id}/stats", summary="Campaign statistics")
def get_stats(campaign_id: int, session: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Sent, delivered, failed, replies, opt-outs and clicks, in total and per day (UTC)."""
    return campaign_stats(session, find_campaign(session, workspace.id, campaign_id)).as_dict()


# -- the public short-link redirect ------------------------------------------------------------


def not_found_page() -> HTMLResponse:
    """The friendly page for an unknown code."""
    from mannerly.web.routes import templates

    html = templates.get_template("campaigns/link_not_found.html").render()
    return HTMLResponse(html, status_code=404)


@links_router.get("/l/{code}", include_in_schema=False)
def follow_link(code: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    """Redirect a short link to its target and count the click; an unknown code gets a 404 page."""
    target = record_click(session, code, now, request.headers.get("user-agent"))
    if target is None:
        session.rollback()
        return not_found_page()
    session.commit()
    return RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@links_router.head("/l/{code}", include_in_schema=False)
def peek_link(code: str, session: SessionDep) -> Response:
    """Link checkers and previews ask with HEAD: answer without counting a click."""
    target = link_target(session, code)
    if target is None:
        return Response(status_code=404)
    return Response(status_code=302, headers={"Location": target, "Cache-Control": "no-store"})
