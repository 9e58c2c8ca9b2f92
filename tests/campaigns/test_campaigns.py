"""Campaign preview, launch, batched planning (never twice), throttle, pause/resume/cancel and statistics."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mannerly.campaigns import service
from mannerly.campaigns.planner import minute_index
from mannerly.errors import ProblemError
from mannerly.models import Campaign, CampaignRecipient, Channel, Contact, Message, ShortLink, Topic
from mannerly.outbox.dispatcher import Dispatcher
from mannerly.policy.types import Source
from tests.campaigns.helpers import PEOPLE, START, Person, make_shop, workspace_of

# Who the engine excludes from the eight people of the shop, by rule.
EXPECTED_EXCLUDED = {"consent": 1, "opt_out": 1}


def new_campaign(runtime, shop, **values) -> int:
    """A draft campaign to the shop's 'everyone' segment; returns its id."""
    with runtime.session() as session:
        campaign = service.create_campaign(session, workspace_of(session, shop), {
            "name": values.pop("name", "spring"), "topic": "promotions", "segment_id": shop.segment_id,
            "template": "sale", **values}, START)
        session.commit()
        return campaign.id


def launch(runtime, campaign_id: int, now=START) -> None:
    """Launch a draft."""
    with runtime.session() as session:
        service.launch_campaign(session, runtime.settings, session.get(Campaign, campaign_id), now)
        session.commit()


def plan(runtime, campaign_id: int, now=START, **kwargs) -> service.PlanResult:
    """Run the planner."""
    return service.plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, now, **kwargs)


def campaign_rows(runtime, campaign_id: int) -> list[Message]:
    """The campaign's messages, by send time."""
    with runtime.session() as session:
        return list(session.scalars(select(Message).where(Message.id.in_(service.campaign_messages(campaign_id)))
                                    .order_by(Message.send_at, Message.id)))


def test_preview_counts_who_gets_it_and_who_is_excluded_by_which_rule(runtime, shop):
    campaign_id = new_campaign(runtime, shop)
    with runtime.session() as session:
        preview = service.preview_campaign(session, runtime.settings, session.get(Campaign, campaign_id), START)
    assert preview.segment_count == len(PEOPLE)
    assert preview.eligible == len(PEOPLE) - sum(EXPECTED_EXCLUDED.values())
    assert preview.excluded == EXPECTED_EXCLUDED
    # 10:00 in Seoul goes now; 08:00 in Jakarta and 03:00 in Athens wait for 09:00 local.
    assert preview.by_hour[10] == 2 and preview.by_hour[9] == 4
    assert preview.by_day == [("2025-03-04", 6)]
    assert preview.deferred == {"quiet_hours": 4}
    assert {sample["language"] for sample in preview.samples} == {"ko", "id", "el"}
    assert all("/l/" in sample["final_text"] for sample in preview.samples)
    assert all("shop.example" not in sample["final_text"] for sample in preview.samples)
    assert preview.channels[0].messages == 6 and preview.channels[0].cost is None
    with runtime.session() as session:  # a preview writes nothing
        assert session.scalar(select(func.count()).select_from(ShortLink)) == 0
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_preview_counts_the_frequency_cap_and_prices_segments(runtime, shop):
    with runtime.session() as session:
        channel = session.scalar(select(Channel).where(Channel.workspace_id == shop.workspace_id))
        channel.config = {"price_per_segment": 0.01, "currency": "EUR"}
        topic = session.get(Topic, shop.topic_id)
        minjun = session.get(Contact, shop.contact_ids[0])
        for days_ago in (1, 2):  # two marketing messages this week: the weekly cap of 2 is reached
            session.add(Message(workspace_id=shop.workspace_id, contact_id=minjun.id, direction="outbound",
                                topic_id=topic.id, source="campaign", body="earlier sale", final_text=f"sale {days_ago}",
                                status="delivered", sent_at=START - timedelta(days=days_ago),
                                created_at=START - timedelta(days=days_ago)))
        session.commit()
    campaign_id = new_campaign(runtime, shop)
    with runtime.session() as session:
        preview = service.preview_campaign(session, runtime.settings, session.get(Campaign, campaign_id), START)
    # The weekly cap holds Min-jun's message back (to when the cap frees up) rather than excluding him.
    assert preview.excluded == EXPECTED_EXCLUDED
    assert preview.deferred["frequency_cap"] == 1
    estimate = preview.channels[0]
    assert estimate.currency == "EUR" and estimate.cost == pytest.approx(estimate.segments * 0.01)


