"""The automations, events and quick-reply endpoints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mannerly.app import create_app


@pytest.fixture
def client(shop, clock):
    """An API client with the shop's key, at 11:00 in New York on a Tuesday."""
    clock.set(datetime(2025, 3, 4, 16, 0, tzinfo=UTC))
    test_client = TestClient(create_app(shop.runtime, start_worker=False))
    test_client.headers["Authorization"] = f"Bearer {shop.api_key}"
    return test_client


def test_create_list_and_change_an_automation(client) -> None:
    """Defaults are filled in; the kind's settings are checked; PATCH turns it off."""
    created = client.post("/v1/automations", json={"name": "Birthday", "kind": "birthday", "topic": "promotions",
                                                   "template": "birthday", "settings": {"coupon": {"percent": 20}}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["settings"] == {"date_field": "birthday", "local_hour": 10,
                                "coupon": {"percent": 20, "prefix": None, "valid_days": None}}
    assert [row["name"] for row in client.get("/v1/automations").json()] == ["Birthday"]
    changed = client.patch(f"/v1/automations/{body['id']}", json={"enabled": False})
    assert changed.json()["enabled"] is False
    assert client.post("/v1/automations", json={"name": "Birthday", "kind": "birthday", "topic": "promotions",
                                                "template": "birthday"}).status_code == 409


BAD_AUTOMATIONS = [
    ({"kind": "win_back", "settings": {}}, "settings.days"),
    ({"kind": "win_back", "settings": {"days": 0}}, "settings.days"),
    ({"kind": "after_event", "settings": {}}, "settings.event_type"),
    ({"kind": "birthday", "settings": {"local_hour": 24}}, "settings.local_hour"),
    ({"kind": "birthday", "settings": {"coupon": {"percent": 150}}}, "settings.percent"),
    ({"kind": "birthday", "template": "nope"}, "template"),
    ({"kind": "birthday", "topic": "nope"}, "topic"),
]


@pytest.mark.parametrize(("change", "field"), BAD_AUTOMATIONS, ids=[case[1] for case in BAD_AUTOMATIONS])
def test_invalid_automations_are_refused_with_the_field(client, change, field) -> None:
    """A 422 problem document naming the bad field."""
    body = {"name": "X", "kind": "birthday", "topic": "promotions", "template": "miss_you", **change}
    response = client.post("/v1/automations", json=body)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


def test_post_an_event_starts_automations_once(client, shop) -> None:
    """201 with the runs it started; the same id again is a 200 with the same runs and nothing new."""
    client.post("/v1/automations", json={"name": "Shipped", "kind": "after_event", "topic": "orders",
                                         "template": "shipped", "settings": {"event_type": "order_shipped"}})
    event = {"type": "order_shipped", "contact": "+1 212 555 0123", "id": "ship-77",
             "data": {"order_number": "77", "carrier": "FedEx"}}
    first = client.post("/v1/events", json=event)
    assert first.status_code == 201, first.text
    assert first.json()["created"] and len(first.json()["runs"]) == 1
    again = client.post("/v1/events", json=event)
    assert again.status_code == 200 and not again.json()["created"]
    assert again.json()["runs"] == first.json()["runs"]
    assert len(shop.messages()) == 1
    assert shop.messages()[0].body == "Your order 77 is on its way with FedEx."
    assert [row["id"] for row in client.get("/v1/events?type=order_shipped").json()] == [first.json()["id"]]


def test_events_refuse_unknown_contacts_and_bad_appointments(client) -> None:
    """An unknown contact id is a 404; an appointment without starts_at is a 422."""
    assert client.post("/v1/events", json={"type": "purchase", "contact": 999}).status_code == 404
    response = client.post("/v1/events", json={"type": "appointment_booked", "contact": "+12125550123"})
    assert response.status_code == 422
    assert client.post("/v1/events", json={"type": "Bad Type", "contact": "+12125550123"}).status_code == 422


def test_appointments_are_listed(client) -> None:
    """appointment_booked creates an appointment the API lists."""
    client.post("/v1/events", json={"type": "appointment_booked", "contact": "+12125550123",
                                    "data": {"starts_at": "2025-03-06T10:00:00-05:00", "appointment_id": "Z9"}})
    [appointment] = client.get("/v1/appointments").json()
    assert appointment["external_id"] == "Z9" and appointment["state"] == "booked"
    assert appointment["starts_at"].startswith("2025-03-06T15:00:00")


def test_declare_read_and_remove_quick_replies(client) -> None:
    """PUT sets options (or a scale), GET reads them, DELETE removes them; unknown templates are refused."""
    put = client.put("/v1/templates/miss_you/quick-replies", json={"options": {"1": "coffee", "2": "tea"}})
    assert put.status_code == 200 and put.json()["options"] == {"1": "coffee", "2": "tea"}
    assert client.put("/v1/templates/miss_you/quick-replies", json={"options": "1-3"}).json()["options"] == {
        "1": "1", "2": "2", "3": "3"}
    assert client.get("/v1/templates/miss_you/quick-replies").json()["options"]["3"] == "3"
    assert client.delete("/v1/templates/miss_you/quick-replies").status_code == 204
    assert client.get("/v1/templates/miss_you/quick-replies").status_code == 404
    assert client.put("/v1/templates/nope/quick-replies", json={"options": "1-5"}).status_code == 422
    assert client.put("/v1/templates/miss_you/quick-replies", json={"options": "5-1"}).status_code == 422
    assert client.get("/v1/quick-replies/answers").json() == []
