"""Inbox service functions: SLA, timeline, assignment, notes, canned replies, side panel, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mannerly.errors import ProblemError
from mannerly.inbox.metrics import agent_metrics, percentile, sla_report
from mannerly.inbox.service import (
    add_canned_reply,
    add_note,
    assign,
    conversation_timeline,
    find_conversation,
    list_inbox,
    render_canned,
    reply,
    side_panel,
)
from mannerly.inbox.sla import is_overdue, sla_due_at
from mannerly.models import Contact, Conversation, Team, Workspace
from tests.inbox.helpers import DAYTIME, ENGLISH_CUSTOMER, KOREAN_CUSTOMER, NIGHT


def at(text: str) -> datetime:
    """An aware UTC moment from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


# (waiting since, first response given?, now, expected overdue) for a team open 09–18 Seoul, targets 60 / 30 min
SLA_CASES = [
    ("2025-03-05 02:00", False, "2025-03-05 02:59", False),  # 11:00 Seoul, 59 minutes later
    ("2025-03-05 02:00", False, "2025-03-05 03:01", True),  # 61 minutes later
    ("2025-03-05 02:00", True, "2025-03-05 02:31", True),  # next-response target is 30 minutes
    ("2025-03-04 14:00", False, "2025-03-04 23:59", False),  # written at 23:00: the clock starts at 09:00
    ("2025-03-04 14:00", False, "2025-03-05 01:01", True),  # 10:01 Seoul
    ("2025-03-07 08:30", False, "2025-03-08 03:00", False),  # Friday 17:30 + 60 open minutes = Monday 09:30
]


@pytest.mark.parametrize(("waiting", "answered_before", "now", "overdue"), SLA_CASES)
def test_sla_overdue_table(waiting: str, answered_before: bool, now: str, overdue: bool) -> None:
    team = Team(hours={str(day): [["09:00", "18:00"]] for day in range(5)}, time_zone="Asia/Seoul",
                first_response_target_minutes=60, next_response_target_minutes=30)
    conversation = Conversation(status="open", waiting_since=at(waiting),
                                first_response_at=at(waiting) - timedelta(hours=1) if answered_before else None)
    assert is_overdue(conversation, team, at(now)) is overdue


def test_no_target_or_nobody_waiting_is_never_overdue() -> None:
    team = Team(hours={}, time_zone="UTC", first_response_target_minutes=None)
    waiting = Conversation(status="open", waiting_since=at("2025-03-01 00:00"))
    assert sla_due_at(waiting, team) is None and not is_overdue(waiting, None, at("2025-04-01 00:00"))
    resolved = Conversation(status="resolved", waiting_since=at("2025-03-01 00:00"))
    assert sla_due_at(resolved, Team(hours={}, time_zone="UTC", first_response_target_minutes=5)) is None


def test_inbox_views_and_filters(desk, clock):
    clock.set(DAYTIME)
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    desk.write("안녕하세요", sender=KOREAN_CUSTOMER)
    with desk.runtime.session() as session:
        conversation = find_conversation(session, desk.workspace_id, desk.conversation(KOREAN_CUSTOMER).id)
        assign(session, conversation, user_id=desk.agent_id, team_id=desk.billing_team_id, actor=desk.agent_id,
               now=clock())
        session.commit()
        every = list_inbox(session, desk.workspace_id, now=clock())
        mine = list_inbox(session, desk.workspace_id, view="mine", user_id=desk.agent_id, now=clock())
        unassigned = list_inbox(session, desk.workspace_id, view="unassigned", now=clock())
        billing = list_inbox(session, desk.workspace_id, view=f"team:{desk.billing_team_id}", now=clock())
        resolved = list_inbox(session, desk.workspace_id, status="resolved", now=clock())
        whatsapp = list_inbox(session, desk.workspace_id, channel="whatsapp", now=clock())
        assert len(every) == 2 and every[0].last_message is not None
        assert [row.contact.phone for row in mine] == [KOREAN_CUSTOMER]
        assert mine[0].assignee.name == "Mina" and mine[0].team.name == "Billing"
        assert [row.contact.phone for row in unassigned] == [ENGLISH_CUSTOMER]
        assert [row.contact.phone for row in billing] == [KOREAN_CUSTOMER]
        assert resolved == [] and whatsapp == []
        with pytest.raises(ProblemError):
            list_inbox(session, desk.workspace_id, view="everything", now=clock())


