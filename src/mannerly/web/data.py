"""What the web pages show and do, behind one thin layer.

The inbox services (`mannerly.inbox.service`, `mannerly.inbox.metrics`) own the behaviour:
inbox rows with SLA timers, the timeline with notes, assignment to agents and teams, status
changes with CSAT, canned replies and the side panel. This module calls them when they are
installed and otherwise falls back to what the core models offer, and turns either answer
into the small view types below, so the templates never depend on which one answered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.consent.service import consent_history
from mannerly.contacts.state import contact_addresses, contact_time_zones, enabled_channel_kinds
from mannerly.messages.service import OutboundIntent, check, submit
from mannerly.models import (
    AuditEvent,
    Consent,
    ConsentEvent,
    Contact,
    Conversation,
    Message,
    Topic,
    User,
    Workspace,
)
from mannerly.policy.types import Decision, Source
from mannerly.workspaces.service import SERVICE_TOPIC, workspace_policy

# Without per-team targets, a customer waiting longer than this is overdue.
DEFAULT_FIRST_RESPONSE_TARGET = timedelta(minutes=15)
INBOX_LIMIT = 200
STATUSES = ("open", "pending", "resolved")
CHANNELS = ("sms", "whatsapp", "messenger")


def _optional_module(name: str) -> Any:
    """The module when it is installed, else None (the inbox services land separately)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def inbox_service() -> Any:
    """mannerly.inbox.service, or None."""
    return _optional_module("mannerly.inbox.service")


def metrics_module() -> Any:
    """mannerly.inbox.metrics, or None."""
    return _optional_module("mannerly.inbox.metrics")


def _service_function(name: str) -> Any:
    """A function of the inbox service, or None when the service or the function is missing."""
    service = inbox_service()
    return getattr(service, name, None) if service is not None else None


def wiring() -> dict[str, bool]:
    """Which page actions run on the inbox services (True) and which on the fallback (False)."""
    names = ("list_inbox", "conversation_timeline", "assign", "set_status", "add_note", "reply",
             "canned_replies", "render_canned", "side_panel", "list_teams")
    wired = {name: _service_function(name) is not None for name in names}
    wired["agent_metrics"] = getattr(metrics_module(), "agent_metrics", None) is not None
    return wired


# -- view types ----------------------------------------------------------------------------------


@dataclass
class InboxItem:
    """One row of the conversation list."""

    conversation_id: int
    contact_id: int
    contact_name: str
    contact_phone: str | None
    preview: str
    preview_inbound: bool
    last_at: datetime | None
    unread: int
    waiting_seconds: int | None
    overdue: bool
    status: str
    channel: str | None
    assignee_name: str | None = None
    team_name: str | None = None
    sla_due_at: datetime | None = None


@dataclass
class TimelineEntry:
    """One line of a conversation: a message, a consent change, a note or an event (assigned, resolved …)."""

    kind: str  # "message" | "consent" | "note" | "event"
    at: datetime | None
    text: str
    direction: str | None = None  # messages: "inbound" | "outbound"
    source: str | None = None  # customer, agent, api, bot, auto_reply, campaign, keyword_reply …
    status: str | None = None  # outbound delivery status
    status_detail: str | None = None
    channel: str | None = None
    send_at: datetime | None = None
    redacted: bool = False
    author: str | None = None
    message_id: int | None = None
    reasons: list[dict] = field(default_factory=list)


@dataclass
class ConsentLine:
    """The current consent of a contact for one topic, with the evidence of the last change."""

    topic: str
    label: str
    kind: str
    status: str  # opted_in | opted_out | unknown
    evidence: str | None = None
    at: datetime | None = None


@dataclass
class LocalTime:
    """The customer's clock in one of their time zones, and whether it is inside the sending window."""

    zone: str
    now: datetime
    in_window: bool


