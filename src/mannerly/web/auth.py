"""Logging people in to the web UI: argon2 password hashes, users, the session secret, a login rate limiter."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.config import Settings
from mannerly.errors import conflict, invalid
from mannerly.models import USER_ROLES, User, Workspace

SECRET_KEY_FILE_NAME = "secret-key"
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_ADMIN_PASSWORD_FILE_NAME = "demo-admin-password"
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches the stored hash (False for a missing or broken hash)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    """Emails are compared trimmed and lower-cased."""
    return email.strip().lower()


def create_user(session: Session, workspace: Workspace, email: str, role: str, password: str,
                name: str | None = None) -> User:
    """A new user of a workspace with a hashed password; refuses duplicates, unknown roles, short passwords."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise invalid("email", "enter an email address")
    if role not in USER_ROLES:
        raise invalid("role", f"role must be one of {', '.join(USER_ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid("password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    exists = session.scalar(select(User.id).where(User.workspace_id == workspace.id, User.email == email))
    if exists is not None:
        raise conflict(f"{email} is already a user of {workspace.name}")
    user = User(workspace_id=workspace.id, email=email, name=(name or email.split("@")[0]).strip()[:200],
                role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt: the user, or why not."""

    user: User | None
    error: str | None = None


def authenticate(session: Session, email: str, password: str, workspace_name: str | None = None) -> LoginResult:
    """The user whose email and password match, asking for the workspace when several match."""
    email = normalize_email(email)
    query = select(User).where(func.lower(User.email) == email)
    if workspace_name:
        query = query.join(Workspace, Workspace.id == User.workspace_id).where(Workspace.name == workspace_name.strip())
    candidates = session.scalars(query.order_by(User.id)).all()
    if not candidates:
        verify_password(None, password)
        return LoginResult(None, "Wrong email or password.")
    matches = [user for user in candidates if verify_password(user.password_hash, password)]
    if not matches:
        return LoginResult(None, "Wrong email or password.")
    if len(matches) > 1:
        return LoginResult(None, "This email belongs to several workspaces: enter the workspace name too.")
    return LoginResult(matches[0])


class LoginRateLimiter:
    """At most `limit` failed logins per key (account or IP address) in a sliding window, in this process."""

    def __init__(self, limit: int = 5, window_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Keep failure times per key; `clock` is injectable for tests."""
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        """The key's failure times inside the window (older ones dropped).

        Keys without recent failures are not kept: otherwise every email address anyone typed (even in
        refused, cheap 429 requests) would stay in memory for the life of the process."""
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def tracked_keys(self) -> int:
        """How many accounts and addresses have failures on record (memory use is proportional)."""
        with self._lock:
            return len(self._failures)

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of the keys may try again; 0 when none is blocked."""
        with self._lock:
            waits = [failures[0] + self.window - self.clock() for key in keys
                     if len(failures := self._recent(key)) >= self.limit]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        """Record one failed attempt against every key."""
        with self._lock:
            for key in keys:
                self._failures[key] = self._recent(key)
                self._failures[key].append(self.clock())

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of the keys after a successful login."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def data_dir(settings: Settings) -> Path:
    """The folder next to the SQLite database (else ./.mannerly) where small local secrets are kept."""
    from mannerly.demo import demo_key_file

    return demo_key_file(settings).parent


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _read_private(path: Path) -> str | None:
    """The stripped content of a file, or None when it is missing or empty."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def session_secret(settings: Settings) -> str:
    """MANNERLY_SECRET_KEY, else a random key generated once and kept in `.mannerly/secret-key`."""
    if settings.secret_key:
        return settings.secret_key
    path = data_dir(settings) / SECRET_KEY_FILE_NAME
    stored = _read_private(path)
    if stored:
        return stored
    key = secrets.token_urlsafe(48)
    _write_private(path, key)
    return key


def ensure_demo_admin(session: Session, settings: Settings, workspace: Workspace) -> tuple[str, str]:
    """The demo admin's email and password: created on first use, the password kept in a file to show again."""
    path = data_dir(settings) / DEMO_ADMIN_PASSWORD_FILE_NAME
    password = _read_private(path)
    user = session.scalar(select(User).where(User.workspace_id == workspace.id, User.email == DEMO_ADMIN_EMAIL))
    if password and user is not None and verify_password(user.password_hash, password):
        return DEMO_ADMIN_EMAIL, password
    password = secrets.token_urlsafe(12)
    if user is None:
        create_user(session, workspace, DEMO_ADMIN_EMAIL, "admin", password, name="Demo Admin")
    else:
        # The file is gone or belongs to another database: only hashes are stored, so make a new one.
        user.password_hash = hash_password(password)
        session.flush()
    _write_private(path, password)
    return DEMO_ADMIN_EMAIL, password
