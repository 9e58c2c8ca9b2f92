"""The call-time and branch-visit flows, started by an agent, answered through the inbound pipeline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mannerly.bots.flows import BRANCH_VISIT, CALL_TIME, add_slot, start_flow, suggested_flows
from mannerly.inbox.service import find_conversation
from mannerly.models import Booking, Contact, Message, Workspace
from tests.inbox.helpers import DAYTIME, ENGLISH_CUSTOMER, KOREAN_CUSTOMER, build_service_desk


@pytest.fixture
def desk(runtime, clock):
    """A service desk during business hours."""
    clock.set(DAYTIME)
    return build_service_desk(runtime)


def start(desk, flow: str, sender: str, language: str):
    """The agent starts a flow in the customer's conversation; returns the bot's question."""
    with desk.runtime.session() as session:
        workspace = session.get(Workspace, desk.workspace_id)
        conversation = find_conversation(session, desk.workspace_id, desk.conversation(sender).id)
        message = start_flow(session, workspace, conversation, flow, language=language, actor=desk.agent_id,
                             now=desk.runtime.now())
        session.commit()
        return message


def test_call_time_flow_stores_the_window_on_the_contact(desk, clock):
    desk.write("I need to change my bank details", sender=ENGLISH_CUSTOMER)
    question = start(desk, CALL_TIME, ENGLISH_CUSTOMER, "en")
    assert question.source == "bot" and "Reply 1 for in the morning" in question.final_text
    clock.advance(minutes=2)
    desk.write("2", sender=ENGLISH_CUSTOMER)
    with desk.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == ENGLISH_CUSTOMER))
        assert contact.attributes["call_time"] == "in the afternoon (12–17)"
    assert "We'll call you in the afternoon" in desk.outbound("bot")[-1].final_text
    assert desk.conversation(ENGLISH_CUSTOMER).bot_state.get("flow") is None


def test_call_time_flow_keeps_free_text_in_korean(desk, clock):
    desk.write("비밀번호를 잊어버렸어요")
    start(desk, CALL_TIME, KOREAN_CUSTOMER, "ko")
    desk.write("평일 저녁 7시 이후")
    with desk.runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == KOREAN_CUSTOMER))
        assert contact.attributes["call_time"] == "평일 저녁 7시 이후"


def test_branch_visit_flow_offers_slots_and_books_one(desk, clock):
    with desk.runtime.session() as session:
        for hour in (1, 2, 3, 5):  # 10:00, 11:00, 12:00, 14:00 Seoul on Thursday 6 March
            add_slot(session, desk.workspace_id, "Gangnam", datetime(2025, 3, 6, hour, 0, tzinfo=UTC),
                     time_zone="Asia/Seoul")
        session.commit()
    desk.write("I want to open an account")
    offer = start(desk, BRANCH_VISIT, KOREAN_CUSTOMER, "en")
    assert "Reply 1 for Gangnam, Thu 6 Mar 10:00, 2 for Gangnam, Thu 6 Mar 11:00, 3 for Gangnam, Thu 6 Mar 12:00" \
        in offer.final_text
    desk.write("2")
    with desk.runtime.session() as session:
        (booking,) = session.scalars(select(Booking)).all()
        assert booking.conversation_id == desk.conversation().id
    assert "You're booked: Gangnam, Thu 6 Mar 11:00" in desk.outbound("bot")[-1].final_text


def test_branch_visit_without_slots_says_so(desk):
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    message = start(desk, BRANCH_VISIT, ENGLISH_CUSTOMER, "en")
    assert "no free branch appointments" in message.final_text


def test_a_reply_that_is_not_for_the_flow_goes_the_normal_way(desk, clock):
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    with desk.runtime.session() as session:
        add_slot(session, desk.workspace_id, "Gangnam", datetime(2025, 3, 6, 1, 0, tzinfo=UTC))
        session.commit()
    start(desk, BRANCH_VISIT, ENGLISH_CUSTOMER, "en")
    desk.write("actually, never mind, where is my parcel?", sender=ENGLISH_CUSTOMER)
    with desk.runtime.session() as session:
        assert session.scalars(select(Booking)).all() == []
    assert desk.conversation(ENGLISH_CUSTOMER).bot_state.get("flow") is None


def test_flows_are_suggested_when_the_engine_refuses_a_request_for_personal_data() -> None:
    refused = Message(decision={"lint": [{"check": "pii_request", "severity": "error"}]})
    warned = Message(decision={"lint": [{"check": "one_word", "severity": "warning"}]})
    assert suggested_flows(refused) == [CALL_TIME, BRANCH_VISIT]
    assert suggested_flows(warned) == []
