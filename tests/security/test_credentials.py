"""API keys hashed at rest and looked up by hash (the plaintext never reaches the database), compared in
constant time; logins rate-limited per account and per address."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient
from sqlalchemy import event, select, text

from mannerly.models import ApiKey, Base
from mannerly.workspaces import service
from tests.web.conftest import CSRF_FIELD, login  # noqa: F401  (fixtures below come from tests/web/conftest.py)
from tests.web.conftest import _fast_password_hashes, admin, web_app  # noqa: F401


def every_stored_value(runtime) -> str:
    """Every value of every row of every table, as one string."""
    with runtime.session() as session:
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in session.execute(text(f'SELECT * FROM "{table.name}"')))


def test_api_keys_are_stored_only_as_their_sha256(api):
    """The plaintext key is nowhere in the database after creating and using it; the row holds its SHA-256."""
    assert api.get("/v1/contacts").status_code == 200  # used once (last_used_at written)
    stored = every_stored_value(api.runtime)
    assert api.key not in stored and api.key[8:] not in stored
    with api.runtime.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.workspace_id == api.workspace_id))
    assert row.key_hash == hashlib.sha256(api.key.encode()).hexdigest() and row.prefix == api.key[:8]


def test_keys_made_in_the_ui_are_shown_once_and_stored_hashed(admin, runtime):  # noqa: F811
    """A key created on the settings page is shown once; the database holds only its hash."""
    page = admin.post("/settings/apikeys", {"name": "Zapier"})
    assert page.status_code == 200
    key = re.search(r"mly_[A-Za-z0-9_\-]{20,}", page.text).group()
    assert key not in every_stored_value(runtime)
    assert key not in admin.get("/settings").text


def test_the_plaintext_key_never_reaches_the_database(api):
    """Every SQL statement an authenticated request runs carries the key's hash, never the key itself."""
    parameters: list[str] = []

    def record(_conn, _cursor, statement, params, _context, _executemany):
        """Keep what each statement sends."""
        parameters.append(f"{statement} {params!r}")

    event.listen(api.runtime.engine, "before_cursor_execute", record)
    try:
        assert api.get("/v1/contacts").status_code == 200
        assert api.client.get("/v1/contacts", headers={"Authorization": f"Bearer {api.key}x"}).status_code == 401
    finally:
        event.remove(api.runtime.engine, "before_cursor_execute", record)
    sent = "\n".join(parameters)
    assert hashlib.sha256(api.key.encode()).hexdigest() in sent
    assert api.key not in sent


def test_keys_are_compared_in_constant_time(api, monkeypatch):
    """authenticate_api_key compares digests with hmac.compare_digest (and only after a lookup by hash)."""
    compared: list[tuple[str, str]] = []
    real = service.hmac.compare_digest

    def spy(a, b):
        """Record the comparison."""
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(service.hmac, "compare_digest", spy)
    assert api.get("/v1/contacts").status_code == 200
    digest = hashlib.sha256(api.key.encode()).hexdigest()
    assert compared == [(digest, digest)]


def test_wrong_revoked_and_malformed_keys_are_refused(api):
    """A key one character off, a revoked key, an empty or a huge one: 401, the same answer each time."""
    wrong = api.key[:-1] + ("A" if api.key[-1] != "A" else "B")
    answers = []
    for key in (wrong, "mly_", "x" * 10_000, api.key.upper()):
        response = api.client.get("/v1/contacts", headers={"Authorization": f"Bearer {key}"})
        answers.append((response.status_code, response.json()["detail"]))
    with api.runtime.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.workspace_id == api.workspace_id))
        row.revoked_at = row.created_at
        session.commit()
    revoked = api.get("/v1/contacts")
    answers.append((revoked.status_code, revoked.json()["detail"]))
    assert set(answers) == {(401, "unknown or revoked API key")}


def test_login_is_limited_per_account_and_per_address(web_app):  # noqa: F811
    """Five failures block the account (even with the right password next), and five failures from one address
    over different accounts block that address for every account: 429 with a wait."""
    client = TestClient(web_app)
    for _ in range(5):
        assert login(client, "agent@shop.test", "wrong").status_code == 401
    assert login(client, "agent@shop.test").status_code == 429

    from mannerly.web import routes
    from mannerly.web.auth import LoginRateLimiter

    routes.login_limiter = LoginRateLimiter()
    sprayer = TestClient(web_app)
    for number in range(5):
        assert login(sprayer, f"guess{number}@shop.test", "wrong").status_code == 401
    blocked = login(sprayer, "admin@shop.test")
    assert blocked.status_code == 429 and "Try again in" in blocked.text


def test_the_login_limiter_forgets_keys_without_recent_failures():
    """Refused attempts with ever-new email addresses do not grow memory; failures expire with their keys."""
    from mannerly.web.auth import LoginRateLimiter

    now = [0.0]
    limiter = LoginRateLimiter(limit=5, window_seconds=60, clock=lambda: now[0])
    for _ in range(5):
        limiter.failed("ip:203.0.113.9", "account:a@shop.test")
    for number in range(10_000):  # a blocked address keeps asking with new addresses: answered 429 each time
        assert limiter.retry_after(f"account:new{number}@shop.test", "ip:203.0.113.9") > 0
    assert limiter.tracked_keys() == 2
    now[0] = 61
    assert limiter.retry_after("ip:203.0.113.9", "account:a@shop.test") == 0
    assert limiter.tracked_keys() == 0
