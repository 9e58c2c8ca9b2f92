"""The template registry sync: body and language conversion (pure) and POST …/whatsapp/templates/sync."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mannerly.channels.whatsapp_cloud.templates import (
    ExistingTemplate,
    mannerly_body,
    plan_sync,
    primary_language,
    read_remote,
    variable_names,
    whatsapp_shape,
)
from mannerly.models import Channel, Template
from mannerly.templates.render import render_template

from .conftest import add_whatsapp_channel, load_testdata

BODY_CASES = [
    ("Hi {{1}}, your order {{2}} has shipped.", None, "Hi {{ param1 }}, your order {{ param2 }} has shipped."),
    ("Hi {{1}}, your order {{2}} has shipped.", ["first_name", "order_id"],
     "Hi {{ first_name }}, your order {{ order_id }} has shipped."),
    ("{{ 1 }} and {{1}} again, then {{3}}", ["name"], "{{ name }} and {{ name }} again, then {{ param3 }}"),
    ("Γεια σας {{first_name}}, στις {{time}}.", None, "Γεια σας {{ first_name }}, στις {{ time }}."),
    ("Use code {%ABC%} for {{1}}", None, "{% raw %}Use code {%ABC%} for {% endraw %}{{ param1 }}"),
    ("No variables at all.", None, "No variables at all."),
]


@pytest.mark.parametrize(("whatsapp", "names", "expected"), BODY_CASES)
def test_whatsapp_bodies_become_mannerly_bodies(whatsapp, names, expected):
    """{{N}} becomes a named placeholder; literal Jinja syntax is kept literal."""
    assert mannerly_body(whatsapp, names) == expected


def test_converted_bodies_render_to_the_whatsapp_text():
    """Rendering the converted body with the parameters gives what WhatsApp shows for {{1}}, {{2}}."""
    body = mannerly_body("Use code {%ABC%} for {{1}}, {{2}}!")
    assert render_template(body, {"param1": "Ana", "param2": "today"}) == "Use code {%ABC%} for Ana, today!"


SHAPE_CASES = [
    ("Hi {{ first_name | default('there') }}, order {{ order_id }}.", (), "Hi {{1}}, order {{2}}."),
    ("Hi [First Name], order {{ order_id }} for [First Name].", ("first_name",), "Hi {{1}}, order {{2}} for {{1}}."),
    ("[Acme] Hi {{ name }}", (), "[Acme] Hi {{1}}"),
    ("Plain text", (), "Plain text"),
]


@pytest.mark.parametrize(("body", "known", "shape"), SHAPE_CASES)
def test_mannerly_bodies_in_whatsapp_shape(body, known, shape):
    """Variables in order of first use become {{1}}, {{2}} …; unknown brackets stay punctuation."""
    assert whatsapp_shape(body, known) == shape


def test_variable_order_is_first_use():
    """The order the dispatcher passes parameters in."""
    assert variable_names("{{ b }} {{ a }} {{ b }} [C Name]", ["c_name"]) == ["b", "a", "c_name"]


@pytest.mark.parametrize(("code", "language"), [("en_US", "en"), ("pt_BR", "pt"), ("ko", "ko"), ("zh_CN", "zh"),
                                                ("EL", "el")])
def test_primary_language(code, language):
    """The primary subtag, lower case."""
    assert primary_language(code) == language


def test_locales_of_one_language_do_not_collide():
    """The exact code keeps the short language; other locales keep their full code."""
    items = [{"name": "hello", "language": code, "status": "APPROVED", "components": [{"type": "BODY", "text": "Hi"}]}
             for code in ("en_US", "en", "en_GB", "id")]
    remote, skipped = read_remote(items)
    assert {template.language_code: template.language for template in remote} == {
        "en": "en", "en_US": "en_US", "en_GB": "en_GB", "id": "id"}
    assert skipped == []


def existing_rows() -> list[ExistingTemplate]:
    """Rows a workspace might already have."""
    return [
        ExistingTemplate(id=1, name="order_shipped", language="en", whatsapp_name="order_shipped",
                         body="Hi {{ first_name }}, your order {{ order_id }} has shipped.",
                         whatsapp_status="PENDING", category="UTILITY"),
        ExistingTemplate(id=2, name="spring_sale", language="id", whatsapp_name="another_sale",
                         body="Promo!", whatsapp_status="APPROVED", category="MARKETING"),
        ExistingTemplate(id=3, name="old_promo", language="en", whatsapp_name="old_promo", body="Old",
                         whatsapp_status="APPROVED", category="MARKETING"),
    ]


def test_plan_for_the_recorded_listing():
    """Status moves, new rows, a name clash, a vanished template and a media header warning."""
    plan = plan_sync(load_testdata("message_templates.json")["data"], existing_rows())
    assert plan.changes == [{"id": 1, "name": "order_shipped", "language": "en",
                             "changes": {"whatsapp_status": ["PENDING", "APPROVED"]}}]
    assert [(row["name"], row["language"], row["whatsapp_status"], row["body"]) for row in plan.creates] == [
        ("order_shipped", "ko", "APPROVED", "{{ param1 }}님, 주문 {{ param2 }}이(가) 발송되었습니다."),
        ("appointment_reminder", "el", "REJECTED", "Γεια σας {{ first_name }}, το ραντεβού σας είναι στις {{ time }}."),
    ]
    assert [(item["name"], "linked to the WhatsApp template 'another_sale'" in item["reason"])
            for item in plan.skipped] == [("spring_sale", True)]
    assert [item["whatsapp_name"] for item in plan.missing] == ["another_sale", "old_promo"]
    assert plan.languages == {"order_shipped": {"en": "en_US"}}
    assert plan.warnings == [{"name": "spring_sale", "language": "id",
                              "warning": "the header is image media; Mannerly does not attach media"}]


def test_changed_text_keeps_the_rows_own_variable_names():
    """WhatsApp's edited body is converted with the names the row already uses."""
    row = existing_rows()[0]
    items = [{"name": "order_shipped", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
              "components": [{"type": "BODY", "text": "Hello {{1}}! Order {{2}} is on its way."}]}]
    plan = plan_sync(items, [row])
    assert plan.updates == [(1, {"whatsapp_status": "APPROVED",
                                 "body": "Hello {{ first_name }}! Order {{ order_id }} is on its way."})]


