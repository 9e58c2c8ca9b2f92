"""Matching Messenger's watermarks to our messages: which mids did we send to a PSID up to a moment?

Messenger's `read` events (and `delivery` events from older clients) name no message;
they carry a watermark meaning "everything the Page sent to this person up to this
timestamp". The Send API answers with a mid but no timestamp, so the moment Meta
stamped a message lies between the start of our hand-off (the `sending` status event,
committed before the request left) and the moment we recorded the answer (`sent_at`).
We count a message as covered when its latest hand-off started at or before the
watermark. Starting the comparison at the hand-off rather than at `sent_at` matters:
a read watermark usually equals the timestamp of the newest message read, which is
earlier than our `sent_at` by the request's round trip, so comparing with `sent_at`
would miss exactly the newest message. The cost is a rare false "read" for a message
whose request was in flight at the watermark (a few hundred milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.models import Contact, Message, MessageStatusEvent

# Never expand one watermark into more updates than this (a long-silent thread).
MAX_MATCHED = 500


class SentLedger(Protocol):
    """Finds the mids of our outbound messages a watermark covers."""

    def mids_up_to(self, psid: str, watermark: datetime, statuses: Iterable[str]) -> list[str]:
        """Provider ids of messages sent to `psid` whose hand-off began at or before `watermark`,
        currently in one of `statuses`."""
        ...


class NoLedger:
    """A ledger that matches nothing (adapters built without a database)."""

    def mids_up_to(self, psid: str, watermark: datetime, statuses: Iterable[str]) -> list[str]:
        """Nothing can be matched without a record of what was sent."""
        return []


class DatabaseSentLedger:
    """The ledger read from Mannerly's own messages table, for one Messenger channel."""

    def __init__(self, session_factory: Callable[[], Session], channel_id: int, workspace_id: int) -> None:
        """Bind to a session factory and the channel whose messages count."""
        self.session_factory = session_factory
        self.channel_id = channel_id
        self.workspace_id = workspace_id

    def mids_up_to(self, psid: str, watermark: datetime, statuses: Iterable[str]) -> list[str]:
        """Mids of this channel's messages to `psid` in `statuses` whose last hand-off began by `watermark`."""
        handoff = (
            select(MessageStatusEvent.message_id, func.max(MessageStatusEvent.occurred_at).label("started_at"))
            .where(MessageStatusEvent.workspace_id == self.workspace_id, MessageStatusEvent.status == "sending")
            .group_by(MessageStatusEvent.message_id)
            .subquery()
        )
        query = (
            select(Message.provider_message_id)
            .join(Contact, Contact.id == Message.contact_id)
            .join(handoff, handoff.c.message_id == Message.id)
            .where(
                Message.workspace_id == self.workspace_id,
                Message.channel_id == self.channel_id,
                Message.direction == "outbound",
                Message.provider_message_id.is_not(None),
                Message.status.in_(list(statuses)),
                Contact.messenger_psid == psid,
                handoff.c.started_at <= watermark,
            )
            .order_by(Message.id)
            .limit(MAX_MATCHED)
        )
        with self.session_factory() as session:
            return [mid for mid in session.scalars(query) if mid]
