"""The web UI: server-rendered pages (Jinja2, autoescaped) with htmx for partial updates and live events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from mannerly import __version__
from mannerly.api.deps import get_runtime, get_session
from mannerly.api.simulator import simulator_channel
from mannerly.contacts.service import parse_contact_phone
from mannerly.errors import ProblemError
from mannerly.inbound.pipeline import receive_message
from mannerly.messages.service import rejection_summary
from mannerly.models import (
    USER_ROLES,
    ApiKey,
    Channel,
    Consent,
    ConsentEvent,
    Contact,
    Message,
    Template,
    Topic,
    User,
    Workspace,
)
from mannerly.policy.types import Action
from mannerly.runtime import Runtime
from mannerly.teams import service as teams_service
from mannerly.web import data
from mannerly.web.auth import LoginRateLimiter, authenticate, create_user, session_secret
from mannerly.web.csrf import CsrfRejected, csrf_token, require_csrf
from mannerly.web.security import SecurityHeadersMiddleware
from mannerly.web.sse import change_events, workspace_fingerprint
from mannerly.workspaces.policy import PolicySettings
from mannerly.workspaces.service import create_api_key, update_policy

HERE = Path(__file__).parent
SESSION_COOKIE = "mannerly_session"
SESSION_MAX_AGE = 12 * 3600
USER_KEY = "uid"
ROLES_WHO_REPLY = ("admin", "agent")
CONTACTS_PAGE_SIZE = 100
PHONE_VISIBLE_STATUSES = ("sent", "delivered", "read", "undelivered", "failed")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

router = APIRouter(include_in_schema=False)
login_limiter = LoginRateLimiter()


class LoginRequired(Exception):
    """The page needs a logged-in user."""


class WebError(Exception):
    """An error page with a status code and a sentence for people."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the status and the message."""
        super().__init__(message)
        self.status = status
        self.message = message


# -- templates ---------------------------------------------------------------------------------


def format_duration(seconds: int | float | None) -> str:
    """A waiting time in words: 45 s, 12 min, 3 h 5 min, 2 d."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d"


def customer_time(moment: datetime | None, zone_name: str | None) -> str:
    """A UTC moment as the customer reads it: 'Tue 09:00' in their zone (UTC when unknown)."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone_name)) if zone_name else moment
    return local.strftime("%a %d %b %H:%M") + ("" if zone_name else " UTC")


def initials(name: str | None) -> str:
    """One or two letters for an avatar."""
    words = [word for word in (name or "?").replace("+", "").split() if word]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:1].upper()
    return (words[0][:1] + words[-1][:1]).upper()


def local_iso(value: str | None) -> str:
    """An ISO time with its offset as people read it: 'Tue 4 Mar 09:00 (UTC+09:00)'."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    offset = moment.strftime("%z")
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} (UTC{offset[:3]}:{offset[3:]})" if offset else f"{moment:%a %H:%M}"


def make_templates() -> Jinja2Templates:
    """The Jinja2 environment: autoescape on for every template, undefined names are errors."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["duration"] = format_duration
    environment.filters["initials"] = initials
    environment.filters["local_iso"] = local_iso
    environment.filters["customer_time"] = customer_time
    environment.globals["version"] = __version__
    environment.globals["weekdays"] = WEEKDAYS
    return Jinja2Templates(env=environment)


templates = make_templates()


@dataclass
class Web:
    """What a page handler needs: the person, their workspace, a database session, the time."""

    request: Request
    user: User
    workspace: Workspace
    session: Session
    runtime: Runtime
    now: datetime

    @property
    def can_reply(self) -> bool:
        """Admins and agents answer customers; marketers only read."""
        return self.user.role in ROLES_WHO_REPLY

    def require_role(self, *roles: str) -> None:
        """Stop with 403 unless the user has one of the roles."""
        if self.user.role not in roles:
            raise WebError(403, "Your role does not allow this.")

    def render(self, template_name: str, status_code: int = 200, headers: dict[str, str] | None = None,
               **values: Any) -> HTMLResponse:
        """A template rendered with the common values (user, workspace, CSRF token, unread count)."""
        values.setdefault("nav", "")
        context = {
            "user": self.user,
            "workspace": self.workspace,
            "csrf_token": csrf_token(self.request),
            "can_reply": self.can_reply,
            "unread_total": data.unread_total(self.session, self.workspace.id),
            "now": self.now,
            **values,
        }
        return templates.TemplateResponse(self.request, template_name, context, status_code=status_code,
                                          headers=headers)


