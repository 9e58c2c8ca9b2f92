"""The segment and campaign pages render for a logged-in marketer, and the forms work."""

from __future__ import annotations

import re

from sqlalchemy import select

from mannerly.models import Campaign, Segment
from tests.web.conftest import _fast_password_hashes, admin, agent, marketer, web_app  # noqa: F401


def test_segment_pages_render_count_and_save(marketer):
    page = marketer.get("/segments")
    assert page.status_code == 200 and "New segment" in page.text and 'href="/segments"' in page.text
    counted = marketer.post("/segments/count", {"filter": "country:KR"})
    assert counted.status_code == 200 and "match now" in counted.text
    broken = marketer.post("/segments/count", {"filter": '{"all": [{"country": "KR", "op": "x"}]}'})
    assert "alert-bad" in broken.text
    saved = marketer.post("/segments", {"name": "Koreans", "filter": "country:KR"}, follow_redirects=False)
    assert saved.status_code == 303
    detail = marketer.get(saved.headers["location"])
    assert detail.status_code == 200 and "Koreans" in detail.text and "match right now" in detail.text
    refused = marketer.post("/segments", {"name": "Broken", "filter": "colour:red"})
    assert refused.status_code == 422 and "colour" in refused.text


def test_campaign_pages_preview_launch_and_pause(marketer, runtime):
    marketer.post("/segments", {"name": "Everyone", "filter": ""})
    with runtime.session() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Everyone"))
    listing = marketer.get("/campaigns")
    assert listing.status_code == 200 and "New campaign" in listing.text
    template = re.search(r'<select name="template"><option value="([^"]+)"', listing.text).group(1)
    created = marketer.post("/campaigns", {"name": "Spring", "topic": "promotions", "segment_id": str(segment_id),
                                           "template": template, "throttle_per_minute": "30", "track_links": "on"},
                            follow_redirects=False)
    assert created.status_code == 303, created.text
    preview = marketer.get(created.headers["location"])
    assert preview.status_code == 200
    assert "Preview" in preview.text and "<svg" in preview.text and "By local hour of day" in preview.text
    with runtime.session() as session:
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.name == "Spring"))
    assert marketer.post(f"/campaigns/{campaign_id}/launch", follow_redirects=False).status_code == 303
    running = marketer.get(f"/campaigns/{campaign_id}")
    assert "Results" in running.text and "Pause" in running.text
    assert marketer.post(f"/campaigns/{campaign_id}/pause", follow_redirects=False).status_code == 303
    assert "Resume" in marketer.get(f"/campaigns/{campaign_id}").text


def test_agents_see_campaigns_but_cannot_create_them(agent):
    assert agent.get("/campaigns").status_code == 200
    assert "New campaign" not in agent.get("/campaigns").text
    assert agent.post("/segments", {"name": "x", "filter": ""}).status_code == 403


def test_unknown_campaign_and_segment_pages_are_404(marketer):
    assert marketer.get("/campaigns/999").status_code == 404
    assert marketer.get("/segments/999").status_code == 404
