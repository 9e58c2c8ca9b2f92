"""The filter format: the text form becomes the JSON form, and bad filters name the bad node."""

from __future__ import annotations

import pytest

from mannerly.segments.filters import SegmentFilterError, parse_text, validate_filter

TEXT_CASES = [
    # (text form, the JSON conditions it stands for)
    ("country:KR,id", [{"country": ["KR", "ID"]}]),
    ("language:ko", [{"language": ["ko"]}]),
    ("tag:vip", [{"tag": ["vip"]}]),
    ("consent:promotions", [{"consent": {"topic": "promotions", "status": "opted_in"}}]),
    ("consent:promotions=unknown", [{"consent": {"topic": "promotions", "status": "unknown"}}]),
    ("inactive>30d", [{"inactive_days": {"gt": 30}}]),
    ("inactive>=30d", [{"inactive_days": {"gte": 30}}]),
    ("inactive<7d", [{"inactive_days": {"lt": 7}}]),
    ("birthday:today", [{"anniversary": {"field": "attributes.birthday", "today_in_contact_zone": True}}]),
    ("anniversary:joined_on", [{"anniversary": {"field": "attributes.joined_on", "today_in_contact_zone": True}}]),
    ("city=Seoul", [{"field": "attributes.city", "op": "eq", "value": "Seoul", "type": "text"}]),
    ('"city=New York"', [{"field": "attributes.city", "op": "eq", "value": "New York", "type": "text"}]),
    ("age>=30", [{"field": "attributes.age", "op": "gte", "value": 30, "type": "number"}]),
    ("score<2.5", [{"field": "attributes.score", "op": "lt", "value": 2.5, "type": "number"}]),
    ("name~kim", [{"field": "name", "op": "contains", "value": "kim"}]),
    ("plan!=free", [{"field": "attributes.plan", "op": "ne", "value": "free", "type": "text"}]),
    ("signup>=2025-01-01", [{"field": "attributes.signup", "op": "gte", "value": "2025-01-01", "type": "date"}]),
    ("purchased<90d", [{"field": "last_purchase_at", "op": "within_days", "value": 90}]),
    ("purchased>365d", [{"field": "last_purchase_at", "op": "older_than_days", "value": 365}]),
    ("-tag:staff", [{"not": {"tag": ["staff"]}}]),
    ("도시=서울", None),  # not an ASCII name: refused below
]

ERROR_CASES = [
    # (JSON filter, path of the bad node)
    ({"all": [{"country": "KR"}, {"field": "attributes.city", "op": "near", "value": "Seoul"}]}, "all[1].op"),
    ({"all": [{"field": "shoe_size", "op": "eq", "value": 42}]}, "all[0].field"),
    ({"any": [{"colour": "red"}]}, "any[0].colour"),
    ({"not": {"country": ["KOR"]}}, "not.country[0]"),
    ({"all": [{"consent": {"topic": "promotions", "status": "maybe"}}]}, "all[0].consent.status"),
    ({"all": [{"inactive_days": {"more": 3}}]}, "all[0].inactive_days.more"),
    ({"all": [{"field": "attributes.age", "op": "between", "value": [1]}]}, "all[0].value"),
    ({"all": [{"field": "attributes.age", "op": "gte", "value": "x", "type": "number"}]}, "all[0].value"),
    ({"all": [{"field": "country", "op": "within_days", "value": 3}]}, "all[0].op"),
    ({"all": [{"field": "created_at", "op": "gte", "value": "yesterday"}]}, "all[0].value"),
    ({"all": "country:KR"}, "all"),
    ({"all": [{"country": "KR"}], "tag": "vip"}, "tag"),
    ({"all": [{"tag": "vip", "country": "KR"}]}, "all[0]"),
    ({"all": [{"anniversary": {"field": "birthday"}}]}, "all[0].anniversary.field"),
]


@pytest.mark.parametrize(("text", "conditions"), [case for case in TEXT_CASES if case[1] is not None])
def test_text_form_reads_as_the_json_form(text, conditions):
    assert parse_text(text) == {"all": conditions}


def test_several_text_conditions_are_all_required():
    assert parse_text("country:KR tag:vip inactive>30d") == {"all": [
        {"country": ["KR"]}, {"tag": ["vip"]}, {"inactive_days": {"gt": 30}}]}


def test_empty_text_matches_everyone():
    assert parse_text("  ") == {}


@pytest.mark.parametrize("text", ["도시=서울", "colour:red", "inactive>soon", 'city="Seoul', "tag:", "consent:=x"])
def test_unreadable_text_is_refused_with_its_position(text):
    with pytest.raises(SegmentFilterError) as raised:
        parse_text(text)
    assert raised.value.path.startswith("text") or raised.value.path.startswith("all[0]")


@pytest.mark.parametrize(("filter_", "path"), ERROR_CASES)
def test_bad_filters_name_the_bad_node(filter_, path):
    with pytest.raises(SegmentFilterError) as raised:
        validate_filter(filter_)
    assert raised.value.path == path


def test_validation_normalizes_single_values_and_case():
    assert validate_filter({"all": [{"country": "kr"}, {"tag": "vip"}, {"language": "KO"}]}) == {
        "all": [{"country": ["KR"]}, {"tag": ["vip"]}, {"language": ["ko"]}]}


def test_a_filter_cannot_grow_without_bound():
    with pytest.raises(SegmentFilterError):
        validate_filter({"any": [{"tag": str(index)} for index in range(201)]})
