"""Topics (P1): the reasons a business writes, each transactional or marketing, each with its own consent."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.errors import conflict, invalid
from mannerly.models import TOPIC_KINDS, Topic, Workspace

TOPIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def find_topic(session: Session, workspace_id: int, name: str) -> Topic:
    """The workspace's topic with this name, or a 422 naming the known topics."""
    topic = session.scalar(select(Topic).where(Topic.workspace_id == workspace_id, Topic.name == name))
    if topic is None:
        known = session.scalars(select(Topic.name).where(Topic.workspace_id == workspace_id).order_by(Topic.name))
        raise invalid("topic", f"unknown topic '{name}'; known topics: {', '.join(known) or 'none'}")
    return topic


def normalize_keyword(session: Session, workspace_id: int, keyword: str | None, topic_id: int | None = None) -> str | None:
    """An upper-cased one-word keyword that no other topic of the workspace uses."""
    if keyword is None or not keyword.strip():
        return None
    keyword = keyword.strip().upper()
    if len(keyword) > 32 or any(char.isspace() for char in keyword):
        raise invalid("keyword", "a keyword is one word of at most 32 characters")
    other = session.scalar(select(Topic).where(Topic.workspace_id == workspace_id, Topic.keyword == keyword))
    if other is not None and other.id != topic_id:
        raise conflict(f"keyword {keyword} is already used by topic '{other.name}'")
    return keyword


def create_topic(session: Session, workspace: Workspace, name: str, *, kind: str = "transactional",
                 urgent: bool = False, keyword: str | None = None, label: str | None = None,
                 now: datetime) -> Topic:
    """A new topic after checking its name, kind, urgency and keyword."""
    name = name.strip()
    if not TOPIC_NAME.match(name):
        raise invalid("name", "a topic name is one lower-case word of at most 64 characters, e.g. appointments")
    if kind not in TOPIC_KINDS:
        raise invalid("kind", f"kind must be one of {', '.join(TOPIC_KINDS)}")
    if urgent and kind == "marketing":
        raise invalid("urgent", "a marketing topic cannot be urgent (urgent messages skip quiet hours)")
    if session.scalar(select(Topic.id).where(Topic.workspace_id == workspace.id, Topic.name == name)):
        raise conflict(f"topic '{name}' already exists in {workspace.name}")
    topic = Topic(workspace_id=workspace.id, name=name, label=label or name.replace("-", " ").capitalize(),
                  kind=kind, urgent=urgent, keyword=normalize_keyword(session, workspace.id, keyword),
                  created_at=now)
    session.add(topic)
    session.flush()
    return topic


def update_topic(session: Session, topic: Topic, changes: dict[str, Any]) -> Topic:
    """Change a topic's label, urgency or keyword; its kind is fixed because consent depends on it."""
    # null is how a PATCH removes a keyword; a topic cannot do without a label or an urgency.
    if "label" in changes and not (changes["label"] or "").strip():
        raise invalid("label", "a topic needs a label; it cannot be removed")
    if "urgent" in changes and changes["urgent"] is None:
        raise invalid("urgent", "urgent is true or false; it cannot be removed")
    if changes.get("urgent") and topic.kind == "marketing":
        raise invalid("urgent", "a marketing topic cannot be urgent (urgent messages skip quiet hours)")
    if "keyword" in changes:
        changes["keyword"] = normalize_keyword(session, topic.workspace_id, changes["keyword"], topic.id)
    for key in ("label", "urgent", "keyword"):
        if key in changes:
            setattr(topic, key, changes[key])
    session.flush()
    return topic
