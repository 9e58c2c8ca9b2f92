"""Fixtures for web UI tests: the app on the test runtime, the demo workspace, users of each role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mannerly.app import create_app
from mannerly.demo import ensure_demo_workspace
from mannerly.web import routes
from mannerly.web.auth import LoginRateLimiter, create_user

# Tuesday 4 March 2025, 01:00 UTC: 10:00 in Seoul, a working day in every demo country.
WEB_START = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebUser:
    """A logged-in browser-like client and what the tests need around it."""

    client: TestClient
    csrf: str
    workspace_id: int
    user_id: int
    runtime: object

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST a form the way htmx does: with the CSRF header."""
        headers = {"X-CSRF-Token": self.csrf, "HX-Request": "true", **kwargs.pop("headers", {})}
        return self.client.post(path, data=data or {}, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        """GET a page."""
        return self.client.get(path, **kwargs)


def login(client: TestClient, email: str, password: str = PASSWORD):
    """Log in through the form (fetching the CSRF token from the login page first)."""
    page = client.get("/login")
    token = CSRF_FIELD.search(page.text).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       follow_redirects=False)


@pytest.fixture(autouse=True)
def _fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters in tests: the real ones cost ~0.1 s per hash by design."""
    from argon2 import PasswordHasher

    from mannerly.web import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))


@pytest.fixture
def web_app(runtime, clock):
    """The app with the demo workspace and an admin, an agent and a marketer (password PASSWORD)."""
    clock.set(WEB_START)
    routes.login_limiter = LoginRateLimiter()
    with runtime.session() as session:
        workspace, _key = ensure_demo_workspace(session, WEB_START)
        for email, role in (("admin@shop.test", "admin"), ("agent@shop.test", "agent"),
                            ("marketer@shop.test", "marketer")):
            create_user(session, workspace, email, role, PASSWORD, name=role.capitalize())
        session.commit()
    return create_app(runtime, start_worker=False)


def logged_in(web_app, runtime, email: str) -> WebUser:
    """A client logged in as the user with that email."""
    client = TestClient(web_app)
    response = login(client, email)
    assert response.status_code == 303, response.text
    page = client.get("/inbox")
    token = CSRF_META.search(page.text).group(1)
    from sqlalchemy import select

    from mannerly.models import User

    with runtime.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        return WebUser(client=client, csrf=token, workspace_id=user.workspace_id, user_id=user.id, runtime=runtime)


@pytest.fixture
def agent(web_app, runtime) -> WebUser:
    """The agent, logged in."""
    return logged_in(web_app, runtime, "agent@shop.test")


@pytest.fixture
def admin(web_app, runtime) -> WebUser:
    """The admin, logged in."""
    return logged_in(web_app, runtime, "admin@shop.test")


@pytest.fixture
def marketer(web_app, runtime) -> WebUser:
    """The marketer, logged in."""
    return logged_in(web_app, runtime, "marketer@shop.test")
