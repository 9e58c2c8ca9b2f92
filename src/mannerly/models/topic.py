"""A topic: a reason to write to customers, transactional or marketing (P1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

TOPIC_KINDS: tuple[str, ...] = ("transactional", "marketing")


class Topic(Base):
    """A reason to write (appointments, orders, promotions ...) with its own consent."""

    __tablename__ = "topics"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        UniqueConstraint("workspace_id", "keyword"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(64))  # machine name, e.g. "appointments"
    label: Mapped[str] = mapped_column(String(200))  # what customers and staff read
    kind: Mapped[str] = mapped_column(String(16), default="transactional")  # one of TOPIC_KINDS
    urgent: Mapped[bool] = mapped_column(default=False)
    # A word customers text to opt in to (or out of) just this topic.
    keyword: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
