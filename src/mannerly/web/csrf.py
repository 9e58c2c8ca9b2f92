"""CSRF protection: one random token per session, required on every state-changing request."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

CSRF_SESSION_KEY = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRejected(Exception):
    """A state-changing request came without the session's CSRF token (answered with 403)."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


def token_matches(expected: str | None, presented: str | None) -> bool:
    """True when a token was presented and equals the session's, compared in constant time."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


async def require_csrf(request: Request) -> None:
    """Dependency for POST routes: the header (htmx) or the form field must carry the session's token."""
    expected = request.session.get(CSRF_SESSION_KEY)
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            presented = value if isinstance(value, str) else None
    if not token_matches(expected, presented):
        raise CsrfRejected()
