"""The pages and actions of the web UI, through the test client (the browser tests cover the live parts)."""

from __future__ import annotations

import asyncio
import re
import pytest
from sqlalchemy import select

from mannerly.models import ApiKey, Contact, Conversation, CsatResponse, Message, Team, User, Workspace
from mannerly.web.sse import change_events, format_event

KOREAN = "+821023456789"  # 김민준
OPTED_OUT = "+306975551234"  # Ελένη, globally opted out in the demo data


def customer_writes(user, number: str, text: str):
    """The phone simulator page posts a customer's message."""
    response = user.post("/phone/send", {"number": number, "text": text, "channel": "sms"})
    assert response.status_code == 200, response.text
    return response


def conversation_id(runtime, number: str) -> int:
    """The conversation of the contact with that number."""
    with runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == number))
        return session.scalar(select(Conversation.id).where(Conversation.contact_id == contact.id))


def outbound(runtime, conversation: int) -> list[Message]:
    """The conversation's outbound messages, oldest first."""
    with runtime.session() as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conversation,
                                                          Message.direction == "outbound").order_by(Message.id)))


def test_inbox_lists_waiting_customers(agent, runtime, clock) -> None:
    """A new message shows with its unread count and waiting time; overdue past the team's target."""
    from mannerly.teams.service import create_team

    with runtime.session() as session:
        team_id = create_team(session, agent.workspace_id, "Returns desk", first_response_target_minutes=30,
                              now=runtime.now()).id
        session.commit()
    customer_writes(agent, KOREAN, "배송 언제 되나요?")
    agent.post(f"/inbox/c/{conversation_id(runtime, KOREAN)}/assign", {"team_id": str(team_id)})
    clock.advance(minutes=7)
    html = agent.get("/inbox/list?status=open").text
    assert "김민준" in html and "배송 언제 되나요?" in html and "Returns desk" in html
    assert "waiting 7 min" in html and 'aria-label="1 unread"' in html and "overdue" not in html
    clock.advance(minutes=30)
    assert "Overdue · waiting 37 min" in agent.get("/inbox/list").text
    assert "김민준" in agent.get(f"/inbox/list?view=team:{team_id}").text


FILTER_CASES = [
    ("view=all&status=open", True),
    ("view=unassigned&status=open", True),
    ("view=mine&status=open", False),
    ("status=resolved", False),
    ("status=all&channel=sms", True),
    ("status=all&channel=whatsapp", False),
    ("view=team:999", False),
    ("view=bogus&status=bogus&channel=bogus", True),  # unknown values fall back to the defaults
]


def test_inbox_filters(agent) -> None:
    """Filters by owner, status and channel."""
    customer_writes(agent, KOREAN, "문의드립니다")
    for query, shown in FILTER_CASES:
        assert ("김민준" in agent.get(f"/inbox/list?{query}").text) is shown, query


def test_opening_a_conversation_marks_it_read(agent, runtime) -> None:
    """The whole history shows, the unread count goes to zero."""
    customer_writes(agent, KOREAN, "첫 번째 메시지")
    customer_writes(agent, KOREAN, "두 번째 메시지")
    conversation = conversation_id(runtime, KOREAN)
    page = agent.get(f"/inbox/c/{conversation}").text
    assert "첫 번째 메시지" in page and "두 번째 메시지" in page and 'id="composer-text"' in page
    assert "Customer's time" in page and "Asia/Seoul" in page
    with runtime.session() as session:
        assert session.get(Conversation, conversation).unread_count == 0


