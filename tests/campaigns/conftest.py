"""Fixtures for campaign tests: a runtime with a short-link base URL, the shop, and an API client."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mannerly.app import create_app
from mannerly.config import Settings
from mannerly.runtime import Runtime
from mannerly.workspaces.service import create_api_key
from tests.campaigns.helpers import START, Shop, make_shop

LINKS_BASE = "https://go.acme.test"


@pytest.fixture
def runtime(settings: Settings, clock):
    """The test runtime with MANNERLY_PUBLIC_BASE_URL set, so campaign links are tracked."""
    clock.set(START)
    built = Runtime.create(settings.model_copy(update={"public_base_url": LINKS_BASE}), clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def shop(runtime) -> Shop:
    """The shop with its eight contacts."""
    return make_shop(runtime)


def app_with_campaigns(runtime):
    """The application as served: app.py mounts the segment, campaign and short-link routers."""
    return create_app(runtime, start_worker=False)


@pytest.fixture
def api(runtime, shop):
    """(call, shop): call(method, path, **kwargs) with the shop's API key."""
    with runtime.session() as session:
        from mannerly.models import Workspace

        key = create_api_key(session, session.get(Workspace, shop.workspace_id))
        session.commit()
    client = TestClient(app_with_campaigns(runtime))

    def call(method: str, path: str, **kwargs):
        """One authenticated request."""
        return client.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)

    call.client = client
    return call
