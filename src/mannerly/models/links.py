"""Tracked short links and their clicks (O8)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk


class ShortLink(Base):
    """One recipient's short code for one URL in one message; `/l/<code>` redirects to `url`."""

    __tablename__ = "short_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    url: Mapped[str] = mapped_column(Text)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    # Automations live in a later migration, so this is a plain id kept by the automations service.
    automation_id: Mapped[int | None] = mapped_column(index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    click_count: Mapped[int] = mapped_column(default=0)
    first_clicked_at: Mapped[datetime | None]
    last_clicked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class LinkClick(Base):
    """One click on a short link (no IP address kept: the time and the browser are enough for reports)."""

    __tablename__ = "link_clicks"
    __table_args__ = (Index("ix_link_clicks_workspace_id_clicked_at", "workspace_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    short_link_id: Mapped[int] = mapped_column(ForeignKey("short_links.id", ondelete="CASCADE"), index=True)
    clicked_at: Mapped[datetime] = mapped_column(default=utc_now)
    user_agent: Mapped[str | None] = mapped_column(String(300))