def test_a_large_segment_is_previewed_on_an_even_sample_and_scaled(runtime):
    people = [Person(f"+8210300{index:05d}", "ko", f"P{index}") for index in range(300)]
    shop = make_shop(runtime, people)
    campaign_id = new_campaign(runtime, shop)
    with runtime.session() as session:
        preview = service.preview_campaign(session, runtime.settings, session.get(Campaign, campaign_id), START,
                                           limit=100)
    assert preview.sampled and preview.evaluated == 100 and preview.segment_count == 300
    assert preview.eligible == 300


def test_launch_plans_every_eligible_contact_once_through_the_engine(runtime, shop):
    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    result = plan(runtime, campaign_id, batch_size=3)
    assert (result.queued, result.rejected, result.done) == (6, 2, True)
    assert result.excluded == Counter(EXPECTED_EXCLUDED)
    rows = campaign_rows(runtime, campaign_id)
    assert {row.source for row in rows} == {Source.CAMPAIGN.value}
    assert all(row.decision and row.decision["action"] in ("send", "defer") for row in rows)
    assert all(row.request["campaign_id"] == campaign_id for row in rows)
    with runtime.session() as session:
        links = list(session.scalars(select(ShortLink).where(ShortLink.campaign_id == campaign_id)))
        assert len(links) == 6 and len({link.code for link in links}) == 6
        assert {link.message_id for link in links} == {row.id for row in rows}
        assert all(link.url == "https://shop.example/sale" for link in links)
        reasons = dict(session.execute(select(CampaignRecipient.reason, func.count()).where(
            CampaignRecipient.status == "rejected").group_by(CampaignRecipient.reason)).all())
        assert reasons == EXPECTED_EXCLUDED
    # The dispatcher decides each message again when it falls due: Seoul goes at once.
    stats = Dispatcher(runtime).run_once()
    assert stats.sent == 1  # at 60 a minute the second Seoul message is due at 01:00:01
    runtime.clock.advance(minutes=1)
    assert Dispatcher(runtime).run_once().sent == 1


def test_planning_again_or_after_a_crash_never_writes_twice_to_one_contact(runtime, shop, monkeypatch):
    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    real_write = service._write_batch
    calls = {"count": 0}

    def crash_on_second_batch(*args, **kwargs):
        """The worker dies while writing the second batch."""
        calls["count"] += 1
        if calls["count"] == 2:
            raise RuntimeError("killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(service, "_write_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        plan(runtime, campaign_id, batch_size=3)
    monkeypatch.setattr(service, "_write_batch", real_write)
    with runtime.session() as session:
        assert session.get(Campaign, campaign_id).plan_cursor == shop.contact_ids[2]  # the first batch only
    plan(runtime, campaign_id, batch_size=3)
    plan(runtime, campaign_id, batch_size=3)
    with runtime.session() as session:
        recipients = session.execute(select(CampaignRecipient.contact_id, func.count())
                                     .where(CampaignRecipient.campaign_id == campaign_id)
                                     .group_by(CampaignRecipient.contact_id)).all()
        assert len(recipients) == len(PEOPLE) and {count for _, count in recipients} == {1}
        per_contact = Counter(session.scalars(select(Message.contact_id).where(Message.source == "campaign")))
        assert len(per_contact) == 6 and set(per_contact.values()) == {1}


def test_a_second_planner_with_a_stale_cursor_plans_nothing(runtime, shop):
    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    with runtime.session() as session:
        campaign = session.get(Campaign, campaign_id)
        context = service.load_context(session, runtime.settings, campaign, START)
    with runtime.session() as stale_session:
        stale = stale_session.get(Campaign, campaign_id)
        stale_context = service.load_context(stale_session, runtime.settings, stale, START)
        # The other planner moves on first.
        plan(runtime, campaign_id, max_batches=1, batch_size=4)
        # The stale one read the old cursor: its compare-and-set fails and it writes nothing.
        stale_session.refresh = lambda _obj: None  # keep the stale cursor as a racing process would
        result = service.PlanResult()
        assert service.plan_batch(stale_session, stale_context, service.SlotTable(60), START, START, result, 4) is False
    assert context is not None
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(CampaignRecipient)) == 4


