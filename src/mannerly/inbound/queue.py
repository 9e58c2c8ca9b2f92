"""The webhook event queue (MANNERLY_WEBHOOK_MODE=queue): store verified events now, apply them in the worker.

A webhook request then costs one short transaction (the events and the exchange log), so
a provider's burst of delivery receipts is answered in milliseconds and never waits for
the inbound pipeline. Customer messages that read as STOP/START/HELP keywords, and status
reports whose error means an opt-out, are still applied inside the request (the caller
does that): consent changes must take effect before the provider hears "200".

Events are deduplicated on (channel, event key), so a replayed webhook is stored once;
applying is idempotent too (the inbound pipeline dedupes on the provider's message id).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mannerly.channels.base import InboundEvent, InboundMessage, StatusUpdate
from mannerly.contacts.service import parse_contact_phone
from mannerly.db import serialize_writes
from mannerly.errors import ProblemError
from mannerly.inbound.pipeline import apply_status_updates, receive_message
from mannerly.models import Channel, WebhookEvent, Workspace
from mannerly.policy.keywords import classify_keyword
from mannerly.redaction import redact

log = logging.getLogger(__name__)

# How many events one worker pass applies at most (statuses go in one bulk transaction).
QUEUE_BATCH_SIZE = 500
# An event that failed this many times is set aside (processed_at set, error kept) so it cannot block the queue.
MAX_ATTEMPTS = 5
MAX_EVENT_KEY = 200


@dataclass
class QueueResult:
    """What one pass over the queue did."""

    applied: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def event_key(event: InboundEvent) -> str:
    """The key that makes a replayed event collide with its first copy."""
    if isinstance(event, InboundMessage):
        key = f"m:{event.provider_message_id}"
    else:
        key = f"s:{event.provider_message_id}:{event.status}:{event.raw_status}:{event.error_code}:{event.message_id}"
    if len(key) > MAX_EVENT_KEY:
        key = f"{key[0]}#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _iso(moment: datetime | None) -> str | None:
    """A datetime as ISO 8601 text for the JSON payload."""
    return moment.isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    """The datetime back from its ISO 8601 text."""
    return datetime.fromisoformat(text) if text else None


def payload_of(event: InboundEvent) -> dict[str, Any]:
    """An adapter event as a JSON object."""
    if isinstance(event, InboundMessage):
        # Card numbers and national ids never reach the database (S8), not even in the queue.
        redaction = redact(event.text)
        return {"provider_message_id": event.provider_message_id, "from_address": event.from_address,
                "to_address": event.to_address, "text": redaction.text, "redacted": redaction.redacted,
                "received_at": _iso(event.received_at), "media_urls": list(event.media_urls), "raw": dict(event.raw)}
    return {"provider_message_id": event.provider_message_id, "status": event.status,
            "raw_status": event.raw_status, "error_code": event.error_code,
            "occurred_at": _iso(event.occurred_at), "effect": event.effect, "message_id": event.message_id}


def message_of(payload: dict[str, Any]) -> InboundMessage:
    """The InboundMessage stored by payload_of."""
    return InboundMessage(
        provider_message_id=payload["provider_message_id"], from_address=payload["from_address"],
        to_address=payload["to_address"], text=payload["text"], received_at=_moment(payload["received_at"]),
        media_urls=tuple(payload.get("media_urls") or ()), raw=payload.get("raw") or {})


def status_of(payload: dict[str, Any]) -> StatusUpdate:
    """The StatusUpdate stored by payload_of."""
    return StatusUpdate(
        provider_message_id=payload["provider_message_id"], status=payload["status"],
        raw_status=payload.get("raw_status"), error_code=payload.get("error_code"),
        occurred_at=_moment(payload.get("occurred_at")), effect=payload.get("effect"),
        message_id=payload.get("message_id"))


def must_apply_now(event: InboundEvent, topic_keywords: dict[str, str]) -> bool:
    """True when an event changes consent and so cannot wait for the worker (a keyword, an opt-out error)."""
    if isinstance(event, StatusUpdate):
        return event.effect is not None
    return classify_keyword(event.text, topic_keywords) is not None


@lru_cache(maxsize=65_536)
def check_sender(address: str, default_country: str | None) -> None:
    """Raise ProblemError for a sender the pipeline could not file; valid senders are remembered."""
    parse_contact_phone(address, default_country, "from")


def event_rows(channel: Channel, events: list[InboundEvent], now: datetime) -> list[dict]:
    """The webhook_events rows that queue these events (see inbound/writer.py for the INSERT)."""
    return [{"workspace_id": channel.workspace_id, "channel_id": channel.id,
             "kind": "message" if isinstance(event, InboundMessage) else "status",
             "event_key": event_key(event), "payload": payload_of(event), "received_at": now, "attempts": 0}
            for event in events]


def pending_query(kind: str, limit: int):
    """The oldest events of one kind still to apply."""
    return (select(WebhookEvent)
            .where(WebhookEvent.processed_at.is_(None), WebhookEvent.kind == kind)
            .order_by(WebhookEvent.id).limit(limit))


def apply_queued(sessionmaker, now: datetime, limit: int = QUEUE_BATCH_SIZE) -> QueueResult:
    """Apply up to `limit` waiting events of each kind; safe to run in several workers at once."""
    result = QueueResult()
    with sessionmaker() as session:
        apply_statuses(session, now, limit, result)
        apply_messages(session, now, limit, result)
    return result


def apply_statuses(session: Session, now: datetime, limit: int, result: QueueResult) -> None:
    """Apply waiting status reports in one bulk transaction (one by one if the batch fails)."""
    query = pending_query("status", limit)
    if serialize_writes(session):
        # Another worker's batch stays locked to it; this one takes the next rows.
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    if not rows:
        session.rollback()
        return
    ids = [row.id for row in rows]
    try:
        by_channel: dict[int, list[StatusUpdate]] = {}
        for row in rows:
            by_channel.setdefault(row.channel_id, []).append(status_of(row.payload))
        for channel_id, updates in by_channel.items():
            apply_status_updates(session, session.get(Channel, channel_id), updates, now)
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(processed_at=now))
        session.commit()
        result.applied += len(ids)
    except Exception:  # noqa: BLE001 - one bad report must not hold back the others: retry them singly
        session.rollback()
        log.exception("bulk apply of %d queued status reports failed; applying one by one", len(ids))
        for event_id in ids:
            apply_one(session, event_id, now, result)


def apply_messages(session: Session, now: datetime, limit: int, result: QueueResult) -> None:
    """Apply waiting customer messages, each in its own transaction like an inline webhook."""
    event_ids = session.scalars(pending_query("message", limit).with_only_columns(WebhookEvent.id)).all()
    session.rollback()
    for event_id in event_ids:
        apply_one(session, event_id, now, result)


def apply_one(session: Session, event_id: int, now: datetime, result: QueueResult) -> None:
    """Apply one stored event and mark it done in the same transaction; record why if it fails."""
    try:
        # Another worker applying this event holds its row (PostgreSQL): leave it to that worker.
        row = session.get(WebhookEvent, event_id, with_for_update={"skip_locked": True}, populate_existing=True)
        if row is None or row.processed_at is not None:
            session.rollback()
            return
        channel = session.get(Channel, row.channel_id)
        if row.kind == "message":
            workspace = session.get(Workspace, channel.workspace_id)
            received = receive_message(session, workspace, channel, message_of(row.payload), row.received_at)
            if row.payload.get("redacted") and not received.duplicate:
                received.message.redacted = True  # the text was redacted before it was queued
        else:
            apply_status_updates(session, channel, [status_of(row.payload)], now)
        row.processed_at = now
        row.attempts += 1
        session.commit()
        result.applied += 1
    except Exception as error:  # noqa: BLE001 - recorded on the event; the queue goes on
        session.rollback()
        permanent = isinstance(error, ProblemError | KeyError | ValueError | TypeError)
        log.warning("queued webhook event %s failed: %s", event_id, error)
        record_failure(session, event_id, f"{type(error).__name__}: {error}", permanent, now)
        result.failed += 1
        result.errors.append(f"webhook event {event_id}: {error}")


def record_failure(session: Session, event_id: int, error: str, permanent: bool, now: datetime) -> None:
    """Count a failed attempt; set the event aside when it can never apply or failed too often."""
    row = session.get(WebhookEvent, event_id)
    if row is None:
        return
    row.attempts += 1
    row.error = error[:2000]
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.processed_at = now
    session.commit()