def test_same_name_row_without_a_link_gets_linked():
    """A Mannerly template with the WhatsApp template's name and language is linked rather than duplicated."""
    row = ExistingTemplate(id=9, name="hello", language="ko", whatsapp_name=None, body="안녕하세요 {{ name }}!",
                           whatsapp_status=None, category=None)
    items = [{"name": "hello", "language": "ko", "status": "APPROVED", "category": "UTILITY",
              "components": [{"type": "BODY", "text": "안녕하세요 {{1}}!"}]}]
    plan = plan_sync(items, [row])
    assert plan.creates == []
    assert plan.updates == [(9, {"whatsapp_name": "hello", "whatsapp_status": "APPROVED", "category": "UTILITY"})]


def test_unusable_entries_are_skipped_with_reasons():
    """No body, no name, or a name Mannerly cannot hold."""
    items = [{"name": "no_body", "language": "en", "components": [{"type": "HEADER", "text": "x"}]},
             {"language": "en", "components": []},
             {"name": "Bad Name", "language": "en", "components": [{"type": "BODY", "text": "x"}]}]
    plan = plan_sync(items, [])
    assert [item["reason"] for item in plan.skipped] == [
        "the template has no BODY text", "no name or language", "the name is not a valid Mannerly template name"]
    assert plan.creates == []


# -- through the API -----------------------------------------------------------------------------


def test_sync_through_the_api_creates_updates_and_is_idempotent(api, fake_graph):
    """Two pages from the fake become rows; the second sync changes nothing; the language map lands in config."""
    fake_graph.page_size = 2
    fake_graph.add_template("order_shipped", "en_US", "Hi {{1}}, your order {{2}} has shipped.")
    fake_graph.add_template("order_shipped", "ko", "{{1}}님, 주문 {{2}}이(가) 발송되었습니다.")
    fake_graph.add_template("spring_sale", "id", "Diskon {{1}}% untuk {{2}}!", status="PENDING", category="MARKETING")
    channel_id = add_whatsapp_channel(api, fake_graph)
    api.post("/v1/templates", json={"name": "order_shipped", "language": "en", "body":
                                    "Hi {{ first_name }}, your order {{ order_id }} has shipped."})
    response = api.post(f"/v1/channels/{channel_id}/whatsapp/templates/sync")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["fetched"] == 3
    assert [(row["name"], row["language"]) for row in result["created"]] == [("order_shipped", "ko"),
                                                                             ("spring_sale", "id")]
    assert result["updated"][0]["changes"] == {"whatsapp_name": [None, "order_shipped"],
                                               "whatsapp_status": [None, "APPROVED"],
                                               "category": [None, "UTILITY"]}
    assert result["languages"] == {"order_shipped": {"en": "en_US"}}
    with api.runtime.session() as session:
        rows = {(row.name, row.language): row for row in session.scalars(select(Template))}
        assert rows[("spring_sale", "id")].body == "Diskon {{ param1 }}% untuk {{ param2 }}!"
        assert rows[("spring_sale", "id")].category == "MARKETING"
        assert rows[("order_shipped", "en")].body == "Hi {{ first_name }}, your order {{ order_id }} has shipped."
        channel = session.get(Channel, channel_id)
        assert channel.config["template_languages"] == {"order_shipped": {"en": "en_US"}}
        assert channel.config["access_token"] == fake_graph.access_token
    listed = api.get("/v1/templates").json()
    assert {(item["name"], item["language"], item["whatsapp_status"]) for item in listed} == {
        ("order_shipped", "en", "APPROVED"), ("order_shipped", "ko", "APPROVED"), ("spring_sale", "id", "PENDING")}
    again = api.post(f"/v1/channels/{channel_id}/whatsapp/templates/sync").json()
    assert (again["created"], again["updated"], len(again["unchanged"])) == ([], [], 3)
    # WhatsApp approves the sale template: the next sync moves only that status.
    fake_graph.templates[2].status = "APPROVED"
    third = api.post(f"/v1/channels/{channel_id}/whatsapp/templates/sync").json()
    assert [item["changes"] for item in third["updated"]] == [{"whatsapp_status": ["PENDING", "APPROVED"]}]


def test_sync_errors(api, fake_graph):
    """A rejected token is a 502 without the token; no waba_id is a 409; foreign and SMS channels are 404."""
    bad_token = add_whatsapp_channel(api, fake_graph, access_token="EAAG-wrong-token")
    response = api.post(f"/v1/channels/{bad_token}/whatsapp/templates/sync")
    assert response.status_code == 502 and "190" in response.json()["detail"]
    assert "EAAG-wrong-token" not in response.text
    no_waba = add_whatsapp_channel(api, fake_graph, waba_id="")
    assert api.post(f"/v1/channels/{no_waba}/whatsapp/templates/sync").status_code == 409
    with api.runtime.session() as session:
        sms = session.scalar(select(Channel.id).where(Channel.provider == "simulator"))
    assert api.post(f"/v1/channels/{sms}/whatsapp/templates/sync").status_code == 404
    assert api.client.post(f"/v1/channels/{no_waba}/whatsapp/templates/sync").status_code == 401
