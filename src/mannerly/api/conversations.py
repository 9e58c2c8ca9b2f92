"""The conversation history, one per contact across channels: /v1/conversations."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from mannerly.api.deps import SessionDep, WorkspaceDep
from mannerly.api.messages import message_out
from mannerly.api.schemas import ConversationDetail, ConversationOut, Page
from mannerly.errors import not_found
from mannerly.models import Contact, Conversation, Message

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


def conversation_out(conversation: Conversation, contact: Contact) -> dict:
    """The summary fields of a conversation."""
    return dict(
        id=conversation.id, contact_id=contact.id, contact_name=contact.name, contact_phone=contact.phone,
        status=conversation.status, assignee_user_id=conversation.assignee_user_id,
        unread_count=conversation.unread_count, last_message_at=conversation.last_message_at,
        last_inbound_at=conversation.last_inbound_at, created_at=conversation.created_at,
    )


@router.get("", response_model=Page[ConversationOut], summary="List conversations")
def list_conversations(session: SessionDep, workspace: WorkspaceDep, limit: int = Query(50, ge=1, le=500),
                       cursor: int | None = None,
                       status: str | None = Query(None, pattern="^(open|pending|resolved)$")) -> Page[ConversationOut]:
    """Conversations, newest id first, a page at a time."""
    query = (select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
             .where(Conversation.workspace_id == workspace.id).order_by(Conversation.id.desc()))
    if cursor is not None:
        query = query.where(Conversation.id < cursor)
    if status:
        query = query.where(Conversation.status == status)
    rows = session.execute(query.limit(limit + 1)).all()
    page = rows[:limit]
    return Page(items=[ConversationOut(**conversation_out(conv, contact)) for conv, contact in page],
                next_cursor=page[-1][0].id if len(rows) > limit else None)


@router.get("/{conversation_id}", response_model=ConversationDetail, summary="Get a conversation")
def get_conversation(conversation_id: int, session: SessionDep, workspace: WorkspaceDep) -> ConversationDetail:
    """A conversation with every message in and out, on every channel, oldest first."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.workspace_id != workspace.id:
        raise not_found("conversation", conversation_id)
    contact = session.get(Contact, conversation.contact_id)
    messages = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                               .order_by(Message.created_at, Message.id)).all()
    return ConversationDetail(**conversation_out(conversation, contact),
                              messages=[message_out(session, message) for message in messages])
