"""A conversation: the one thread per contact that the unified inbox shows (S1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
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
