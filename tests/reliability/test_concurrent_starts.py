"""Scheduling and the API under concurrency: two planners start one campaign at once; 100 POSTs share one key.

Default: 2 rounds of 300 recipients, 100 POSTs; LONG_TESTS=1: 10 rounds of 5,000 recipients, 1,000 POSTs.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mannerly.app import create_app
from mannerly.campaigns.service import plan_campaign
from mannerly.channels.twilio.fake_server import FakeTwilio
from mannerly.models import CampaignRecipient, IdempotencyKey, Message
from mannerly.runtime import ManualClock, Runtime
from tests.api.conftest import API_START, make_workspace
from tests.reliability.helpers import make_world, size, start_campaign


def race_planners(settings, rounds: int, recipients: int) -> int:
    """Each round: a new campaign planned by two planners released at the same instant; returns campaigns checked."""
    runtime = Runtime.create(settings)
    try:
        with FakeTwilio() as fake:
            for round_number in range(rounds):
                # A new workspace each round: the same text twice to one contact would be refused as a duplicate.
                world = make_world(runtime, fake, recipients, name=f"Shop {round_number}")
                campaign_id = start_campaign(runtime, world, name=f"Notice {round_number}")
                barrier = threading.Barrier(2)
                errors: list[BaseException] = []

                def plan(campaign_id: int = campaign_id) -> None:
                    """Wait for the other planner, then plan the whole campaign in small batches."""
                    barrier.wait()
                    try:
                        plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, runtime.now(),
                                      batch_size=50)
                    except Exception as error:  # a planner that loses a race may fail; it must not duplicate
                        errors.append(error)

                planners = [threading.Thread(target=plan) for _ in range(2)]
                for planner in planners:
                    planner.start()
                for planner in planners:
                    planner.join(120)
                if errors:  # what a failed planner left undone, the next worker pass finishes
                    plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, runtime.now())
                with runtime.session() as session:
                    per_contact = session.execute(
                        select(Message.contact_id, func.count()).join(
                            CampaignRecipient, CampaignRecipient.message_id == Message.id)
                        .where(CampaignRecipient.campaign_id == campaign_id).group_by(Message.contact_id)).all()
                assert len(per_contact) == recipients, f"round {round_number}: {len(per_contact)} recipients"
                assert {count for _, count in per_contact} == {1}, f"round {round_number}: a recipient got two"
    finally:
        runtime.close()
    return rounds


def test_two_planners_starting_one_campaign_make_one_message_per_recipient(settings):
    """SQLite: two planners racing on each new campaign still plan each recipient once."""
    race_planners(settings, rounds=size(2, 10), recipients=size(300, 5000))


@pytest.mark.postgres
def test_two_planners_on_postgresql(postgres_settings):
    """PostgreSQL: the same race."""
    race_planners(postgres_settings, rounds=size(2, 10), recipients=size(300, 5000))


def post_concurrently(settings, posts: int) -> None:
    """`posts` concurrent POST /v1/messages with one Idempotency-Key, then the same key in a second workspace."""
    clock = ManualClock(API_START)
    runtime = Runtime.create(settings, clock=clock)
    try:
        first_id, first_key = make_workspace(runtime, "Acme")
        second_id, second_key = make_workspace(runtime, "Other")
        client = TestClient(create_app(runtime, start_worker=False))
        body = {"to": "+821023456789", "topic": "orders", "text": "Your order 501 has shipped."}

        def post(key: str):
            """One POST with the shared Idempotency-Key."""
            return client.post("/v1/messages", json=body,
                               headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "order-501"})

        with ThreadPoolExecutor(max_workers=32) as pool:
            responses = list(pool.map(lambda index: post(first_key if index % 10 else second_key), range(posts)))
        by_workspace = {first_id: [r for i, r in enumerate(responses) if i % 10],
                        second_id: [r for i, r in enumerate(responses) if not i % 10]}
        for workspace_id, answers in by_workspace.items():
            assert {answer.status_code for answer in answers} == {201}, workspace_id
            assert len({answer.content for answer in answers}) == 1, "identical responses within a workspace"
        with runtime.session() as session:
            counts = dict(session.execute(select(Message.workspace_id, func.count()).where(
                Message.direction == "outbound").group_by(Message.workspace_id)).all())
            keys = session.scalar(select(func.count()).select_from(IdempotencyKey))
        assert counts == {first_id: 1, second_id: 1}, "one message per workspace"
        assert keys == 2
        first_answer = by_workspace[first_id][0].json()
        second_answer = by_workspace[second_id][0].json()
        assert first_answer["id"] != second_answer["id"]
    finally:
        runtime.close()


def test_100_concurrent_posts_with_one_idempotency_key(settings):
    """SQLite: 100 concurrent POSTs (90 in one workspace, 10 in another) → one message each, identical answers."""
    post_concurrently(settings, posts=size(100, 1000))


@pytest.mark.postgres
def test_100_concurrent_posts_with_one_idempotency_key_on_postgresql(postgres_settings):
    """PostgreSQL: the same."""
    post_concurrently(postgres_settings, posts=100)
