"""Sending: `mannerly worker` processes killed with SIGKILL during a campaign lose nothing and hand nothing off twice.

The fake Twilio (in this process) logs every created message with our message id (from its StatusCallback)
and answers 500 or drops the connection after accepting on 5% of sends. Default: 600 messages and 3 kills
on SQLite; LONG_TESTS=1 (or CI=true for PostgreSQL): 50,000 messages and 25 kills on SQLite and on
PostgreSQL, and a 20,000-message run with faults and no kills.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from sqlalchemy import func, select

from mannerly.channels.twilio.fake_server import FAULT_DROP_AFTER_ACCEPT, FAULT_SERVER_ERROR, FakeTwilio
from mannerly.models import CampaignRecipient, Message, MessageStatusEvent
from mannerly.runtime import Runtime
from tests.reliability.helpers import (
    SETTLED_STATUSES,
    kill_hard,
    long_run,
    make_world,
    settled,
    size,
    start_campaign,
    start_worker,
    status_counts,
    stop,
    wait_until,
    worker_environment,
)


def run_campaign_with_kills(settings, tmp_path, messages: int, kills: int, fault_share: float) -> dict:
    """Run a campaign of `messages` with two workers, SIGKILL one `kills` times; check and return the figures."""
    chooser = random.Random(7)
    with FakeTwilio(settle_status="delivered") as fake:
        if fault_share:
            fake.fail_at_random(fault_share, (FAULT_SERVER_ERROR, FAULT_DROP_AFTER_ACCEPT), seed=11)
        runtime = Runtime.create(settings)
        try:
            world = make_world(runtime, fake, messages)
            campaign_id = start_campaign(runtime, world)
            environment = worker_environment(settings)
            workers = [start_worker(environment, tmp_path / f"worker-{n}.log") for n in range(2)]
            try:
                for kill in range(kills):
                    # Spread the kills over the campaign: each lands while hand-offs are flowing.
                    target = (kill + 1) * messages // (kills + 2)
                    assert wait_until(lambda target=target: len(fake.handoffs) >= target, timeout=300), \
                        f"hand-offs stalled at {len(fake.handoffs)} before kill {kill + 1}"
                    victim = chooser.randrange(len(workers))
                    kill_hard(workers[victim])
                    workers[victim] = start_worker(environment, tmp_path / f"worker-{victim}.log")
                # Rows a killed worker left in `sending` wait out their lease (10 s here), then are searched for.
                done = wait_until(lambda: settled(runtime, messages, world.workspace_id), timeout=120 + messages / 50)
            finally:
                for process in workers:
                    stop(process)
            counts = status_counts(runtime, world.workspace_id)
            assert done, f"not settled: {dict(counts)}"
            per_message = fake.handoffs_by_message_id()
            with runtime.session() as session:
                rows = dict(session.execute(select(Message.id, Message.provider_message_id).where(
                    Message.workspace_id == world.workspace_id, Message.direction == "outbound")).all())
                recipients = session.scalar(select(func.count()).select_from(CampaignRecipient).where(
                    CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.message_id.is_not(None)))
                went_unknown = session.scalar(select(func.count(func.distinct(MessageStatusEvent.message_id))).where(
                    MessageStatusEvent.status == "unknown"))
                # Hand-offs the provider's list proved lost (retries of 500s also go back to pending).
                queued_again = session.scalar(select(func.count()).select_from(MessageStatusEvent).where(
                    MessageStatusEvent.status == "pending")) - sum(
                    1 for request in fake.requests if request.outcome == "refused:20500")
        finally:
            runtime.close()
    twice = {message_id: count for message_id, count in per_message.items() if count > 1}
    assert twice == {}, f"handed off more than once: {twice}"
    assert len(rows) == messages == recipients, "one message per recipient"
    assert set(counts) <= SETTLED_STATUSES, dict(counts)
    assert set(per_message) <= set(rows), "the fake received a message with no committed row"
    sids = {sid: message_id for message_id, sid in rows.items() if sid}
    for sid in fake.handoffs:  # every hand-off the fake logged is the one its row records
        assert sids.get(sid) is not None, f"hand-off {sid} is not recorded on its message"
    delivered_or_queued = counts["delivered"] + counts["queued"]
    assert delivered_or_queued == len(per_message) == messages, dict(counts)
    return {"messages": messages, "kills": kills, "statuses": dict(counts), "went_unknown": went_unknown,
            "queued_again_after_search": queued_again,
            "handoffs": len(fake.handoffs),
            "faults": Counter(request.outcome for request in fake.requests if request.outcome != "created")}


def test_kill_9_workers_during_a_campaign_loses_and_duplicates_nothing(settings, tmp_path, capsys):
    """Two workers, one killed with SIGKILL repeatedly, 5% of sends failing: each recipient handed off once, none stuck."""
    figures = run_campaign_with_kills(settings, tmp_path, messages=size(600, 50_000), kills=size(3, 25),
                                      fault_share=0.05)
    faults = figures["faults"]
    assert faults["refused:20500"] > 0 and faults[FAULT_DROP_AFTER_ACCEPT] > 0
    with capsys.disabled():
        print(f"\nworker kills: {figures}")


@pytest.mark.postgres
@pytest.mark.skipif(not (long_run() or os.environ.get("CI") == "true"),
                    reason="long version only (LONG_TESTS=1) or CI=true: ~35 s of worker processes")
def test_kill_9_workers_on_postgresql(postgres_settings, tmp_path, capsys):
    """The same on PostgreSQL (SKIP LOCKED claims)."""
    figures = run_campaign_with_kills(postgres_settings, tmp_path, messages=size(300, 50_000), kills=size(1, 25),
                                      fault_share=0.05)
    with capsys.disabled():
        print(f"\nworker kills (PostgreSQL): {figures}")


@pytest.mark.skipif(not long_run(), reason="long version only (LONG_TESTS=1); the default kill test has faults too")
def test_provider_dropping_or_failing_5_percent_of_sends_duplicates_nothing(settings, tmp_path, capsys):
    """5% of sends answered 500 or cut after accepting: retried or found again, never sent twice, none left unknown."""
    figures = run_campaign_with_kills(settings, tmp_path, messages=20_000, kills=0, fault_share=0.05)
    faults = figures["faults"]
    assert faults["refused:20500"] > 0 and faults[FAULT_DROP_AFTER_ACCEPT] > 0
    assert figures["went_unknown"] >= faults[FAULT_DROP_AFTER_ACCEPT]  # each dropped answer was unknown, then found
    with capsys.disabled():
        print(f"\nprovider faults: {figures}")
