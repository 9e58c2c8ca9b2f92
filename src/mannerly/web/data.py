"""What the web pages show and do: a thin layer over the inbox, teams and metrics services.

The behaviour lives in `mannerly.inbox.service` (inbox rows with SLA timers, the timeline,
assignment, status with CSAT, notes, replies, canned replies, the side panel),
`mannerly.teams.service` and `mannerly.inbox.metrics`. This module calls them and turns their
answers into the small view types below, so the templates depend on one shape only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.inbox import metrics as inbox_metrics
from mannerly.inbox import service as inbox
from mannerly.inbox.common import reply_channel as service_reply_channel
from mannerly.messages.service import OutboundIntent, check
from mannerly.models import Contact, Conversation, CsatResponse, Message, Team, User, Workspace
from mannerly.policy.types import Decision, Source
from mannerly.teams import service as teams_service
from mannerly.workspaces.service import SERVICE_TOPIC

STATUSES = ("open", "pending", "resolved")
CHANNELS = ("sms", "whatsapp", "messenger")
METRICS_PERIOD = timedelta(days=30)
KEEP = inbox.KEEP


@dataclass
class InboxItem:
    """One row of the conversation list."""

    conversation_id: int
    contact_id: int
    contact_name: str
    contact_phone: str | None
    preview: str
    preview_inbound: bool
    preview_prefix: str  # "You: ", "Auto-reply: " … before an outbound preview; "" for the customer's
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
    marker: str | None = None  # "bot", "auto-reply", "campaign" … for messages no person wrote
    status: str | None = None  # outbound delivery status
    status_detail: str | None = None
    channel: str | None = None
    send_at: datetime | None = None
    notice: str | None = None  # e.g. the redaction notice
    author: str | None = None
    message_id: int | None = None
    holds: list[dict] = field(default_factory=list)  # why a deferred message waits


@dataclass
class Panel:
    """The side panel: the customer's clock and window, consent with evidence, attributes, channels, CSAT."""

    contact: Contact
    local_times: list[Any]  # items with .zone and .now
    in_window: bool
    window_label: str
    window_opens_at: datetime | None
    reply_allowed_until: datetime | None
    whatsapp_window_until: datetime | None
    consents: list[Any]  # items with .label, .kind, .status, .evidence_text, .evidence
    global_opt_out: bool
    attributes: dict[str, Any]
    tags: list[str]
    reachable: list[str]
    language: str
    csat: list[int] = field(default_factory=list)


@dataclass
class Canned:
    """A canned reply the agent can insert."""

    id: int
    title: str
    shortcut: str
    language: str | None


def contact_label(contact: Contact | None) -> str:
    """How a contact is named in lists: name, else phone, else a neutral word."""
    if contact is None:
        return "Unknown"
    return contact.name or contact.phone or contact.messenger_psid or f"Contact {contact.id}"


def workspace_users(session: Session, workspace_id: int) -> list[User]:
    """The workspace's users, by name."""
    return list(session.scalars(select(User).where(User.workspace_id == workspace_id).order_by(User.name, User.id)))


def list_teams(session: Session, workspace_id: int) -> list[Team]:
    """The workspace's teams."""
    return teams_service.list_teams(session, workspace_id)


# -- the inbox list -----------------------------------------------------------------------------


def list_inbox(session: Session, workspace: Workspace, user: User, *, view: str = "all", status: str | None = None,
               channel: str | None = None, now: datetime) -> list[InboxItem]:
    """The conversation list for the filters, newest activity first."""
    rows = inbox.list_inbox(session, workspace.id, user_id=user.id, view=view, status=status, channel=channel, now=now)
    return [_inbox_item(row) for row in rows]


def _inbox_item(row: inbox.InboxRow) -> InboxItem:
    """An InboxItem from the service's InboxRow."""
    conversation, contact, last = row.conversation, row.contact, row.last_message
    return InboxItem(
        conversation_id=conversation.id, contact_id=contact.id, contact_name=contact_label(contact),
        contact_phone=contact.phone,
        preview=((last.final_text or last.body) if last.direction == "outbound" else last.body) if last else "",
        preview_inbound=last is not None and last.direction == "inbound",
        preview_prefix=preview_prefix(last),
        last_at=conversation.last_message_at, unread=row.unread_count or 0, waiting_seconds=row.waiting_seconds,
        overdue=bool(row.overdue), status=conversation.status, channel=last.channel_kind if last else None,
        assignee_name=row.assignee.name if row.assignee else None, team_name=row.team.name if row.team else None,
        sla_due_at=row.sla_due_at,
    )


def preview_prefix(message: Message | None) -> str:
    """Who wrote the last message, as the list shows it: the customer needs no prefix, others do."""
    if message is None or message.direction == "inbound":
        return ""
    marker = inbox.SOURCE_MARKERS.get(message.source) or "sent"
    label = "You" if message.source == "agent" else marker[:1].upper() + marker[1:]
    return f"{label}{' (not sent)' if message.status == 'rejected' else ''}: "


def unread_total(session: Session, workspace_id: int) -> int:
    """Unread customer messages across the workspace's unresolved conversations (the left nav badge)."""
    return session.scalar(select(func.coalesce(func.sum(Conversation.unread_count), 0))
                          .where(Conversation.workspace_id == workspace_id, Conversation.status != "resolved")) or 0


