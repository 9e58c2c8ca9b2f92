"""Checking and sending messages: /v1/messages."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.api.schemas import DecisionOut, MessageIn, MessageOut, Page
from mannerly.errors import conflict, not_found
from mannerly.messages.service import OutboundIntent, check, submit
from mannerly.models import IdempotencyKey, Message, Topic, Workspace

router = APIRouter(prefix="/v1/messages", tags=["messages"])


def intent_of(body: MessageIn) -> OutboundIntent:
    """The service's intent for an API body."""
    return OutboundIntent(topic=body.topic, contact_id=body.contact_id, to=body.to, text=body.text,
                          template=body.template, data=body.data, language=body.language,
                          channel=body.channel, reply=body.reply)


def message_out(session, message: Message) -> MessageOut:
    """The API form of a stored message."""
    topic = session.get(Topic, message.topic_id) if message.topic_id else None
    return MessageOut(
        id=message.id, contact_id=message.contact_id, conversation_id=message.conversation_id,
        direction=message.direction, channel=message.channel_kind, topic=topic.name if topic else None,
        source=message.source, body=message.body, final_text=message.final_text, status=message.status,
        status_detail=message.status_detail, send_at=message.send_at, segments=message.segments,
        encoding=message.encoding, provider_message_id=message.provider_message_id, error_code=message.error_code,
        created_at=message.created_at, sent_at=message.sent_at, delivered_at=message.delivered_at,
        decision=DecisionOut.model_validate(message.decision) if message.decision else None,
    )


@router.post("/check", response_model=DecisionOut, summary="Dry run: what would the engine decide?")
def post_check(body: MessageIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> DecisionOut:
    """The decision for this message, without storing or sending anything; `at` evaluates as if now were that instant."""
    decision = check(session, workspace, intent_of(body), body.at or now)
    return DecisionOut.model_validate(decision.as_dict())


def request_hash(body: MessageIn) -> str:
    """A stable fingerprint of a request body, to tell a retry from a different request."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(stored: IdempotencyKey, fingerprint: str) -> JSONResponse:
    """The first response to this key again, or a 409 when the body differs."""
    if stored.request_hash != fingerprint:
        raise conflict("this Idempotency-Key was used with a different request body")
    return JSONResponse(stored.response_body, status_code=stored.response_status,
                        headers={"Idempotent-Replayed": "true"})


def stored_key(session, workspace: Workspace, key: str) -> IdempotencyKey | None:
    """The workspace's stored answer for an idempotency key."""
    return session.scalar(select(IdempotencyKey).where(IdempotencyKey.workspace_id == workspace.id,
                                                       IdempotencyKey.key == key))


@router.post("", status_code=201, response_model=MessageOut, summary="Send a message",
             responses={409: {"description": "Idempotency-Key reused with another body"}})
def post_message(body: MessageIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep,
                 idempotency_key: str | None = Header(None, max_length=255,
                                                      description="Same key and body → the same response and one message")):
    """Decide and queue a message. The response carries the decision: `pending` (goes now), `deferred` (goes at send_at) or `rejected` (with reasons)."""
    fingerprint = request_hash(body)
    if idempotency_key:
        existing = stored_key(session, workspace, idempotency_key)
        if existing is not None:
            return replay(existing, fingerprint)
    message = submit(session, workspace, intent_of(body), now, not_before=body.at)
    out = message_out(session, message)
    if not idempotency_key:
        session.commit()
        return out
    payload = out.model_dump(mode="json")
    session.add(IdempotencyKey(workspace_id=workspace.id, key=idempotency_key, request_hash=fingerprint,
                               response_status=201, response_body=payload, message_id=message.id, created_at=now))
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won; this one's message is rolled back with it.
        session.rollback()
        return replay(stored_key(session, workspace, idempotency_key), fingerprint)
    return JSONResponse(payload, status_code=201)


@router.get("/{message_id}", response_model=MessageOut, summary="Get a message")
def get_message(message_id: int, session: SessionDep, workspace: WorkspaceDep) -> MessageOut:
    """One message with its decision and delivery status."""
    message = session.get(Message, message_id)
    if message is None or message.workspace_id != workspace.id:
        raise not_found("message", message_id)
    return message_out(session, message)


@router.get("", response_model=Page[MessageOut], summary="List messages")
def list_messages(session: SessionDep, workspace: WorkspaceDep, limit: int = Query(50, ge=1, le=500),
                  cursor: int | None = None, contact_id: int | None = None,
                  status: str | None = None) -> Page[MessageOut]:
    """Messages, newest first, a page at a time."""
    query = select(Message).where(Message.workspace_id == workspace.id).order_by(Message.id.desc())
    if cursor is not None:
        query = query.where(Message.id < cursor)
    if contact_id is not None:
        query = query.where(Message.contact_id == contact_id)
    if status:
        query = query.where(Message.status == status)
    rows = session.scalars(query.limit(limit + 1)).all()
    page = rows[:limit]
    return Page(items=[message_out(session, row) for row in page],
                next_cursor=page[-1].id if len(rows) > limit else None)
