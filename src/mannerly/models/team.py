"""Teams (departments) of agents, with business hours and response-time targets (S2–S4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk


class Team(Base):
    """A group of agents answering one kind of question, open at its own business hours."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    # Weekday ("0" = Monday) -> list of ["HH:MM", "HH:MM"] intervals in `time_zone`; {} = always open.
    hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    first_response_target_minutes: Mapped[int | None]
    next_response_target_minutes: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class TeamMember(Base):
    """An agent's membership of a team."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
