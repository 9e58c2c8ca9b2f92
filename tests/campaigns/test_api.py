"""The segment and campaign API: counts, 422s that name the bad node, and a campaign from draft to stats."""

from __future__ import annotations

from datetime import timedelta

from tests.campaigns.helpers import PEOPLE


def test_count_an_unsaved_filter_in_either_form(api):
    by_text = api("POST", "/v1/segments/count", json={"text": "country:KR tag:vip"})
    assert by_text.status_code == 200, by_text.text
    assert by_text.json()["count"] == 1 and by_text.json()["sample"][0]["first_name"] == "민준"
    by_json = api("POST", "/v1/segments/count", json={"filter": {"any": [{"country": "ID"}, {"tag": "vip"}]}})
    assert by_json.json()["count"] == 4


def test_an_unknown_operator_is_a_422_naming_the_node(api):
    response = api("POST", "/v1/segments", json={"name": "bad", "filter": {
        "all": [{"country": "KR"}, {"field": "attributes.city", "op": "near", "value": "Seoul"}]}})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "filter.all[1].op"
    assert "near" in body["detail"]


def test_an_unknown_text_condition_is_a_422_with_its_position(api):
    response = api("POST", "/v1/segments/count", json={"text": "country:KR colour:red"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "text[1]"


def test_saved_segments_are_dynamic(api, runtime, shop):
    created = api("POST", "/v1/segments", json={"name": "Korean VIPs", "text": "country:KR tag:vip"})
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]
    assert api("GET", f"/v1/segments/{segment_id}/count").json()["count"] == 1
    from mannerly.models import Contact

    with runtime.session() as session:
        session.get(Contact, shop.contact_ids[1]).tags = ["vip"]
        session.commit()
    assert api("GET", f"/v1/segments/{segment_id}/count").json()["count"] == 2
    assert api("POST", "/v1/segments", json={"name": "Korean VIPs", "text": "tag:x"}).status_code == 409
    assert api("PATCH", f"/v1/segments/{segment_id}", json={"text": "country:GR"}).json()["filter"] == {
        "all": [{"country": ["GR"]}]}
    assert api("DELETE", f"/v1/segments/{segment_id}").status_code == 204
    assert api("GET", f"/v1/segments/{segment_id}").status_code == 404


def test_a_campaign_from_draft_to_statistics(api, runtime, shop, clock):
    created = api("POST", "/v1/campaigns", json={"name": "Spring", "topic": "promotions",
                                                 "segment_id": shop.segment_id, "template": "sale",
                                                 "throttle_per_minute": 100})
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft"
    preview = api("GET", f"/v1/campaigns/{campaign['id']}/preview").json()
    assert preview["eligible"] == 6 and preview["excluded"] == {"consent": 1, "opt_out": 1}
    assert len(preview["schedule"]["by_local_hour"]) == 24
    launched = api("POST", f"/v1/campaigns/{campaign['id']}/launch").json()
    assert launched["status"] == "running" and launched["planned"] == 6 and launched["planning_done"] is False
    assert api("POST", f"/v1/campaigns/{campaign['id']}/launch").status_code == 409
    assert api("POST", f"/v1/campaigns/{campaign['id']}/pause").json()["status"] == "paused"
    assert api("POST", f"/v1/campaigns/{campaign['id']}/resume").json()["status"] == "running"
    from mannerly.outbox.dispatcher import Dispatcher

    clock.advance(seconds=1)  # at 100 a minute the second Seoul message is due 0.6 s after the first
    assert Dispatcher(runtime).run_once().sent == 2  # the two in Seoul
    clock.advance(seconds=5)
    Dispatcher(runtime).run_once()  # delivery receipts
    stats = api("GET", f"/v1/campaigns/{campaign['id']}/stats").json()
    assert stats["recipients"] == len(PEOPLE) and stats["sent"] == 2 and stats["queued"] == 4
    assert stats["excluded"] == {"consent": 1, "opt_out": 1}
    assert stats["daily"][0]["day"] == "2025-03-04"


def test_campaign_input_errors(api, shop):
    bad_topic = api("POST", "/v1/campaigns", json={"name": "x", "topic": "nope", "segment_id": shop.segment_id,
                                                   "template": "sale"})
    assert bad_topic.status_code == 422 and bad_topic.json()["errors"][0]["field"] == "topic"
    bad_throttle = api("POST", "/v1/campaigns", json={"name": "x", "topic": "promotions",
                                                      "segment_id": shop.segment_id, "template": "sale",
                                                      "throttle_per_minute": 0})
    assert bad_throttle.status_code == 422
    assert api("GET", "/v1/campaigns/999").status_code == 404


def test_replies_opt_outs_and_clicks_count_for_the_campaign(api, runtime, shop, clock):
    campaign_id = api("POST", "/v1/campaigns", json={"name": "Spring", "topic": "promotions",
                                                     "segment_id": shop.segment_id, "template": "sale",
                                                     "throttle_per_minute": 100}).json()["id"]
    api("POST", f"/v1/campaigns/{campaign_id}/launch")
    from mannerly.outbox.dispatcher import Dispatcher
    from sqlalchemy import select

    from mannerly.models import ShortLink
    from tests.inbox.helpers import ServiceDesk

    clock.advance(seconds=1)
    Dispatcher(runtime).run_once()
    clock.advance(minutes=2)
    with runtime.session() as session:
        code = session.scalar(select(ShortLink.code).where(ShortLink.contact_id == shop.contact_ids[0]))
    assert api.client.get(f"/l/{code}", follow_redirects=False).status_code == 302
    desk = ServiceDesk(runtime, shop.workspace_id, 0, 0, 0, 0)
    desk.write("좋아요, 감사합니다", sender=PEOPLE[0].phone)
    desk.write("중지", sender=PEOPLE[1].phone)
    clock.advance(timedelta(minutes=1))
    stats = api("GET", f"/v1/campaigns/{campaign_id}/stats").json()
    assert stats["clicks"] == 1 and stats["unique_clicks"] == 1
    assert stats["replies"] == 2 and stats["opt_outs"] == 1
