"""Webhook events stored as they arrive and applied by a worker (MANNERLY_WEBHOOK_MODE=queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, workspace_fk

WEBHOOK_EVENT_KINDS: tuple[str, ...] = ("message", "status")


class WebhookEvent(Base):
    """One verified provider event (a customer message or a delivery status), waiting to be applied."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        # A replayed webhook carries the same event: the second insert is ignored.
        UniqueConstraint("channel_id", "event_key"),
        # Workers look for the oldest events not yet applied.
        Index("ix_webhook_events_processed_at_id", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # one of WEBHOOK_EVENT_KINDS
    # "m:<provider message id>" or "s:<provider message id>:<status>:<raw status>:<error code>".
    event_key: Mapped[str] = mapped_column(String(200))
    # The adapter's parsed event (InboundMessage or StatusUpdate fields), already redacted of secrets.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    # Why the last attempt failed; kept with processed_at set when the event can never apply.
    error: Mapped[str | None] = mapped_column(Text)
