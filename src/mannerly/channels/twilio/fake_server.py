"""A local fake of Twilio's Messages API for tests and benchmarks, on 127.0.0.1 in a thread.

It speaks the documented wire format: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
(form-encoded, HTTP Basic auth with Account SID + Auth Token or an API key) answering 201
with a Message resource JSON and a fresh `SM…` sid, `GET …/Messages/{sid}.json`, and
Twilio's error JSON `{code, message, more_info, status}` for refusals. It logs every
accepted hand-off by sid (so tests can assert exactly-once), can be told to fail the next
requests (21610 opt-out, 21211 bad To, 429, 500, a dropped connection after accepting, or
an answer slower than the client's timeout), and POSTs status callbacks and incoming
messages signed with the real `X-Twilio-Signature` rule.

Usage::

    with FakeTwilio() as fake:
        config = {"account_sid": fake.account_sid, "auth_token": fake.auth_token,
                  "from_number": "+15005550006", "api_base_url": fake.base_url}
        ...
        fake.post_status_callback(sid, "delivered")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import queue
import random
import re
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mannerly.channels.loopback import LoopbackServer
from mannerly.channels.twilio.signature import compute_signature

API_VERSION = "2010-04-01"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY_CHARACTERS = 1600

# Faults the fake can be told to answer the next create-Message requests with.
FAULT_OPT_OUT = "opt_out"  # 400, code 21610: the recipient replied STOP
FAULT_INVALID_TO = "invalid_to"  # 400, code 21211
FAULT_RATE_LIMITED = "rate_limited"  # 429, code 20429
FAULT_SERVER_ERROR = "server_error"  # 500, code 20500
FAULT_DROP_AFTER_ACCEPT = "drop_after_accept"  # message created, connection cut mid-answer
FAULT_SLOW_AFTER_ACCEPT = "slow_after_accept"  # message created, answer later than the client waits
FAULTS = (FAULT_OPT_OUT, FAULT_INVALID_TO, FAULT_RATE_LIMITED, FAULT_SERVER_ERROR,
          FAULT_DROP_AFTER_ACCEPT, FAULT_SLOW_AFTER_ACCEPT)


def twilio_error(code: int, message: str, status: int) -> JSONResponse:
    """Twilio's documented error body."""
    body = {"code": code, "message": message, "more_info": MORE_INFO.format(code=code), "status": status}
    return JSONResponse(body, status_code=status)


def new_sid(prefix: str) -> str:
    """A Twilio-style sid: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: datetime) -> str:
    """A date the way Twilio's JSON writes it ("Thu, 24 Aug 2023 05:01:45 +0000")."""
    return format_datetime(moment.astimezone(UTC))


@dataclass
class FakeMessage:
    """One Message resource the fake created."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    error_code: int | None = None
    error_message: str | None = None
    num_segments: int = 1

    def resource(self) -> dict[str, Any]:
        """The Message resource JSON as Twilio returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.created_at),
            "date_sent": rfc2822(self.updated_at) if self.status in ("sent", "delivered", "undelivered", "read")
            else None,
            "date_updated": rfc2822(self.updated_at),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class RecordedRequest:
    """One create-Message request as the fake received it."""

    path: str
    username: str | None
    content_type: str
    form: dict[str, str]
    outcome: str  # "created", a FAULT_* name, or "refused:<code>"
    sid: str | None = None


@dataclass(frozen=True)
class PostedWebhook:
    """One webhook the fake POSTed to the application."""

    url: str
    form: dict[str, str]
    status_code: int | None
    response_text: str = ""


@dataclass
class _Store:
    """Everything the fake remembers, guarded by one lock."""

    messages: dict[str, FakeMessage] = field(default_factory=dict)
    handoffs: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)
    opted_out: set[str] = field(default_factory=set)
    posted: list[PostedWebhook] = field(default_factory=list)
    random_faults: tuple[float, tuple[str, ...], random.Random] | None = None


class _TruncatedResponse(Response):
    """Starts a 201 answer and stops mid-body, so the server closes the connection: a dropped answer."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Announce more bytes than are sent; the server then cuts the connection."""
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"sid": "', "more_body": False})


