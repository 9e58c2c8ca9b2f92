"""Web pages for segments (O5) and campaigns (O6): list, create, count, preview with a local-time chart, launch,
pause, resume, cancel and statistics."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from mannerly.campaigns.planner import bars
from mannerly.campaigns.service import (
    campaign_stats,
    cancel_campaign,
    create_campaign,
    find_campaign,
    launch_campaign,
    list_campaigns,
    pause_campaign,
    plan_campaign,
    preview_campaign,
    resume_campaign,
)
from mannerly.errors import ProblemError
from mannerly.models import Segment, Template, Topic
from mannerly.segments.service import (
    compiled_for,
    count_matching,
    create_segment,
    find_segment,
    list_segments,
    resolve_filter,
    sample_matching,
)
from mannerly.web.routes import Csrf, FormDep, Web, WebDep, WebError

router = APIRouter(include_in_schema=False)

# Who may create and launch campaigns; agents see them read-only.
CAMPAIGN_ROLES = ("admin", "marketer")
CHART_HEIGHT = 120


def problem_text(error: ProblemError) -> str:
    """One line for people from a service error."""
    if error.errors:
        return "; ".join(f"{item.field}: {item.message}" for item in error.errors)
    return error.detail


def filter_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The filter typed in the form: the JSON form when it starts with '{', else the text form."""
    raw = (form.get("filter") or "").strip()
    if raw.startswith("{"):
        try:
            return resolve_filter(json.loads(raw), None)
        except json.JSONDecodeError as error:
            raise ProblemError(422, "Invalid segment filter", f"not valid JSON: {error.msg}") from error
    return resolve_filter(None, raw)


def segments_page(web: Web, *, error: str | None = None, notice: str | None = None, typed: str = "",
                  name: str = "", status_code: int = 200) -> HTMLResponse:
    """The segments list with the new-segment form."""
    rows = []
    for segment in list_segments(web.session, web.workspace.id):
        try:
            count: int | None = count_matching(web.session, compiled_for(web.session, web.workspace.id,
                                                                         segment.filter or {}, web.now))
        except ProblemError:
            count = None
        rows.append({"segment": segment, "count": count, "json": json.dumps(segment.filter or {}, ensure_ascii=False)})
    return web.render("campaigns/segments.html", status_code=status_code, nav="segments", rows=rows, error=error,
                      notice=notice, typed=typed, name=name, can_edit=web.user.role in CAMPAIGN_ROLES)


@router.get("/segments", response_class=HTMLResponse)
def get_segments(web: WebDep) -> HTMLResponse:
    """Every segment with its current size."""
    return segments_page(web)


@router.post("/segments/count", response_class=HTMLResponse, dependencies=[Csrf])
def post_segment_count(web: WebDep, form: FormDep) -> HTMLResponse:
    """The live count and sample of the filter being typed (an htmx fragment)."""
    try:
        filter_ = filter_from_form(form)
        compiled = compiled_for(web.session, web.workspace.id, filter_, web.now)
        count = count_matching(web.session, compiled)
        sample = sample_matching(web.session, compiled, 5)
        return web.render("campaigns/segment_count.html", count=count, sample=sample, error=None,
                          normalized=json.dumps(filter_, ensure_ascii=False))
    except ProblemError as error:
        return web.render("campaigns/segment_count.html", count=None, sample=[], error=problem_text(error),
                          normalized="")


@router.post("/segments", response_class=HTMLResponse, dependencies=[Csrf])
def post_segment(web: WebDep, form: FormDep) -> Response:
    """Save a segment from the form."""
    web.require_role(*CAMPAIGN_ROLES)
    try:
        segment = create_segment(web.session, web.workspace, form.get("name", ""), filter_from_form(form), web.now,
                                 description=form.get("description") or None)
        web.session.commit()
    except ProblemError as error:
        web.session.rollback()
        return segments_page(web, error=problem_text(error), typed=form.get("filter", ""), name=form.get("name", ""),
                             status_code=422)
    return RedirectResponse(f"/segments/{segment.id}", status_code=303)


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def get_segment(segment_id: int, web: WebDep) -> HTMLResponse:
    """A segment: its filter, size now and a sample of its contacts."""
    segment = _segment(web, segment_id)
    compiled = compiled_for(web.session, web.workspace.id, segment.filter or {}, web.now)
    return web.render("campaigns/segment.html", nav="segments", segment=segment,
                      filter_json=json.dumps(segment.filter or {}, ensure_ascii=False, indent=2),
                      count=count_matching(web.session, compiled), sample=sample_matching(web.session, compiled, 20))


def _segment(web: Web, segment_id: int) -> Segment:
    """A segment of this workspace, or a 404 page."""
    try:
        return find_segment(web.session, web.workspace.id, segment_id)
    except ProblemError as error:
        raise WebError(404, "There is no such segment.") from error


# -- campaigns -----------------------------------------------------------------------------------


def campaigns_page(web: Web, *, error: str | None = None, form: dict[str, str] | None = None,
                   status_code: int = 200) -> HTMLResponse:
    """The campaigns list with the new-campaign form."""
    session, workspace_id = web.session, web.workspace.id
    topics = list(session.scalars(select(Topic).where(Topic.workspace_id == workspace_id).order_by(Topic.name)))
    templates = sorted(set(session.scalars(select(Template.name).where(Template.workspace_id == workspace_id))))
    return web.render("campaigns/campaigns.html", status_code=status_code, nav="campaigns",
                      campaigns=list_campaigns(session, workspace_id), topics=topics, templates=templates,
                      segments=list_segments(session, workspace_id), error=error, form=form or {},
                      can_edit=web.user.role in CAMPAIGN_ROLES)


