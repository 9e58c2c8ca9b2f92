"""WhatsApp extras per channel: the template registry sync (C3) and click-to-chat links, QR codes and snippet (C9).

Routes under /v1/channels/{channel_id}/whatsapp/…, authenticated with the workspace's API
key; channels of other workspaces answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.api.deps import NowDep, RuntimeDep, SessionDep, WorkspaceDep
from mannerly.channels.whatsapp_cloud.adapter import WhatsAppApiError, WhatsAppCloudAdapter, digits_only
from mannerly.channels.whatsapp_cloud.clicktochat import (
    DEFAULT_SCALE,
    MAX_PREFILLED_TEXT,
    MAX_SCALE,
    ClickToChatError,
    click_to_chat_url,
    qr_png,
    qr_svg,
    snippet_html,
    snippet_label,
)
from mannerly.channels.whatsapp_cloud.templates import ExistingTemplate, plan_sync
from mannerly.errors import ProblemError, invalid, not_found
from mannerly.models import Channel, Template, Workspace

router = APIRouter(prefix="/v1/channels/{channel_id}/whatsapp", tags=["whatsapp"])

TextQuery = Annotated[str | None, Query(max_length=MAX_PREFILLED_TEXT, description="Text typed in for the customer")]
ScaleQuery = Annotated[int, Query(ge=1, le=MAX_SCALE, description="Pixels per QR module")]


class ClickToChatOut(BaseModel):
    """A channel's click-to-chat link and where to get its QR codes and snippet."""

    url: str = Field(..., description="https://wa.me/<number>?text=<prefilled text>")
    phone: str = Field(..., description="The WhatsApp number, international digits")
    text: str | None
    qr_png: str
    qr_svg: str
    snippet: str


class SnippetOut(BaseModel):
    """Copy-paste HTML for a website: a "Message us on WhatsApp" button."""

    html: str
    url: str
    label: str


class TemplateSyncOut(BaseModel):
    """What a template sync found and changed."""

    fetched: int
    created: list[dict[str, Any]]
    updated: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    missing: list[dict[str, Any]] = Field(..., description="Linked templates WhatsApp no longer lists (left as they are)")
    warnings: list[dict[str, Any]]
    languages: dict[str, dict[str, str]] = Field(..., description="WhatsApp language codes used for sends")


def load_whatsapp_channel(session: Session, workspace: Workspace, channel_id: int) -> Channel:
    """A WhatsApp channel of this workspace, or a 404."""
    channel = session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != workspace.id or channel.kind != "whatsapp":
        raise not_found("WhatsApp channel", channel_id)
    return channel


def whatsapp_number(channel: Channel) -> str:
    """The number customers write to, as digits: config display_phone_number (or a phone-like sender id)."""
    number = digits_only(str((channel.config or {}).get("display_phone_number") or ""))
    # A Cloud API channel's sender_id is its phone number *id*, not a number customers can dial.
    if not number and channel.provider != "whatsapp_cloud" and channel.sender_id:
        number = digits_only(channel.sender_id)
    if not number:
        raise ProblemError(409, "Conflict", f"channel {channel.id} has no display_phone_number in its config; "
                                            "add the WhatsApp number in international digits (e.g. 821023456789)")
    return number


def channel_link(channel: Channel, text: str | None) -> str:
    """The channel's wa.me link, or a 422/409 explaining why there is none."""
    try:
        return click_to_chat_url(whatsapp_number(channel), text)
    except ClickToChatError as error:
        raise invalid("text" if text and "text" in str(error) else "display_phone_number", str(error)) from error


@router.get("/click-to-chat", response_model=ClickToChatOut, summary="Click-to-chat link")
def get_click_to_chat(channel_id: int, session: SessionDep, workspace: WorkspaceDep,
                      text: TextQuery = None) -> ClickToChatOut:
    """The wa.me link that opens a chat with this channel's number, with the text typed in."""
    channel = load_whatsapp_channel(session, workspace, channel_id)
    url = channel_link(channel, text)
    base = f"/v1/channels/{channel.id}/whatsapp"
    query = str(url).partition("?")[2]
    suffix = f"?{query}" if query else ""
    return ClickToChatOut(url=url, phone=whatsapp_number(channel), text=text, qr_png=f"{base}/click-to-chat.png{suffix}",
                          qr_svg=f"{base}/click-to-chat.svg{suffix}", snippet=f"{base}/snippet{suffix}")