@dataclass
class Panel:
    """The side panel of a conversation: who the customer is and how to reach them politely."""

    contact: Contact
    local_times: list[LocalTime]
    in_window: bool | None
    window_text: str
    consents: list[ConsentLine]
    global_opt_out: bool
    attributes: dict[str, Any]
    tags: list[str]
    reachable: list[str]
    csat: list[str] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Canned:
    """A canned reply the agent can insert."""

    id: int
    title: str
    body: str
    language: str | None = None


# -- helpers -------------------------------------------------------------------------------------


def contact_label(contact: Contact | None) -> str:
    """How a contact is named in lists: name, else phone, else a neutral word."""
    if contact is None:
        return "Unknown"
    return contact.name or contact.phone or contact.messenger_psid or f"Contact {contact.id}"


def _as_datetime(value: Any) -> datetime | None:
    """A datetime or None from whatever the service returned."""
    return value if isinstance(value, datetime) else None


def workspace_users(session: Session, workspace_id: int) -> list[User]:
    """The workspace's users, by name."""
    return list(session.scalars(select(User).where(User.workspace_id == workspace_id).order_by(User.name, User.id)))


def list_teams(session: Session, workspace_id: int) -> list[tuple[int, str]]:
    """The workspace's teams as (id, name); empty until the inbox service provides teams."""
    function = _service_function("list_teams")
    if function is None:
        return []
    return [(team.id, team.name) for team in function(session, workspace_id)]


def _audit(session: Session, workspace_id: int, actor: str, action: str, conversation: Conversation,
           detail: dict, now: datetime) -> None:
    """Record what a person did to a conversation (the fallback keeps notes and events here)."""
    session.add(AuditEvent(workspace_id=workspace_id, actor=actor, action=action,
                           target=f"conversation:{conversation.id}", detail=detail, occurred_at=now))
    session.flush()


# -- the inbox list -----------------------------------------------------------------------------


def list_inbox(session: Session, workspace: Workspace, user: User, *, view: str = "all", status: str | None = None,
               channel: str | None = None, now: datetime) -> list[InboxItem]:
    """The conversation list for the filters, newest activity first."""
    function = _service_function("list_inbox")
    if function is not None:
        rows = function(session, workspace.id, user_id=user.id, view=view, status=status, channel=channel, now=now)
        return [_item_from_service(row) for row in rows]
    return _fallback_inbox(session, workspace, user, view=view, status=status, channel=channel, now=now)


def _item_from_service(row: Any) -> InboxItem:
    """An InboxItem from the service's InboxRow."""
    conversation, contact, last = row.conversation, row.contact, row.last_message
    assignee, team = getattr(row, "assignee", None), getattr(row, "team", None)
    return InboxItem(
        conversation_id=conversation.id, contact_id=contact.id, contact_name=contact_label(contact),
        contact_phone=contact.phone,
        preview=(last.final_text or last.body) if last is not None else "",
        preview_inbound=last is not None and last.direction == "inbound",
        last_at=conversation.last_message_at, unread=row.unread_count or 0,
        waiting_seconds=row.waiting_seconds, overdue=bool(row.overdue), status=conversation.status,
        channel=last.channel_kind if last is not None else None,
        assignee_name=getattr(assignee, "name", None) or getattr(assignee, "email", None),
        team_name=getattr(team, "name", None), sla_due_at=_as_datetime(getattr(row, "sla_due_at", None)),
    )


