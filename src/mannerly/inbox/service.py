"""The unified inbox (S1–S3, S7): what the web UI and the REST API call.

Lists with filters, waiting times and SLA; one timeline per conversation mixing messages,
notes, events and consent changes; assignment; statuses (resolving asks for CSAT); notes;
agent replies through the engine; canned replies; the side panel about the customer.
Functions flush but never commit: the request or task commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from mannerly.consent.service import consent_history
from mannerly.contacts.state import contact_addresses, contact_time_zones, enabled_channel_kinds
from mannerly.csat.service import request_csat
from mannerly.errors import invalid, not_found
from mannerly.inbox.common import (
    conversation_team,
    customer_language,
    record_event,
    reply_channel,
    service_settings,
)
from mannerly.inbox.sla import is_overdue, sla_due_at, waiting_seconds
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import (
    CONVERSATION_STATUSES,
    CannedReply,
    Consent,
    ConsentEvent,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationNote,
    Message,
    Team,
    TeamMember,
    Topic,
    User,
    Workspace,
)
from mannerly.policy.calendar import DailyWindow, Schedule, country_workdays, describe_days, next_allowed, zone
from mannerly.policy.types import Source
from mannerly.templates.render import TemplateRenderError, TemplateSecurityError, TemplateSyntaxProblem
from mannerly.templates.render import UnknownTemplateVariable, render_template
from mannerly.workspaces.service import SERVICE_TOPIC, workspace_policy

VIEWS = ("all", "mine", "unassigned")  # plus "team:<id>"
# Sources shown with a marker in the timeline, so agents see what no person wrote.
SOURCE_MARKERS = {
    "bot": "bot", "auto_reply": "auto-reply", "campaign": "campaign", "automation": "automation",
    "keyword_reply": "keyword reply", "api": "API",
}
# Event kinds kept for metrics only, not shown in the timeline.
HIDDEN_EVENT_KINDS = frozenset({"response", "auto_reply", "bot"})
REDACTION_NOTICE = "Personal data (card number or national id) was removed from this message before it was stored."


class _Keep:
    """Marker for "leave this field as it is" in assign()."""

    def __repr__(self) -> str:
        """Readable in signatures."""
        return "KEEP"


KEEP: Any = _Keep()


@dataclass
class InboxRow:
    """One line of the inbox list."""

    conversation: Conversation
    contact: Contact
    last_message: Message | None
    unread_count: int
    waiting_seconds: int | None  # None when the customer is not waiting for an answer
    overdue: bool
    sla_due_at: datetime | None
    team: Team | None
    assignee: User | None


@dataclass
class TimelineItem:
    """One entry of a conversation's history: a message, a note, an event or a consent change."""

    kind: str  # "message" | "note" | "event" | "consent"
    at: datetime
    text: str  # the message text, the note, or a plain sentence describing the event
    direction: str | None = None  # messages: "inbound" | "outbound"
    source: str | None = None  # messages: customer, agent, bot, auto_reply, campaign, automation, ...
    marker: str | None = None  # "bot", "auto-reply", "campaign", ... for messages no person wrote
    status: str | None = None  # outbound: pending, deferred, sent, delivered, failed, rejected ...
    status_detail: str | None = None
    channel: str | None = None
    send_at: datetime | None = None
    decision: dict[str, Any] | None = None
    redacted: bool = False
    notice: str | None = None  # e.g. the redaction notice
    actor: str | None = None  # who wrote the note / did the event
    message: Message | None = None
    note: ConversationNote | None = None
    event: ConversationEvent | None = None
    consent_event: ConsentEvent | None = None


@dataclass
class LocalTime:
    """The customer's clock in one of their time zones."""

    zone: str
    now: datetime  # aware, in that zone


@dataclass
class ConsentLine:
    """The customer's consent for one topic with the latest evidence."""

    topic: str
    label: str
    kind: str
    status: str  # opted_in | opted_out | unknown
    evidence: ConsentEvent | None
    evidence_text: str | None


