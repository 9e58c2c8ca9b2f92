"""Messenger webhooks, pure: the verification handshake, X-Hub-Signature-256, and parsing `entry[].messaging[]`.

Meta calls one callback URL per app: a GET handshake when the URL is registered
(`hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`), then POSTs signed with
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed with the app secret>`.
A POST may batch several entries (one per Page) and several events per entry.

What becomes of each event:
- `message` from the customer -> an inbound message (text; quick-reply payload kept in
  raw; attachments become placeholder text with their URLs in media_urls);
- `message` with `is_echo` (a copy of what the Page itself sent) -> ignored;
- `postback` (a button tap) -> an inbound message whose text is the button title;
- `delivery` -> "delivered" for each listed mid; when `mids` is absent only the
  watermark is known, which the adapter resolves through its sent-message ledger;
- `read` -> only a watermark ("everything sent up to here was read"), also resolved
  by the adapter through the ledger;
- anything else (reactions, referrals, opt-ins, standby, other Pages' entries) -> ignored.
Nothing here touches the network, the database or the clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mannerly.channels.base import InboundMessage, StatusUpdate, WebhookRejected, normalize_status

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="
EVENT_RECEIVED = "EVENT_RECEIVED"

# Webhook fields that report progress of our own messages -> normalized statuses.
MESSENGER_STATUS_MAP: dict[str, str] = {
    "delivery": "delivered",
    "read": "read",
}

# Placeholder text for attachments, so an attachment-only message still reads as something.
ATTACHMENT_PLACEHOLDERS: dict[str, str] = {
    "image": "[image]",
    "video": "[video]",
    "audio": "[audio]",
    "file": "[file]",
    "location": "[location]",
    "template": "[template]",
    "fallback": "[link]",
    "sticker": "[sticker]",
}
UNKNOWN_ATTACHMENT = "[attachment]"
EMPTY_MESSAGE = "[empty message]"


@dataclass(frozen=True, slots=True)
class Watermark:
    """A delivery or read report that names no messages: everything sent to `psid` up to `at`."""

    psid: str
    field_name: str  # "delivery" or "read"
    at: datetime


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    """What one webhook POST held, before watermarks are matched to messages."""

    events: tuple[InboundMessage | StatusUpdate, ...] = ()
    watermarks: tuple[Watermark, ...] = ()
    ignored: tuple[str, ...] = field(default=())  # why events were skipped, for tests and debugging


# -- verification ------------------------------------------------------------------------------


def handshake_challenge(query: Mapping[str, str], verify_token: str) -> str:
    """The `hub.challenge` to echo when the GET handshake carries our verify token; 403 otherwise."""
    if not verify_token:
        raise WebhookRejected(403, "the channel has no verify_token configured")
    if query.get("hub.mode") != "subscribe":
        raise WebhookRejected(403, "hub.mode is not 'subscribe'")
    offered = query.get("hub.verify_token", "")
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        raise WebhookRejected(403, "hub.verify_token does not match the channel's verify_token")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise WebhookRejected(400, "hub.challenge is missing")
    return challenge


def expected_signature(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 value Meta sends for this exact body."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def check_signature(body: bytes, header: str | None, app_secret: str) -> None:
    """Raise WebhookRejected(403) unless the header is the HMAC-SHA256 of the raw body (constant-time)."""
    if not app_secret:
        raise WebhookRejected(403, "the channel has no app_secret configured, so signatures cannot be checked")
    if not header:
        raise WebhookRejected(403, "X-Hub-Signature-256 is missing")
    # Meta writes lower-case hex; compare case-insensitively without leaking timing.
    if not hmac.compare_digest(header.strip().lower().encode(), expected_signature(body, app_secret).encode()):
        raise WebhookRejected(403, "X-Hub-Signature-256 does not match the body")


# -- parsing -----------------------------------------------------------------------------------


def from_epoch_ms(value: Any) -> datetime | None:
    """Meta's millisecond timestamps as aware UTC datetimes; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object, or a 400 naming where the payload went wrong."""
    if not isinstance(value, Mapping):
        raise WebhookRejected(400, f"{where} is not a JSON object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    """A JSON array (absent means empty), or a 400."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookRejected(400, f"{where} is not a JSON array")
    return value


def _party_id(event: Mapping[str, Any], role: str, where: str) -> str:
    """sender.id or recipient.id of a messaging event, as text; 400 when missing."""
    party = event.get(role)
    identifier = party.get("id") if isinstance(party, Mapping) else None
    if identifier is None or str(identifier) == "":
        raise WebhookRejected(400, f"{where}.{role}.id is missing")
    return str(identifier)


def attachment_text_and_urls(attachments: list[Any], where: str) -> tuple[list[str], list[str]]:
    """Placeholder lines and media URLs for a message's attachments."""
    lines: list[str] = []
    urls: list[str] = []
    for index, item in enumerate(attachments):
        attachment = _object(item, f"{where}[{index}]")
        kind = str(attachment.get("type") or "")
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), Mapping) else {}
        placeholder = ATTACHMENT_PLACEHOLDERS.get(kind, UNKNOWN_ATTACHMENT)
        if kind == "image" and payload.get("sticker_id") is not None:
            placeholder = ATTACHMENT_PLACEHOLDERS["sticker"]
        coordinates = payload.get("coordinates") if isinstance(payload.get("coordinates"), Mapping) else None
        if kind == "location" and coordinates and "lat" in coordinates and "long" in coordinates:
            placeholder = f"[location {coordinates['lat']}, {coordinates['long']}]"
        lines.append(placeholder)
        url = payload.get("url") or attachment.get("url")
        if isinstance(url, str) and url:
            urls.append(url)
    return lines, urls


