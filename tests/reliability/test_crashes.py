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


def test_the_api_killed_mid_stream_leaves_every_committed_message_sent_once(settings):
    """`mannerly serve --no-worker` is killed with SIGKILL while 40 clients post messages; a worker then runs."""
    import signal
    import socket
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from sqlalchemy import select

    from mannerly.models import Contact, Message
    from tests.reliability.harness import phone

    harness = build(settings, 0, launch=False)  # only the API's messages go out
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-c", "from mannerly.cli import app; app()", "serve", "--port",
                                   str(port), "--no-worker"], env=harness.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        assert harness.wait_until(lambda: _ready(base), timeout=30)
        committed: dict[str, int] = {}

        def post(index: int) -> None:
            """One client's message; a 201 means its row is committed."""
            try:
                response = httpx.post(f"{base}/v1/messages", timeout=10, json={
                    "to": phone(100_000 + index), "topic": "alerts", "text": f"Alert {index}: your code changed."},
                    headers={"Authorization": f"Bearer {harness.api_key}"})
            except httpx.HTTPError:
                return  # the server died under this request: its outcome is the database's to tell
            if response.status_code == 201:
                committed[phone(100_000 + index)] = response.json()["id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(post, index) for index in range(400)]
            harness.wait_until(lambda: len(committed) >= 60, timeout=60, step=0.01)
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            for future in futures:
                future.result()
        with harness.runtime.session() as session:
            rows = dict(session.execute(select(Contact.phone, Message.id).join(Contact, Contact.id == Message.contact_id)
                                        .where(Message.direction == "outbound")).all())
        # Every 201 has its row; rows without a 201 are requests cut off after the commit (sent all the same).
        assert {number: rows.get(number) for number in committed} == committed
        assert 60 <= len(committed) < 400 and len(rows) >= len(committed)
        harness.start_worker()

        def all_final() -> bool:
            """Every committed row reached a final status."""
            with harness.runtime.session() as session:
                statuses = session.scalars(select(Message.status).where(Message.direction == "outbound")).all()
            return all(status in FINAL - {"sent"} for status in statuses)

        assert harness.wait_until(all_final, timeout=120), harness.log_tail()
        handed = harness.handoffs_per_recipient()
        doubled = [number for number, count in handed.items() if count > 1]
        assert doubled == []
        assert set(handed) == set(rows)  # each committed message sent once, nothing without a row
        print(f"\nAPI killed after {len(committed)} answered POSTs; {len(rows)} rows committed, "
              f"{len(handed)} handed off once each")
    finally:
        close(harness)


def _ready(base: str) -> bool:
    """True when the server answers /readyz."""
    import httpx

    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
