"""The FastAPI application: REST API, simulator endpoints, error handlers, and the in-process worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from mannerly import __version__
from mannerly.api import contacts, conversations, messages, simulator, templates, topics, webhooks, workspace
from mannerly.api.problems import install_problem_handlers
from mannerly.outbox.dispatcher import WorkerThread
from mannerly.runtime import Runtime

DESCRIPTION = """
Mannerly sends SMS, WhatsApp and Messenger messages with good manners enforced:
consent first, quiet hours in the customer's own time zone and holidays, no cold or
excessive messages, short clear content.

Authenticate with a workspace API key: `Authorization: Bearer mly_…`.
Every error is an RFC 9457 `application/problem+json` document.
"""

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mannerly</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1f2933}
code{background:#f0f4f8;padding:.1rem .3rem;border-radius:4px}a{color:#2f6fde}</style></head>
<body><h1>Mannerly is running</h1>
<p>Customer messaging with good manners enforced by the software.</p>
<ul><li><a href="/docs">API reference (OpenAPI)</a></li><li><a href="/healthz">Health</a></li></ul>
<p>Try a dry run: <code>POST /v1/messages/check</code> with your API key.</p></body></html>"""


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
    for module in (contacts, topics, templates, workspace, messages, conversations, simulator, webhooks):
        app.include_router(module.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        """A small page pointing at the API docs."""
        return LANDING

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    return app