def inbound_from_message(event: Mapping[str, Any], message: Mapping[str, Any], where: str,
                         now: datetime) -> InboundMessage:
    """A customer's `message` event as an InboundMessage."""
    mid = message.get("mid")
    if not mid:
        raise WebhookRejected(400, f"{where}.message.mid is missing")
    text = message.get("text") if isinstance(message.get("text"), str) else ""
    placeholders, urls = attachment_text_and_urls(_list(message.get("attachments"), f"{where}.message.attachments"),
                                                  f"{where}.message.attachments")
    body = "\n".join(part for part in [text, *placeholders] if part) or EMPTY_MESSAGE
    return InboundMessage(
        provider_message_id=str(mid),
        from_address=_party_id(event, "sender", where),
        to_address=_party_id(event, "recipient", where),
        text=body,
        received_at=from_epoch_ms(event.get("timestamp")) or now,
        media_urls=tuple(urls),
        raw=dict(event),
    )


def inbound_from_postback(event: Mapping[str, Any], postback: Mapping[str, Any], where: str,
                          now: datetime) -> InboundMessage:
    """A button tap (`postback`) as an InboundMessage whose text is the button's title; the payload stays in raw."""
    sender = _party_id(event, "sender", where)
    # Older postbacks carry no mid; sender + timestamp + payload identify a tap so a replay is stored once.
    mid = postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}:{postback.get('payload', '')}"
    title = postback.get("title") if isinstance(postback.get("title"), str) else ""
    payload = postback.get("payload") if isinstance(postback.get("payload"), str) else ""
    return InboundMessage(
        provider_message_id=str(mid),
        from_address=sender,
        to_address=_party_id(event, "recipient", where),
        text=title or payload or EMPTY_MESSAGE,
        received_at=from_epoch_ms(event.get("timestamp")) or now,
        raw=dict(event),
    )


def delivery_updates(event: Mapping[str, Any], delivery: Mapping[str, Any], where: str,
                     ) -> tuple[list[StatusUpdate], Watermark | None]:
    """"delivered" for every mid a `delivery` lists; a Watermark when it lists none."""
    occurred_at = from_epoch_ms(delivery.get("watermark")) or from_epoch_ms(event.get("timestamp"))
    mids = [str(mid) for mid in _list(delivery.get("mids"), f"{where}.delivery.mids") if mid]
    if mids:
        status = normalize_status(MESSENGER_STATUS_MAP, "delivery")
        return [StatusUpdate(provider_message_id=mid, status=status, raw_status="delivery",
                             occurred_at=occurred_at) for mid in mids], None
    if occurred_at is None:
        raise WebhookRejected(400, f"{where}.delivery has neither mids nor a watermark")
    return [], Watermark(psid=_party_id(event, "sender", where), field_name="delivery", at=occurred_at)


def read_watermark(event: Mapping[str, Any], read: Mapping[str, Any], where: str) -> Watermark:
    """A `read` event: a watermark only (Messenger names no messages)."""
    at = from_epoch_ms(read.get("watermark"))
    if at is None:
        raise WebhookRejected(400, f"{where}.read.watermark is missing")
    return Watermark(psid=_party_id(event, "sender", where), field_name="read", at=at)


def parse_webhook(payload: Any, now: datetime, page_id: str | None = None) -> ParsedWebhook:
    """Every event of a webhook POST (`now` stands in for missing timestamps); other Pages' entries are skipped."""
    body = _object(payload, "the body")
    if body.get("object") != "page":
        raise WebhookRejected(400, f"expected object 'page', got {body.get('object')!r}")
    events: list[InboundMessage | StatusUpdate] = []
    watermarks: list[Watermark] = []
    ignored: list[str] = []
    for entry_index, raw_entry in enumerate(_list(body.get("entry"), "entry")):
        entry = _object(raw_entry, f"entry[{entry_index}]")
        entry_page = str(entry.get("id", ""))
        if page_id and entry_page and entry_page != page_id:
            # One app may serve several Pages through one callback URL; this channel is one Page.
            ignored.append(f"entry[{entry_index}]: Page {entry_page} is not this channel's Page")
            continue
        for event_index, raw_event in enumerate(_list(entry.get("messaging"), f"entry[{entry_index}].messaging")):
            where = f"entry[{entry_index}].messaging[{event_index}]"
            event = _object(raw_event, where)
            if isinstance(event.get("message"), Mapping):
                message = event["message"]
                if message.get("is_echo"):
                    ignored.append(f"{where}: echo of the Page's own message")
                    continue
                events.append(inbound_from_message(event, message, where, now))
            elif isinstance(event.get("postback"), Mapping):
                events.append(inbound_from_postback(event, event["postback"], where, now))
            elif isinstance(event.get("delivery"), Mapping):
                updates, watermark = delivery_updates(event, event["delivery"], where)
                events.extend(updates)
                if watermark is not None:
                    watermarks.append(watermark)
            elif isinstance(event.get("read"), Mapping):
                watermarks.append(read_watermark(event, event["read"], where))
            else:
                kinds = ", ".join(sorted(key for key in event if key not in ("sender", "recipient", "timestamp")))
                ignored.append(f"{where}: not handled ({kinds or 'empty'})")
    return ParsedWebhook(events=tuple(events), watermarks=tuple(watermarks), ignored=tuple(ignored))