def current_web(request: Request, session: Annotated[Session, Depends(get_session)],
                runtime: Annotated[Runtime, Depends(get_runtime)]) -> Web:
    """The logged-in user's context, or LoginRequired."""
    user_id = request.session.get(USER_KEY)
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise LoginRequired()
    workspace = session.get(Workspace, user.workspace_id)
    return Web(request=request, user=user, workspace=workspace, session=session, runtime=runtime, now=runtime.now())


WebDep = Annotated[Web, Depends(current_web)]
Csrf = Depends(require_csrf)


async def form_values(request: Request) -> dict[str, str]:
    """The posted form as plain strings (files are ignored)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormDep = Annotated[dict[str, str], Depends(form_values)]


def is_htmx(request: Request) -> bool:
    """True for requests made by htmx (partial responses)."""
    return request.headers.get("HX-Request") == "true"


# -- login -----------------------------------------------------------------------------------


def client_ip(request: Request) -> str:
    """The peer address, for the per-IP login limit."""
    return request.client.host if request.client else "unknown"


def login_page(request: Request, error: str | None = None, email: str = "", status_code: int = 200,
               show_workspace: bool = False) -> HTMLResponse:
    """The login form."""
    return templates.TemplateResponse(request, "login.html", {
        "csrf_token": csrf_token(request), "error": error, "email": email, "show_workspace": show_workspace,
    }, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def get_login(request: Request) -> HTMLResponse:
    """The login form (or the inbox when already logged in)."""
    if isinstance(request.session.get(USER_KEY), int):
        return RedirectResponse("/inbox", status_code=303)
    return login_page(request)


@router.post("/login", response_class=HTMLResponse, dependencies=[Csrf])
def post_login(request: Request, form: FormDep, session: Annotated[Session, Depends(get_session)]) -> Response:
    """Check the email and password (rate-limited per account and per address) and start a session."""
    email = form.get("email", "").strip()
    keys = (f"account:{email.lower()}", f"ip:{client_ip(request)}")
    wait = login_limiter.retry_after(*keys)
    if wait > 0:
        return login_page(request, f"Too many attempts. Try again in {int(wait) + 1} seconds.", email, 429)
    result = authenticate(session, email, form.get("password", ""), form.get("workspace") or None)
    if result.user is None:
        login_limiter.failed(*keys)
        several = "several workspaces" in (result.error or "")
        return login_page(request, result.error, email, 400 if several else 401, show_workspace=several)
    login_limiter.succeeded(keys[0])
    request.session.clear()  # a fresh session (and CSRF token) on login: no fixation
    request.session[USER_KEY] = result.user.id
    csrf_token(request)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/logout", dependencies=[Csrf])
def post_logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(request: Request) -> Response:
    """The inbox for people who are logged in, else the login form."""
    return RedirectResponse("/inbox" if isinstance(request.session.get(USER_KEY), int) else "/login", status_code=303)


# -- inbox -----------------------------------------------------------------------------------


@dataclass
class Filters:
    """The inbox filters from the query string."""

    view: str = "all"
    status: str = "open"
    channel: str = ""

    @classmethod
    def from_request(cls, request: Request) -> Filters:
        """Read and sanitise the filters (unknown values fall back to the defaults)."""
        params = request.query_params
        view = params.get("view", "all")
        if view not in ("all", "mine", "unassigned") and not view.startswith("team:"):
            view = "all"
        status = params.get("status", "open")
        status = status if status in (*data.STATUSES, "all") else "open"
        channel = params.get("channel", "")
        channel = channel if channel in data.CHANNELS else ""
        return cls(view=view, status=status, channel=channel)

    def query(self) -> str:
        """The filters as a query string."""
        return urlencode({"view": self.view, "status": self.status, "channel": self.channel})


def inbox_items(web: Web, filters: Filters) -> list[data.InboxItem]:
    """The conversation list for the filters (an unknown team shows nothing rather than an error)."""
    try:
        return data.list_inbox(web.session, web.workspace, web.user, view=filters.view,
                               status=None if filters.status == "all" else filters.status,
                               channel=filters.channel or None, now=web.now)
    except ProblemError:
        return []


def inbox_page(web: Web, filters: Filters, conversation_id: int | None = None) -> HTMLResponse:
    """The three-pane inbox, with a conversation open when one is chosen."""
    values: dict[str, Any] = {"nav": "inbox", "filters": filters, "items": inbox_items(web, filters),
                              "selected": conversation_id, "teams": data.list_teams(web.session, web.workspace.id),
                              "conversation": None}
    if conversation_id is not None:
        conversation = load_conversation(web, conversation_id)
        data.mark_read(web.session, conversation)
        web.session.commit()
        values.update(conversation_values(web, conversation))
        values["items"] = inbox_items(web, filters)
    return web.render("inbox.html", **values)


def load_conversation(web: Web, conversation_id: int):
    """The workspace's conversation, or a 404 page."""
    conversation = data.find_conversation(web.session, web.workspace.id, conversation_id)
    if conversation is None:
        raise WebError(404, "There is no such conversation.")
    return conversation


