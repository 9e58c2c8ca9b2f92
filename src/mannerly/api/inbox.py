"""The inbox over REST: the list, assignment, statuses, notes, replies, teams, canned replies, FAQ and metrics.

Ids of other workspaces answer 404, like ids that do not exist. Users named in bodies
(agents, note authors) must belong to the caller's workspace (422 otherwise).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.api.messages import message_out
from mannerly.api.schemas import MessageOut
from mannerly.bots.faq import add_faq_entry, list_faq
from mannerly.bots.flows import suggested_flows
from mannerly.errors import invalid
from mannerly.inbox import metrics as inbox_metrics
from mannerly.inbox import service as inbox
from mannerly.teams.service import create_team, list_teams, team_member_ids

router = APIRouter(tags=["inbox"])

StatusName = Literal["open", "pending", "resolved"]


class UserRef(BaseModel):
    """A user in short."""

    id: int
    name: str


class TeamRef(BaseModel):
    """A team in short."""

    id: int
    name: str


class InboxRowOut(BaseModel):
    """One conversation in the inbox list."""

    conversation_id: int
    contact_id: int
    contact_name: str | None
    contact_phone: str | None
    status: str
    unread_count: int
    waiting_seconds: int | None = Field(description="How long the customer has waited for an answer; null = not waiting")
    overdue: bool
    sla_due_at: datetime | None
    team: TeamRef | None
    assignee: UserRef | None
    last_message_at: datetime | None
    last_message_text: str | None
    last_message_direction: str | None
    last_message_channel: str | None


class AssignIn(BaseModel):
    """Who takes the conversation; a field left out stays as it is, null clears it."""

    model_config = ConfigDict(extra="forbid")

    user_id: int | None = None
    team_id: int | None = None
    actor_user_id: int | None = Field(None, description="Who assigns (for the timeline); default: the API key")


class StatusIn(BaseModel):
    """A new status."""

    model_config = ConfigDict(extra="forbid")

    status: StatusName
    actor_user_id: int | None = None


class ConversationStateOut(BaseModel):
    """A conversation's inbox state after a change."""

    id: int
    status: str
    assignee_user_id: int | None
    team_id: int | None
    waiting_since: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    csat_message_id: int | None = Field(None, description="The CSAT question queued when resolving")


class NoteIn(BaseModel):
    """An internal note."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(..., min_length=1, max_length=10_000)
    author_user_id: int | None = None


class NoteOut(BaseModel):
    """A stored note."""

    id: int
    conversation_id: int
    author_user_id: int | None
    body: str
    created_at: datetime


class ReplyIn(BaseModel):
    """An agent's reply."""

    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(..., description="The agent replying")
    text: str = Field(..., min_length=1, max_length=5_000)


class ReplyOut(BaseModel):
    """The stored reply with the engine's decision; a refused one has status "rejected"."""

    message: MessageOut
    suggested_flows: list[str] = Field(default_factory=list,
                                       description="Bot flows to offer instead, when personal data was asked for")


class TimelineItemOut(BaseModel):
    """One entry of a conversation's history."""

    kind: str
    at: datetime
    text: str
    direction: str | None = None
    source: str | None = None
    marker: str | None = None
    status: str | None = None
    status_detail: str | None = None
    channel: str | None = None
    redacted: bool = False
    notice: str | None = None
    actor: str | None = None
    message_id: int | None = None


class TeamIn(BaseModel):
    """A new team."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100)
    hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='Weekday ("0" = Monday) to ["HH:MM", "HH:MM"] intervals; {} = always open')
    time_zone: str = "UTC"
    first_response_target_minutes: int | None = Field(None, ge=1, le=43_200)
    next_response_target_minutes: int | None = Field(None, ge=1, le=43_200)
    member_user_ids: list[int] = Field(default_factory=list)


class TeamOut(BaseModel):
    """A team."""

    id: int
    name: str
    hours: dict[str, Any]
    time_zone: str
    first_response_target_minutes: int | None
    next_response_target_minutes: int | None
    member_user_ids: list[int]


class CannedIn(BaseModel):
    """A new canned reply."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100)
    shortcut: str = Field(..., min_length=1, max_length=50)
    body: str = Field(..., min_length=1, max_length=5_000)
    language: str | None = Field(None, max_length=8)


class CannedOut(BaseModel):
    """A canned reply."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    shortcut: str
    body: str
    language: str | None


class FaqIn(BaseModel):
    """A new FAQ entry; put other phrasings of the question on further lines."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., min_length=1, max_length=2_000)
    answer: str = Field(..., min_length=1, max_length=2_000)
    language: str = Field("en", max_length=8)
    enabled: bool = True


