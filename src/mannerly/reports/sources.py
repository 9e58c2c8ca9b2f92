"""Where the reports read campaign membership and link clicks (tables of the campaigns part, O6/O8).

Until those tables exist these return nothing, so the reports work on their own.
"""

from __future__ import annotations

from sqlalchemy.orm import Session


def clicked_message_ids(session: Session, message_ids: list[int]) -> set[int]:
    """The messages among these with at least one clicked tracked link."""
    return set()


def campaign_of(session: Session, workspace_id: int, message_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Message id -> (campaign id, campaign name) for messages sent by a campaign."""
    return {}