def test_composer_check_shows_the_decision_and_lint(agent, runtime) -> None:
    """The live check runs the engine as an agent reply: action, segments, encoding, lint findings."""
    customer_writes(agent, KOREAN, "주문 확인 부탁드려요")
    conversation = conversation_id(runtime, KOREAN)
    one_word = agent.post(f"/inbox/c/{conversation}/check", {"text": "ok"}).text
    assert 'data-action="send"' in one_word and 'data-check="one_word"' in one_word
    assert "1 segment · GSM-7" in one_word
    korean = agent.post(f"/inbox/c/{conversation}/check", {"text": "네, 내일 도착 예정입니다. 감사합니다!"}).text
    assert "UCS-2" in korean and "one_word" not in korean
    pii = agent.post(f"/inbox/c/{conversation}/check", {"text": "Please text us your full card number and PIN."}).text
    assert 'data-check="pii_request"' in pii
    assert agent.post(f"/inbox/c/{conversation}/check", {"text": "   "}).text.strip() == ""
    assert outbound(runtime, conversation) == []  # checking writes nothing


def test_reply_is_sent_through_the_engine(agent, runtime) -> None:
    """A good reply is queued, the composer is cleared, the timeline refreshes."""
    customer_writes(agent, KOREAN, "주문 확인 부탁드려요")
    conversation = conversation_id(runtime, KOREAN)
    response = agent.post(f"/inbox/c/{conversation}/reply", {"text": "확인해 보니 내일 도착 예정입니다. 감사합니다!"})
    assert 'data-result="sent"' in response.text and 'hx-swap-oob="true"' in response.text
    assert response.headers["HX-Trigger"] == "conversation-changed"
    [message] = outbound(runtime, conversation)
    assert message.source == "agent" and message.status == "pending"


def test_rejected_reply_says_why_and_is_not_sent(agent, runtime) -> None:
    """A customer who opted out of everything gets nothing; the agent reads why and keeps the draft."""
    customer_writes(agent, OPTED_OUT, "Γεια σας")
    conversation = conversation_id(runtime, OPTED_OUT)
    response = agent.post(f"/inbox/c/{conversation}/reply", {"text": "Καλησπέρα, πώς μπορώ να βοηθήσω;"})
    assert 'data-result="rejected"' in response.text and "opted out" in response.text
    assert "hx-swap-oob" not in response.text  # the draft stays
    assert [message.status for message in outbound(runtime, conversation)] == ["rejected"]


def test_deferred_reply_says_when_it_goes(agent, runtime, clock) -> None:
    """A reply long after the customer wrote, at night for them, waits for the window and says when."""
    customer_writes(agent, KOREAN, "내일 연락 주세요")
    conversation = conversation_id(runtime, KOREAN)
    clock.advance(days=2, hours=12)  # 22:00 Thursday in Seoul, outside the reply exemption
    response = agent.post(f"/inbox/c/{conversation}/reply", {"text": "안녕하세요, 요청하신 대로 연락드립니다."})
    assert 'data-result="deferred"' in response.text and "Scheduled" in response.text
    assert "UTC+09:00" in response.text
    [message] = outbound(runtime, conversation)
    assert message.status == "deferred" and message.send_at > clock()


def test_notes_assignment_and_status(agent, runtime) -> None:
    """Notes appear in the timeline, assignment and resolving are recorded, resolving asks for CSAT."""
    customer_writes(agent, KOREAN, "환불 문의")
    conversation = conversation_id(runtime, KOREAN)
    agent.post(f"/inbox/c/{conversation}/note", {"body": "Check the refund policy <b>first</b>"})
    agent.post(f"/inbox/c/{conversation}/assign", {"user_id": str(agent.user_id)})
    header = agent.post(f"/inbox/c/{conversation}/status", {"status": "resolved"})
    assert 'data-status="resolved"' in header.text and "current" in header.text
    timeline = agent.get(f"/inbox/c/{conversation}/timeline").text
    assert "Check the refund policy &lt;b&gt;first&lt;/b&gt;" in timeline
    assert "Internal note" in timeline
    with runtime.session() as session:
        row = session.get(Conversation, conversation)
        assert row.status == "resolved" and row.assignee_user_id == agent.user_id
    assert [message.source for message in outbound(runtime, conversation)] == ["automation"]  # the CSAT question
    assert "김민준" in agent.get("/inbox/list?view=mine&status=resolved").text
    customer_writes(agent, KOREAN, "5")
    with runtime.session() as session:
        assert session.scalars(select(CsatResponse.score)).all() == [5]
    assert "csat-score" in agent.get(f"/inbox/c/{conversation}/panel").text


