"""Live updates: a server-sent events stream that tells pages when the workspace's inbox changed.

The stream looks at the database about once a second, so a message stored by any process
(the web server, a separate worker, a webhook on another node) reaches every open page.
It sends only a small "changed" event; the page then fetches the parts it shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from anyio import to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.models import ConsentEvent, Conversation, ConversationEvent, ConversationNote, CsatResponse, Message

POLL_SECONDS = 1.0
# Browsers reconnect by themselves; a bounded stream never outlives a server shutdown for long.
STREAM_SECONDS = 300.0
KEEPALIVE_EVERY = 15


def workspace_fingerprint(session: Session, workspace_id: int) -> tuple[Any, ...]:
    """A small value that changes whenever a message, conversation or consent of the workspace changes."""
    messages = session.execute(
        select(func.count(Message.id), func.max(Message.id), func.max(Message.updated_at))
        .where(Message.workspace_id == workspace_id)
    ).one()
    conversations = session.execute(
        select(func.count(Conversation.id), func.sum(Conversation.unread_count), func.max(Conversation.last_message_at),
               func.sum(func.length(Conversation.status)), func.sum(func.coalesce(Conversation.assignee_user_id, 0)),
               func.sum(func.coalesce(Conversation.team_id, 0)))
        .where(Conversation.workspace_id == workspace_id)
    ).one()
    consents = session.scalar(select(func.max(ConsentEvent.id)).where(ConsentEvent.workspace_id == workspace_id))
    # Assignments, status changes, notes and CSAT answers have their own tables.
    others = tuple(session.scalar(select(func.max(table.id)).where(table.workspace_id == workspace_id))
                   for table in (ConversationEvent, ConversationNote, CsatResponse))
    return (*messages, *conversations, consents, *others)


def format_event(event: str, data: str) -> str:
    """One server-sent event in wire format."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


async def change_events(read_fingerprint: Callable[[], Any], is_disconnected: Callable[[], Awaitable[bool]], *,
                        poll_seconds: float = POLL_SECONDS, stream_seconds: float = STREAM_SECONDS
                        ) -> AsyncIterator[str]:
    """Yield a "changed" event each time the fingerprint moves, a comment now and then to keep the line open."""
    yield "retry: 2000\n\n"
    last = await to_thread.run_sync(read_fingerprint)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stream_seconds
    quiet_polls = 0
    while loop.time() < deadline:
        await asyncio.sleep(poll_seconds)
        if await is_disconnected():
            return
        current = await to_thread.run_sync(read_fingerprint)
        if current != last:
            last = current
            quiet_polls = 0
            yield format_event("changed", "1")
        else:
            quiet_polls += 1
            if quiet_polls >= KEEPALIVE_EVERY:
                quiet_polls = 0
                yield ": keep-alive\n\n"