def conversation_values(web: Web, conversation) -> dict[str, Any]:
    """Everything the conversation pane and side panel show."""
    contact = web.session.get(Contact, conversation.contact_id)
    return {
        "conversation": conversation,
        "contact": contact,
        "contact_name": data.contact_label(contact),
        "timeline": data.timeline(web.session, conversation),
        "panel": data.side_panel(web.session, web.workspace, contact, web.now, conversation),
        "agents": [user for user in data.workspace_users(web.session, web.workspace.id) if user.role != "marketer"],
        "canned": data.canned_replies(web.session, web.workspace.id, contact.language),
        "reply_channel": data.reply_channel(web.session, conversation),
    }


@router.get("/inbox", response_class=HTMLResponse)
def get_inbox(web: WebDep) -> HTMLResponse:
    """The inbox with no conversation open."""
    return inbox_page(web, Filters.from_request(web.request))


@router.get("/inbox/list", response_class=HTMLResponse)
def get_inbox_list(web: WebDep, selected: int | None = None) -> HTMLResponse:
    """The conversation list alone (live refresh)."""
    filters = Filters.from_request(web.request)
    return web.render("partials/inbox_list.html", filters=filters, items=inbox_items(web, filters), selected=selected)


@router.get("/inbox/c/{conversation_id}", response_class=HTMLResponse)
def get_conversation(conversation_id: int, web: WebDep) -> HTMLResponse:
    """The inbox with one conversation open."""
    return inbox_page(web, Filters.from_request(web.request), conversation_id)


@router.get("/inbox/c/{conversation_id}/timeline", response_class=HTMLResponse)
def get_timeline(conversation_id: int, web: WebDep) -> HTMLResponse:
    """The conversation's history alone (live refresh); reading it clears the unread count."""
    conversation = load_conversation(web, conversation_id)
    if conversation.unread_count:
        data.mark_read(web.session, conversation)
        web.session.commit()
    return web.render("partials/timeline.html", conversation=conversation,
                      timeline=data.timeline(web.session, conversation))


@router.get("/inbox/c/{conversation_id}/panel", response_class=HTMLResponse)
def get_panel(conversation_id: int, web: WebDep) -> HTMLResponse:
    """The side panel alone (live refresh)."""
    conversation = load_conversation(web, conversation_id)
    contact = web.session.get(Contact, conversation.contact_id)
    return web.render("partials/panel.html", panel=data.side_panel(web.session, web.workspace, contact, web.now, conversation),
                      contact=contact, conversation=conversation)


@router.get("/inbox/c/{conversation_id}/header", response_class=HTMLResponse)
def get_header(conversation_id: int, web: WebDep) -> HTMLResponse:
    """The conversation header alone (status and assignee, live refresh)."""
    conversation = load_conversation(web, conversation_id)
    return web.render("partials/conversation_header.html", **conversation_values(web, conversation),
                      teams=data.list_teams(web.session, web.workspace.id))


@router.post("/inbox/c/{conversation_id}/check", response_class=HTMLResponse, dependencies=[Csrf])
def post_check(conversation_id: int, web: WebDep, form: FormDep) -> HTMLResponse:
    """The engine's live verdict on the draft reply (nothing is written)."""
    conversation = load_conversation(web, conversation_id)
    text = form.get("text", "")
    if not text.strip():
        return web.render("partials/decision.html", decision=None, error=None)
    try:
        decision = data.check_reply(web.session, web.workspace, conversation, text, web.now)
    except ProblemError as error:
        return web.render("partials/decision.html", decision=None, error=error.detail)
    return web.render("partials/decision.html", decision=decision_view(decision), error=None)


def decision_view(decision) -> dict[str, Any]:
    """What the composer shows of a decision: action, timing, why, lint, segments, encoding."""
    as_dict = decision.as_dict()
    return {
        "action": decision.action.value,
        "send_at": decision.send_at,
        "local_send_at": decision.local_send_at,
        "channel": decision.channel,
        "segments": decision.segments,
        "encoding": decision.encoding,
        "final_text": decision.final_text,
        "holds": [reason for reason in as_dict["reasons"] if reason["verdict"] in ("defer", "reject")],
        "notes": [reason for reason in as_dict["reasons"] if reason["verdict"] in ("exempt", "fixed", "reroute")],
        "lint": as_dict["lint"],
        "summary": rejection_summary(decision) if decision.action is Action.REJECT else None,
    }


