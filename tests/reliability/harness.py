"""A campaign against the fake Twilio API with real `mannerly worker` processes, for the crash tests.

The fake logs every accepted hand-off (one Message resource per create request) and posts
signed status callbacks to a Mannerly API served in this process, so a hand-off whose
answer was lost is still matched to its message (the callback URL carries our id).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from mannerly.app import create_app
from mannerly.campaigns import service as campaigns
from mannerly.channels.loopback import LoopbackServer
from mannerly.channels.twilio.fake_server import FakeTwilio
from mannerly.models import Campaign, CampaignRecipient, Channel, Contact, Message, Template, Topic, Workspace
from mannerly.runtime import Runtime
from mannerly.segments.service import create_segment
from mannerly.workspaces.service import create_api_key, create_workspace

# Statuses a message may end in; anything else after the run means it was lost in the queue.
FINAL = {"sent", "delivered", "undelivered", "failed", "unknown", "rejected"}
WORKER = [sys.executable, "-c", "from mannerly.cli import app; app()", "worker"]


def phone(index: int) -> str:
    """A distinct valid Korean mobile number per recipient."""
    return f"+8210{20_000_000 + index:08d}"


@dataclass
class Harness:
    """The database, the fake provider, the webhook server and the campaign under test."""

    runtime: Runtime
    fake: FakeTwilio
    api: LoopbackServer
    env: dict[str, str]
    campaign_id: int
    recipients: int
    log_path: str = ""
    api_key: str = ""
    workers: list[subprocess.Popen] = field(default_factory=list)
    kills: int = 0

    # -- processes ------------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen:
        """Start one `mannerly worker` process on the test database."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it; closed when it exits
        process = subprocess.Popen(WORKER, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL a worker: no cleanup of any kind runs."""
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.kills += 1

    def stop_all(self) -> None:
        """SIGTERM every live worker and wait for it."""
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    # -- what happened --------------------------------------------------------------------

    def statuses(self) -> Counter:
        """The campaign's messages by status."""
        with self.runtime.session() as session:
            return Counter(dict(session.execute(
                select(Message.status, func.count()).where(Message.id.in_(campaigns.campaign_messages(self.campaign_id)))
                .group_by(Message.status)).all()))

    def settled(self) -> bool:
        """True when the campaign is fully planned and no message waits in the queue."""
        statuses = self.statuses()
        return sum(statuses.values()) == self.recipients and set(statuses) <= FINAL

    def handoffs_per_recipient(self) -> Counter:
        """How many times the fake accepted a message for each number."""
        return Counter(self.fake.message(sid).to for sid in self.fake.handoffs)

    def message_rows(self) -> list:
        """(id, phone, status, provider id) of every campaign message."""
        with self.runtime.session() as session:
            return session.execute(
                select(Message.id, Contact.phone, Message.status, Message.provider_message_id)
                .join(Contact, Contact.id == Message.contact_id)
                .where(Message.id.in_(campaigns.campaign_messages(self.campaign_id)))).all()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the workers' combined output (for failure messages)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_until(self, condition, timeout: float, step: float = 0.2) -> bool:
        """Poll a condition until true or the timeout passes; returns whether it became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(step)
        return condition()


def build(settings, recipients: int, *, lease_seconds: int = 1, batch_size: int = 50,
          launch: bool = True) -> Harness:
    """Start the fake and the webhook server, create the workspace, contacts and a (running) campaign."""
    fake = FakeTwilio(auto_callbacks=("delivered",)).start()
    runtime = Runtime.create(settings)
    api = LoopbackServer(create_app(runtime, start_worker=False), name="mannerly-webhooks")
    api.start()
    base = f"http://127.0.0.1:{api.port}"
    runtime.settings = settings.model_copy(update={"public_base_url": base})
    now = datetime.now(UTC)
    with runtime.session() as session:
        workspace = create_workspace(session, "Crash Shop", brand_names={"en": "Acme", "ko": "아크미"},
                                     default_country="KR", default_language="ko")
        # Urgent and transactional: no quiet hours, so the test runs the same at any hour.
        topic = Topic(workspace_id=workspace.id, name="alerts", label="Alerts", kind="transactional", urgent=True)
        session.add(topic)
        session.add(Template(workspace_id=workspace.id, name="notice", language="ko",
                             body="{{ first_name }}님, 주문하신 상품이 오늘 발송됩니다.", topic_id=None,
                             variables={"first_name": "고객"}))
        for built_in in session.scalars(select(Channel).where(Channel.workspace_id == workspace.id)):
            built_in.enabled = False  # the simulator every workspace starts with: Twilio carries this test
        session.add(Channel(workspace_id=workspace.id, kind="sms", provider="twilio", name="Twilio",
                            config={"account_sid": fake.account_sid, "auth_token": fake.auth_token,
                                    "from_number": "+15005550006", "api_base_url": fake.base_url},
                            rate_limit_per_second=0))
        session.flush()
        rows = [
            {"workspace_id": workspace.id, "phone": phone(index), "country": "KR", "language": "ko",
             "first_name": f"고객{index}", "time_zone": "Asia/Seoul", "tags": [], "attributes": {},
             "created_at": now, "updated_at": now} for index in range(recipients)]
        if rows:  # an empty executemany would insert one row of defaults
            session.execute(insert(Contact), rows)
        segment = create_segment(session, workspace, "everyone", {}, now)
        campaign = campaigns.create_campaign(session, workspace, {
            "name": "crash", "topic": "alerts", "segment_id": segment.id, "template": "notice",
            "throttle_per_minute": 100_000}, now)
        session.flush()
        if launch:
            campaigns.launch_campaign(session, runtime.settings, campaign, now)
        key = create_api_key(session, workspace)
        session.commit()
        campaign_id = campaign.id
    env = {key: value for key, value in os.environ.items() if not key.startswith("MANNERLY_")}
    env.update(MANNERLY_DATABASE_URL=settings.database_url, MANNERLY_PUBLIC_BASE_URL=base,
               MANNERLY_LEASE_SECONDS=str(lease_seconds), MANNERLY_DISPATCH_INTERVAL_SECONDS="0.05",
               MANNERLY_DISPATCH_BATCH_SIZE=str(batch_size), MANNERLY_SECRET_KEY="crash-test-secret-0123456789")
    log_path = settings.database_url.removeprefix("sqlite:///") + ".workers.log"
    return Harness(runtime, fake, api, env, campaign_id, recipients, log_path, key)


def close(harness: Harness) -> None:
    """Stop workers, servers and the runtime."""
    harness.stop_all()
    harness.api.stop()
    harness.fake.stop()
    harness.runtime.close()


def long_run() -> bool:
    """True when the long versions were asked for (LONG_TESTS=1; not MANNERLY_*, which tests clear)."""
    return os.environ.get("LONG_TESTS") == "1"
