"""The FastAPI application: REST API, simulator endpoints, error handlers, and the in-process worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

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
from mannerly.api.problems import install_problem_handlers, problem_response
from mannerly.db import current_revision, head_revision
from mannerly.observability import render_metrics
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

def readiness_checks(runtime: Runtime) -> dict[str, str]:
    """Each dependency's state: "ok" or what is wrong with it."""
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, head = current_revision(runtime.engine), head_revision()
        checks["database"] = "ok" if current == head else f"schema at {current or 'none'}, needs {head}"
    except Exception as error:  # any failure means not ready; the detail says which
        checks["database"] = f"unreachable: {type(error).__name__}"
    if runtime.settings.redis_url:
        try:
            import redis

            redis.Redis.from_url(runtime.settings.redis_url, socket_timeout=1).ping()
            checks["redis"] = "ok"
        except Exception as error:  # noqa: BLE001 - reported, not raised
            checks["redis"] = f"unreachable: {type(error).__name__}"
    return checks


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
    # Outermost: in queue mode, provider webhooks are answered before routing and the web middleware.
    app.add_middleware(webhooks.WebhookQueueMiddleware, runtime=runtime)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness",
             description="200 when the database answers at the newest schema (and Redis, when configured); "
                         "503 with the failing checks otherwise. Load balancers send traffic only when ready.")
    def readyz() -> Response:
        """Check the database, its schema revision and Redis."""
        checks = readiness_checks(runtime)
        failing = {name: detail for name, detail in checks.items() if detail != "ok"}
        if failing:
            detail = "; ".join(f"{name}: {problem}" for name, problem in failing.items())
            return problem_response(503, "Not ready", detail,
                                    errors=[{"field": name, "message": problem} for name, problem in failing.items()])
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        """This process's counters (or every process's, in multi-process mode) and the outbox depth."""
        with runtime.session() as session:
            body, content_type = render_metrics(session)
        return Response(body, media_type=content_type)

    return app