def mark_read(session: Session, conversation: Conversation) -> None:
    """The agent opened the conversation: nothing in it is unread any more."""
    inbox.mark_read(session, conversation)


# -- one conversation --------------------------------------------------------------------------


def find_conversation(session: Session, workspace_id: int, conversation_id: int) -> Conversation | None:
    """The workspace's conversation with that id, or None."""
    conversation = session.get(Conversation, conversation_id)
    return conversation if conversation is not None and conversation.workspace_id == workspace_id else None


def timeline(session: Session, conversation: Conversation) -> list[TimelineEntry]:
    """Everything that happened in a conversation, oldest first."""
    return [_timeline_entry(item) for item in inbox.conversation_timeline(session, conversation)]


def _timeline_entry(item: inbox.TimelineItem) -> TimelineEntry:
    """A TimelineEntry from the service's TimelineItem."""
    decision = item.decision or {}
    holds = [reason for reason in decision.get("reasons", []) if reason.get("verdict") in ("defer", "reject")]
    return TimelineEntry(
        kind=item.kind, at=item.at, text=item.text, direction=item.direction, source=item.source, marker=item.marker,
        status=item.status, status_detail=item.status_detail, channel=item.channel, send_at=item.send_at,
        notice=item.notice, author=item.actor, message_id=item.message.id if item.message is not None else None,
        holds=holds,
    )


def assign(session: Session, conversation: Conversation, *, user_id: Any = KEEP, team_id: Any = KEEP,
           actor: User, now: datetime) -> None:
    """Give the conversation to an agent and/or a team (None clears one, KEEP leaves it)."""
    inbox.assign(session, conversation, user_id=user_id, team_id=team_id, actor=actor.id, now=now)


def set_status(session: Session, workspace: Workspace, conversation: Conversation, status: str, *, actor: User,
               now: datetime) -> Message | None:
    """Open, pending or resolved; resolving sends the CSAT question (returned)."""
    return inbox.set_status(session, workspace, conversation, status, actor_user_id=actor.id, now=now)


def add_note(session: Session, conversation: Conversation, *, author: User, body: str, now: datetime) -> None:
    """An internal note only colleagues see."""
    inbox.add_note(session, conversation, author_user_id=author.id, body=body, now=now)


def reply_channel(session: Session, conversation: Conversation) -> str | None:
    """The channel the customer last wrote on (replies go back the same way)."""
    return service_reply_channel(session, conversation)


def check_reply(session: Session, workspace: Workspace, conversation: Conversation, text: str,
                now: datetime) -> Decision:
    """The engine's decision for the draft, exactly as inbox.reply would ask for it (writes nothing)."""
    intent = OutboundIntent(topic=SERVICE_TOPIC, contact_id=conversation.contact_id, text=text,
                            channel=reply_channel(session, conversation), reply=True, source=Source.AGENT)
    return check(session, workspace, intent, now)


def reply(session: Session, workspace: Workspace, conversation: Conversation, *, user: User, text: str,
          now: datetime) -> Message:
    """Send the agent's reply through the engine (it may go now, later, or not at all)."""
    return inbox.reply(session, workspace, conversation, user_id=user.id, text=text, now=now)


def canned_replies(session: Session, workspace_id: int, language: str | None) -> list[Canned]:
    """The canned replies for the customer's language and the language-free ones."""
    return [Canned(id=row.id, title=row.name, shortcut=row.shortcut, language=row.language)
            for row in inbox.canned_replies(session, workspace_id, language)]


def render_canned(session: Session, workspace_id: int, canned_id: int, contact: Contact) -> str | None:
    """A canned reply personalised for the contact, or None when the workspace has no such reply."""
    row = next((row for row in inbox.canned_replies(session, workspace_id) if row.id == canned_id), None)
    return inbox.render_canned(session, row, contact) if row is not None else None


# -- the side panel --------------------------------------------------------------------------


def side_panel(session: Session, workspace: Workspace, contact: Contact, now: datetime,
               conversation: Conversation | None = None) -> Panel:
    """Local time and sending window, consent with evidence, attributes, tags, channels and CSAT scores."""
    data = inbox.side_panel(session, workspace, contact, now)
    scores: list[int] = []
    if conversation is not None:
        scores = list(session.scalars(select(CsatResponse.score).where(CsatResponse.conversation_id == conversation.id)
                                      .order_by(CsatResponse.created_at, CsatResponse.id)))
    return Panel(contact=contact, local_times=list(data.local_times), in_window=data.in_window,
                 window_label=data.window_label, window_opens_at=data.window_opens_at,
                 reply_allowed_until=data.reply_allowed_until, whatsapp_window_until=data.whatsapp_window_until,
                 consents=list(data.consents), global_opt_out=data.global_opt_out, attributes=data.attributes,
                 tags=data.tags, reachable=data.reachable, language=data.language, csat=scores)


def consent_sentence(event: Any, topic_label: str | None) -> str:
    """A consent change in words, e.g. 'Opted out of Promotions by replying "STOP"'."""
    return inbox.consent_sentence(event, topic_label)


# -- metrics ----------------------------------------------------------------------------------


def agent_metrics(session: Session, workspace_id: int, now: datetime) -> list[inbox_metrics.AgentMetrics]:
    """Per-agent first response, resolution time and CSAT over the last 30 days."""
    return inbox_metrics.agent_metrics(session, workspace_id, since=now - METRICS_PERIOD, until=now + timedelta(seconds=1))


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
