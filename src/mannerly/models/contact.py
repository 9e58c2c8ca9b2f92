"""A customer the business writes to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import JSON_DOCUMENT, Base, utc_now, workspace_fk


BIRTHDAY_INDEX = "ix_contacts_birthday_month_day"


class Contact(Base):
    """A customer: addresses on each channel, locale, preferences and activity timestamps."""

    __tablename__ = "contacts"
    __table_args__ = (
        # NULLs never collide, so contacts without a phone (Messenger only) are fine.
        UniqueConstraint("workspace_id", "phone"),
        UniqueConstraint("workspace_id", "messenger_psid"),
        UniqueConstraint("workspace_id", "whatsapp_id"),
        # PostgreSQL only (migration 0007): "birthday today" finds its candidates by month-day;
        # the expression must read exactly as segments/compiler.py writes it.
        Index(BIRTHDAY_INDEX, text("substr(attributes ->> 'birthday', 6, 5)")).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    subdivision: Mapped[str | None] = mapped_column(String(8))  # e.g. "FL"
    # An explicit IANA zone; when NULL the zone comes from the phone number.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))  # ISO 639-1
    name: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON_DOCUMENT, default=list)
    # Addresses on the other channels; set when the contact is reachable there.
    messenger_psid: Mapped[str | None] = mapped_column(String(64))
    whatsapp_id: Mapped[str | None] = mapped_column(String(32))
    global_opt_out: Mapped[bool] = mapped_column(default=False)
    # A purchase or other relationship recorded outside messaging (P6).
    prior_relationship_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    last_outbound_at: Mapped[datetime | None]
    whatsapp_last_inbound_at: Mapped[datetime | None]
    messenger_last_inbound_at: Mapped[datetime | None]
    # Korea: separate consent for advertising between 21:00 and 08:00.
    night_marketing_consent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