class FaqOut(BaseModel):
    """An FAQ entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    question: str
    answer: str
    language: str
    enabled: bool


class AgentMetricsOut(BaseModel):
    """One agent's numbers."""

    user_id: int
    name: str
    first_responses: int
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    resolved: int
    resolution_median_seconds: float | None
    csat_average: float | None
    csat_count: int


def _state(conversation, csat_message_id: int | None = None) -> ConversationStateOut:
    """The API form of a conversation's inbox state."""
    return ConversationStateOut(
        id=conversation.id, status=conversation.status, assignee_user_id=conversation.assignee_user_id,
        team_id=conversation.team_id, waiting_since=conversation.waiting_since,
        first_response_at=conversation.first_response_at, resolved_at=conversation.resolved_at,
        csat_message_id=csat_message_id,
    )


def _team_out(session, team) -> TeamOut:
    """The API form of a team."""
    return TeamOut(id=team.id, name=team.name, hours=team.hours or {}, time_zone=team.time_zone,
                   first_response_target_minutes=team.first_response_target_minutes,
                   next_response_target_minutes=team.next_response_target_minutes,
                   member_user_ids=team_member_ids(session, team))


@router.get("/v1/inbox", response_model=list[InboxRowOut], summary="The inbox list")
def get_inbox(session: SessionDep, workspace: WorkspaceDep, now: NowDep,
              view: str = Query("all", pattern=r"^(all|mine|unassigned|team:\d+)$"),
              user_id: int | None = Query(None, description="The agent, for view=mine"),
              status: StatusName | None = None,
              channel: Literal["sms", "whatsapp", "messenger"] | None = None,
              limit: int = Query(200, ge=1, le=500)) -> list[InboxRowOut]:
    """Conversations with unread counts, waiting time and SLA state, most recent activity first."""
    rows = inbox.list_inbox(session, workspace.id, user_id=user_id, view=view, status=status, channel=channel,
                            now=now, limit=limit)
    return [InboxRowOut(
        conversation_id=row.conversation.id, contact_id=row.contact.id, contact_name=row.contact.name,
        contact_phone=row.contact.phone, status=row.conversation.status, unread_count=row.unread_count,
        waiting_seconds=row.waiting_seconds, overdue=row.overdue, sla_due_at=row.sla_due_at,
        team=TeamRef(id=row.team.id, name=row.team.name) if row.team else None,
        assignee=UserRef(id=row.assignee.id, name=row.assignee.name) if row.assignee else None,
        last_message_at=row.conversation.last_message_at,
        last_message_text=(row.last_message.final_text or row.last_message.body) if row.last_message else None,
        last_message_direction=row.last_message.direction if row.last_message else None,
        last_message_channel=row.last_message.channel_kind if row.last_message else None,
    ) for row in rows]


@router.get("/v1/conversations/{conversation_id}/timeline", response_model=list[TimelineItemOut],
            summary="A conversation's timeline")
def get_timeline(conversation_id: int, session: SessionDep, workspace: WorkspaceDep) -> list[TimelineItemOut]:
    """Messages, notes, assignment and status events and consent changes, oldest first."""
    conversation = inbox.find_conversation(session, workspace.id, conversation_id)
    return [TimelineItemOut(kind=item.kind, at=item.at, text=item.text, direction=item.direction, source=item.source,
                            marker=item.marker, status=item.status, status_detail=item.status_detail,
                            channel=item.channel, redacted=item.redacted, notice=item.notice, actor=item.actor,
                            message_id=item.message.id if item.message else None)
            for item in inbox.conversation_timeline(session, conversation)]


@router.post("/v1/conversations/{conversation_id}/assign", response_model=ConversationStateOut,
             summary="Assign to an agent or a team")
def post_assign(conversation_id: int, body: AssignIn, session: SessionDep, workspace: WorkspaceDep,
                now: NowDep) -> ConversationStateOut:
    """Set the agent and/or team; fields left out stay, null clears."""
    conversation = inbox.find_conversation(session, workspace.id, conversation_id)
    given = body.model_fields_set
    if not given & {"user_id", "team_id"}:
        raise invalid("user_id", "give user_id, team_id or both")
    actor: int | str = body.actor_user_id if body.actor_user_id is not None else "api"
    inbox.assign(session, conversation,
                 user_id=body.user_id if "user_id" in given else inbox.KEEP,
                 team_id=body.team_id if "team_id" in given else inbox.KEEP, actor=actor, now=now)
    session.commit()
    return _state(conversation)


@router.post("/v1/conversations/{conversation_id}/status", response_model=ConversationStateOut,
             summary="Open, pend or resolve")
