"""Topics (P1): /v1/topics."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.api.schemas import TopicIn, TopicOut, TopicPatch
from mannerly.errors import conflict, invalid
from mannerly.messages.service import find_topic
from mannerly.models import Topic

router = APIRouter(prefix="/v1/topics", tags=["topics"])


def check_keyword_free(session, workspace_id: int, keyword: str | None, topic_id: int | None = None) -> str | None:
    """An upper-cased topic keyword that no other topic of the workspace uses."""
    if not keyword:
        return None
    keyword = keyword.strip().upper()
    other = session.scalar(select(Topic).where(Topic.workspace_id == workspace_id, Topic.keyword == keyword))
    if other is not None and other.id != topic_id:
        raise conflict(f"topic '{other.name}' already uses the keyword {keyword}")
    return keyword


@router.get("", response_model=list[TopicOut], summary="List topics")
def list_topics(session: SessionDep, workspace: WorkspaceDep) -> list[Topic]:
    """Every topic of the workspace."""
    return list(session.scalars(select(Topic).where(Topic.workspace_id == workspace.id).order_by(Topic.name)))


@router.post("", status_code=201, response_model=TopicOut, summary="Create a topic")
def post_topic(body: TopicIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> Topic:
    """A new topic; names and keywords are unique within the workspace."""
    if session.scalar(select(Topic.id).where(Topic.workspace_id == workspace.id, Topic.name == body.name)):
        raise conflict(f"a topic named '{body.name}' already exists")
    topic = Topic(workspace_id=workspace.id, name=body.name, label=body.label or body.name.replace("-", " ").title(),
                  kind=body.kind, urgent=body.urgent,
                  keyword=check_keyword_free(session, workspace.id, body.keyword), created_at=now)
    session.add(topic)
    session.commit()
    return topic


@router.patch("/{name}", response_model=TopicOut, summary="Update a topic")
def patch_topic(name: str, body: TopicPatch, session: SessionDep, workspace: WorkspaceDep) -> Topic:
    """Change a topic's label, urgency or keyword (its kind is fixed: consent depends on it)."""
    topic = find_topic(session, workspace.id, name)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("urgent") and topic.kind == "marketing":
        raise invalid("urgent", "a marketing topic cannot be urgent")
    if "keyword" in changes:
        changes["keyword"] = check_keyword_free(session, workspace.id, changes["keyword"], topic.id)
    for key, value in changes.items():
        setattr(topic, key, value)
    session.commit()
    return topic