def _fallback_inbox(session: Session, workspace: Workspace, user: User, *, view: str, status: str | None,
                    channel: str | None, now: datetime) -> list[InboxItem]:
    """The list from the core tables: waiting time since the customer's unanswered message."""
    last_id = (select(Message.conversation_id, func.max(Message.id).label("last_id"))
               .where(Message.workspace_id == workspace.id).group_by(Message.conversation_id).subquery())
    query = (select(Conversation, Contact, Message)
             .join(Contact, Contact.id == Conversation.contact_id)
             .join(last_id, last_id.c.conversation_id == Conversation.id)
             .join(Message, Message.id == last_id.c.last_id)
             .where(Conversation.workspace_id == workspace.id))
    if view == "mine":
        query = query.where(Conversation.assignee_user_id == user.id)
    elif view == "unassigned":
        query = query.where(Conversation.assignee_user_id.is_(None))
    if status in STATUSES:
        query = query.where(Conversation.status == status)
    if channel in CHANNELS:
        query = query.where(Message.channel_kind == channel)
    rows = session.execute(query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
                           .limit(INBOX_LIMIT)).all()
    users = {row.id: row for row in workspace_users(session, workspace.id)}
    last_agent = _last_agent_replies(session, [conversation.id for conversation, _c, _m in rows])
    items = []
    for conversation, contact, last in rows:
        waiting = None
        inbound_at = conversation.last_inbound_at
        answered_at = last_agent.get(conversation.id)
        if conversation.status != "resolved" and inbound_at and (answered_at is None or answered_at < inbound_at):
            waiting = max(0, int((now - inbound_at).total_seconds()))
        assignee = users.get(conversation.assignee_user_id) if conversation.assignee_user_id else None
        items.append(InboxItem(
            conversation_id=conversation.id, contact_id=contact.id, contact_name=contact_label(contact),
            contact_phone=contact.phone, preview=last.final_text or last.body,
            preview_inbound=last.direction == "inbound", last_at=conversation.last_message_at,
            unread=conversation.unread_count or 0, waiting_seconds=waiting,
            overdue=waiting is not None and waiting > DEFAULT_FIRST_RESPONSE_TARGET.total_seconds(),
            status=conversation.status, channel=last.channel_kind,
            assignee_name=assignee.name if assignee else None,
            sla_due_at=inbound_at + DEFAULT_FIRST_RESPONSE_TARGET if waiting is not None else None,
        ))
    return items


def _last_agent_replies(session: Session, conversation_ids: list[int]) -> dict[int, datetime]:
    """When a person (or a bot) last answered each conversation."""
    if not conversation_ids:
        return {}
    rows = session.execute(
        select(Message.conversation_id, func.max(Message.created_at))
        .where(Message.conversation_id.in_(conversation_ids), Message.direction == "outbound",
               Message.source.in_(("agent", "bot")), Message.status != "rejected")
        .group_by(Message.conversation_id)
    ).all()
    return dict(rows)


def unread_total(session: Session, workspace_id: int) -> int:
    """Unread customer messages across the workspace's open conversations (shown in the left nav)."""
    return session.scalar(select(func.coalesce(func.sum(Conversation.unread_count), 0))
                          .where(Conversation.workspace_id == workspace_id, Conversation.status != "resolved")) or 0


def mark_read(session: Session, conversation: Conversation, user: User, now: datetime) -> None:
    """The agent opened the conversation: nothing in it is unread any more."""
    function = _service_function("mark_read")
    if function is not None:
        function(session, conversation, user_id=user.id, now=now)
    elif conversation.unread_count:
        conversation.unread_count = 0
        session.flush()


# -- one conversation --------------------------------------------------------------------------


def find_conversation(session: Session, workspace_id: int, conversation_id: int) -> Conversation | None:
    """The workspace's conversation with that id, or None."""
    conversation = session.get(Conversation, conversation_id)
    return conversation if conversation is not None and conversation.workspace_id == workspace_id else None


def timeline(session: Session, conversation: Conversation) -> list[TimelineEntry]:
    """Everything that happened in a conversation, oldest first."""
    function = _service_function("conversation_timeline")
    if function is not None:
        return [_entry_from_service(item) for item in function(session, conversation)]
    return _fallback_timeline(session, conversation)