@router.post("/inbox/c/{conversation_id}/reply", response_class=HTMLResponse, dependencies=[Csrf])
def post_reply(conversation_id: int, web: WebDep, form: FormDep) -> HTMLResponse:
    """Send the agent's reply through the engine; say whether it went, when it will go, or why not."""
    web.require_role(*ROLES_WHO_REPLY)
    conversation = load_conversation(web, conversation_id)
    text = form.get("text", "").strip()
    if not text:
        return web.render("partials/reply_result.html", message=None, error="Write a reply first.", cleared=False)
    try:
        message = data.reply(web.session, web.workspace, conversation, user=web.user, text=text, now=web.now)
    except ProblemError as error:
        web.session.rollback()
        return web.render("partials/reply_result.html", message=None, error=error.detail, cleared=False)
    web.session.commit()
    cleared = message.status != "rejected"
    return web.render("partials/reply_result.html", message=message, error=None, cleared=cleared,
                      conversation=conversation, headers={"HX-Trigger": "conversation-changed"})


@router.post("/inbox/c/{conversation_id}/note", response_class=HTMLResponse, dependencies=[Csrf])
def post_note(conversation_id: int, web: WebDep, form: FormDep) -> Response:
    """Add an internal note."""
    web.require_role(*ROLES_WHO_REPLY)
    conversation = load_conversation(web, conversation_id)
    body = form.get("body", "").strip()
    if body:
        try:
            data.add_note(web.session, conversation, author=web.user, body=body, now=web.now)
        except ProblemError as error:
            web.session.rollback()
            raise WebError(422, error.detail) from error
        web.session.commit()
    return web.render("partials/note_form.html", conversation=conversation, headers={"HX-Trigger": "conversation-changed"})


def form_id(form: dict[str, str], name: str) -> Any:
    """An id from a select: the number, None for the empty choice, KEEP when the field was not sent."""
    if name not in form:
        return data.KEEP
    value = form[name].strip()
    if not value:
        return None
    if not value.isdigit():
        raise WebError(422, f"{name} must be a number.")
    return int(value)


@router.post("/inbox/c/{conversation_id}/assign", response_class=HTMLResponse, dependencies=[Csrf])
def post_assign(conversation_id: int, web: WebDep, form: FormDep) -> Response:
    """Assign the conversation to an agent and/or a team."""
    web.require_role(*ROLES_WHO_REPLY)
    conversation = load_conversation(web, conversation_id)
    user_id = form_id(form, "user_id")
    team_id = form_id(form, "team_id")
    try:
        data.assign(web.session, conversation, user_id=user_id, team_id=team_id, actor=web.user, now=web.now)
    except ProblemError as error:
        web.session.rollback()
        raise WebError(422, error.detail) from error
    web.session.commit()
    return get_header(conversation_id, web) if is_htmx(web.request) else RedirectResponse(
        f"/inbox/c/{conversation_id}", status_code=303)


@router.post("/inbox/c/{conversation_id}/status", response_class=HTMLResponse, dependencies=[Csrf])
def post_status(conversation_id: int, web: WebDep, form: FormDep) -> Response:
    """Set the status: open, pending or resolved."""
    web.require_role(*ROLES_WHO_REPLY)
    conversation = load_conversation(web, conversation_id)
    status = form.get("status", "")
    if status not in data.STATUSES:
        raise WebError(422, "Unknown status.")
    try:
        data.set_status(web.session, web.workspace, conversation, status, actor=web.user, now=web.now)
    except ProblemError as error:
        web.session.rollback()
        raise WebError(422, error.detail) from error
    web.session.commit()
    if not is_htmx(web.request):
        return RedirectResponse(f"/inbox/c/{conversation_id}", status_code=303)
    response = get_header(conversation_id, web)
    response.headers["HX-Trigger"] = "conversation-changed"
    return response


@router.get("/inbox/c/{conversation_id}/canned", response_class=HTMLResponse)
def get_canned(conversation_id: int, web: WebDep, canned_id: str = "") -> HTMLResponse:
    """The composer's text area filled with a canned reply personalised for the customer."""
    conversation = load_conversation(web, conversation_id)
    contact = web.session.get(Contact, conversation.contact_id)
    text = data.render_canned(web.session, web.workspace.id, int(canned_id), contact) if canned_id.isdigit() else None
    return web.render("partials/composer_text.html", conversation=conversation, text=text or "", oob=False)


