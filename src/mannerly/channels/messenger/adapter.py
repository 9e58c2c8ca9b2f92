"""The Facebook Messenger channel (SPEC C4): Send API out, Page webhooks in.

Send: `POST {api_base_url}/{api_version}/{page_id}/messages` with a JSON body
`{"recipient": {"id": PSID}, "messaging_type": ..., "message": {"text": ...}}` plus
`"tag"` for MESSAGE_TAG. The Page access token travels in the `Authorization: Bearer`
header (the Graph API accepts it there as well as in the `access_token` parameter the
Messenger samples use; the header keeps it out of URLs and proxy logs), and
`appsecret_proof` (HMAC-SHA256 of the token keyed with the app secret) is added when an
app secret is configured, as Meta recommends for server calls. Set
`access_token_in: "query"` in the channel config to send the token as a parameter instead.

The engine decides the messaging type, never the adapter: the dispatcher passes the
decision's channel options (`{"messaging_type": "RESPONSE"}` or
`{"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}`). A message without them is
refused (failed, not retried) rather than guessed.

Outcomes follow the dispatcher's hand-off-once protocol: a Graph error is a refusal;
rate limits (codes 4, 17, 32, 613, 80006), transient errors and HTTP 429/5xx are retried
later; a timeout or dropped connection after the request left is "unknown" and never
resent. Errors keep "code/subcode" as error_code. No provider error here changes consent:
Messenger has no opt-out error code, and "outside the allowed window" (10/2018278) is
reported as a plain failure (see README: clearing messenger_last_inbound_at would also
cancel the 7-day HUMAN_AGENT allowance, which Meta's error does not).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from mannerly.channels.base import (
    redact,
    Exchange,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookRequest,
    WebhookResult,
    normalize_status,
)
from mannerly.channels.messenger.ledger import DatabaseSentLedger, NoLedger, SentLedger
from mannerly.channels.messenger.webhook import (
    EVENT_RECEIVED,
    MESSENGER_STATUS_MAP,
    SIGNATURE_HEADER,
    check_signature,
    handshake_challenge,
    parse_webhook,
)

DEFAULT_API_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_TEXT_CHARACTERS = 2000  # the Send API's limit for message.text

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
# Meta announced that from 27 April 2026 these tags are refused with error 100; they are
# still sent when the workspace asks for them, and a refusal says why.
RETIRED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"})

# Graph error codes meaning "too many calls, try later".
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006})
# Graph error codes meaning "temporary trouble on Meta's side".
TRANSIENT_CODES = frozenset({1, 2})
RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})

# (code, subcode) or (code, None) -> what the refusal means, in plain words. Kept as data.
ERROR_MEANINGS: dict[tuple[int, int | None], str] = {
    (10, 2018278): "Meta refused it as outside Messenger's 24-hour window: the customer has not written "
                   "within 24 hours and the message carried no accepted tag",
    (10, 2018065): "Meta refused it as outside the allowed window for this Page",
    (10, 2018108): "this person cannot receive messages from the Page",
    (10, None): "the Page lacks permission to send this message",
    (551, None): "this person isn't available right now (they may have blocked the Page or left Messenger); "
                 "not delivered",
    (100, 2018001): "no Messenger user matches this PSID for this Page",
    (100, None): "Meta rejected a parameter of the request",
    (190, None): "the Page access token is invalid or expired: paste a fresh one into the channel config",
    (200, None): "the app lacks the pages_messaging permission for this Page",
    (230, None): "the person's settings do not allow this message",
    (368, None): "Meta blocked the Page from sending for a policy violation",
}


@dataclass(frozen=True, slots=True)
class MessengerConfig:
    """A Messenger channel's settings, from the channel row's `config` JSON."""

    page_id: str
    page_access_token: str
    app_secret: str = ""
    verify_token: str = ""
    api_base_url: str = DEFAULT_API_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    access_token_in: str = "header"  # "header" (Authorization: Bearer) or "query" (access_token=)

    @classmethod
    def from_channel(cls, config: Mapping[str, Any], sender_id: str | None = None) -> MessengerConfig:
        """Read the config JSON; the channel's sender_id is the Page id when page_id is absent."""
        def text(name: str) -> str:
            """A config value as stripped text ('' when absent)."""
            value = config.get(name)
            return str(value).strip() if value is not None else ""

        return cls(
            page_id=text("page_id") or (sender_id or "").strip(),
            page_access_token=text("page_access_token"),
            app_secret=text("app_secret"),
            verify_token=text("verify_token"),
            api_base_url=(text("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
            api_version=text("api_version") or DEFAULT_API_VERSION,
            timeout_seconds=float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
            access_token_in="query" if text("access_token_in") == "query" else "header",
        )

    def problems(self) -> list[str]:
        """What is missing before this channel can send (empty when it can)."""
        return [] if self.page_access_token else ["page_access_token"]

    def secrets(self) -> tuple[str, ...]:
        """Every secret value (and the proof derived from one), for scrubbing logs."""
        values = [self.page_access_token, self.app_secret, self.verify_token, self.appsecret_proof()]
        return tuple(value for value in values if value)

    def appsecret_proof(self) -> str:
        """HMAC-SHA256 of the access token keyed with the app secret, or '' without both."""
        if not (self.app_secret and self.page_access_token):
            return ""
        return hmac.new(self.app_secret.encode(), self.page_access_token.encode(), hashlib.sha256).hexdigest()

    def messages_url(self) -> str:
        """The Send API URL with its query (appsecret_proof, and the token when sent as a parameter)."""
        # A Page token resolves "me" to its Page, so a channel without page_id still sends.
        page = quote(self.page_id or "me", safe="")
        query: dict[str, str] = {}
        if self.access_token_in == "query":
            query["access_token"] = self.page_access_token
        if proof := self.appsecret_proof():
            query["appsecret_proof"] = proof
        url = f"{self.api_base_url}/{self.api_version}/{page}/messages"
        return f"{url}?{urlencode(query)}" if query else url

    def headers(self) -> dict[str, str]:
        """Request headers, with the token when it travels in the header."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.access_token_in == "header":
            headers["Authorization"] = f"Bearer {self.page_access_token}"
        return headers


# -- pure helpers -----------------------------------------------------------------------------




def options_problem(options: Mapping[str, Any]) -> str | None:
    """Why these channel options cannot go to the Send API, or None when they can."""
    messaging_type = options.get("messaging_type")
    if not messaging_type:
        return ("no messaging_type was decided for this message; Mannerly does not guess "
                "between RESPONSE and MESSAGE_TAG")
    if messaging_type not in MESSAGING_TYPES:
        return f"messaging_type {messaging_type!r} is not one of {', '.join(sorted(MESSAGING_TYPES))}"
    if messaging_type == "MESSAGE_TAG" and not options.get("tag"):
        return "messaging_type MESSAGE_TAG needs a tag"
    return None


def send_body(message: OutboundMessage) -> dict[str, Any]:
    """The Send API JSON for a text message with the decided messaging type (and tag)."""
    body: dict[str, Any] = {
        "recipient": {"id": message.to},
        "messaging_type": message.options["messaging_type"],
        "message": {"text": message.text},
    }
    if message.options["messaging_type"] == "MESSAGE_TAG":
        body["tag"] = message.options["tag"]
    return body


@dataclass(frozen=True, slots=True)
class GraphError:
    """Meta's error JSON `{"error": {message, type, code, error_subcode, fbtrace_id}}`."""

    code: int | None
    subcode: int | None
    message: str
    type: str | None = None
    fbtrace_id: str | None = None
    is_transient: bool = False

    @property
    def error_code(self) -> str | None:
        """"code/subcode" (or "code") as stored on the message."""
        if self.code is None:
            return None
        return f"{self.code}/{self.subcode}" if self.subcode is not None else str(self.code)


def _as_int(value: Any) -> int | None:
    """An integer from a JSON number or numeric string, else None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_graph_error(body: Any) -> GraphError | None:
    """The Graph error in a response body, or None when the body holds none."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    return GraphError(
        code=_as_int(error.get("code")),
        subcode=_as_int(error.get("error_subcode")),
        message=str(error.get("message") or ""),
        type=str(error["type"]) if error.get("type") else None,
        fbtrace_id=str(error["fbtrace_id"]) if error.get("fbtrace_id") else None,
        is_transient=bool(error.get("is_transient")),
    )


def error_meaning(error: GraphError, tag: str | None) -> str:
    """A plain explanation of a Graph error, with Meta's own message after it."""
    if error.code == 100 and tag in RETIRED_TAGS:
        meaning = (f"Meta rejected the message tag {tag}, which it retired on 27 April 2026; "
                   "remove it from the workspace's messenger_tags")
    else:
        meaning = ERROR_MEANINGS.get((error.code or 0, error.subcode)) or ERROR_MEANINGS.get((error.code or 0, None))
    meaning = meaning or f"Meta refused the message (code {error.error_code})"
    return f"{meaning}. Meta said: {error.message}" if error.message else meaning


def is_retryable(status_code: int, error: GraphError | None) -> bool:
    """True when Meta refused before accepting and asked, in effect, to try again later."""
    if status_code in RETRYABLE_HTTP_STATUSES or status_code >= 500:
        return True
    if error is None:
        return False
    return error.is_transient or error.code in RATE_LIMIT_CODES or error.code in TRANSIENT_CODES


def result_from_response(status_code: int, body: Any, tag: str | None, exchange: Exchange) -> SendResult:
    """Classify the Send API's answer."""
    if 200 <= status_code < 300:
        mid = body.get("message_id") if isinstance(body, Mapping) else None
        if not mid:
            # Meta said yes but we cannot tell which message it is: never resend, reconcile by hand.
            return SendResult(accepted=False, status="unknown", exchange=exchange,
                              error_detail=f"Meta answered {status_code} without a message_id")
        return SendResult(accepted=True, status="sent", provider_message_id=str(mid), exchange=exchange)
    error = parse_graph_error(body)
    error_code = (error.error_code if error else None) or str(status_code)
    detail = error_meaning(error, tag) if error else f"HTTP {status_code} from the Send API"
    return SendResult(accepted=False, status="failed", retryable=is_retryable(status_code, error),
                      error_code=error_code, error_detail=detail, exchange=exchange)


# -- the adapter ------------------------------------------------------------------------------


class MessengerAdapter:
    """One Messenger Page channel; implements ChannelAdapter and WebhookAdapter."""

    kind = "messenger"
    provider = "messenger"
    status_map: dict[str, str] = MESSENGER_STATUS_MAP

    def __init__(self, config: MessengerConfig, *, http: httpx.Client, clock: Callable[[], datetime],
                 ledger: SentLedger | None = None) -> None:
        """Bind the channel's settings to an HTTP client, a clock and a record of sent messages."""
        self.config = config
        self.http = http
        self.clock = clock
        self.ledger = ledger or NoLedger()

    # -- sending ----------------------------------------------------------------------------

    def _timeout(self) -> httpx.Timeout:
        """The channel's read timeout with a shorter connect timeout."""
        seconds = self.config.timeout_seconds
        return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_SECONDS, seconds))

    def _exchange(self, url: str, body: Mapping[str, Any], response: Any, status_code: int | None,
                  started: float) -> Exchange:
        """The redacted record of one Send API call."""
        request = {"method": "POST", "url": url, "headers": self.config.headers(), "json": dict(body)}
        secrets = self.config.secrets()
        return Exchange(request=redact(request, secrets), response=redact(response, secrets),
                        status_code=status_code, duration_ms=int((time.perf_counter() - started) * 1000))

    def refuse(self, code: str, detail: str) -> SendResult:
        """A refusal decided before any request (never retried: retrying cannot fix it)."""
        return SendResult(accepted=False, status="failed", error_code=code, error_detail=detail)

    def send(self, message: OutboundMessage) -> SendResult:
        """Hand one text message to the Send API; see the module docstring for the outcomes."""
        if self.config.problems():
            return self.refuse("config", "the Messenger channel is missing " + ", ".join(self.config.problems()))
        if not message.to:
            return self.refuse("no_psid", "the contact has no Messenger PSID (they must write to the Page first)")
        if problem := options_problem(message.options):
            return self.refuse("messaging_type", problem)
        if len(message.text) > MAX_TEXT_CHARACTERS:
            return self.refuse("too_long", f"Messenger text is limited to {MAX_TEXT_CHARACTERS} characters; "
                                           f"this one has {len(message.text)}")
        url = self.config.messages_url()
        body = send_body(message)
        tag = body.get("tag")
        started = time.perf_counter()
        try:
            response = self.http.post(url, json=body, headers=self.config.headers(), timeout=self._timeout())
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Nothing reached Meta: safe to try again later.
            return SendResult(accepted=False, status="failed", retryable=True, error_code="connect",
                              error_detail=f"could not reach the Graph API: {type(error).__name__}",
                              exchange=self._exchange(url, body, None, None, started))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return self.refuse("config", f"bad api_base_url: {redact(str(error), self.config.secrets())}")
        except httpx.HTTPError as error:
            # The request may have reached Meta (read timeout, dropped connection): never resend.
            return SendResult(accepted=False, status="unknown",
                              error_detail=f"no answer from the Graph API after sending: {type(error).__name__}",
                              exchange=self._exchange(url, body, None, None, started))
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        exchange = self._exchange(url, body, answer, response.status_code, started)
        return result_from_response(response.status_code, answer, tag, exchange)

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """Messenger has no per-message delivery status to fetch; statuses arrive only by webhook."""
        return None

    # -- webhooks ---------------------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Answer the GET handshake; verify and parse a POST into messages and delivery/read statuses."""
        if request.method == "GET":
            challenge = handshake_challenge(request.query, self.config.verify_token)
            return WebhookResult(body=challenge)
        check_signature(request.body, request.headers.get(SIGNATURE_HEADER), self.config.app_secret)
        parsed = parse_webhook(request.json(), self.clock(), self.config.page_id or None)
        events = list(parsed.events)
        for watermark in parsed.watermarks:
            status = normalize_status(self.status_map, watermark.field_name)
            # Only messages not yet at this status, so a repeated watermark adds no history.
            earlier = ("queued", "sent") if status == "delivered" else ("queued", "sent", "delivered")
            for mid in self.ledger.mids_up_to(watermark.psid, watermark.at, earlier):
                events.append(StatusUpdate(provider_message_id=mid, status=status,
                                           raw_status=watermark.field_name, occurred_at=watermark.at))
        return WebhookResult(events=tuple(events), body=EVENT_RECEIVED)


def create_adapter(channel: Any, runtime: Any) -> MessengerAdapter:
    """Registry factory: a Messenger adapter for a channel row, on the runtime's HTTP client and database."""
    config = MessengerConfig.from_channel(channel.config or {}, channel.sender_id)
    ledger = DatabaseSentLedger(runtime.session, channel.id, channel.workspace_id)
    return MessengerAdapter(config, http=runtime.http, clock=runtime.now, ledger=ledger)

