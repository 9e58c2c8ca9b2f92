"""The same send/receive flow on PostgreSQL (skipped without a server, a failure on CI)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mannerly.app import create_app
from mannerly.config import Settings
from mannerly.db import upgrade_database
from mannerly.models import Message
from mannerly.runtime import Runtime
from tests.api.conftest import API_START, Api, make_workspace

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_api(postgres_url, clock):
    """An API client on a fresh PostgreSQL schema."""
    upgrade_database(postgres_url)
    clock.set(API_START)
    runtime = Runtime.create(Settings(database_url=postgres_url, simulator_seed=1, simulator_failure_rate=0.0), clock=clock)
    workspace_id, key = make_workspace(runtime, "Acme")
    try:
        yield Api(client=TestClient(create_app(runtime, start_worker=False)), key=key, workspace_id=workspace_id, runtime=runtime)
    finally:
        runtime.close()


def test_send_dispatch_receipt_and_stop_on_postgres(pg_api, clock):
    """Send → sent → delivered, then STOP rejects what is still queued."""
    sent = pg_api.post("/v1/messages", json={"to": "+821023456789", "topic": "orders", "text": "Your order 9 has shipped."}).json()
    assert pg_api.dispatch().sent == 1
    clock.advance(seconds=5)
    pg_api.dispatch()
    assert pg_api.get(f"/v1/messages/{sent['id']}").json()["status"] == "delivered"
    later = pg_api.post("/v1/messages", json={"to": "+821023456789", "topic": "orders", "text": "Your order 10 has shipped.",
                                              "at": "2025-03-04T03:00:00+00:00"}).json()
    assert later["status"] == "deferred"
    assert pg_api.post("/v1/simulator/inbound", json={"from": "+821023456789", "text": "STOP"}).json()["keyword"] == "stop"
    clock.advance(hours=3)
    pg_api.dispatch()
    assert pg_api.get(f"/v1/messages/{later['id']}").json()["status"] == "rejected"


def test_concurrent_idempotent_posts_on_postgres(pg_api):
    """Concurrent POSTs with one Idempotency-Key make one message on PostgreSQL too."""
    body = {"to": "+821023456789", "topic": "orders", "text": "Your order 11 has shipped."}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: pg_api.post("/v1/messages", json=body, headers={"Idempotency-Key": "k"}), range(16)))
    assert {response.status_code for response in responses} == {201}
    assert len({response.text for response in responses}) == 1
    with pg_api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1