# -- live events -----------------------------------------------------------------------------


@router.get("/events")
async def get_events(request: Request) -> Response:
    """Server-sent events: "changed" whenever the workspace's messages or conversations change."""
    runtime: Runtime = request.app.state.runtime
    user_id = request.session.get(USER_KEY)

    def workspace_of_user() -> int | None:
        """The logged-in user's workspace id."""
        with runtime.session() as session:
            user = session.get(User, user_id) if isinstance(user_id, int) else None
            return user.workspace_id if user else None

    workspace_id = await to_thread.run_sync(workspace_of_user)
    if workspace_id is None:
        return Response(status_code=401)

    def fingerprint() -> Any:
        """The workspace's current change marker."""
        with runtime.session() as session:
            return workspace_fingerprint(session, workspace_id)

    stream_seconds = getattr(request.app.state, "web_sse_stream_seconds", None) or 300.0
    return StreamingResponse(change_events(fingerprint, request.is_disconnected, stream_seconds=stream_seconds),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- contacts --------------------------------------------------------------------------------


@router.get("/contacts", response_class=HTMLResponse)
def get_contacts(web: WebDep, q: str = "", page: int = 1) -> HTMLResponse:
    """Contacts, searchable by name or phone."""
    page = max(page, 1)
    query = select(Contact).where(Contact.workspace_id == web.workspace.id)
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(Contact.name).like(pattern), Contact.phone.like(f"%{q.strip()}%")))
    total = web.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    contacts = list(web.session.scalars(query.order_by(Contact.name, Contact.id)
                                        .offset((page - 1) * CONTACTS_PAGE_SIZE).limit(CONTACTS_PAGE_SIZE)))
    ids = [contact.id for contact in contacts]
    return web.render("contacts.html", nav="contacts", contacts=contacts, q=q, page=page, total=total,
                      page_size=CONTACTS_PAGE_SIZE,
                      conversations=data.conversations_with_contact_ids(web.session, ids),
                      counts=data.contact_message_counts(web.session, ids), label=data.contact_label)


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def get_contact(contact_id: int, web: WebDep) -> HTMLResponse:
    """One contact: details, consent with evidence, the consent ledger, their conversation."""
    contact = web.session.get(Contact, contact_id)
    if contact is None or contact.workspace_id != web.workspace.id:
        raise WebError(404, "There is no such contact.")
    labels = dict(web.session.execute(select(Topic.id, Topic.label).where(Topic.workspace_id == web.workspace.id)).all())
    ledger = web.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)
                                 .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())).all()
    history = [(event, data.consent_sentence(event, labels.get(event.topic_id)))
               for event in ledger]
    conversation_id = data.conversations_with_contact_ids(web.session, [contact.id]).get(contact.id)
    return web.render("contact.html", nav="contacts", contact=contact, name=data.contact_label(contact),
                      panel=data.side_panel(web.session, web.workspace, contact, web.now), history=history,
                      conversation_id=conversation_id)


# -- templates and topics --------------------------------------------------------------------


@router.get("/templates", response_class=HTMLResponse)
def get_templates(web: WebDep) -> HTMLResponse:
    """Message templates per name and language."""
    rows = web.session.execute(select(Template, Topic.label).outerjoin(Topic, Topic.id == Template.topic_id)
                               .where(Template.workspace_id == web.workspace.id)
                               .order_by(Template.name, Template.language)).all()
    groups: dict[str, list[tuple[Template, str | None]]] = {}
    for template, label in rows:
        groups.setdefault(template.name, []).append((template, label))
    return web.render("templates.html", nav="templates", groups=groups)


@router.get("/topics", response_class=HTMLResponse)
def get_topics(web: WebDep) -> HTMLResponse:
    """Topics with their consent counts, and the latest consent changes."""
    topics = web.session.scalars(select(Topic).where(Topic.workspace_id == web.workspace.id)
                                 .order_by(Topic.kind.desc(), Topic.label)).all()
    counts: dict[tuple[int, str], int] = {
        (topic_id, status): count for topic_id, status, count in web.session.execute(
            select(Consent.topic_id, Consent.status, func.count()).where(Consent.workspace_id == web.workspace.id)
            .group_by(Consent.topic_id, Consent.status)).all()}
    labels = {topic.id: topic.label for topic in topics}
    recent = web.session.execute(select(ConsentEvent, Contact).join(Contact, Contact.id == ConsentEvent.contact_id)
                                 .where(ConsentEvent.workspace_id == web.workspace.id)
                                 .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc()).limit(50)).all()
    changes = [(event, contact, data.contact_label(contact),
                data.consent_sentence(event, labels.get(event.topic_id)))
               for event, contact in recent]
    global_out = web.session.scalar(select(func.count()).where(Contact.workspace_id == web.workspace.id,
                                                               Contact.global_opt_out.is_(True))) or 0
    return web.render("topics.html", nav="topics", topics=topics, counts=counts, changes=changes, global_out=global_out)