def _entry_from_service(item: Any) -> TimelineEntry:
    """A TimelineEntry from the service's TimelineItem (a message, a consent event, a note or an event)."""
    message = getattr(item, "message", None)
    if message is not None:
        entry = message_entry(message)
        entry.author = getattr(item, "author", None) or entry.author
        return entry
    kind = getattr(item, "kind", "event")
    return TimelineEntry(kind=kind if kind in ("consent", "note", "event") else "event",
                         at=_as_datetime(getattr(item, "at", None)),
                         text=str(getattr(item, "text", None) or getattr(item, "body", None) or ""),
                         author=getattr(item, "author", None))


def message_entry(message: Message) -> TimelineEntry:
    """A message as a timeline line."""
    decision = message.decision or {}
    return TimelineEntry(
        kind="message", at=message.created_at, text=message.final_text or message.body,
        direction=message.direction, source=message.source, status=message.status,
        status_detail=message.status_detail, channel=message.channel_kind, send_at=message.send_at,
        redacted=message.redacted, message_id=message.id,
        reasons=[reason for reason in decision.get("reasons", []) if reason.get("verdict") in ("defer", "reject")],
    )


def consent_sentence(status: str, topic_label: str | None, source: str, wording: str | None) -> str:
    """A consent change in words, e.g. 'Opted out of Promotions by replying "STOP"'."""
    what = f"of {topic_label}" if status == "opted_out" else f"to {topic_label}"
    scope = what if topic_label else ("of all messages" if status == "opted_out" else "to messages again")
    verb = "Opted out" if status == "opted_out" else "Opted in"
    if source == "keyword" and wording:
        how = f' by replying "{wording.strip()}"'
    elif wording:
        how = f" ({source}: {wording.strip()})"
    else:
        how = f" ({source})"
    return f"{verb} {scope}{how}"


def _fallback_timeline(session: Session, conversation: Conversation) -> list[TimelineEntry]:
    """Messages, consent events and audited notes/events of the conversation, merged by time."""
    entries = [message_entry(message) for message in session.scalars(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.created_at, Message.id))]
    contact = session.get(Contact, conversation.contact_id)
    labels = dict(session.execute(select(Topic.id, Topic.label).where(Topic.workspace_id == conversation.workspace_id)).all())
    for event, _name in consent_history(session, contact):
        entries.append(TimelineEntry(kind="consent", at=event.occurred_at,
                                     text=consent_sentence(event.status, labels.get(event.topic_id), event.source,
                                                           event.wording)))
    users = {user.id: user.name for user in workspace_users(session, conversation.workspace_id)}
    for audit in session.scalars(select(AuditEvent).where(
            AuditEvent.workspace_id == conversation.workspace_id,
            AuditEvent.target == f"conversation:{conversation.id}").order_by(AuditEvent.id)):
        author = users.get(int(audit.actor)) if audit.actor.isdigit() else audit.actor
        if audit.action == "conversation.note":
            entries.append(TimelineEntry(kind="note", at=audit.occurred_at, text=audit.detail.get("body", ""),
                                         author=author))
        else:
            entries.append(TimelineEntry(kind="event", at=audit.occurred_at, text=audit.detail.get("text", audit.action),
                                         author=author))
    entries.sort(key=lambda entry: (entry.at is None, entry.at or datetime.min))
    return entries


def assign(session: Session, conversation: Conversation, *, user_id: int | None, team_id: int | None,
           actor: User, now: datetime) -> None:
    """Give the conversation to an agent and/or a team (None clears)."""
    function = _service_function("assign")
    if function is not None:
        function(session, conversation, user_id=user_id, team_id=team_id, actor=actor, now=now)
        return
    conversation.assignee_user_id = user_id
    assignee = session.get(User, user_id) if user_id else None
    text = f"Assigned to {assignee.name}" if assignee else "Unassigned"
    _audit(session, conversation.workspace_id, str(actor.id), "conversation.assign", conversation,
           {"text": text, "user_id": user_id}, now)


