"""Quick replies (O3): the short answers a template offers, the messages waiting for one, and the answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk


class QuickReplySet(Base):
    """The answers a template (by name, every language) offers: answer word -> what it means."""

    __tablename__ = "quick_reply_sets"
    __table_args__ = (UniqueConstraint("workspace_id", "template_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    template_name: Mapped[str] = mapped_column(String(128))
    # e.g. {"YES": "confirmed", "NO": "reschedule"} or {"1": "1", …, "5": "5"} for a 1–5 scale.
    options: Mapped[dict[str, str]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class QuickReplyPrompt(Base):
    """An outbound message that asked for a quick reply; the next matching answer of the contact closes it."""

    __tablename__ = "quick_reply_prompts"
    __table_args__ = (Index("ix_quick_reply_prompts_contact_id_created_at", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    template_name: Mapped[str] = mapped_column(String(128))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class QuickReplyAnswer(Base):
    """A customer's parsed answer to a prompt: the option chosen and what it means."""

    __tablename__ = "quick_reply_answers"
    __table_args__ = (Index("ix_quick_reply_answers_workspace_id_created_at", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    prompt_id: Mapped[int] = mapped_column(ForeignKey("quick_reply_prompts.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    template_name: Mapped[str] = mapped_column(String(128))
    option: Mapped[str] = mapped_column(String(32))  # the declared answer, e.g. "YES" or "4"
    meaning: Mapped[str] = mapped_column(String(64))  # e.g. "confirmed"
    raw_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
