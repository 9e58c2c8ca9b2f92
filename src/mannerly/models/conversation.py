"""A conversation: the one thread per contact that the unified inbox shows (S1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

CONVERSATION_STATUSES: tuple[str, ...] = ("open", "pending", "resolved")


class Conversation(Base):
    """The history with one contact across all channels, its status and assignee."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    # One conversation per contact, across channels.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # one of CONVERSATION_STATUSES
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    last_message_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    last_auto_reply_at: Mapped[datetime | None]
    unread_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Inbox and service state (migration 0002; maintained by mannerly.inbox). team_id and
    # resolved_by_user_id carry no foreign key: SQLite cannot add one to an existing table without
    # rebuilding it; the services keep them consistent.
    team_id: Mapped[int | None] = mapped_column(index=True)
    opened_at: Mapped[datetime | None]  # when the current episode began (first message or reopening)
    first_response_at: Mapped[datetime | None]  # first agent reply of the current episode
    last_agent_reply_at: Mapped[datetime | None]
    waiting_since: Mapped[datetime | None]  # the customer's oldest unanswered message; None = not waiting
    resolved_at: Mapped[datetime | None]
    resolved_by_user_id: Mapped[int | None]
    csat_requested_at: Mapped[datetime | None]
    # Menus, flows and hand-off: {"handoff": true, "menu_sent_at": ..., "flow": {...}}.
    bot_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
