"""A local fake of Meta's Graph API Send endpoint and of Messenger's webhook calls, on 127.0.0.1.

It speaks the documented wire format: `POST /{version}/{page-id|me}/messages` with a JSON
body, the Page token in `Authorization: Bearer` or the `access_token` parameter, an
optional `appsecret_proof`; success is `{"recipient_id", "message_id"}`, refusals are
Graph error JSON `{"error": {message, type, code, error_subcode, fbtrace_id}}`. It keeps
Messenger's rules: a PSID must have written to the Page first (else 100/2018001);
RESPONSE/UPDATE only within 24 hours of the customer's last message and HUMAN_AGENT
within 7 days (else 10/2018278); other tags are accepted outside the window, except the
tags Meta retired in 2026 when `refuse_retired_tags` is set (error 100).

Tests can queue faults for the next requests (rate limit 613, HTTP 429, a 500 with a
transient error, 551 unavailable, an invalid token, a dropped connection after accepting,
an answer slower than the client waits) and build signed webhook bodies
(`X-Hub-Signature-256`) for messages, postbacks, deliveries and reads.

Usage::

    with FakeGraphApi(clock=clock) as fake:
        fake.customer_writes("6912345678901234")
        config = fake.channel_config()
        ...
        body, headers = fake.signed(fake.delivery_payload("6912345678901234", [mid]))
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "v25.0"
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
KNOWN_TAGS = frozenset({"HUMAN_AGENT", "CUSTOMER_FEEDBACK", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE",
                        "ACCOUNT_UPDATE"})
RETIRED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"})
MAX_TEXT_CHARACTERS = 2000

# Faults the next Send API calls can be told to answer with.
FAULT_RATE_LIMITED = "rate_limited"  # HTTP 400, code 613
FAULT_HTTP_429 = "http_429"  # HTTP 429, code 4 (application request limit)
FAULT_SERVER_ERROR = "server_error"  # HTTP 500, code 2, is_transient
FAULT_UNAVAILABLE = "unavailable"  # HTTP 400, code 551 (person unavailable)
FAULT_INVALID_TOKEN = "invalid_token"  # HTTP 400, code 190
FAULT_DROP_AFTER_ACCEPT = "drop_after_accept"  # message accepted, connection closed without an answer
FAULT_SLOW_AFTER_ACCEPT = "slow_after_accept"  # message accepted, answer later than the client waits
FAULTS = (FAULT_RATE_LIMITED, FAULT_HTTP_429, FAULT_SERVER_ERROR, FAULT_UNAVAILABLE, FAULT_INVALID_TOKEN,
          FAULT_DROP_AFTER_ACCEPT, FAULT_SLOW_AFTER_ACCEPT)


def graph_error(code: int, message: str, subcode: int | None = None, *, transient: bool = False) -> dict[str, Any]:
    """Meta's documented error body."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": f"Fake{code}{subcode or ''}"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return {"error": error}