# -- settings --------------------------------------------------------------------------------

POLICY_NUMBER_FIELDS = ("reply_exemption_hours", "marketing_cap", "marketing_cap_days", "automated_min_gap_minutes",
                        "duplicate_window_hours", "auto_reply_period_hours", "max_segments")
POLICY_BOOL_FIELDS = ("skip_holidays", "sender_intro")


def settings_page(web: Web, *, policy_errors: list[str] | None = None, notice: str | None = None,
                  new_key: str | None = None, user_error: str | None = None, team_error: str | None = None,
                  status_code: int = 200) -> HTMLResponse:
    """The settings page (admins only)."""
    session, workspace = web.session, web.workspace
    channels = session.scalars(select(Channel).where(Channel.workspace_id == workspace.id).order_by(Channel.id)).all()
    keys = session.scalars(select(ApiKey).where(ApiKey.workspace_id == workspace.id)
                           .order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())).all()
    return web.render("settings.html", status_code=status_code, nav="settings",
                      policy=PolicySettings.model_validate(workspace.policy or {}), policy_errors=policy_errors or [],
                      channels=channels, keys=keys, users=data.workspace_users(session, workspace.id),
                      roles=USER_ROLES, notice=notice, new_key=new_key, user_error=user_error, team_error=team_error,
                      teams=data.list_teams(session, workspace.id),
                      metrics=data.agent_metrics(session, workspace.id, web.now))


@router.get("/settings", response_class=HTMLResponse)
def get_settings(web: WebDep) -> HTMLResponse:
    """Business hours, sending policy, channels, users and API keys."""
    web.require_role("admin")
    return settings_page(web)


def policy_changes(form: dict[str, str]) -> dict[str, Any]:
    """The policy form as a PolicySettings change (checkboxes absent mean false)."""
    changes: dict[str, Any] = {
        "window_start": form.get("window_start", ""),
        "window_end": form.get("window_end", ""),
        "workdays": sorted({int(key[8:]) for key in form if key.startswith("workday_") and key[8:].isdigit()})
        if form.get("workdays_mode") == "custom" else None,
        "tracked_link_domains": [item.strip() for item in form.get("tracked_link_domains", "").split(",") if item.strip()],
    }
    for name in POLICY_NUMBER_FIELDS:
        changes[name] = form.get(name, "")
    for name in POLICY_BOOL_FIELDS:
        changes[name] = form.get(name) == "on"
    return changes


@router.post("/settings/policy", response_class=HTMLResponse, dependencies=[Csrf])
def post_policy(web: WebDep, form: FormDep) -> HTMLResponse:
    """Save the sending policy (validated as a whole, audited)."""
    web.require_role("admin")
    try:
        update_policy(web.session, web.workspace, policy_changes(form), actor=f"user:{web.user.id}", now=web.now)
    except ValidationError as error:
        web.session.rollback()
        messages = [f"{'.'.join(str(part) for part in item['loc']) or 'policy'}: {item['msg']}" for item in error.errors()]
        return settings_page(web, policy_errors=messages, status_code=422)
    web.session.commit()
    return settings_page(web, notice="Sending policy saved.")


@router.post("/settings/apikeys", response_class=HTMLResponse, dependencies=[Csrf])
def post_api_key(web: WebDep, form: FormDep) -> HTMLResponse:
    """Create an API key and show it once."""
    web.require_role("admin")
    name = form.get("name", "").strip()[:200] or "key"
    key = create_api_key(web.session, web.workspace, name)
    web.session.commit()
    return settings_page(web, new_key=key, notice=f"API key “{name}” created. Copy it now: it is not shown again.")


