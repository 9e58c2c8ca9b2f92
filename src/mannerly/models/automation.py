"""Automations (O7): triggered journeys, the occurrences they fired, business events, appointments, coupons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

AUTOMATION_KINDS: tuple[str, ...] = ("birthday", "anniversary", "win_back", "after_event", "date_reminder")
AUTOMATION_RUN_STATUSES: tuple[str, ...] = ("queued", "rejected", "failed")
APPOINTMENT_STATES: tuple[str, ...] = ("booked", "confirmed", "reschedule", "cancelled")


class Automation(Base):
    """One journey: when it fires (kind + settings), with which topic and template."""

    __tablename__ = "automations"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        # The scheduler asks every pass which automations are due.
        Index("ix_automations_enabled_next_run_at", "enabled", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # one of AUTOMATION_KINDS
    # A deleted topic leaves the automation idle (NULL) rather than silently gone.
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    template_name: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(default=True)
    # Per kind: local_hour, date_field, days, event_type, delay_minutes, offset_minutes, coupon {...}.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # When the scheduler looks at it next (shared by every worker through the database).
    next_run_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class BusinessEvent(Base):
    """Something that happened in the business (purchase, order shipped, appointment booked) for one contact."""

    __tablename__ = "business_events"
    __table_args__ = (
        # The sender's own id makes a repeated POST harmless.
        UniqueConstraint("workspace_id", "type", "external_id"),
        Index("ix_business_events_workspace_id_type_occurred_at", "workspace_id", "type", "occurred_at"),
        Index("ix_business_events_contact_id_type", "contact_id", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    type: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Appointment(Base):
    """A booked appointment whose reminders and quick-reply answers move its state."""

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id"),
        Index("ix_appointments_workspace_id_starts_at", "workspace_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(128))
    starts_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="booked")  # one of APPOINTMENT_STATES
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what templates may show (place, service)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class AutomationRun(Base):
    """One occurrence an automation fired for one contact; the unique key makes it fire at most once."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        # Inserted in the same transaction as the outbox row: two workers or a restart cannot fire twice.
        UniqueConstraint("automation_id", "contact_id", "occurrence_key"),
        Index("ix_automation_runs_workspace_id_created_at", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    # e.g. "2025" for a birthday, "event:17", "appointment:4:2025-03-05T01:00:00+00:00".
    occurrence_key: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # one of AUTOMATION_RUN_STATUSES
    detail: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("business_events.id", ondelete="SET NULL"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class CouponCode(Base):
    """A discount code made for one contact by one automation occurrence; unique in the workspace."""

    __tablename__ = "coupon_codes"
    __table_args__ = (UniqueConstraint("workspace_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    code: Mapped[str] = mapped_column(String(32))
    automation_id: Mapped[int | None] = mapped_column(ForeignKey("automations.id", ondelete="SET NULL"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    percent: Mapped[int | None]
    expires_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