@router.get("/click-to-chat.png", summary="Click-to-chat QR code (PNG)",
            responses={200: {"content": {"image/png": {}}}}, response_class=Response)
def get_click_to_chat_png(channel_id: int, session: SessionDep, workspace: WorkspaceDep, text: TextQuery = None,
                          scale: ScaleQuery = DEFAULT_SCALE) -> Response:
    """A QR code carrying the click-to-chat link, as PNG."""
    url = channel_link(load_whatsapp_channel(session, workspace, channel_id), text)
    return Response(qr_png(url, scale), media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="whatsapp-{channel_id}.png"'})


@router.get("/click-to-chat.svg", summary="Click-to-chat QR code (SVG)",
            responses={200: {"content": {"image/svg+xml": {}}}}, response_class=Response)
def get_click_to_chat_svg(channel_id: int, session: SessionDep, workspace: WorkspaceDep, text: TextQuery = None,
                          scale: ScaleQuery = DEFAULT_SCALE) -> Response:
    """A QR code carrying the click-to-chat link, as SVG."""
    channel = load_whatsapp_channel(session, workspace, channel_id)
    url = channel_link(channel, text)
    title = (channel.profile or {}).get("name") or channel.name
    return Response(qr_svg(url, scale, title=f"{title} on WhatsApp"), media_type="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="whatsapp-{channel_id}.svg"'})


@router.get("/snippet", response_model=SnippetOut, summary="Website snippet")
def get_snippet(channel_id: int, session: SessionDep, workspace: WorkspaceDep, text: TextQuery = None,
                language: Annotated[str | None, Query(max_length=8, description="Button language: en, ko, id, el")] = None,
                ) -> SnippetOut:
    """Copy-paste HTML for a "Message us on WhatsApp" button linking to the click-to-chat URL."""
    channel = load_whatsapp_channel(session, workspace, channel_id)
    url = channel_link(channel, text)
    label = snippet_label(language or workspace.default_language)
    business = (channel.profile or {}).get("name") or (workspace.brand_names or {}).get("en") or workspace.name
    return SnippetOut(html=snippet_html(url, label, business), url=url, label=label)


@router.post("/templates/sync", response_model=TemplateSyncOut, summary="Sync WhatsApp message templates")
def post_templates_sync(channel_id: int, session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep,
                        now: NowDep) -> TemplateSyncOut:
    """Fetch the WhatsApp Business Account's templates and create or update the workspace's template rows."""
    channel = load_whatsapp_channel(session, workspace, channel_id)
    if channel.provider != "whatsapp_cloud":
        raise ProblemError(409, "Conflict", f"channel {channel.id} is not a WhatsApp Cloud API channel")
    adapter = runtime.channels.adapter_for(channel, runtime)
    if not isinstance(adapter, WhatsAppCloudAdapter):
        raise ProblemError(409, "Conflict", f"channel {channel.id} has no WhatsApp Cloud API adapter")
    try:
        items = adapter.fetch_templates()
    except WhatsAppApiError as error:
        status = 409 if error.status_code is None and error.code is None else 502
        raise ProblemError(status, "Bad gateway" if status == 502 else "Conflict",
                           f"WhatsApp did not list the templates: {error.detail}") from error
    rows = session.scalars(select(Template).where(Template.workspace_id == workspace.id)).all()
    plan = plan_sync(items, [ExistingTemplate(id=row.id, name=row.name, language=row.language, body=row.body,
                                              whatsapp_name=row.whatsapp_name, whatsapp_status=row.whatsapp_status,
                                              category=row.category, variables=row.variables or {})
                             for row in rows])
    by_id = {row.id: row for row in rows}
    for row_id, values in plan.updates:
        for column, value in values.items():
            setattr(by_id[row_id], column, value)
    created = [Template(workspace_id=workspace.id, created_at=now, **values) for values in plan.creates]
    session.add_all(created)
    # Assign a new dict so the JSON column is written; the adapter is rebuilt from the new config.
    channel.config = {**(channel.config or {}), "template_languages": plan.languages}
    session.commit()
    return TemplateSyncOut(
        fetched=len(items),
        created=[{"id": row.id, "name": row.name, "language": row.language, "whatsapp_status": row.whatsapp_status,
                  "category": row.category, "body": row.body} for row in created],
        updated=plan.changes, unchanged=plan.unchanged, skipped=plan.skipped, missing=plan.missing,
        warnings=plan.warnings, languages=plan.languages,
    )
