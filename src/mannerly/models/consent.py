"""The consent ledger (append-only events with evidence) and the current consent per topic (P2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

CONSENT_STATUSES: tuple[str, ...] = ("opted_in", "opted_out")
CONSENT_SOURCES: tuple[str, ...] = ("api", "keyword", "import", "agent", "double_opt_in", "provider")


class ConsentEvent(Base):
    """One recorded consent change with its evidence; rows are only ever inserted."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_contact_id_occurred_at", "contact_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # NULL means the global opt-out / opt-in, not one topic.
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))  # one of CONSENT_STATUSES
    source: Mapped[str] = mapped_column(String(16))  # one of CONSENT_SOURCES
    # The words the customer saw or sent when consenting (evidence).
    wording: Mapped[str | None] = mapped_column(Text)
    # Who recorded it: a user id, an API key name, or "customer".
    actor: Mapped[str] = mapped_column(String(200))
    evidence_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)


class Consent(Base):
    """The current consent of one contact for one topic, derived from the newest ledger event."""

    __tablename__ = "consents"
    __table_args__ = (
        UniqueConstraint("contact_id", "topic_id"),
        # Segment filters count "opted in to topic X" from this index alone.
        Index("ix_consents_topic_id_status_contact_id", "topic_id", "status", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # one of CONSENT_STATUSES
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("consent_events.id", ondelete="SET NULL")
    )
