"""Fixtures for API tests: an app on the test runtime, a workspace with topics, and its API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mannerly.app import create_app
from mannerly.models import Topic
from mannerly.outbox.dispatcher import Dispatcher
from mannerly.workspaces.service import create_api_key, create_workspace


@dataclass
class Api:
    """A test client already carrying a workspace's API key, plus handles the tests need."""

    client: TestClient
    key: str
    workspace_id: int
    runtime: object

    def post(self, path: str, **kwargs):
        """POST with the key."""
        return self.client.post(path, headers={"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}, **kwargs)

    def get(self, path: str, **kwargs):
        """GET with the key."""
        return self.client.get(path, headers={"Authorization": f"Bearer {self.key}"}, **kwargs)

    def patch(self, path: str, **kwargs):
        """PATCH with the key."""
        return self.client.patch(path, headers={"Authorization": f"Bearer {self.key}"}, **kwargs)

    def dispatch(self):
        """One pass of the dispatcher, as the worker would run it."""
        return Dispatcher(self.runtime).run_once()


def make_workspace(runtime, name: str) -> tuple[int, str]:
    """A workspace with the usual topics; returns its id and an API key."""
    with runtime.session() as session:
        workspace = create_workspace(session, name, brand_names={"en": "Acme", "ko": "아크미", "id": "Acme", "el": "Acme"})
        session.add_all([
            Topic(workspace_id=workspace.id, name="orders", label="Orders", kind="transactional"),
            Topic(workspace_id=workspace.id, name="alerts", label="Security alerts", kind="transactional", urgent=True),
            Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing", keyword="PROMO"),
        ])
        key = create_api_key(session, workspace)
        session.commit()
        return workspace.id, key


# Tuesday 4 March 2025, 01:00 UTC: 10:00 in Seoul (3 March is a Korean substitute holiday).
API_START = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
def api(runtime, clock) -> Api:
    """An API client for workspace 'Acme' on a fresh database, worker not started (tests dispatch by hand)."""
    clock.set(API_START)
    workspace_id, key = make_workspace(runtime, "Acme")
    client = TestClient(create_app(runtime, start_worker=False))
    return Api(client=client, key=key, workspace_id=workspace_id, runtime=runtime)
