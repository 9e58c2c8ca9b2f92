"""The log of every exchange with a provider, secrets redacted (C6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

EXCHANGE_DIRECTIONS: tuple[str, ...] = ("outbound_request", "inbound_webhook")


class ProviderExchange(Base):
    """One request/response with a provider, kept to answer "the customer says they never got it"."""

    __tablename__ = "provider_exchanges"
    __table_args__ = (Index("ix_provider_exchanges_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(20))  # one of EXCHANGE_DIRECTIONS
    # A JSON object, or a string for non-JSON bodies; always redacted before storing.
    request: Mapped[Any] = mapped_column(JSON, nullable=True)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