def test_bad_actions_are_refused(agent, runtime) -> None:
    """Unknown conversation, status or assignee: an error, nothing changes."""
    customer_writes(agent, KOREAN, "hello")
    conversation = conversation_id(runtime, KOREAN)
    assert agent.get("/inbox/c/999").status_code == 404
    assert agent.post(f"/inbox/c/{conversation}/status", {"status": "closed"}).status_code == 422
    assert agent.post(f"/inbox/c/{conversation}/assign", {"user_id": "999"}).status_code == 422
    assert agent.post(f"/inbox/c/{conversation}/assign", {"user_id": "x"}).status_code == 422


def test_marketers_read_but_do_not_reply(marketer, agent, runtime) -> None:
    """No composer for marketers, and the reply route refuses them."""
    customer_writes(agent, KOREAN, "hello")
    conversation = conversation_id(runtime, KOREAN)
    page = marketer.get(f"/inbox/c/{conversation}").text
    assert "hello" in page and 'id="composer-text"' not in page and "Marketers can read" in page
    assert marketer.post(f"/inbox/c/{conversation}/reply", {"text": "Buy now!"}).status_code == 403
    assert marketer.post(f"/inbox/c/{conversation}/status", {"status": "resolved"}).status_code == 403
    assert outbound(runtime, conversation) == []
    assert marketer.get("/settings").status_code == 403 and "/settings" not in marketer.get("/inbox").text


def test_canned_replies_are_personalised(agent, runtime) -> None:
    """Choosing a canned reply fills the composer with the customer's details."""
    from mannerly.inbox.service import add_canned_reply

    with runtime.session() as session:
        canned = add_canned_reply(session, agent.workspace_id, name="Thanks", shortcut="thanks",
                                  body="Thank you {{ first_name }}, we are on it.", now=runtime.now())
        session.commit()
        canned_id = canned.id
    customer_writes(agent, "+13055550123", "Where is my order?")
    conversation = conversation_id(runtime, "+13055550123")
    assert "Thanks" in agent.get(f"/inbox/c/{conversation}").text
    filled = agent.get(f"/inbox/c/{conversation}/canned?canned_id={canned_id}").text
    assert "Thank you Maria, we are on it." in filled and "load" in filled


def test_phone_simulator_shows_both_sides(agent, runtime) -> None:
    """The phone shows what it sent; the business's reply appears once it left, with its status."""
    from mannerly.outbox.dispatcher import Dispatcher

    customer_writes(agent, KOREAN, "안녕하세요")
    conversation = conversation_id(runtime, KOREAN)
    agent.post(f"/inbox/c/{conversation}/reply", {"text": "안녕하세요, 무엇을 도와드릴까요?"})
    waiting = agent.get("/phone/thread?number=%2B821023456789").text
    assert "안녕하세요" in waiting and "무엇을 도와드릴까요" not in waiting and "on its way" in waiting
    Dispatcher(runtime).run_once()
    sent = agent.get("/phone/thread?number=%2B821023456789").text
    assert "무엇을 도와드릴까요" in sent and "delivery-sent" in sent
    page = agent.get("/phone?number=%2B821023456789").text
    assert "김민준" in page and 'name="number" value="+821023456789"' in page


def test_phone_simulator_new_number_and_errors(agent, runtime) -> None:
    """A new number becomes a new contact and conversation; a bad number says what is wrong."""
    response = customer_writes(agent, "+821055512345", "처음 연락드립니다")
    assert response.headers["HX-Push-Url"] == "/phone?number=%2B821055512345"
    assert "처음 연락드립니다" in agent.get("/inbox/list").text
    bad = agent.post("/phone/send", {"number": "12", "text": "hi"})
    assert "alert-bad" in bad.text
    empty = agent.post("/phone/send", {"number": KOREAN, "text": "  "})
    assert "write something first" in empty.text


