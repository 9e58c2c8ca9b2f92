"""Segments, campaigns and their recipients (O5, O6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

CAMPAIGN_STATUSES: tuple[str, ...] = ("draft", "running", "paused", "completed", "cancelled")
RECIPIENT_STATUSES: tuple[str, ...] = ("queued", "rejected", "skipped")


class Segment(Base):
    """A saved, dynamic filter over contacts (the JSON format of mannerly.segments.filters)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class Campaign(Base):
    """One send to a segment: topic, template (one name, a row per language), start time and throttle."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        # The worker asks which campaigns still have recipients to plan.
        Index("ix_campaigns_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    # A deleted topic or segment leaves the campaign unlaunchable (NULL) rather than silently gone.
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    template_name: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(16))  # preferred channel kind, None = the engine picks
    status: Mapped[str] = mapped_column(String(16), default="draft")  # one of CAMPAIGN_STATUSES
    starts_at: Mapped[datetime | None]
    throttle_per_minute: Mapped[int] = mapped_column(default=60)
    track_links: Mapped[bool] = mapped_column(default=True)
    # The planner works in batches by contact id; the cursor is the last contact id planned.
    plan_cursor: Mapped[int] = mapped_column(default=0)
    planned_count: Mapped[int] = mapped_column(default=0)
    # The next free throttle slot: where the next batch (or a resume) continues spreading send times.
    next_slot_at: Mapped[datetime | None]
    planning_done: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(200))
    launched_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class CampaignRecipient(Base):
    """One contact of one campaign; the unique key is what makes a campaign never write twice to anyone."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipients_campaign_id_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # one of RECIPIENT_STATUSES
    reason: Mapped[str | None] = mapped_column(String(64))  # the rule id that rejected the message
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
