"""What every channel adapter speaks: the adapter Protocol, its value types and status ordering.

Provider quirks live in the adapters; the core only sees these types. Statuses are
normalized to a small vocabulary, and `advance_status` keeps them from moving backwards
when receipts arrive late, twice or out of order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

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


# What secrets are replaced with in logged exchanges.
REDACTED = "[redacted]"


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """A copy of a JSON-like value with every secret replaced by "[redacted]"."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {key: redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    return value


# What a provider's error means for Mannerly's own state (set by adapters from their codes).
EFFECT_OPT_OUT = "opt_out"  # the recipient opted out of this sender (e.g. Twilio 21610)
EFFECT_MARKETING_OPT_OUT = "marketing_opt_out"  # stopped marketing only (e.g. WhatsApp 131050)
EFFECT_WINDOW_CLOSED = "window_closed"  # the 24-hour window is not open (e.g. WhatsApp 131047)
PROVIDER_EFFECTS: tuple[str, ...] = (EFFECT_OPT_OUT, EFFECT_MARKETING_OPT_OUT, EFFECT_WINDOW_CLOSED)


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
    effect: str | None = None  # one of PROVIDER_EFFECTS when the error changes consent or reachability


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
    effect: str | None = None  # one of PROVIDER_EFFECTS when the error changes consent or reachability
    # Our own message id when the provider echoes it back (e.g. in the status callback URL):
    # it matches the report even when the hand-off's answer, and so the provider's id, was lost.
    message_id: int | None = None


InboundEvent = InboundMessage | StatusUpdate


@dataclass(frozen=True, slots=True)
class HandoffSearch:
    """What a provider's message list says of a hand-off whose answer (and so provider id) was lost.

    `found`: the provider has it (its id and status); `absent`: the provider has no such message,
    so it never left (adapters say so only when their search is complete and unambiguous).
    """

    found: StatusUpdate | None = None
    absent: bool = False


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An HTTP request a provider made to /webhooks/{channel_id}, as adapters need it to verify and parse."""

    method: str
    url: str  # the public URL the provider called (MANNERLY_PUBLIC_BASE_URL + path + query when set)
    headers: Mapping[str, str]  # names lower-cased
    query: Mapping[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded fields (blank values kept, as signatures need)."""
        try:
            text = self.body.decode("utf-8")
            return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
        except (UnicodeDecodeError, ValueError) as error:
            raise WebhookRejected(400, f"the body is not a form: {error}") from error

    def json(self) -> Any:
        """The body as JSON."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError) as error:
            raise WebhookRejected(400, f"the body is not JSON: {error}") from error


class WebhookRejected(Exception):
    """A webhook call refused: 403 for a bad or missing signature, 400 for a malformed payload."""

    def __init__(self, status: int, reason: str) -> None:
        """Keep the HTTP status and the reason to answer with."""
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What an adapter made of a webhook call: events to store and the answer the provider expects."""

    events: tuple[InboundEvent, ...] = ()
    body: str = ""
    media_type: str = "text/plain"
    status_code: int = 200


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


@runtime_checkable
class WebhookAdapter(Protocol):
    """An adapter that receives provider calls at /webhooks/{channel_id}."""

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Verify the call (raise WebhookRejected 403) and parse it (raise WebhookRejected 400) into events."""
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
