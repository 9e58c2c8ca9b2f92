"""Report numbers on a fixed fixture, CSV export of every table, the API and the pages."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mannerly.app import create_app
from mannerly.models import (
    Campaign,
    CampaignRecipient,
    ConsentEvent,
    Conversation,
    ConversationEvent,
    CsatResponse,
    Message,
    ShortLink,
    Topic,
)
from mannerly.models.automation import Automation, AutomationRun
from mannerly.models.quickreply import QuickReplyAnswer, QuickReplyPrompt
from mannerly.reports.export import csv_cell, to_csv
from mannerly.reports.service import build_report, report_period, report_tables
from mannerly.web import routes
from mannerly.web.auth import LoginRateLimiter, create_user
from tests.web.conftest import PASSWORD, login

DAY1 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
DAY2 = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)

# (name, topic, contact, status, sent at, created at)
MESSAGES = [
    ("m1", "orders", "c1", "delivered", DAY1, DAY1),
    ("m2", "orders", "c2", "sent", DAY1, DAY1),
    ("m3", "promotions", "c3", "delivered", DAY2, DAY2),
    ("m4", "promotions", "c4", "failed", None, DAY2),  # failed before any hand-off: not sent
    ("m5", "promotions", "c5", "rejected", None, DAY2),
    ("m6", "promotions", "c4", "undelivered", DAY2, DAY2),
]
# (contact, when) the customer wrote in
INBOUND = [("c1", DAY1 + timedelta(hours=2)), ("c2", DAY1 + timedelta(days=4))]
# (contact, topic or None = everything, when) the customer opted out
OPT_OUTS = [("c3", None, DAY2 + timedelta(hours=1)), ("c4", "orders", DAY2 + timedelta(hours=1))]

EXPECTED = {
    # table -> {label: (sent, delivered, responded, opted_out, clicked, not_sent)}
    "topics": {"Orders": (2, 1, 1, 0, 0, 0), "Promotions": (2, 1, 0, 1, 1, 2)},
    "automations": {"Birthday": (1, 1, 0, 1, 1, 0)},
    "campaigns": {"Spring sale": (1, 0, 0, 0, 0, 0)},
}


@pytest.fixture
def filled(shop, clock):
    """The shop with the messages, reactions, an automation, a campaign, clicks, CSAT and response times above."""
    clock.set(NOW)
    contacts = {name: shop.contact(f"+1415555{index:04d}", opted_in=False) for index, name in
                enumerate(["c1", "c2", "c3", "c4", "c5"])}
    with shop.session() as session:
        topics = {topic.name: topic for topic in session.scalars(select(Topic))}
        ids = {}
        for name, topic, contact, status, sent_at, created_at in MESSAGES:
            message = Message(workspace_id=shop.workspace_id, contact_id=contacts[contact], direction="outbound",
                              topic_id=topics[topic].id, source="api", body=name, status=status, sent_at=sent_at,
                              created_at=created_at, updated_at=created_at)
            session.add(message)
            session.flush()
            ids[name] = message.id
        for contact, moment in INBOUND:
            session.add(Message(workspace_id=shop.workspace_id, contact_id=contacts[contact], direction="inbound",
                                source="customer", body="hi", status="received", created_at=moment,
                                updated_at=moment))
        for contact, topic, moment in OPT_OUTS:
            session.add(ConsentEvent(workspace_id=shop.workspace_id, contact_id=contacts[contact],
                                     topic_id=topics[topic].id if topic else None, status="opted_out",
                                     source="keyword", actor="customer", occurred_at=moment))
        automation = Automation(workspace_id=shop.workspace_id, name="Birthday", kind="birthday",
                                topic_id=topics["promotions"].id, template_name="birthday", settings={})
        campaign = Campaign(workspace_id=shop.workspace_id, name="Spring sale", topic_id=topics["promotions"].id,
                            template_name="miss_you")
        session.add_all([automation, campaign])
        session.flush()
        session.add(AutomationRun(workspace_id=shop.workspace_id, automation_id=automation.id,
                                  contact_id=contacts["c3"], occurrence_key="2025", message_id=ids["m3"],
                                  status="queued", created_at=DAY2))
        session.add(CampaignRecipient(workspace_id=shop.workspace_id, campaign_id=campaign.id,
                                      contact_id=contacts["c4"], message_id=ids["m6"], status="queued"))
        session.add(ShortLink(workspace_id=shop.workspace_id, code="abc123", url="https://acme.test/sale",
                              contact_id=contacts["c3"], message_id=ids["m3"], click_count=2))
        conversation = Conversation(workspace_id=shop.workspace_id, contact_id=contacts["c1"])
        session.add(conversation)
        session.flush()
        for score in (5, 4, 5):
            session.add(CsatResponse(workspace_id=shop.workspace_id, conversation_id=conversation.id, score=score,
                                     raw_text=str(score), created_at=DAY2))
        for seconds, first in ((60, True), (180, True), (30, False)):
            session.add(ConversationEvent(workspace_id=shop.workspace_id, conversation_id=conversation.id,
                                          kind="response", actor="system",
                                          detail={"seconds": seconds, "first": first}, occurred_at=DAY2))
        prompt = QuickReplyPrompt(workspace_id=shop.workspace_id, contact_id=contacts["c1"], message_id=ids["m1"],
                                  template_name="reminder", expires_at=NOW, created_at=DAY1)
        other = QuickReplyPrompt(workspace_id=shop.workspace_id, contact_id=contacts["c2"], message_id=ids["m2"],
                                 template_name="reminder", expires_at=NOW, created_at=DAY1)
        session.add_all([prompt, other])
        session.flush()
        session.add(QuickReplyAnswer(workspace_id=shop.workspace_id, prompt_id=prompt.id, contact_id=contacts["c1"],
                                     template_name="reminder", option="YES", meaning="confirmed", raw_text="네",
                                     created_at=DAY1))
        session.commit()
    return shop


def tables_for(shop):
    """Every report table for 1–9 March 2025."""
    since, until = report_period(DAY1.date() - timedelta(days=2), NOW.date() - timedelta(days=1), NOW)
    with shop.session() as session:
        return report_tables(build_report(session, shop.workspace_id, since, until, NOW))


def test_rates_per_topic_automation_and_campaign(filled) -> None:
    """Sent, delivered, responded (72 h), opted out (global or same topic), clicked, not sent; and their rates."""
    tables = tables_for(filled)
    for name, expected in EXPECTED.items():
        table = tables[name]
        found = {row[0]: row[2:8] for row in table.rows}
        assert found == expected, name
    orders = next(row for row in tables["topics"].rows if row[0] == "Orders")
    assert dict(zip(tables["topics"].columns, orders, strict=True))["delivery_rate"] == 0.5
    promotions = dict(zip(tables["topics"].columns,
                          next(row for row in tables["topics"].rows if row[0] == "Promotions"), strict=True))
    assert (promotions["opt_out_rate"], promotions["click_rate"], promotions["response_rate"]) == (0.5, 0.5, 0.0)


def test_rates_per_day(filled) -> None:
    """The daily table splits each group by the UTC day the messages were created."""
    rows = {(row[0], row[1]): row[3:5] for row in tables_for(filled)["topics_daily"].rows}
    assert rows == {("2025-03-03", "Orders"): (2, 1), ("2025-03-04", "Promotions"): (2, 1)}


def test_csat_response_times_and_quick_replies(filled) -> None:
    """CSAT distribution, first-response median and p90, and quick-reply answers per template."""
    tables = tables_for(filled)
    assert dict(tables["csat"].rows) == {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}
    assert tables["response_times"].rows == [("first response", 2, 120.0, 180.0), ("every response", 3, 60.0, None)]
    assert tables["quick_replies"].rows == [("reminder", 2, 1, 0.5, "confirmed", 1)]


def test_csv_cells_and_documents() -> None:
    """Plain values; dates in ISO form; cells a spreadsheet would run as a formula are disarmed."""
    assert csv_cell(None) == "" and csv_cell(0.5) == "0.5" and csv_cell(2.0) == "2" and csv_cell(-3) == "-3"
    assert csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")" and csv_cell("@SUM(1)") == "'@SUM(1)"
    assert csv_cell(DAY1) == "2025-03-03T01:00:00+00:00"
    assert to_csv(("a", "b"), [(1, "x,y")]) == 'a,b\r\n1,"x,y"\r\n'


def test_api_returns_every_table_and_each_as_csv(filled) -> None:
    """GET /v1/reports lists the tables; /v1/reports/<table>.csv gives the same rows as CSV."""
    client = TestClient(create_app(filled.runtime, start_worker=False))
    headers = {"Authorization": f"Bearer {filled.api_key}"}
    body = client.get("/v1/reports?since=2025-03-01&until=2025-03-09", headers=headers).json()
    assert set(body["tables"]) >= {"topics", "automations", "campaigns", "topics_daily", "csat", "response_times",
                                   "agents", "sla", "quick_replies"}
    for name, table in body["tables"].items():
        response = client.get(f"/v1/reports/{name}.csv?since=2025-03-01&until=2025-03-09", headers=headers)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == table["columns"]
        assert len(rows) - 1 == len(table["rows"]), name
    assert client.get("/v1/reports/nope.csv", headers=headers).status_code == 404
    assert client.get("/v1/reports?since=2025-03-09&until=2025-03-01", headers=headers).status_code == 422


def test_pages_render_with_charts_and_csv_links(filled) -> None:
    """The reports and automations pages render for a logged-in user; the CSV download works."""
    routes.login_limiter = LoginRateLimiter()
    from mannerly.models import Workspace

    with filled.session() as session:
        create_user(session, session.get(Workspace, filled.workspace_id), "boss@acme.test", "admin", PASSWORD,
                    name="Boss")
        session.commit()
    client = TestClient(create_app(filled.runtime, start_worker=False))
    assert login(client, "boss@acme.test").status_code == 303
    page = client.get("/reports?since=2025-03-01&until=2025-03-09&rate=opt_out_rate")
    assert page.status_code == 200
    for text in ("Promotions", "Spring sale", "Birthday", "<svg", "Opt-out rate per day", "average <strong>4.67",
                 "/reports/export/topics.csv?since=2025-03-01&amp;until=2025-03-09", "confirmed: 1"):
        assert text in page.text, text
    download = client.get("/reports/export/campaigns.csv?since=2025-03-01&until=2025-03-09")
    assert download.status_code == 200 and "Spring sale" in download.text
    assert "attachment" in download.headers["content-disposition"]
    automations = client.get("/automations")
    assert automations.status_code == 200 and "Birthday" in automations.text
    assert client.get("/reports?since=yesterday").status_code == 400
