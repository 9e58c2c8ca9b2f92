"""Login, roles, CSRF, security headers, escaping and the login rate limiter."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mannerly.web.auth import LoginRateLimiter, hash_password, verify_password
from mannerly.web.security import CONTENT_SECURITY_POLICY
from tests.web.conftest import login

PAGES = ["/inbox", "/contacts", "/templates", "/topics", "/phone"]
# (path, form) of every state-changing route; each must refuse a request without the CSRF token.
STATE_CHANGING = [
    ("/logout", {}),
    ("/inbox/c/1/reply", {"text": "Hello there, thanks for writing."}),
    ("/inbox/c/1/note", {"body": "a note"}),
    ("/inbox/c/1/assign", {"user_id": ""}),
    ("/inbox/c/1/status", {"status": "resolved"}),
    ("/inbox/c/1/check", {"text": "hi"}),
    ("/settings/policy", {"window_start": "08:00", "window_end": "20:00"}),
    ("/settings/apikeys", {"name": "forged"}),
    ("/settings/apikeys/1/revoke", {}),
    ("/settings/users", {"email": "x@y.test", "role": "admin", "password": "long enough"}),
    ("/settings/teams", {"name": "Forged"}),
    ("/phone/send", {"number": "+821023456789", "text": "hi"}),
]


def test_pages_need_login(web_app) -> None:
    """Every page sends strangers to the login form; htmx requests get an HX-Redirect."""
    client = TestClient(web_app)
    for path in PAGES + ["/settings", "/inbox/c/1"]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    assert client.get("/inbox/list", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/login"
    assert client.get("/events").status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_login_and_logout(web_app, agent) -> None:
    """A good password opens a session; logging out ends it."""
    assert agent.get("/inbox").status_code == 200
    assert agent.get("/", follow_redirects=False).headers["location"] == "/inbox"
    response = agent.client.post("/logout", data={"csrf_token": agent.csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert agent.get("/inbox", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("email, password", [
    ("agent@shop.test", "wrong password"),
    ("nobody@shop.test", "correct horse battery"),
    ("", ""),
])
def test_bad_logins_are_refused(web_app, email, password) -> None:
    """Wrong password or unknown email: the same answer, no session."""
    client = TestClient(web_app)
    response = login(client, email, password)
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_login_is_rate_limited(web_app) -> None:
    """After five failures the account is blocked for a while, even with the right password."""
    client = TestClient(web_app)
    for _ in range(5):
        assert login(client, "agent@shop.test", "nope nope").status_code == 401
    blocked = login(client, "agent@shop.test")
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text


def test_rate_limiter_window() -> None:
    """Failures expire after the window; success clears them."""
    now = [0.0]
    limiter = LoginRateLimiter(limit=2, window_seconds=60, clock=lambda: now[0])
    limiter.failed("a")
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(60)
    now[0] = 61
    assert limiter.retry_after("a") == 0
    limiter.failed("b")
    limiter.failed("b")
    limiter.succeeded("b")
    assert limiter.retry_after("b") == 0


def test_passwords_are_argon2_hashes() -> None:
    """Hashes are argon2id, salted, and verify only the right password."""
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first.startswith("$argon2id$") and first != second
    assert verify_password(first, "s3cret-pass") and not verify_password(first, "s3cret-pasS")
    assert not verify_password(None, "anything") and not verify_password("not a hash", "x")


def test_login_form_needs_csrf(web_app) -> None:
    """A login posted from another site (no token) is refused."""
    client = TestClient(web_app)
    response = client.post("/login", data={"email": "agent@shop.test", "password": "correct horse battery"})
    assert response.status_code == 403


def test_state_changes_need_the_csrf_token(admin) -> None:
    """Without the token, or with a wrong one, every POST is a 403 and changes nothing."""
    for path, form in STATE_CHANGING:
        missing = admin.client.post(path, data=form, follow_redirects=False)
        wrong = admin.client.post(path, data=form, headers={"X-CSRF-Token": "forged"}, follow_redirects=False)
        wrong_field = admin.client.post(path, data={**form, "csrf_token": "forged"}, follow_redirects=False)
        assert missing.status_code == wrong.status_code == wrong_field.status_code == 403, path
    assert admin.get("/inbox").status_code == 200  # still logged in


def test_security_headers(web_app, agent) -> None:
    """Pages carry a strict CSP, no-sniff, a referrer policy and no framing; the API docs keep working."""
    for response in (agent.get("/inbox"), TestClient(web_app).get("/login"), agent.get("/static/app.css")):
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    docs = TestClient(web_app).get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers


def test_no_inline_scripts_or_styles(agent) -> None:
    """The CSP forbids inline code, so the pages must not have any."""
    agent.post("/phone/send", {"number": "+821023456789", "text": "안녕하세요"})
    for path in PAGES + ["/inbox/c/1"]:
        html = agent.get(path).text
        assert "<script>" not in html and " style=" not in html and "<style" not in html, path
        assert " on" + "click=" not in html and "hx-on" not in html, path


PAYLOADS = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '"><svg onload=alert(1)>',
    "{{7*7}}",
]


def test_customer_strings_are_escaped(agent, runtime) -> None:
    """Message bodies, names and attributes from customers come out escaped on every page."""
    for payload in PAYLOADS:
        check_escaped(agent, runtime, payload)


def check_escaped(agent, runtime, payload: str) -> None:
    """One payload as a message, a name and an attribute: never raw in any page."""
    from sqlalchemy import select

    from mannerly.models import Contact

    agent.post("/phone/send", {"number": "+821023456789", "text": payload})
    with runtime.session() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == "+821023456789"))
        contact.name = payload
        contact.attributes = {"note": payload, payload: "value"}
        session.commit()
        contact_id = contact.id
    for path in ["/inbox?status=all", "/inbox/c/1", "/inbox/c/1/timeline", "/inbox/c/1/panel", "/contacts",
                 f"/contacts/{contact_id}", "/phone?number=%2B821023456789", "/topics"]:
        html = agent.get(path).text
        if "<" in payload:
            assert payload not in html, path
    timeline = agent.get("/inbox/c/1/timeline").text
    if "<" in payload:
        assert payload.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") in timeline
    else:
        assert payload in timeline  # shown as written, never evaluated as a template


def state_changing_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every UI route that changes state, found by walking the app's routers."""

    def walk(routes, prefix: str = ""):
        """Routes with their full paths, through included routers."""
        for route in routes:
            if hasattr(route, "methods") and hasattr(route, "path"):
                yield prefix + route.path, route.methods
            elif hasattr(route, "original_router"):
                context = getattr(route, "include_context", None)
                yield from walk(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))

    return sorted((method, path) for path, methods in walk(app.routes)
                  for method in methods & {"POST", "PUT", "PATCH", "DELETE"}
                  if not path.startswith(("/v1/", "/webhooks/")))


def test_every_state_changing_ui_route_refuses_a_cross_site_request(web_app, admin) -> None:
    """Found by walking the app, not listed by hand: a new route without CSRF protection fails here."""
    routes = state_changing_routes(web_app)
    assert len(routes) >= 19
    urls = []
    for method, path in routes:
        url = path.replace("{action}", "pause")
        for name in ("conversation_id", "key_id", "team_id", "automation_id", "campaign_id"):
            url = url.replace("{" + name + "}", "1")
        urls.append((method, url))
    assert {url for _, url in urls} >= {path for path, _ in STATE_CHANGING}
    for method, url in urls:
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"Origin": "https://evil.example"}):
            response = admin.client.request(method, url, data={"name": "forged"}, headers=headers,
                                            follow_redirects=False)
            assert response.status_code == 403, (method, url, headers, response.status_code)
    assert admin.get("/inbox").status_code == 200  # still logged in, nothing changed the session
