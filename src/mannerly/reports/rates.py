"""Message outcome rates, counted in Python from plain rows so the same numbers come out on SQLite and PostgreSQL.

Definitions (per outbound message created in the period):
- sent: handed to a provider (status sent, delivered, read, undelivered, failed after hand-off, unknown);
- delivered: status delivered or read;            delivery rate = delivered / sent
- responded: the contact wrote in within RESPONSE_WINDOW after it went;   response rate = responded / sent
- opted out: the contact opted out (globally or of the message's topic) within RESPONSE_WINDOW;
  opt-out rate = opted out / sent
- clicked: at least one tracked link of the message was clicked;          click rate = clicked / sent
Rejected, pending and deferred messages are counted apart (`not_sent`), never in a rate.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.models import ConsentEvent, Message, Topic
from mannerly.models.automation import Automation, AutomationRun

RESPONSE_WINDOW = timedelta(hours=72)
SENT_STATUSES = frozenset({"sent", "delivered", "read", "undelivered", "failed", "unknown"})
DELIVERED_STATUSES = frozenset({"delivered", "read"})
GROUPINGS = ("topic", "automation", "campaign")
CHUNK = 500


@dataclass
class OutboundRow:
    """What the rates need of one outbound message."""

    id: int
    contact_id: int
    topic_id: int | None
    status: str
    at: datetime  # when it went (sent_at), else when it was created
    created_at: datetime
    sent_after_handoff: bool


@dataclass
class Counts:
    """Counts behind the rates of one group (or one group on one day)."""

    sent: int = 0
    delivered: int = 0
    responded: int = 0
    opted_out: int = 0
    clicked: int = 0
    not_sent: int = 0

    def add(self, other: Counts) -> None:
        """Add another count to this one."""
        for name in ("sent", "delivered", "responded", "opted_out", "clicked", "not_sent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rate(self, name: str) -> float | None:
        """A count divided by `sent` (None when nothing was sent), rounded to four places."""
        return round(getattr(self, name) / self.sent, 4) if self.sent else None

    def as_dict(self) -> dict[str, int | float | None]:
        """Counts and rates in one flat dict."""
        return {"sent": self.sent, "delivered": self.delivered, "responded": self.responded,
                "opted_out": self.opted_out, "clicked": self.clicked, "not_sent": self.not_sent,
                "delivery_rate": self.rate("delivered"), "response_rate": self.rate("responded"),
                "opt_out_rate": self.rate("opted_out"), "click_rate": self.rate("clicked")}


@dataclass
class GroupRates:
    """The rates of one campaign, automation or topic over the period, and per day."""

    grouping: str
    key: str  # the campaign, automation or topic id as text ("" for messages without one)
    label: str
    total: Counts = field(default_factory=Counts)
    days: dict[str, Counts] = field(default_factory=dict)  # ISO date (UTC) -> counts


def _chunks(values: list[int]) -> Iterable[list[int]]:
    """Slices of at most CHUNK values, so every database accepts the IN list."""
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def outbound_rows(session: Session, workspace_id: int, since: datetime, until: datetime) -> list[OutboundRow]:
    """Outbound messages created in [since, until)."""
    query = select(Message.id, Message.contact_id, Message.topic_id, Message.status, Message.sent_at,
                   Message.created_at).where(
        Message.workspace_id == workspace_id, Message.direction == "outbound",
        Message.created_at >= since, Message.created_at < until)
    rows = []
    for row in session.execute(query):
        rows.append(OutboundRow(id=row.id, contact_id=row.contact_id, topic_id=row.topic_id, status=row.status,
                                at=row.sent_at or row.created_at, created_at=row.created_at,
                                sent_after_handoff=row.sent_at is not None))
    return rows


def _times_by_contact(pairs: Iterable[tuple[int, datetime]]) -> dict[int, list[datetime]]:
    """Sorted moments per contact."""
    found: dict[int, list[datetime]] = defaultdict(list)
    for contact_id, moment in pairs:
        found[contact_id].append(moment)
    for moments in found.values():
        moments.sort()
    return found


def _within(moments: list[datetime], start: datetime, window: timedelta) -> bool:
    """True when one of the sorted moments lies in [start, start + window)."""
    index = bisect.bisect_left(moments, start)
    return index < len(moments) and moments[index] < start + window


def reactions(session: Session, rows: list[OutboundRow], until: datetime) -> tuple[
        dict[int, list[datetime]], dict[tuple[int, int | None], list[datetime]]]:
    """Inbound message times per contact, and opt-out times per (contact, topic id or None = global)."""
    contact_ids = sorted({row.contact_id for row in rows})
    if not rows:
        return {}, {}
    since = min(row.at for row in rows)
    inbound: list[tuple[int, datetime]] = []
    optouts: list[tuple[tuple[int, int | None], datetime]] = []
    for chunk in _chunks(contact_ids):
        inbound.extend(session.execute(select(Message.contact_id, Message.created_at).where(
            Message.contact_id.in_(chunk), Message.direction == "inbound", Message.created_at >= since,
            Message.created_at < until + RESPONSE_WINDOW)))
        optouts.extend(((contact_id, topic_id), occurred_at) for contact_id, topic_id, occurred_at in session.execute(
            select(ConsentEvent.contact_id, ConsentEvent.topic_id, ConsentEvent.occurred_at).where(
                ConsentEvent.contact_id.in_(chunk), ConsentEvent.status == "opted_out",
                ConsentEvent.occurred_at >= since, ConsentEvent.occurred_at < until + RESPONSE_WINDOW)))
    return _times_by_contact(inbound), _times_by_contact(optouts)  # type: ignore[arg-type]


def count_message(row: OutboundRow, inbound: dict[int, list[datetime]],
                  optouts: dict[tuple[int, int | None], list[datetime]], clicked: set[int]) -> Counts:
    """The counts one message contributes."""
    if row.status not in SENT_STATUSES or (row.status == "failed" and not row.sent_after_handoff):
        return Counts(not_sent=1)
    counts = Counts(sent=1, delivered=int(row.status in DELIVERED_STATUSES), clicked=int(row.id in clicked))
    counts.responded = int(_within(inbound.get(row.contact_id, []), row.at, RESPONSE_WINDOW))
    counts.opted_out = int(_within(optouts.get((row.contact_id, None), []), row.at, RESPONSE_WINDOW)
                           or (row.topic_id is not None
                               and _within(optouts.get((row.contact_id, row.topic_id), []), row.at, RESPONSE_WINDOW)))
    return counts


# Campaign and click data come from the campaigns part (O6/O8); these hooks read them when present.
ClickedIds = Callable[[Session, list[int]], set[int]]
CampaignOf = Callable[[Session, int, list[int]], dict[int, tuple[str, str]]]


def no_clicks(_session: Session, _message_ids: list[int]) -> set[int]:
    """Used while no tracked-link table exists: nothing was clicked."""
    return set()


def no_campaigns(_session: Session, _workspace_id: int, _message_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Used while no campaign table exists: no message belongs to a campaign."""
    return {}