def test_the_throttle_spaces_messages_and_never_exceeds_its_rate(runtime):
    people = [Person(f"+8210400{index:05d}", "ko", f"P{index}") for index in range(23)]
    shop = make_shop(runtime, people)
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=5)
    launch(runtime, campaign_id)
    plan(runtime, campaign_id, batch_size=7)  # slots continue across batches
    sends = [row.send_at for row in campaign_rows(runtime, campaign_id)]
    assert len(sends) == 23
    assert max(Counter(minute_index(moment) for moment in sends).values()) == 5
    gaps = {later - earlier for earlier, later in zip(sends, sends[1:])}
    assert gaps == {timedelta(seconds=12)}
    assert sends[0] == START and sends[-1] == START + timedelta(minutes=4, seconds=24)


def test_a_slot_past_the_window_is_decided_again_and_moves_to_the_next_morning(runtime):
    people = [Person(f"+8210500{index:05d}", "ko", f"P{index}") for index in range(4)]
    shop = make_shop(runtime, people)
    # 19:58 in Seoul, one message a minute: two fit before 20:00, the others wait for 09:00 on Wednesday.
    late = START + timedelta(hours=9, minutes=58)
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=1, starts_at=late)
    launch(runtime, campaign_id, now=late)
    plan(runtime, campaign_id, now=late)
    sends = [row.send_at for row in campaign_rows(runtime, campaign_id)]
    morning = START + timedelta(hours=23)  # 09:00 in Seoul on Wednesday 5 March
    assert sends == [late, late + timedelta(minutes=1), morning, morning + timedelta(minutes=1)]


def test_pause_holds_unsent_messages_and_resume_reschedules_them_at_the_pace(runtime, shop, clock):
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=2)
    launch(runtime, campaign_id)
    plan(runtime, campaign_id)
    with runtime.session() as session:
        held = service.pause_campaign(session, session.get(Campaign, campaign_id), START)
        session.commit()
    assert held == 6
    assert {row.status for row in campaign_rows(runtime, campaign_id)} == {"held"}
    clock.advance(hours=3)
    assert Dispatcher(runtime).run_once().claimed == 0  # nothing leaves while paused
    resumed_at = clock()
    with runtime.session() as session:
        assert service.resume_campaign(session, session.get(Campaign, campaign_id), resumed_at) == 6
        session.commit()
    rows = campaign_rows(runtime, campaign_id)
    assert all(row.send_at >= resumed_at for row in rows)
    assert max(Counter(minute_index(row.send_at) for row in rows).values()) <= 2
    assert Dispatcher(runtime).run_once().sent >= 1


def test_cancel_refuses_what_is_left_and_completion_follows_the_last_message(runtime, shop):
    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    plan(runtime, campaign_id)
    with runtime.session() as session:
        cancelled = service.cancel_campaign(session, session.get(Campaign, campaign_id), START)
        session.commit()
    assert cancelled == 6
    with runtime.session() as session, pytest.raises(ProblemError):
        service.resume_campaign(session, session.get(Campaign, campaign_id), START)


def test_a_campaign_completes_when_planned_and_everything_has_left(runtime, shop, clock):
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    plan(runtime, campaign_id)
    clock.advance(hours=7)  # past 09:00 in Athens
    while Dispatcher(runtime).run_once().claimed:
        pass
    assert service.plan_running_campaigns(runtime.sessionmaker, runtime.settings, clock()) == 0
    with runtime.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.status == "completed"
        stats = service.campaign_stats(session, campaign)
    assert stats.sent == 6 and stats.queued == 0 and stats.recipients == 8
    assert stats.excluded == EXPECTED_EXCLUDED
    assert sum(day["sent"] for day in stats.daily) == 6