@router.post("/settings/apikeys/{key_id}/revoke", response_class=HTMLResponse, dependencies=[Csrf])
def post_revoke_key(key_id: int, web: WebDep) -> HTMLResponse:
    """Revoke an API key at once."""
    web.require_role("admin")
    key = web.session.get(ApiKey, key_id)
    if key is None or key.workspace_id != web.workspace.id:
        raise WebError(404, "There is no such API key.")
    if key.revoked_at is None:
        key.revoked_at = web.now
        web.session.commit()
    return settings_page(web, notice=f"API key “{key.name}” revoked.")


@router.post("/settings/users", response_class=HTMLResponse, dependencies=[Csrf])
def post_user(web: WebDep, form: FormDep) -> HTMLResponse:
    """Add a user to the workspace."""
    web.require_role("admin")
    try:
        create_user(web.session, web.workspace, form.get("email", ""), form.get("role", ""), form.get("password", ""),
                    name=form.get("name") or None)
    except ProblemError as error:
        web.session.rollback()
        return settings_page(web, user_error=error.detail, status_code=422)
    web.session.commit()
    return settings_page(web, notice="User added.")


def hours_from_form(form: dict[str, str]) -> dict[str, list[list[str]]]:
    """Business hours from the team form: the same opening interval on each ticked weekday ({} = always open)."""
    if form.get("hours_mode") == "always":
        return {}
    interval = [form.get("opens", "09:00"), form.get("closes", "18:00")]
    return {str(day): [interval] for day in range(7) if form.get(f"day_{day}") == "on"}


def team_changes(form: dict[str, str]) -> dict[str, Any]:
    """A team's fields from its form (empty targets mean none)."""
    def target(name: str) -> int | None:
        """A response target in minutes, or None."""
        value = form.get(name, "").strip()
        if value and not value.isdigit():
            raise ProblemError(422, "Invalid team", f"{name.replace('_', ' ')} must be a whole number of minutes")
        return int(value) if value else None

    return {"name": form.get("name", ""), "time_zone": form.get("time_zone", "UTC").strip() or "UTC",
            "hours": hours_from_form(form),
            "first_response_target_minutes": target("first_response_target_minutes"),
            "next_response_target_minutes": target("next_response_target_minutes")}


def hours_text(hours: dict[str, Any] | None) -> str:
    """Business hours in words: 'Mon–Fri 09:00–18:00' style, or 'always open'."""
    if not hours:
        return "Always open"
    by_interval: dict[str, list[str]] = {}
    for day in sorted(hours, key=int):
        label = ", ".join(f"{start}–{end}" for start, end in hours[day]) or "closed"
        by_interval.setdefault(label, []).append(WEEKDAYS[int(day)])
    return "; ".join(f"{' '.join(days)} {label}" for label, days in by_interval.items())


templates.env.globals["hours_text"] = hours_text


@router.post("/settings/teams", response_class=HTMLResponse, dependencies=[Csrf])
def post_team(web: WebDep, form: FormDep) -> HTMLResponse:
    """Add a team with its business hours and response targets."""
    web.require_role("admin")
    try:
        changes = team_changes(form)
        teams_service.create_team(web.session, web.workspace.id, changes.pop("name"), now=web.now, **changes)
    except ProblemError as error:
        web.session.rollback()
        return settings_page(web, team_error=error.detail, status_code=422)
    web.session.commit()
    return settings_page(web, notice="Team added.")


@router.post("/settings/teams/{team_id}", response_class=HTMLResponse, dependencies=[Csrf])
def post_team_update(team_id: int, web: WebDep, form: FormDep) -> HTMLResponse:
    """Change a team's name, business hours, time zone or targets."""
    web.require_role("admin")
    try:
        team = teams_service.find_team(web.session, web.workspace.id, team_id)
        teams_service.update_team(web.session, team, team_changes(form))
    except ProblemError as error:
        web.session.rollback()
        return settings_page(web, team_error=error.detail, status_code=422)
    web.session.commit()
    return settings_page(web, notice="Team saved.")


# -- phone simulator -------------------------------------------------------------------------


def simulator_kinds(session: Session, workspace_id: int) -> list[str]:
    """The channel kinds the workspace has an enabled simulator channel for."""
    return sorted(set(session.scalars(select(Channel.kind).where(
        Channel.workspace_id == workspace_id, Channel.provider == "simulator", Channel.enabled.is_(True)))))


def phone_thread(web: Web, contact: Contact | None) -> dict[str, Any]:
    """What the simulated phone shows: its messages, and the business's replies once they left."""
    if contact is None:
        return {"phone_messages": [], "waiting": []}
    rows = web.session.scalars(select(Message).where(Message.contact_id == contact.id)
                               .order_by(Message.created_at, Message.id)).all()
    shown = [row for row in rows if row.direction == "inbound" or row.status in PHONE_VISIBLE_STATUSES]
    waiting = [row for row in rows if row.direction == "outbound" and row.status in ("pending", "deferred", "sending")]
    return {"phone_messages": shown, "waiting": waiting}


