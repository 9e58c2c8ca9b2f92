"""Builders shared by the Twilio tests: an adapter on a given config, signed webhook requests."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx

from mannerly.channels.base import WebhookRequest
from mannerly.channels.twilio.adapter import TwilioAdapter, TwilioConfig
from mannerly.channels.twilio.signature import compute_signature

ACCOUNT_SID = "AC" + "1b7c6e4a9f3d2c8b5a0e7f6d4c3b2a19"
AUTH_TOKEN = "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c"
BUSINESS_NUMBER = "+15017122661"
WEBHOOK_URL = "https://mannerly.example.com/webhooks/7"
RECEIVED_AT = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


def make_adapter(http: httpx.Client | None = None, *, kind: str = "sms", public_base_url: str | None =
                 "https://mannerly.example.com", **config: object) -> TwilioAdapter:
    """A Twilio adapter for channel 7 with the test credentials, overridable per test."""
    settings = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": BUSINESS_NUMBER,
                "api_base_url": "http://127.0.0.1:9", **config}
    return TwilioAdapter(
        TwilioConfig.from_channel({key: value for key, value in settings.items() if value is not None}),
        http=http or httpx.Client(timeout=1.0),
        clock=lambda: RECEIVED_AT,
        kind=kind,
        channel_id=7,
        public_base_url=public_base_url,
    )


def signed_request(body: bytes, *, url: str = WEBHOOK_URL, token: str = AUTH_TOKEN,
                   signature: str | None = None, sign_url: str | None = None,
                   method: str = "POST") -> WebhookRequest:
    """A webhook request as the route builds it, signed over `sign_url` (default: the URL itself)."""
    if signature is None:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True) if method == "POST" else []
        signature = compute_signature(token, sign_url or url, pairs)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(method=method, url=url, headers=headers, query={}, body=body)
