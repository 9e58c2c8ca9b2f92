"""The WhatsApp Cloud API channel (SPEC C3): text and template sends, webhooks, the template list.

Send: `POST {api_base_url}/{api_version}/{phone_number_id}/messages` with
`Authorization: Bearer <access_token>` and a JSON body (`messaging_product: whatsapp`,
`type: text` or `type: template`). The answer's `messages[0].id` (a `wamid.…`) is the
provider message id; delivery progress (sent, delivered, read, failed) arrives later as
webhooks. Receive: Meta calls `<public base URL>/webhooks/<channel id>` with a GET
verification handshake (`hub.mode`, `hub.verify_token`, `hub.challenge`) once, then POSTs
notifications signed with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
app secret).

The hand-off rules follow the dispatcher's protocol: a refusal that says "try later"
(throttling codes, 429, 5xx, nothing connected) is retryable; a request that may have
reached Meta without an answer (read timeout, dropped connection) is "unknown" and is
never resent. The Cloud API has no endpoint to ask for one message's status, so
`lookup_status` returns None and reconciliation waits for the status webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from mannerly.channels.base import (
    REDACTED,
    redact,
    EFFECT_MARKETING_OPT_OUT,
    EFFECT_WINDOW_CLOSED,
    Exchange,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
    normalize_status,
)

DEFAULT_API_BASE_URL = "https://graph.facebook.com"
# The newest Graph API version when this adapter was written; any supported version works.
DEFAULT_API_VERSION = "v26.0"
DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="
WEBHOOK_OBJECT = "whatsapp_business_account"
MEDIA_URL_PREFIX = "whatsapp-media:"
MAX_TEXT_CHARACTERS = 4096  # the Cloud API's limit for text.body
MAX_CHALLENGE_CHARACTERS = 256
MAX_TEMPLATE_PAGES = 50

# The Cloud API's message statuses -> Mannerly's. "accepted" is what the send answer says;
# the webhooks report sent, delivered, read and failed. Anything else (e.g. "deleted",
# when the customer deletes a message) is stored as "unknown" with its raw value.
WHATSAPP_STATUS_MAP: dict[str, str] = {
    "accepted": "queued",
    "held_for_quality_assessment": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}

# Error codes that change consent or reachability in Mannerly.
ERROR_EFFECTS: dict[str, str] = {
    "131047": EFFECT_WINDOW_CLOSED,  # re-engagement message: more than 24 hours since the customer wrote
    "131050": EFFECT_MARKETING_OPT_OUT,  # the customer stopped marketing messages from this business
}
# Error codes meaning "refused for now, try again later" (throttling or a passing outage).
RETRYABLE_ERROR_CODES: frozenset[str] = frozenset({
    "4",  # application request limit reached
    "80007",  # WhatsApp Business Account rate limit
    "130429",  # Cloud API throughput reached
    "131056",  # too many messages to the same recipient in a short time (pair rate limit)
    "131016",  # service unavailable
    "2",  # temporary service problem
})
TOKEN_ERROR_CODE = "190"
RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_DIGITS = re.compile(r"^[1-9]\d{6,14}$")


class WhatsAppApiError(Exception):
    """A Graph API call other than a send failed; `detail` says why in plain words."""

    def __init__(self, detail: str, status_code: int | None = None, code: str | None = None) -> None:
        """Keep the explanation, the HTTP status and the Graph error code."""
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.code = code


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """A WhatsApp Cloud API channel's settings, read from the channel row's `config` JSON."""

    phone_number_id: str
    access_token: str
    app_secret: str = ""
    verify_token: str = ""
    waba_id: str = ""
    display_phone_number: str = ""
    api_base_url: str = DEFAULT_API_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    # whatsapp template name -> {Mannerly language -> WhatsApp language code}, written by the
    # template sync where the two differ (e.g. {"order_shipped": {"en": "en_US"}}).
    template_languages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_channel(cls, config: Mapping[str, Any], sender_id: str | None = None) -> WhatsAppConfig:
        """Read the config JSON; the channel's sender_id is the phone number id when phone_number_id is absent."""
        def text(name: str) -> str:
            """A config value as stripped text ("" when absent)."""
            value = config.get(name)
            return str(value).strip() if value is not None else ""

        languages = config.get("template_languages")
        return cls(
            phone_number_id=text("phone_number_id") or (sender_id or "").strip(),
            access_token=text("access_token"),
            app_secret=text("app_secret"),
            verify_token=text("verify_token"),
            waba_id=text("waba_id"),
            display_phone_number=digits_only(text("display_phone_number")),
            api_base_url=(text("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
            api_version=text("api_version") or DEFAULT_API_VERSION,
            timeout_seconds=float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
            template_languages=languages if isinstance(languages, Mapping) else {},
        )

    def problems(self) -> list[str]:
        """What is missing before this channel can send (empty when it can)."""
        return [name for name, value in (("phone_number_id", self.phone_number_id),
                                         ("access_token", self.access_token)) if not value]

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scrubbing logs."""
        return tuple(value for value in (self.access_token, self.app_secret, self.verify_token) if value)

    def messages_url(self) -> str:
        """The send endpoint of this phone number."""
        return f"{self.api_base_url}/{self.api_version}/{quote(self.phone_number_id, safe='')}/messages"

    def templates_url(self) -> str:
        """The message template list of this WhatsApp Business Account."""
        return f"{self.api_base_url}/{self.api_version}/{quote(self.waba_id, safe='')}/message_templates"

    def template_language(self, name: str, language: str) -> str:
        """The WhatsApp language code to send a template in, for a Mannerly language."""
        per_template = self.template_languages.get(name)
        if isinstance(per_template, Mapping):
            return str(per_template.get(language, language))
        return language


# -- pure helpers -----------------------------------------------------------------------------


def digits_only(value: str) -> str:
    """A phone number with everything but its digits removed ("+82 10-2345-6789" -> "821023456789")."""
    return "".join(character for character in value if character.isdigit())




def signature_for(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends for a body: "sha256=" and the hex HMAC-SHA256."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(app_secret: str, body: bytes, header: str | None) -> bool:
    """True when the header is the body's signature with this secret (constant-time)."""
    if not app_secret or not header:
        return False
    return hmac.compare_digest(signature_for(app_secret, body).encode(), header.strip().lower().encode())


# Prefix of our message id in biz_opaque_callback_data.
CALLBACK_PREFIX = "mannerly:"


def text_message_body(to_digits: str, text: str) -> dict[str, Any]:
    """The JSON of a text send."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_digits,
        "type": "text",
        "text": {"preview_url": False, "body": text},
    }


def template_message_body(to_digits: str, name: str, language_code: str, parameters: list[str]) -> dict[str, Any]:
    """The JSON of a template send; the parameters fill the BODY's {{1}}, {{2}} … in order."""
    template: dict[str, Any] = {"name": name, "language": {"code": language_code}}
    if parameters:
        template["components"] = [{
            "type": "body",
            "parameters": [{"type": "text", "text": str(value)} for value in parameters],
        }]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_digits,
        "type": "template",
        "template": template,
    }


@dataclass(frozen=True, slots=True)
class GraphError:
    """A Graph API error answer, classified for the dispatcher."""

    code: str | None
    detail: str
    retryable: bool
    effect: str | None


def parse_graph_error(status_code: int, body: Any) -> GraphError:
    """Classify a Graph error body {"error": {message, type, code, error_subcode, error_data, fbtrace_id}}."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return GraphError(code=None, detail=f"HTTP {status_code}",
                          retryable=status_code in RETRYABLE_HTTP_STATUSES or status_code >= 500, effect=None)
    code = str(error["code"]) if error.get("code") is not None else None
    message = str(error.get("message") or f"HTTP {status_code}")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else None
    detail = f"{message}: {details}" if details and details not in message else message
    if error.get("error_subcode") is not None:
        detail += f" (subcode {error['error_subcode']})"
    if code == TOKEN_ERROR_CODE:
        detail = ("the access token is invalid or expired (Graph error 190); create a new system user token "
                  f"with whatsapp_business_messaging permission and paste it into the channel's access_token. {detail}")
    retryable = (code in RETRYABLE_ERROR_CODES or status_code in RETRYABLE_HTTP_STATUSES
                 or status_code >= 500)
    return GraphError(code=code, detail=detail, retryable=retryable, effect=ERROR_EFFECTS.get(code or ""))


def parse_timestamp(value: Any) -> datetime | None:
    """A webhook's Unix-seconds timestamp ("1749416383") as an aware UTC datetime; None when absent."""
    if value is None or value == "":
        return None
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise WebhookRejected(400, f"timestamp {value!r} is not Unix seconds") from None


def _object(value: Any, what: str) -> Mapping[str, Any]:
    """The value when it is a JSON object, else a 400."""
    if not isinstance(value, Mapping):
        raise WebhookRejected(400, f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    """The value when it is a JSON array (absent counts as empty), else a 400."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookRejected(400, f"{what} is not an array")
    return value


def _text(value: Any, what: str) -> str:
    """The value when it is a non-empty string, else a 400."""
    if not isinstance(value, str) or not value:
        raise WebhookRejected(400, f"{what} is missing or not a string")
    return value


def message_text(message: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """What a customer's message says as text, and its media references (whatsapp-media:<id>)."""
    kind = message["type"]
    content = message.get(kind) if isinstance(message.get(kind), Mapping) else {}
    if kind == "text":
        return _text(content.get("body"), "text.body"), ()
    if kind == "interactive":
        reply_type = content.get("type")
        reply = content.get(reply_type) if isinstance(reply_type, str) else None
        if reply_type in ("button_reply", "list_reply") and isinstance(reply, Mapping):
            return _text(reply.get("title"), f"interactive.{reply_type}.title"), ()
        return f"[interactive {reply_type or 'reply'}]", ()
    if kind == "button":  # a quick-reply button of a template message
        return _text(content.get("text"), "button.text"), ()
    if kind in MEDIA_TYPES:
        media_id = content.get("id")
        label = f"[{kind}]"
        extra = content.get("caption") or (content.get("filename") if kind == "document" else None)
        text = f"{label} {extra}" if isinstance(extra, str) and extra else label
        return text, ((f"{MEDIA_URL_PREFIX}{media_id}",) if media_id else ())
    if kind == "location":
        where = " ".join(str(content[key]) for key in ("name", "address") if content.get(key))
        point = f"{content.get('latitude')},{content.get('longitude')}"
        return f"[location] {where} {point}".replace("  ", " ").strip(), ()
    if kind == "reaction":
        emoji = content.get("emoji")
        return (f"[reaction] {emoji}" if emoji else "[reaction removed]"), ()
    # contacts, order, system, unsupported, and types added after this was written.
    return f"[{kind}]", ()


def inbound_from(message: Mapping[str, Any], contacts: list[Any], business_address: str,
                 received_at: datetime) -> InboundMessage:
    """One entry of `value.messages[]` as an InboundMessage (from the wa_id as "+digits")."""
    message_id = _text(message.get("id"), "messages[].id")
    sender = _text(message.get("from"), "messages[].from")
    if not _DIGITS.match(sender):
        raise WebhookRejected(400, f"messages[].from {sender!r} is not a WhatsApp id (digits)")
    _text(message.get("type"), "messages[].type")
    text, media = message_text(message)
    profile = next((item.get("profile") for item in contacts
                    if isinstance(item, Mapping) and item.get("wa_id") == sender), None)
    raw: dict[str, Any] = {"message": dict(message)}
    if isinstance(profile, Mapping):
        raw["profile"] = dict(profile)
    return InboundMessage(
        provider_message_id=message_id,
        from_address="+" + sender,
        to_address=business_address,
        text=text,
        received_at=parse_timestamp(message.get("timestamp")) or received_at,
        media_urls=media,
        raw=raw,
    )


def status_from(status: Mapping[str, Any]) -> StatusUpdate:
    """One entry of `value.statuses[]` as a StatusUpdate (first error's code kept, with its effect)."""
    message_id = _text(status.get("id"), "statuses[].id")
    raw_status = _text(status.get("status"), "statuses[].status")
    errors = _list(status.get("errors"), "statuses[].errors")
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    error_code = str(first["code"]) if first.get("code") is not None else None
    opaque = str(status.get("biz_opaque_callback_data") or "")
    ours = opaque.removeprefix(CALLBACK_PREFIX)
    return StatusUpdate(
        message_id=int(ours) if opaque.startswith(CALLBACK_PREFIX) and ours.isdigit() else None,
        provider_message_id=message_id,
        status=normalize_status(WHATSAPP_STATUS_MAP, raw_status),
        raw_status=raw_status,
        error_code=error_code,
        occurred_at=parse_timestamp(status.get("timestamp")),
        effect=ERROR_EFFECTS.get(error_code or ""),
    )


def events_from_payload(payload: Any, phone_number_id: str, received_at: datetime) -> tuple[InboundEvent, ...]:
    """The messages and statuses of one webhook notification for this phone number; 400 when not the documented shape.

    A WhatsApp Business Account's numbers share one callback URL, so changes for other
    phone number ids are skipped (they belong to other channels). Fields other than
    "messages" (template status, account updates …) are ignored.
    """
    body = _object(payload, "the notification")
    if body.get("object") != WEBHOOK_OBJECT:
        raise WebhookRejected(400, f"object is {body.get('object')!r}, expected {WEBHOOK_OBJECT!r}")
    events: list[InboundEvent] = []
    for entry in _list(body.get("entry"), "entry"):
        for change in _list(_object(entry, "entry[]").get("changes"), "entry[].changes"):
            change = _object(change, "changes[]")
            if change.get("field") != "messages":
                continue
            value = _object(change.get("value"), "changes[].value")
            metadata = value.get("metadata") if isinstance(value.get("metadata"), Mapping) else {}
            number_id = str(metadata.get("phone_number_id") or "")
            if number_id and phone_number_id and number_id != phone_number_id:
                continue
            display = digits_only(str(metadata.get("display_phone_number") or ""))
            business_address = f"+{display}" if display else number_id
            contacts = _list(value.get("contacts"), "value.contacts")
            for message in _list(value.get("messages"), "value.messages"):
                events.append(inbound_from(_object(message, "messages[]"), contacts, business_address, received_at))
            for status in _list(value.get("statuses"), "value.statuses"):
                events.append(status_from(_object(status, "statuses[]")))
    return tuple(events)


# -- the adapter ------------------------------------------------------------------------------


class WhatsAppCloudAdapter:
    """One WhatsApp Cloud API phone number; implements ChannelAdapter and WebhookAdapter."""

    provider = "whatsapp_cloud"
    status_map: dict[str, str] = WHATSAPP_STATUS_MAP

    def __init__(self, config: WhatsAppConfig, *, http: httpx.Client, clock: Callable[[], datetime],
                 kind: str = "whatsapp", channel_id: int | None = None) -> None:
        """Bind the channel's settings to an HTTP client and a clock."""
        self.config = config
        self.http = http
        self.clock = clock
        self.kind = kind
        self.channel_id = channel_id

    # -- sending ----------------------------------------------------------------------------

    def _timeout(self) -> httpx.Timeout:
        """The per-request timeout: the channel's read timeout, a shorter connect timeout."""
        seconds = self.config.timeout_seconds
        return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_SECONDS, seconds))

    def _headers(self) -> dict[str, str]:
        """Bearer auth and JSON."""
        return {"Authorization": f"Bearer {self.config.access_token}", "Accept": "application/json"}

    def _exchange(self, method: str, url: str, body: Any, response: Any, status_code: int | None,
                  started: float) -> Exchange:
        """The redacted record of one request/response."""
        request: dict[str, Any] = {"method": method, "url": url,
                                   "headers": {"Authorization": REDACTED, "Content-Type": "application/json"}}
        if body is not None:
            request["json"] = body
        secrets = self.config.secrets()
        return Exchange(request=redact(request, secrets), response=redact(response, secrets),
                        status_code=status_code, duration_ms=int((time.perf_counter() - started) * 1000))

    def request_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The JSON to POST for one message: a template send when the dispatcher passed one, else text."""
        to = digits_only(message.to)
        template = message.options.get("whatsapp_template") if message.options else None
        if isinstance(template, Mapping) and template.get("name"):
            name = str(template["name"])
            language = self.config.template_language(name, str(template.get("language") or "en"))
            body = template_message_body(to, name, language, [str(value) for value in template.get("parameters") or []])
        else:
            body = text_message_body(to, message.text)
        # Echoed back in status webhooks: matches them even if the answer carrying the wamid was lost.
        body["biz_opaque_callback_data"] = f"{CALLBACK_PREFIX}{message.message_id}"
        return body

    def send(self, message: OutboundMessage) -> SendResult:
        """Send one message through the Cloud API; see the module docstring for how outcomes are classified."""
        problems = self.config.problems()
        if problems:
            return SendResult(accepted=False, status="failed", error_code="config",
                              error_detail="the WhatsApp channel is missing " + ", ".join(problems))
        if not _DIGITS.match(digits_only(message.to)):
            return SendResult(accepted=False, status="failed", error_code="invalid_recipient",
                              error_detail=f"{message.to!r} is not a phone number WhatsApp can address")
        url = self.config.messages_url()
        body = self.request_body(message)
        if body["type"] == "text" and not message.text.strip():
            return SendResult(accepted=False, status="failed", error_code="empty_body", error_detail="no text to send")
        started = time.perf_counter()
        try:
            response = self.http.post(url, json=body, headers=self._headers(), timeout=self._timeout())
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Nothing reached Meta: safe to try again later.
            return SendResult(accepted=False, status="failed", retryable=True, error_code="connect",
                              error_detail=f"could not reach the Graph API: {type(error).__name__}: {error}",
                              exchange=self._exchange("POST", url, body, None, None, started))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return SendResult(accepted=False, status="failed", error_code="config",
                              error_detail=f"bad api_base_url: {error}",
                              exchange=self._exchange("POST", url, body, None, None, started))
        except httpx.HTTPError as error:
            # The request may have reached Meta (read timeout, dropped connection): never resend.
            return SendResult(accepted=False, status="unknown",
                              error_detail=f"no answer from the Graph API after sending: {type(error).__name__}: {error}",
                              exchange=self._exchange("POST", url, body, None, None, started))
        return self.result_from_response(url, body, response, started)

    def result_from_response(self, url: str, body: Mapping[str, Any], response: httpx.Response,
                             started: float) -> SendResult:
        """Classify the Graph API's answer to a send."""
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        exchange = self._exchange("POST", url, body, answer, response.status_code, started)
        if 200 <= response.status_code < 300:
            messages = answer.get("messages") if isinstance(answer, Mapping) else None
            first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else {}
            wamid = first.get("id")
            if not wamid:
                # Meta said yes but we cannot tell which message: treat like a lost answer.
                return SendResult(accepted=False, status="unknown", exchange=exchange,
                                  error_detail=f"the Graph API answered {response.status_code} without a message id")
            status = normalize_status(WHATSAPP_STATUS_MAP, str(first.get("message_status") or "accepted"))
            return SendResult(accepted=True, status="sent" if status in ("sent", "delivered", "read") else "queued",
                              provider_message_id=str(wamid), exchange=exchange)
        error = parse_graph_error(response.status_code, answer)
        return SendResult(accepted=False, status="failed", retryable=error.retryable,
                          error_code=error.code or str(response.status_code),
                          error_detail=redact(error.detail, self.config.secrets()),
                          exchange=exchange, effect=error.effect)

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """The Cloud API cannot be asked about one message; statuses come only by webhook."""
        return None

    # -- the template list ------------------------------------------------------------------

    def fetch_templates(self) -> list[dict[str, Any]]:
        """Every message template of the WhatsApp Business Account (all pages); raises WhatsAppApiError."""
        if not self.config.waba_id or not self.config.access_token:
            raise WhatsAppApiError("the channel needs waba_id and access_token in its config to list templates")
        url: str | None = self.config.templates_url()
        params: dict[str, str] | None = {"fields": "name,language,status,category,components", "limit": "100"}
        templates: list[dict[str, Any]] = []
        for _page in range(MAX_TEMPLATE_PAGES):
            if url is None:
                break
            try:
                response = self.http.get(url, params=params, headers=self._headers(), timeout=self._timeout())
            except httpx.HTTPError as error:
                raise WhatsAppApiError(f"could not list templates: {type(error).__name__}: {error}") from error
            try:
                answer: Any = response.json()
            except ValueError:
                answer = None
            if response.status_code != 200:
                error = parse_graph_error(response.status_code, answer)
                raise WhatsAppApiError(redact(error.detail, self.config.secrets()), response.status_code, error.code)
            data = answer.get("data") if isinstance(answer, Mapping) else None
            if not isinstance(data, list):
                raise WhatsAppApiError("the template list answer has no data array", response.status_code)
            templates.extend(item for item in data if isinstance(item, dict))
            paging = answer.get("paging") if isinstance(answer.get("paging"), Mapping) else {}
            next_url = paging.get("next")
            # The next page's URL carries its own query; follow it only on the configured host,
            # so the access token is never sent anywhere else.
            url = next_url if isinstance(next_url, str) and next_url.startswith(self.config.api_base_url + "/") else None
            params = None
        return templates

    # -- webhooks ---------------------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Answer the GET verification handshake, or verify (403) and parse (400) a POSTed notification."""
        if request.method == "GET":
            return self.verification_answer(request.query)
        if request.method != "POST":
            raise WebhookRejected(400, f"WhatsApp webhooks are GET or POST, not {request.method}")
        if not self.config.app_secret:
            raise WebhookRejected(403, "this WhatsApp channel has no app_secret to check signatures with")
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise WebhookRejected(403, "missing X-Hub-Signature-256 header")
        if not signature_matches(self.config.app_secret, request.body, header):
            raise WebhookRejected(403, "X-Hub-Signature-256 does not match the body")
        events = events_from_payload(request.json(), self.config.phone_number_id, self.clock())
        return WebhookResult(events=events, body="", media_type="text/plain")

    def verification_answer(self, query: Mapping[str, str]) -> WebhookResult:
        """The handshake: echo hub.challenge when hub.mode is subscribe and hub.verify_token matches."""
        if query.get("hub.mode") != "subscribe":
            raise WebhookRejected(403, "hub.mode is not 'subscribe'")
        expected = self.config.verify_token
        offered = query.get("hub.verify_token") or ""
        if not expected or not hmac.compare_digest(expected.encode(), offered.encode()):
            raise WebhookRejected(403, "hub.verify_token does not match the channel's verify_token")
        challenge = query.get("hub.challenge") or ""
        if not challenge or len(challenge) > MAX_CHALLENGE_CHARACTERS:
            raise WebhookRejected(400, "hub.challenge is missing or too long")
        return WebhookResult(body=challenge, media_type="text/plain")


def create_adapter(channel: Any, runtime: Any) -> WhatsAppCloudAdapter:
    """Registry factory: a WhatsApp Cloud API adapter for a channel row, on the runtime's HTTP client and clock."""
    return WhatsAppCloudAdapter(
        WhatsAppConfig.from_channel(channel.config or {}, channel.sender_id),
        http=runtime.http,
        clock=runtime.now,
        kind=channel.kind,
        channel_id=channel.id,
    )