def test_the_worker_alone_plans_sends_and_completes_a_launched_campaign(runtime, shop, clock):
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)  # nothing planned yet: the worker's passes must do it
    clock.advance(hours=7)  # past 09:00 in Athens
    passes = []
    for _ in range(4):  # the throttle spreads six messages over a few seconds
        passes.append(Dispatcher(runtime).run_once())
        clock.advance(minutes=1)
    assert sum(stats.campaign_batches for stats in passes) >= 1
    assert not [error for stats in passes for error in stats.errors]
    with runtime.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.status == "completed"
        assert service.campaign_stats(session, campaign).sent == 6


def test_only_drafts_change_and_launch(runtime, shop):
    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    with runtime.session() as session:
        campaign = session.get(Campaign, campaign_id)
        with pytest.raises(ProblemError):
            service.launch_campaign(session, runtime.settings, campaign, START)
        with pytest.raises(ProblemError):
            service.update_campaign(session, campaign, {"template": "sale"}, START)
        service.update_campaign(session, campaign, {"throttle_per_minute": 10}, START)
        assert campaign.throttle_per_minute == 10


def test_a_reply_to_a_campaign_opens_a_conversation_that_holds_the_campaign_message(runtime, shop):
    from mannerly.channels.base import InboundMessage
    from mannerly.inbound.pipeline import receive_message
    from mannerly.inbox.service import find_conversation
    from mannerly.models import Conversation, Workspace

    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    plan(runtime, campaign_id)
    sent = {row.contact_id: row for row in campaign_rows(runtime, campaign_id)}
    minjun = shop.contact_ids[0]
    assert sent[minjun].conversation_id is None  # planning opens no conversations
    with runtime.session() as session:
        workspace = session.get(Workspace, shop.workspace_id)
        channel = session.scalar(select(Channel).where(Channel.workspace_id == shop.workspace_id))
        reply = InboundMessage(provider_message_id="reply-1", from_address=PEOPLE[0].phone,
                               to_address="+821000000000", text="몇 시까지 해요?", received_at=START)
        received = receive_message(session, workspace, channel, reply, START + timedelta(minutes=5))
        session.commit()
        conversation = find_conversation(session, shop.workspace_id, received.message.conversation_id)
        history = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                  .order_by(Message.id)).all()
        assert [message.direction for message in history] == ["outbound", "inbound"]
        assert history[0].id == sent[minjun].id
        # Only the contact who answered gets a conversation; the others' messages stay unattached.
        assert session.scalar(select(func.count()).select_from(Conversation)) == 1
        others = session.scalar(select(func.count()).select_from(Message).where(
            Message.id.in_(service.campaign_messages(campaign_id)), Message.conversation_id.is_(None)))
        assert others == len(sent) - 1


def test_the_dispatcher_decides_again_with_the_short_link_domain_as_the_business_own(runtime, clock):
    # Planned with the short-link host as the business's own domain, so the request to update a
    # password on its own site passes; deciding again at dispatch must see the same policy, or
    # the short link would count as a foreign link and the message would be refused there.
    people = [Person("+306900000011", "en", "Nick"), Person("+306900000012", "en", "Anna")]
    shop = make_shop(runtime, people, body="Hi {{ first_name }}, please update your password on https://shop.example/sale")
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    plan(runtime, campaign_id)
    assert {row.status for row in campaign_rows(runtime, campaign_id)} == {"deferred"}  # 03:00 in Athens
    clock.advance(hours=7)
    while Dispatcher(runtime).run_once().claimed:
        pass
    rows = campaign_rows(runtime, campaign_id)
    assert [row.status_detail for row in rows if row.status == "rejected"] == []
    assert all("/l/" in row.final_text for row in rows)