class FakeTwilio:
    """A fake Twilio REST API server plus a webhook sender signing like Twilio does."""

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str = "fake-twilio-auth-token-0123456789",
        api_keys: Mapping[str, str] | None = None,
        auto_callbacks: Iterable[str] = (),
        callback_client: httpx.Client | None = None,
        slow_seconds: float = 2.0,
        host: str = "127.0.0.1",
        settle_status: str | None = None,
    ) -> None:
        """Configure the account; `auto_callbacks` (e.g. ("sent", "delivered")) are POSTed after each create.

        `settle_status` (e.g. "delivered") is the status a created message has when fetched or listed
        afterwards (the 201 answer still says queued).
        """
        self.settle_status = settle_status
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.auto_callbacks = tuple(auto_callbacks)
        self.slow_seconds = slow_seconds
        self.host = host
        self._store = _Store()
        self._lock = threading.Lock()
        self._own_client = callback_client is None
        self.callback_client = callback_client or httpx.Client(timeout=10.0)
        self._callbacks: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._callback_thread: threading.Thread | None = None
        self.app = self._build_app()
        self._loopback = LoopbackServer(self.app, host=host, name="fake-twilio")

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (after start)."""
        return self._loopback.port

    @property
    def base_url(self) -> str:
        """What to put in a channel's `api_base_url`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeTwilio:
        """Listen on a free loopback port in a background thread; returns self."""
        self._loopback.start()
        self._callback_thread = threading.Thread(target=self._run_callbacks, name="fake-twilio-callbacks",
                                                 daemon=True)
        self._callback_thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and the callback sender."""
        if self._callback_thread is not None:
            self._callbacks.put(None)
            self._callback_thread.join(5)
            self._callback_thread = None
        self._loopback.stop()
        if self._own_client:
            self.callback_client.close()

    def __enter__(self) -> FakeTwilio:
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving it."""
        self.stop()

    # -- what tests tell it and ask it ------------------------------------------------------

    def fail_next(self, *faults: str) -> None:
        """Answer the next create-Message requests with these faults, in order."""
        unknown = [fault for fault in faults if fault not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
        with self._lock:
            self._store.faults.extend(faults)

    def fail_at_random(self, rate: float, faults: Iterable[str], seed: int = 0) -> None:
        """From now on, answer a share `rate` of create requests with one of `faults`, chosen by a seeded RNG."""
        kinds = tuple(faults)
        unknown = [fault for fault in kinds if fault not in FAULTS]
        if unknown or not kinds or not 0.0 <= rate <= 1.0:
            raise ValueError(f"give a rate in [0, 1] and faults from {FAULTS}")
        with self._lock:
            self._store.random_faults = (rate, kinds, random.Random(seed))

    @property
    def faults_injected(self) -> Counter:
        """How many create requests were answered with each fault so far."""
        refusals = {"refused:20500": FAULT_SERVER_ERROR, "refused:20429": FAULT_RATE_LIMITED}
        with self._lock:
            outcomes = [refusals.get(request.outcome, request.outcome) for request in self._store.requests]
        return Counter(outcome for outcome in outcomes if outcome in FAULTS)

    def opt_out(self, number: str) -> None:
        """The number texted STOP to Twilio: sends to it now get 400 / 21610."""
        with self._lock:
            self._store.opted_out.add(number)

    @property
    def handoffs(self) -> list[str]:
        """Sids of every message created, in order (one per accepted hand-off)."""
        with self._lock:
            return list(self._store.handoffs)

    def handoffs_by_message_id(self) -> Counter[int]:
        """How many messages were created per Mannerly message id (read from each StatusCallback's `message_id`)."""
        counts: Counter[int] = Counter()
        with self._lock:
            for sid in self._store.handoffs:
                callback = self._store.messages[sid].status_callback or ""
                our_id = dict(parse_qsl(urlsplit(callback).query)).get("message_id", "")
                if not our_id.isdigit():
                    raise AssertionError(f"message {sid} was created without a message_id in its StatusCallback")
                counts[int(our_id)] += 1
        return counts

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every create-Message request received, including refused ones."""
        with self._lock:
            return list(self._store.requests)

    @property
    def posted(self) -> list[PostedWebhook]:
        """Every webhook the fake POSTed."""
        with self._lock:
            return list(self._store.posted)

    def message(self, sid: str) -> FakeMessage:
        """A created message by sid."""
        with self._lock:
            return self._store.messages[sid]

    def messages_to(self, number: str) -> list[FakeMessage]:
        """Messages created for a recipient, oldest first."""
        with self._lock:
            return [message for message in self._store.messages.values() if message.to == number]

    def set_status(self, sid: str, status: str, error_code: int | None = None, error_message: str | None = None) -> None:
        """Change a message's status as Twilio would (what GET …/Messages/{sid}.json then reports)."""
        with self._lock:
            message = self._store.messages[sid]
            message.status = status
            message.error_code = error_code
            message.error_message = error_message
            message.updated_at = datetime.now(UTC)

    # -- webhooks the fake sends ------------------------------------------------------------

    def sign(self, url: str, form: Mapping[str, str]) -> str:
        """The X-Twilio-Signature Twilio would send for this URL and form."""
        return compute_signature(self.auth_token, url, form)

    def post_webhook(self, url: str, form: Mapping[str, str], *, client: httpx.Client | None = None,
                     signature: str | None = None) -> httpx.Response:
        """POST a form to `url` the way Twilio does: form-encoded, signed (or with the given signature)."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            "X-Twilio-Signature": signature if signature is not None else self.sign(url, form),
        }
        response = (client or self.callback_client).post(url, data=dict(form), headers=headers)
        with self._lock:
            self._store.posted.append(PostedWebhook(url, dict(form), response.status_code, response.text))
        return response

    def status_callback_form(self, sid: str, status: str, error_code: int | str | None = None) -> dict[str, str]:
        """The documented status-callback parameters for one of the fake's messages."""
        with self._lock:
            message = self._store.messages[sid]
            message.status = status
            message.error_code = int(error_code) if error_code is not None else None
            message.updated_at = datetime.now(UTC)
        form = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or "",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            form["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        if status == "delivered":
            form["RawDlrDoneDate"] = message.updated_at.strftime("%y%m%d%H%M")
        return form

    def post_status_callback(self, sid: str, status: str, error_code: int | str | None = None, *,
                             url: str | None = None, client: httpx.Client | None = None) -> httpx.Response:
        """POST a signed status callback for a message to its StatusCallback URL (or `url`)."""
        target = url or self.message(sid).status_callback
        if not target:
            raise ValueError(f"message {sid} has no StatusCallback and no url was given")
        return self.post_webhook(target, self.status_callback_form(sid, status, error_code), client=client)

    def inbound_form(self, from_number: str, to_number: str, body: str,
                     media: Iterable[tuple[str, str]] = (), sid: str | None = None) -> dict[str, str]:
        """The documented incoming-message parameters; `media` is (url, content type) pairs."""
        media = list(media)
        sid = sid or new_sid("MM" if media else "SM")
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_number,
            "FromCity": "",
            "FromCountry": "",
            "FromState": "",
            "FromZip": "",
            "MessageSid": sid,
            "NumMedia": str(len(media)),
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to_number,
            "ToCity": "",
            "ToCountry": "",
            "ToState": "",
            "ToZip": "",
        }
        for index, (media_url, content_type) in enumerate(media):
            form[f"MediaUrl{index}"] = media_url
            form[f"MediaContentType{index}"] = content_type
        return form

    def post_inbound(self, url: str, from_number: str, to_number: str, body: str, *,
                     media: Iterable[tuple[str, str]] = (), sid: str | None = None,
                     client: httpx.Client | None = None) -> httpx.Response:
        """A customer texts the business: POST a signed incoming-message webhook to `url`."""
        return self.post_webhook(url, self.inbound_form(from_number, to_number, body, media, sid), client=client)

    def _run_callbacks(self) -> None:
        """Send queued automatic status callbacks until told to stop."""
        while (item := self._callbacks.get()) is not None:
            sid, status = item
            try:
                self.post_status_callback(sid, status)
            except httpx.HTTPError as error:
                with self._lock:
                    self._store.posted.append(PostedWebhook(self.message(sid).status_callback or "", {}, None,
                                                            f"{type(error).__name__}: {error}"))

    # -- the HTTP API -----------------------------------------------------------------------

    def _authorized(self, request: Request, account_sid: str) -> str | None:
        """The Basic-auth username when the credentials are valid for this account, else None."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or account_sid != self.account_sid:
            return None
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if username == self.account_sid and password == self.auth_token:
            return username
        if username in self.api_keys and self.api_keys[username] == password:
            return username
        return None

    def _create(self, account_sid: str, form: dict[str, str], username: str, content_type: str,
                path: str) -> tuple[Response, str | None]:
        """Validate a create-Message form like Twilio does and store the message; returns (answer, fault)."""

        def refuse(code: int, message: str, status: int = 400) -> tuple[Response, None]:
            """Record a refusal and answer Twilio's error body."""
            self._store.requests.append(RecordedRequest(path, username, content_type, form, f"refused:{code}"))
            return twilio_error(code, message, status), None

        to = form.get("To", "")
        sender = form.get("From")
        service = form.get("MessagingServiceSid")
        body = form.get("Body", "")
        with self._lock:
            fault = self._store.faults.popleft() if self._store.faults else None
            if fault is None and self._store.random_faults is not None:
                rate, kinds, chooser = self._store.random_faults
                fault = chooser.choice(kinds) if chooser.random() < rate else None
            if fault == FAULT_RATE_LIMITED:
                return refuse(20429, "Too Many Requests", 429)
            if fault == FAULT_SERVER_ERROR:
                return refuse(20500, "Internal Server Error", 500)
            if not to:
                return refuse(21604, "A 'To' phone number is required.")
            if fault == FAULT_INVALID_TO or not _E164.match(to.removeprefix("whatsapp:")):
                return refuse(21211, f"Invalid 'To' Phone Number: {to}")
            if not sender and not service:
                return refuse(21603, "A 'From' phone number is required.")
            if not body and "MediaUrl" not in form:
                return refuse(21602, "Message body is required.")
            if len(body) > MAX_BODY_CHARACTERS:
                return refuse(21617, "The concatenated message body exceeds the 1600 character limit.")
            if fault == FAULT_OPT_OUT or to.removeprefix("whatsapp:") in self._store.opted_out:
                return refuse(21610, "Attempt to send to unsubscribed recipient")
            now = datetime.now(UTC)
            message = FakeMessage(
                sid=new_sid("SM"), account_sid=account_sid, to=to, from_=sender, body=body,
                messaging_service_sid=service, status_callback=form.get("StatusCallback"),
                status="accepted" if service and not sender else "queued", created_at=now, updated_at=now,
                num_segments=max(1, -(-len(body) // 153)) if len(body) > 160 else 1,
            )
            self._store.messages[message.sid] = message
            self._store.handoffs.append(message.sid)
            self._store.requests.append(RecordedRequest(path, username, content_type, form, fault or "created",
                                                        message.sid))
            answer = JSONResponse(message.resource(), status_code=201)
            if self.settle_status:
                message.status = self.settle_status
        if message.status_callback:
            for status in self.auto_callbacks:
                self._callbacks.put((message.sid, status))
        if fault == FAULT_DROP_AFTER_ACCEPT:
            return _TruncatedResponse(), fault
        return answer, fault

    def _list(self, query: Mapping[str, str], page: int, page_size: int) -> dict[str, Any]:
        """One page of the Message list resource, newest first, filtered by To, From and DateSent like Twilio."""
        with self._lock:
            found = [message for message in self._store.messages.values()
                     if ("To" not in query or message.to == query["To"])
                     and ("From" not in query or message.from_ == query["From"])]
            found.sort(key=lambda message: message.created_at, reverse=True)
            for name, keep in (("DateSent", lambda day, wanted: day == wanted),
                               ("DateSent>", lambda day, wanted: day >= wanted),
                               ("DateSent<", lambda day, wanted: day <= wanted)):
                if name in query:
                    found = [message for message in found
                             if keep(message.created_at.date().isoformat(), query[name][:10])]
            chunk = [message.resource() for message in found[page * page_size:(page + 1) * page_size]]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        more = (page + 1) * page_size < len(found)
        return {
            "messages": chunk,
            "page": page,
            "page_size": page_size,
            "first_page_uri": f"{uri}?PageSize={page_size}&Page=0",
            "next_page_uri": f"{uri}?PageSize={page_size}&Page={page + 1}" if more else None,
            "previous_page_uri": f"{uri}?PageSize={page_size}&Page={page - 1}" if page > 0 else None,
            "uri": f"{uri}?PageSize={page_size}&Page={page}",
            "start": page * page_size,
            "end": page * page_size + max(len(chunk) - 1, 0),
        }

    def _build_app(self) -> FastAPI:
        """The FastAPI app with Twilio's two Message endpoints."""
        app = FastAPI(title="Fake Twilio", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json")
        async def create_message(account_sid: str, request: Request) -> Response:
            """Create a Message (send an SMS)."""
            username = self._authorized(request, account_sid)
            if username is None:
                return twilio_error(20003, "Authenticate", 401)
            content_type = request.headers.get("content-type", "")
            raw = await request.body()
            form: dict[str, str] = {}
            if content_type.split(";")[0].strip() == "application/x-www-form-urlencoded":
                try:
                    form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    form = {}
            answer, fault = self._create(account_sid, form, username, content_type, request.url.path)
            if fault == FAULT_SLOW_AFTER_ACCEPT:
                await asyncio.sleep(self.slow_seconds)
            return answer

        @app.get(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json")
        async def list_messages(account_sid: str, request: Request) -> Response:
            """Read Messages (newest first), filtered by To, From and DateSent; paged by Page and PageSize."""
            if self._authorized(request, account_sid) is None:
                return twilio_error(20003, "Authenticate", 401)
            query = dict(request.query_params)
            try:
                page = int(query.pop("Page", "0"))
                page_size = min(int(query.pop("PageSize", "50")), 1000)
            except ValueError:
                return twilio_error(20001, "Page and PageSize must be integers", 400)
            return JSONResponse(self._list(query, max(page, 0), max(page_size, 1)))

        @app.get(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{sid}}.json")
        async def fetch_message(account_sid: str, sid: str, request: Request) -> Response:
            """Fetch one Message resource."""
            if self._authorized(request, account_sid) is None:
                return twilio_error(20003, "Authenticate", 401)
            with self._lock:
                message = self._store.messages.get(sid)
                resource = message.resource() if message is not None else None
            if resource is None:
                return twilio_error(20404, f"The requested resource /{API_VERSION}/Accounts/{account_sid}"
                                           f"/Messages/{sid}.json was not found", 404)
            return JSONResponse(resource)

        return app
