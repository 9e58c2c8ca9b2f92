"""Shared pieces of the reliability tests: a campaign world on a Twilio-format fake, worker processes, final states.

The long versions run with LONG_TESTS=1 (see docs/reliability.md); the default sizes keep the suite quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select

from mannerly.campaigns.service import create_campaign, launch_campaign
from mannerly.channels.twilio.fake_server import FakeTwilio
from mannerly.config import Settings
from mannerly.models import Channel, Contact, Message, Template, Topic, Workspace
from mannerly.runtime import Runtime
from mannerly.segments.service import create_segment
from mannerly.workspaces.service import create_workspace

PUBLIC_BASE_URL = "https://mannerly.example.com"
BUSINESS_NUMBER = "+15017122661"
# The `mannerly` command of the environment running the tests.
MANNERLY = Path(sys.executable).with_name("mannerly")
# Where a message may end: handed off (queued/sent), reported on (delivered and after), or refused for good.
SETTLED_STATUSES = frozenset({"queued", "sent", "delivered", "read", "undelivered", "failed", "rejected"})
# An "unknown" message counts only once reconciled, so it must not be among the final statuses.
UNSETTLED_STATUSES = frozenset({"pending", "deferred", "held", "sending", "unknown"})


def long_run() -> bool:
    """True when the long versions were asked for (LONG_TESTS=1; not MANNERLY_*, which the tests clear)."""
    return os.environ.get("LONG_TESTS") == "1"


def size(default: int, long: int) -> int:
    """`long` in a long run (LONG_TESTS=1), else `default`."""
    return long if long_run() else default


@dataclass
class World:
    """A workspace whose only channel is the fake Twilio, with contacts and an urgent transactional topic."""

    workspace_id: int
    channel_id: int
    topic_id: int
    segment_id: int
    contact_ids: list[int]


def phone_number(index: int) -> str:
    """The index-th test recipient: a Korean mobile number."""
    return f"+8210{index:08d}"


def make_world(runtime: Runtime, fake: FakeTwilio, contacts: int, name: str = "Acme", first: int = 0) -> World:
    """A workspace sending through `fake` to `contacts` new contacts (bulk inserted) with an 'everyone' segment.

    The topic is urgent and transactional so the real clock of worker processes never lands in quiet hours.
    """
    now = runtime.now()
    with runtime.session() as session:
        workspace = create_workspace(session, name, brand_names={"en": "Acme"}, default_country="KR",
                                     with_simulator=False)
        topic = Topic(workspace_id=workspace.id, name="alerts", label="Service alerts", kind="transactional",
                      urgent=True)
        session.add(topic)
        session.add(Template(workspace_id=workspace.id, name="notice", language="en",
                             body="Hi {{ first_name }}, our service window changes tonight.",
                             topic_id=None, variables={"first_name": "friend"}))
        channel = Channel(
            workspace_id=workspace.id, kind="sms", provider="twilio", name="Twilio SMS",
            sender_id=BUSINESS_NUMBER, rate_limit_per_second=0,
            config={"account_sid": fake.account_sid, "auth_token": fake.auth_token,
                    "from_number": BUSINESS_NUMBER, "api_base_url": fake.base_url, "timeout_seconds": 2},
        )
        session.add(channel)
        session.flush()
        if contacts:
            session.execute(insert(Contact), [
                {"workspace_id": workspace.id, "phone": phone_number(first + index), "country": "KR",
                 "language": "en", "first_name": f"Customer{first + index}", "tags": [], "attributes": {},
                 "created_at": now, "updated_at": now}
                for index in range(contacts)])
        segment = create_segment(session, workspace, "everyone", {}, now)
        session.commit()
        ids = list(session.scalars(select(Contact.id).where(Contact.workspace_id == workspace.id)
                                   .order_by(Contact.id)))
        return World(workspace.id, channel.id, topic.id, segment.id, ids)


def start_campaign(runtime: Runtime, world: World, name: str = "Notice", launch: bool = True) -> int:
    """Create (and by default launch) a campaign to everyone in the world; returns its id."""
    now = runtime.now()
    with runtime.session() as session:
        workspace = session.get(Workspace, world.workspace_id)
        campaign = create_campaign(session, workspace, {
            "name": name, "topic": "alerts", "segment_id": world.segment_id, "template": "notice",
            "channel": "sms", "throttle_per_minute": 100_000, "track_links": False}, now)
        if launch:
            launch_campaign(session, runtime.settings, campaign, now)
        session.commit()
        return campaign.id


def worker_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `mannerly worker` process on the test database, with short leases."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("MANNERLY_")}
    environment.update({
        "MANNERLY_DATABASE_URL": settings.database_url,
        "MANNERLY_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MANNERLY_LEASE_SECONDS": "1",
        "MANNERLY_HANDOFF_SEARCH_AFTER_SECONDS": "2",
        "MANNERLY_DISPATCH_INTERVAL_SECONDS": "0.1",
        "MANNERLY_DISPATCH_BATCH_SIZE": "50",
        "MANNERLY_LOG_LEVEL": "WARNING",
    })
    environment.update(extra)
    return environment


def start_worker(environment: dict[str, str], log: Path) -> subprocess.Popen:
    """A `mannerly worker` process writing its output to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen([str(MANNERLY), "worker"], env=environment, cwd=log.parent,
                                stdout=output, stderr=subprocess.STDOUT)


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9, and reap it."""
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def stop(process: subprocess.Popen) -> None:
    """Ask a worker to stop (SIGTERM finishes its pass), then make sure it is gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            kill_hard(process)


def status_counts(runtime: Runtime, workspace_id: int | None = None) -> Counter[str]:
    """How many outbound messages are in each status (of one workspace, or all)."""
    query = select(Message.status, func.count()).where(Message.direction == "outbound").group_by(Message.status)
    if workspace_id is not None:
        query = query.where(Message.workspace_id == workspace_id)
    with runtime.session() as session:
        return Counter(dict(session.execute(query).all()))


def wait_until(condition, timeout: float, interval: float = 0.2) -> bool:
    """Poll `condition()` until true or `timeout` seconds passed; returns the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def settled(runtime: Runtime, expected: int, workspace_id: int | None = None) -> bool:
    """True when `expected` outbound messages exist and none is left pending, sending or unknown."""
    counts = status_counts(runtime, workspace_id)
    return sum(counts.values()) >= expected and not any(counts[status] for status in UNSETTLED_STATUSES)


def handed_off_ids(runtime: Runtime, workspace_id: int) -> set[int]:
    """Ids of the outbound messages the database says reached the provider (have a provider id)."""
    with runtime.session() as session:
        return set(session.scalars(select(Message.id).where(
            Message.workspace_id == workspace_id, Message.direction == "outbound",
            Message.provider_message_id.is_not(None))))

