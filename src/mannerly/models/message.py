"""Messages (the source of truth and the outbox queue) and their status history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mannerly.models.base import Base, utc_now, workspace_fk

MESSAGE_DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
MESSAGE_SOURCES: tuple[str, ...] = (
    "api", "agent", "campaign", "automation", "bot", "auto_reply", "keyword_reply", "customer",
)
OUTBOUND_STATUSES: tuple[str, ...] = (
    "pending", "deferred", "held", "sending", "sent", "delivered", "undelivered", "failed", "rejected",
    "unknown",
)  # "held": a paused campaign's queued message, sent again only when the campaign resumes
INBOUND_STATUSES: tuple[str, ...] = ("received",)


class Message(Base):
    """One message in or out; outbound rows double as the dispatcher's queue."""

    __tablename__ = "messages"
    __table_args__ = (
        # The dispatcher claims rows by status and due time.
        Index("ix_messages_status_send_at", "status", "send_at"),
        # Status callbacks find the message by the provider's id on that channel.
        Index("ix_messages_channel_id_provider_message_id", "channel_id", "provider_message_id"),
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
        Index("ix_messages_contact_id_created_at", "contact_id", "created_at"),
        # Per-contact state (caps, duplicates, cold contact) reads a chunk of contacts' counted messages.
        Index("ix_messages_contact_id_status", "contact_id", "status"),
        # Inbound dedupe: a replayed webhook carries the same provider event id. Outbound rows
        # leave provider_event_id NULL (NULLs never collide), so providers that reuse message
        # ids over time (SMPP counters) can never make an outbound write fail.
        UniqueConstraint("workspace_id", "channel_kind", "provider_event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(8))  # one of MESSAGE_DIRECTIONS
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    channel_kind: Mapped[str | None] = mapped_column(String(16))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16))  # one of MESSAGE_SOURCES
    body: Mapped[str] = mapped_column(Text)  # as requested (outbound) or received (inbound)
    final_text: Mapped[str | None] = mapped_column(Text)  # what the engine decided to send
    decision: Mapped[dict[str, Any] | None] = mapped_column()  # Decision.as_dict()
    # How the message was asked for (channel, reply, template, language): the dispatcher
    # decides it again from this when it falls due.
    request: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # OUTBOUND_STATUSES or INBOUND_STATUSES
    status_detail: Mapped[str | None] = mapped_column(Text)
    send_at: Mapped[datetime | None]  # when the message is due (outbound)
    lease_until: Mapped[datetime | None]  # a worker owns the row until then
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    # The provider's id of an inbound event, for dedupe; NULL on outbound rows.
    provider_event_id: Mapped[str | None] = mapped_column(String(128))
    media_urls: Mapped[list[str] | None] = mapped_column()
    segments: Mapped[int | None]
    encoding: Mapped[str | None] = mapped_column(String(8))  # "GSM-7" | "UCS-2"
    error_code: Mapped[str | None] = mapped_column(String(64))
    # True when personal data (card numbers, national ids) was removed from body (S8).
    redacted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class MessageStatusEvent(Base):
    """One status report for a message, kept even when the provider's status is unknown to us."""

    __tablename__ = "message_status_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = workspace_fk()
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # normalized
    raw_status: Mapped[str | None] = mapped_column(String(64))  # as the provider said it
    error_code: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)