def set_status(session: Session, workspace: Workspace, conversation: Conversation, status: str, *, actor: User,
               now: datetime) -> None:
    """Open, pending or resolved (resolving sends the CSAT question when the service is installed)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    function = _service_function("set_status")
    if function is not None:
        function(session, workspace, conversation, status, actor_user_id=actor.id, now=now)
        return
    conversation.status = status
    _audit(session, workspace.id, str(actor.id), "conversation.status", conversation,
           {"text": f"Marked {status}", "status": status}, now)


def add_note(session: Session, conversation: Conversation, *, author: User, body: str, now: datetime) -> None:
    """An internal note only colleagues see."""
    function = _service_function("add_note")
    if function is not None:
        function(session, conversation, author_user_id=author.id, body=body, now=now)
        return
    _audit(session, conversation.workspace_id, str(author.id), "conversation.note", conversation, {"body": body}, now)


def reply_channel(session: Session, conversation: Conversation) -> str | None:
    """The channel the customer last wrote on (replies go back the same way)."""
    return session.scalar(select(Message.channel_kind).where(
        Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))


def reply_intent(session: Session, conversation: Conversation, text: str) -> OutboundIntent:
    """What an agent's reply asks the engine for: a service reply on the customer's channel."""
    return OutboundIntent(topic=SERVICE_TOPIC, contact_id=conversation.contact_id, text=text, reply=True,
                          source=Source.AGENT, channel=reply_channel(session, conversation))


def check_reply(session: Session, workspace: Workspace, conversation: Conversation, text: str,
                now: datetime) -> Decision:
    """The engine's decision for the draft, as if sent now (writes nothing)."""
    return check(session, workspace, reply_intent(session, conversation, text), now)


def reply(session: Session, workspace: Workspace, conversation: Conversation, *, user: User, text: str,
          now: datetime) -> Message:
    """Send the agent's reply through the engine (it may go now, later, or not at all)."""
    function = _service_function("reply")
    if function is not None:
        return function(session, workspace, conversation, user_id=user.id, text=text, now=now)
    message = submit(session, workspace, reply_intent(session, conversation, text), now)
    if message.status != "rejected" and conversation.status == "resolved":
        conversation.status = "open"
    return message


def canned_replies(session: Session, workspace_id: int, language: str | None) -> list[Canned]:
    """The canned replies for the customer's language (none until the inbox service provides them)."""
    function = _service_function("canned_replies")
    if function is None:
        return []
    rows = function(session, workspace_id, language)
    return [Canned(id=row.id, title=getattr(row, "title", None) or getattr(row, "name", "") or f"Reply {row.id}",
                   body=row.body, language=getattr(row, "language", None)) for row in rows]


def render_canned(session: Session, workspace_id: int, canned_id: int, contact: Contact) -> str | None:
    """A canned reply personalised for the contact, or None when it does not exist."""
    function = _service_function("render_canned")
    lookup = _service_function("canned_replies")
    if function is None or lookup is None:
        return None
    row = next((row for row in lookup(session, workspace_id, None) if row.id == canned_id), None)
    return function(session, row, contact) if row is not None else None


# -- the side panel --------------------------------------------------------------------------


def side_panel(session: Session, workspace: Workspace, contact: Contact, now: datetime) -> Panel:
    """Local time and sending window, consent with evidence, attributes, tags, reachable channels."""
    panel = _fallback_panel(session, workspace, contact, now)
    function = _service_function("side_panel")
    if function is not None:
        _merge_service_panel(panel, function(session, workspace, contact, now))
    return panel


