"""API keys: only a hash at rest, looked up by hash and compared in constant time; wrong keys are 401."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, text

from mannerly.models import ApiKey
from mannerly.workspaces import service


def test_the_plaintext_key_is_nowhere_in_the_database(api, settings):
    raw = (settings.database_url.removeprefix("sqlite:///"))
    with api.runtime.engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    with open(raw, "rb") as database:
        assert api.key.encode() not in database.read()
    with api.runtime.session() as session:
        stored = session.scalars(select(ApiKey.key_hash)).all()
    assert hashlib.sha256(api.key.encode()).hexdigest() in stored


def test_keys_are_compared_in_constant_time(api, monkeypatch):
    compared = []
    real = service.hmac.compare_digest

    def recording(a, b):
        """Note the comparison, then do it."""
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(service.hmac, "compare_digest", recording)
    assert api.get("/v1/topics").status_code == 200
    assert compared and all(len(a) == len(b) == 64 for a, b in compared)


def test_wrong_truncated_or_revoked_keys_are_401(api):
    for key in (api.key[:-1] + ("A" if api.key[-1] != "A" else "B"), api.key[:12], "", "mly_" + "x" * 43):
        response = api.client.get("/v1/topics", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401, key
        assert response.headers["www-authenticate"] == "Bearer"
    with api.runtime.session() as session:
        from datetime import UTC, datetime

        for row in session.scalars(select(ApiKey)):
            row.revoked_at = datetime.now(UTC)
        session.commit()
    assert api.get("/v1/topics").status_code == 401