def post_status(conversation_id: int, body: StatusIn, session: SessionDep, workspace: WorkspaceDep,
                now: NowDep) -> ConversationStateOut:
    """Change the status; resolving sends the CSAT question through the engine."""
    conversation = inbox.find_conversation(session, workspace.id, conversation_id)
    question = inbox.set_status(session, workspace, conversation, body.status, actor_user_id=body.actor_user_id,
                                now=now)
    session.commit()
    return _state(conversation, question.id if question else None)


@router.post("/v1/conversations/{conversation_id}/notes", response_model=NoteOut, status_code=201,
             summary="Add an internal note")
def post_note(conversation_id: int, body: NoteIn, session: SessionDep, workspace: WorkspaceDep,
              now: NowDep) -> NoteOut:
    """A note only agents see."""
    conversation = inbox.find_conversation(session, workspace.id, conversation_id)
    note = inbox.add_note(session, conversation, author_user_id=body.author_user_id, body=body.body, now=now)
    session.commit()
    return NoteOut(id=note.id, conversation_id=conversation.id, author_user_id=note.author_user_id, body=note.body,
                   created_at=note.created_at)


@router.post("/v1/conversations/{conversation_id}/reply", response_model=ReplyOut, status_code=201,
             summary="Reply as an agent")
def post_reply(conversation_id: int, body: ReplyIn, session: SessionDep, workspace: WorkspaceDep,
               now: NowDep) -> ReplyOut:
    """The reply goes through the engine; a refused one is stored as rejected and says why."""
    conversation = inbox.find_conversation(session, workspace.id, conversation_id)
    message = inbox.reply(session, workspace, conversation, user_id=body.user_id, text=body.text, now=now)
    session.commit()
    return ReplyOut(message=message_out(session, message), suggested_flows=suggested_flows(message))


@router.get("/v1/teams", response_model=list[TeamOut], summary="List teams")
def get_teams(session: SessionDep, workspace: WorkspaceDep) -> list[TeamOut]:
    """The workspace's teams by name."""
    return [_team_out(session, team) for team in list_teams(session, workspace.id)]


@router.post("/v1/teams", response_model=TeamOut, status_code=201, summary="Create a team")
def post_team(body: TeamIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> TeamOut:
    """A team with business hours (in its time zone) and response targets."""
    team = create_team(session, workspace.id, body.name, hours=body.hours, time_zone=body.time_zone,
                       first_response_target_minutes=body.first_response_target_minutes,
                       next_response_target_minutes=body.next_response_target_minutes,
                       member_user_ids=tuple(body.member_user_ids), now=now)
    session.commit()
    return _team_out(session, team)


@router.get("/v1/canned-replies", response_model=list[CannedOut], summary="List canned replies")
def get_canned(session: SessionDep, workspace: WorkspaceDep, language: str | None = None) -> list[CannedOut]:
    """Canned replies by shortcut; with a language, that language's and the language-free ones."""
    return [CannedOut.model_validate(row) for row in inbox.canned_replies(session, workspace.id, language)]


@router.post("/v1/canned-replies", response_model=CannedOut, status_code=201, summary="Create a canned reply")
def post_canned(body: CannedIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> CannedOut:
    """A saved answer; placeholders like [First Name] are filled per contact."""
    row = inbox.add_canned_reply(session, workspace.id, name=body.name, shortcut=body.shortcut, body=body.body,
                                 language=body.language, now=now)
    session.commit()
    return CannedOut.model_validate(row)


@router.get("/v1/faq", response_model=list[FaqOut], summary="List FAQ entries")
def get_faq(session: SessionDep, workspace: WorkspaceDep) -> list[FaqOut]:
    """The questions the bot answers."""
    return [FaqOut.model_validate(row) for row in list_faq(session, workspace.id)]


@router.post("/v1/faq", response_model=FaqOut, status_code=201, summary="Add an FAQ entry")
def post_faq(body: FaqIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> FaqOut:
    """A question (phrasings on separate lines) and the bot's answer."""
    row = add_faq_entry(session, workspace.id, question=body.question, answer=body.answer, language=body.language,
                        enabled=body.enabled, now=now)
    session.commit()
    return FaqOut.model_validate(row)


@router.get("/v1/metrics/agents", response_model=list[AgentMetricsOut], summary="Agent metrics")
def get_agent_metrics(session: SessionDep, workspace: WorkspaceDep, now: NowDep,
                      since: AwareDatetime | None = Query(None, description="Default: 30 days ago"),
                      until: AwareDatetime | None = Query(None, description="Default: now")) -> list[AgentMetricsOut]:
    """First response time (median, p90), resolution time and CSAT per agent."""
    until = until or now
    since = since or until - timedelta(days=30)
    if since >= until:
        raise invalid("since", "since must be before until")
    return [AgentMetricsOut(**vars(row))
            for row in inbox_metrics.agent_metrics(session, workspace.id, since=since, until=until)]