@router.get("/phone", response_class=HTMLResponse)
def get_phone(web: WebDep, number: str = "") -> HTMLResponse:
    """The phone simulator: pick or type a number, write as the customer, watch replies arrive."""
    contact = find_phone_contact(web, number) if number else None
    contacts = web.session.scalars(select(Contact).where(Contact.workspace_id == web.workspace.id,
                                                         Contact.phone.is_not(None))
                                   .order_by(Contact.last_inbound_at.desc().nulls_last(), Contact.name).limit(50)).all()
    return web.render("phone.html", nav="phone", number=contact.phone if contact else number, contact=contact,
                      contacts=contacts, kinds=simulator_kinds(web.session, web.workspace.id), error=None,
                      label=data.contact_label, **phone_thread(web, contact))


def find_phone_contact(web: Web, number: str) -> Contact | None:
    """The contact with that phone number, if the number is valid and known."""
    try:
        phone = parse_contact_phone(number, web.workspace.default_country, "number")
    except ProblemError:
        return None
    return web.session.scalar(select(Contact).where(Contact.workspace_id == web.workspace.id,
                                                    Contact.phone == phone.e164))


@router.get("/phone/thread", response_class=HTMLResponse)
def get_phone_thread(web: WebDep, number: str = "") -> HTMLResponse:
    """The simulated phone's screen alone (live refresh)."""
    contact = find_phone_contact(web, number) if number else None
    return web.render("partials/phone_thread.html", contact=contact, **phone_thread(web, contact))


@router.post("/phone/send", response_class=HTMLResponse, dependencies=[Csrf])
def post_phone_send(web: WebDep, form: FormDep) -> Response:
    """The simulated customer writes to the business through the real inbound pipeline."""
    number, text = form.get("number", "").strip(), form.get("text", "")
    kind = form.get("channel", "sms") if form.get("channel") in data.CHANNELS else "sms"
    try:
        phone = parse_contact_phone(number, web.workspace.default_country, "number")
        if not text.strip():
            raise ProblemError(422, "Empty message", "write something first")
        channel = simulator_channel(web.session, web.workspace.id, kind)
        adapter = web.runtime.channels.adapter_for(channel, web.runtime)
        event = adapter.receive_from_phone(phone.e164, text, web.now)
        receive_message(web.session, web.workspace, channel, event, web.now)
        web.session.commit()
    except ProblemError as error:
        web.session.rollback()
        contact = find_phone_contact(web, number) if number else None
        return web.render("partials/phone_thread.html", contact=contact, error=error.detail,
                          **phone_thread(web, contact), status_code=200)
    contact = find_phone_contact(web, phone.e164)
    response = web.render("partials/phone_thread.html", contact=contact, error=None, **phone_thread(web, contact))
    response.headers["HX-Push-Url"] = "/phone?" + urlencode({"number": phone.e164})
    return response


# -- mounting --------------------------------------------------------------------------------


def error_page(request: Request, status: int, message: str) -> Response:
    """A small error page (or a fragment for htmx requests)."""
    if is_htmx(request):
        return HTMLResponse(templates.get_template("partials/error.html").render(message=message), status_code=status)
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status)


def mount_web(app: FastAPI) -> None:
    """Add the web UI to the app: sessions, security headers, static files, pages and their error handling."""
    runtime: Runtime = app.state.runtime

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _error: LoginRequired) -> Response:
        """Send people who are not logged in to the login page (htmx: a full-page redirect)."""
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def _csrf_rejected(request: Request, _error: CsrfRejected) -> Response:
        """A forged or stale form: refuse it."""
        return error_page(request, 403, "This form has expired or did not come from Mannerly. Reload the page and try again.")

    @app.exception_handler(WebError)
    async def _web_error(request: Request, error: WebError) -> Response:
        """Errors of the pages, for people."""
        return error_page(request, error.status, error.message)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    # Imported here: these page modules import this one.
    from mannerly.web import automations as automation_pages
    from mannerly.web import campaigns as campaign_pages
    from mannerly.web import reports as report_pages

    app.include_router(automation_pages.router)
    app.include_router(campaign_pages.router)
    app.include_router(report_pages.router)
    app.add_middleware(SessionMiddleware, secret_key=session_secret(runtime.settings), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=False)
    app.add_middleware(SecurityHeadersMiddleware)
