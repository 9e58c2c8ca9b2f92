"""Automations firing through the engine: birthdays in the contact's zone, win-back, events, reminders; never twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from mannerly.automations.events import record_event, start_event_automations
from mannerly.automations.scheduler import run_due
from mannerly.automations.service import fire
from mannerly.config import Settings
from mannerly.models import Contact, Topic, Workspace
from mannerly.models.automation import Appointment, Automation, AutomationRun, CouponCode
from mannerly.outbox.dispatcher import Dispatcher
from mannerly.runtime import Runtime


def at(text: str) -> datetime:
    """An ISO UTC moment."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def post_event(shop, type_: str, contact: int | str, data: dict | None = None, external_id: str | None = None):
    """Record an event and fire what it starts at once (as POST /v1/events does)."""
    now = shop.runtime.now()
    with shop.session() as session:
        workspace = session.get(Workspace, shop.workspace_id)
        event, created = record_event(session, workspace, type=type_, contact=contact, data=data,
                                      external_id=external_id, occurred_at=None, now=now)
        session.commit()
        runs = start_event_automations(session, workspace, event, now) if created else []
        return event, created, runs


# Birthday table: (contact zone, birthday, moments at which the scheduler runs, expected number of greetings)
BIRTHDAY_CASES = [
    ("Asia/Seoul", "1990-03-05", ["2025-03-04T22:00", "2025-03-04T23:00", "2025-03-05T05:00"], 1),
    ("America/New_York", "1990-03-05", ["2025-03-04T23:00", "2025-03-05T12:00"], 0),
    ("America/New_York", "1990-03-05", ["2025-03-05T13:00", "2025-03-05T20:00"], 1),
    ("Pacific/Kiritimati", "--03-05", ["2025-03-04T18:00"], 1),  # UTC+14: 5 March 08:00 already
    ("Pacific/Pago_Pago", "--03-05", ["2025-03-04T18:00", "2025-03-05T18:00"], 0),  # UTC-11: still 4 March
    ("Pacific/Pago_Pago", "--03-05", ["2025-03-05T19:00"], 1),  # 5 March 08:00 in Pago Pago
]


@pytest.mark.parametrize(("zone", "birthday", "moments", "expected"), BIRTHDAY_CASES,
                         ids=[f"{case[0]} {case[1]} {case[3]}" for case in BIRTHDAY_CASES])
def test_birthday_greetings_in_the_contacts_own_zone(shop, clock, zone, birthday, moments, expected) -> None:
    """The scheduler runs at each moment; greetings go at 08:00 local on the local birthday, with a coupon."""
    clock.set(at("2025-03-04T12:00"))
    automation_id = shop.automation("Birthday", "birthday", "promotions", "birthday", local_hour=8,
                                    coupon={"percent": 15, "prefix": "bday", "valid_days": 30})
    contact_id = shop.contact("+12125550100", first_name="Pat", time_zone=zone, attributes={"birthday": birthday})
    shop.contact("+12125550101", first_name="Other", time_zone=zone, attributes={"birthday": "1990-07-01"})
    for moment in moments:
        clock.set(at(moment))
        with shop.session() as session:  # every moment is a fresh look, as after the usual interval
            session.execute(update(Automation).values(next_run_at=None))
            session.commit()
        run_due(shop.runtime)
    runs = shop.runs(automation_id)
    assert [run.contact_id for run in runs] == [contact_id] * expected
    if expected:
        [run] = runs
        assert run.coupon_code.startswith("BDAY-") and len(run.coupon_code) == 13
        message = shop.messages(contact_id)[0]
        assert f"Happy birthday, Pat! 15% off today with code {run.coupon_code}." in message.body
        assert message.source == "automation"
        with shop.session() as session:
            coupon = session.scalar(select(CouponCode))
            assert coupon.code == run.coupon_code and coupon.contact_id == contact_id and coupon.percent == 15


