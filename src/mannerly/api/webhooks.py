"""Provider webhooks: /webhooks/{channel_id}, verified and parsed by the channel's adapter.

Forged or missing signatures → 403 and nothing stored; malformed payloads →
400 and nothing stored; an unknown channel → 404; a replayed event → 200 and
stored once. Each event is stored in its own transaction.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.orm import Session

from mannerly.api.problems import problem_response
from mannerly.channels.base import InboundMessage, WebhookAdapter, WebhookRejected, WebhookRequest
from mannerly.errors import ProblemError
from mannerly.inbound.pipeline import apply_status_update, receive_message
from mannerly.inbound.queue import check_sender, event_rows, must_apply_now
from mannerly.models import Channel, ProviderExchange, Workspace
from mannerly.observability import WEBHOOK_SECONDS
from mannerly.redaction import redact_logged_body
from mannerly.runtime import Runtime

router = APIRouter(tags=["webhooks"])

# Headers whose names contain these words are never written to the exchange log.
SECRET_HEADER_WORDS = ("authorization", "cookie", "signature", "token", "secret", "api-key")
MAX_LOGGED_BODY = 16_000


def public_url(request: Request, base: str | None) -> str:
    """The URL the provider called, as it signed it: behind a proxy, MANNERLY_PUBLIC_BASE_URL + path + query."""
    if not base:
        return str(request.url)
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


def webhook_request(request: Request, body: bytes, base: str | None) -> WebhookRequest:
    """The adapter's view of an HTTP request."""
    return WebhookRequest(
        method=request.method,
        url=public_url(request, base),
        headers={name.lower(): value for name, value in request.headers.items()},
        query=dict(request.query_params),
        body=body,
    )


def exchange_row(channel: Channel, incoming: WebhookRequest, status: int, started: float, answer: str) -> dict:
    """The exchange-log row of one webhook call, secrets and personal numbers left out."""
    headers = {name: value for name, value in incoming.headers.items()
               if not any(word in name for word in SECRET_HEADER_WORDS)}
    return {
        "workspace_id": channel.workspace_id, "channel_id": channel.id, "direction": "inbound_webhook",
        "request": {"method": incoming.method, "path": incoming.url.split("?")[0], "headers": headers,
                    # Customers' card numbers and national ids must not survive in the log either (S8).
                    "body": redact_logged_body(incoming.body.decode("utf-8", "replace"))[:MAX_LOGGED_BODY]},
        "response": {"body": answer[:MAX_LOGGED_BODY]}, "status_code": status,
        "duration_ms": int((time.perf_counter() - started) * 1000),
    }


def log_exchange(session: Session, channel: Channel, incoming: WebhookRequest, status: int, started: float,
                 answer: str) -> None:
    """Record the webhook call in the session's transaction."""
    session.add(ProviderExchange(**exchange_row(channel, incoming, status, started, answer)))


def rejection_response(error: WebhookRejected) -> Response:
    """The problem answer to a webhook its adapter refused (forged → 403, malformed → 400)."""
    return problem_response(error.status, "Forbidden" if error.status == 403 else "Bad request", error.reason)


def handle(runtime: Runtime, channel_id: int, incoming: WebhookRequest) -> Response:
    """Verify, parse and store one webhook call (runs in a worker thread), timed for the metrics."""
    started = time.perf_counter()
    response, provider = verify_and_store(runtime, channel_id, incoming, started)
    WEBHOOK_SECONDS.labels(provider, str(response.status_code)).observe(time.perf_counter() - started)
    return response


async def queue_fast_path(runtime: Runtime, channel_id: int, incoming: WebhookRequest) -> Response | None:
    """Queue mode: verify and parse here, then wait for the writer thread to commit the events.

    Returns None when the request needs the full path instead: an unknown or disabled channel
    (which answers 404 there) or an event that changes consent (applied inside the request).
    """
    started = time.perf_counter()
    target = runtime.webhook_targets.cached(channel_id)
    if target is None:
        target = await run_in_threadpool(runtime.webhook_targets.get, runtime.sessionmaker, channel_id)
    if target is None:
        return None
    channel = target.channel
    adapter = runtime.channels.adapter_for(channel, runtime)
    if not isinstance(adapter, WebhookAdapter):
        return None
    try:
        result = adapter.handle_webhook(incoming)
    except WebhookRejected as error:
        response = rejection_response(error)
    else:
        if any(must_apply_now(event, target.topic_keywords) for event in result.events):
            return None
        try:
            if channel.kind != "messenger":
                for event in result.events:
                    if isinstance(event, InboundMessage):
                        check_sender(event.from_address, target.default_country)
        except ProblemError as error:
            response = problem_response(400, "Bad request", f"event not stored: {error}")
        else:
            rows = event_rows(channel, list(result.events), runtime.now())
            exchange = exchange_row(channel, incoming, result.status_code, started, result.body)
            await asyncio.wrap_future(runtime.webhook_writer.submit(rows, exchange))
            response = Response(result.body, status_code=result.status_code, media_type=result.media_type)
    WEBHOOK_SECONDS.labels(channel.provider, str(response.status_code)).observe(time.perf_counter() - started)
    return response


