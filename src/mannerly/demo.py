"""The demo workspace: a small shop with topics, templates and customers in Korea, Indonesia, Greece and the US.

`ensure_demo_workspace` is idempotent: it creates whatever part of the demo is missing and
leaves the rest alone, so `mannerly serve --demo` can run it on every start. The numbers are
valid but made up (US ones are in the 555-01xx range reserved for fiction); the demo only
ever sends through the built-in simulator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from mannerly.config import DATA_DIR_NAME, Settings
from mannerly.consent.service import record_consent
from mannerly.contacts.service import build_contact, find_contact_by_phone
from mannerly.kit.phones import parse_phone
from mannerly.models import ApiKey, Contact, Template, Topic, Workspace
from mannerly.workspaces.service import create_api_key, create_workspace, find_workspace, hash_api_key

DEMO_WORKSPACE_NAME = "Demo Shop"
DEMO_BRAND_NAMES = {"en": "Demo Shop", "ko": "데모샵", "id": "Toko Demo", "el": "Demo Shop"}
DEMO_API_KEY_NAME = "demo"
DEMO_ACTOR = "demo"
DEMO_KEY_FILE_NAME = "demo-api-key"


@dataclass(frozen=True)
class DemoTopic:
    """A topic of the demo shop."""

    name: str
    label: str
    kind: str = "transactional"
    urgent: bool = False
    keyword: str | None = None


DEMO_TOPICS = (
    DemoTopic("orders", "Order updates"),
    DemoTopic("appointments", "Appointment reminders"),
    DemoTopic("billing", "Billing"),
    DemoTopic("security-alerts", "Security alerts", urgent=True),
    DemoTopic("promotions", "Promotions", kind="marketing", keyword="PROMO"),
)

# (template name, topic, language, body, defaults for missing values)
DEMO_TEMPLATES: tuple[tuple[str, str, str, str, dict[str, str]], ...] = (
    ("order_shipped", "orders", "en",
     "Hi {{ first_name }}, your order {{ order_id }} has shipped. You can track it in your account.",
     {"first_name": "there"}),
    ("order_shipped", "orders", "ko",
     "{{ first_name }}님, 주문하신 상품({{ order_id }})이 발송되었습니다. 배송 현황은 내 계정에서 확인하실 수 있습니다.",
     {"first_name": "고객"}),
    ("order_shipped", "orders", "id",
     "Halo {{ first_name }}, pesanan {{ order_id }} Anda sudah dikirim. Lacak pengiriman di akun Anda.",
     {"first_name": "Pelanggan"}),
    ("order_shipped", "orders", "el",
     "Γεια σας {{ first_name }}, η παραγγελία σας {{ order_id }} στάλθηκε.",
     {"first_name": "πελάτη"}),
    ("appointment_reminder", "appointments", "en",
     "Hi [First Name], this is a reminder of your appointment tomorrow at {{ time }}. "
     "Reply if you need to change it.",
     {"first_name": "there"}),
    ("appointment_reminder", "appointments", "ko",
     "[First Name]님, 내일 {{ time }} 예약을 알려드립니다. 변경이 필요하시면 답장 주세요.",
     {"first_name": "고객"}),
    ("appointment_reminder", "appointments", "id",
     "Halo [First Name], kami mengingatkan janji temu Anda besok pukul {{ time }}. "
     "Balas pesan ini jika perlu mengubahnya.",
     {"first_name": "Pelanggan"}),
    ("appointment_reminder", "appointments", "el",
     "[First Name], ραντεβού αύριο στις {{ time }}. Απαντήστε για αλλαγή.",
     {"first_name": "πελάτη"}),
)  # fmt: skip


@dataclass(frozen=True)
class DemoContact:
    """A made-up customer of the demo shop."""

    phone: str
    name: str
    first_name: str
    language: str
    promotions: bool = False  # opted in to the promotions topic
    opted_out: bool = False  # globally opted out
    customer: bool = True  # False: a cold contact with no relationship with the shop
    time_zone: str | None = None


DEMO_CONTACTS = (
    DemoContact("+821023456789", "김민준", "민준", "ko", promotions=True),
    DemoContact("+821098765432", "이서연", "서연", "ko"),
    DemoContact("+6281234567890", "Budi Santoso", "Budi", "id", promotions=True),
    DemoContact("+6282198765432", "Siti Rahayu", "Siti", "id", time_zone="Asia/Makassar"),
    DemoContact("+306941234567", "Γιώργος Παπαδόπουλος", "Γιώργος", "el", promotions=True),
    DemoContact("+306975551234", "Ελένη Κωνσταντίνου", "Ελένη", "el", opted_out=True),
    DemoContact("+13055550123", "Maria Lopez", "Maria", "en", promotions=True),  # Miami, Florida
    DemoContact("+12125550199", "John Carter", "John", "en", customer=False),  # cold
)


def ensure_demo_workspace(session: Session, now: datetime) -> tuple[Workspace, str | None]:
    """The demo workspace, creating whatever is missing; returns it and a new API key when one was made."""
    workspace = find_workspace(session, DEMO_WORKSPACE_NAME)
    if workspace is None:
        workspace = create_workspace(session, DEMO_WORKSPACE_NAME, brand_names=dict(DEMO_BRAND_NAMES),
                                     default_country=None, default_language="en")
    topics = _ensure_topics(session, workspace, now)
    _ensure_templates(session, workspace, topics, now)
    _ensure_contacts(session, workspace, topics, now)
    _ensure_service_desk(session, workspace, now)
    new_key = None
    if _demo_key_row(session, workspace) is None:
        new_key = create_api_key(session, workspace, DEMO_API_KEY_NAME)
    session.flush()
    return workspace, new_key


def _ensure_topics(session: Session, workspace: Workspace, now: datetime) -> dict[str, Topic]:
    """The demo topics by name, creating the missing ones."""
    existing = {topic.name: topic for topic in
                session.scalars(select(Topic).where(Topic.workspace_id == workspace.id))}
    for spec in DEMO_TOPICS:
        if spec.name not in existing:
            topic = Topic(workspace_id=workspace.id, name=spec.name, label=spec.label, kind=spec.kind,
                          urgent=spec.urgent, keyword=spec.keyword, created_at=now)
            session.add(topic)
            existing[spec.name] = topic
    session.flush()
    return existing


def _ensure_templates(session: Session, workspace: Workspace, topics: dict[str, Topic], now: datetime) -> None:
    """Create the demo templates that are missing (existing ones may have been edited: left alone)."""
    existing = set(session.execute(
        select(Template.name, Template.language).where(Template.workspace_id == workspace.id)).all())
    for name, topic_name, language, body, defaults in DEMO_TEMPLATES:
        if (name, language) in existing:
            continue
        session.add(Template(workspace_id=workspace.id, name=name, language=language, body=body,
                             topic_id=topics[topic_name].id, variables=dict(defaults), created_at=now))


def _ensure_contacts(session: Session, workspace: Workspace, topics: dict[str, Topic], now: datetime) -> None:
    """Create the demo contacts that are missing, with their consent history."""
    for spec in DEMO_CONTACTS:
        if find_contact_by_phone(session, workspace.id, spec.phone) is not None:
            continue
        contact: Contact = build_contact(
            workspace, parse_phone(spec.phone), now,
            name=spec.name, first_name=spec.first_name, language=spec.language, time_zone=spec.time_zone,
            tags=["demo"],
        )
        if spec.customer:
            contact.prior_relationship_at = now  # a past purchase, recorded outside messaging
        session.add(contact)
        session.flush()
        if spec.promotions:
            record_consent(session, contact, topics["promotions"], "opted_in", source="import", actor=DEMO_ACTOR,
                           now=now, wording="imported from the demo data")
        if spec.opted_out:
            record_consent(session, contact, None, "opted_out", source="import", actor=DEMO_ACTOR, now=now,
                           wording="imported from the demo data")


# (team name, first-response target, next-response target); both open Mon–Fri 09:00–18:00 Seoul time.
DEMO_TEAMS = (("Orders", 60, 30), ("Billing", 120, 60))
DEMO_TEAM_ZONE = "Asia/Seoul"
# (language, question with extra phrasings on further lines, answer)
DEMO_FAQ = (
    ("en", "What are your opening hours?\nWhen are you open?",
     "We answer messages Monday to Friday, 09:00–18:00 (Seoul time)."),
    ("en", "How much is shipping?\nWhat does delivery cost?", "Shipping is free on orders over $50, otherwise $4."),
    ("ko", "영업시간이 어떻게 되나요?\n몇 시에 문 여나요?", "평일 오전 9시부터 오후 6시까지 답변드립니다."),
    ("ko", "배송비는 얼마인가요?", "5만원 이상 주문은 무료 배송이며, 그 외에는 3,000원입니다."),
    ("id", "Berapa ongkos kirim?", "Gratis ongkir untuk pesanan di atas Rp500.000; selain itu Rp20.000."),
    ("el", "Πόσο κοστίζει η αποστολή;", "Η αποστολή είναι δωρεάν για παραγγελίες άνω των 50 €, αλλιώς 4 €."),
)
# (shortcut, name, language, body)
DEMO_CANNED = (
    ("thanks", "Thank you", "en", "Thank you, [First Name]! Is there anything else I can help you with?"),
    ("shipped", "Order shipped", "en", "Hi [First Name], your order left our warehouse today and should arrive within two days."),
    ("thanks", "감사 인사", "ko", "[First Name]님, 감사합니다! 더 도와드릴 일이 있을까요?"),
    ("thanks", "Terima kasih", "id", "Terima kasih, [First Name]! Ada lagi yang bisa kami bantu?"),
    ("thanks", "Ευχαριστώ", "el", "Ευχαριστούμε, [First Name]! Μπορούμε να βοηθήσουμε σε κάτι άλλο;"),
)
DEMO_BRANCH = "Gangnam branch"


def _ensure_service_desk(session: Session, workspace: Workspace, now: datetime) -> None:
    """Teams with business hours, FAQ answers, canned replies and branch-visit slots, creating what is missing."""
    from mannerly.bots.faq import add_faq_entry, list_faq
    from mannerly.bots.flows import add_slot, free_slots
    from mannerly.inbox.common import editable_service_settings
    from mannerly.inbox.service import add_canned_reply, canned_replies
    from mannerly.teams.service import WEEKDAY_HOURS, create_team, team_by_name

    teams = {}
    for name, first_target, next_target in DEMO_TEAMS:
        team = team_by_name(session, workspace.id, name)
        if team is None:
            team = create_team(session, workspace.id, name, hours=WEEKDAY_HOURS, time_zone=DEMO_TEAM_ZONE,
                               first_response_target_minutes=first_target, next_response_target_minutes=next_target,
                               now=now)
        teams[name] = team
    settings = editable_service_settings(session, workspace.id)
    if settings.default_team_id is None:
        settings.default_team_id = teams["Orders"].id
    known_questions = {entry.question for entry in list_faq(session, workspace.id)}
    for language, question, answer in DEMO_FAQ:
        if question not in known_questions:
            add_faq_entry(session, workspace.id, question=question, answer=answer, language=language, now=now)
    known_canned = {(row.shortcut, row.language) for row in canned_replies(session, workspace.id)}
    for shortcut, name, language, body in DEMO_CANNED:
        if (shortcut, language) not in known_canned:
            add_canned_reply(session, workspace.id, name=name, shortcut=shortcut, body=body, language=language,
                             now=now)
    if not free_slots(session, workspace.id, now):
        # The next five days at 10:00 and 14:00 Seoul time (01:00 and 05:00 UTC), two visitors each.
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for day in range(1, 6):
            for hour in (1, 5):
                add_slot(session, workspace.id, DEMO_BRANCH, start + timedelta(days=day, hours=hour), capacity=2,
                         time_zone=DEMO_TEAM_ZONE)
    session.flush()


def _demo_key_row(session: Session, workspace: Workspace) -> ApiKey | None:
    """The workspace's unrevoked API key named "demo", if any."""
    return session.scalar(select(ApiKey).where(
        ApiKey.workspace_id == workspace.id, ApiKey.name == DEMO_API_KEY_NAME, ApiKey.revoked_at.is_(None)))


