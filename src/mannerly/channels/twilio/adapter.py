"""The Twilio Messages API channel (SPEC C2): send over REST, receive inbound messages and status callbacks.

Send: `POST {api_base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded,
HTTP Basic auth (Account SID + Auth Token, or API key SID + secret), with `StatusCallback`
pointing at `<public base URL>/webhooks/<channel id>`. Receive: Twilio POSTs form-encoded
webhooks to that same URL, both for customer messages and for status callbacks, signed
with `X-Twilio-Signature` (see signature.py).

The hand-off rules follow the dispatcher's protocol: a refusal before acceptance that
says "try later" (429, 5xx, nothing connected) is retryable; a request that may have
reached Twilio without an answer (read timeout, dropped connection) is "unknown" and is
never resent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from mannerly.channels.base import (
    REDACTED,
    redact,
    EFFECT_OPT_OUT,
    Exchange,
    HandoffSearch,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
    normalize_status,
)
from mannerly.channels.twilio.signature import signature_matches

DEFAULT_API_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
SIGNATURE_HEADER = "x-twilio-signature"
# Searching the Message list for a lost hand-off: Twilio's largest page, and how far to page.
LIST_PAGE_SIZE = 1000
LIST_MAX_PAGES = 5

# Twilio's Message status values -> Mannerly's normalized statuses. "accepted"/"scheduled"
# come from Messaging Services; "sending" means Twilio is still handing it to the carrier.
TWILIO_STATUS_MAP: dict[str, str] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "read",
    "canceled": "failed",
}
# Statuses that describe a message a customer sent to us, not one of ours.
INBOUND_STATUSES = frozenset({"received", "receiving"})

# Twilio error codes that change consent or reachability in Mannerly.
ERROR_EFFECTS: dict[str, str] = {
    "21610": EFFECT_OPT_OUT,  # "Attempt to send to unsubscribed recipient": the customer texted STOP
}
# HTTP statuses Twilio answers before creating a message that mean "try again later".
RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """A Twilio channel's settings, read from the channel row's `config` JSON."""

    account_sid: str
    auth_token: str
    api_key_sid: str | None = None
    api_key_secret: str | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    api_base_url: str = DEFAULT_API_BASE_URL
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_channel(cls, config: Mapping[str, Any], sender_id: str | None = None) -> TwilioConfig:
        """Read the config JSON; the channel's sender_id is the From number when from_number is absent."""
        def text(name: str) -> str | None:
            """A config value as stripped text, or None when absent or blank."""
            value = config.get(name)
            return (str(value).strip() or None) if value is not None else None

        return cls(
            account_sid=text("account_sid") or "",
            auth_token=text("auth_token") or "",
            api_key_sid=text("api_key_sid"),
            api_key_secret=text("api_key_secret"),
            from_number=text("from_number") or (sender_id.strip() if sender_id else None),
            messaging_service_sid=text("messaging_service_sid"),
            api_base_url=(text("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
            timeout_seconds=_positive_seconds(config.get("timeout_seconds")),
        )

    def problems(self) -> list[str]:
        """What is missing before this channel can send (empty when it can)."""
        missing = []
        if not self.account_sid:
            missing.append("account_sid")
        if not (self.auth_token or (self.api_key_sid and self.api_key_secret)):
            missing.append("auth_token (or api_key_sid and api_key_secret)")
        if not (self.from_number or self.messaging_service_sid):
            missing.append("from_number or messaging_service_sid")
        return missing

    def basic_auth(self) -> tuple[str, str]:
        """Basic auth credentials: the API key when one is configured, else Account SID + Auth Token."""
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_sid, self.api_key_secret
        return self.account_sid, self.auth_token

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scrubbing logs."""
        return tuple(value for value in (self.auth_token, self.api_key_secret) if value)

    def messages_url(self) -> str:
        """The Messages list resource URL."""
        return f"{self.api_base_url}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}/Messages.json"

    def message_url(self, sid: str) -> str:
        """One Message resource's URL."""
        return (f"{self.api_base_url}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}"
                f"/Messages/{quote(sid, safe='')}.json")


# -- pure helpers -----------------------------------------------------------------------------


def _positive_seconds(value: Any) -> float:
    """A configured timeout in seconds; the default when absent or not a positive number.

    A bad value must not stop the adapter from being built: the dispatcher builds it after
    marking a message "sending", and a failure there would strand the message.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT_SECONDS
    return seconds if seconds > 0 else DEFAULT_TIMEOUT_SECONDS




def parse_error_body(body: Any) -> tuple[str | None, str | None]:
    """Twilio's error JSON {code, message, more_info, status} as (code, message)."""
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code")
    message = body.get("message")
    return (str(code) if code is not None else None), (str(message) if message is not None else None)


def send_status_from(raw_status: str | None) -> str:
    """The SendResult status for an accepted message: "sent" once Twilio handed it on, else "queued"."""
    normalized = normalize_status(TWILIO_STATUS_MAP, raw_status)
    return "sent" if normalized in ("sent", "delivered", "read") else "queued"


def without_channel_prefix(address: str) -> str:
    """A Twilio address without its channel prefix ("whatsapp:+30..." -> "+30...")."""
    return address[len(WHATSAPP_PREFIX):] if address.lower().startswith(WHATSAPP_PREFIX) else address


def error_code_text(value: Any) -> str | None:
    """An error code as text, or None when Twilio sent none (absent, null or blank)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_twilio_date(value: Any) -> datetime | None:
    """Twilio's RFC 2822 dates ("Thu, 24 Aug 2023 05:01:45 +0000"), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def status_from_resource(body: Any, provider_message_id: str) -> StatusUpdate | None:
    """A Message resource JSON as a StatusUpdate, or None when it has no status."""
    if not isinstance(body, Mapping) or not body.get("status"):
        return None
    raw_status = str(body["status"])
    error_code = error_code_text(body.get("error_code"))
    return StatusUpdate(
        provider_message_id=str(body.get("sid") or provider_message_id),
        status=normalize_status(TWILIO_STATUS_MAP, raw_status),
        raw_status=raw_status,
        error_code=error_code,
        occurred_at=parse_twilio_date(body.get("date_updated")),
        effect=ERROR_EFFECTS.get(error_code) if error_code else None,
    )


def status_update_from_fields(fields: Mapping[str, str]) -> StatusUpdate:
    """A status callback's form fields as a StatusUpdate (raw status and error code kept)."""
    sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
    raw_status = fields.get("MessageStatus") or fields.get("SmsStatus")
    error_code = error_code_text(fields.get("ErrorCode"))
    return StatusUpdate(
        provider_message_id=sid,
        status=normalize_status(TWILIO_STATUS_MAP, raw_status),
        raw_status=raw_status,
        error_code=error_code,
        occurred_at=None,  # Twilio sends no event time; the pipeline uses the time of arrival
        effect=ERROR_EFFECTS.get(error_code) if error_code else None,
    )


def inbound_message_from_fields(fields: Mapping[str, str], received_at: datetime) -> InboundMessage:
    """An incoming-message webhook's form fields as an InboundMessage (media URLs kept)."""
    sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid") or ""
    try:
        media_count = int(fields.get("NumMedia") or 0)
    except ValueError:
        raise WebhookRejected(400, f"NumMedia is not a number: {fields.get('NumMedia')!r}") from None
    if media_count < 0:
        raise WebhookRejected(400, "NumMedia is negative")
    media_urls = tuple(fields[f"MediaUrl{index}"] for index in range(media_count) if fields.get(f"MediaUrl{index}"))
    return InboundMessage(
        provider_message_id=sid,
        from_address=without_channel_prefix(fields.get("From", "")),
        to_address=without_channel_prefix(fields.get("To", "")),
        text=fields.get("Body", ""),
        received_at=received_at,
        media_urls=media_urls,
        raw=dict(fields),
    )


def events_from_fields(fields: Mapping[str, str], received_at: datetime) -> tuple[InboundMessage | StatusUpdate, ...]:
    """Tell a status callback from an incoming message and parse it; WebhookRejected(400) when it is neither."""
    sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
    if not sid:
        raise WebhookRejected(400, "no MessageSid in the webhook")
    raw_status = fields.get("MessageStatus") or fields.get("SmsStatus")
    if raw_status and raw_status.lower() not in INBOUND_STATUSES:
        return (status_update_from_fields(fields),)
    if fields.get("From") and ("Body" in fields or "NumMedia" in fields):
        return (inbound_message_from_fields(fields, received_at),)
    raise WebhookRejected(400, "neither a status callback (MessageStatus) nor an incoming message (From, Body)")


def parse_form_pairs(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body as (name, value) pairs, repeats and blank values kept; 400 when malformed."""
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookRejected(400, f"the body is not a form: {error}") from error


# -- the adapter ------------------------------------------------------------------------------


class TwilioAdapter:
    """One Twilio channel; implements ChannelAdapter and WebhookAdapter."""

    provider = "twilio"
    status_map: dict[str, str] = TWILIO_STATUS_MAP

    def __init__(
        self,
        config: TwilioConfig,
        *,
        http: httpx.Client,
        clock: Callable[[], datetime],
        kind: str = "sms",
        channel_id: int | None = None,
        public_base_url: str | None = None,
    ) -> None:
        """Bind the channel's settings to an HTTP client and a clock."""
        self.config = config
        self.http = http
        self.clock = clock
        self.kind = kind
        self.channel_id = channel_id
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    # -- sending ----------------------------------------------------------------------------

    def status_callback_url(self, message_id: int | None = None) -> str | None:
        """Where Twilio should POST status callbacks (carrying our message id), or None without a public base URL."""
        if not self.public_base_url or self.channel_id is None:
            return None
        url = f"{self.public_base_url}/webhooks/{self.channel_id}"
        # Our id in the URL (which Twilio signs) matches callbacks even if the create answer was lost.
        return f"{url}?message_id={message_id}" if message_id is not None else url

    def address(self, number: str) -> str:
        """A number as Twilio expects it on this channel ("whatsapp:" prefix on WhatsApp channels)."""
        if self.kind == "whatsapp" and not number.lower().startswith(WHATSAPP_PREFIX):
            return WHATSAPP_PREFIX + number
        return number

    def request_form(self, message: OutboundMessage) -> dict[str, str]:
        """The form fields of the create-Message request."""
        form = {"To": self.address(message.to), "Body": message.text}
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            form["From"] = self.address(self.config.from_number or message.sender_id or "")
        callback = self.status_callback_url(message.message_id)
        if callback:
            form["StatusCallback"] = callback
        return form

    def _timeout(self) -> httpx.Timeout:
        """The per-request timeout: the channel's read timeout, a shorter connect timeout."""
        seconds = self.config.timeout_seconds
        return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_SECONDS, seconds))

    def _exchange(self, method: str, url: str, form: Mapping[str, str] | None, response: Any,
                  status_code: int | None, started: float) -> Exchange:
        """The redacted record of one request/response."""
        request: dict[str, Any] = {"method": method, "url": url, "headers": {"Authorization": REDACTED}}
        if form is not None:
            request["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
            request["form"] = dict(form)
        secrets = self.config.secrets()
        return Exchange(
            request=redact(request, secrets),
            response=redact(response, secrets),
            status_code=status_code,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """Create one Message at Twilio; see the module docstring for how outcomes are classified."""
        problems = self.config.problems()
        if problems:
            return SendResult(accepted=False, status="failed", error_code="config",
                              error_detail="the Twilio channel is missing " + ", ".join(problems))
        url = self.config.messages_url()
        form = self.request_form(message)
        started = time.perf_counter()
        try:
            response = self.http.post(url, data=form, auth=self.config.basic_auth(), timeout=self._timeout(),
                                      headers={"Accept": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Nothing reached Twilio: safe to try again later.
            return SendResult(accepted=False, status="failed", retryable=True, error_code="connect",
                              error_detail=f"could not reach Twilio: {type(error).__name__}: {error}",
                              exchange=self._exchange("POST", url, form, None, None, started))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return SendResult(accepted=False, status="failed", error_code="config",
                              error_detail=f"bad api_base_url: {error}",
                              exchange=self._exchange("POST", url, form, None, None, started))
        except httpx.HTTPError as error:
            # The request may have reached Twilio (read timeout, dropped connection): never resend.
            return SendResult(accepted=False, status="unknown",
                              error_detail=f"no answer from Twilio after sending: {type(error).__name__}: {error}",
                              exchange=self._exchange("POST", url, form, None, None, started))
        return self.result_from_response(url, form, response, started)

    def result_from_response(self, url: str, form: Mapping[str, str], response: httpx.Response,
                             started: float) -> SendResult:
        """Classify Twilio's answer to a create-Message request."""
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        exchange = self._exchange("POST", url, form, body, response.status_code, started)
        if 200 <= response.status_code < 300:
            sid = body.get("sid") if isinstance(body, Mapping) else None
            if not sid:
                # Twilio said yes but we cannot tell which message: treat like a lost answer.
                return SendResult(accepted=False, status="unknown", exchange=exchange,
                                  error_detail=f"Twilio answered {response.status_code} without a message sid")
            return SendResult(accepted=True, status=send_status_from(body.get("status")),
                              provider_message_id=str(sid), exchange=exchange)
        code, detail = parse_error_body(body)
        detail = detail or f"HTTP {response.status_code}"
        if response.status_code in RETRYABLE_HTTP_STATUSES or response.status_code >= 500:
            return SendResult(accepted=False, status="failed", retryable=True,
                              error_code=code or str(response.status_code), error_detail=detail, exchange=exchange)
        return SendResult(accepted=False, status="failed", error_code=code or str(response.status_code),
                          error_detail=detail, exchange=exchange, effect=ERROR_EFFECTS.get(code or ""))

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """Fetch the Message resource and report its status, or None when Twilio cannot tell us."""
        if self.config.problems() or not provider_message_id:
            return None
        return status_from_resource(self._get_json(self.config.message_url(provider_message_id), {}),
                                    provider_message_id)

    def find_handoff(self, message: OutboundMessage, since: datetime) -> HandoffSearch | None:
        """Search Twilio's Message list for this text to this number created since `since`; None if it cannot tell.

        Used for a hand-off whose answer was lost (dropped connection, a worker killed mid-request):
        one match is the message; none, in a complete search, means Twilio never created it.
        """
        if self.config.problems():
            return None
        params = {"To": self.address(message.to), "PageSize": str(LIST_PAGE_SIZE)}
        if not self.config.messaging_service_sid:
            params["From"] = self.address(self.config.from_number or message.sender_id or "")
        # Twilio's dates have whole seconds: a message created in the same second as `since` counts.
        earliest = since.replace(microsecond=0) - timedelta(seconds=1)
        matches: list[Mapping[str, Any]] = []
        url: str | None = self.config.messages_url()
        for _ in range(LIST_MAX_PAGES):
            if url is None:
                break
            body = self._get_json(url, params)
            if not isinstance(body, Mapping) or not isinstance(body.get("messages"), list):
                return None
            reached_older = False
            for resource in body["messages"]:
                created = parse_twilio_date(resource.get("date_created")) if isinstance(resource, Mapping) else None
                if created is None:
                    return None
                if created < earliest:
                    reached_older = True  # the list is newest first
                    break
                if resource.get("body") == message.text:
                    matches.append(resource)
            next_page = body.get("next_page_uri")
            url = f"{self.config.api_base_url}{next_page}" if next_page and not reached_older else None
            params = {}
        else:
            return None  # too many messages to this number to be sure
        if len(matches) > 1:
            return None  # two identical texts in the window: which one was ours cannot be told
        if not matches:
            return HandoffSearch(absent=True)
        found = status_from_resource(matches[0], "")
        return HandoffSearch(found=found) if found is not None and found.provider_message_id else None

    def _get_json(self, url: str, params: Mapping[str, str]) -> Any:
        """GET a Twilio resource; its JSON body, or None on any error."""
        try:
            response = self.http.get(url, params=params, auth=self.config.basic_auth(), timeout=self._timeout(),
                                     headers={"Accept": "application/json"})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    # -- webhooks ---------------------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Verify X-Twilio-Signature (403), parse the form (400), and answer as Twilio expects."""
        if not self.config.auth_token:
            raise WebhookRejected(403, "this Twilio channel has no auth_token to check signatures with")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected(403, "missing X-Twilio-Signature header")
        if request.method == "POST":
            signed_pairs = parse_form_pairs(request.body)
            fields = dict(signed_pairs)
        elif request.method == "GET":
            # A GET webhook carries its parameters in the query, which is part of the signed URL.
            signed_pairs = []
            fields = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        else:
            raise WebhookRejected(400, f"Twilio webhooks are POST or GET, not {request.method}")
        if not signature_matches(self.config.auth_token, request.url, signed_pairs, signature):
            raise WebhookRejected(403, "X-Twilio-Signature does not match this URL and these parameters")
        account = fields.get("AccountSid")
        if account and self.config.account_sid and account != self.config.account_sid:
            raise WebhookRejected(403, "the webhook is for another Twilio account")
        events = events_from_fields(fields, self.clock())
        our_id = request.query.get("message_id", "")
        if our_id.isdigit():
            events = tuple(replace(event, message_id=int(our_id)) if isinstance(event, StatusUpdate) else event
                           for event in events)
        if any(isinstance(event, InboundMessage) for event in events):
            # Empty TwiML: accept the message without an automatic reply.
            return WebhookResult(events=events, body=EMPTY_TWIML, media_type="text/xml")
        return WebhookResult(events=events, body="", media_type="text/plain")


def create_adapter(channel: Any, runtime: Any) -> TwilioAdapter:
    """Registry factory: a Twilio adapter for a channel row, on the runtime's HTTP client and clock."""
    return TwilioAdapter(
        TwilioConfig.from_channel(channel.config or {}, channel.sender_id),
        http=runtime.http,
        clock=runtime.now,
        kind=channel.kind,
        channel_id=channel.id,
        public_base_url=runtime.settings.public_base_url,
    )

