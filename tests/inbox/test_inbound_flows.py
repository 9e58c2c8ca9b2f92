"""Flows through the real inbound pipeline with the simulator channel: auto-reply, bots, menus, CSAT, reopening."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mannerly.inbox.common import editable_service_settings
from mannerly.inbox.service import find_conversation, reply, set_status
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import CsatResponse, FaqEntry, Message, Workspace
from mannerly.policy.types import Source
from tests.inbox.helpers import DAYTIME, ENGLISH_CUSTOMER, INDONESIAN_CUSTOMER, build_service_desk


def add_faq(desk, question: str, answer: str, language: str = "en") -> None:
    """One FAQ entry in the desk's workspace."""
    with desk.runtime.session() as session:
        session.add(FaqEntry(workspace_id=desk.workspace_id, question=question, answer=answer, language=language))
        session.commit()


def resolve(desk, sender: str | None = None) -> Message | None:
    """The agent resolves the customer's conversation; returns the CSAT question."""
    conversation = desk.conversation(sender) if sender else desk.conversation()
    with desk.runtime.session() as session:
        workspace = session.get(Workspace, desk.workspace_id)
        row = find_conversation(session, desk.workspace_id, conversation.id)
        question = set_status(session, workspace, row, "resolved", actor_user_id=desk.agent_id,
                              now=desk.runtime.now())
        session.commit()
        return question


def test_a_customer_writing_at_night_gets_exactly_one_auto_reply(desk, clock):
    desk.write("안녕하세요, 주문한 물건 문의드립니다")
    replies = desk.outbound("auto_reply")
    assert len(replies) == 1
    assert replies[0].status == "pending"  # a reply to the customer's message may go at night
    assert "내일 09:00" in replies[0].final_text
    assert desk.conversation().last_auto_reply_at == clock()

    clock.advance(minutes=5)
    desk.write("혹시 확인 가능할까요?")
    assert len(desk.outbound("auto_reply")) == 1


def test_the_engine_guard_refuses_a_second_auto_reply_too(desk, clock):
    desk.write("hello?")
    conversation = desk.conversation()
    with desk.runtime.session() as session:
        workspace = session.get(Workspace, desk.workspace_id)
        second = submit(session, workspace, OutboundIntent(topic="service", contact_id=conversation.contact_id,
                                                           text="We are closed.", reply=True,
                                                           source=Source.AUTO_REPLY), clock())
        assert second.status == "rejected"
        assert any(reason["rule"] == "auto_reply_guard" for reason in second.decision["reasons"])


def test_the_auto_reply_speaks_the_customers_language_and_local_time(desk):
    desk.write("Halo, pesanan saya belum sampai", sender=INDONESIAN_CUSTOMER)
    (auto_reply,) = desk.outbound("auto_reply")
    # 09:00 in Seoul is 07:00 in Jakarta.
    assert "besok pukul 09:00 (waktu Anda 07:00)" in auto_reply.final_text


def test_after_the_period_another_auto_reply_may_go(desk, clock):
    desk.write("hello?", sender=ENGLISH_CUSTOMER)
    clock.advance(hours=13)  # Wednesday 03:00 UTC = 12:00 Seoul: open, so no auto-reply at all
    desk.write("anyone?", sender=ENGLISH_CUSTOMER)
    assert len(desk.outbound("auto_reply")) == 1
    clock.advance(hours=12)  # Wednesday 15:00 UTC = 00:00 Thursday in Seoul: closed again, period over
    desk.write("still waiting", sender=ENGLISH_CUSTOMER)
    replies = desk.outbound("auto_reply")
    assert len(replies) == 2 and "09:00" in replies[1].final_text


def test_no_auto_reply_during_business_hours(desk, clock):
    clock.set(DAYTIME)
    desk.write("hello, a question about my order", sender=ENGLISH_CUSTOMER)
    assert desk.outbound("auto_reply") == []
    assert desk.conversation(ENGLISH_CUSTOMER).waiting_since == DAYTIME


def test_stop_gets_only_the_confirmation(desk):
    desk.write("STOP")
    sources = [message.source for message in desk.outbound()]
    assert sources == ["keyword_reply"]


def test_a_faq_question_gets_a_bot_answer(desk, clock):
    clock.set(DAYTIME)
    add_faq(desk, "배송비는 얼마인가요?", "배송비는 3,000원이며 5만원 이상 무료입니다.", "ko")
    desk.write("택배비 얼마예요?")
    (answer,) = desk.outbound("bot")
    assert "3,000원" in answer.final_text and answer.status == "pending"
    assert desk.conversation().waiting_since is None


def test_a_question_the_faq_does_not_cover_waits_for_a_person(desk, clock):
    clock.set(DAYTIME)
    add_faq(desk, "배송비는 얼마인가요?", "배송비는 3,000원입니다.", "ko")
    desk.write("배송이 아직 안 왔어요")
    assert desk.outbound("bot") == []
    assert desk.conversation().waiting_since == DAYTIME


