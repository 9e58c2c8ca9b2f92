"""A shop for automation, quick-reply and report tests: topics, templates, contacts, and shortcuts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from mannerly.automations.service import create_automation
from mannerly.consent.service import record_consent
from mannerly.models import Contact, Message, Template, Topic
from mannerly.models.automation import AutomationRun
from mannerly.quickreplies.service import declare_options
from mannerly.workspaces.service import create_api_key, create_workspace

TEMPLATES = [
    # (name, language, body)
    ("birthday", "en", "Happy birthday, [First Name]! {{ percent }}% off today with code {{ coupon }}."),
    ("birthday", "ko", "[First Name]님, 생일 축하드려요! 쿠폰 {{ coupon }}으로 {{ percent }}% 할인해 드려요."),
    ("miss_you", "en", "We miss you, [First Name]! Come back for a coffee on us."),
    ("thanks", "en", "Thanks for your order {{ order_number }}, [First Name]!"),
    ("check_in", "en", "How is your new {{ product | default('purchase') }} working out, [First Name]?"),
    ("shipped", "en", "Your order {{ order_number }} is on its way with {{ carrier }}."),
    ("reminder", "en", "Reminder: your visit on {{ appointment_date }} at {{ appointment_time }}. "
                       "Reply YES to confirm or NO to reschedule."),
    ("reminder", "ko", "예약 알림: {{ appointment_date }} {{ appointment_time }}. 확인은 네, 변경은 아니요로 답해 주세요."),
    ("payment_due", "en", "Your payment is due on {{ payment_due }}."),
    ("rate_us", "en", "How was your visit? Reply 1 to 5."),
    ("spring", "en", "Thanks for your order {{ order_number }}! Our spring picks: https://acme.test/spring"),
    ("account", "en", "Your order {{ order_number }} is saved. Please update your password on https://acme.test/account"),
]


@dataclass
class Shop:
    """The workspace under test and shortcuts to its runtime."""

    runtime: Any
    workspace_id: int
    api_key: str

    def session(self):
        """A new session on the test database."""
        return self.runtime.session()

    def contact(self, phone: str, *, first_name: str = "Alex", language: str = "en", time_zone: str | None = None,
                attributes: dict | None = None, opted_in: bool = True, quiet_since: datetime | None = None,
                country: str | None = None) -> int:
        """A contact (opted in to promotions by default, with a prior relationship); returns its id."""
        now = self.runtime.now()
        with self.session() as session:
            contact = Contact(workspace_id=self.workspace_id, phone=phone, country=country or _country(phone),
                              language=language, first_name=first_name, time_zone=time_zone,
                              attributes=attributes or {}, tags=[], created_at=now, updated_at=now,
                              prior_relationship_at=quiet_since or now - timedelta(days=3))
            session.add(contact)
            session.flush()
            if opted_in:
                topic = session.scalar(select(Topic).where(Topic.workspace_id == self.workspace_id,
                                                           Topic.name == "promotions"))
                record_consent(session, contact, topic, "opted_in", source="api", actor="test",
                               now=quiet_since or now - timedelta(days=3))
            session.commit()
            return contact.id

    def automation(self, name: str, kind: str, topic: str, template: str, **settings: Any) -> int:
        """Create an automation now; returns its id."""
        with self.session() as session:
            from mannerly.models import Workspace

            workspace = session.get(Workspace, self.workspace_id)
            automation = create_automation(session, workspace, name=name, kind=kind, topic=topic,
                                           template=template, settings=settings, now=self.runtime.now())
            session.commit()
            return automation.id

    def runs(self, automation_id: int | None = None) -> list[AutomationRun]:
        """Every run (of one automation), oldest first."""
        with self.session() as session:
            query = select(AutomationRun).order_by(AutomationRun.id)
            if automation_id is not None:
                query = query.where(AutomationRun.automation_id == automation_id)
            return list(session.scalars(query))

    def write(self, phone: str, text: str):
        """The customer's phone sends a message through the real inbound pipeline (committed); the Received."""
        from mannerly.inbound.pipeline import receive_message
        from mannerly.models import Channel, Workspace

        now = self.runtime.now()
        with self.session() as session:
            workspace = session.get(Workspace, self.workspace_id)
            channel = session.scalar(select(Channel).where(Channel.workspace_id == self.workspace_id,
                                                           Channel.provider == "simulator", Channel.kind == "sms"))
            adapter = self.runtime.channels.adapter_for(channel, self.runtime)
            received = receive_message(session, workspace, channel, adapter.receive_from_phone(phone, text, now), now)
            session.commit()
            return received

    def messages(self, contact_id: int | None = None, direction: str = "outbound") -> list[Message]:
        """Messages (of one contact), oldest first."""
        with self.session() as session:
            query = select(Message).where(Message.direction == direction).order_by(Message.id)
            if contact_id is not None:
                query = query.where(Message.contact_id == contact_id)
            return list(session.scalars(query))


def _country(phone: str) -> str:
    """The country of a test number by its calling code."""
    for prefix, country in (("+1684", "AS"), ("+686", "KI"), ("+82", "KR"), ("+62", "ID"), ("+30", "GR"),
                            ("+1", "US")):
        if phone.startswith(prefix):
            return country
    return "US"


def make_shop(runtime) -> Shop:
    """Workspace 'Acme' with topics promotions (marketing), appointments, orders, billing and every test template."""
    now = runtime.now()
    with runtime.session() as session:
        workspace = create_workspace(session, "Acme", brand_names={"en": "Acme", "ko": "아크미", "id": "Acme",
                                                                   "el": "Acme"})
        session.add_all([
            Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing"),
            Topic(workspace_id=workspace.id, name="appointments", label="Appointments"),
            Topic(workspace_id=workspace.id, name="orders", label="Orders"),
            Topic(workspace_id=workspace.id, name="billing", label="Billing"),
        ])
        session.add_all([Template(workspace_id=workspace.id, name=name, language=language, body=body,
                                  created_at=now) for name, language, body in TEMPLATES])
        session.flush()
        declare_options(session, workspace.id, "reminder", {"YES": "confirmed", "NO": "reschedule"}, now)
        declare_options(session, workspace.id, "rate_us", "1-5", now)
        key = create_api_key(session, workspace)
        session.commit()
        return Shop(runtime=runtime, workspace_id=workspace.id, api_key=key)
