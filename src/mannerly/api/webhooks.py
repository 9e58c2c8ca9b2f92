"""Provider webhooks: /webhooks/{channel_id}, verified and parsed by the channel's adapter.

Forged or missing signatures → 403 and nothing stored; malformed payloads →
400 and nothing stored; an unknown channel → 404; a replayed event → 200 and
stored once. Each event is stored in its own transaction.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from mannerly.api.problems import problem_response
from mannerly.channels.base import InboundMessage, WebhookAdapter, WebhookRejected, WebhookRequest
from mannerly.errors import ProblemError
from mannerly.inbound.pipeline import apply_status_update, receive_message
from mannerly.inbound.queue import check_senders, enqueue, must_apply_now
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


def log_exchange(session: Session, channel: Channel, incoming: WebhookRequest, status: int, started: float,
                 answer: str) -> None:
    """Record the webhook call, secrets left out."""
    headers = {name: value for name, value in incoming.headers.items()
               if not any(word in name for word in SECRET_HEADER_WORDS)}
    session.add(ProviderExchange(
        workspace_id=channel.workspace_id, channel_id=channel.id, direction="inbound_webhook",
        request={"method": incoming.method, "path": incoming.url.split("?")[0], "headers": headers,
                 # Customers' card numbers and national ids must not survive in the log either (S8).
                 "body": redact_logged_body(incoming.body.decode("utf-8", "replace"))[:MAX_LOGGED_BODY]},
        response={"body": answer[:MAX_LOGGED_BODY]}, status_code=status,
        duration_ms=int((time.perf_counter() - started) * 1000),
    ))


def handle(runtime: Runtime, channel_id: int, incoming: WebhookRequest) -> Response:
    """Verify, parse and store one webhook call (runs in a worker thread), timed for the metrics."""
    started = time.perf_counter()
    response, provider = verify_and_store(runtime, channel_id, incoming, started)
    WEBHOOK_SECONDS.labels(provider, str(response.status_code)).observe(time.perf_counter() - started)
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
            title = "Forbidden" if error.status == 403 else "Bad request"
            return problem_response(error.status, title, error.reason), provider
        now = runtime.now()
        events = list(result.events)
        if runtime.settings.webhook_mode == "queue":
            try:
                events = queue_events(session, channel, events, now)
            except ProblemError as error:
                return problem_response(400, "Bad request", f"event not stored: {error}"), provider
        problem = apply_events(session, channel, events, now)
        if problem is not None:
            return problem, provider
        log_exchange(session, channel, incoming, result.status_code, started, result.body)
        session.commit()
        return Response(result.body, status_code=result.status_code, media_type=result.media_type), provider


def queue_events(session: Session, channel: Channel, events: list, now) -> list:
    """Store the events that can wait for the worker; returns the ones to apply now (consent changes)."""
    check_senders(session, channel, events)
    apply_now = must_apply_now(session, channel, tuple(events))
    enqueue(session, channel, [event for event, urgent in zip(events, apply_now, strict=True) if not urgent], now)
    return [event for event, urgent in zip(events, apply_now, strict=True) if urgent]


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
