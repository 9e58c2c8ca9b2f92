"""Sending: a STOP stored while a campaign runs stops every later hand-off of that campaign to its sender.

Two `mannerly worker` processes send a campaign through the fake Twilio while customers text STOP through
the signed Twilio webhook. Default: 600 recipients, 40 STOPs; LONG_TESTS=1: 20,000 recipients, 1,000 STOPs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from mannerly.app import create_app
from mannerly.channels.twilio.fake_server import FakeTwilio
from mannerly.models import CampaignRecipient, Contact, Message
from mannerly.runtime import Runtime
from tests.reliability.helpers import (
    BUSINESS_NUMBER,
    PUBLIC_BASE_URL,
    make_world,
    phone_number,
    settled,
    size,
    start_campaign,
    start_worker,
    stop,
    wait_until,
    worker_environment,
)


def test_no_campaign_message_is_handed_off_after_the_stop_is_stored(settings, tmp_path, capsys):
    """Every hand-off to a customer who texted STOP was created before the STOP was committed."""
    recipients, stops = size(600, 20_000), size(40, 1000)
    settings = settings.model_copy(update={"public_base_url": PUBLIC_BASE_URL})
    runtime = Runtime.create(settings)
    with FakeTwilio(settle_status="delivered") as fake:
        try:
            world = make_world(runtime, fake, recipients)
            client = TestClient(create_app(runtime, start_worker=False))
            webhook = f"{PUBLIC_BASE_URL}/webhooks/{world.channel_id}"
            campaign_id = start_campaign(runtime, world)
            workers = [start_worker(worker_environment(settings), tmp_path / f"worker-{n}.log") for n in range(2)]
            stored_at: dict[str, datetime] = {}
            try:
                assert wait_until(lambda: len(fake.handoffs) >= recipients // 10, timeout=120)
                # STOPs from recipients at the frontier of the campaign (ids go in planning order): some
                # are already handed off, some in a claimed batch, some still waiting.
                for number in range(stops):
                    index = min(len(fake.handoffs) + (number % 8) * 10 - 20, recipients - 1)
                    phone = phone_number(index)
                    if phone in stored_at:
                        continue
                    answer = fake.post_inbound(webhook, phone, BUSINESS_NUMBER, "STOP", client=client)
                    assert answer.status_code == 200, answer.text
                    stored_at[phone] = datetime.now(UTC)  # the webhook answers after its commit
                    time.sleep(0.02)
                assert wait_until(lambda: settled(runtime, recipients, world.workspace_id), timeout=60 + recipients / 40)
            finally:
                for process in workers:
                    stop(process)
            with runtime.session() as session:
                rows = session.execute(select(Message.contact_id, Message.status, Message.sent_at).join(
                    CampaignRecipient, CampaignRecipient.message_id == Message.id).where(
                    CampaignRecipient.campaign_id == campaign_id)).all()
                phones = dict(session.execute(select(Contact.id, Contact.phone).where(
                    Contact.workspace_id == world.workspace_id)).all())
        finally:
            runtime.close()
    # sent_at is when the worker let the request leave, just after its last opt-out check; stored_at is taken
    # after the webhook's commit. sent_at later than stored_at means the check ran after the commit: a bug.
    late, before, refused = [], 0, 0
    for contact_id, status, sent_at in rows:
        moment = stored_at.get(phones[contact_id])
        if moment is None:
            continue
        if status == "rejected":
            refused += 1
        elif sent_at is not None and sent_at >= moment:
            late.append((phones[contact_id], status, sent_at, moment))
        else:
            before += 1
    handed_off_to_stoppers = sum(len(fake.messages_to(phone)) for phone in stored_at)
    assert late == [], f"campaign messages handed off after the STOP was stored: {late}"
    assert refused > 0 and before > 0, "the STOPs all missed the campaign's frontier: nothing was tested"
    assert handed_off_to_stoppers <= before + len(stored_at), "more hand-offs than messages sent before STOP + confirmations"
    with capsys.disabled():
        print(f"\nSTOP during campaign: recipients {recipients}, STOPs {len(stored_at)}, handed off before the STOP "
              f"{before}, refused after it {refused}, after it {len(late)}")
