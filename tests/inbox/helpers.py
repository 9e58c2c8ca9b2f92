"""A customer-service workspace for inbox, bot and CSAT flow tests: teams, an agent, the simulator channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

from sqlalchemy import select

from mannerly.inbound.pipeline import receive_message
from mannerly.inbox.common import editable_service_settings
from mannerly.models import Channel, Conversation, Message, Topic, User, Workspace
from mannerly.teams.service import create_team, WEEKDAY_HOURS
from mannerly.workspaces.service import create_workspace

# Tuesday 4 March 2025 14:00 UTC = 23:00 in Seoul: the teams (09:00–18:00 Seoul) are closed.
NIGHT = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)
# Wednesday 5 March 2025 02:00 UTC = 11:00 in Seoul: open.
DAYTIME = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
KOREAN_CUSTOMER = "+821023456789"
INDONESIAN_CUSTOMER = "+6281234567890"
ENGLISH_CUSTOMER = "+12125550100"


@dataclass
class ServiceDesk:
    """Handles on the test workspace and a way to write as a customer."""

    runtime: object
    workspace_id: int
    agent_id: int
    other_agent_id: int
    orders_team_id: int
    billing_team_id: int
    _ids: count = field(default_factory=lambda: count(1))

    def write(self, text: str, sender: str = KOREAN_CUSTOMER):
        """The customer's phone sends a message; it runs through the real inbound pipeline and is committed."""
        with self.runtime.session() as session:
            workspace = session.get(Workspace, self.workspace_id)
            channel = session.scalar(select(Channel).where(Channel.workspace_id == self.workspace_id,
                                                           Channel.provider == "simulator"))
            adapter = self.runtime.channels.adapter_for(channel, self.runtime)
            event = adapter.receive_from_phone(sender, text, self.runtime.now())
            received = receive_message(session, workspace, channel, event, self.runtime.now())
            session.commit()
            return received.message.id

    def outbound(self, source: str | None = None) -> list[Message]:
        """Outbound messages (of one source), oldest first."""
        with self.runtime.session() as session:
            query = select(Message).where(Message.workspace_id == self.workspace_id, Message.direction == "outbound")
            if source:
                query = query.where(Message.source == source)
            return list(session.scalars(query.order_by(Message.id)))

    def conversation(self, sender: str = KOREAN_CUSTOMER) -> Conversation:
        """The conversation of the customer with that number."""
        from mannerly.models import Contact

        with self.runtime.session() as session:
            contact = session.scalar(select(Contact).where(Contact.phone == sender))
            return session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))


def build_service_desk(runtime, *, menu: bool = False, name: str = "Seoul Shop") -> ServiceDesk:
    """A workspace with Orders and Billing teams (Mon–Fri 09:00–18:00 Seoul), two agents and a default team."""
    with runtime.session() as session:
        workspace = create_workspace(session, name, brand_names={"en": "Acme", "ko": "아크미", "id": "Acme", "el": "Acme"},
                                     default_country="KR", default_language="ko")
        session.add(Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing",
                          keyword="PROMO"))
        agent = User(workspace_id=workspace.id, email="mina@example.com", name="Mina", role="agent")
        other = User(workspace_id=workspace.id, email="joon@example.com", name="Joon", role="agent")
        session.add_all([agent, other])
        session.flush()
        now = runtime.now()
        orders = create_team(session, workspace.id, "Orders", hours=WEEKDAY_HOURS, time_zone="Asia/Seoul",
                             first_response_target_minutes=60, next_response_target_minutes=30,
                             member_user_ids=(agent.id,), now=now)
        billing = create_team(session, workspace.id, "Billing", hours=WEEKDAY_HOURS, time_zone="Asia/Seoul",
                              first_response_target_minutes=120, now=now)
        settings = editable_service_settings(session, workspace.id)
        settings.default_team_id = orders.id
        if menu:
            settings.menu = {"options": [
                {"key": "1", "team_id": orders.id, "labels": {"en": "orders", "ko": "주문"}},
                {"key": "2", "team_id": billing.id, "labels": {"en": "billing", "ko": "결제"}},
            ]}
        session.commit()
        return ServiceDesk(runtime=runtime, workspace_id=workspace.id, agent_id=agent.id, other_agent_id=other.id,
                           orders_team_id=orders.id, billing_team_id=billing.id)
