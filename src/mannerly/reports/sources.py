"""Where the reports read campaign membership and link clicks (tables of the campaigns part, O6/O8)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.models import Campaign, CampaignRecipient, ShortLink

CHUNK = 500


def clicked_message_ids(session: Session, message_ids: list[int]) -> set[int]:
    """The messages among these with at least one clicked tracked link."""
    found: set[int] = set()
    for start in range(0, len(message_ids), CHUNK):
        chunk = message_ids[start:start + CHUNK]
        found.update(session.scalars(select(ShortLink.message_id).where(
            ShortLink.message_id.in_(chunk), ShortLink.click_count > 0).distinct()))
    return found


def campaign_of(session: Session, workspace_id: int, message_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Message id -> (campaign id, campaign name) for messages sent by a campaign."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(message_ids), CHUNK):
        chunk = message_ids[start:start + CHUNK]
        for message_id, campaign_id, name in session.execute(
            select(CampaignRecipient.message_id, Campaign.id, Campaign.name)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(Campaign.workspace_id == workspace_id, CampaignRecipient.message_id.in_(chunk))
        ):
            found[message_id] = (str(campaign_id), name)
    return found
