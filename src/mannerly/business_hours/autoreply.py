"""The out-of-hours auto-reply: one automatic message saying when a person will answer (S4, E8).

It goes through messages.service.submit as Source.AUTO_REPLY, so the engine's
auto_reply_guard is the authority on "one per conversation per period". The same
period is checked here first so a second message at night does not leave a refused
auto-reply row in every conversation's history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mannerly.business_hours.hours import is_open, next_open
from mannerly.business_hours.wording import auto_reply_text
from mannerly.contacts.state import contact_time_zones
from mannerly.inbox.common import conversation_team, record_event, send_automatic, service_settings
from mannerly.models import Contact, Conversation, Message, Workspace
from mannerly.policy.types import Source
from mannerly.workspaces.service import workspace_policy


def maybe_auto_reply(session: Session, workspace: Workspace, conversation: Conversation, contact: Contact,
                     language: str, now: datetime) -> Message | None:
    """Queue the out-of-hours reply when the conversation's team is closed; None when no reply is due."""
    team = conversation_team(session, conversation)
    if team is None or not team.hours or is_open(team, now):
        return None
    period = workspace_policy(workspace).auto_reply_period
    if conversation.last_auto_reply_at is not None and now - conversation.last_auto_reply_at < period:
        return None
    zones = contact_time_zones(contact)
    settings = service_settings(session, workspace.id)
    text = auto_reply_text(language, next_open(team, now), now, team.time_zone or "UTC",
                           zones[0] if zones else None, (settings.auto_reply_texts or {}).get(language))
    message = send_automatic(session, workspace, conversation, text, source=Source.AUTO_REPLY, language=language,
                             now=now)
    if message is not None and message.status != "rejected":
        conversation.last_auto_reply_at = now
        record_event(session, conversation, "auto_reply", actor="bot",
                     detail={"message_id": message.id, "team_id": team.id}, now=now)
    return message
