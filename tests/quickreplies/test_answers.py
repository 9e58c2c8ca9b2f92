"""Quick-reply answers arriving through the real inbound pipeline move the appointment and are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mannerly.automations.scheduler import run_due
from mannerly.models import Contact, Conversation
from mannerly.models.automation import Appointment
from mannerly.models.quickreply import QuickReplyAnswer
from mannerly.outbox.dispatcher import Dispatcher
from tests.automations.test_scheduler import post_event

KIM = "+821012349999"
NIKOS = "+306912345678"


def remind(shop, clock, phone: str, zone: str, language: str, starts_at: str) -> int:
    """Book an appointment, send its reminder (Reply YES / NO) through the dispatcher; returns the contact id."""
    starts = datetime.fromisoformat(starts_at)
    clock.set(starts - timedelta(days=2))
    shop.automation("Visit reminder", "date_reminder", "appointments", "reminder", date_field="appointment",
                    offset_minutes=-1440)
    contact_id = shop.contact(phone, language=language, time_zone=zone)
    post_event(shop, "appointment_booked", contact_id, {"starts_at": starts_at, "appointment_id": "V1"})
    clock.set(starts - timedelta(days=1))  # 10:00 local the day before: inside the sending window
    Dispatcher(shop.runtime).run_once()
    clock.advance(minutes=5)
    Dispatcher(shop.runtime).run_once()
    assert [message.status for message in shop.messages(contact_id)] in (["sent"], ["delivered"])
    return contact_id


def appointment_state(shop) -> str:
    """The state of the only appointment."""
    with shop.session() as session:
        return session.scalar(select(Appointment.state))


def answers(shop) -> list[QuickReplyAnswer]:
    """Every stored answer."""
    with shop.session() as session:
        return list(session.scalars(select(QuickReplyAnswer).order_by(QuickReplyAnswer.id)))


def test_korean_yes_confirms_the_appointment(shop, clock) -> None:
    """'네 감사합니다' answers YES: the appointment is confirmed, the contact carries the answer, no auto-reply."""
    contact_id = remind(shop, clock, KIM, "Asia/Seoul", "ko", "2025-03-06T10:00:00+09:00")
    clock.advance(minutes=10)
    received = shop.write(KIM, "네 감사합니다")
    assert appointment_state(shop) == "confirmed"
    [answer] = answers(shop)
    assert (answer.option, answer.meaning, answer.template_name) == ("YES", "confirmed", "reminder")
    assert answer.inbound_message_id == received.message.id
    with shop.session() as session:
        assert session.get(Contact, contact_id).attributes["reminder_reply"] == "confirmed"
        conversation = session.scalar(select(Conversation).where(Conversation.contact_id == contact_id))
        assert conversation.waiting_since is None  # nobody needs to answer a confirmation
    assert [message.source for message in shop.messages(contact_id)] == ["automation"]


def test_greek_no_asks_to_reschedule(shop, clock) -> None:
    """'Όχι' answers NO: the appointment waits to be rescheduled."""
    remind(shop, clock, NIKOS, "Europe/Athens", "el", "2025-03-06T10:00:00+02:00")
    shop.write(NIKOS, "Όχι")
    assert appointment_state(shop) == "reschedule"
    assert [answer.meaning for answer in answers(shop)] == ["reschedule"]


def test_other_messages_are_not_answers_and_a_prompt_is_answered_once(shop, clock) -> None:
    """A question is a normal message (the customer waits for a person); after YES, a later NO changes nothing."""
    contact_id = remind(shop, clock, KIM, "Asia/Seoul", "ko", "2025-03-06T10:00:00+09:00")
    shop.write(KIM, "주차 가능한가요?")
    assert answers(shop) == [] and appointment_state(shop) == "booked"
    with shop.session() as session:
        conversation = session.scalar(select(Conversation).where(Conversation.contact_id == contact_id))
        assert conversation.waiting_since is not None
    shop.write(KIM, "네")
    shop.write(KIM, "아니요")
    assert [answer.option for answer in answers(shop)] == ["YES"]
    assert appointment_state(shop) == "confirmed"


def test_answers_after_a_week_are_not_taken(shop, clock) -> None:
    """A prompt takes answers for seven days after its message."""
    remind(shop, clock, KIM, "Asia/Seoul", "ko", "2025-03-06T10:00:00+09:00")
    clock.advance(days=8)
    shop.write(KIM, "네")
    assert answers(shop) == [] and appointment_state(shop) == "booked"


def test_stop_after_a_reminder_is_an_opt_out_not_an_answer(shop, clock) -> None:
    """Keywords come first: STOP opts out even when a quick reply is open."""
    contact_id = remind(shop, clock, KIM, "Asia/Seoul", "en", "2025-03-06T10:00:00+09:00")
    received = shop.write(KIM, "STOP")
    assert received.keyword is not None and answers(shop) == []
    with shop.session() as session:
        assert session.get(Contact, contact_id).global_opt_out


def test_a_scale_answer_after_an_event_automation(shop, clock) -> None:
    """'How was your visit? Reply 1 to 5' after a visit event; '5점' is stored as 5."""
    clock.set(datetime(2025, 3, 5, 2, 0, tzinfo=UTC))
    shop.automation("Rate us", "after_event", "appointments", "rate_us", event_type="visit_done")
    contact_id = shop.contact(KIM, language="ko", time_zone="Asia/Seoul")
    post_event(shop, "visit_done", contact_id)
    Dispatcher(shop.runtime).run_once()
    run_due(shop.runtime)
    shop.write(KIM, "5점")
    assert [(answer.option, answer.meaning) for answer in answers(shop)] == [("5", "5")]