def test_contacts_and_contact_page(agent, runtime) -> None:
    """Search by name or phone; the contact page shows consent history and the side panel."""
    listing = agent.get("/contacts").text
    assert "김민준" in listing and "Maria Lopez" in listing
    found = agent.get("/contacts?q=maria").text
    assert "Maria Lopez" in found and "김민준" not in found
    assert "김민준" in agent.get("/contacts?q=%2B8210234").text
    with runtime.session() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.phone == OPTED_OUT))
    page = agent.get(f"/contacts/{contact_id}").text
    assert "Opted out of all messages" in page and "Consent history" in page
    assert agent.get("/contacts/9999").status_code == 404


def test_templates_and_topics_pages(agent) -> None:
    """Templates grouped by name with their languages; topics with consent counts and recent changes."""
    templates = agent.get("/templates").text
    assert "order_shipped" in templates and "주문하신 상품" in templates and "στάλθηκε" in templates
    topics = agent.get("/topics").text
    assert "Promotions" in topics and "PROMO" in topics and "Latest consent changes" in topics


def test_settings_policy_form(admin, runtime) -> None:
    """The policy form saves valid values (audited) and shows errors for invalid ones."""
    page = admin.get("/settings").text
    assert "Sending policy" in page and "Simulator SMS" in page and "admin@shop.test" in page
    form = {"window_start": "08:30", "window_end": "20:00", "workdays_mode": "custom", "workday_0": "on",
            "workday_1": "on", "skip_holidays": "on", "reply_exemption_hours": "12", "marketing_cap": "1",
            "marketing_cap_days": "7", "automated_min_gap_minutes": "60", "duplicate_window_hours": "24",
            "auto_reply_period_hours": "12", "max_segments": "3", "tracked_link_domains": "shop.example, go.example"}
    saved = admin.post("/settings/policy", form)
    assert saved.status_code == 200 and "Sending policy saved." in saved.text
    with runtime.session() as session:
        policy = session.get(Workspace, admin.workspace_id).policy
    assert policy["window_start"] == "08:30:00" and policy["workdays"] == [0, 1] and policy["marketing_cap"] == 1
    assert policy["sender_intro"] is False and policy["tracked_link_domains"] == ["shop.example", "go.example"]
    bad = admin.post("/settings/policy", {**form, "window_start": "21:00", "marketing_cap": "500"})
    assert bad.status_code == 422 and "marketing_cap" in bad.text


def test_settings_api_keys_users_and_teams(admin, runtime) -> None:
    """Create and revoke API keys, add users, add and edit teams with business hours."""
    created = admin.post("/settings/apikeys", {"name": "shop backend"})
    key = re.search(r'<code class="secret" id="new-key">(mly_[^<]+)</code>', created.text).group(1)
    assert admin.client.get("/v1/conversations", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    with runtime.session() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.name == "shop backend"))
    assert "revoked" in admin.post(f"/settings/apikeys/{key_id}/revoke").text
    assert admin.client.get("/v1/conversations", headers={"Authorization": f"Bearer {key}"}).status_code == 401

    assert "User added." in admin.post("/settings/users", {"email": "New@Shop.test", "role": "agent",
                                                            "password": "long enough", "name": "Newbie"}).text
    duplicate = admin.post("/settings/users", {"email": "new@shop.test", "role": "agent", "password": "long enough"})
    assert duplicate.status_code == 422 and "already a user" in duplicate.text
    assert admin.post("/settings/users", {"email": "x@shop.test", "role": "owner", "password": "long enough"}).status_code == 422
    assert admin.post("/settings/users", {"email": "y@shop.test", "role": "agent", "password": "short"}).status_code == 422

    team_form = {"name": "Returns desk", "time_zone": "Asia/Seoul", "opens": "09:00", "closes": "18:00",
                 "hours_mode": "days", "day_0": "on", "day_1": "on", "day_2": "on",
                 "first_response_target_minutes": "30", "next_response_target_minutes": ""}
    assert "Team added." in admin.post("/settings/teams", team_form).text
    with runtime.session() as session:
        team = session.scalar(select(Team).where(Team.name == "Returns desk"))
        assert team.hours == {"0": [["09:00", "18:00"]], "1": [["09:00", "18:00"]], "2": [["09:00", "18:00"]]}
        assert team.first_response_target_minutes == 30 and team.next_response_target_minutes is None
        team_id = team.id
    assert "Mon Tue Wed 09:00–18:00" in admin.get("/settings").text
    saved = admin.post(f"/settings/teams/{team_id}", {**team_form, "hours_mode": "always", "name": "Returns desk KR"})
    assert "Team saved." in saved.text and "Always open" in saved.text
    assert admin.post("/settings/teams", {**team_form, "time_zone": "Mars/Olympus"}).status_code == 422