@dataclass
class SidePanel:
    """What the agent sees beside a conversation about the customer."""

    contact: Contact
    local_times: list[LocalTime]
    in_window: bool
    window_label: str  # "09:00–20:00 on workdays (Mon–Fri)"
    window_opens_at: datetime | None  # UTC; None when inside the window (or no moment found)
    reply_allowed_until: datetime | None  # replies ignore the window until then (customer wrote recently)
    global_opt_out: bool
    consents: list[ConsentLine]
    attributes: dict[str, Any]
    tags: list[str]
    reachable: list[str]
    whatsapp_window_until: datetime | None
    language: str


# -- lookups ----------------------------------------------------------------------------------------


def find_conversation(session: Session, workspace_id: int, conversation_id: int) -> Conversation:
    """A conversation of this workspace, or a 404."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.workspace_id != workspace_id:
        raise not_found("conversation", conversation_id)
    return conversation


def _workspace_user(session: Session, workspace_id: int, user_id: int, field_name: str) -> User:
    """A user of this workspace, or a 422 on the field."""
    user = session.get(User, user_id)
    if user is None or user.workspace_id != workspace_id:
        raise invalid(field_name, f"no user {user_id} in this workspace")
    return user


def _workspace_team(session: Session, workspace_id: int, team_id: int, field_name: str) -> Team:
    """A team of this workspace, or a 422 on the field."""
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != workspace_id:
        raise invalid(field_name, f"no team {team_id} in this workspace")
    return team


# -- the list -----------------------------------------------------------------------------------------


def list_inbox(session: Session, workspace_id: int, *, user_id: int | None = None, view: str = "all",
               status: str | None = None, channel: str | None = None, now: datetime,
               limit: int = 200) -> list[InboxRow]:
    """Conversations for the inbox, most recent activity first, with waiting time and SLA state.

    view: "all", "mine" (assigned to user_id), "unassigned" (no agent), or "team:<id>".
    status: open | pending | resolved, or None for all. channel: only conversations with a
    message on that channel kind.
    """
    query = (select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
             .where(Conversation.workspace_id == workspace_id))
    if view == "mine":
        if user_id is None:
            raise invalid("view", "the 'mine' view needs the user")
        query = query.where(Conversation.assignee_user_id == user_id)
    elif view == "unassigned":
        query = query.where(Conversation.assignee_user_id.is_(None))
    elif view.startswith("team:") and view[5:].isdigit():
        query = query.where(Conversation.team_id == int(view[5:]))
    elif view != "all":
        raise invalid("view", "view must be all, mine, unassigned or team:<id>")
    if status is not None:
        if status not in CONVERSATION_STATUSES:
            raise invalid("status", f"status must be one of {', '.join(CONVERSATION_STATUSES)}")
        query = query.where(Conversation.status == status)
    if channel is not None:
        query = query.where(exists().where(Message.conversation_id == Conversation.id,
                                           Message.channel_kind == channel))
    query = query.order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc()).limit(limit)
    pairs = session.execute(query).all()
    if not pairs:
        return []
    conversation_ids = [conversation.id for conversation, _ in pairs]
    latest_ids = select(func.max(Message.id)).where(Message.conversation_id.in_(conversation_ids)) \
        .group_by(Message.conversation_id)
    last_messages = {message.conversation_id: message
                     for message in session.scalars(select(Message).where(Message.id.in_(latest_ids)))}
    teams = {team.id: team for team in session.scalars(select(Team).where(Team.workspace_id == workspace_id))}
    default_team = teams.get(service_settings(session, workspace_id).default_team_id or -1)
    assignee_ids = {conversation.assignee_user_id for conversation, _ in pairs if conversation.assignee_user_id}
    users = {user.id: user for user in session.scalars(select(User).where(User.id.in_(assignee_ids)))} \
        if assignee_ids else {}
    rows = []
    for conversation, contact in pairs:
        team = teams.get(conversation.team_id) if conversation.team_id else None
        sla_team = team or default_team
        rows.append(InboxRow(
            conversation=conversation, contact=contact, last_message=last_messages.get(conversation.id),
            unread_count=conversation.unread_count or 0, waiting_seconds=waiting_seconds(conversation, now),
            overdue=is_overdue(conversation, sla_team, now), sla_due_at=sla_due_at(conversation, sla_team),
            team=team, assignee=users.get(conversation.assignee_user_id) if conversation.assignee_user_id else None,
        ))
    return rows


# -- the timeline -------------------------------------------------------------------------------------


def consent_sentence(event: ConsentEvent, topic_label: str | None) -> str:
    """'Opted out of Promotions by replying STOP' and the like, from a consent ledger event."""
    verb = "Opted out of" if event.status == "opted_out" else "Opted in to"
    what = topic_label or "all messages"
    wording = (event.wording or "").strip()
    if event.source == "keyword":
        how = f"by replying {wording}" if wording else "by a keyword reply"
    elif event.source == "double_opt_in":
        how = f"by confirming with {wording}" if wording else "by confirming by text"
    elif event.source == "provider":
        how = f"as reported by the provider ({wording})" if wording else "as reported by the provider"
    elif event.source == "import":
        how = "(imported)"
    elif event.source == "agent":
        how = f"(recorded by {event.actor})"
    else:
        how = f"(recorded through the API by {event.actor})"
    return f"{verb} {what} {how}"


def _user_names(session: Session, workspace_id: int) -> dict[int, str]:
    """User id → name for the workspace."""
    return dict(session.execute(select(User.id, User.name).where(User.workspace_id == workspace_id)).all())


def _actor_name(actor: str | None, names: dict[int, str]) -> str:
    """A readable name for a stored actor label."""
    if not actor:
        return "someone"
    if actor.startswith("user:") and actor[5:].isdigit():
        return names.get(int(actor[5:]), f"user {actor[5:]}")
    return {"customer": "the customer", "bot": "the bot", "system": "Mannerly"}.get(actor, actor)


def event_sentence(event: ConversationEvent, names: dict[int, str], team_names: dict[int, str]) -> str:
    """A plain sentence for an assignment, status, hand-off, CSAT or flow event."""
    detail = event.detail or {}
    who = _actor_name(event.actor, names)
    if event.kind == "assigned":
        parts = []
        if "user_id" in detail:
            user_id = detail["user_id"]
            parts.append(f"to {names.get(user_id, f'user {user_id}')}" if user_id else "no agent")
        if "team_id" in detail:
            team_id = detail["team_id"]
            parts.append(f"team {team_names.get(team_id, detail.get('team_name', team_id))}" if team_id
                         else "no team")
        via = " from the menu" if detail.get("via") == "menu" else ""
        return f"Assigned {', '.join(parts) or 'nobody'} by {who}{via}"
    if event.kind == "status":
        if detail.get("reopened"):
            return f"Reopened by {who}"
        return f"Marked {detail.get('to')} by {who}"
    if event.kind == "handoff":
        return "The customer asked for a person; bots stay quiet until the conversation is resolved"
    if event.kind == "csat":
        return f"The customer rated the conversation {detail.get('score')}/5"
    if event.kind == "flow":
        step = detail.get("step")
        flow = "call-time" if detail.get("flow") == "call_time" else "branch-visit"
        if step == "started":
            return f"The {flow} flow was started by {who}"
        if step == "answered":
            return f"The customer prefers a call {detail.get('call_time')}"
        if step == "booked":
            return f"The customer booked a branch visit: {detail.get('slot')}"
        if step == "no_slots":
            return "No free branch-visit slots to offer"
    return f"{event.kind} by {who}"


def _message_item(message: Message) -> TimelineItem:
    """A message as a timeline entry."""
    outbound = message.direction == "outbound"
    return TimelineItem(
        kind="message", at=message.created_at, text=(message.final_text or message.body) if outbound else message.body,
        direction=message.direction, source=message.source, marker=SOURCE_MARKERS.get(message.source),
        status=message.status, status_detail=message.status_detail, channel=message.channel_kind,
        send_at=message.send_at, decision=message.decision, redacted=message.redacted,
        notice=REDACTION_NOTICE if message.redacted else None, message=message,
    )


def conversation_timeline(session: Session, conversation: Conversation) -> list[TimelineItem]:
    """Everything that happened in a conversation, oldest first: messages, notes, events, consent changes."""
    names = _user_names(session, conversation.workspace_id)
    team_names = dict(session.execute(select(Team.id, Team.name)
                                      .where(Team.workspace_id == conversation.workspace_id)).all())
    items: list[tuple[datetime, int, int, TimelineItem]] = []
    messages = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                               .order_by(Message.created_at, Message.id))
    for message in messages:
        items.append((message.created_at, 0, message.id, _message_item(message)))
    for note in session.scalars(select(ConversationNote).where(ConversationNote.conversation_id == conversation.id)):
        author = names.get(note.author_user_id, "someone") if note.author_user_id else "someone"
        items.append((note.created_at, 2, note.id, TimelineItem(kind="note", at=note.created_at, text=note.body,
                                                                actor=author, note=note)))
    for event in session.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == conversation.id)):
        if event.kind in HIDDEN_EVENT_KINDS:
            continue
        items.append((event.occurred_at, 3, event.id, TimelineItem(
            kind="event", at=event.occurred_at, text=event_sentence(event, names, team_names),
            actor=_actor_name(event.actor, names), event=event)))
    contact = session.get(Contact, conversation.contact_id)
    labels = dict(session.execute(select(Topic.name, Topic.label)
                                  .where(Topic.workspace_id == conversation.workspace_id)).all())
    for consent_event, topic_name in consent_history(session, contact):
        items.append((consent_event.occurred_at, 1, consent_event.id, TimelineItem(
            kind="consent", at=consent_event.occurred_at,
            text=consent_sentence(consent_event, labels.get(topic_name, topic_name) if topic_name else None),
            actor=consent_event.actor, consent_event=consent_event)))
    items.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
    return [item for *_, item in items]


# -- assignment, status, notes -----------------------------------------------------------------------


def assign(session: Session, conversation: Conversation, *, user_id: int | None = KEEP,
           team_id: int | None = KEEP, actor: int | str | None, now: datetime) -> Conversation:
    """Assign the conversation to an agent and/or a team; None clears one, a field left out stays."""
    detail: dict[str, Any] = {}
    if user_id is not KEEP and user_id != conversation.assignee_user_id:
        if user_id is not None:
            _workspace_user(session, conversation.workspace_id, user_id, "user_id")
        conversation.assignee_user_id = user_id
        detail["user_id"] = user_id
    if team_id is not KEEP and team_id != conversation.team_id:
        if team_id is not None:
            team = _workspace_team(session, conversation.workspace_id, team_id, "team_id")
            detail["team_name"] = team.name
        conversation.team_id = team_id
        detail["team_id"] = team_id
    if detail:
        record_event(session, conversation, "assigned", actor=actor, detail=detail, now=now)
    session.flush()
    return conversation


def set_status(session: Session, workspace: Workspace, conversation: Conversation, status: str, *,
               actor_user_id: int | None, now: datetime) -> Message | None:
    """Change the status; resolving sends the CSAT question (returned) through the engine.

    The CSAT question is Source.AUTOMATION with reply=True (see mannerly.csat.service).
    """
    if status not in CONVERSATION_STATUSES:
        raise invalid("status", f"status must be one of {', '.join(CONVERSATION_STATUSES)}")
    if actor_user_id is not None:
        _workspace_user(session, workspace.id, actor_user_id, "actor_user_id")
    previous = conversation.status
    if status == previous:
        return None
    actor: int | str = actor_user_id if actor_user_id is not None else "api"
    detail: dict[str, Any] = {"from": previous, "to": status}
    csat_message = None
    if status == "resolved":
        conversation.status = "resolved"
        conversation.resolved_at = now
        conversation.resolved_by_user_id = actor_user_id
        conversation.waiting_since = None
        conversation.bot_state = {}
        opened = conversation.opened_at or conversation.created_at
        detail["seconds_open"] = max(0, int((now - opened).total_seconds()))
        detail["agent_user_id"] = conversation.assignee_user_id or actor_user_id
        record_event(session, conversation, "status", actor=actor, detail=detail, now=now)
        contact = session.get(Contact, conversation.contact_id)
        csat_message = request_csat(session, workspace, conversation, customer_language(workspace, contact), now)
    else:
        if previous == "resolved":
            conversation.resolved_at = None
            conversation.first_response_at = None
            conversation.opened_at = now
            detail["reopened"] = True
        conversation.status = status
        record_event(session, conversation, "status", actor=actor, detail=detail, now=now)
    session.flush()
    return csat_message


def add_note(session: Session, conversation: Conversation, *, author_user_id: int | None, body: str,
             now: datetime) -> ConversationNote:
    """An internal note on the conversation (never sent to the customer)."""
    body = (body or "").strip()
    if not body:
        raise invalid("body", "a note needs some text")
    if len(body) > 10_000:
        raise invalid("body", "a note is at most 10000 characters")
    if author_user_id is not None:
        _workspace_user(session, conversation.workspace_id, author_user_id, "author_user_id")
    note = ConversationNote(workspace_id=conversation.workspace_id, conversation_id=conversation.id,
                            author_user_id=author_user_id, body=body, created_at=now)
    session.add(note)
    session.flush()
    return note


def mark_read(session: Session, conversation: Conversation) -> None:
    """The agent has seen the conversation: no unread messages."""
    conversation.unread_count = 0
    session.flush()


# -- replies ------------------------------------------------------------------------------------------


def reply(session: Session, workspace: Workspace, conversation: Conversation, *, user_id: int, text: str,
          now: datetime) -> Message:
    """An agent's reply through the engine (Source.AGENT, reply=True, topic "service"), with SLA bookkeeping.

    A refused reply is returned with status "rejected" and changes no timer. An accepted one
    (sent now or deferred) ends the customer's wait, sets first_response_at on the first answer
    of the episode, and assigns an unassigned conversation to the agent who answered.
    """
    if conversation.workspace_id != workspace.id:
        raise not_found("conversation", conversation.id)
    _workspace_user(session, workspace.id, user_id, "user_id")
    team = conversation_team(session, conversation)
    due = sla_due_at(conversation, team)
    intent = OutboundIntent(topic=SERVICE_TOPIC, contact_id=conversation.contact_id, text=text,
                            channel=reply_channel(session, conversation), reply=True, source=Source.AGENT)
    message = submit(session, workspace, intent, now)
    if message.status == "rejected":
        return message
    if conversation.waiting_since is not None:
        first = conversation.first_response_at is None
        record_event(session, conversation, "response", actor=user_id, detail={
            "first": first, "seconds": max(0, int((now - conversation.waiting_since).total_seconds())),
            "team_id": team.id if team else None, "due_at": due.isoformat() if due else None,
            "met": (now <= due) if due else None, "message_id": message.id,
        }, now=now)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    conversation.last_agent_reply_at = now
    conversation.waiting_since = None
    conversation.unread_count = 0
    if conversation.assignee_user_id is None:
        assign(session, conversation, user_id=user_id, actor=user_id, now=now)
    session.flush()
    return message


# -- canned replies ----------------------------------------------------------------------------------


def canned_replies(session: Session, workspace_id: int, language: str | None = None) -> list[CannedReply]:
    """The workspace's canned replies by shortcut; with a language, that language's and the language-free ones."""
    query = select(CannedReply).where(CannedReply.workspace_id == workspace_id)
    if language is not None:
        query = query.where(or_(CannedReply.language == language, CannedReply.language.is_(None)))
    return list(session.scalars(query.order_by(CannedReply.shortcut, CannedReply.language)))


def add_canned_reply(session: Session, workspace_id: int, *, name: str, shortcut: str, body: str,
                     language: str | None = None, now: datetime) -> CannedReply:
    """A new canned reply; the shortcut is unique per language."""
    shortcut = shortcut.strip().lstrip("/")
    if not name.strip() or not shortcut or not body.strip():
        raise invalid("body", "a canned reply needs a name, a shortcut and a body")
    clash = session.scalar(select(CannedReply.id).where(
        CannedReply.workspace_id == workspace_id, CannedReply.shortcut == shortcut,
        CannedReply.language.is_(None) if language is None else CannedReply.language == language))
    if clash is not None:
        raise invalid("shortcut", f"the shortcut '{shortcut}' is already used")
    row = CannedReply(workspace_id=workspace_id, name=name.strip(), shortcut=shortcut, body=body.strip(),
                      language=language, created_at=now)
    session.add(row)
    session.flush()
    return row


def render_canned(session: Session, canned_reply: CannedReply, contact: Contact) -> str:
    """The canned reply filled in for a contact; placeholders without a value stay for the agent to fill.

    A placeholder left in is what the engine's placeholder lint refuses, so nothing half-filled goes out.
    """
    data: dict[str, Any] = {"first_name": contact.first_name, "name": contact.name, "phone": contact.phone,
                            **(contact.attributes or {})}
    data = {key: value for key, value in data.items() if value not in (None, "")}
    try:
        return render_template(canned_reply.body, data)
    except (UnknownTemplateVariable, TemplateSyntaxProblem, TemplateSecurityError, TemplateRenderError):
        return canned_reply.body


# -- side panel ---------------------------------------------------------------------------------------


def side_panel(session: Session, workspace: Workspace, contact: Contact, now: datetime) -> SidePanel:
    """The customer's local time, sending window, consent with evidence, attributes, tags and channels."""
    policy = workspace_policy(workspace)
    zones = contact_time_zones(contact) or ("UTC",)
    workdays = policy.workdays if policy.workdays is not None else country_workdays(contact.country)
    window = DailyWindow(policy.window_start, policy.window_end)
    schedule = Schedule(window=window, workdays=workdays, skip_holidays=policy.skip_holidays,
                        country=contact.country)
    in_window = all(schedule.allows(now, name) for name in zones)
    opens_at = None if in_window else next_allowed(now, schedule, zones, now + policy.horizon)
    reply_until = None
    if contact.last_inbound_at is not None and now - contact.last_inbound_at < policy.reply_exemption:
        reply_until = contact.last_inbound_at + policy.reply_exemption
    whatsapp_until = None
    if contact.whatsapp_last_inbound_at is not None \
            and now - contact.whatsapp_last_inbound_at < policy.whatsapp_window:
        whatsapp_until = contact.whatsapp_last_inbound_at + policy.whatsapp_window
    return SidePanel(
        contact=contact,
        local_times=[LocalTime(zone=name, now=now.astimezone(zone(name))) for name in zones],
        in_window=in_window,
        window_label=f"{window.label()} {describe_days(workdays)}",
        window_opens_at=opens_at,
        reply_allowed_until=reply_until,
        global_opt_out=contact.global_opt_out,
        consents=_consent_lines(session, workspace, contact),
        attributes=dict(contact.attributes or {}),
        tags=list(contact.tags or []),
        reachable=sorted(contact_addresses(contact) & enabled_channel_kinds(session, workspace.id)),
        whatsapp_window_until=whatsapp_until,
        language=contact.language or workspace.default_language,
    )


