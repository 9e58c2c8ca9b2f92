"""A configured channel: one sender on one provider (SMS, WhatsApp or Messenger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

CHANNEL_PROVIDERS: tuple[str, ...] = ("simulator", "smpp", "twilio", "whatsapp_cloud", "messenger")


class Channel(Base):
    """One way of reaching customers: a kind (sms/whatsapp/messenger), a provider and its credentials."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    kind: Mapped[str] = mapped_column(String(16))  # one of policy.types.CHANNEL_KINDS
    provider: Mapped[str] = mapped_column(String(32))  # one of CHANNEL_PROVIDERS
    name: Mapped[str] = mapped_column(String(200))
    # Phone number, alphanumeric sender, WhatsApp phone number id or Page id.
    sender_id: Mapped[str | None] = mapped_column(String(64))
    # Provider settings including credentials: never log or return this as is.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Public business profile shown in sender introductions (name, logo URL, description).
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_limit_per_second: Mapped[float] = mapped_column(default=10.0)
    # ISO country codes this channel is preferred for; empty means any country.
    countries: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