def test_asking_for_a_human_hands_off_and_silences_the_bots(desk, clock):
    clock.set(DAYTIME)
    add_faq(desk, "What are your opening hours?", "We're open 9 to 6 on weekdays.")
    desk.write("human please", sender=ENGLISH_CUSTOMER)
    (ack,) = desk.outbound("bot")
    assert "person" in ack.final_text
    assert desk.conversation(ENGLISH_CUSTOMER).bot_state["handoff"] is True
    desk.write("when are you open?", sender=ENGLISH_CUSTOMER)
    assert len(desk.outbound("bot")) == 1  # no FAQ answer after the hand-off


def test_korean_hand_off_word(desk, clock):
    clock.set(DAYTIME)
    desk.write("상담원 연결해주세요")
    assert desk.conversation().bot_state["handoff"] is True


def test_menu_choice_assigns_the_team(runtime, clock):
    clock.set(DAYTIME)
    desk = build_service_desk(runtime, menu=True)
    desk.write("Hi, I have a question", sender=ENGLISH_CUSTOMER)
    (menu,) = desk.outbound("bot")
    assert "1 for orders, 2 for billing" in menu.final_text
    desk.write("2", sender=ENGLISH_CUSTOMER)
    conversation = desk.conversation(ENGLISH_CUSTOMER)
    assert conversation.team_id == desk.billing_team_id
    assert "billing" in desk.outbound("bot")[-1].final_text
    desk.write("My invoice is wrong", sender=ENGLISH_CUSTOMER)
    assert len(desk.outbound("bot")) == 2  # the menu is offered once per episode


def test_resolving_sends_csat_and_a_score_keeps_it_resolved(desk, clock):
    clock.set(DAYTIME)
    desk.write("where is my parcel?", sender=ENGLISH_CUSTOMER)
    conversation = desk.conversation(ENGLISH_CUSTOMER)
    with desk.runtime.session() as session:
        workspace = session.get(Workspace, desk.workspace_id)
        row = find_conversation(session, desk.workspace_id, conversation.id)
        reply(session, workspace, row, user_id=desk.agent_id, text="It left our warehouse today and arrives tomorrow.",
              now=clock())
        session.commit()
    clock.advance(minutes=10)
    question = resolve(desk, ENGLISH_CUSTOMER)
    assert question.source == "automation" and question.status == "pending"
    assert "1 (poor) to 5 (great)" in question.final_text

    clock.advance(minutes=3)
    desk.write("5", sender=ENGLISH_CUSTOMER)
    conversation = desk.conversation(ENGLISH_CUSTOMER)
    assert conversation.status == "resolved"
    with desk.runtime.session() as session:
        (score,) = session.scalars(select(CsatResponse)).all()
        assert (score.score, score.agent_user_id, score.raw_text) == (5, desk.agent_id, "5")

    clock.advance(minutes=3)
    desk.write("thanks, one more question", sender=ENGLISH_CUSTOMER)
    conversation = desk.conversation(ENGLISH_CUSTOMER)
    assert conversation.status == "open"
    assert conversation.resolved_at is None and conversation.first_response_at is None
    assert conversation.waiting_since == clock()


def test_anything_but_a_score_reopens_a_resolved_conversation(desk, clock):
    clock.set(DAYTIME)
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    resolve(desk, ENGLISH_CUSTOMER)
    desk.write("actually, the size is wrong", sender=ENGLISH_CUSTOMER)
    assert desk.conversation(ENGLISH_CUSTOMER).status == "open"
    with desk.runtime.session() as session:
        assert session.scalars(select(CsatResponse)).all() == []


def test_star_and_korean_answers_are_scores(desk, clock):
    clock.set(DAYTIME)
    desk.write("문의드립니다")
    resolve(desk)
    desk.write("매우 만족")
    with desk.runtime.session() as session:
        assert session.scalar(select(CsatResponse.score)) == 5
    assert desk.conversation().status == "resolved"


def test_a_late_answer_is_not_a_score(desk, clock):
    clock.set(DAYTIME)
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    resolve(desk, ENGLISH_CUSTOMER)
    clock.advance(timedelta(days=8))
    desk.write("5", sender=ENGLISH_CUSTOMER)
    assert desk.conversation(ENGLISH_CUSTOMER).status == "open"


def test_csat_can_be_turned_off(desk, clock):
    clock.set(DAYTIME)
    with desk.runtime.session() as session:
        editable_service_settings(session, desk.workspace_id).csat_enabled = False
        session.commit()
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    assert resolve(desk, ENGLISH_CUSTOMER) is None


def test_a_card_number_is_stored_redacted(desk, clock):
    clock.set(DAYTIME)
    message_id = desk.write("my card is 4111 1111 1111 1111, please charge it")
    with desk.runtime.session() as session:
        message = session.get(Message, message_id)
        assert message.redacted
        assert message.body == "my card is [card number removed], please charge it"
        bodies = " ".join(body for body in session.scalars(select(Message.body)))
        assert "4111" not in bodies