def test_sse_stream_reports_changes() -> None:
    """The stream says "changed" when the fingerprint moves, and only then."""
    values = iter([1, 1, 2, 2, 3])

    async def never_disconnected() -> bool:
        """The client stays."""
        return False

    async def collect() -> list[str]:
        """Every event of a short stream."""
        return [event async for event in change_events(lambda: next(values, 3), never_disconnected,
                                                         poll_seconds=0.01, stream_seconds=0.045)]

    events = asyncio.run(collect())
    assert events[0].startswith("retry:")
    assert events.count(format_event("changed", "1")) == 2
    assert format_event("changed", "a\nb") == "event: changed\ndata: a\ndata: b\n\n"


def test_sse_fingerprint_moves_with_the_inbox(agent, runtime) -> None:
    """New messages, status changes and notes all change the workspace fingerprint."""
    from mannerly.web.sse import workspace_fingerprint

    def fingerprint():
        """The current fingerprint."""
        with runtime.session() as session:
            return workspace_fingerprint(session, agent.workspace_id)

    before = fingerprint()
    customer_writes(agent, KOREAN, "hello")
    after_message = fingerprint()
    conversation = conversation_id(runtime, KOREAN)
    agent.post(f"/inbox/c/{conversation}/note", {"body": "note"})
    after_note = fingerprint()
    agent.post(f"/inbox/c/{conversation}/status", {"status": "pending"})
    after_status = fingerprint()
    assert len({before, after_message, after_note, after_status}) == 4


def test_demo_admin_and_session_secret(runtime, settings) -> None:
    """serve --demo's admin login is created once and shown again; the secret key persists in a file."""
    from mannerly.demo import ensure_demo_workspace
    from mannerly.web.auth import DEMO_ADMIN_EMAIL, authenticate, ensure_demo_admin, session_secret

    with runtime.session() as session:
        workspace, _key = ensure_demo_workspace(session, runtime.now())
        email, password = ensure_demo_admin(session, settings, workspace)
        again = ensure_demo_admin(session, settings, workspace)
        session.commit()
        assert again == (email, password) and email == DEMO_ADMIN_EMAIL
        assert authenticate(session, email, password).user.role == "admin"
        assert session.scalar(select(User).where(User.email == email)).password_hash.startswith("$argon2id$")
    first = session_secret(settings)
    assert first == session_secret(settings) and len(first) > 40
    assert session_secret(settings.model_copy(update={"secret_key": "from-env"})) == "from-env"


def test_sessions_expire_with_a_new_secret(web_app, agent) -> None:
    """A cookie signed with another key is not a session."""
    agent.client.cookies.set("mannerly_session", "forged.cookie.value")
    assert agent.get("/inbox", follow_redirects=False).status_code == 303