def topic_groups(session: Session, workspace_id: int, rows: list[OutboundRow]) -> dict[int, tuple[str, str]]:
    """Message id -> (topic id, topic label)."""
    labels = {topic_id: label for topic_id, label in session.execute(
        select(Topic.id, Topic.label).where(Topic.workspace_id == workspace_id))}
    return {row.id: (str(row.topic_id or ""), labels.get(row.topic_id, "No topic")) for row in rows}


def automation_groups(session: Session, workspace_id: int, rows: list[OutboundRow]) -> dict[int, tuple[str, str]]:
    """Message id -> (automation id, automation name), for messages an automation sent."""
    found: dict[int, tuple[str, str]] = {}
    ids = [row.id for row in rows]
    for chunk in _chunks(ids):
        for message_id, automation_id, name in session.execute(
            select(AutomationRun.message_id, Automation.id, Automation.name)
            .join(Automation, Automation.id == AutomationRun.automation_id)
            .where(AutomationRun.message_id.in_(chunk))
        ):
            found[message_id] = (str(automation_id), name)
    return found


def group_rates(session: Session, workspace_id: int, grouping: str, since: datetime, until: datetime, *,
                clicked_ids: ClickedIds = no_clicks, campaign_of: CampaignOf = no_campaigns) -> list[GroupRates]:
    """Rates per campaign, automation or topic for messages created in [since, until), with a per-day series."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}")
    rows = outbound_rows(session, workspace_id, since, until)
    if grouping == "topic":
        groups = topic_groups(session, workspace_id, rows)
    elif grouping == "automation":
        groups = automation_groups(session, workspace_id, rows)
    else:
        groups = campaign_of(session, workspace_id, [row.id for row in rows])
    rows = [row for row in rows if row.id in groups]
    inbound, optouts = reactions(session, rows, until)
    clicked = clicked_ids(session, [row.id for row in rows]) if rows else set()
    result: dict[str, GroupRates] = {}
    for row in rows:
        key, label = groups[row.id]
        group = result.setdefault(key, GroupRates(grouping=grouping, key=key, label=label))
        counts = count_message(row, inbound, optouts, clicked)
        group.total.add(counts)
        group.days.setdefault(row.created_at.date().isoformat(), Counts()).add(counts)
    return sorted(result.values(), key=lambda group: (-group.total.sent, group.label))
