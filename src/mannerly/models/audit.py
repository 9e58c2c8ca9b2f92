"""The audit log of consent changes, policy overrides and admin actions (X8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk


class AuditEvent(Base):
    """Who did what to which object, and when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    actor: Mapped[str] = mapped_column(String(200))  # user id, API key name, "system" ...
    action: Mapped[str] = mapped_column(String(64))  # e.g. "consent.opted_out", "policy.updated"
    target: Mapped[str | None] = mapped_column(String(200))  # e.g. "contact:42"
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)