def verify_and_store(runtime: Runtime, channel_id: int, incoming: WebhookRequest,
                     started: float) -> tuple[Response, str]:
    """The work of handle(): the response, and the channel's provider ("unknown" for no channel)."""
    with runtime.session() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or not channel.enabled:
            return problem_response(404, "Not found", f"no enabled channel {channel_id}"), "unknown"
        provider = channel.provider
        adapter = runtime.channels.adapter_for(channel, runtime)
        if not isinstance(adapter, WebhookAdapter):
            answer = problem_response(404, "Not found", f"channel {channel_id} ({provider}) takes no webhooks")
            return answer, provider
        try:
            result = adapter.handle_webhook(incoming)
        except WebhookRejected as error:
            return rejection_response(error), provider
        now = runtime.now()
        problem = apply_events(session, channel, list(result.events), now)
        if problem is not None:
            return problem, provider
        log_exchange(session, channel, incoming, result.status_code, started, result.body)
        session.commit()
        return Response(result.body, status_code=result.status_code, media_type=result.media_type), provider


def apply_events(session: Session, channel: Channel, events: list, now) -> Response | None:
    """Apply events inside the request, each in its own transaction; a 400 answer if one is unusable."""
    workspace = session.get(Workspace, channel.workspace_id) if events else None
    for event in events:
        try:
            if isinstance(event, InboundMessage):
                receive_message(session, workspace, channel, event, now)
            else:
                apply_status_update(session, channel, event, now)
            session.commit()
        except ProblemError as error:
            # One unusable event (e.g. an unparseable sender) must not lose the others.
            session.rollback()
            return problem_response(400, "Bad request", f"event not stored: {error}")
    return None


class WebhookQueueMiddleware:
    """Queue mode: answer POST /webhooks/{id} before routing, so a provider's burst costs little per call.

    Everything else, and every webhook the fast path hands back (unknown channel, consent
    change), goes on to the application unchanged, its body replayed.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        """Wrap the application."""
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Take queue-mode webhook POSTs; pass the rest through."""
        channel_id = self._webhook_channel(scope)
        if channel_id is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_WEBHOOK_BODY:
                response = problem_response(413, "Payload too large", f"webhook bodies stop at {MAX_WEBHOOK_BODY} bytes")
                await response(scope, receive, send)
                return
        incoming = webhook_request(request, body, self.runtime.settings.public_base_url)
        response = await queue_fast_path(self.runtime, channel_id, incoming)
        if response is not None:
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            """The body already read, then whatever the client sends next (a disconnect)."""
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _webhook_channel(self, scope: Scope) -> int | None:
        """The channel id of a queue-mode webhook POST, else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or self.runtime.settings.webhook_mode != "queue":
            return None
        path: str = scope["path"]
        if not path.startswith(WEBHOOK_PREFIX):
            return None
        tail = path[len(WEBHOOK_PREFIX):]
        # Anything but a plain id (too long for the database, trailing slash, …) takes the routed path.
        return int(tail) if tail.isascii() and tail.isdigit() and len(tail) <= 9 else None


WEBHOOK_PREFIX = "/webhooks/"
# Providers send a few kilobytes; anything near this is not a webhook.
MAX_WEBHOOK_BODY = 1_048_576


@router.post("/webhooks/{channel_id}", summary="Provider webhook",
             description="Where providers deliver inbound messages and delivery statuses for one channel.")
@router.get("/webhooks/{channel_id}", summary="Provider webhook handshake", operation_id="webhook_handshake",
            description="Verification handshakes (WhatsApp, Messenger) and GET-style callbacks.")
async def webhook(channel_id: int, request: Request) -> Response:
    """Read the raw body here (signatures cover the exact bytes), then do the work off the event loop."""
    runtime: Runtime = request.app.state.runtime
    body = await request.body()
    incoming = webhook_request(request, body, runtime.settings.public_base_url)
    return await run_in_threadpool(handle, runtime, channel_id, incoming)
