"""Browser test plumbing: the real server on a loopback port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mannerly.app import create_app
from mannerly.config import Settings
from mannerly.contacts.service import find_contact_by_phone
from mannerly.db import upgrade_database
from mannerly.demo import ensure_demo_workspace
from mannerly.inbound.pipeline import receive_message
from mannerly.models import Channel, Workspace
from mannerly.runtime import Runtime
from mannerly.web.auth import create_user

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery"
AGENT_EMAIL = "mina@demo.example"
ADMIN_EMAIL = "owner@demo.example"
VIEWPORT = {"width": 1280, "height": 800}


def require_browser() -> str:
    """The path of Debian's Chromium with Playwright importable; skip (fail on CI) when either is missing."""
    on_ci = os.environ.get("CI") == "true"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright Python package is not installed (pin playwright==1.65.2 in the test extras)"
        pytest.fail(reason) if on_ci else pytest.skip(reason)
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium; ./test installs it when run as root)"
        pytest.fail(reason) if on_ci else pytest.skip(reason)
    return path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    """The running server and handles on its database."""

    base_url: str
    runtime: Runtime
    workspace_id: int
    thread: threading.Thread
    server: object

    def customer_writes(self, phone: str, text: str, now: datetime | None = None) -> None:
        """A customer's text through the real inbound pipeline (as the phone simulator page does)."""
        runtime = self.runtime
        with runtime.session() as session:
            workspace = session.get(Workspace, self.workspace_id)
            channel = session.scalar(select(Channel).where(Channel.workspace_id == workspace.id,
                                                           Channel.provider == "simulator", Channel.kind == "sms"))
            moment = now or runtime.now()
            event = runtime.channels.adapter_for(channel, runtime).receive_from_phone(phone, text, moment)
            receive_message(session, workspace, channel, event, moment)
            session.commit()

    def update_contact(self, phone: str, **fields) -> None:
        """Change a contact's columns directly (names and attributes for the escaping tests)."""
        with self.runtime.session() as session:
            contact = find_contact_by_phone(session, self.workspace_id, phone)
            for name, value in fields.items():
                setattr(contact, name, value)
            session.commit()

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.runtime.close()


def start_server(folder: Path) -> LiveServer:
    """Migrate a SQLite file, create the demo workspace and two users, run uvicorn with the worker in a thread."""
    import uvicorn

    database = folder / "mannerly.db"
    settings = Settings(database_url=f"sqlite:///{database}", simulator_failure_rate=0.0, simulator_latency_ms=150,
                        simulator_seed=7, dispatch_interval_seconds=0.2)
    upgrade_database(settings.database_url)
    runtime = Runtime.create(settings)
    with runtime.session() as session:
        workspace, _key = ensure_demo_workspace(session, runtime.now())
        create_user(session, workspace, AGENT_EMAIL, "agent", PASSWORD, name="Mina Park")
        create_user(session, workspace, ADMIN_EMAIL, "admin", PASSWORD, name="Alex Owner")
        workspace_id = workspace.id
        session.commit()
    app = create_app(runtime, start_worker=True)
    app.state.web_sse_stream_seconds = 60.0
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1,
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return LiveServer(base_url=f"http://127.0.0.1:{port}", runtime=runtime, workspace_id=workspace_id,
                      thread=thread, server=server)


def log_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Log in through the form and land on the inbox."""
    page.goto(f"{base_url}/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base_url}/inbox")
