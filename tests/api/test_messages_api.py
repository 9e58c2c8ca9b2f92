"""The send pipeline through the REST API: check, send, dispatch, receipts, idempotency, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from mannerly.models import Message

SEOUL_MOBILE = "+82 10-2345-6789"


def test_check_is_a_dry_run_that_stores_nothing(api):
    """A dry run returns the decision and writes no contact and no message."""
    response = api.post("/v1/messages/check", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped."})
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["action"] == "send"
    assert decision["final_text"].startswith("Acme")  # first contact: the sender introduces itself
    with api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert api.get("/v1/contacts").json()["items"] == []


def test_check_at_evaluates_as_if_now_were_then(api):
    """`at` 22:30 in Seoul defers to 09:00 the next morning, with the reason in plain words."""
    body = {"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped.", "at": "2025-03-04T22:30:00+09:00"}
    decision = api.post("/v1/messages/check", json=body).json()
    assert decision["action"] == "defer"
    assert decision["local_send_at"] == "2025-03-05T09:00:00+09:00"
    quiet = next(reason for reason in decision["reasons"] if reason["rule"] == "quiet_hours")
    assert "22:30 Tue (Asia/Seoul)" in quiet["detail"]


def test_send_dispatch_and_delivery_receipt(api, clock):
    """A message goes pending → sent (simulator) → delivered after the simulated latency."""
    response = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped."})
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["status"] == "pending"
    stats = api.dispatch()
    assert stats.sent == 1
    sent = api.get(f"/v1/messages/{message['id']}").json()
    assert sent["status"] == "sent" and sent["provider_message_id"]
    clock.advance(seconds=5)
    api.dispatch()
    delivered = api.get(f"/v1/messages/{message['id']}").json()
    assert delivered["status"] == "delivered"
    inbox = api.get("/v1/simulator/phones/+821023456789").json()
    assert [item["text"] for item in inbox] == [sent["final_text"]]


def test_deferred_message_waits_and_then_goes(api, clock):
    """A message deferred by quiet hours is not handed off before its time, then is."""
    clock.set(clock() .replace(hour=13, minute=30))  # 22:30 in Seoul
    message = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped."}).json()
    assert message["status"] == "deferred"
    assert api.dispatch().sent == 0
    clock.set(clock().replace(hour=23, minute=59) )  # 08:59 next day in Seoul
    assert api.dispatch().sent == 0
    clock.advance(minutes=1)
    assert api.dispatch().sent == 1


def test_stop_after_queueing_wins_over_the_queued_message(api, clock):
    """A STOP stored after a message was queued keeps that message from being handed off."""
    clock.set(clock().replace(hour=13, minute=30))
    queued = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped."}).json()
    inbound = api.post("/v1/simulator/inbound", json={"from": SEOUL_MOBILE, "text": "중지"}).json()
    assert inbound["keyword"] == "stop"
    clock.advance(hours=12)
    api.dispatch()
    assert api.get(f"/v1/messages/{queued['id']}").json()["status"] == "rejected"
    confirmation = api.get(f"/v1/messages/{inbound['confirmation_message_id']}").json()
    assert confirmation["status"] == "sent"  # the one confirmation still goes
    consent = api.get(f"/v1/contacts/{inbound['contact_id']}/consent").json()
    assert consent["global_opt_out"] is True
    assert consent["history"][-1]["source"] == "keyword"
    assert consent["history"][-1]["evidence_message_id"] == inbound["message_id"]


def test_idempotency_key_same_body_same_response_one_message(api):
    """Same key and body → the same response and one message; same key, other body → 409."""
    body = {"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped."}
    first = api.post("/v1/messages", json=body, headers={"Idempotency-Key": "order-77"})
    second = api.post("/v1/messages", json=body, headers={"Idempotency-Key": "order-77"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    other = api.post("/v1/messages", json={**body, "text": "Something else"}, headers={"Idempotency-Key": "order-77"})
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    with api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_idempotency_key_under_concurrent_requests(api):
    """Twenty concurrent POSTs with one key: one message, identical responses."""
    body = {"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 78 has shipped."}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: api.post("/v1/messages", json=body, headers={"Idempotency-Key": "k-78"}), range(20)))
    assert {response.status_code for response in responses} == {201}
    assert len({response.text for response in responses}) == 1
    with api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_invalid_phone_is_a_422_that_names_the_field_and_stores_nothing(api):
    """An invalid number is refused with a field-level explanation."""
    response = api.post("/v1/messages", json={"to": "+82 10-12", "topic": "orders", "text": "hi"})
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == "to"
    assert "+82 10-12" in problem["errors"][0]["message"]
    with api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_unknown_topic_is_a_422_listing_the_known_ones(api):
    """An unknown topic is refused and the known topics are named."""
    problem = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "nope", "text": "hi"}).json()
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == "topic"
    assert "orders" in problem["errors"][0]["message"]


def test_unknown_template_variable_is_a_422_and_nothing_is_stored(api):
    """A template needing a variable nobody gave is refused before anything is written."""
    created = api.post("/v1/templates", json={"name": "shipped", "language": "en", "body": "Hi {{ first_name }}, order {{ order_id }} shipped."})
    assert created.status_code == 201, created.text
    response = api.post("/v1/messages", json={"to": "+1 305 555 0142", "topic": "orders", "template": "shipped",
                                              "data": {"first_name": "Ana"}})
    assert response.status_code == 422, response.text
    assert "order_id" in response.json()["detail"]
    with api.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_template_send_renders_with_contact_fields(api):
    """A template is rendered from the request data over the contact's own fields."""
    contact = api.post("/v1/contacts", json={"phone": "+62 812-3456-7890", "first_name": "Budi"}).json()
    api.post("/v1/templates", json={"name": "shipped", "language": "id", "body": "Halo {{ first_name }}, pesanan {{ order_id }} sudah dikirim."})
    message = api.post("/v1/messages", json={"contact_id": contact["id"], "topic": "orders", "template": "shipped",
                                             "data": {"order_id": "A-1"}}).json()
    assert "Halo Budi, pesanan A-1 sudah dikirim." in message["final_text"]


