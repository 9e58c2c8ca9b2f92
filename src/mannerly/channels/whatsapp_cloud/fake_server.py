"""A local fake of the WhatsApp Cloud API (Graph API) for tests and benchmarks, on 127.0.0.1 in a thread.

It speaks the documented wire format:

* `POST /{version}/{phone_number_id}/messages` with `Authorization: Bearer <token>` and a
  JSON text or template message; answers 200 with
  `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid.…"}]}`,
  or a Graph error `{"error": {"message", "type", "code", "error_subcode", "error_data", "fbtrace_id"}}`;
* `GET /{version}/{waba_id}/message_templates` listing the templates it was given, in
  pages with `paging.cursors` and an absolute `paging.next`.

Like the real service, a text to a customer whose 24-hour window is closed is accepted
and then fails by webhook with error 131047, and a marketing template to a customer who
stopped marketing fails with 131050. Tests can make the next sends fail (throttling, 5xx,
an expired token, a dropped connection after accepting, an answer slower than the
client waits). Webhook notifications are built in the documented shape and signed with
`X-Hub-Signature-256` exactly as Meta signs them.

Usage::

    with FakeGraphApi() as fake:
        config = fake.channel_config()   # phone_number_id, access_token, app_secret, … api_base_url
        ...
        body, headers = fake.signed(fake.status_notification(wamid, "delivered"))
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mannerly.channels.loopback import LoopbackServer
from mannerly.channels.whatsapp_cloud.adapter import signature_for

_WA_ID = re.compile(r"^[1-9]\d{6,14}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+|[a-z_][a-z0-9_]*)\s*\}\}")
MAX_TEXT = 4096

FAULT_RATE_LIMITED = "rate_limited"  # 429, code 130429
FAULT_PAIR_RATE_LIMITED = "pair_rate_limited"  # 400, code 131056
FAULT_SERVER_ERROR = "server_error"  # 500, code 2
FAULT_TOKEN_EXPIRED = "token_expired"  # 401, code 190
FAULT_WINDOW_CLOSED = "window_closed"  # 400, code 131047 (some set-ups refuse at once instead of by webhook)
FAULT_MARKETING_OPT_OUT = "marketing_opt_out"  # 400, code 131050
FAULT_DROP_AFTER_ACCEPT = "drop_after_accept"  # message accepted, connection cut mid-answer
FAULT_SLOW_AFTER_ACCEPT = "slow_after_accept"  # message accepted, answer later than the client waits
FAULTS = (FAULT_RATE_LIMITED, FAULT_PAIR_RATE_LIMITED, FAULT_SERVER_ERROR, FAULT_TOKEN_EXPIRED,
          FAULT_WINDOW_CLOSED, FAULT_MARKETING_OPT_OUT, FAULT_DROP_AFTER_ACCEPT, FAULT_SLOW_AFTER_ACCEPT)

# fault -> (HTTP status, code, subcode, title, details)
_FAULT_ERRORS: dict[str, tuple[int, int, int | None, str, str]] = {
    FAULT_RATE_LIMITED: (429, 130429, None, "Rate limit hit",
                         "Cloud API message throughput has been reached."),
    FAULT_PAIR_RATE_LIMITED: (400, 131056, None, "(Business Account, Consumer Account) pair rate limit hit",
                              "Too many messages sent from this phone number to the same phone number "
                              "in a short period of time."),
    FAULT_SERVER_ERROR: (500, 2, None, "Service temporarily unavailable", "Temporary service problem."),
    FAULT_TOKEN_EXPIRED: (401, 190, 463, "Error validating access token: Session has expired.",
                          "The access token has expired."),
    FAULT_WINDOW_CLOSED: (400, 131047, None, "Re-engagement message",
                          "More than 24 hours have passed since the recipient last replied to the sender number."),
    FAULT_MARKETING_OPT_OUT: (400, 131050, None, "Unable to deliver the message",
                              "The recipient has chosen to stop receiving marketing messages on WhatsApp "
                              "from your business."),
}
# Webhook status errors: code -> (title, details)
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    131047: ("Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the customer last "
             "replied to this number."),
    131050: ("Unable to deliver the message",
             "The user has stopped marketing messages from this business."),
    131026: ("Message undeliverable", "Unable to deliver message."),
}


def graph_error(status: int, code: int, message: str, details: str, subcode: int | None = None,
                error_type: str = "OAuthException") -> JSONResponse:
    """The Graph API's documented error body."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code,
                             "error_data": {"messaging_product": "whatsapp", "details": details},
                             "fbtrace_id": "A" + secrets.token_urlsafe(15)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return JSONResponse({"error": error}, status_code=status)


