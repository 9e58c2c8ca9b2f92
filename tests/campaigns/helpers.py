"""A marketing workspace for campaign, segment and link tests: contacts in KR, ID and GR, a template, a segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from mannerly.consent.service import record_consent
from mannerly.models import Contact, Template, Topic, Workspace
from mannerly.segments.service import create_segment
from mannerly.workspaces.service import create_workspace

# Tuesday 4 March 2025, 01:00 UTC: 10:00 in Seoul, 08:00 in Jakarta, 03:00 in Athens (all working days).
START = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """A contact to create: phone, language, tags, attributes, and whether they opted in to promotions."""

    phone: str
    language: str
    first_name: str
    opted_in: bool = True
    tags: tuple[str, ...] = ()
    attributes: dict | None = None
    global_opt_out: bool = False


PEOPLE = [
    Person("+821020000001", "ko", "민준", tags=("vip",), attributes={"city": "Seoul", "birthday": "1990-03-04"}),
    Person("+821020000002", "ko", "서연", attributes={"city": "Busan"}),
    Person("+821020000003", "ko", "지호", opted_in=False),
    Person("+821020000004", "ko", "하은", global_opt_out=True),
    Person("+6281200000005", "id", "Budi", tags=("vip",), attributes={"city": "Jakarta"}),
    Person("+6281200000006", "id", "Siti"),
    Person("+306900000007", "el", "Νίκος", attributes={"city": "Athens"}),
    Person("+306900000008", "el", "Μαρία", tags=("vip",)),
]


@dataclass
class Shop:
    """Handles on the test workspace."""

    workspace_id: int
    topic_id: int
    segment_id: int
    contact_ids: list[int]


def make_shop(runtime, people: list[Person] = PEOPLE, body: str | None = None, name: str = "Shop") -> Shop:
    """A workspace with a marketing topic, a 'sale' template in four languages, the people, and an 'everyone' segment."""
    with runtime.session() as session:
        workspace = create_workspace(session, name, brand_names={"en": "Acme", "ko": "아크미", "id": "Acme", "el": "Acme"},
                                     default_country="KR", default_language="en")
        topic = Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing",
                      keyword="PROMO")
        session.add(topic)
        bodies = {
            "en": body or "Hi {{ first_name }}, spring sale: 20% off at https://shop.example/sale",
            "ko": "{{ first_name }}님, 봄 세일 20% 할인: https://shop.example/sale",
            "id": "Halo {{ first_name }}, diskon 20% di https://shop.example/sale",
            "el": "Γεια σου {{ first_name }}, έκπτωση 20% στο https://shop.example/sale",
        }
        for language, text in bodies.items():
            session.add(Template(workspace_id=workspace.id, name="sale", language=language, body=text,
                                 topic_id=None, variables={"first_name": "friend"}))
        session.flush()
        ids = []
        for person in people:
            contact = Contact(workspace_id=workspace.id, phone=person.phone, language=person.language,
                              first_name=person.first_name, tags=list(person.tags),
                              attributes=dict(person.attributes or {}),
                              country={"+82": "KR", "+62": "ID", "+30": "GR"}[person.phone[:3]],
                              created_at=START, updated_at=START)
            session.add(contact)
            session.flush()
            if person.opted_in:
                record_consent(session, contact, topic, "opted_in", source="import", actor="test", now=START)
            if person.global_opt_out:
                record_consent(session, contact, None, "opted_out", source="keyword", actor="customer", now=START)
            ids.append(contact.id)
        segment = create_segment(session, workspace, "everyone", {}, START)
        session.commit()
        return Shop(workspace.id, topic.id, segment.id, ids)


def workspace_of(session, shop: Shop) -> Workspace:
    """The shop's workspace row."""
    return session.get(Workspace, shop.workspace_id)


def contact_by_phone(session, phone: str) -> Contact:
    """A contact by phone number."""
    return session.scalar(select(Contact).where(Contact.phone == phone))
