"""The demo workspace: complete, valid, idempotent, and its API key kept next to the database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from mannerly.config import Settings
from mannerly.consent.service import current_consents
from mannerly.demo import (
    DEMO_CONTACTS,
    DEMO_TEMPLATES,
    demo_api_key,
    demo_key_file,
    ensure_demo_workspace,
)
from mannerly.kit.phones import parse_phone
from mannerly.models import ApiKey, ConsentEvent, Contact, Template, Topic, Workspace
from mannerly.workspaces.service import authenticate_api_key


def table_counts(session) -> dict[str, int]:
    """Row counts of the tables the demo fills."""
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Workspace, Topic, Template, Contact, ConsentEvent, ApiKey)}


def test_demo_contacts_are_valid_numbers_in_the_four_countries():
    countries = [parse_phone(spec.phone).country for spec in DEMO_CONTACTS]
    assert set(countries) == {"KR", "ID", "GR", "US"}
    florida = [spec for spec in DEMO_CONTACTS if parse_phone(spec.phone).subdivision == "FL"]
    assert florida and all(spec.phone.startswith("+1305") for spec in florida)
    for spec in DEMO_CONTACTS:
        assert parse_phone(spec.phone).e164 == spec.phone


def test_templates_cover_every_language_with_both_placeholder_styles():
    languages = {(name, language) for name, _topic, language, _body, _defaults in DEMO_TEMPLATES}
    assert languages == {(name, language) for name in ("order_shipped", "appointment_reminder")
                         for language in ("en", "ko", "id", "el")}
    for name, _topic, _language, body, _defaults in DEMO_TEMPLATES:
        if name == "order_shipped":
            assert "{{ first_name }}" in body and "{{ order_id }}" in body
        else:
            assert "[First Name]" in body and "{{ time }}" in body


def test_demo_workspace_has_topics_contacts_and_consents(runtime):
    with runtime.session() as session:
        workspace, key = ensure_demo_workspace(session, runtime.now())
        session.commit()
        assert key is not None and authenticate_api_key(session, key, runtime.now())[0].id == workspace.id
        assert workspace.brand_names == {"en": "Demo Shop", "ko": "데모샵", "id": "Toko Demo", "el": "Demo Shop"}
        topics = {topic.name: topic for topic in session.scalars(select(Topic))}
        assert set(topics) == {"service", "orders", "appointments", "billing", "security-alerts", "promotions"}
        assert topics["security-alerts"].urgent and topics["promotions"].keyword == "PROMO"
        assert topics["promotions"].kind == "marketing"
        contacts = {contact.phone: contact for contact in session.scalars(select(Contact))}
        assert len(contacts) == len(DEMO_CONTACTS)
        for spec in DEMO_CONTACTS:
            contact = contacts[spec.phone]
            assert contact.global_opt_out is spec.opted_out
            assert (contact.prior_relationship_at is not None) is spec.customer
            expected = {"promotions": "opted_in"} if spec.promotions else {}
            assert current_consents(session, contact) == expected
        events = session.scalars(select(ConsentEvent)).all()
        assert {(event.source, event.actor) for event in events} == {("import", "demo")}


def test_ensure_demo_workspace_is_idempotent(runtime):
    with runtime.session() as session:
        first, key = ensure_demo_workspace(session, runtime.now())
        session.commit()
        counts = table_counts(session)
        second, again = ensure_demo_workspace(session, runtime.now())
        session.commit()
        assert second.id == first.id and again is None
        assert table_counts(session) == counts


def test_demo_api_key_is_kept_next_to_the_database_and_reused(runtime, settings):
    path = demo_key_file(settings)
    assert path == Path(settings.database_url.removeprefix("sqlite:///")).parent / "demo-api-key"
    with runtime.session() as session:
        key = demo_api_key(session, settings, runtime.now())
        session.commit()
        assert path.read_text().strip() == key
        assert path.stat().st_mode & 0o077 == 0  # only the owner may read it
        assert demo_api_key(session, settings, runtime.now()) == key
        # A lost file gets a fresh, working key rather than an error.
        path.unlink()
        fresh = demo_api_key(session, settings, runtime.now())
        session.commit()
        assert fresh != key and path.read_text().strip() == fresh
        assert authenticate_api_key(session, fresh, runtime.now()) is not None


def test_key_file_for_postgres_is_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url="postgresql://user@db.internal/mannerly")
    assert demo_key_file(settings) == tmp_path / ".mannerly" / "demo-api-key"
