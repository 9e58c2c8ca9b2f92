"""What the bots work from: FAQ entries, per-workspace service settings, branch-visit slots and bookings (S4–S6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk


class FaqEntry(Base):
    """A question customers ask and the answer the bot gives; extra phrasings go on further lines of `question`."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ServiceSettings(Base):
    """A workspace's customer-service settings: wording per language, the routing menu, bots on or off."""

    __tablename__ = "service_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True,
                                              index=True)
    # Language -> "How did we do? Reply 1–5"; missing languages fall back to the built-in wording.
    csat_questions: Mapped[dict[str, str]] = mapped_column(default=dict)
    # Language -> auto-reply wording with {when} and {your_time}; missing languages use the built-in one.
    auto_reply_texts: Mapped[dict[str, str]] = mapped_column(default=dict)
    # {"options": [{"key": "1", "team_id": 3, "labels": {"en": "orders", "ko": "주문"}}, ...]}; {} = no menu.
    menu: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The team whose hours apply to conversations no team owns yet.
    default_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    csat_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    bots_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    faq_threshold: Mapped[float] = mapped_column(Float, default=0.5)


class BookingSlot(Base):
    """A time a branch can see customers, with room for `capacity` of them."""

    __tablename__ = "booking_slots"
    __table_args__ = (Index("ix_booking_slots_workspace_id_starts_at", "workspace_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    branch: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")  # the branch's zone, for wording
    capacity: Mapped[int] = mapped_column(default=1)


class Booking(Base):
    """A customer's booked branch visit."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    slot_id: Mapped[int] = mapped_column(ForeignKey("booking_slots.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
