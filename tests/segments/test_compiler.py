"""The filter compiler on real databases: the same table of filters selects the same contacts on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mannerly.config import Settings
from mannerly.consent.service import record_consent
from mannerly.db import upgrade_database
from mannerly.models import Contact, Topic
from mannerly.runtime import Runtime
from mannerly.segments.compiler import compile_filter
from mannerly.segments.filters import SegmentFilterError, parse_text, validate_filter
from mannerly.segments.service import count_matching, sample_matching
from mannerly.workspaces.service import create_workspace

# Tuesday 4 March 2025, 16:00 UTC: already 5 March in Seoul (01:00), still 4 March in Athens (18:00).
NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# name: (phone, language, tags, attributes, last inbound, last purchase, promotions consent)
CONTACTS = {
    "minjun": ("+821020000001", "ko", ["vip"], {"city": "Seoul", "age": 34, "birthday": "1990-03-05"},
               NOW - 2 * DAY, None, "opted_in"),
    "seoyeon": ("+821020000002", "ko", [], {"city": "Busan", "age": "unknown", "birthday": "1988-03-04",
                                         "score": "40"},
                None, NOW - 40 * DAY, "opted_out"),
    "budi": ("+6281200000005", "id", ["vip", "gold"], {"city": "Jakarta", "age": 22, "vip": True, "score": 40},
             NOW - 100 * DAY, NOW - 200 * DAY, "opted_in"),
    "nikos": ("+306900000007", "el", ["staff"], {"city": "Athens", "birthday": "1975-03-04", "zip": "10558",
                                                 "score": [40]},
              None, None, None),
    "maria": ("+306900000008", "el", [], {"age": 51.5, "signup": "2025-01-15", "vip": False},
              NOW - 31 * DAY, NOW - 10 * DAY, None),
}

CASES = [
    # (filter as text or JSON, names expected)
    ("", {"minjun", "seoyeon", "budi", "nikos", "maria"}),
    ("country:KR", {"minjun", "seoyeon"}),
    ("country:KR,GR", {"minjun", "seoyeon", "nikos", "maria"}),
    ("language:id", {"budi"}),
    ("tag:vip", {"minjun", "budi"}),
    ("tag:gold,staff", {"budi", "nikos"}),
    ("-tag:vip", {"seoyeon", "nikos", "maria"}),
    ("consent:promotions", {"minjun", "budi"}),
    ("consent:promotions=opted_out", {"seoyeon"}),
    ("consent:promotions=unknown", {"nikos", "maria"}),
    ("inactive>=30d", {"nikos", "budi", "seoyeon"}),  # a purchase 40 days ago is no activity now
    ("inactive<7d", {"minjun"}),
    ("city=Seoul", {"minjun"}),
    ("city~se", {"minjun"}),
    ("city!=Seoul", {"seoyeon", "budi", "nikos", "maria"}),
    ("age>=30", {"minjun", "maria"}),  # "unknown" is not a number and never compares
    ("age<30", {"budi"}),
    ("signup>=2025-01-01", {"maria"}),
    ("zip=10558", {"nikos"}),
    ({"field": "attributes.zip", "op": "eq", "value": 10558, "type": "text"}, {"nikos"}),
    ({"field": "attributes.vip", "op": "eq", "value": True}, {"budi"}),
    ({"field": "attributes.vip", "op": "eq", "value": False}, {"maria"}),
    ({"field": "attributes.vip", "op": "ne", "value": True}, {"minjun", "seoyeon", "nikos", "maria"}),
    ({"field": "attributes.age", "op": "ne", "value": 34}, {"seoyeon", "budi", "nikos", "maria"}),
    ({"field": "attributes.city", "op": "not_in", "value": ["Seoul", "Busan"]}, {"budi", "nikos", "maria"}),
    ({"field": "attributes.age", "op": "between", "value": [20, 40]}, {"minjun", "budi"}),
    ({"field": "attributes.city", "op": "in", "value": ["Seoul", "Athens"]}, {"minjun", "nikos"}),
    ({"field": "attributes.city", "op": "missing"}, {"maria"}),
    ({"field": "attributes.city", "op": "exists"}, {"minjun", "seoyeon", "budi", "nikos"}),
    ({"field": "attributes.city", "op": "starts_with", "value": "ja"}, {"budi"}),
    # Numbers: a list holding 40 is not the number 40; digits stored as text equal it, never compare.
    ("score>=30", {"budi"}),
    ("score=40", {"budi", "seoyeon"}),
    ({"field": "attributes.score", "op": "in", "value": [39, 40]}, {"budi", "seoyeon"}),
    ({"field": "attributes.score", "op": "ne", "value": 40}, {"minjun", "nikos", "maria"}),
    ({"field": "attributes.score", "op": "between", "value": [40, 40]}, {"budi"}),
    ({"not": {"field": "attributes.score", "op": "lt", "value": 41}}, {"minjun", "seoyeon", "nikos", "maria"}),
    ("purchased<90d", {"seoyeon", "maria"}),
    ("purchased>90d", {"budi"}),
    ({"field": "last_purchase_at", "op": "between", "value": ["2025-01-01", "2025-02-01"]}, {"seoyeon"}),
    ({"field": "last_inbound_at", "op": "missing"}, {"seoyeon", "nikos"}),
    # Birthdays "today where the contact is": 5 March in Seoul, 4 March in Athens.
    ("birthday:today", {"minjun", "nikos"}),
    ({"anniversary": {"field": "attributes.birthday", "today_in_contact_zone": False}}, {"seoyeon", "nikos"}),
    ({"any": [{"country": "ID"}, {"tag": "staff"}]}, {"budi", "nikos"}),
    ({"all": [{"country": "KR"}], "not": {"consent": {"topic": "promotions"}}}, {"seoyeon"}),
    ({"any": [{"all": [{"country": "KR"}, {"tag": "vip"}]}, {"field": "attributes.age", "op": "gt", "value": 50}]},
     {"minjun", "maria"}),
    ("country:KR birthday:today consent:promotions", {"minjun"}),
]


def seed(runtime: Runtime) -> dict[int, str]:
    """Two workspaces (the other one must never leak in); returns contact id -> name for the first."""
    names = {}
    with runtime.session() as session:
        workspace = create_workspace(session, "Shop")
        other = create_workspace(session, "Other shop")
        topic = Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing")
        session.add(topic)
        # The other workspace has a topic of the same name with a consent: counts must not include it.
        other_topic = Topic(workspace_id=other.id, name="promotions", label="Promotions", kind="marketing")
        stranger = Contact(workspace_id=other.id, phone="+821099999999", country="KR", tags=["vip"],
                           attributes={"city": "Seoul", "age": 40, "score": 40})
        session.add_all([other_topic, stranger])
        session.flush()
        record_consent(session, stranger, other_topic, "opted_in", source="import", actor="test", now=NOW - 60 * DAY)
        for name, (phone, language, tags, attributes, inbound, purchase, consent) in CONTACTS.items():
            contact = Contact(workspace_id=workspace.id, phone=phone, language=language, tags=tags,
                              attributes=attributes, first_name=name, name=name.capitalize(),
                              country={"+82": "KR", "+62": "ID", "+30": "GR"}[phone[:3]], last_inbound_at=inbound)
            session.add(contact)
            session.flush()
            if consent:
                record_consent(session, contact, topic, consent, source="import", actor="test", now=NOW - 60 * DAY)
            # record_consent sets the relationship date; the table's purchase date wins.
            contact.prior_relationship_at = purchase
            names[contact.id] = name
        session.commit()
        return {"workspace_id": workspace.id, "names": names}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, settings, clock):
    """A seeded database of each kind (PostgreSQL skips when the server is absent)."""
    if request.param == "sqlite":
        runtime = Runtime.create(settings, clock=clock)
    else:
        url = request.getfixturevalue("postgres_url")
        upgrade_database(url)
        runtime = Runtime.create(Settings(database_url=url), clock=clock)
    try:
        yield runtime, seed(runtime)
    finally:
        runtime.close()


def as_filter(case):
    """The validated JSON filter of a case."""
    return parse_text(case) if isinstance(case, str) else validate_filter(case)


def test_every_filter_selects_the_same_contacts_on_both_databases(database):
    runtime, seeded = database
    failures = []
    with runtime.session() as session:
        dialect = session.get_bind().dialect.name
        for case, expected in CASES:
            compiled = compile_filter(as_filter(case), dialect=dialect, now=NOW, workspace_id=seeded["workspace_id"])
            found = {seeded["names"][contact.id] for contact in sample_matching(session, compiled, 100)}
            count = count_matching(session, compiled)
            if found != expected or count != len(expected):
                failures.append(f"{case!r}: got {sorted(found)} (count {count}), expected {sorted(expected)}")
    assert not failures, "\n".join(failures)


def test_a_birthday_in_the_contacts_zone_cannot_hide_inside_any_or_not():
    with pytest.raises(SegmentFilterError) as raised:
        compile_filter(validate_filter({"not": {"anniversary": {"field": "attributes.birthday"}}}),
                       dialect="sqlite", now=NOW, workspace_id=1)
    assert raised.value.path == "not.anniversary"


def test_29_february_is_celebrated_on_28_february_in_other_years():
    from mannerly.segments.compiler import month_days

    assert month_days(datetime(2025, 2, 28).date()) == ["02-28", "02-29"]
    assert month_days(datetime(2024, 2, 28).date()) == ["02-28"]
