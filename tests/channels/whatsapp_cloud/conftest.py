"""Fixtures for the WhatsApp Cloud API tests: loopback-only networking, the fake Graph API, an API client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mannerly.api import whatsapp
from mannerly.app import create_app
from mannerly.channels.whatsapp_cloud.fake_server import FakeGraphApi
from mannerly.models import Channel
from tests.api.conftest import API_START, Api, make_workspace

TESTDATA = Path(__file__).resolve().parents[3] / "src" / "mannerly" / "channels" / "whatsapp_cloud" / "testdata"


@pytest.fixture
def fake_graph() -> Iterator[FakeGraphApi]:
    """A fake Graph API on a free 127.0.0.1 port, stopped after the test."""
    with FakeGraphApi(slow_seconds=1.0) as fake:
        yield fake


def read_testdata(name: str) -> bytes:
    """A recorded payload as raw bytes."""
    return (TESTDATA / name).read_bytes()


def load_testdata(name: str) -> Any:
    """A recorded payload as JSON."""
    return json.loads(read_testdata(name))


def with_whatsapp_router(app: Any) -> Any:
    """The app with the WhatsApp router, unless app.py already includes it."""
    if not any(getattr(route, "path", "").startswith("/v1/channels/{channel_id}/whatsapp") for route in app.routes):
        app.include_router(whatsapp.router)
    return app


@pytest.fixture
def api(runtime, clock) -> Api:
    """An API client for workspace 'Acme' (with the WhatsApp routes), worker not started."""
    clock.set(API_START)
    workspace_id, key = make_workspace(runtime, "Acme")
    client = TestClient(with_whatsapp_router(create_app(runtime, start_worker=False)))
    return Api(client=client, key=key, workspace_id=workspace_id, runtime=runtime)


def add_whatsapp_channel(api: Api, fake: FakeGraphApi, **config_overrides: Any) -> int:
    """A whatsapp_cloud channel in the API's workspace pointing at the fake; returns its id."""
    with api.runtime.session() as session:
        channel = Channel(workspace_id=api.workspace_id, kind="whatsapp", provider="whatsapp_cloud",
                          name="WhatsApp", sender_id=fake.phone_number_id,
                          config=fake.channel_config(**config_overrides), profile={"name": "Acme Store"},
                          rate_limit_per_second=0)
        session.add(channel)
        session.commit()
        return channel.id


@pytest.fixture
def whatsapp_channel(api: Api, fake_graph: FakeGraphApi) -> int:
    """The id of a WhatsApp Cloud channel on the fake Graph API."""
    return add_whatsapp_channel(api, fake_graph)
