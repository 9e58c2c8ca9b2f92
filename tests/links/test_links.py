"""Tracked links: URLs become one short link per recipient; a click redirects and is counted; unknown codes get a 404 page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mannerly.links.service import LinkBatch, rewrite_links, shorten_text
from mannerly.models import LinkClick, ShortLink
from mannerly.policy.lint.link import has_foreign_link
from tests.campaigns.helpers import START

REWRITE_CASES = [
    # (text, text after rewriting with "S")
    ("Sale at https://shop.example/sale.", "Sale at S."),
    ("See www.shop.example/a?b=1, then reply", "See S, then reply"),
    ("Two: https://a.example/x and shop.example/y!", "Two: S and S!"),
    ("Already short: https://go.acme.test/l/abc", "Already short: https://go.acme.test/l/abc"),
    ("(https://shop.example/p)", "(S)"),
    ("세일 https://shop.example/kr 확인하세요", "세일 S 확인하세요"),
    ("No link here, just 3.5 percent.", "No link here, just 3.5 percent."),
]


@pytest.mark.parametrize(("text", "expected"), REWRITE_CASES)
def test_urls_are_replaced_and_sentence_punctuation_stays(text, expected):
    assert rewrite_links(text, lambda url: "S", skip_prefix="https://go.acme.test/l/") == expected


def test_scheme_less_urls_are_stored_with_https():
    seen = []
    rewrite_links("www.shop.example/a", lambda url: seen.append(url) or "S")
    assert seen == ["https://www.shop.example/a"]


def test_each_recipient_gets_its_own_code():
    batch = LinkBatch(base_url="https://go.acme.test", workspace_id=1, campaign_id=1, now=START)
    first = batch.rewrite(1, 1, "https://shop.example/sale")
    second = batch.rewrite(2, 2, "https://shop.example/sale")
    assert first != second and first.startswith("https://go.acme.test/l/")
    assert [row["url"] for rows in batch.pending.values() for row in rows] == ["https://shop.example/sale"] * 2


def test_the_short_link_domain_counts_as_the_business_own(runtime, shop):
    from mannerly.campaigns.service import create_campaign, load_context
    from mannerly.models import Workspace

    text = "Sale: https://go.acme.test/l/AbCdEfGhIj"
    assert has_foreign_link(text, ())
    with runtime.session() as session:
        campaign = create_campaign(session, session.get(Workspace, shop.workspace_id), {
            "name": "c", "topic": "promotions", "segment_id": shop.segment_id, "template": "sale"}, START)
        policy = load_context(session, runtime.settings, campaign, START).policy
    assert "go.acme.test" in policy.tracked_link_domains
    assert not has_foreign_link(text, policy.tracked_link_domains)


def test_a_click_redirects_and_is_counted(runtime, shop, api, clock):
    with runtime.session() as session:
        text, links = shorten_text(session, "https://go.acme.test", shop.workspace_id, "Go https://shop.example/x",
                                   START, contact_id=shop.contact_ids[0])
        session.commit()
        code = links[0].code
    assert text == f"Go https://go.acme.test/l/{code}"
    client = api.client
    first = client.get(f"/l/{code}", follow_redirects=False, headers={"User-Agent": "Phone/1.0"})
    assert first.status_code == 302 and first.headers["location"] == "https://shop.example/x"
    clock.advance(minutes=5)
    assert client.get(f"/l/{code}", follow_redirects=False).status_code == 302
    # A link preview asks with HEAD: answered, not counted.
    assert client.head(f"/l/{code}", follow_redirects=False).status_code == 302
    with runtime.session() as session:
        link = session.scalar(select(ShortLink).where(ShortLink.code == code))
        assert link.click_count == 2
        assert link.first_clicked_at == START and link.last_clicked_at == START + timedelta(minutes=5)
        clicks = list(session.scalars(select(LinkClick).order_by(LinkClick.id)))
        assert [click.user_agent for click in clicks] == ["Phone/1.0", "testclient"]


@pytest.mark.parametrize("code", ["nope", "A" * 10, "x" * 40])
def test_an_unknown_code_gets_a_friendly_404_page(api, runtime, code):
    response = api.client.get(f"/l/{code}", follow_redirects=False)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "This link does not exist" in response.text
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(LinkClick)) == 0