def test_coupon_codes_are_unique_per_contact(shop, clock) -> None:
    """Twelve birthdays on one day: twelve different codes, each stored once."""
    clock.set(at("2025-03-05T01:00"))
    automation_id = shop.automation("Birthday", "birthday", "promotions", "birthday", local_hour=9,
                                    coupon={"percent": 10})
    for index in range(12):
        shop.contact(f"+8210123450{index:02d}", time_zone="Asia/Seoul", attributes={"birthday": "1990-03-05"})
    run_due(shop.runtime)
    codes = [run.coupon_code for run in shop.runs(automation_id)]
    assert len(codes) == 12 and len(set(codes)) == 12


def test_a_birthday_greets_once_a_year_across_restarts(shop, clock) -> None:
    """Running again the same day (a restart resets nothing but the schedule) adds nothing; next year greets again."""
    clock.set(at("2025-03-05T01:00"))  # 10:00 in Seoul
    automation_id = shop.automation("Birthday", "birthday", "promotions", "birthday", local_hour=9)
    shop.contact("+821012340001", time_zone="Asia/Seoul", attributes={"birthday": "1991-03-05"})
    for minutes in (0, 20, 200, 600):
        clock.set(at("2025-03-05T01:00") + timedelta(minutes=minutes))
        with shop.session() as session:
            session.execute(update(Automation).values(next_run_at=None))  # as if the worker restarted
            session.commit()
        run_due(shop.runtime)
    assert [run.occurrence_key for run in shop.runs(automation_id)] == ["2025"]
    clock.set(at("2026-03-05T01:00"))
    run_due(shop.runtime)
    assert [run.occurrence_key for run in shop.runs(automation_id)] == ["2025", "2026"]


