"""Contacts: creating, updating and finding customers by their addresses."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.errors import conflict, invalid
from mannerly.kit.phones import InvalidPhoneNumber, PhoneInfo, parse_phone
from mannerly.models import Contact, Workspace

# The language a new contact most likely reads, by country, when nobody said.
COUNTRY_LANGUAGE = {"KR": "ko", "ID": "id", "GR": "el", "CY": "el", "US": "en", "GB": "en", "AU": "en"}
EDITABLE_FIELDS = (
    "name", "first_name", "language", "time_zone", "attributes", "tags", "whatsapp_id", "messenger_psid",
    "night_marketing_consent",
)


def parse_contact_phone(raw: str, default_country: str | None, field: str = "phone") -> PhoneInfo:
    """A phone number in E.164 with its country and zones, or a 422 saying what is wrong."""
    try:
        return parse_phone(raw, default_country)
    except InvalidPhoneNumber as error:
        raise invalid(field, f"invalid phone number '{raw}': {error.reason}") from error


def check_time_zone(value: str | None) -> str | None:
    """An IANA time zone name, or a 422."""
    if value is None:
        return None
    if value not in _zones():
        raise invalid("time_zone", f"unknown time zone '{value}' (use an IANA name such as Asia/Seoul)")
    return value


_ZONES: set[str] = set()


def _zones() -> set[str]:
    """The IANA zone names, loaded once."""
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def check_language(value: str | None) -> str | None:
    """A two- or three-letter language code, lower-cased, or a 422."""
    if value is None:
        return None
    code = value.strip().lower()
    if not (2 <= len(code) <= 3 and code.isalpha()):
        raise invalid("language", f"'{value}' is not a language code such as en, ko, id or el")
    return code


def find_contact_by_phone(session: Session, workspace_id: int, e164: str) -> Contact | None:
    """The workspace's contact with this E.164 number."""
    return session.scalar(select(Contact).where(Contact.workspace_id == workspace_id, Contact.phone == e164))


def build_contact(workspace: Workspace, phone: PhoneInfo, now: datetime, **fields: Any) -> Contact:
    """A new contact row for a parsed number (not yet added to the session)."""
    language = fields.pop("language", None) or COUNTRY_LANGUAGE.get(phone.country) or workspace.default_language
    return Contact(
        workspace_id=workspace.id,
        phone=phone.e164,
        country=phone.country,
        subdivision=phone.subdivision,
        language=language,
        attributes=fields.pop("attributes", None) or {},
        tags=fields.pop("tags", None) or [],
        created_at=now,
        updated_at=now,
        **fields,
    )


def find_or_build_contact_for_phone(session: Session, workspace: Workspace, raw_phone: str, *, persist: bool,
                                    field: str = "phone", now: datetime | None = None) -> Contact:
    """The contact with this number; a new one (added to the session only when persisting) otherwise."""
    phone = parse_contact_phone(raw_phone, workspace.default_country, field)
    contact = find_contact_by_phone(session, workspace.id, phone.e164)
    if contact is not None:
        return contact
    contact = build_contact(workspace, phone, now or datetime.now().astimezone())
    if persist:
        session.add(contact)
        session.flush()
    return contact


def create_contact(session: Session, workspace: Workspace, data: dict[str, Any], now: datetime) -> Contact:
    """Create a contact from validated API data; a number already known is a 409."""
    phone = parse_contact_phone(data["phone"], data.get("country") or workspace.default_country)
    if find_contact_by_phone(session, workspace.id, phone.e164) is not None:
        raise conflict(f"a contact with phone {phone.e164} already exists")
    fields = {key: data[key] for key in EDITABLE_FIELDS if data.get(key) is not None}
    fields["language"] = check_language(fields.get("language"))
    fields["time_zone"] = check_time_zone(fields.get("time_zone"))
    if data.get("prior_relationship"):
        fields["prior_relationship_at"] = now
    contact = build_contact(workspace, phone, now, **fields)
    session.add(contact)
    session.flush()
    return contact


def update_contact(session: Session, contact: Contact, changes: dict[str, Any], now: datetime) -> Contact:
    """Apply a partial update to a contact (phone changes are re-normalized)."""
    if "language" in changes:
        changes["language"] = check_language(changes["language"])
    if "time_zone" in changes:
        changes["time_zone"] = check_time_zone(changes["time_zone"])
    if changes.get("phone") is not None:
        workspace = session.get(Workspace, contact.workspace_id)
        phone = parse_contact_phone(changes.pop("phone"), contact.country or workspace.default_country)
        other = find_contact_by_phone(session, contact.workspace_id, phone.e164)
        if other is not None and other.id != contact.id:
            raise conflict(f"another contact already has phone {phone.e164}")
        contact.phone, contact.country, contact.subdivision = phone.e164, phone.country, phone.subdivision
    if changes.pop("prior_relationship", None):
        contact.prior_relationship_at = contact.prior_relationship_at or now
    for key in EDITABLE_FIELDS:
        if key in changes:
            setattr(contact, key, changes[key])
    contact.updated_at = now
    session.flush()
    return contact