def test_timeline_shows_messages_notes_events_and_consent_inline(desk, clock):
    clock.set(DAYTIME)
    desk.write("my card is 4111111111111111", sender=ENGLISH_CUSTOMER)
    clock.advance(minutes=1)
    desk.write("STOP PROMO", sender=ENGLISH_CUSTOMER)
    clock.advance(minutes=1)
    with desk.runtime.session() as session:
        conversation = find_conversation(session, desk.workspace_id, desk.conversation(ENGLISH_CUSTOMER).id)
        add_note(session, conversation, author_user_id=desk.agent_id, body="Asked for card by mistake?", now=clock())
        assign(session, conversation, user_id=desk.other_agent_id, actor=desk.agent_id, now=clock())
        session.commit()
        items = conversation_timeline(session, conversation)
    kinds = [item.kind for item in items]
    assert kinds.count("message") == 3  # two from the customer, the STOP confirmation
    first = items[0]
    assert first.redacted and first.notice and "[card number removed]" in first.text
    consent = next(item for item in items if item.kind == "consent")
    assert consent.text == "Opted out of Promotions by replying STOP PROMO"
    confirmation = next(item for item in items if item.source == "keyword_reply")
    assert confirmation.marker == "keyword reply" and confirmation.status == "pending"
    assert any(item.kind == "note" and item.actor == "Mina" for item in items)
    assert any(item.text == "Assigned to Joon by Mina" for item in items)


def test_reply_records_first_response_and_assigns_the_agent(desk, clock):
    clock.set(DAYTIME)
    desk.write("is my order shipped?", sender=ENGLISH_CUSTOMER)
    clock.advance(minutes=12)
    with desk.runtime.session() as session:
        workspace = session.get(Workspace, desk.workspace_id)
        conversation = find_conversation(session, desk.workspace_id, desk.conversation(ENGLISH_CUSTOMER).id)
        message = reply(session, workspace, conversation, user_id=desk.agent_id,
                        text="Yes, it shipped this morning and arrives tomorrow.", now=clock())
        session.commit()
        assert message.source == "agent" and message.request["reply"] is True
        assert conversation.first_response_at == clock() and conversation.waiting_since is None
        assert conversation.assignee_user_id == desk.agent_id
        refused = reply(session, workspace, conversation, user_id=desk.agent_id, text="ok", now=clock())
        assert refused.status != "rejected"  # a one-word reply is a warning, not a refusal
        assert any(item["check"] == "one_word" for item in refused.decision["lint"])
        with pytest.raises(ProblemError):
            reply(session, workspace, conversation, user_id=9999, text="Hello there", now=clock())


def test_canned_reply_is_personalized(desk, clock):
    clock.set(DAYTIME)
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    with desk.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == ENGLISH_CUSTOMER))
        contact.first_name = "Maria"
        canned = add_canned_reply(session, desk.workspace_id, name="Greeting", shortcut="hi",
                                  body="Hi [First Name], thanks for waiting! Your code is {{ coupon }}.",
                                  language="en", now=clock())
        contact.attributes = {"coupon": "SPRING10"}
        assert render_canned(session, canned, contact) == "Hi Maria, thanks for waiting! Your code is SPRING10."
        contact.attributes = {}
        # A value is missing: the text comes back untouched for the agent (the placeholder lint guards sending).
        assert "{{ coupon }}" in render_canned(session, canned, contact)
        with pytest.raises(ProblemError):
            add_canned_reply(session, desk.workspace_id, name="Again", shortcut="/hi", body="x", language="en",
                             now=clock())


def test_side_panel_at_night_in_seoul(desk, clock):
    clock.set(NIGHT)
    desk.write("hello")
    with desk.runtime.session() as session:
        workspace = session.get(Workspace, desk.workspace_id)
        contact = session.scalar(select(Contact).where(Contact.phone == KOREAN_CUSTOMER))
        panel = side_panel(session, workspace, contact, clock())
    assert [(local.zone, local.now.hour) for local in panel.local_times] == [("Asia/Seoul", 23)]
    assert not panel.in_window
    assert panel.window_opens_at == datetime(2025, 3, 5, 0, 0, tzinfo=UTC)  # 09:00 Wednesday in Seoul
    assert panel.reply_allowed_until == clock() + timedelta(hours=24)
    assert panel.reachable == ["sms"]
    promotions = next(line for line in panel.consents if line.topic == "promotions")
    assert promotions.status == "unknown" and promotions.evidence is None


def test_agent_metrics_and_sla_report(desk, clock):
    clock.set(DAYTIME)
    for minutes, sender in ((10, ENGLISH_CUSTOMER), (90, KOREAN_CUSTOMER)):
        desk.write("hello", sender=sender)
        clock.advance(minutes=minutes)
        with desk.runtime.session() as session:
            workspace = session.get(Workspace, desk.workspace_id)
            conversation = find_conversation(session, desk.workspace_id, desk.conversation(sender).id)
            reply(session, workspace, conversation, user_id=desk.agent_id, text="Thanks, we are looking into it.",
                  now=clock())
            session.commit()
    with desk.runtime.session() as session:
        until = clock() + timedelta(minutes=1)  # the period is half-open: [since, until)
        rows = agent_metrics(session, desk.workspace_id, since=DAYTIME - timedelta(days=1), until=until)
        mina = next(row for row in rows if row.name == "Mina")
        assert mina.first_responses == 2
        assert mina.first_response_median_seconds == 3000 and mina.first_response_p90_seconds == 5400
        (orders,) = sla_report(session, desk.workspace_id, since=DAYTIME - timedelta(days=1), until=until,
                               now=clock())
        assert (orders.team_name, orders.first_responses, orders.met, orders.breached) == ("Orders", 2, 1, 1)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(value) for value in range(1, 11)], 0.9) == 9.0