def _merge_service_panel(panel: Panel, data: Any) -> None:
    """Take what the service knows beyond the core tables (CSAT, SLA, team …) into the panel."""
    values = data if isinstance(data, dict) else getattr(data, "__dict__", {})
    for key in ("csat", "csat_scores"):
        scores = values.get(key)
        if scores:
            panel.csat = [str(score) for score in (scores if isinstance(scores, (list, tuple)) else [scores])]
    known = {"contact", "local_times", "local_time", "in_window", "window_text", "consents", "global_opt_out",
             "attributes", "tags", "reachable", "reachable_channels", "csat", "csat_scores"}
    for key, value in values.items():
        if key not in known and isinstance(value, (str, int, float)) and value != "":
            panel.extra.append((key.replace("_", " ").capitalize(), str(value)))


def _fallback_panel(session: Session, workspace: Workspace, contact: Contact, now: datetime) -> Panel:
    """The side panel from the core tables and the workspace policy."""
    policy = workspace_policy(workspace)
    local_times = []
    for zone in contact_time_zones(contact):
        local = now.astimezone(ZoneInfo(zone))
        workdays = policy.workdays if policy.workdays is not None else frozenset(range(5))
        inside = policy.window_start <= local.time() < policy.window_end and local.weekday() in workdays
        local_times.append(LocalTime(zone=zone, now=local, in_window=inside))
    in_window = all(item.in_window for item in local_times) if local_times else None
    window_text = f"Sending window {policy.window_start:%H:%M}–{policy.window_end:%H:%M} on working days"
    consents = _consent_lines(session, workspace.id, contact)
    channels = enabled_channel_kinds(session, workspace.id)
    reachable = sorted(kind for kind in contact_addresses(contact) if kind in channels)
    return Panel(contact=contact, local_times=local_times, in_window=in_window, window_text=window_text,
                 consents=consents, global_opt_out=contact.global_opt_out,
                 attributes=dict(contact.attributes or {}), tags=list(contact.tags or []), reachable=reachable)


def _consent_lines(session: Session, workspace_id: int, contact: Contact) -> list[ConsentLine]:
    """Every topic of the workspace with the contact's consent and the evidence of the last change."""
    topics = session.scalars(select(Topic).where(Topic.workspace_id == workspace_id).order_by(Topic.kind, Topic.label))
    rows = session.execute(select(Consent, ConsentEvent)
                           .outerjoin(ConsentEvent, ConsentEvent.id == Consent.last_event_id)
                           .where(Consent.contact_id == contact.id)).all()
    current = {consent.topic_id: (consent, event) for consent, event in rows}
    lines = []
    for topic in topics:
        consent, event = current.get(topic.id, (None, None))
        evidence = None
        if event is not None:
            evidence = f"{event.source}: {event.wording}" if event.wording else event.source
        lines.append(ConsentLine(topic=topic.name, label=topic.label, kind=topic.kind,
                                 status=consent.status if consent else "unknown", evidence=evidence,
                                 at=event.occurred_at if event is not None else None))
    return lines


# -- metrics ----------------------------------------------------------------------------------


def agent_metrics(session: Session, workspace_id: int, now: datetime) -> list[dict[str, Any]]:
    """Per-agent first response, resolution time and CSAT, when the metrics module is installed."""
    function = getattr(metrics_module(), "agent_metrics", None)
    if function is None:
        return []
    rows = function(session, workspace_id, now=now)
    return [row if isinstance(row, dict) else dict(getattr(row, "__dict__", {})) for row in rows]


def conversations_with_contact_ids(session: Session, contact_ids: list[int]) -> dict[int, int]:
    """contact id → conversation id, for links from the contact list."""
    if not contact_ids:
        return {}
    return dict(session.execute(select(Conversation.contact_id, Conversation.id)
                                .where(Conversation.contact_id.in_(contact_ids))).all())


def contact_message_counts(session: Session, contact_ids: list[int]) -> dict[int, int]:
    """contact id → number of messages, for the contact list."""
    if not contact_ids:
        return {}
    return dict(session.execute(select(Message.contact_id, func.count(Message.id))
                                .where(Message.contact_id.in_(contact_ids)).group_by(Message.contact_id)).all())