def _consent_lines(session: Session, workspace: Workspace, contact: Contact) -> list[ConsentLine]:
    """Every topic of the workspace with the contact's consent and its newest evidence."""
    topics = session.scalars(select(Topic).where(Topic.workspace_id == workspace.id).order_by(Topic.name)).all()
    current = {row.topic_id: row for row in session.scalars(select(Consent).where(Consent.contact_id == contact.id))}
    latest: dict[int | None, ConsentEvent] = {}
    for event in session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)
                                 .order_by(ConsentEvent.occurred_at, ConsentEvent.id)):
        latest[event.topic_id] = event
    lines = []
    for topic in topics:
        row = current.get(topic.id)
        evidence = latest.get(topic.id)
        lines.append(ConsentLine(
            topic=topic.name, label=topic.label, kind=topic.kind, status=row.status if row else "unknown",
            evidence=evidence, evidence_text=consent_sentence(evidence, topic.label) if evidence else None,
        ))
    return lines


def team_member_rows(session: Session, workspace_id: int) -> dict[int, list[int]]:
    """Team id → member user ids, for the assignment picker."""
    members: dict[int, list[int]] = {}
    for team_id, user_id in session.execute(select(TeamMember.team_id, TeamMember.user_id)
                                            .where(TeamMember.workspace_id == workspace_id)):
        members.setdefault(team_id, []).append(user_id)
    return members


__all__ = [
    "KEEP", "ConsentLine", "InboxRow", "LocalTime", "SidePanel", "TimelineItem", "add_canned_reply", "add_note",
    "assign", "canned_replies", "consent_sentence", "conversation_timeline", "find_conversation", "list_inbox",
    "mark_read", "render_canned", "reply", "set_status", "side_panel", "team_member_rows",
]

