"""The FastAPI application: REST API, simulator endpoints, error handlers, and the in-process worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mannerly import __version__
from mannerly.api import (
    channels,
    inbox,
    contacts,
    conversations,
    messages,
    simulator,
    templates,
    topics,
    webhooks,
    whatsapp,
    workspace,
)
from mannerly.api import automations, campaigns, events, reports, segments
from mannerly.api.problems import install_problem_handlers
from mannerly.outbox.dispatcher import WorkerThread
from mannerly.runtime import Runtime
from mannerly.web.routes import mount_web

DESCRIPTION = """
Mannerly sends SMS, WhatsApp and Messenger messages with good manners enforced:
consent first, quiet hours in the customer's own time zone and holidays, no cold or
excessive messages, short clear content.

Authenticate with a workspace API key: `Authorization: Bearer mly_…`.
Every error is an RFC 9457 `application/problem+json` document.
"""

def create_app(runtime: Runtime, *, start_worker: bool = True) -> FastAPI:
    """The web application bound to one runtime; optionally running the dispatcher in-process."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Start the in-process worker with the server and stop it gracefully."""
        worker = WorkerThread(runtime) if start_worker else None
        if worker:
            worker.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()

    app = FastAPI(title="Mannerly", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)
    for module in (contacts, topics, templates, workspace, channels, whatsapp, messages, conversations, inbox,
                   simulator, webhooks):
        app.include_router(module.router)
    for module in (automations, events, reports, segments, campaigns):
        app.include_router(module.router)
    app.include_router(campaigns.links_router)  # public short links: /l/{code}

    mount_web(app)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    return app