def demo_key_file(settings: Settings) -> Path:
    """Where the demo API key is kept: next to the SQLite database, else in ./.mannerly/."""
    url = make_url(settings.database_url)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return Path(database).parent / DEMO_KEY_FILE_NAME
    return Path.cwd() / DATA_DIR_NAME / DEMO_KEY_FILE_NAME


def demo_api_key(session: Session, settings: Settings, now: datetime) -> str:
    """The demo workspace's API key: made on first use and kept in a file so later starts can show it again."""
    workspace, new_key = ensure_demo_workspace(session, now)
    path = demo_key_file(settings)
    if new_key is None:
        stored = _read_key(path)
        if stored is not None and _key_is_valid(session, workspace, stored):
            return stored
        # The file is gone or belongs to another database: make a fresh key (only hashes are stored).
        new_key = create_api_key(session, workspace, DEMO_API_KEY_NAME)
        session.flush()
    _write_key(path, new_key)
    return new_key


def _read_key(path: Path) -> str | None:
    """The key saved in a file, or None."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _key_is_valid(session: Session, workspace: Workspace, key: str) -> bool:
    """True when the key is an unrevoked key of the workspace."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    return row is not None and row.workspace_id == workspace.id and row.revoked_at is None


def _write_key(path: Path, key: str) -> None:
    """Save the key readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")


def demo_admin_login(session: Session, settings: Settings, now: datetime) -> tuple[str, str]:
    """The demo admin's email and password for the web UI (made once, the password kept next to the database)."""
    from mannerly.web.auth import ensure_demo_admin

    workspace, _new_key = ensure_demo_workspace(session, now)
    return ensure_demo_admin(session, settings, workspace)
