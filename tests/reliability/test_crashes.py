"""Workers killed with SIGKILL mid-campaign, and a provider that fails: nothing lost, nothing sent twice.

Default run: a few thousand messages and a handful of kills. `LONG_TESTS=1 ./test tests/reliability`
runs the issue's figures (50,000 messages, 20 kills); docs/reliability.md records a run.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.reliability.harness import FINAL, build, close, long_run

RECIPIENTS = 50_000 if long_run() else 400
KILLS = 20 if long_run() else 4


@pytest.fixture
def harness(settings):
    """The crash-test campaign, torn down after the test."""
    built = build(settings, RECIPIENTS)
    try:
        yield built
    finally:
        close(built)


def assert_exactly_once(harness) -> None:
    """Every recipient's message ended in a final status; none was handed to the provider twice."""
    failed_callbacks = [(post.status_code, post.response_text[:200]) for post in harness.fake.posted
                        if post.status_code != 200]
    assert failed_callbacks == []
    per_number = harness.handoffs_per_recipient()
    assert [number for number, count in per_number.items() if count > 1] == []
    rows = harness.message_rows()
    assert len(rows) == harness.recipients
    stuck = [row for row in rows if row.status not in FINAL]
    assert stuck == []
    handed = set(per_number)
    # A message marked delivered or sent was really handed off; one handed off is not left unknown
    # once its callbacks arrived (the callback URL carries our id even when the answer was lost).
    assert [row for row in rows if row.status in ("sent", "delivered") and row.phone not in handed] == []
    assert [row for row in rows if row.status == "unknown" and row.phone in handed] == []
    return rows


def test_workers_killed_repeatedly_lose_nothing_and_send_nothing_twice(harness):
    chooser = random.Random(20261124)
    worker = harness.start_worker()
    while harness.kills < KILLS:
        # Let it work a little, then kill it without warning at a random moment of its pass.
        time.sleep(chooser.uniform(0.3, 1.2))
        harness.kill(worker)
        worker = harness.start_worker()
    assert harness.wait_until(harness.settled, timeout=3600 if long_run() else 120), (
        harness.statuses(), harness.log_tail())
    # Callbacks of the last hand-offs may still be on their way.
    harness.wait_until(lambda: not harness.statuses().get("sent"), timeout=30)
    rows = assert_exactly_once(harness)
    statuses = harness.statuses()
    never_left = statuses.get("unknown", 0)
    assert statuses.get("delivered", 0) + never_left == harness.recipients, statuses
    # Only a kill between the durable "sending" mark and the request leaves a message unknown:
    # at most one batch per kill.
    assert never_left <= harness.kills * 50
    print(f"\n{harness.recipients} messages, {harness.kills} kills: {dict(statuses)}, "
          f"{len(harness.fake.handoffs)} hand-offs, 0 duplicates, {len(rows)} rows")


def test_a_provider_that_drops_or_fails_five_percent_causes_no_duplicates(harness):
    # One fault in twenty requests, half "accepted, then the connection dropped", half HTTP 500.
    harness.fake.fail_at_random(0.05, ("drop_after_accept", "server_error"), seed=7)
    harness.start_worker()
    assert harness.wait_until(harness.settled, timeout=300 if long_run() else 120), (
        harness.statuses(), harness.log_tail())
    harness.wait_until(lambda: not harness.statuses().get("sent"), timeout=30)
    assert_exactly_once(harness)
    statuses = harness.statuses()
    # Dropped answers are matched by their callbacks; 500s are retried later and delivered.
    injected = harness.fake.faults_injected
    assert statuses.get("delivered", 0) == harness.recipients, (statuses, injected)
    assert injected["drop_after_accept"] > 0 and injected["server_error"] > 0
    print(f"\ninjected {injected}: {dict(statuses)}")
