"""Workspaces (tenants), their sending policy and their API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.errors import conflict, invalid
from mannerly.models import ApiKey, AuditEvent, Channel, Topic, Workspace
from mannerly.policy.types import Policy
from mannerly.workspaces.policy import PolicySettings

API_KEY_PREFIX = "mly_"
# last_used_at is kept to the minute: precise enough to spot unused keys, cheap enough for every call.
KEY_USE_RESOLUTION = timedelta(minutes=1)
# The transactional topic that keyword confirmations and service replies use.
SERVICE_TOPIC = "service"


def workspace_policy(workspace: Workspace) -> Policy:
    """The engine's Policy for a workspace, from its stored settings."""
    settings = PolicySettings.model_validate(workspace.policy or {})
    return settings.to_policy(workspace.brand_names or {}, workspace.default_country)


def create_workspace(session: Session, name: str, *, brand_names: dict[str, str] | None = None,
                     default_country: str | None = None, default_language: str = "en",
                     with_simulator: bool = True) -> Workspace:
    """A new workspace with its built-in service topic and, by default, a simulator SMS channel."""
    name = name.strip()
    if not name:
        raise invalid("name", "a workspace needs a name")
    if session.scalar(select(Workspace.id).where(Workspace.name == name)) is not None:
        raise conflict(f"a workspace named '{name}' already exists")
    workspace = Workspace(
        name=name,
        brand_names=brand_names or {default_language: name},
        default_country=default_country.upper() if default_country else None,
        default_language=default_language,
        policy={},
    )
    session.add(workspace)
    session.flush()
    session.add(Topic(workspace_id=workspace.id, name=SERVICE_TOPIC, label="Customer service",
                      kind="transactional"))
    if with_simulator:
        # The simulator is no real carrier: no rate limit, so demos and benchmarks are not throttled.
        session.add(Channel(workspace_id=workspace.id, kind="sms", provider="simulator",
                            name="Simulator SMS", sender_id="MANNERLY", config={}, rate_limit_per_second=0))
    session.flush()
    return workspace


def update_policy(session: Session, workspace: Workspace, changes: dict, actor: str, now: datetime) -> PolicySettings:
    """Apply validated policy changes and record them in the audit log."""
    current = PolicySettings.model_validate(workspace.policy or {})
    merged = PolicySettings.model_validate({**current.model_dump(mode="json"), **changes})
    workspace.policy = merged.model_dump(mode="json")
    session.add(AuditEvent(workspace_id=workspace.id, actor=actor, action="policy.update",
                           target=f"workspace:{workspace.id}", detail={"changes": changes}, occurred_at=now))
    session.flush()
    return merged


def hash_api_key(key: str) -> str:
    """The SHA-256 under which a key is stored (keys are random, so no slow hash is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, workspace: Workspace, name: str = "default") -> str:
    """Create an API key for a workspace and return it; only its hash is kept."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(workspace_id=workspace.id, name=name, prefix=key[:8], key_hash=hash_api_key(key)))
    session.flush()
    return key


def authenticate_api_key(session: Session, key: str, now: datetime) -> tuple[Workspace, ApiKey] | None:
    """The workspace and key row for a presented key, or None when it is unknown or revoked."""
    digest = hash_api_key(key)
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash; compare again in constant time so timing says nothing.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        return None
    if row.last_used_at is None or now - row.last_used_at > KEY_USE_RESOLUTION:
        # Writing on every request would serialize all API calls on SQLite's single writer.
        row.last_used_at = now
    return session.get(Workspace, row.workspace_id), row


def find_workspace(session: Session, name: str) -> Workspace | None:
    """The workspace with this name, if any."""
    return session.scalar(select(Workspace).where(Workspace.name == name))
