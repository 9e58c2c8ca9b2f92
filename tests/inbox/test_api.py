"""The inbox REST endpoints: list, assign, status, notes, reply, teams, canned replies, FAQ, metrics, isolation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mannerly.api import inbox as inbox_api
from mannerly.app import create_app
from mannerly.models import User
from mannerly.workspaces.service import create_api_key
from tests.inbox.helpers import DAYTIME, ENGLISH_CUSTOMER, build_service_desk


@pytest.fixture
def client_for(runtime, clock):
    """A function giving (client headers, desk) for a new service-desk workspace; the app includes the inbox router."""
    clock.set(DAYTIME)
    app = create_app(runtime, start_worker=False)
    if not any(getattr(route, "path", "") == "/v1/inbox" for route in app.routes):
        app.include_router(inbox_api.router)
    client = TestClient(app)

    def make(name: str):
        """A desk named `name` and the headers carrying its API key."""
        desk = build_service_desk(runtime, name=name)
        with runtime.session() as session:
            from mannerly.models import Workspace

            key = create_api_key(session, session.get(Workspace, desk.workspace_id))
            session.commit()
        return desk, {"Authorization": f"Bearer {key}"}

    make.client = client
    return make


def test_inbox_lifecycle_over_rest(client_for, clock):
    desk, headers = client_for("Seoul Shop")
    client = client_for.client
    desk.write("Where is my order #1234?", sender=ENGLISH_CUSTOMER)
    rows = client.get("/v1/inbox", headers=headers).json()
    assert len(rows) == 1 and rows[0]["waiting_seconds"] == 0 and rows[0]["unread_count"] == 1
    conversation_id = rows[0]["conversation_id"]
    clock.advance(minutes=90)
    (row,) = client.get("/v1/inbox?view=unassigned", headers=headers).json()
    assert row["overdue"] is True  # the Orders team (default) promises a first answer within 60 minutes
    assert row["waiting_seconds"] == 5400

    answer = client.post(f"/v1/conversations/{conversation_id}/assign", headers=headers,
                         json={"team_id": desk.billing_team_id})
    assert answer.status_code == 200 and answer.json()["team_id"] == desk.billing_team_id
    assert client.get(f"/v1/inbox?view=team:{desk.billing_team_id}", headers=headers).json()[0]["team"]["name"] \
        == "Billing"

    note = client.post(f"/v1/conversations/{conversation_id}/notes", headers=headers,
                       json={"body": "VIP customer", "author_user_id": desk.agent_id})
    assert note.status_code == 201

    refused = client.post(f"/v1/conversations/{conversation_id}/reply", headers=headers,
                          json={"user_id": desk.agent_id, "text": "Please reply with your card number."})
    assert refused.status_code == 201
    assert refused.json()["message"]["status"] == "rejected"
    assert refused.json()["suggested_flows"] == ["call_time", "branch_visit"]

    sent = client.post(f"/v1/conversations/{conversation_id}/reply", headers=headers,
                       json={"user_id": desk.agent_id, "text": "It ships today and arrives tomorrow morning."})
    assert sent.json()["message"]["status"] == "pending"
    (row,) = client.get(f"/v1/inbox?view=mine&user_id={desk.agent_id}", headers=headers).json()
    assert row["waiting_seconds"] is None and row["overdue"] is False

    resolved = client.post(f"/v1/conversations/{conversation_id}/status", headers=headers,
                           json={"status": "resolved", "actor_user_id": desk.agent_id})
    assert resolved.json()["status"] == "resolved" and resolved.json()["csat_message_id"]
    clock.advance(minutes=5)
    desk.write("4/5", sender=ENGLISH_CUSTOMER)

    timeline = client.get(f"/v1/conversations/{conversation_id}/timeline", headers=headers).json()
    texts = [item["text"] for item in timeline]
    assert "VIP customer" in texts
    assert "Assigned team Billing by api" in texts
    assert "The customer rated the conversation 4/5" in texts
    assert [item["marker"] for item in timeline if item["source"] == "automation"] == ["automation"]

    metrics = client.get("/v1/metrics/agents", headers=headers,
                         params={"since": "2025-03-01T00:00:00Z", "until": "2025-03-06T00:00:00Z"}).json()
    mina = next(item for item in metrics if item["name"] == "Mina")
    assert mina["first_responses"] == 1 and mina["first_response_median_seconds"] == 5400
    assert mina["csat_average"] == 4 and mina["resolved"] == 1


def test_teams_canned_replies_and_faq(client_for):
    desk, headers = client_for("Seoul Shop")
    client = client_for.client
    created = client.post("/v1/teams", headers=headers, json={
        "name": "Returns", "hours": {"5": [["10:00", "14:00"]]}, "time_zone": "Asia/Jakarta",
        "first_response_target_minutes": 30, "member_user_ids": [desk.agent_id]})
    assert created.status_code == 201 and created.json()["member_user_ids"] == [desk.agent_id]
    assert [team["name"] for team in client.get("/v1/teams", headers=headers).json()] == ["Billing", "Orders", "Returns"]
    bad = client.post("/v1/teams", headers=headers, json={"name": "Night", "hours": {"0": [["22:00", "06:00"]]}})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert client.post("/v1/teams", headers=headers, json={"name": "Returns"}).status_code == 409

    canned = client.post("/v1/canned-replies", headers=headers,
                         json={"name": "Thanks", "shortcut": "/thanks", "body": "Thanks [First Name]!", "language": "en"})
    assert canned.status_code == 201 and canned.json()["shortcut"] == "thanks"
    assert len(client.get("/v1/canned-replies?language=en", headers=headers).json()) == 1
    assert client.get("/v1/canned-replies?language=ko", headers=headers).json() == []

    faq = client.post("/v1/faq", headers=headers, json={"question": "What are your opening hours?",
                                                        "answer": "9 to 6, Monday to Friday."})
    assert faq.status_code == 201
    assert client.post("/v1/faq", headers=headers, json={"question": "hello?", "answer": "Hi"}).status_code == 422
    assert len(client.get("/v1/faq", headers=headers).json()) == 1


def test_other_workspaces_ids_are_not_found(client_for, runtime):
    desk, headers = client_for("Seoul Shop")
    other, other_headers = client_for("Athens Shop")
    client = client_for.client
    desk.write("hello", sender=ENGLISH_CUSTOMER)
    conversation_id = desk.conversation(ENGLISH_CUSTOMER).id
    for path, body in [("assign", {"user_id": other.agent_id}), ("status", {"status": "resolved"}),
                       ("notes", {"body": "x"}), ("reply", {"user_id": other.agent_id, "text": "Hello there, how can we help?"})]:
        answer = client.post(f"/v1/conversations/{conversation_id}/{path}", headers=other_headers, json=body)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/conversations/{conversation_id}/timeline", headers=other_headers).status_code == 404
    assert client.get("/v1/inbox", headers=other_headers).json() == []
    # Users and teams of another workspace cannot be named either.
    wrong_user = client.post(f"/v1/conversations/{conversation_id}/assign", headers=headers,
                             json={"user_id": other.agent_id})
    wrong_team = client.post(f"/v1/conversations/{conversation_id}/assign", headers=headers,
                             json={"team_id": other.billing_team_id})
    assert (wrong_user.status_code, wrong_team.status_code) == (422, 422)
    with runtime.session() as session:
        assert session.get(User, other.agent_id).workspace_id == other.workspace_id


def test_an_api_key_is_required(client_for):
    client_for("Seoul Shop")
    assert client_for.client.get("/v1/inbox").status_code == 401
