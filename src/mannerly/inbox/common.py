"""Small pieces the inbox, bots, CSAT and auto-reply share: events, settings, the reply channel, automatic sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.errors import ProblemError
from mannerly.kit.language import guess_language
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    ServiceSettings,
    Team,
    Workspace,
)
from mannerly.policy.types import Source
from mannerly.workspaces.service import SERVICE_TOPIC

# Languages with built-in wording for automatic messages; others get English.
SERVICE_LANGUAGES = ("en", "ko", "id", "el")


def actor_label(actor: int | str | None) -> tuple[str, int | None]:
    """The stored actor text and user id for an actor given as a user id, a label or None."""
    if actor is None:
        return "system", None
    if isinstance(actor, int):
        return f"user:{actor}", actor
    if actor.startswith("user:") and actor[5:].isdigit():
        return actor, int(actor[5:])
    return actor, None


def record_event(session: Session, conversation: Conversation, kind: str, *, actor: int | str | None,
                 detail: dict[str, Any] | None = None, now: datetime) -> ConversationEvent:
    """Append one event to a conversation's timeline."""
    label, user_id = actor_label(actor)
    event = ConversationEvent(workspace_id=conversation.workspace_id, conversation_id=conversation.id, kind=kind,
                              actor=label, actor_user_id=user_id, detail=dict(detail or {}), occurred_at=now)
    session.add(event)
    return event


def service_settings(session: Session, workspace_id: int) -> ServiceSettings:
    """The workspace's service settings; an unsaved row with the defaults when none was stored."""
    row = session.scalar(select(ServiceSettings).where(ServiceSettings.workspace_id == workspace_id))
    if row is not None:
        return row
    return ServiceSettings(workspace_id=workspace_id, csat_questions={}, auto_reply_texts={}, menu={},
                           default_team_id=None, csat_enabled=True, bots_enabled=True, faq_threshold=0.6)


def editable_service_settings(session: Session, workspace_id: int) -> ServiceSettings:
    """The workspace's stored service settings row, created with the defaults when missing."""
    row = session.scalar(select(ServiceSettings).where(ServiceSettings.workspace_id == workspace_id))
    if row is None:
        row = service_settings(session, workspace_id)
        session.add(row)
        session.flush()
    return row


def conversation_team(session: Session, conversation: Conversation) -> Team | None:
    """The team that owns the conversation, else the workspace's default team, else None."""
    if conversation.team_id is not None:
        team = session.get(Team, conversation.team_id)
        if team is not None and team.workspace_id == conversation.workspace_id:
            return team
    settings = service_settings(session, conversation.workspace_id)
    if settings.default_team_id is not None:
        return session.get(Team, settings.default_team_id)
    return None


def reply_channel(session: Session, conversation: Conversation) -> str | None:
    """The channel kind the customer last wrote on, so answers go back the same way."""
    return session.scalar(
        select(Message.channel_kind).where(Message.conversation_id == conversation.id,
                                           Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
    )


def customer_language(workspace: Workspace, contact: Contact, text: str | None = None) -> str:
    """The language to answer in: the script of what the customer wrote, else the contact's language."""
    preferences = (contact.language, workspace.default_language)
    language = guess_language(text, *preferences) if text else (contact.language or workspace.default_language)
    return language if language in SERVICE_LANGUAGES else "en"


def send_automatic(session: Session, workspace: Workspace, conversation: Conversation, text: str, *,
                   source: Source, language: str | None, now: datetime) -> Message | None:
    """Queue a bot, auto-reply or automation message through the engine; None when it cannot be built."""
    contact = session.get(Contact, conversation.contact_id)
    if contact is not None and contact.global_opt_out:
        # The engine would refuse it anyway; skipping keeps a refused row out of every later message's history.
        return None
    intent = OutboundIntent(topic=SERVICE_TOPIC, contact_id=conversation.contact_id, text=text, language=language,
                            channel=reply_channel(session, conversation), reply=True, source=source)
    try:
        return submit(session, workspace, intent, now)
    except ProblemError:
        # A workspace without the service topic (or a contact without any address) gets no automatic answers.
        return None


def bot_state(conversation: Conversation) -> dict[str, Any]:
    """A copy of the conversation's bot state (JSON columns are replaced, never edited in place)."""
    return dict(conversation.bot_state or {})


def set_bot_state(conversation: Conversation, state: dict[str, Any]) -> None:
    """Store a new bot state on the conversation."""
    conversation.bot_state = dict(state)
