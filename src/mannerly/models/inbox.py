"""What agents add to a conversation: internal notes, the event timeline, canned replies (S2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

CONVERSATION_EVENT_KINDS: tuple[str, ...] = (
    "assigned", "status", "response", "handoff", "bot", "csat", "auto_reply", "flow",
)


class ConversationNote(Base):
    """An internal note on a conversation; customers never see it."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation_id_created_at", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ConversationEvent(Base):
    """Something that happened to a conversation (assignment, status, response times) for the timeline and metrics."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        Index("ix_conversation_events_conversation_id_occurred_at", "conversation_id", "occurred_at"),
        Index("ix_conversation_events_kind_occurred_at", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # one of CONVERSATION_EVENT_KINDS
    # Who did it: "user:<id>", "api:<key name>", "customer", "bot" or "system".
    actor: Mapped[str] = mapped_column(String(200))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)


class CannedReply(Base):
    """A saved answer agents insert with a shortcut; may hold placeholders such as [First Name]."""

    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("workspace_id", "shortcut", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    shortcut: Mapped[str] = mapped_column(String(50))  # typed as /shortcut in the composer
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))  # None: any language
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