def test_two_schedulers_at_once_fire_each_occurrence_once(shop, clock, settings) -> None:
    """Two workers (own engines on the same database) running the same due automation: one message per contact."""
    clock.set(at("2025-03-05T01:00"))
    automation_id = shop.automation("Birthday", "birthday", "promotions", "birthday", local_hour=9,
                                    coupon={"percent": 10})
    contacts = [shop.contact(f"+8210123400{index:02d}", time_zone="Asia/Seoul",
                             attributes={"birthday": "1990-03-05"}) for index in range(12)]
    other = Runtime.create(Settings(database_url=settings.database_url), clock=clock)
    try:
        for _round in range(3):
            with shop.session() as session:
                session.execute(update(Automation).values(next_run_at=None))
                session.commit()
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def worker(runtime) -> None:
                """Start together, then run one scheduler pass."""
                try:
                    barrier.wait()
                    run_due(runtime)
                except BaseException as error:  # reported below
                    errors.append(error)

            threads = [threading.Thread(target=worker, args=(runtime,)) for runtime in (shop.runtime, other)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors
    finally:
        other.close()
    runs = shop.runs(automation_id)
    assert sorted(run.contact_id for run in runs) == sorted(contacts)
    assert len(shop.messages()) == len(contacts)


def test_fire_claims_an_occurrence_once(shop, clock) -> None:
    """A second fire of the same occurrence (another worker that loaded it too) returns None and queues nothing."""
    automation_id = shop.automation("Thanks", "after_event", "orders", "thanks", event_type="purchase")
    contact_id = shop.contact("+14155550100")
    with shop.session() as first, shop.session() as second:
        for session in (first, second):
            workspace = session.get(Workspace, shop.workspace_id)
            automation = session.get(Automation, automation_id)
            topic = session.get(Topic, automation.topic_id)
            contact = session.get(Contact, contact_id)
            result = fire(session, workspace, automation, topic, contact, "manual:1", clock(),
                          data={"order_number": "A-1"})
            session.commit()
            if session is first:
                assert result is not None and result.status == "queued"
            else:
                assert result is None
    assert len(shop.messages(contact_id)) == 1


def test_win_back_after_quiet_days_once_per_lapse(shop, clock) -> None:
    """Quiet 30 days: one win-back; active customers are left alone; a new lapse later is a new occurrence."""
    start = at("2025-03-04T02:00")
    clock.set(start)
    automation_id = shop.automation("Win back", "win_back", "promotions", "miss_you", days=30)
    quiet = shop.contact("+14155550101", quiet_since=start - timedelta(days=45))
    active = shop.contact("+14155550102", quiet_since=start - timedelta(days=45))
    recent = shop.contact("+14155550103", quiet_since=start - timedelta(days=10))
    post_event(shop, "purchase", active, {"order_number": "B-7"})
    run_due(shop.runtime)
    assert [run.contact_id for run in shop.runs(automation_id)] == [quiet]
    clock.advance(hours=2)
    with shop.session() as session:
        session.execute(update(Automation).values(next_run_at=None))
        session.commit()
    run_due(shop.runtime)
    assert len(shop.runs(automation_id)) == 1
    # The quiet customer comes back, then lapses again: asked again, once.
    with shop.session() as session:
        session.get(Contact, quiet).last_inbound_at = start + timedelta(days=1)
        session.commit()
    clock.set(start + timedelta(days=32))
    run_due(shop.runtime)
    runs = shop.runs(automation_id)
    # By now the other two have been quiet for 30 days as well (since their purchase, since day -10).
    assert sorted((run.contact_id, run.occurrence_key) for run in runs) == [
        (quiet, "quiet-since:2025-01-18"), (quiet, "quiet-since:2025-03-05"),
        (active, "quiet-since:2025-03-04"), (recent, "quiet-since:2025-02-22")]


def test_thanks_after_a_purchase_and_a_check_in_a_week_later(shop, clock) -> None:
    """A purchase event thanks at once; a delayed automation checks in after 7 days, once; a repeated event is ignored."""
    clock.set(at("2025-03-04T02:00"))
    thanks = shop.automation("Thanks", "after_event", "orders", "thanks", event_type="purchase")
    check_in = shop.automation("Check in", "after_event", "orders", "check_in", event_type="purchase",
                               delay_minutes=7 * 1440)
    contact_id = shop.contact("+14155550104", first_name="Dana")
    event, created, runs = post_event(shop, "purchase", contact_id, {"order_number": "C-42", "product": "kettle"},
                                      external_id="order-C-42")
    assert created and [run.automation_id for run in runs] == [thanks]
    assert shop.messages(contact_id)[0].body == "Thanks for your order C-42, Dana!"
    again, created_again, runs_again = post_event(shop, "purchase", contact_id, {"order_number": "C-42"},
                                                  external_id="order-C-42")
    assert again.id == event.id and not created_again and runs_again == []
    run_due(shop.runtime)
    assert len(shop.runs(check_in)) == 0
    clock.advance(days=7, minutes=1)
    run_due(shop.runtime)
    assert [run.occurrence_key for run in shop.runs(check_in)] == [f"event:{event.id}"]
    assert shop.messages(contact_id)[-1].body == "How is your new kettle working out, Dana?"
    assert len(shop.runs(thanks)) == 1


def test_events_name_contacts_by_phone_and_events_before_an_automation_existed_are_ignored(shop, clock) -> None:
    """A phone number finds (or creates) the contact; an automation does not act on events older than itself."""
    clock.set(at("2025-03-04T02:00"))
    event, created, _runs = post_event(shop, "order_shipped", "+1 415 555 0199", {"order_number": "D-1",
                                                                                   "carrier": "UPS"})
    assert created
    with shop.session() as session:
        assert session.get(Contact, event.contact_id).phone == "+14155550199"
    clock.advance(minutes=5)
    shipped = shop.automation("Shipped", "after_event", "orders", "shipped", event_type="order_shipped")
    run_due(shop.runtime)
    assert shop.runs(shipped) == []
    _event, _created, runs = post_event(shop, "order_shipped", "+14155550199", {"order_number": "D-2",
                                                                                 "carrier": "UPS"})
    assert len(runs) == 1
    assert shop.messages(event.contact_id)[-1].body == "Your order D-2 is on its way with UPS."


def test_appointment_reminder_24_hours_before_in_the_customers_language(shop, clock) -> None:
    """Booked by event; the reminder goes 24 h before (not earlier), in Korean; a cancelled one gets none."""
    clock.set(at("2025-03-04T02:00"))
    reminder = shop.automation("Visit reminder", "date_reminder", "appointments", "reminder",
                               date_field="appointment", offset_minutes=-1440)
    kim = shop.contact("+821012349999", language="ko", first_name="민지", time_zone="Asia/Seoul")
    lee = shop.contact("+821012348888", language="ko", time_zone="Asia/Seoul")
    post_event(shop, "appointment_booked", kim, {"starts_at": "2025-03-06T10:00:00+09:00", "appointment_id": "V1"})
    post_event(shop, "appointment_booked", lee, {"starts_at": "2025-03-06T11:00:00+09:00", "appointment_id": "V2"})
    post_event(shop, "appointment_cancelled", lee, {"appointment_id": "V2"})
    clock.set(at("2025-03-05T00:55"))
    run_due(shop.runtime)
    assert shop.runs(reminder) == []
    clock.set(at("2025-03-05T01:00"))
    with shop.session() as session:
        session.execute(update(Automation).values(next_run_at=None))
        session.commit()
    run_due(shop.runtime)
    runs = shop.runs(reminder)
    assert [run.contact_id for run in runs] == [kim]
    assert shop.messages(kim)[0].body.startswith("예약 알림: 2025-03-06 10:00.")
    clock.advance(hours=3)
    run_due(shop.runtime)
    assert len(shop.runs(reminder)) == 1


def test_a_moved_appointment_is_reminded_again(shop, clock) -> None:
    """Booking the same appointment for another time starts it over: a reminder for the new time."""
    clock.set(at("2025-03-04T02:00"))
    reminder = shop.automation("Visit reminder", "date_reminder", "appointments", "reminder",
                               date_field="appointment", offset_minutes=-1440)
    contact_id = shop.contact("+14155550105", time_zone="America/Los_Angeles")
    post_event(shop, "appointment_booked", contact_id, {"starts_at": "2025-03-05T09:00", "appointment_id": "A"})
    clock.set(at("2025-03-04T17:30"))  # 09:30 in Los Angeles, a day before 09:00 tomorrow
    run_due(shop.runtime)
    assert len(shop.runs(reminder)) == 1
    post_event(shop, "appointment_booked", contact_id, {"starts_at": "2025-03-05T15:00", "appointment_id": "A"},
               external_id="moved")
    run_due(shop.runtime)
    assert len(shop.runs(reminder)) == 1
    clock.set(at("2025-03-04T23:05"))
    run_due(shop.runtime)
    assert len(shop.runs(reminder)) == 2
    with shop.session() as session:
        assert session.scalar(select(Appointment.state)) == "booked"


def test_payment_due_reminder_from_a_contact_date(shop, clock) -> None:
    """Three days before the due date at 09:00 local; a changed due date is a new occurrence."""
    clock.set(at("2025-03-07T01:00"))  # 08:00 in Jakarta
    reminder = shop.automation("Payment due", "date_reminder", "billing", "payment_due",
                               date_field="payment_due", offset_minutes=-3 * 1440, local_hour=9)
    contact_id = shop.contact("+6281234567890", time_zone="Asia/Jakarta", language="en",
                              attributes={"payment_due": "2025-03-10"})
    run_due(shop.runtime)
    assert shop.runs(reminder) == []
    clock.set(at("2025-03-07T02:00"))
    run_due(shop.runtime)
    assert [run.occurrence_key for run in shop.runs(reminder)] == ["payment_due:2025-03-10"]
    assert shop.messages(contact_id)[0].body == "Your payment is due on 2025-03-10."
    with shop.session() as session:
        session.get(Contact, contact_id).attributes = {"payment_due": "2025-03-12"}
        session.execute(update(Automation).values(next_run_at=None))
        session.commit()
    clock.set(at("2025-03-09T02:00"))
    run_due(shop.runtime)
    assert [run.occurrence_key for run in shop.runs(reminder)] == ["payment_due:2025-03-10",
                                                                   "payment_due:2025-03-12"]


def test_every_message_goes_through_the_engine(shop, clock) -> None:
    """A birthday offer to a contact who never opted in to promotions is refused by the consent rule, once."""
    clock.set(at("2025-03-05T01:00"))
    automation_id = shop.automation("Birthday", "birthday", "promotions", "miss_you", local_hour=9)
    contact_id = shop.contact("+821012340777", time_zone="Asia/Seoul", opted_in=False,
                              attributes={"birthday": "1990-03-05"})
    run_due(shop.runtime)
    [run] = shop.runs(automation_id)
    assert run.status == "rejected" and "not opted in" in run.detail
    [message] = shop.messages(contact_id)
    assert message.status == "rejected"


def test_the_dispatcher_runs_the_scheduler_and_sends(shop, clock) -> None:
    """One dispatcher pass fires a due automation and hands its message to the simulator."""
    clock.set(at("2025-03-04T02:00"))
    shop.automation("Thanks", "after_event", "orders", "thanks", event_type="purchase", delay_minutes=60)
    contact_id = shop.contact("+14155550106", first_name="Sam", time_zone="America/New_York")
    post_event(shop, "purchase", contact_id, {"order_number": "E-5"})
    clock.set(at("2025-03-04T15:05"))  # 10:05 in New York
    stats = Dispatcher(shop.runtime).run_once()
    assert stats.automations_fired == 1 and stats.sent == 1 and not stats.errors
    assert shop.messages(contact_id)[0].status == "sent"


def test_a_broken_automation_does_not_stop_the_others(shop, clock) -> None:
    """A template that cannot render for a contact marks that run failed; other automations still fire."""
    clock.set(at("2025-03-04T15:00"))
    broken = shop.automation("Shipped", "after_event", "orders", "shipped", event_type="order_shipped")
    contact_id = shop.contact("+14155550107", time_zone="America/New_York")
    _event, _created, runs = post_event(shop, "order_shipped", contact_id, {"order_number": "F-1"})
    assert [run.status for run in runs] == ["failed"] and "carrier" in runs[0].detail
    assert shop.runs(broken)[0].message_id is None


def test_links_in_automation_texts_become_tracked_short_links(shop, clock, monkeypatch) -> None:
    """With a links base URL, each contact's message carries its own short link, tied to the automation and message."""
    from mannerly.models import ShortLink

    monkeypatch.setattr(shop.runtime, "settings",
                        shop.runtime.settings.model_copy(update={"public_base_url": "https://go.acme.test"}))
    clock.set(at("2025-03-04T16:00"))
    automation_id = shop.automation("Spring", "after_event", "orders", "spring", event_type="purchase",
                                    delay_minutes=5)
    first = shop.contact("+14155550108", time_zone="America/New_York")
    second = shop.contact("+14155550109", time_zone="America/New_York")
    post_event(shop, "purchase", first, {"order_number": "G-1"})
    post_event(shop, "purchase", second, {"order_number": "G-2"})
    clock.advance(minutes=6)
    run_due(shop.runtime)
    with shop.session() as session:
        links = session.scalars(select(ShortLink).order_by(ShortLink.id)).all()
    assert [(link.contact_id, link.automation_id, link.url) for link in links] == [
        (first, automation_id, "https://acme.test/spring"), (second, automation_id, "https://acme.test/spring")]
    for link, contact_id in zip(links, (first, second), strict=True):
        [message] = shop.messages(contact_id)
        assert link.message_id == message.id
        assert message.body.endswith(f"https://go.acme.test/l/{link.code}")


def test_an_automation_short_link_counts_as_the_business_own_domain(shop, clock, monkeypatch) -> None:
    """Asking to update a password on the business's own short link passes when decided and when sent."""
    monkeypatch.setattr(shop.runtime, "settings",
                        shop.runtime.settings.model_copy(update={"public_base_url": "https://go.acme.test"}))
    clock.set(at("2025-03-04T16:00"))
    shop.automation("Account", "after_event", "orders", "account", event_type="purchase", delay_minutes=5)
    contact_id = shop.contact("+14155550110", time_zone="America/New_York")
    post_event(shop, "purchase", contact_id, {"order_number": "H-1"})
    clock.advance(minutes=6)
    run_due(shop.runtime)
    Dispatcher(shop.runtime).run_once()
    [message] = shop.messages(contact_id)
    assert "https://go.acme.test/l/" in message.body
    assert message.status not in ("rejected", "held"), message.status_detail
