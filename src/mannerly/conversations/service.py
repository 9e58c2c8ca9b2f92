"""Conversations: one per contact across every channel (S1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mannerly.models import Contact, Conversation, Message


def conversation_for(session: Session, contact: Contact, now: datetime) -> Conversation:
    """The contact's conversation, created on first use (taking in the contact's earlier messages)."""
    conversation = session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    if conversation is None:
        conversation = Conversation(workspace_id=contact.workspace_id, contact_id=contact.id, status="open",
                                    created_at=now)
        session.add(conversation)
        session.flush()
        # Campaigns and automations write to a million contacts without opening a million
        # conversations; when one of them answers, the message they answer belongs in its history.
        session.execute(update(Message)
                        .where(Message.contact_id == contact.id, Message.conversation_id.is_(None))
                        .values(conversation_id=conversation.id))
    return conversation


def touch_conversation_outbound(session: Session, contact: Contact, now: datetime) -> Conversation:
    """Record an outbound message on the contact's conversation."""
    conversation = conversation_for(session, contact, now)
    conversation.last_message_at = now
    return conversation


def touch_conversation_inbound(session: Session, contact: Contact, now: datetime) -> Conversation:
    """Record a customer's message: unread, and reopened if it was resolved."""
    conversation = conversation_for(session, contact, now)
    conversation.last_message_at = now
    conversation.last_inbound_at = now
    conversation.unread_count = (conversation.unread_count or 0) + 1
    if conversation.status == "resolved":
        conversation.status = "open"
    return conversation