@router.get("/campaigns", response_class=HTMLResponse)
def get_campaigns(web: WebDep) -> HTMLResponse:
    """Every campaign, newest first."""
    return campaigns_page(web)


def parse_start(value: str | None) -> datetime | None:
    """A start time from a datetime-local field read as UTC, or one with an offset; empty means at launch."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ProblemError(422, "Invalid request", f"'{value}' is not a date and time") from error
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


@router.post("/campaigns", response_class=HTMLResponse, dependencies=[Csrf])
def post_campaign(web: WebDep, form: FormDep) -> Response:
    """Create a draft campaign from the form and open its preview."""
    web.require_role(*CAMPAIGN_ROLES)
    try:
        throttle = int(form.get("throttle_per_minute") or 60)
        segment_id = int(form.get("segment_id") or 0)
        campaign = create_campaign(web.session, web.workspace, {
            "name": form.get("name", ""), "topic": form.get("topic", ""), "segment_id": segment_id,
            "template": form.get("template", ""), "channel": form.get("channel") or None,
            "starts_at": parse_start(form.get("starts_at")), "throttle_per_minute": throttle,
            "track_links": form.get("track_links") == "on",
        }, web.now, actor=f"user:{web.user.id}")
        web.session.commit()
    except ValueError:
        web.session.rollback()
        return campaigns_page(web, error="The throttle and the segment must be numbers.", form=form, status_code=422)
    except ProblemError as error:
        web.session.rollback()
        return campaigns_page(web, error=problem_text(error), form=form, status_code=422)
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def get_campaign(campaign_id: int, web: WebDep) -> HTMLResponse:
    """A draft's preview (counts by rule, local-time chart, cost, samples) or a launched campaign's statistics."""
    campaign = _campaign(web, campaign_id)
    preview, preview_error = None, None
    if campaign.status == "draft":
        try:
            preview = preview_campaign(web.session, web.runtime.settings, campaign, web.now)
        except ProblemError as error:
            preview_error = problem_text(error)
        web.session.rollback()
    stats = campaign_stats(web.session, campaign) if campaign.status != "draft" else None
    topic = web.session.get(Topic, campaign.topic_id) if campaign.topic_id else None
    segment = web.session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    hours = _hour_chart(preview.by_hour) if preview else _chart([], [], 22)
    days = _day_chart(preview.by_day) if preview else _chart([], [], 40)
    daily = _daily_chart(stats.daily) if stats else _chart([], [], 40)
    return web.render("campaigns/campaign.html", nav="campaigns", campaign=campaign, topic=topic, segment=segment,
                      preview=preview, preview_error=preview_error, stats=stats, hours=hours, days=days, daily=daily,
                      chart_height=CHART_HEIGHT, can_edit=web.user.role in CAMPAIGN_ROLES)


def _chart(labels: list[str], counts: list[int], step: int, rows: list[Any] | None = None) -> dict[str, Any]:
    """An inline SVG bar chart's geometry: total width, bar width, and per bar x, height, label and count."""
    heights = bars(counts, CHART_HEIGHT)
    return {"width": max(step * len(counts), step), "bar_width": step - 4, "bars": [
        {"x": index * step, "height": heights[index], "label": labels[index], "count": counts[index],
         "row": rows[index] if rows else None} for index in range(len(counts))]}


def _hour_chart(values: list[int]) -> dict[str, Any]:
    """Bars for local hours 0–23."""
    return _chart([f"{hour:02d}" for hour in range(24)], values, 22)


def _day_chart(values: list[tuple[str, int]]) -> dict[str, Any]:
    """Bars per local date (the first 31)."""
    shown = values[:31]
    return _chart([day[5:] for day, _ in shown], [count for _, count in shown], 40)


def _daily_chart(daily: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of messages sent per day (the last 31), each with the day's other counts for the table."""
    shown = daily[-31:]
    return _chart([row["day"][5:] for row in shown], [row["sent"] for row in shown], 40, shown)


def _campaign(web: Web, campaign_id: int):
    """A campaign of this workspace, or a 404 page."""
    try:
        return find_campaign(web.session, web.workspace.id, campaign_id)
    except ProblemError as error:
        raise WebError(404, "There is no such campaign.") from error


@router.post("/campaigns/{campaign_id}/{action}", response_class=HTMLResponse, dependencies=[Csrf])
def post_campaign_action(campaign_id: int, action: str, web: WebDep) -> Response:
    """Launch, pause, resume or cancel, then show the campaign again."""
    web.require_role(*CAMPAIGN_ROLES)
    campaign = _campaign(web, campaign_id)
    try:
        if action == "launch":
            launch_campaign(web.session, web.runtime.settings, campaign, web.now)
        elif action == "pause":
            pause_campaign(web.session, campaign, web.now)
        elif action == "resume":
            resume_campaign(web.session, campaign, web.now)
        elif action == "cancel":
            cancel_campaign(web.session, campaign, web.now)
        else:
            raise WebError(404, "There is no such action.")
        web.session.commit()
    except ProblemError as error:
        web.session.rollback()
        raise WebError(error.status, problem_text(error)) from error
    if action == "launch":
        plan_campaign(web.runtime.sessionmaker, web.runtime.settings, campaign.id, web.now, max_batches=1)
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)