def test_rejected_message_is_stored_with_its_reasons_and_never_sent(api):
    """A refused message says why and is never handed off."""
    message = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "promotions", "text": "Big sale today!"}).json()
    assert message["status"] == "rejected"
    rules = {reason["rule"] for reason in message["decision"]["reasons"]}
    assert {"consent", "cold_contact"} <= rules
    assert api.dispatch().sent == 0


def test_api_key_required_and_workspaces_isolated(api, runtime):
    """No key → 401; another workspace's key cannot see this workspace's messages."""
    from tests.api.conftest import make_workspace

    message = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order 77 has shipped."}).json()
    assert api.client.get(f"/v1/messages/{message['id']}").status_code == 401
    _, other_key = make_workspace(runtime, "Other")
    headers = {"Authorization": f"Bearer {other_key}"}
    assert api.client.get(f"/v1/messages/{message['id']}", headers=headers).status_code == 404
    assert api.client.get("/v1/contacts", headers=headers).json()["items"] == []
    assert api.client.get(f"/v1/contacts/{message['contact_id']}/consent", headers=headers).status_code == 404


def test_scheduled_send_with_at_waits(api, clock):
    """`at` on a send is a not-before time (O4)."""
    later = (clock() + timedelta(hours=2)).isoformat()
    message = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Reminder: visit at 3pm.", "at": later}).json()
    assert message["status"] == "deferred"
    assert api.dispatch().sent == 0
    clock.advance(hours=2)
    assert api.dispatch().sent == 1


def test_approved_whatsapp_template_outside_the_window_carries_its_parameters(api):
    """Outside the 24-hour window an approved template goes on WhatsApp with its values in order of use."""
    from mannerly.models import Channel
    from mannerly.outbox.dispatcher import Dispatcher

    with api.runtime.session() as session:
        session.add(Channel(workspace_id=api.workspace_id, kind="whatsapp", provider="simulator", name="WA sim"))
        session.commit()
    contact = api.post("/v1/contacts", json={"phone": "+6281234567890", "whatsapp_id": "6281234567890",
                                             "first_name": "Budi"}).json()
    api.post("/v1/templates", json={"name": "shipped", "language": "id", "whatsapp_name": "order_shipped_v2",
                                    "whatsapp_status": "APPROVED", "category": "UTILITY",
                                    "body": "Halo {{ first_name }}, pesanan {{ order_id }} sudah dikirim."})
    message = api.post("/v1/messages", json={"contact_id": contact["id"], "topic": "orders", "template": "shipped",
                                             "data": {"order_id": "A-7"}, "at": "2025-03-04T03:00:00Z"}).json()
    assert message["channel"] == "whatsapp"
    with api.runtime.session() as session:
        row = session.get(Message, message["id"])
        assert Dispatcher.options_of(row)["whatsapp_template"] == {
            "name": "order_shipped_v2", "language": "id", "parameters": ["Budi", "A-7"]}
