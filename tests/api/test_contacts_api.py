"""Contacts, consent, topics, templates and policy through the REST API."""

from __future__ import annotations

import pytest


def test_contact_crud_normalizes_phone_and_derives_zone(api):
    """A national Korean number becomes E.164 with Korean defaults; PATCH changes fields."""
    created = api.post("/v1/contacts", json={"phone": "010-2345-6789", "country": "KR", "first_name": "지민"})
    assert created.status_code == 201, created.text
    contact = created.json()
    assert (contact["phone"], contact["country"], contact["language"]) == ("+821023456789", "KR", "ko")
    assert contact["time_zones"] == ["Asia/Seoul"]
    patched = api.patch(f"/v1/contacts/{contact['id']}", json={"time_zone": "Europe/Athens", "tags": ["vip"]}).json()
    assert patched["time_zones"] == ["Europe/Athens"] and patched["tags"] == ["vip"]
    assert api.post("/v1/contacts", json={"phone": "+82 10 2345 6789"}).status_code == 409


def test_contact_bad_input_is_422_with_field(api):
    """Bad zone, bad number and unknown fields are refused field by field."""
    contact = api.post("/v1/contacts", json={"phone": "+6281234567890"}).json()
    response = api.patch(f"/v1/contacts/{contact['id']}", json={"time_zone": "Mars/Olympus"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "time_zone"
    response = api.post("/v1/contacts", json={"phone": "12"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "phone"
    response = api.post("/v1/contacts", json={"phone": "+6281234567891", "favourite_colour": "red"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "favourite_colour"


def test_consent_ledger_is_append_only_with_evidence(api):
    """Opt-in then opt-out on a topic: two events, the current state is the last."""
    contact = api.post("/v1/contacts", json={"phone": "+306912345678"}).json()
    url = f"/v1/contacts/{contact['id']}/consent"
    assert api.post(url, json={"topic": "promotions", "status": "opted_in", "wording": "Ναι, θέλω προσφορές"}).status_code == 201
    assert api.post(url, json={"topic": "promotions", "status": "opted_out", "source": "agent", "actor": "maria"}).status_code == 201
    consent = api.get(url).json()
    assert consent["topics"] == {"promotions": "opted_out"}
    assert [(event["status"], event["source"]) for event in consent["history"]] == [("opted_in", "api"), ("opted_out", "agent")]
    assert consent["history"][0]["wording"] == "Ναι, θέλω προσφορές"
    assert api.post(url, json={"topic": "nope", "status": "opted_in"}).status_code == 422


def test_marketing_needs_the_opt_in_recorded_through_the_api(api):
    """Recording an opt-in is what lets a promotion through (and gives the opt-out line)."""
    contact = api.post("/v1/contacts", json={"phone": "+6281234567890"}).json()
    body = {"contact_id": contact["id"], "topic": "promotions", "text": "Diskon 20% minggu ini untuk Anda."}
    assert api.post("/v1/messages/check", json={**body, "at": "2025-03-04T04:00:00Z"}).json()["action"] == "reject"
    api.post(f"/v1/contacts/{contact['id']}/consent", json={"topic": "promotions", "status": "opted_in"})
    decision = api.post("/v1/messages/check", json={**body, "at": "2025-03-04T04:00:00Z"}).json()
    assert decision["action"] == "send"
    assert "BERHENTI" in decision["final_text"]


def test_csv_import_reports_rejected_rows_and_is_idempotent(api):
    """Good rows are imported, bad ones reported by line; a second import changes nothing."""
    csv_text = "phone,first_name,country,consent:promotions\n010-2345-6789,Jimin,KR,yes\nnot a number,Bad,KR,yes\n0812-3456-7890,Budi,ID,no\n"
    files = {"file": ("contacts.csv", csv_text.encode(), "text/csv")}
    first = api.post("/v1/contacts/import", files=files).json()
    assert (first["imported"], [row["line"] for row in first["rejected"]]) == (2, [3])
    second = api.post("/v1/contacts/import", files={"file": ("contacts.csv", csv_text.encode(), "text/csv")}).json()
    assert (second["imported"], second["updated"], second["unchanged"], second["consent_events"]) == (0, 0, 2, 0)


def test_csv_import_refuses_a_file_without_a_phone_column(api):
    """A file that cannot be used at all is a 422 and imports nothing."""
    response = api.post("/v1/contacts/import", files={"file": ("x.csv", b"name,email\nA,a@b.c\n", "text/csv")})
    assert response.status_code == 422
    assert api.get("/v1/contacts").json()["items"] == []


def test_topics_create_and_refuse_urgent_marketing(api):
    """Topics are created with unique keywords; urgent marketing is refused."""
    created = api.post("/v1/topics", json={"name": "appointments", "keyword": "appt"})
    assert created.status_code == 201 and created.json()["keyword"] == "APPT"
    assert api.post("/v1/topics", json={"name": "flash", "kind": "marketing", "urgent": True}).status_code == 422
    assert api.post("/v1/topics", json={"name": "other", "keyword": "PROMO"}).status_code == 409
    assert "appointments" in [topic["name"] for topic in api.get("/v1/topics").json()]


@pytest.mark.parametrize("change", [{"label": None}, {"label": "  "}, {"urgent": None}])
def test_topic_patch_cannot_remove_the_label_or_urgency(api, change):
    """A null label or urgency is a 422 naming the field, not a database error (found by schemathesis)."""
    response = api.patch("/v1/topics/orders", json=change)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == list(change)
    assert api.get("/v1/topics").json()[0]["label"]


def test_topic_patch_null_keyword_removes_it(api):
    """null is still how a keyword is removed."""
    response = api.patch("/v1/topics/promotions", json={"keyword": None})
    assert response.status_code == 200 and response.json()["keyword"] is None


def test_templates_validate_syntax_and_list_placeholders(api):
    """A template's placeholders are listed; a broken template is refused."""
    created = api.post("/v1/templates", json={"name": "reminder", "language": "en",
                                              "body": "Hi [First Name], see you at {{ time }}."}).json()
    assert set(created["placeholders"]) >= {"first_name", "time"}
    broken = api.post("/v1/templates", json={"name": "broken", "language": "en", "body": "Hi {{ first_name"})
    assert broken.status_code == 422


def test_policy_is_validated_as_a_whole_and_changes_decisions(api):
    """An impossible window is refused; a valid change takes effect on the next decision."""
    bad = api.patch("/v1/workspace/policy", json={"window_start": "21:00", "window_end": "08:00"})
    assert bad.status_code == 422
    assert api.patch("/v1/workspace/policy", json={"unknown_field": 1}).status_code == 422
    body = {"to": "+821023456789", "topic": "orders", "text": "Your table is ready.", "at": "2025-03-04T12:30:00Z"}
    assert api.post("/v1/messages/check", json=body).json()["action"] == "defer"  # 21:30 in Seoul
    changed = api.patch("/v1/workspace/policy", json={"window_end": "22:00"})
    assert changed.status_code == 200 and changed.json()["window_end"] == "22:00:00"
    assert api.post("/v1/messages/check", json=body).json()["action"] == "send"


@pytest.mark.parametrize("path", ["/v1/contacts/9223372036854775808", "/v1/conversations/99999999999999999999/timeline",
                                  "/v1/campaigns/9223372036854775808"])
def test_ids_beyond_64_bits_are_a_422_not_a_500(api, path):
    """An id the database cannot hold is refused as invalid (found by schemathesis: it was a 500)."""
    response = api.get(path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
