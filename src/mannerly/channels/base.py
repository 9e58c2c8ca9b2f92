"""What every channel adapter speaks: the adapter Protocol, its value types and status ordering.

Provider quirks live in the adapters; the core only sees these types. Statuses are
normalized to a small vocabulary, and `advance_status` keeps them from moving backwards
when receipts arrive late, twice or out of order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# What adapters report in a StatusUpdate.
PROVIDER_STATUSES: tuple[str, ...] = (
    "queued", "sent", "delivered", "undelivered", "failed", "read", "unknown",
)
# What `send` reports: accepted ("sent"/"queued"), refused ("failed"), or the hand-off
# outcome could not be known, e.g. a timeout after the request left ("unknown").
SEND_STATUSES: tuple[str, ...] = ("sent", "queued", "failed", "unknown")

# Order of progress. Our "sending" (row claimed, hand-off in progress) comes before the
# provider's "queued" because a provider can only queue what we already handed over.
_STATUS_RANK: dict[str, int] = {
    "pending": 0,
    "deferred": 0,
    "sending": 1,
    "unknown": 1,
    "queued": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
    "rejected": 4,
    "received": 0,
}
# Statuses nothing may change: the engine refused the message, or it came from the customer.
_FROZEN_STATUSES = frozenset({"rejected", "received"})
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "rejected"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request/response with a provider, already redacted, for the provider_exchanges log."""

    request: Any = None  # dict, or str for non-JSON bodies
    response: Any = None
    status_code: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message handed to an adapter: everything it needs, no database access required."""

    message_id: int
    to: str  # E.164 for sms/whatsapp, the channel's own address (e.g. a PSID) otherwise
    text: str
    config: Mapping[str, Any] = field(default_factory=dict)  # the channel's config (credentials)
    sender_id: str | None = None
    segments: int = 1
    encoding: str = "GSM-7"
    # Channel-specific options, e.g. {"whatsapp_template": {...}} or {"messaging_type": "UPDATE"}.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What came of one hand-off to a provider."""

    accepted: bool
    status: str  # one of SEND_STATUSES
    provider_message_id: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    # True when trying again later may succeed (rate limited, provider down before accepting).
    retryable: bool = False
    exchange: Exchange | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a customer sent, as the provider reported it."""

    provider_message_id: str
    from_address: str
    to_address: str
    text: str
    received_at: datetime
    media_urls: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)  # the provider's payload, redacted


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery report for an outbound message."""

    provider_message_id: str
    status: str  # one of PROVIDER_STATUSES
    raw_status: str | None = None  # exactly what the provider said, kept even when unmapped
    error_code: str | None = None
    occurred_at: datetime | None = None


InboundEvent = InboundMessage | StatusUpdate


@runtime_checkable
class ChannelAdapter(Protocol):
    """The one small interface every provider implements."""

    kind: str  # "sms" | "whatsapp" | "messenger"
    provider: str  # registry name, e.g. "simulator", "twilio"
    status_map: dict[str, str]  # provider's raw status -> one of PROVIDER_STATUSES

    def send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the provider (blocking; the dispatcher calls it from a worker thread)."""
        ...

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """Ask the provider what became of a message, or None when it cannot tell."""
        ...


def normalize_status(status_map: Mapping[str, str], raw_status: str | None) -> str:
    """Map a provider's raw status to the normalized vocabulary; unmapped ones become "unknown"."""
    if raw_status is None:
        return "unknown"
    normalized = status_map.get(raw_status, status_map.get(raw_status.lower(), "unknown"))
    return normalized if normalized in PROVIDER_STATUSES else "unknown"


def status_rank(status: str) -> int:
    """How far along a status is: pending/deferred 0, sending/unknown 1, queued 2, sent 3, final 4, read 5."""
    try:
        return _STATUS_RANK[status]
    except KeyError:
        raise ValueError(f"unknown message status {status!r}") from None


def advance_status(current: str, new: str) -> str:
    """The status a message should have after `new` is reported while it is `current`.

    Statuses never move backwards: a late "sent" after "delivered" is ignored, and among
    final statuses the first one reported stays; "read" still beats them (it implies
    delivery). "rejected" and "received" never change, and are never reached this way
    (they are decisions, not progress reports). "unknown" never overwrites a known status; it only replaces "sending",
    whose outcome is in doubt. Any known provider status replaces "unknown".
    """
    status_rank(current)
    status_rank(new)
    if current == new or current in _FROZEN_STATUSES or new in _FROZEN_STATUSES:
        return current
    if new == "unknown":
        return new if current == "sending" else current
    if current == "unknown":
        return new if status_rank(new) >= status_rank("queued") else current
    return new if status_rank(new) > status_rank(current) else current
