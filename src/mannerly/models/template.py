"""Message templates per language, including the WhatsApp template registry fields (O2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk


class Template(Base):
    """A reusable text in one language with placeholders, optionally mirrored by a WhatsApp template."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    # Placeholder names with their defaults, e.g. {"first_name": "there"}.
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    whatsapp_name: Mapped[str | None] = mapped_column(String(512))
    whatsapp_status: Mapped[str | None] = mapped_column(String(32))  # APPROVED, PENDING, REJECTED ...
    category: Mapped[str | None] = mapped_column(String(32))  # MARKETING, UTILITY, AUTHENTICATION
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
