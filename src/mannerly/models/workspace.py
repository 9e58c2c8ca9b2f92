"""A workspace: one business (tenant); every other table belongs to one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now


class Workspace(Base):
    """A tenant: a business with its brand names, defaults and sending-policy overrides."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Language code -> brand name as customers know it in that language.
    brand_names: Mapped[dict[str, str]] = mapped_column(default=dict)
    default_country: Mapped[str | None] = mapped_column(String(2))
    default_language: Mapped[str] = mapped_column(String(8), default="en")
    # Overrides of policy.types.Policy fields (JSON-friendly values); legal floors still apply.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
