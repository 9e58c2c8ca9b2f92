"""Response-time targets (S3): when the next answer is due, and whether it is late.

Targets count business time only: a customer who writes at 23:00 to a team open
09:00–18:00 with a 60-minute first-response target is due an answer at 10:00, not
at midnight. A team without hours counts wall-clock time. Pure code given the rows.
"""

from __future__ import annotations

from datetime import datetime

from mannerly.business_hours.hours import add_open_time
from mannerly.models import Conversation, Team


def response_target_minutes(conversation: Conversation, team: Team | None) -> int | None:
    """The target for the answer the customer is waiting for: first response, or next response."""
    if team is None:
        return None
    if conversation.first_response_at is None:
        return team.first_response_target_minutes
    return team.next_response_target_minutes


def sla_due_at(conversation: Conversation, team: Team | None) -> datetime | None:
    """When the waiting customer is due an answer, or None when nobody waits or no target is set."""
    if conversation.status == "resolved" or conversation.waiting_since is None:
        return None
    target = response_target_minutes(conversation, team)
    if not target:
        return None
    return add_open_time(team, conversation.waiting_since, target)


def is_overdue(conversation: Conversation, team: Team | None, now: datetime) -> bool:
    """True when the answer is due and has not come."""
    due = sla_due_at(conversation, team)
    return due is not None and now > due


def waiting_seconds(conversation: Conversation, now: datetime) -> int | None:
    """How long the customer has waited for an answer, None when not waiting."""
    if conversation.status == "resolved" or conversation.waiting_since is None:
        return None
    return max(0, int((now - conversation.waiting_since).total_seconds()))
