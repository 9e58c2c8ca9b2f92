"""MANNERLY_WEBHOOK_MODE=queue: webhooks store verified events at once and the worker applies them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from mannerly.models import Contact, Conversation, Message, WebhookEvent
from tests.channels.twilio.test_end_to_end import BUSINESS_NUMBER, CUSTOMER, PUBLIC_BASE_URL, setup  # noqa: F401


@pytest.fixture
def settings(settings):
    """Queue mode, reachable at a public HTTPS address like the Twilio end-to-end tests."""
    return settings.model_copy(update={"public_base_url": PUBLIC_BASE_URL, "webhook_mode": "queue"})


def count(runtime, model, *where) -> int:
    """Rows of a table matching the conditions."""
    with runtime.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def inbound(runtime) -> list[Message]:
    """The customer messages stored so far."""
    with runtime.session() as session:
        return session.scalars(select(Message).where(Message.direction == "inbound").order_by(Message.id)).all()


def test_inbound_message_is_stored_as_an_event_and_applied_by_the_worker(setup):
    """The answer comes before the pipeline runs; one worker pass files the message in a conversation."""
    runtime = setup.api.runtime
    form = setup.fake.inbound_form(CUSTOMER, BUSINESS_NUMBER, "Is my order ready?")
    for _ in range(3):  # a replay is stored once
        answer = setup.fake.post_webhook(setup.webhook_url, form, client=setup.api.client)
        assert answer.status_code == 200
    assert inbound(runtime) == []
    assert count(runtime, WebhookEvent) == 1
    stats = setup.api.dispatch()
    assert stats.webhook_events == 1
    (stored,) = inbound(runtime)
    assert (stored.body, stored.provider_message_id) == ("Is my order ready?", form["MessageSid"])
    with runtime.session() as session:
        assert session.get(Conversation, stored.conversation_id) is not None
        assert session.get(Contact, stored.contact_id).last_inbound_at is not None
        event = session.scalar(select(WebhookEvent))
        assert (event.processed_at is not None, event.error, event.attempts) == (True, None, 1)
    assert setup.api.dispatch().webhook_events == 0


def test_stop_is_applied_inside_the_request(setup):
    """Consent changes cannot wait for the worker: STOP opts out before Twilio hears 200."""
    runtime = setup.api.runtime
    answer = setup.fake.post_inbound(setup.webhook_url, CUSTOMER, BUSINESS_NUMBER, "stop", client=setup.api.client)
    assert answer.status_code == 200
    assert count(runtime, WebhookEvent) == 0
    with runtime.session() as session:
        assert session.scalar(select(Contact).where(Contact.phone == CUSTOMER)).global_opt_out


def test_status_callbacks_are_queued_and_applied_in_bulk(setup):
    """Delivery reports wait for the worker; a report whose error means an opt-out is applied at once."""
    runtime = setup.api.runtime
    first = setup.send("Your order has shipped.")
    second = setup.send("Your parcel is on its way.", to="+821023456780")
    setup.api.dispatch()
    sid_first, sid_second = setup.fake.handoffs
    for status in ("sent", "delivered"):
        assert setup.fake.post_status_callback(sid_first, status, client=setup.api.client).status_code == 200
    assert setup.message(first["id"])["status"] == "queued"
    setup.fake.post_status_callback(sid_second, "failed", 21610, client=setup.api.client)
    assert setup.message(second["id"])["status"] == "failed"
    with runtime.session() as session:
        assert session.get(Contact, second["contact_id"]).global_opt_out
    assert count(runtime, WebhookEvent) == 2
    assert setup.api.dispatch().webhook_events == 2
    assert setup.message(first["id"])["status"] == "delivered"


def test_unusable_sender_is_refused_and_nothing_is_stored(setup):
    """The same 400 as the inline mode: a sender that is no phone number stores nothing."""
    runtime = setup.api.runtime
    form = setup.fake.inbound_form("not-a-number", BUSINESS_NUMBER, "hello")
    answer = setup.fake.post_webhook(setup.webhook_url, form, client=setup.api.client)
    assert answer.status_code == 400
    assert "not stored" in answer.json()["detail"]
    assert count(runtime, WebhookEvent) == 0


def test_forged_webhook_queues_nothing(setup):
    """A forged signature is refused before anything is stored."""
    form = setup.fake.inbound_form(CUSTOMER, BUSINESS_NUMBER, "hello")
    answer = setup.fake.post_webhook(setup.webhook_url, form, client=setup.api.client, signature="AAAA")
    assert answer.status_code == 403
    assert count(setup.api.runtime, WebhookEvent) == 0


def test_an_event_that_cannot_apply_is_set_aside_and_the_rest_go_on(setup):
    """A broken stored event keeps its error and stops blocking; the next customer message is filed."""
    runtime = setup.api.runtime
    for number, text in ((CUSTOMER, "first"), ("+821023456780", "second")):
        setup.fake.post_webhook(setup.webhook_url, setup.fake.inbound_form(number, BUSINESS_NUMBER, text),
                                client=setup.api.client)
    with runtime.session() as session:
        first_id = session.scalar(select(func.min(WebhookEvent.id)))
        session.execute(update(WebhookEvent).where(WebhookEvent.id == first_id).values(payload={"text": "x"}))
        session.commit()
    stats = setup.api.dispatch()
    assert stats.webhook_events == 2
    assert any("webhook event" in error for error in stats.errors)
    assert [message.body for message in inbound(runtime)] == ["second"]
    with runtime.session() as session:
        broken = session.get(WebhookEvent, first_id)
        assert broken.processed_at is not None and "KeyError" in broken.error
    assert setup.api.dispatch().webhook_events == 0