def epoch_ms(moment: datetime) -> int:
    """A datetime as Meta's millisecond timestamp."""
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message the fake accepted."""

    mid: str
    psid: str
    text: str
    messaging_type: str
    tag: str | None
    at: datetime
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any


class FakeGraphApi:
    """The fake Graph API server and the Page's customers; a context manager that serves on 127.0.0.1."""

    def __init__(self, *, page_id: str = "104857329218734", page_access_token: str = "EAAGfakePageToken0123",
                 app_secret: str = "fake-app-secret-9f8e7d", verify_token: str = "mannerly-verify-42",
                 clock: Callable[[], datetime] | None = None, refuse_retired_tags: bool = False,
                 slow_seconds: float = 1.5) -> None:
        """Configure the Page the fake serves; `clock` decides the 24-hour window (default: wall clock)."""
        self.page_id = page_id
        self.page_access_token = page_access_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.clock = clock or (lambda: datetime.now(UTC))
        self.refuse_retired_tags = refuse_retired_tags
        self.slow_seconds = slow_seconds
        self.requests: list[RecordedRequest] = []
        self.sent: dict[str, SentMessage] = {}
        self.last_inbound: dict[str, datetime] = {}
        self._faults: deque[str] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGraphApi:
        """Serve on a free port of 127.0.0.1 in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            """Routes one HTTP request to the fake."""

            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's naming)
                """Answer a Send API call."""
                fake._handle_post(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Stay quiet in test output."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-graph-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGraphApi:
        """Start on entering a with-block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving it."""
        self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>, to put in a channel's api_base_url."""
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def channel_config(self, **overrides: Any) -> dict[str, Any]:
        """A Messenger channel config pointing at this fake."""
        config = {"page_id": self.page_id, "page_access_token": self.page_access_token,
                  "app_secret": self.app_secret, "verify_token": self.verify_token,
                  "api_base_url": self.base_url, "api_version": API_VERSION, "timeout_seconds": 1.0}
        config.update(overrides)
        return config

    # -- scripting --------------------------------------------------------------------------

    def fail_next(self, *faults: str) -> None:
        """Answer the next Send API calls with these faults, in order."""
        unknown = [fault for fault in faults if fault not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def customer_writes(self, psid: str, at: datetime | None = None) -> None:
        """A person writes to the Page: the PSID becomes known and the 24-hour window opens."""
        with self._lock:
            self.last_inbound[psid] = at or self.clock()

    def sent_to(self, psid: str) -> list[SentMessage]:
        """Messages accepted for one PSID, oldest first."""
        with self._lock:
            return [sent for sent in self.sent.values() if sent.psid == psid]

    # -- the Send API -----------------------------------------------------------------------

    def _handle_post(self, handler: BaseHTTPRequestHandler) -> None:
        """Check one request against the documented format and Messenger's rules, then answer."""
        split = urlsplit(handler.path)
        query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {name.lower(): value for name, value in handler.headers.items()}
        raw = handler.rfile.read(int(headers.get("content-length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(RecordedRequest("POST", split.path, query, headers, body))
            fault = self._faults.popleft() if self._faults else None
        status, answer, after = self._answer(split.path, query, headers, body, fault)
        if after == FAULT_DROP_AFTER_ACCEPT:
            handler.close_connection = True
            handler.connection.close()
            return
        if after == FAULT_SLOW_AFTER_ACCEPT:
            time.sleep(self.slow_seconds)
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(self, path: str, query: dict[str, str], headers: dict[str, str], body: Any,
                fault: str | None) -> tuple[int, dict[str, Any], str | None]:
        """(HTTP status, JSON answer, fault to apply after accepting) for one Send API call."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[2] != "messages" or parts[1] not in (self.page_id, "me"):
            return 404, graph_error(803, f"(#803) Some of the aliases you requested do not exist: {path}"), None
        token = query.get("access_token", "")
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[7:]
        if not hmac.compare_digest(token.encode(), self.page_access_token.encode()):
            return 400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"), None
        proof = query.get("appsecret_proof")
        if proof is not None:
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof.encode(), expected.encode()):
                return 400, graph_error(100, "Invalid appsecret_proof provided in the API argument"), None
        if fault == FAULT_RATE_LIMITED:
            return 400, graph_error(613, "(#613) Calls to this api have exceeded the rate limit."), None
        if fault == FAULT_HTTP_429:
            return 429, graph_error(4, "(#4) Application request limit reached"), None
        if fault == FAULT_SERVER_ERROR:
            return 500, graph_error(2, "An unexpected error has occurred. Please retry your request later.",
                                    transient=True), None
        if fault == FAULT_UNAVAILABLE:
            return 400, graph_error(551, "(#551) This person isn't available right now.", 1545041), None
        if fault == FAULT_INVALID_TOKEN:
            return 400, graph_error(190, "Error validating access token: Session has expired.", 463), None
        refusal = self._refusal(body)
        if refusal is not None:
            return 400, refusal, None
        mid = f"m_fake{next(self._ids):06d}{hashlib.sha256(json.dumps(body).encode()).hexdigest()[:24]}"
        psid = body["recipient"]["id"]
        with self._lock:
            self.sent[mid] = SentMessage(mid=mid, psid=psid, text=body["message"]["text"],
                                         messaging_type=body["messaging_type"], tag=body.get("tag"),
                                         at=self.clock(), body=body)
        return 200, {"recipient_id": psid, "message_id": mid}, fault

    def _refusal(self, body: Any) -> dict[str, Any] | None:
        """The Graph error for a malformed request or one Messenger's rules forbid, else None."""
        if not isinstance(body, dict):
            return graph_error(100, "(#100) The parameter recipient is required")
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            return graph_error(100, "(#100) The parameter recipient is required")
        message = body.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not message["text"]:
            return graph_error(100, "(#100) Param message must be a non-empty text or an attachment")
        if len(message["text"]) > MAX_TEXT_CHARACTERS:
            return graph_error(100, "(#100) Length of param message[text] must be less than or equal to 2000")
        messaging_type = body.get("messaging_type")
        if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return graph_error(100, "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        tag = body.get("tag")
        if messaging_type == "MESSAGE_TAG" and tag not in KNOWN_TAGS:
            return graph_error(100, "(#100) Param tag must be a valid message tag")
        if messaging_type == "MESSAGE_TAG" and self.refuse_retired_tags and tag in RETIRED_TAGS:
            return graph_error(100, "(#100) Invalid parameter")
        with self._lock:
            last = self.last_inbound.get(recipient["id"])
        if last is None:
            return graph_error(100, "(#100) No matching user found", 2018001)
        since = self.clock() - last
        if messaging_type in ("RESPONSE", "UPDATE") and since >= STANDARD_WINDOW:
            return graph_error(10, "(#10) This message is sent outside of allowed window.", 2018278)
        if tag == "HUMAN_AGENT" and since >= HUMAN_AGENT_WINDOW:
            return graph_error(10, "(#10) This message is sent outside of allowed window.", 2018278)
        return None

    # -- webhooks Meta would send -----------------------------------------------------------

    def envelope(self, *events: dict[str, Any]) -> dict[str, Any]:
        """A webhook body holding messaging events for this Page."""
        return {"object": "page", "entry": [{"id": self.page_id, "time": epoch_ms(self.clock()),
                                             "messaging": list(events)}]}

    def _event(self, psid: str, at: datetime | None, **content: Any) -> dict[str, Any]:
        """One messaging event from a customer to the Page."""
        return {"sender": {"id": psid}, "recipient": {"id": self.page_id},
                "timestamp": epoch_ms(at or self.clock()), **content}

    def message_payload(self, psid: str, text: str, mid: str | None = None, at: datetime | None = None,
                        ) -> dict[str, Any]:
        """A customer's text message (also opens the window, as Meta would)."""
        self.customer_writes(psid, at)
        mid = mid or f"m_in{next(self._ids):06d}{psid}"
        return self.envelope(self._event(psid, at, message={"mid": mid, "text": text}))

    def postback_payload(self, psid: str, title: str, payload: str, at: datetime | None = None) -> dict[str, Any]:
        """A customer tapping a button."""
        self.customer_writes(psid, at)
        mid = f"m_pb{next(self._ids):06d}{psid}"
        return self.envelope(self._event(psid, at, postback={"mid": mid, "title": title, "payload": payload}))

    def delivery_payload(self, psid: str, mids: list[str] | None, at: datetime | None = None) -> dict[str, Any]:
        """A delivery report; mids=None sends the watermark alone, as older clients do."""
        delivery: dict[str, Any] = {"watermark": epoch_ms(at or self.clock())}
        if mids is not None:
            delivery["mids"] = list(mids)
        return self.envelope(self._event(psid, at, delivery=delivery))

    def read_payload(self, psid: str, watermark: datetime, at: datetime | None = None) -> dict[str, Any]:
        """A read report: everything sent up to `watermark` was read."""
        return self.envelope(self._event(psid, at, read={"watermark": epoch_ms(watermark)}))

    def signed(self, payload: dict[str, Any], secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers Meta would POST, signed with the app secret (or another secret)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        digest = hmac.new((secret or self.app_secret).encode(), body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