def new_wamid() -> str:
    """A WhatsApp message id in the usual shape: "wamid." and URL-safe base64."""
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()


@dataclass(frozen=True)
class RecordedSend:
    """One send request as the fake received it."""

    path: str
    authorization: str | None
    content_type: str
    body: Any
    outcome: str  # "accepted", a FAULT_* name, or "refused:<code>"
    wamid: str | None = None


@dataclass
class FakeTemplate:
    """One message template of the fake WhatsApp Business Account."""

    name: str
    language: str
    body: str
    status: str = "APPROVED"
    category: str = "UTILITY"
    id: str = field(default_factory=lambda: str(secrets.randbelow(10**15)))

    def resource(self) -> dict[str, Any]:
        """The template as the message_templates edge lists it."""
        return {"name": self.name, "language": self.language, "status": self.status, "category": self.category,
                "components": [{"type": "BODY", "text": self.body}], "id": self.id}


class _CutAnswer(Response):
    """Starts a 200 answer and stops mid-body, so the connection closes: a dropped answer."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Promise more bytes than are sent."""
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"2048")]})
        await send({"type": "http.response.body", "body": b'{"messaging_product":"whatsapp","mess',
                    "more_body": False})


class FakeGraphApi:
    """A fake Cloud API server plus a webhook builder that signs like Meta."""

    def __init__(self, *, phone_number_id: str = "109876543210987", waba_id: str = "102938475610293",
                 display_phone_number: str = "15557654321", access_token: str | None = None,
                 app_secret: str | None = None, slow_seconds: float = 2.0, host: str = "127.0.0.1") -> None:
        """Configure the account; tokens and secrets are random unless given."""
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.access_token = access_token or "EAAG" + secrets.token_urlsafe(48)
        self.app_secret = app_secret or secrets.token_hex(16)
        self.verify_token = "verify-" + secrets.token_hex(8)
        self.slow_seconds = slow_seconds
        self.host = host
        self.templates: list[FakeTemplate] = []
        self.page_size = 100  # the most templates one page lists, whatever limit the client asks for
        self._lock = threading.Lock()
        self._sends: list[RecordedSend] = []
        self._accepted: dict[str, dict[str, Any]] = {}  # wamid -> request body
        self._faults: deque[str] = deque()
        self._closed_windows: set[str] = set()
        self._marketing_stopped: set[str] = set()
        self._statuses: deque[dict[str, Any]] = deque()  # status entries waiting to be sent as webhooks
        self.app = self._build_app()
        self._loopback = LoopbackServer(self.app, host=host, name="fake-graph-api")

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (after start)."""
        return self._loopback.port

    @property
    def base_url(self) -> str:
        """What to put in a channel's `api_base_url`."""
        return f"http://{self.host}:{self.port}"

    def channel_config(self, **overrides: Any) -> dict[str, Any]:
        """A whatsapp_cloud channel config pointing at this fake."""
        config = {"phone_number_id": self.phone_number_id, "access_token": self.access_token,
                  "app_secret": self.app_secret, "verify_token": self.verify_token, "waba_id": self.waba_id,
                  "display_phone_number": self.display_phone_number, "api_base_url": self.base_url,
                  "api_version": "v26.0", "timeout_seconds": max(0.5, self.slow_seconds / 2)}
        config.update(overrides)
        return config

    def start(self) -> FakeGraphApi:
        """Listen on a free loopback port in a background thread; returns self."""
        self._loopback.start()
        return self

    def stop(self) -> None:
        """Stop the server."""
        self._loopback.stop()

    def __enter__(self) -> FakeGraphApi:
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving it."""
        self.stop()

    # -- what tests tell it and ask it ------------------------------------------------------

    def fail_next(self, *faults: str) -> None:
        """Answer the next send requests with these faults, in order."""
        unknown = [fault for fault in faults if fault not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def close_window(self, wa_id: str) -> None:
        """The customer has not written for over 24 hours: free-form text to them fails with 131047."""
        with self._lock:
            self._closed_windows.add(wa_id.lstrip("+"))

    def stop_marketing(self, wa_id: str) -> None:
        """The customer stopped marketing messages: MARKETING templates to them fail with 131050."""
        with self._lock:
            self._marketing_stopped.add(wa_id.lstrip("+"))

    def add_template(self, name: str, language: str, body: str, status: str = "APPROVED",
                     category: str = "UTILITY") -> FakeTemplate:
        """Register a message template in the fake account."""
        template = FakeTemplate(name=name, language=language, body=body, status=status, category=category)
        with self._lock:
            self.templates.append(template)
        return template

    def sends(self) -> list[RecordedSend]:
        """Every send request received, in order."""
        with self._lock:
            return list(self._sends)

    def handoffs(self) -> list[str]:
        """The wamids of accepted messages, in order (tests check exactly-once with it)."""
        with self._lock:
            return list(self._accepted)

    def accepted_body(self, wamid: str) -> dict[str, Any]:
        """The request body of an accepted message."""
        with self._lock:
            return self._accepted[wamid]

    def take_statuses(self) -> list[dict[str, Any]]:
        """The status entries the fake has decided to report (e.g. failed 131047), oldest first; each once."""
        with self._lock:
            taken = list(self._statuses)
            self._statuses.clear()
        return taken

    # -- webhook notifications --------------------------------------------------------------

    def notification(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """A documented webhook notification around one `value` of the messages field."""
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": self.display_phone_number,
                              "phone_number_id": self.phone_number_id}, **value}
        return {"object": "whatsapp_business_account",
                "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": "messages"}]}]}

    def status_entry(self, wamid: str, status: str, error_code: int | None = None,
                     timestamp: int | None = None) -> dict[str, Any]:
        """One `statuses[]` entry for an accepted message (with `errors` for a failure)."""
        body = self._accepted.get(wamid, {})
        entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(timestamp or int(time.time())),
                                 "recipient_id": str(body.get("to", ""))}
        if error_code is not None:
            title, details = STATUS_ERRORS.get(error_code, ("Error", "Message failed."))
            entry["errors"] = [{"code": error_code, "title": title, "message": title,
                                "error_data": {"details": details},
                                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]
        return entry

    def status_notification(self, wamid: str, status: str, error_code: int | None = None,
                            timestamp: int | None = None) -> dict[str, Any]:
        """A webhook notification reporting one message's status."""
        return self.notification({"statuses": [self.status_entry(wamid, status, error_code, timestamp)]})

    def text_notification(self, wa_id: str, text: str, name: str = "Customer", timestamp: int | None = None,
                          wamid: str | None = None) -> dict[str, Any]:
        """A webhook notification of a customer's text message."""
        wa_id = wa_id.lstrip("+")
        with self._lock:
            self._closed_windows.discard(wa_id)  # the customer wrote: the window is open again
        return self.notification({
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid or new_wamid(), "timestamp": str(timestamp or int(time.time())),
                          "type": "text", "text": {"body": text}}],
        })

    def signed(self, notification: Mapping[str, Any] | bytes) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers Meta would POST: JSON plus X-Hub-Signature-256 over the exact bytes."""
        body = notification if isinstance(notification, bytes) else json.dumps(notification).encode()
        return body, {"Content-Type": "application/json",
                      "X-Hub-Signature-256": signature_for(self.app_secret, body)}

    def post_webhook(self, url: str, notification: Mapping[str, Any], client: httpx.Client | None = None) -> int:
        """POST a signed notification to a webhook URL (a real server); returns the HTTP status."""
        body, headers = self.signed(notification)
        if client is not None:
            return client.post(url, content=body, headers=headers).status_code
        with httpx.Client(timeout=10.0) as own:
            return own.post(url, content=body, headers=headers).status_code

    # -- the server -------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        """True when the request carries this account's bearer token."""
        header = request.headers.get("authorization", "")
        return header == f"Bearer {self.access_token}"

    def _refusal(self, body: Any) -> JSONResponse | None:
        """The Graph error for a malformed or impossible send, or None when it is acceptable."""
        def invalid(details: str) -> JSONResponse:
            """Code 100, invalid parameter."""
            return graph_error(400, 100, "(#100) Invalid parameter", details)

        if not isinstance(body, dict):
            return invalid("The request body is not a JSON object.")
        if body.get("messaging_product") != "whatsapp":
            return invalid("messaging_product must be whatsapp.")
        if body.get("recipient_type", "individual") != "individual":
            return invalid("recipient_type must be individual.")
        to = body.get("to")
        if not isinstance(to, str) or not _WA_ID.match(to.lstrip("+")):
            return graph_error(400, 131030, "(#131030) Recipient phone number not in allowed list",
                               "The recipient is not a valid phone number.")
        kind = body.get("type", "text")
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"].strip():
                return invalid("text.body is required.")
            if len(text["body"]) > MAX_TEXT:
                return invalid(f"text.body is longer than {MAX_TEXT} characters.")
            if not isinstance(text.get("preview_url", False), bool):
                return invalid("text.preview_url must be a boolean.")
            return None
        if kind == "template":
            return self._template_refusal(body.get("template"))
        return invalid(f"Unsupported message type {kind!r} in this fake.")

    def _template_refusal(self, template: Any) -> JSONResponse | None:
        """The Graph error for a template send that names no approved template or fills it wrongly."""
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return graph_error(400, 100, "(#100) Invalid parameter", "template.name is required.")
        language = template.get("language")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            return graph_error(400, 100, "(#100) Invalid parameter", "template.language.code is required.")
        found = next((item for item in self.templates
                      if item.name == template["name"] and item.language == language["code"]), None)
        if found is None or found.status != "APPROVED":
            return graph_error(404, 132001, "(#132001) Template name does not exist in the translation",
                               f"template name ({template['name']}) does not exist in {language['code']}")
        parameters: list[Any] = []
        for component in template.get("components") or []:
            if not isinstance(component, dict) or component.get("type") != "body":
                continue
            for parameter in component.get("parameters") or []:
                if not isinstance(parameter, dict) or parameter.get("type") != "text" or not isinstance(
                        parameter.get("text"), str):
                    return graph_error(400, 132012, "(#132012) Parameter format does not match format in the "
                                       "created template", "Body parameters must be of type text.")
                parameters.append(parameter["text"])
        expected = len({match.group(1) for match in _PLACEHOLDER.finditer(found.body)})
        if len(parameters) != expected:
            return graph_error(400, 132000, "(#132000) Number of parameters does not match the expected number "
                               "of params", f"body: number of localizable_params ({len(parameters)}) does not "
                               f"match the expected number of params ({expected})")
        return None

    def _record(self, request: Request, body: Any, outcome: str, wamid: str | None = None) -> None:
        """Remember one send request."""
        with self._lock:
            self._sends.append(RecordedSend(path=request.url.path,
                                            authorization=request.headers.get("authorization"),
                                            content_type=request.headers.get("content-type", ""),
                                            body=body, outcome=outcome, wamid=wamid))

    def _accept(self, body: dict[str, Any]) -> str:
        """Store an accepted message and queue what the network will report for it."""
        wamid = new_wamid()
        to = body["to"].lstrip("+")
        with self._lock:
            self._accepted[wamid] = body
            if body.get("type") == "text" and to in self._closed_windows:
                self._statuses.append(self.status_entry(wamid, "failed", 131047))
            elif body.get("type") == "template" and to in self._marketing_stopped and any(
                    item.category == "MARKETING" and item.name == body["template"]["name"] for item in self.templates):
                self._statuses.append(self.status_entry(wamid, "failed", 131050))
            else:
                self._statuses.append(self.status_entry(wamid, "sent"))
                self._statuses.append(self.status_entry(wamid, "delivered"))
        return wamid

    def _build_app(self) -> FastAPI:
        """The FastAPI app with the Graph API routes the adapter uses."""
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.post("/{version}/{phone_number_id}/messages")
        async def send_message(version: str, phone_number_id: str, request: Request) -> Response:
            """Accept or refuse one message, as the Cloud API does."""
            raw = await request.body()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if not self._authorized(request):
                self._record(request, body, "refused:190")
                return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token",
                                   "The access token could not be decrypted.")
            if phone_number_id != self.phone_number_id or not re.match(r"^v\d+\.\d+$", version):
                self._record(request, body, "refused:100")
                return graph_error(400, 100, f"Unsupported post request. Object with ID '{phone_number_id}' does "
                                   "not exist, cannot be loaded due to missing permissions, or does not support "
                                   "this operation.", "Unknown phone number id or version.", subcode=33,
                                   error_type="GraphMethodException")
            if not request.headers.get("content-type", "").startswith("application/json"):
                self._record(request, body, "refused:100")
                return graph_error(400, 100, "(#100) Invalid parameter", "Send the message as application/json.")
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
            if fault in _FAULT_ERRORS:
                status, code, subcode, title, details = _FAULT_ERRORS[fault]
                self._record(request, body, fault)
                return graph_error(status, code, f"(#{code}) {title}", details, subcode)
            refusal = self._refusal(body)
            if refusal is not None:
                self._record(request, body, f"refused:{json.loads(refusal.body)['error']['code']}")
                return refusal
            wamid = self._accept(body)
            self._record(request, body, fault or "accepted", wamid)
            if fault == FAULT_DROP_AFTER_ACCEPT:
                return _CutAnswer()
            if fault == FAULT_SLOW_AFTER_ACCEPT:
                await asyncio.sleep(self.slow_seconds)
            return JSONResponse({"messaging_product": "whatsapp",
                                 "contacts": [{"input": body["to"], "wa_id": body["to"].lstrip("+")}],
                                 "messages": [{"id": wamid, "message_status": "accepted"}]})

        @app.get("/{version}/{waba_id}/message_templates")
        async def list_templates(version: str, waba_id: str, request: Request) -> Response:
            """The account's templates, a page at a time."""
            if not self._authorized(request):
                return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token",
                                   "The access token could not be decrypted.")
            if waba_id != self.waba_id:
                return graph_error(400, 100, f"Unsupported get request. Object with ID '{waba_id}' does not exist.",
                                   "Unknown WhatsApp Business Account id.", subcode=33,
                                   error_type="GraphMethodException")
            limit = max(1, min(int(request.query_params.get("limit") or 25), self.page_size))
            start = int(base64.b64decode(request.query_params["after"]).decode()) if request.query_params.get(
                "after") else 0
            with self._lock:
                page = [item.resource() for item in self.templates[start:start + limit]]
                more = start + limit < len(self.templates)
            fields = request.query_params.get("fields")
            if fields:
                wanted = set(fields.split(",")) | {"id"}
                page = [{key: value for key, value in item.items() if key in wanted} for item in page]
            paging: dict[str, Any] = {"cursors": {"before": base64.b64encode(str(start).encode()).decode(),
                                                  "after": base64.b64encode(str(start + limit).encode()).decode()}}
            if more:
                query = f"limit={limit}&after={paging['cursors']['after']}" + (f"&fields={fields}" if fields else "")
                paging["next"] = f"{self.base_url}/{version}/{waba_id}/message_templates?{query}"
            return JSONResponse({"data": page, "paging": paging})

        return app
