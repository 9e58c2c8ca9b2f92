"""Topics (P1): /v1/topics."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.api.schemas import TopicIn, TopicOut, TopicPatch
from mannerly.topics.service import create_topic, find_topic, update_topic
from mannerly.models import Topic

router = APIRouter(prefix="/v1/topics", tags=["topics"])


@router.get("", response_model=list[TopicOut], summary="List topics")
def list_topics(session: SessionDep, workspace: WorkspaceDep) -> list[Topic]:
    """Every topic of the workspace."""
    return list(session.scalars(select(Topic).where(Topic.workspace_id == workspace.id).order_by(Topic.name)))


@router.post("", status_code=201, response_model=TopicOut, summary="Create a topic")
def post_topic(body: TopicIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> Topic:
    """A new topic; names and keywords are unique within the workspace."""
    topic = create_topic(session, workspace, body.name, kind=body.kind, urgent=body.urgent, keyword=body.keyword,
                         label=body.label, now=now)
    session.commit()
    return topic


@router.patch("/{name}", response_model=TopicOut, summary="Update a topic")
def patch_topic(name: str, body: TopicPatch, session: SessionDep, workspace: WorkspaceDep) -> Topic:
    """Change a topic's label, urgency or keyword (its kind is fixed: consent depends on it)."""
    topic = update_topic(session, find_topic(session, workspace.id, name), body.model_dump(exclude_unset=True))
    session.commit()
    return topic
